/**
 * Locking, step by step with hand-made messages: a validator that precommitted X is locked on
 * it, prevotes nil for another block, is released only by a POL (2/3 prevotes) from a later
 * round, and prevotes a re-proposed block whose POL it has seen.
 */
import { describe, expect, test } from 'vitest';
import type { ConsensusMessage, Vote } from '../../node/consensus/types.js';
import { block_hash, proposer_at } from '../../node/consensus/types.js';
import { Cluster, p, seed, sign_proposal, sign_vote } from './harness.js';

console.log(`consensus lock seed ${seed} (replay with FC_SEED=${seed})`);

function own_votes(sent: readonly ConsensusMessage[], pubkey: string): Vote[] {
  return sent.flatMap((m) => (m.kind === 'vote' && m.vote.validator === pubkey ? [m.vote] : []));
}

describe('consensus: locking', () => {
  test('locked on X: nil for Y; released by a later POL for Y; a re-proposal with a seen POL is prevoted', async () => {
    // Messages the engine sends go nowhere: the test plays the other three validators.
    const c = new Cluster({ seed, powers: [1, 1, 1, 1], net: { drop_p: 1 } });
    const index_of = (round: number) =>
      c.nodes.findIndex((n) => n.pubkey === proposer_at(c.validators, 1, round));
    const [p0, p1, p2] = [index_of(0), index_of(1), index_of(2)];
    const me = c.nodes.find((n) => ![p0, p1, p2].includes(n.index))!;
    const others = [p0, p1, p2];
    const votes = () => own_votes(c.net.sent.get(me.index) ?? [], me.pubkey);
    const feed = (msg: ConsensusMessage) => me.engine.receive(msg);
    await me.engine.start({ height: 1, parent: null, last_commit: null });

    // Round 0: X is proposed; 2/3 prevote X: we lock on X and precommit it.
    const x = await c.nodes[p0]!.app.propose({ height: 1, round: 0, parent: null, last_commit: null });
    const hx = block_hash(p, x.header);
    feed({ kind: 'proposal', proposal: sign_proposal(p0, { height: 1, round: 0, pol_round: -1, block: x }) });
    await c.run(1);
    for (const i of [p0, p1]) feed({ kind: 'vote', vote: sign_vote(i, { round: 0, block_hash: hx }) });
    await c.run(2);
    expect(votes().map((v) => [v.type, v.round, v.block_hash])).toEqual([
      ['prevote', 0, hx],
      ['precommit', 0, hx],
    ]);
    expect(me.signed.peek()!.locked_round).toBe(0);

    // The others precommit nil: no decision, round 1 after the precommit timeout.
    for (const i of others) feed({ kind: 'vote', vote: sign_vote(i, { type: 'precommit', round: 0 }) });
    await c.run(c.sched.now_ms() + 100, () => me.engine.round === 1);
    expect(me.engine.round).toBe(1);

    // Round 1: Y is proposed; locked on X, we prevote nil.
    const y = await c.nodes[p1]!.app.propose({ height: 1, round: 1, parent: null, last_commit: null });
    const hy = block_hash(p, y.header);
    expect(hy).not.toBe(hx);
    feed({ kind: 'proposal', proposal: sign_proposal(p1, { height: 1, round: 1, pol_round: -1, block: y }) });
    await c.run(c.sched.now_ms() + 1);
    expect(votes().at(-1)).toMatchObject({ type: 'prevote', round: 1, block_hash: null });

    // A POL for Y in round 1 (later than our lock): we move our lock to Y and precommit it.
    for (const i of others) feed({ kind: 'vote', vote: sign_vote(i, { round: 1, block_hash: hy }) });
    await c.run(c.sched.now_ms() + 1);
    expect(votes().at(-1)).toMatchObject({ type: 'precommit', round: 1, block_hash: hy });
    expect(me.signed.peek()!.locked_round).toBe(1);

    // Round 2 re-proposes Y with pol_round 1: we saw that POL, so we prevote Y.
    for (const i of others) feed({ kind: 'vote', vote: sign_vote(i, { type: 'precommit', round: 1 }) });
    await c.run(c.sched.now_ms() + 200, () => me.engine.round === 2);
    feed({ kind: 'proposal', proposal: sign_proposal(p2, { height: 1, round: 2, pol_round: 1, block: y }) });
    await c.run(c.sched.now_ms() + 1);
    expect(votes().at(-1)).toMatchObject({ type: 'prevote', round: 2, block_hash: hy });
    // Y was validated once, X once: re-proposals are not re-executed.
    expect([...me.app.validate_calls.values()]).toEqual([1, 1]);

    // 2/3 precommits for Y in round 2: decided, committed with exactly those signatures.
    for (const i of [p0, p1]) feed({ kind: 'vote', vote: sign_vote(i, { round: 2, block_hash: hy }) });
    await c.run(c.sched.now_ms() + 1);
    for (const i of [p0, p1])
      feed({ kind: 'vote', vote: sign_vote(i, { type: 'precommit', round: 2, block_hash: hy }) });
    await c.run(c.sched.now_ms() + 1);
    const committed = me.chain.get(1)!;
    expect(committed.hash).toBe(hy);
    expect(committed.commit.round).toBe(2);
    expect(committed.commit.signatures.map((s) => s.validator).sort()).toEqual(
      [c.nodes[p0]!.pubkey, c.nodes[p1]!.pubkey, me.pubkey].sort(),
    );
    me.engine.stop();
  });

  test('a re-proposal whose POL was not seen waits for the propose timeout, then prevotes nil', async () => {
    const c = new Cluster({ seed, powers: [1, 1, 1, 1], net: { drop_p: 1 } });
    const p1 = c.nodes.findIndex((n) => n.pubkey === proposer_at(c.validators, 1, 1));
    const p0 = c.nodes.findIndex((n) => n.pubkey === proposer_at(c.validators, 1, 0));
    const me = c.nodes.find((n) => n.index !== p1 && n.index !== p0)!;
    await me.engine.start({ height: 1, parent: null, last_commit: null });
    // Skip to round 1 on f+1 messages from round 1.
    for (const i of [p0, p1]) me.engine.receive({ kind: 'vote', vote: sign_vote(i, { round: 1 }) });
    await c.run(1);
    expect(me.engine.round).toBe(1);
    const x = await c.nodes[p0]!.app.propose({ height: 1, round: 0, parent: null, last_commit: null });
    me.engine.receive({
      kind: 'proposal',
      proposal: sign_proposal(p1, { height: 1, round: 1, pol_round: 0, block: x }),
    });
    await c.run(50);
    expect(own_votes(c.net.sent.get(me.index) ?? [], me.pubkey)).toEqual([]);
    await c.run(500, () => own_votes(c.net.sent.get(me.index) ?? [], me.pubkey).length > 0);
    expect(own_votes(c.net.sent.get(me.index) ?? [], me.pubkey)[0]).toMatchObject({
      type: 'prevote',
      round: 1,
      block_hash: null,
    });
    me.engine.stop();
  });
});
