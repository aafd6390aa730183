/**
 * Crash and restart: the signed state is saved before a message leaves, so a validator stopped
 * right after a save and restarted on the same store never signs two different things for one
 * height, round and step (checked over every message it ever sent); a proposer killed mid-round
 * is replaced by the next round's.
 */
import { describe, expect, test } from 'vitest';
import { ConsensusEngine } from '../../node/consensus/engine.js';
import {
  check_sign,
  MemorySignedStateStore,
  type SignedState,
  signed_state_error,
} from '../../node/consensus/signed_state.js';
import { proposer_at } from '../../node/consensus/types.js';
import {
  CHAIN_ID,
  Cluster,
  contiguous_top,
  DEFAULT_TIMEOUTS,
  HookedStore,
  make_rng,
  p,
  seed,
  validator_key,
} from './harness.js';

console.log(`consensus restart seed ${seed} (replay with FC_SEED=${seed})`);

const RESTART_RUNS = Number(process.env['CONSENSUS_RESTART_RUNS'] ?? 4);
const SHAPE = { block_txs_max: 10, tx_chars_max: 100, commit_signatures_max: 4 };
const H = 'ab'.repeat(32);
const SIG = 'cd'.repeat(64);

function state(over: Partial<SignedState>): SignedState {
  return {
    height: 3,
    round: 1,
    step: 'prevote',
    block_hash: H,
    pol_round: -1,
    signature: SIG,
    proposal_block: null,
    locked_round: -1,
    locked_block: null,
    ...over,
  };
}

describe('the signing guard', () => {
  test('positions only move forward; the same content re-uses its signature; different content is refused', () => {
    const last = state({});
    expect(check_sign(null, { height: 1, round: 0, step: 'proposal', block_hash: H, pol_round: -1 })).toEqual(
      { kind: 'sign' },
    );
    expect(check_sign(last, { height: 3, round: 1, step: 'prevote', block_hash: H, pol_round: -1 })).toEqual({
      kind: 'reuse',
      signature: SIG,
    });
    expect(
      check_sign(last, { height: 3, round: 1, step: 'prevote', block_hash: null, pol_round: -1 }),
    ).toEqual({
      kind: 'refuse',
      reason: 'conflict',
    });
    expect(
      check_sign(last, { height: 3, round: 1, step: 'proposal', block_hash: H, pol_round: -1 }).kind,
    ).toBe('refuse');
    expect(
      check_sign(last, { height: 3, round: 0, step: 'precommit', block_hash: H, pol_round: -1 }).kind,
    ).toBe('refuse');
    expect(
      check_sign(last, { height: 2, round: 9, step: 'precommit', block_hash: H, pol_round: -1 }).kind,
    ).toBe('refuse');
    expect(
      check_sign(last, { height: 3, round: 1, step: 'precommit', block_hash: null, pol_round: -1 }).kind,
    ).toBe('sign');
    expect(
      check_sign(last, { height: 3, round: 2, step: 'proposal', block_hash: H, pol_round: 1 }).kind,
    ).toBe('sign');
    expect(
      check_sign(last, { height: 4, round: 0, step: 'proposal', block_hash: H, pol_round: -1 }).kind,
    ).toBe('sign');
  });

  test('signed state shapes are checked', () => {
    expect(signed_state_error(state({}), SHAPE)).toBeNull();
    expect(signed_state_error({ ...state({}), extra: 1 }, SHAPE)).toBe('keys');
    expect(signed_state_error(state({ step: 'proposal' }), SHAPE)).toBe('proposal without its block');
    expect(signed_state_error(state({ locked_round: 0 }), SHAPE)).toBe(
      'locked_round and locked_block disagree',
    );
    expect(signed_state_error(state({ signature: SIG.toUpperCase() }), SHAPE)).toBe('signature');
    expect(signed_state_error(state({ pol_round: 0 }), SHAPE)).toBe('vote with proposal fields');
    expect(signed_state_error(null, SHAPE)).toBe('not an object');
    // The proof of lock: optional (older records lack it), empty when unlocked, prevotes of the lock's round.
    const v = { type: 'prevote', height: 3, round: 0, block_hash: H, validator: H, signature: SIG };
    expect(signed_state_error({ ...state({}), locked_pol: [] }, SHAPE)).toBeNull();
    expect(signed_state_error({ ...state({}), locked_pol: [v] }, SHAPE)).toBe('locked_pol without a lock');
    expect(signed_state_error({ ...state({}), locked_pol: 'x' }, SHAPE)).toBe('locked_pol');
    expect(signed_state_error({ ...state({}), locked_pol: [{ ...v, extra: 1 }] }, SHAPE)).toMatch(
      /^locked_pol: /,
    );
  });

  test('start refuses a corrupt signed state (TypeError) and one signed by another key (RangeError)', async () => {
    const make = (store: MemorySignedStateStore) => {
      const { sk, pubkey } = validator_key(0);
      const c = new Cluster({ seed, powers: [1, 1, 1, 1] });
      return new ConsensusEngine(
        { chain_id: CHAIN_ID, validators: c.validators, timeouts: DEFAULT_TIMEOUTS },
        {
          p,
          app: c.nodes[0]!.app,
          signer: { pubkey, sign: (m) => Buffer.from(p.ed25519_sign(sk, m)).toString('hex') },
          outbox: { broadcast: () => {} },
          clock: c.sched,
          signed_state: store,
        },
      );
    };
    const corrupt = new MemorySignedStateStore();
    await corrupt.save({ ...state({}), height: -1 });
    await expect(make(corrupt).start({ height: 1, parent: null, last_commit: null })).rejects.toThrow(
      TypeError,
    );
    const foreign = new MemorySignedStateStore();
    await foreign.save(state({ height: 1, round: 0 }));
    await expect(make(foreign).start({ height: 1, parent: null, last_commit: null })).rejects.toThrow(
      RangeError,
    );
  });
});

describe('consensus: crash and restart', () => {
  test('crashes right after saving, restarts on the same store: never two different signatures per position', async () => {
    for (let run = 0; run < RESTART_RUNS; run++) {
      const run_seed = seed + run;
      const r = make_rng(run_seed);
      const victim = run % 4;
      const c = new Cluster({
        seed: run_seed,
        powers: [1, 1, 1, 1],
        make_store: () => new HookedStore(),
        net: { delay_max_ms: 30, drop_p: 0.05, duplicate_p: 0.05 },
      });
      const node = c.nodes[victim]!;
      const store = node.signed as HookedStore;
      let crashes = 0;
      let restored = 0;
      let saves = 0;
      // The first crash comes at a drawn early save, so every run crashes at least once (a seed
      // whose draws all missed used to crash nothing: seed 1128379087); later ones with p = 0.2.
      const first_crash_at = 1 + Math.floor(r() * 5);
      store.on_saved = () => {
        saves++;
        // Crash after some saves: the message just saved never leaves.
        const due = crashes === 0 ? saves >= first_crash_at : r() <= 0.2;
        if (crashes >= 6 || !due) return;
        crashes++;
        node.engine.stop();
        c.sched.set_timer(Math.floor(r() * 300), () => {
          void c.restart(node).then(() => {
            if (node.events.some((e) => e.event === 'restored')) restored++;
          });
        });
      };
      await c.start();
      await c.run(60_000, () => c.nodes.every((n) => contiguous_top(n.chain) >= 12));
      c.stop();
      const where = `seed ${run_seed}, victim ${victim}`;
      expect(crashes, where).toBeGreaterThan(0);
      expect(restored, where).toBeGreaterThan(0);
      for (const n of c.nodes) expect(contiguous_top(n.chain), where).toBeGreaterThanOrEqual(12);
      for (const n of c.nodes) expect(c.double_signs(n), where).toEqual([]);
      expect(c.safety_violations(), where).toEqual([]);
    }
  });

  test('a restarted proposer re-sends the very proposal it saved', async () => {
    const c = new Cluster({ seed, powers: [1, 1, 1, 1], make_store: () => new HookedStore() });
    const proposer = c.nodes.find((n) => n.pubkey === proposer_at(c.validators, 1, 0))!;
    const store = proposer.signed as HookedStore;
    store.on_saved = (s) => {
      store.on_saved = null;
      expect(s.step).toBe('proposal');
      proposer.engine.stop();
      c.sched.set_timer(20, () => void c.restart(proposer));
    };
    await c.start();
    await c.run(10_000, () => c.nodes.every((n) => contiguous_top(n.chain) >= 3));
    c.stop();
    expect(proposer.events.some((e) => e.event === 'restored' && e.fields['step'] === 'proposal')).toBe(true);
    // The re-sent proposal (same signature) was decided in round 0.
    expect(c.nodes[0]!.chain.get(1)!.commit.round).toBe(0);
    for (const n of c.nodes) expect(c.double_signs(n)).toEqual([]);
    expect(c.safety_violations()).toEqual([]);
  });

  test('a proposer killed mid-round (its proposal never left): the next round commits', async () => {
    const c = new Cluster({ seed, powers: [1, 1, 1, 1], make_store: () => new HookedStore() });
    const proposer = c.nodes.find((n) => n.pubkey === proposer_at(c.validators, 1, 0))!;
    (proposer.signed as HookedStore).on_saved = () => proposer.engine.stop();
    await c.start();
    const others = c.nodes.filter((n) => n !== proposer);
    await c.run(10_000, () => others.every((n) => contiguous_top(n.chain) >= 1));
    c.stop();
    expect(proposer.chain.size).toBe(0);
    for (const n of others) expect(n.chain.get(1)?.commit.round).toBe(1);
    expect(c.safety_violations()).toEqual([]);
  });

  test('a store behind its signed state: the node signs nothing it might have signed, then catches up', async () => {
    const c = new Cluster({ seed, powers: [1, 1, 1, 1] });
    await c.start();
    await c.run(10_000, () => c.nodes.every((n) => contiguous_top(n.chain) >= 6));
    const node = c.nodes[2]!;
    node.engine.stop();
    const signed_height = node.signed.peek()!.height;
    for (const h of [...node.chain.keys()]) if (h > 2) node.chain.delete(h);
    const sent_before = c.net.sent.get(2)!.length;
    await c.restart(node);
    expect(node.engine.height).toBe(3);
    await c.run(c.sched.now_ms() + 20_000, () =>
      c.nodes.every((n) => contiguous_top(n.chain) >= signed_height + 5),
    );
    c.stop();
    for (const n of c.nodes) expect(contiguous_top(n.chain)).toBeGreaterThanOrEqual(signed_height + 5);
    // Nothing it sent after the restart is at or below the position it had signed.
    const after = c.net.sent.get(2)!.slice(sent_before);
    expect(after.length).toBeGreaterThan(0);
    const own_heights = after.flatMap((m) =>
      m.kind === 'proposal' ? [m.proposal.height] : m.vote.validator === node.pubkey ? [m.vote.height] : [],
    );
    expect(Math.min(...own_heights)).toBeGreaterThanOrEqual(signed_height);
    expect(node.behind_calls.length).toBeGreaterThan(0);
    for (const n of c.nodes) expect(c.double_signs(n)).toEqual([]);
    expect(c.safety_violations()).toEqual([]);
  });
});
