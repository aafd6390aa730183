/**
 * `cloister sim load` and the load line of `cloister sim status`, run as a user runs them (the
 * built binary, another process) against a control server in this process that stands for a
 * running `sim up` (its control.json names this process's pid), with a load generator that
 * records the rates it is set to. No validator runs; the control server listens on a port the
 * system chooses.
 */

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { find_code_root } from '../../enclave/measurement.js';
import {
  type ControlledNetwork,
  type ControlServer,
  type LoadControl,
  start_control_server,
  write_control_file,
} from '../../sim/control_server.js';
import { check_load_rate, type LoadStats } from '../../sim/load_generator.js';

const cloister = join(find_code_root(), 'bin', 'cloister.js');
const dir = mkdtempSync(join(tmpdir(), 'cloister-load-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const servers: ControlServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** Runs `cloister ARGS` to its end: exit code, stdout, stderr. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cloister, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Two validators, both up, that nothing calls (the load commands touch no validator). */
const network: ControlledNetwork = {
  homes: ['/net/v0', '/net/v1'],
  urls: () => ['http://127.0.0.1:26760', 'http://127.0.0.1:26761'],
  pid: (i) => 1000 + i,
  is_running: () => true,
  is_paused: () => false,
  partition_groups: () => null,
  kill: async () => {},
  start: async (i) => `http://127.0.0.1:${26760 + i}`,
  pause: () => {},
  resume: async () => {},
  partition: async () => {},
  heal: async () => {},
};

/** A generator's numbers after `rates`: the last one's state, some commits. */
function stats_after(rates: readonly number[]): LoadStats {
  const rate = rates.at(-1) ?? 0;
  return {
    rate,
    state: rate > 0 ? 'running' : 'idle',
    submitted: 120,
    committed: 100,
    failed: 0,
    decrypted: 100,
    pending: 18,
    dropped: 0,
    skipped: 0,
    refused: { 'busy (code 102)': 2 },
    latency_ms: { p50: 35, p99: 90 },
    height: 41,
    watching: 'http://127.0.0.1:26760',
  };
}

/** A "running sim up" for folder `name`: a control server (with a recording load generator, or none) and its control.json. */
async function sim_up(name: string, with_load = true) {
  const net_dir = join(dir, name);
  mkdirSync(net_dir, { recursive: true });
  const rates: number[] = [];
  let refuse: string | null = null;
  const load: LoadControl = {
    set_rate(rate) {
      check_load_rate(rate);
      if (refuse !== null) throw new Error(refuse);
      rates.push(rate);
    },
    stats: () => stats_after(rates),
  };
  const server = await start_control_server({
    network,
    on_stop: () => {},
    height: async () => 41,
    ...(with_load ? { load } : {}),
  });
  servers.push(server);
  write_control_file(net_dir, { pid: process.pid, url: server.url, token: server.token });
  return {
    dir: net_dir,
    rates,
    refusing(message: string) {
      refuse = message;
    },
  };
}

const LINE_50 =
  'load running at 50 tx/s: submitted 120, committed 100 (0 failed), pending 18, latency p50 35 ms p99 90 ms, refused 2 (2 busy (code 102))';

describe('cloister sim load', () => {
  it('sets the rate of the running sim up and prints its message and numbers', async () => {
    const up = await sim_up('set');
    const r = await cli(['sim', 'load', '--dir', up.dir, '50']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`load at 50 tx/s\n${LINE_50}\n`);
    expect(up.rates).toEqual([50]);
    const paused = await cli(['sim', 'load', '--dir', up.dir, '0']);
    expect(paused.stdout.split('\n')[0]).toBe('load at 0 tx/s');
    const half = await cli(['sim', 'load', '--dir', up.dir, '0.5', '--json']);
    expect(half.code, half.stderr).toBe(0);
    expect(JSON.parse(half.stdout)).toEqual({
      ok: true,
      message: 'load at 0.5 tx/s',
      load: stats_after([50, 0, 0.5]),
    });
    expect(up.rates).toEqual([50, 0, 0.5]);
  });

  it('without RATE, prints the numbers and changes nothing', async () => {
    const up = await sim_up('show');
    await cli(['sim', 'load', '--dir', up.dir, '50']);
    const r = await cli(['sim', 'load', '--dir', up.dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${LINE_50}\n`);
    expect(up.rates).toEqual([50]);
  });

  it('refuses a rate it cannot parse as usage (exit 2), before looking for a sim up', async () => {
    const up = await sim_up('bad');
    for (const bad of ['abc', '10001', '1e3', '5tx']) {
      const r = await cli(['sim', 'load', '--dir', up.dir, bad]);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toContain(
        `load takes a rate of transactions per second from 0 to 10000 (0 pauses), got "${bad}"`,
      );
    }
    const none = await cli(['sim', 'load', '--dir', join(dir, 'nothing-here'), 'abc']);
    expect(none.code).toBe(2);
    expect(up.rates).toEqual([]);
  });

  it('prints what the server refuses, and that no sim up runs, with exit 1', async () => {
    const up = await sim_up('refused');
    up.refusing('the load generator has stopped');
    const r = await cli(['sim', 'load', '--dir', up.dir, '5']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('cloister: the load generator has stopped\n');
    const bare = await sim_up('bare', false);
    const no_generator = await cli(['sim', 'load', '--dir', bare.dir, '5']);
    expect(no_generator.code).toBe(1);
    expect(no_generator.stderr).toBe('cloister: this sim up runs no load generator\n');
    const nowhere = join(dir, 'nowhere');
    const none = await cli(['sim', 'load', '--dir', nowhere, '5']);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(`cloister: no running \`sim up\` for ${nowhere} (no control.json)\n`);
  });
});

describe('cloister sim status: the load line', () => {
  it('prints the load generator under the table; none when sim up runs none', async () => {
    const up = await sim_up('status');
    await cli(['sim', 'load', '--dir', up.dir, '50']);
    const r = await cli(['sim', 'status', '--dir', up.dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      'validator  state  height  pid   rpc                     group',
      'v0         up     41      1000  http://127.0.0.1:26760  -',
      'v1         up     41      1001  http://127.0.0.1:26761  -',
      LINE_50,
    ]);
    const json = await cli(['sim', 'status', '--dir', up.dir, '--json']);
    expect(JSON.parse(json.stdout).load).toEqual(stats_after([50]));
    const bare = await sim_up('status-bare', false);
    const plain = await cli(['sim', 'status', '--dir', bare.dir]);
    expect(plain.stdout.trimEnd().split('\n')).toHaveLength(3);
    expect(JSON.parse((await cli(['sim', 'status', '--dir', bare.dir, '--json'])).stdout).load).toBeNull();
  });
});
