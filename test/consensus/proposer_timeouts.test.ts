/**
 * Weighted proposer rotation (powers 1, 2, 3: proposers in proportion, in the engine too) and
 * timeouts that grow by `round_increment_ms` each round.
 */
import { describe, expect, test } from 'vitest';
import { timeout_ms } from '../../node/consensus/engine.js';
import { proposer_at, type Validator } from '../../node/consensus/types.js';
import { Cluster, contiguous_top, DEFAULT_TIMEOUTS, seed } from './harness.js';

console.log(`consensus proposer/timeouts seed ${seed} (replay with FC_SEED=${seed})`);

/** proposer_at without its periodicity shortcut, to check the shortcut. */
function proposer_by_simulation(validators: Validator[], height: number, round: number): string {
  const sorted = [...validators].sort((a, b) => (a.pubkey < b.pubkey ? -1 : 1));
  const total = sorted.reduce((s, v) => s + v.power, 0);
  const priority = sorted.map(() => 0);
  let pick = 0;
  for (let step = 0; step <= height - 1 + round; step++) {
    for (let i = 0; i < sorted.length; i++) priority[i]! += sorted[i]!.power;
    pick = 0;
    for (let i = 1; i < sorted.length; i++) if (priority[i]! > priority[pick]!) pick = i;
    priority[pick]! -= total;
  }
  return sorted[pick]!.pubkey;
}

describe('proposer selection', () => {
  const validators: Validator[] = [
    { pubkey: 'a'.repeat(64), power: 1 },
    { pubkey: 'b'.repeat(64), power: 2 },
    { pubkey: 'c'.repeat(64), power: 3 },
  ];

  test('powers 1, 2, 3: every window of 6 steps has each validator power times', () => {
    for (let start = 1; start < 200; start += 6) {
      const counts = new Map<string, number>();
      for (let h = start; h < start + 6; h++) {
        const who = proposer_at(validators, h, 0);
        counts.set(who, (counts.get(who) ?? 0) + 1);
      }
      for (const v of validators) expect(counts.get(v.pubkey)).toBe(v.power);
    }
    // Rounds advance the same sequence: (h, r) is step h - 1 + r.
    expect(proposer_at(validators, 5, 3)).toBe(proposer_at(validators, 8, 0));
  });

  test('the periodicity shortcut of proposer_at agrees with the full simulation', () => {
    const sets: Validator[][] = [
      validators,
      [
        { pubkey: '1'.repeat(64), power: 5 },
        { pubkey: '2'.repeat(64), power: 1 },
        { pubkey: '3'.repeat(64), power: 7 },
        { pubkey: '4'.repeat(64), power: 2 },
      ],
    ];
    for (const set of sets) {
      for (let h = 1; h < 60; h++) {
        for (const r of [0, 1, 4]) expect(proposer_at(set, h, r)).toBe(proposer_by_simulation(set, h, r));
      }
    }
  });

  test('a network with powers 1, 2, 3 commits blocks proposed in proportion to power', async () => {
    const c = new Cluster({ seed, powers: [1, 2, 3], keep_events: false });
    await c.start();
    await c.run(60_000, () => c.nodes.every((n) => contiguous_top(n.chain) >= 60));
    c.stop();
    expect(c.safety_violations()).toEqual([]);
    const counts = new Map<string, number>();
    for (let h = 1; h <= 60; h++) {
      const who = c.nodes[0]!.chain.get(h)!.block.header.proposer;
      counts.set(who, (counts.get(who) ?? 0) + 1);
    }
    // A nice network decides in round 0, so the proposers are exactly 10, 20 and 30.
    expect(c.validators.map((v) => counts.get(v.pubkey) ?? 0)).toEqual([10, 20, 30]);
  });
});

describe('timeouts', () => {
  test('timeout_ms is the base plus round × round_increment_ms', () => {
    const t = { propose_ms: 100, prevote_ms: 40, precommit_ms: 60, round_increment_ms: 25, commit_ms: 5 };
    expect(timeout_ms(t, 'propose', 0)).toBe(100);
    expect(timeout_ms(t, 'propose', 4)).toBe(200);
    expect(timeout_ms(t, 'prevote', 2)).toBe(90);
    expect(timeout_ms(t, 'precommit', 3)).toBe(135);
  });

  test('with no proposals, each round lasts its (growing) propose and precommit timeouts', async () => {
    const c = new Cluster({ seed, powers: [1, 1, 1, 1], net: { delay_min_ms: 1, delay_max_ms: 1 } });
    for (const n of c.nodes) n.app.refuse_proposals = true;
    await c.start();
    await c.run(5_000);
    c.stop();
    expect(c.safety_violations()).toEqual([]);
    const starts = c.nodes[0]!.events.filter((e) => e.event === 'round').map(
      (e) => e.fields['at_ms'] as number,
    );
    expect(starts.length).toBeGreaterThan(6);
    const t = DEFAULT_TIMEOUTS;
    for (let r = 0; r + 1 < starts.length; r++) {
      // Propose timeout, then nil prevotes and nil precommits each take one 1 ms hop, then the
      // precommit timeout (scheduled on 2/3 precommits).
      const expected = timeout_ms(t, 'propose', r) + 1 + 1 + timeout_ms(t, 'precommit', r);
      expect(starts[r + 1]! - starts[r]!, `round ${r}`).toBe(expected);
    }
  });
});
