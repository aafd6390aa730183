/**
 * A fault manifest applied to real validator processes (`LocalNetwork.apply_faults`, which
 * `cloister sim up --faults` runs): crash and restart (SIGKILL, start again: it catches up),
 * pause and resume (SIGSTOP/SIGCONT: the others go on, it catches up), and a partition through
 * each node's admin channel ([[0,1],[2,3]]: neither side holds two thirds, so commits stop; healed
 * by time, they resume). Each phase is one manifest due a few heights after the network's tip.
 * Every wait is for an event: a commit logged, a fault applied.
 * Ports: RPC 25800-25803, p2p 26800-26803.
 */

import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin_call, admin_socket_path } from '../../node/admin.js';
import { parse_manifest, stall_reason } from '../../sim/manifest.js';
import type { AppliedFault, NodeEvent } from '../../sim/network.js';
import { drive_load, temp_network } from './helpers.js';

const PORT = 25800;

let net: Awaited<ReturnType<typeof temp_network>>;
/** Blocks are made on demand (issue #15): a trickle of transactions keeps heights rising. */
let stop_load = () => {};
/** The highest height each validator has logged as committed. */
const seen = [0, 0, 0, 0];
/** Every committed event, in order of arrival. */
const commits: NodeEvent[] = [];
/** Every halt (a node that stopped deciding) and every evidence of double signing: none expected. */
const alarms: NodeEvent[] = [];

beforeAll(async () => {
  net = await temp_network(PORT);
  stop_load = drive_load(net.network.urls(), 250);
  net.network.on_event((e) => {
    if (e.event === 'halted' || e.event === 'evidence') alarms.push(e);
    if (e.event !== 'committed' || typeof e.height !== 'number') return;
    commits.push(e);
    seen[e.index] = Math.max(seen[e.index]!, e.height);
  });
}, 120_000);
afterAll(async () => {
  stop_load();
  await net?.down();
});

const tip = () => Math.max(...seen);

/** Resolves once validator `i` has committed `height` (at once if it has). */
async function until(i: number, height: number, timeout_ms = 90_000): Promise<void> {
  if (seen[i]! >= height) return;
  try {
    await net.network.wait_for(
      (e) => e.index === i && e.event === 'committed' && (e.height as number) >= height,
      timeout_ms,
      `validator ${i} to commit height ${height}`,
    );
  } catch (error) {
    const why = `heights committed: ${seen.join(', ')}; halts and evidence: ${JSON.stringify(alarms)}`;
    throw new Error(`${(error as Error).message} (${why}; CLOISTER_KEEP_NET=1 keeps the logs)`);
  }
}

/** Applies `faults` (a manifest's list) and returns a promise per fault, resolved when it applied. */
function run(faults: unknown[]) {
  const manifest = parse_manifest({ validators: 4, faults }, { validators: 4 });
  expect(stall_reason(manifest, [1, 1, 1, 1])).toBeNull();
  const waiters = faults.map(() => {
    let resolve: (a: AppliedFault) => void = () => {};
    const promise = new Promise<AppliedFault>((r) => {
      resolve = r;
    });
    return { promise, resolve };
  });
  const lines: string[] = [];
  const handle = net.network.apply_faults(manifest, (a) => {
    lines.push(a.line);
    waiters[a.fault.source]!.resolve(a);
  });
  // A fault that fails rejects `done`: make the waiters fail with it rather than time out.
  const failed = handle.done.then(
    () => new Promise<never>(() => {}),
    (error: unknown) => {
      throw error;
    },
  );
  failed.catch(() => {});
  return {
    applied: (k: number) => Promise.race([waiters[k]!.promise, failed]),
    done: handle.done,
    lines,
  };
}

describe('faults applied to real processes', () => {
  it('crash and restart: the others go on, and it comes back and catches up', async () => {
    await until(0, 2);
    const t = tip();
    const r = run([
      { at_height: t + 2, crash: 2 },
      { at_height: t + 6, restart: 2 },
    ]);
    const crash = await r.applied(0);
    expect(crash.height).toBeGreaterThanOrEqual(t + 2);
    expect(net.network.is_running(2)).toBe(false);
    const down_at = commits.length;
    const restart = await r.applied(1);
    // While it was down the other three committed up to the restart's height, and it nothing.
    expect(restart.height).toBeGreaterThanOrEqual(t + 6);
    const after = commits.slice(down_at);
    const due = after.findIndex((e) => (e.height as number) >= t + 6);
    expect(due).toBeGreaterThanOrEqual(0);
    expect(after.slice(0, due + 1).filter((e) => e.index === 2)).toEqual([]);
    expect(net.network.is_running(2)).toBe(true);
    await until(2, restart.height);
    await until(2, tip() + 2);
    expect(await r.done).toBe(true);
    expect(r.lines).toEqual([`height ${t + 2}: crash 2`, `height ${t + 6}: restart 2`]);
    expect(alarms).toEqual([]);
  }, 240_000);

  it('pause and resume: the others go on, and it catches up', async () => {
    const t = tip();
    const r = run([
      { at_height: t + 2, pause: 1 },
      { at_height: t + 6, resume: 1 },
    ]);
    await r.applied(0);
    expect(net.network.is_paused(1)).toBe(true);
    const paused_at = seen[1]!;
    const resume = await r.applied(1);
    expect(net.network.is_paused(1)).toBe(false);
    // Stopped, it committed nothing (a line already in its pipe may still arrive).
    expect(resume.height).toBeGreaterThanOrEqual(t + 6);
    expect(seen[1]!).toBeLessThanOrEqual(paused_at + 1);
    await until(1, resume.height);
    // Caught up, it goes on deciding new heights with the others (it did not halt on the way).
    await until(1, tip() + 2);
    expect(await r.done).toBe(true);
    expect(alarms).toEqual([]);
  }, 240_000);

  it('a partition with no two-thirds side stops commits; healed, they resume', async () => {
    const pubkeys = (
      JSON.parse(readFileSync(join(net.network.homes[0]!, 'genesis.json'), 'utf8')) as {
        validators: { pubkey: string }[];
      }
    ).validators.map((v) => v.pubkey);
    const t = tip();
    const r = run([
      {
        at_height: t + 2,
        partition: [
          [0, 1],
          [2, 3],
        ],
      },
      { at_height: t + 2, after_ms: 4000, heal: true },
    ]);
    await r.applied(0);
    // Each node allows exactly the other member of its group. Once every node has its filter, no
    // height above the highest committed then plus one can commit (its votes would have to cross);
    // the nodes' own heights now bound that, whatever of their logs is still in the pipe.
    let cut_at = tip();
    for (const [i, peer] of [
      [0, 1],
      [1, 0],
      [2, 3],
      [3, 2],
    ] as const) {
      const status = await admin_call(admin_socket_path(net.network.homes[i]!), { cmd: 'status' });
      expect(status.partition).toEqual([pubkeys[peer]]);
      cut_at = Math.max(cut_at, status.height!);
    }
    await r.applied(1);
    // Four seconds without two thirds on either side: at most the height in flight committed.
    const healed_at = tip();
    expect(healed_at).toBeLessThanOrEqual(cut_at + 1);
    for (const i of [0, 1, 2, 3]) {
      expect(
        (await admin_call(admin_socket_path(net.network.homes[i]!), { cmd: 'status' })).partition,
      ).toBeNull();
    }
    await Promise.all([0, 1, 2, 3].map((i) => until(i, healed_at + 2)));
    expect(await r.done).toBe(true);
    expect(alarms).toEqual([]);
  }, 240_000);

  it('refuses faults real processes cannot apply, and a manifest for other validators', () => {
    const skew = parse_manifest({ faults: [{ at_height: 1, skew_ms: { '1': 400 } }] }, { validators: 4 });
    expect(() => net.network.apply_faults(skew)).toThrow(
      'these faults exist only in `cloister sim run` (real processes cannot change them at run time): faults[0] (height 1: skew 1 +400 ms)',
    );
    const byzantine = parse_manifest(
      { faults: [{ from_height: 1, byzantine: { '3': 'silent' } }] },
      { validators: 4 },
    );
    expect(() => net.network.apply_faults(byzantine)).toThrow(
      'validator 3 runs as honest, but the manifest makes it silent from height 1',
    );
    const five = parse_manifest({ faults: [] }, { validators: 5 });
    expect(() => net.network.apply_faults(five)).toThrow(
      'the manifest is for 5 validators, the network has 4',
    );
  });
});

describe('cloister sim up --faults', () => {
  /** Runs `cloister sim up` with a manifest text; resolves with its exit code and stderr. */
  async function sim_up(manifest: string, validators = 4) {
    const file = join(net.dir, `manifest-${Math.random().toString(16).slice(2)}.json`);
    writeFileSync(file, manifest);
    const bin = join(process.cwd(), 'bin', 'cloister.js');
    const args = [bin, 'sim', 'up', '--dir', join(net.dir, 'never'), '--validators', String(validators)];
    try {
      await promisify(execFile)(process.execPath, [...args, '--faults', file], { timeout: 60_000 });
      return { code: 0, stderr: '', file };
    } catch (error) {
      const e = error as { code: number; stderr: string };
      return { code: e.code, stderr: e.stderr, file };
    }
  }

  it('exits 2 naming the problem of a bad manifest, before starting anything', async () => {
    const bad = await sim_up('{"validators": 4, "faults": [{"at_height": 5, "crash": 7}]}');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      `cloister: ${bad.file}: faults[0].crash: validator 7 does not exist (validators 0..3)\n`,
    );
    const other = await sim_up('{"validators": 4, "faults": []}', 5);
    expect(other.stderr).toBe(
      `cloister: ${other.file}: validators: the manifest is for 4 validators, but the network has 5\n`,
    );
    const only_sim = await sim_up(
      '{"faults": [{"at_height": 150, "skew_ms": {"1": 400}}, {"at_height": 9, "drop": 0.5}]}',
    );
    expect(only_sim.code).toBe(2);
    expect(only_sim.stderr).toBe(
      `cloister: ${only_sim.file}: real processes cannot change these at run time; they exist only in \`cloister sim run\`:\n` +
        '  faults[0] (height 150: skew 1 +400 ms)\n  faults[1] (height 9: drop 0.5)\n',
    );
  }, 120_000);
});
