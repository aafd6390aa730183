/**
 * Safety and liveness under a hostile network: random delays, reorders, drops, duplicates and
 * partitions that heal, with one byzantine validator of four running one of the behaviours of
 * sim/byzantine.ts (a decorator over its network or enclave), or none. No two nodes may ever
 * commit different blocks at one height, no honest node may sign two different things at one
 * position, and after the network heals the chain moves on.
 * Seeded: replay a failure with FC_SEED=<seed printed below>.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { BYZANTINE_BEHAVIOURS, type ByzantineBehaviour } from '../../sim/byzantine.js';
import { Cluster, contiguous_top, make_rng, type SimBehaviour, seed } from './harness.js';

console.log(`consensus safety seed ${seed} (replay with FC_SEED=${seed})`);

type Byzantine = ByzantineBehaviour | 'none';
const KINDS: readonly Byzantine[] = [...BYZANTINE_BEHAVIOURS, 'none'];
const RUNS = Number(process.env['CONSENSUS_RUNS'] ?? 2 * KINDS.length);
/** Partitions come and go until then (virtual ms); afterwards only delays, drops and duplicates. */
const HEAL_MS = 2_500;
/** After the heal, every honest node must commit 3 more heights within this (virtual ms). */
const AFTER_HEAL_MS = 5_000;
/** What the runs exercised, printed at the end (a property test that never locks proves little). */
const stats = { runs: 0, heights: 0, later_round_commits: 0, reproposals: 0, evidence: 0, syncs: 0 };

async function one_run(run_seed: number, kind: Byzantine, debug = false): Promise<void> {
  const r = make_rng(run_seed ^ 0x5bd1e995);
  const byz = Math.floor(r() * 4);
  const behaviours: SimBehaviour[] = [0, 1, 2, 3].map((i) =>
    i === byz && kind !== 'none' ? kind : 'honest',
  );
  // Partition epochs before the heal: each assigns every node to side 0 or 1.
  const epochs: { until: number; side: number[] }[] = [];
  for (let t = 0; t < HEAL_MS; ) {
    t += 150 + Math.floor(r() * 500);
    const cut = r() < 0.6;
    epochs.push({ until: t, side: [0, 1, 2, 3].map(() => (cut && r() < 0.5 ? 1 : 0)) });
  }
  const c = new Cluster({
    seed: run_seed,
    powers: [1, 1, 1, 1],
    behaviours,
    keep_events: debug,
    net: {
      delay_min_ms: 1,
      delay_max_ms: 5 + Math.floor(r() * 120),
      drop_p: r() * 0.2,
      duplicate_p: r() * 0.15,
      blocked: (from, to, now) => {
        if (now >= HEAL_MS) return false;
        const e = epochs.find((x) => now < x.until) ?? epochs[epochs.length - 1]!;
        return e.side[from] !== e.side[to];
      },
    },
  });
  const honest = c.nodes.filter((n) => n.index !== byz || kind === 'none');
  const where = `seed ${run_seed} (${kind}, byzantine node ${byz})`;
  await c.start();
  await c.run(HEAL_MS);
  expect(c.safety_violations(), where).toEqual([]);
  const at_heal = Math.max(...c.nodes.map((n) => contiguous_top(n.chain)));
  const goal = at_heal + 3;
  await c.run(HEAL_MS + AFTER_HEAL_MS, () => honest.every((n) => contiguous_top(n.chain) >= goal));
  c.stop();
  expect(c.safety_violations(), where).toEqual([]);
  for (const n of honest) {
    expect(c.double_signs(n), `${where}: node ${n.index} double-signed`).toEqual([]);
    for (const [hash, calls] of n.app.validate_calls) expect(calls, `${where}: validate ${hash}`).toBe(1);
  }
  const tops = honest.map((n) => contiguous_top(n.chain));
  stats.runs++;
  stats.heights += Math.min(...tops);
  stats.later_round_commits += [...honest[0]!.chain.values()].filter((e) => e.commit.round > 0).length;
  for (const sent of c.net.sent.values()) {
    stats.reproposals += sent.filter((m) => m.kind === 'proposal' && m.proposal.pol_round >= 0).length;
  }
  stats.evidence += honest.reduce((sum, n) => sum + n.engine.evidence.length, 0);
  stats.syncs += honest.reduce(
    (sum, n) => sum + [...n.chain.values()].filter((e) => e.via === 'sync').length,
    0,
  );
  if (debug) {
    for (const n of c.nodes) {
      console.log(
        n.index,
        n.behaviour,
        n.engine.height,
        n.engine.round,
        n.engine.step,
        contiguous_top(n.chain),
      );
      console.log(
        n.events
          .filter((e) => process.env['DEBUG_ALL'] || e.event !== 'drop')
          .slice(-40)
          .map((e) => `${e.event} ${JSON.stringify(e.fields)}`)
          .join('\n'),
      );
    }
  }
  expect(
    Math.min(...tops),
    `${where}: progress after heal (at heal ${at_heal}, now ${tops})`,
  ).toBeGreaterThanOrEqual(goal);
}

// DEBUG_RUN=<seed>:<kind> replays one run with the engines' logs printed.
if (process.env['DEBUG_RUN']) {
  test('debug one run', async () => {
    const [s, k] = process.env['DEBUG_RUN']!.split(':');
    await one_run(Number(s), k as Byzantine, true);
  });
}

describe('consensus safety under a hostile network, one byzantine of four', () => {
  afterAll(() => console.log('safety runs exercised', stats));
  for (let i = 0; i < RUNS; i++) {
    const kind = KINDS[i % KINDS.length]!;
    test(`run ${i}: seed ${seed + i}, ${kind}`, () => one_run(seed + i, kind));
  }
});
