import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCAL_TIMEOUTS } from '../../node/init.js';
import {
  type BenchSimRow,
  judge,
  parse_bench_sim_args,
  TARGETS_4,
  UsageError,
} from '../../scripts/bench_sim.js';
import { DEFAULT_NET } from '../../sim/run/net.js';

// Runs the built script (npm test builds first) on a tiny row; never asserts speed, only the shape.
const SCRIPT = join(process.cwd(), 'dist', 'scripts', 'bench_sim.js');
const run = promisify(execFile);

function row(over: Partial<BenchSimRow>): BenchSimRow {
  return {
    validators: 4,
    heights: 10_000,
    heights_committed: 10_000,
    wall_ms: 100_000,
    setup_wall_ms: 100,
    sim_ms: 2_500_000,
    heights_per_wall_s: 100,
    compression: 25,
    events: 1,
    txs_committed: 1,
    violations: 0,
    ...over,
  };
}

describe('bench:sim', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-bench-sim-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('measures a tiny 4-validator row: JSON on stdout and in --out, settings and verdicts', async () => {
    expect(existsSync(SCRIPT), 'build first: npx tsc -p tsconfig.build.json').toBe(true);
    const out = join(dir, 'sub', 'sim.json');
    const { stdout, stderr } = await run(
      process.execPath,
      [SCRIPT, '--heights-4', '5', '--only', '4', '--out', out],
      {
        timeout: 60_000,
      },
    );
    const json = JSON.parse(stdout) as Record<string, unknown> & { rows: BenchSimRow[] };
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(json);
    expect(json['benchmark']).toBe('sim');
    expect(json['node']).toBe(process.version);
    expect(json['cpus']).toBeGreaterThanOrEqual(1);
    expect(Number.isNaN(Date.parse(json['date'] as string))).toBe(false);
    expect(json['load_tx_per_s']).toBe(20);
    expect(json['timeouts']).toMatchObject({ ...LOCAL_TIMEOUTS });
    expect(json['net']).toMatchObject({ ...DEFAULT_NET });
    expect(json.rows.length).toBe(1);
    const r = json.rows[0]!;
    expect(r.validators).toBe(4);
    expect(r.heights).toBe(5);
    expect(r.heights_committed).toBe(5);
    expect(r.violations).toBe(0);
    expect(r.wall_ms).toBeGreaterThan(0);
    expect(r.sim_ms).toBeGreaterThan(0);
    expect(r.heights_per_wall_s).toBeCloseTo(5 / (r.wall_ms / 1000), 1);
    expect(r.compression).toBeCloseTo(r.sim_ms / r.wall_ms, 1);
    expect(r.ratio?.heights_per_wall_s).toBeCloseTo(r.heights_per_wall_s / TARGETS_4.heights_per_wall_s, 2);
    expect(r.ratio?.compression).toBeCloseTo(r.compression / TARGETS_4.compression, 2);
    expect(r.meets?.heights_per_wall_s).toBe(r.heights_per_wall_s >= TARGETS_4.heights_per_wall_s);
    expect(r.meets?.compression).toBe(r.compression >= TARGETS_4.compression);
    // A 5-height run says nothing about 10,000 heights in two minutes.
    expect(r.meets?.ten_thousand_in_two_minutes).toBeNull();
    expect(stderr).toContain('LOCAL_TIMEOUTS');
    expect(stderr).toContain('DEFAULT_NET');
  }, 60_000);

  it('judges the targets honestly', () => {
    const good = judge(row({}));
    expect(good.meets).toEqual({
      heights_per_wall_s: true,
      compression: true,
      ten_thousand_in_two_minutes: true,
    });
    expect(good.ratio).toEqual({ heights_per_wall_s: 1.2, compression: 1.25 });
    const slow = judge(row({ wall_ms: 130_000, heights_per_wall_s: 76.9, compression: 19.2 }));
    expect(slow.meets).toEqual({
      heights_per_wall_s: false,
      compression: false,
      ten_thousand_in_two_minutes: false,
    });
    // A violation or a run that fell short meets nothing, however fast.
    const broken = judge(row({ violations: 1 }));
    expect(broken.meets).toEqual({
      heights_per_wall_s: false,
      compression: false,
      ten_thousand_in_two_minutes: false,
    });
    const short = judge(row({ heights_committed: 9_999 }));
    expect(short.meets?.ten_thousand_in_two_minutes).toBe(false);
    expect(judge(row({ validators: 64, heights: 50, heights_committed: 50 })).runs).toBe(true);
    expect(judge(row({ validators: 64, heights: 50, heights_committed: 12 })).runs).toBe(false);
    expect(judge(row({ validators: 16 })).meets).toBeUndefined();
  });

  it('parses its flags and refuses bad ones', () => {
    const all = parse_bench_sim_args([]);
    expect(all?.rows).toEqual([
      { validators: 4, heights: 10_000 },
      { validators: 16, heights: 500 },
      { validators: 64, heights: 50 },
    ]);
    expect(parse_bench_sim_args(['--only', '64,4', '--heights-64', '7', '--out', 'x.json'])).toEqual({
      rows: [
        { validators: 4, heights: 10_000 },
        { validators: 64, heights: 7 },
      ],
      seed: 1,
      out: 'x.json',
    });
    expect(parse_bench_sim_args(['--help'])).toBeNull();
    for (const bad of [
      ['--only', '5'],
      ['--only', ''],
      ['--heights-4', '0'],
      ['--heights-16', 'x'],
      ['--what'],
    ]) {
      expect(() => parse_bench_sim_args(bad), bad.join(' ')).toThrow(UsageError);
    }
  });
});
