/**
 * A node far behind learns it from the network (on_behind), syncs and catches up; junk from the
 * network (malformed shapes, non-validators, bad signatures, another chain, the wrong proposer) is
 * dropped without effect; constructor and catch_up check their arguments.
 */
import { describe, expect, test } from 'vitest';
import { ConsensusEngine } from '../../node/consensus/engine.js';
import {
  block_hash,
  type ConsensusMessage,
  proposal_sign_bytes,
  proposer_at,
} from '../../node/consensus/types.js';
import { to_hex } from '../../protocol/bytes.js';
import {
  CHAIN_ID,
  Cluster,
  contiguous_top,
  DEFAULT_TIMEOUTS,
  p,
  seed,
  sign_proposal,
  sign_vote,
  validator_key,
} from './harness.js';

console.log(`consensus behind/junk seed ${seed} (replay with FC_SEED=${seed})`);

describe('consensus: falling behind', () => {
  test('a node cut off while the others commit learns it is behind, syncs, catches up and joins in', async () => {
    const c = new Cluster({
      seed,
      powers: [1, 1, 1, 1],
      net: { blocked: (from, to, now) => now < 1_500 && (from === 3 || to === 3) },
    });
    await c.start();
    await c.run(1_500);
    const lagging = c.nodes[3]!;
    const ahead = contiguous_top(c.nodes[0]!.chain);
    expect(ahead).toBeGreaterThan(5);
    expect(lagging.chain.size).toBe(0);
    const target = ahead + 5;
    await c.run(20_000, () => c.nodes.every((n) => contiguous_top(n.chain) >= target));
    c.stop();
    expect(lagging.behind_calls.length).toBeGreaterThan(0);
    // A lower bound on where the network is: far above the lagging node's height 1.
    expect(lagging.behind_calls[0]!).toBeGreaterThan(2);
    expect(lagging.events.some((e) => e.event === 'catch_up')).toBe(true);
    const via = [...lagging.chain.values()].map((e) => e.via);
    expect(via).toContain('sync');
    expect(via.at(-1)).toBe('engine'); // it decides again by itself after catching up
    expect(contiguous_top(lagging.chain)).toBeGreaterThanOrEqual(target);
    expect(c.safety_violations()).toEqual([]);
  });

  test('catch_up ignores heights not above the current one and checks its argument', async () => {
    const c = new Cluster({ seed, powers: [1, 1, 1, 1] });
    await c.start();
    await c.run(10_000, () => c.nodes.every((n) => contiguous_top(n.chain) >= 4));
    c.stop();
    const n = c.nodes[0]!;
    const from = c.from_of(n);
    const e = new Cluster({ seed, powers: [1, 1, 1, 1] }).nodes[0]!.engine;
    // Not running yet: ignored.
    e.catch_up(from);
    expect(e.height).toBe(0);
    expect(() => e.catch_up({ height: 0, parent: null, last_commit: null })).toThrow(RangeError);
    expect(() => e.catch_up({ height: 2, parent: null, last_commit: null })).toThrow(TypeError);
    const other = n.chain.get(2)!;
    expect(() => e.catch_up({ height: from.height, parent: from.parent, last_commit: other.commit })).toThrow(
      RangeError,
    );
    await e.start({ height: 1, parent: null, last_commit: null });
    e.catch_up(from);
    expect(e.height).toBe(from.height);
    e.catch_up({ height: 2, parent: n.chain.get(1)!.block.header, last_commit: n.chain.get(1)!.commit });
    expect(e.height).toBe(from.height);
    e.stop();
  });
});

describe('consensus: junk from the network', () => {
  test('malformed messages, strangers, bad signatures, another chain, the wrong proposer: all dropped', async () => {
    const c = new Cluster({ seed, powers: [1, 1, 1, 1], net: { drop_p: 1 } });
    const node = c.nodes[0]!;
    await node.engine.start({ height: 1, parent: null, last_commit: null });
    const proposer = c.nodes.find((x) => x.pubkey === proposer_at(c.validators, 1, 0))!;
    const block = await proposer.app.propose({ height: 1, round: 0, parent: null, last_commit: null });
    const good = sign_vote(1, {});
    const not_proposer = c.nodes.find((x) => x !== proposer)!.index;
    const junk: unknown[] = [
      null,
      'vote',
      [],
      { kind: 'vote' },
      { kind: 'gossip', vote: good },
      { kind: 'vote', vote: good, extra: 1 },
      { kind: 'vote', vote: { ...good, extra: 1 } },
      { kind: 'vote', vote: { ...good, type: 'commit' } },
      { kind: 'vote', vote: { ...good, round: -1 } },
      { kind: 'vote', vote: { ...good, height: 0 } },
      { kind: 'vote', vote: { ...good, height: 1.5 } },
      { kind: 'vote', vote: { ...good, block_hash: 'AB'.repeat(32) } },
      { kind: 'vote', vote: { ...good, signature: good.signature.slice(2) } },
      { kind: 'vote', vote: sign_vote(99, {}) }, // not a validator
      { kind: 'vote', vote: { ...sign_vote(2, {}), signature: good.signature } }, // bad signature
      { kind: 'vote', vote: sign_vote(2, {}, 'another-chain') },
      {
        kind: 'proposal',
        proposal: sign_proposal(not_proposer, { height: 1, round: 0, pol_round: -1, block }),
      },
      {
        kind: 'proposal',
        proposal: {
          ...sign_proposal(proposer.index, { height: 1, round: 0, pol_round: -1, block }),
          pol_round: 0,
        },
      },
      {
        kind: 'proposal',
        proposal: sign_proposal(proposer.index, {
          height: 1,
          round: 0,
          pol_round: -1,
          block: { ...block, header: { ...block.header, chain_id: 'another-chain' } },
        }),
      },
      {
        kind: 'proposal',
        proposal: {
          ...sign_proposal(proposer.index, { height: 1, round: 0, pol_round: -1, block }),
          signature: good.signature,
        },
      },
      {
        kind: 'proposal',
        proposal: sign_proposal(proposer.index, {
          height: 1,
          round: 0,
          pol_round: -1,
          block: { ...block, txs: [1] as never },
        }),
      },
    ];
    for (const m of junk) expect(() => node.engine.receive(m as ConsensusMessage)).not.toThrow();
    await c.run(1);
    const drops = node.events.filter((e) => e.event === 'drop');
    expect(drops.length).toBe(junk.length);
    expect(node.engine.evidence).toEqual([]);
    // Nothing junk was counted: a real proposal and votes still work as usual.
    node.engine.receive({
      kind: 'proposal',
      proposal: sign_proposal(proposer.index, { height: 1, round: 0, pol_round: -1, block }),
    });
    await c.run(2);
    expect(node.events.filter((e) => e.event === 'drop').length).toBe(junk.length);
    expect(node.engine.step).toBe('prevote');
    node.engine.stop();
  });

  test('a proposal whose block breaks the header rules is prevoted nil without asking the app', async () => {
    const c = new Cluster({ seed, powers: [1, 1, 1, 1], net: { drop_p: 1 } });
    const proposer = c.nodes.find((x) => x.pubkey === proposer_at(c.validators, 1, 0))!;
    const node = c.nodes.find((x) => x !== proposer)!;
    await node.engine.start({ height: 1, parent: null, last_commit: null });
    const block = await proposer.app.propose({ height: 1, round: 0, parent: null, last_commit: null });
    const bad = { ...block, txs: [...block.txs, 'smuggled'] }; // txs_hash no longer matches
    const { sk, pubkey } = validator_key(proposer.index);
    const bytes = proposal_sign_bytes(CHAIN_ID, {
      height: 1,
      round: 0,
      pol_round: -1,
      block_hash: block_hash(p, bad.header),
    });
    node.engine.receive({
      kind: 'proposal',
      proposal: {
        height: 1,
        round: 0,
        pol_round: -1,
        block: bad,
        validator: pubkey,
        signature: to_hex(p.ed25519_sign(sk, bytes)),
      },
    });
    await c.run(2);
    const sent = c.net.sent.get(node.index) ?? [];
    expect(sent.map((m) => (m.kind === 'vote' ? [m.vote.type, m.vote.block_hash] : m.kind))).toEqual([
      ['prevote', null],
    ]);
    expect(node.app.validate_calls.size).toBe(0);
    expect(node.events.some((e) => e.event === 'invalid_block' && e.fields['reason'] === 'txs_hash')).toBe(
      true,
    );
    node.engine.stop();
  });

  test('the constructor checks its options', () => {
    const c = new Cluster({ seed, powers: [1, 1, 1, 1] });
    const n = c.nodes[0]!;
    const modules = {
      p,
      app: n.app,
      signer: { pubkey: n.pubkey, sign: () => '' },
      outbox: { broadcast: () => {} },
      clock: c.sched,
      signed_state: n.signed,
    };
    const opts = { chain_id: CHAIN_ID, validators: c.validators, timeouts: DEFAULT_TIMEOUTS };
    expect(() => new ConsensusEngine(opts, modules)).not.toThrow();
    expect(() => new ConsensusEngine({ ...opts, chain_id: '' }, modules)).toThrow(TypeError);
    expect(() => new ConsensusEngine({ ...opts, validators: [] }, modules)).toThrow(TypeError);
    expect(
      () => new ConsensusEngine({ ...opts, validators: [...c.validators, c.validators[0]!] }, modules),
    ).toThrow(RangeError);
    expect(
      () => new ConsensusEngine({ ...opts, validators: [{ pubkey: 'A'.repeat(64), power: 1 }] }, modules),
    ).toThrow(TypeError);
    expect(
      () => new ConsensusEngine({ ...opts, validators: [{ pubkey: 'a'.repeat(64), power: 0 }] }, modules),
    ).toThrow(RangeError);
    expect(
      () => new ConsensusEngine({ ...opts, timeouts: { ...DEFAULT_TIMEOUTS, propose_ms: -1 } }, modules),
    ).toThrow(RangeError);
    expect(
      () =>
        new ConsensusEngine({ ...opts, timeouts: { ...DEFAULT_TIMEOUTS, commit_ms: '5' as never } }, modules),
    ).toThrow(TypeError);
    expect(() => new ConsensusEngine({ ...opts, limits: { evidence_max: 0 } }, modules)).toThrow(RangeError);
    expect(() => new ConsensusEngine(opts, { ...modules, outbox: {} as never })).toThrow(TypeError);
  });
});
