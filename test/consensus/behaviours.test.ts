/**
 * Byzantine behaviours of the simulator, each a decorator of sim/byzantine.ts over an honest
 * node's enclave or network: wrong results (two of four: nothing commits; one turns honest: the
 * chain resumes), equivocation (detected as evidence, verifiable), silence (the chain goes on
 * without it, and it still follows the chain).
 */
import { describe, expect, test } from 'vitest';
import {
  type Evidence,
  proposal_sign_bytes,
  verify_hex,
  vote_sign_bytes,
} from '../../node/consensus/types.js';
import { CHAIN_ID, Cluster, contiguous_top, seed } from './harness.js';

console.log(`consensus behaviours seed ${seed} (replay with FC_SEED=${seed})`);

/** True if both signatures of `e` verify (a proposal's pol_round is not in Evidence: try each). */
function evidence_verifies(e: Evidence): boolean {
  if (e.step === 'proposal') {
    const signed = (hash: string | null, sig: string) => {
      if (hash === null) return false;
      for (let pol = -1; pol < e.round; pol++) {
        const bytes = proposal_sign_bytes(CHAIN_ID, {
          height: e.height,
          round: e.round,
          pol_round: pol,
          block_hash: hash,
        });
        if (verify_hex(p_native, sig, bytes, e.validator)) return true;
      }
      return false;
    };
    return signed(e.a, e.signature_a) && signed(e.b, e.signature_b);
  }
  const bytes = (hash: string | null) =>
    vote_sign_bytes(CHAIN_ID, {
      type: e.step as 'prevote' | 'precommit',
      height: e.height,
      round: e.round,
      block_hash: hash,
    });
  return (
    e.a !== e.b &&
    verify_hex(p_native, e.signature_a, bytes(e.a), e.validator) &&
    verify_hex(p_native, e.signature_b, bytes(e.b), e.validator)
  );
}

import { p as p_native } from './harness.js';

describe('consensus: byzantine behaviours', () => {
  test('two of four compute wrong results: nothing commits; one turns honest: the chain resumes', async () => {
    const c = new Cluster({
      seed,
      powers: [1, 1, 1, 1],
      behaviours: ['wrong-results', 'wrong-results', 'honest', 'honest'],
      keep_events: false,
    });
    await c.start();
    await c.run(4_000);
    for (const n of c.nodes) expect(n.chain.size, `node ${n.index} committed`).toBe(0);
    expect(c.nodes[2]!.engine.round).toBeGreaterThan(3); // rounds went by without a decision
    // Node 0 gets an honest enclave back (the app computes results itself again).
    c.nodes[0]!.app.enclave = null;
    const target = 5;
    await c.run(30_000, () => c.nodes.every((n) => contiguous_top(n.chain) >= target));
    c.stop();
    // All four follow the chain: the one still wrong commits what 2/3 decided (its app would halt).
    expect(c.nodes[1]!.app.enclave).not.toBeNull();
    for (const n of c.nodes) expect(contiguous_top(n.chain)).toBeGreaterThanOrEqual(target);
    expect(c.safety_violations()).toEqual([]);
  });

  test('an equivocating validator is caught: evidence at honest nodes, verifiable, reported once each', async () => {
    const c = new Cluster({
      seed,
      powers: [1, 1, 1, 1],
      behaviours: ['equivocate', 'honest', 'honest', 'honest'],
      keep_events: false,
    });
    const reported = new Map<number, Evidence[]>();
    for (const n of c.nodes)
      n.engine.on_evidence((e) => reported.set(n.index, [...(reported.get(n.index) ?? []), e]));
    await c.start();
    await c.run(30_000, () => c.nodes.every((n) => contiguous_top(n.chain) >= 8));
    c.stop();
    expect(c.safety_violations()).toEqual([]);
    const cheat = c.nodes[0]!.pubkey;
    for (const n of c.nodes.slice(1)) {
      expect(contiguous_top(n.chain)).toBeGreaterThanOrEqual(8);
      const ev = n.engine.evidence;
      expect(ev.length).toBeGreaterThan(0);
      expect(ev.every((e) => e.validator === cheat)).toBe(true);
      expect(ev.some((e) => e.kind === 'duplicate_vote')).toBe(true);
      for (const e of ev) expect(evidence_verifies(e), JSON.stringify(e)).toBe(true);
      expect(reported.get(n.index)).toEqual([...ev]);
      const keys = ev.map((e) => `${e.kind}/${e.height}/${e.round}/${e.step}`);
      expect(new Set(keys).size).toBe(keys.length);
      expect(c.double_signs(n)).toEqual([]);
    }
    // As proposer it signed two blocks for one round: someone saw both.
    expect(c.nodes.slice(1).some((n) => n.engine.evidence.some((e) => e.kind === 'duplicate_proposal'))).toBe(
      true,
    );
    // And it did equivocate (the check the honest nodes pass).
    expect(c.double_signs(c.nodes[0]!).length).toBeGreaterThan(0);
  });

  test('a silent validator sends nothing, the others go on, and it follows the chain', async () => {
    const c = new Cluster({
      seed,
      powers: [1, 1, 1, 1],
      behaviours: ['honest', 'honest', 'honest', 'silent'],
      keep_events: false,
    });
    await c.start();
    await c.run(60_000, () => c.nodes.every((n) => contiguous_top(n.chain) >= 12));
    c.stop();
    for (const n of c.nodes) expect(contiguous_top(n.chain)).toBeGreaterThanOrEqual(12);
    // Its engine is the honest one and signs as usual: the decorator drops what it sends.
    expect(c.nodes[3]!.signed.saves).toBeGreaterThan(0);
    expect(c.net.sent.get(3) ?? []).toEqual([]);
    expect(c.net.junk.get(3) ?? []).toEqual([]);
    expect(c.safety_violations()).toEqual([]);
    // Its turns as proposer time out: some heights needed more than one round.
    expect([...c.nodes[0]!.chain.values()].some((e) => e.commit.round > 0)).toBe(true);
  });
});
