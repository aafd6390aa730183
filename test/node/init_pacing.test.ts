/**
 * Block pacing in a new network's homes (issue #15, docs/consensus.md "Block pacing"):
 * `init_network` writes `empty_block_interval_ms` and `block_time_ms` beside the timeouts of every
 * validator's config.json (default: blocks on demand, no empty blocks), and refuses bad values
 * before writing anything.
 */

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { block_pacing } from '../../node/consensus/engine.js';
import type { NodeConfig } from '../../node/home.js';
import { block_pacing_config, init_network, LOCAL_TIMEOUTS } from '../../node/init.js';

const dir = mkdtempSync(join(tmpdir(), 'cloister-init-pacing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config_of = (home: string) => JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as NodeConfig;
const base = { validators: 2, host: '127.0.0.1', provider: 'native' as const, workers: 1 };

describe('block_pacing_config', () => {
  it('defaults to blocks on demand with no empty blocks', () => {
    expect(block_pacing_config({})).toEqual({ empty_block_interval_ms: 0, block_time_ms: 0 });
    expect(block_pacing_config({ empty_block_interval_ms: 30_000 })).toEqual({
      empty_block_interval_ms: 30_000,
      block_time_ms: 0,
    });
    expect(block_pacing_config({ block_time_ms: 1_000 })).toEqual({
      empty_block_interval_ms: 0,
      block_time_ms: 1_000,
    });
  });

  it('refuses a value that is not an integer in [0, 1 hour], and both at once', () => {
    for (const bad of [-1, 1.5, Number.NaN, 3_600_001]) {
      expect(() => block_pacing_config({ empty_block_interval_ms: bad })).toThrow(RangeError);
      expect(() => block_pacing_config({ block_time_ms: bad })).toThrow(RangeError);
    }
    expect(() => block_pacing_config({ empty_block_interval_ms: 1_000, block_time_ms: 1_000 })).toThrow(
      /choose one/,
    );
  });
});

describe('init_network writes the pacing into every config.json', () => {
  it('by default: on demand, no empty blocks; the timeouts as before', async () => {
    const { homes } = await init_network({
      ...base,
      dir: join(dir, 'default'),
      chain_id: 'pace-1',
      base_port: 26730,
    });
    for (const home of homes) {
      const { consensus } = config_of(home);
      expect(consensus).toEqual({ ...LOCAL_TIMEOUTS, empty_block_interval_ms: 0, block_time_ms: 0 });
      expect(block_pacing(consensus)).toEqual({ kind: 'on_demand', empty_block_interval_ms: 0 });
    }
  });

  it('an interval, or a block time, as asked', async () => {
    const a = await init_network({
      ...base,
      dir: join(dir, 'interval'),
      chain_id: 'pace-2',
      base_port: 26732,
      empty_block_interval_ms: 60_000,
    });
    expect(block_pacing(config_of(a.homes[1]!).consensus)).toEqual({
      kind: 'on_demand',
      empty_block_interval_ms: 60_000,
    });
    const b = await init_network({
      ...base,
      dir: join(dir, 'fixed'),
      chain_id: 'pace-3',
      base_port: 26734,
      block_time_ms: 2_000,
    });
    expect(block_pacing(config_of(b.homes[0]!).consensus)).toEqual({ kind: 'fixed', block_time_ms: 2_000 });
  });

  it('a config written before (no pacing fields) stays continuous', () => {
    expect(block_pacing({ ...LOCAL_TIMEOUTS })).toEqual({ kind: 'continuous' });
  });

  it('refuses bad pacing before writing anything', async () => {
    const target = join(dir, 'bad');
    await expect(
      init_network({ ...base, dir: target, chain_id: 'pace-4', base_port: 26736, block_time_ms: -5 }),
    ).rejects.toThrow(RangeError);
    expect(existsSync(target)).toBe(false);
  });
});
