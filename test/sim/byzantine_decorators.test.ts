/**
 * The decorators of sim/byzantine.ts one by one, on a bare simulated network (no engines): what
 * each sends to whom and when, that their garbage is never a valid message, that the result rule
 * of `wrong-results-some` is the documented one, and that bad arguments are refused.
 * Seeded: replay with FC_SEED=<seed printed below>.
 */

import { describe, expect, test } from 'vitest';
import type { BlockInput, Enclave } from '../../enclave/api.js';
import { proposal_shape_error, vote_shape_error } from '../../node/consensus/shapes.js';
import {
  type Block,
  type BlockHeader,
  block_hash,
  type ConsensusMessage,
  exec_sign_bytes,
  GENESIS_PARENT_HASH,
  type Hex,
  type Proposal,
  proposal_sign_bytes,
  txs_hash,
  type Vote,
  verify_hex,
  vote_sign_bytes,
} from '../../node/consensus/types.js';
import { fee_pool_address } from '../../protocol/bank.js';
import { to_hex, utf8 } from '../../protocol/bytes.js';
import {
  altered_here,
  BYZANTINE_BEHAVIOURS,
  type ByzantineBehaviour,
  type ByzantineContext,
  byzantine_decorators,
  byzantine_enclave,
  byzantine_network,
  GARBAGE_KINDS,
  garbage_body,
} from '../../sim/byzantine.js';
import {
  CHAIN_ID,
  make_rng,
  p,
  SimNetwork,
  seed,
  test_enclave,
  VirtualScheduler,
  validator_key,
} from '../consensus/harness.js';
import { stub_block_input } from '../node/app_stubs.js';

console.log(`sim byzantine decorators seed ${seed} (replay with FC_SEED=${seed})`);

const SHAPE_LIMITS = { block_txs_max: 100, tx_chars_max: 10_000, commit_signatures_max: 4 };

/** Four peers on a fixed-delay network; node 0 is wrapped by `behaviour`. */
function world(behaviour: ByzantineBehaviour, extra: Partial<ByzantineContext> = {}) {
  const sched = new VirtualScheduler();
  const net = new SimNetwork(sched, make_rng(seed), {
    delay_min_ms: 5,
    delay_max_ms: 5,
    drop_p: 0,
    duplicate_p: 0,
  });
  const keys = [0, 1, 2, 3].map((i) => validator_key(i));
  const peers = keys.map((k, i) => net.attach(i, k.pubkey));
  const got = new Map<number, { at_ms: number; body: unknown }[]>();
  for (const peer of peers) {
    got.set(peer.index, []);
    peer.on_message((_from, body) => got.get(peer.index)!.push({ at_ms: sched.now_ms(), body }));
  }
  const others = keys.slice(1).map((k) => k.pubkey);
  const ctx: ByzantineContext = {
    p,
    chain_id: CHAIN_ID,
    secret_key: keys[0]!.sk,
    peers: [...others].sort(),
    clock: sched,
    rng: { next: make_rng(seed ^ 0x51ed27) },
    ...extra,
  };
  const byz = byzantine_network(behaviour, peers[0]!, ctx);
  const sorted = [...others].sort();
  const half_b = new Set(extra.half_b ?? sorted.slice(Math.ceil(sorted.length / 2)));
  const index_of = (pubkey: string) => keys.findIndex((k) => k.pubkey === pubkey);
  return { sched, net, keys, peers, got, byz, ctx, half_b, index_of };
}

/** `header` with its exec signature by its proposer (validator 0). */
function exec_signed(header: BlockHeader): BlockHeader {
  const sk = validator_key(0).sk;
  return { ...header, exec_signature: to_hex(p.ed25519_sign(sk, exec_sign_bytes(header))) };
}

/** A valid block of validator 0 at height 1, exec signature included. */
function block(time_ms = 1_000): Block {
  const txs = ['tx-a', 'tx-b'];
  const header = exec_signed({
    chain_id: CHAIN_ID,
    height: 1,
    round: 0,
    time_ms,
    proposer: validator_key(0).pubkey,
    prev_block_hash: GENESIS_PARENT_HASH,
    txs_hash: txs_hash(p, txs),
    last_commit_hash: GENESIS_PARENT_HASH,
    result_hash: GENESIS_PARENT_HASH,
    exec_signature: '',
  });
  return { header, txs, last_commit: null };
}

/** The hash of the documented conflicting version of validator 0's block `b`: 1 ms later, exec re-signed. */
function conflicting_hash_of(b: Block): Hex {
  return block_hash(p, exec_signed({ ...b.header, time_ms: b.header.time_ms + 1 }));
}

/** Validator `i`'s signed proposal of `b` at height 1, round 0. */
function proposal(i: number, b: Block): Proposal {
  const { sk, pubkey } = validator_key(i);
  const bytes = proposal_sign_bytes(CHAIN_ID, {
    height: 1,
    round: 0,
    pol_round: -1,
    block_hash: block_hash(p, b.header),
  });
  return {
    height: 1,
    round: 0,
    pol_round: -1,
    block: b,
    validator: pubkey,
    signature: to_hex(p.ed25519_sign(sk, bytes)),
  };
}

/** Validator `i`'s signed prevote for `hash` at height 1, round 0. */
function prevote(i: number, hash: Hex | null): Vote {
  const { sk, pubkey } = validator_key(i);
  const body = { type: 'prevote' as const, height: 1, round: 0, block_hash: hash };
  return {
    ...body,
    validator: pubkey,
    signature: to_hex(p.ed25519_sign(sk, vote_sign_bytes(CHAIN_ID, body))),
  };
}

/** Whether `msg` is a well-formed message whose signature verifies for what it says. */
function valid(msg: unknown): boolean {
  const m = msg as ConsensusMessage;
  try {
    if (m.kind === 'vote') {
      return (
        vote_shape_error(m.vote) === null &&
        verify_hex(p, m.vote.signature, vote_sign_bytes(CHAIN_ID, m.vote), m.vote.validator)
      );
    }
    if (m.kind === 'proposal') {
      const pr = m.proposal;
      if (proposal_shape_error(pr, SHAPE_LIMITS) !== null) return false;
      const bytes = proposal_sign_bytes(CHAIN_ID, { ...pr, block_hash: block_hash(p, pr.block.header) });
      const h = pr.block.header;
      return (
        verify_hex(p, pr.signature, bytes, pr.validator) &&
        txs_hash(p, pr.block.txs) === h.txs_hash &&
        verify_hex(p, h.exec_signature, exec_sign_bytes(h), h.proposer)
      );
    }
  } catch {
    return false;
  }
  return false;
}

describe('sim/byzantine: arguments', () => {
  test('unknown behaviours and bad contexts are refused', () => {
    const w = world('silent');
    expect(() => byzantine_network('sneaky' as never, w.peers[1]!, w.ctx)).toThrow(RangeError);
    expect(() => byzantine_enclave('honest' as never, test_enclave(), { p })).toThrow(RangeError);
    expect(() => byzantine_decorators('equivocate-splits' as never)).toThrow(RangeError);
    expect(() =>
      byzantine_network('garbage', w.peers[1]!, { ...w.ctx, secret_key: new Uint8Array(31) }),
    ).toThrow(TypeError);
    expect(() => byzantine_network('garbage', w.peers[1]!, { ...w.ctx, peers: ['x'] })).toThrow(TypeError);
    expect(() =>
      byzantine_network('withhold-block', w.peers[1]!, { ...w.ctx, half_b: [validator_key(9).pubkey] }),
    ).toThrow(RangeError);
    expect(() => byzantine_network('delay-votes', w.peers[1]!, { ...w.ctx, delay_ms: -1 })).toThrow(
      RangeError,
    );
    expect(() => byzantine_network('garbage', w.peers[1]!, { ...w.ctx, garbage_p: 2 })).toThrow(RangeError);
    const [, k1, k2] = w.ctx.peers;
    expect(() =>
      byzantine_network('equivocate', w.peers[1]!, { ...w.ctx, colluders: [validator_key(9).pubkey] }),
    ).toThrow(RangeError);
    // A colluder is in half A: naming it in half B too is a contradiction.
    expect(() =>
      byzantine_network('equivocate-split', w.peers[1]!, { ...w.ctx, colluders: [k1!], half_b: [k1!, k2!] }),
    ).toThrow(RangeError);
  });

  test('each behaviour decorates one seam and leaves the other as it is', () => {
    const w = world('silent');
    const enclave = test_enclave();
    for (const behaviour of BYZANTINE_BEHAVIOURS) {
      const on_enclave = behaviour.startsWith('wrong-results') || behaviour === 'forge-callee';
      // Exactly one of the two decorators wraps; the other hands back the very same object.
      expect(byzantine_network(behaviour, w.peers[2]!, w.ctx) === w.peers[2], behaviour).toBe(on_enclave);
      expect(byzantine_enclave(behaviour, enclave, { p }) === enclave, behaviour).toBe(!on_enclave);
    }
  });
});

describe('sim/byzantine: equivocation', () => {
  test('equivocate-split: half A gets the proposal and votes as signed, half B a consistent conflicting version', async () => {
    const w = world('equivocate-split');
    const b = block();
    const hash = block_hash(p, b.header);
    w.byz.broadcast({ kind: 'proposal', proposal: proposal(0, b) });
    w.byz.broadcast({ kind: 'vote', vote: prevote(0, hash) });
    w.byz.broadcast({ kind: 'vote', vote: prevote(0, null) });
    // A relayed vote of another validator is not its to equivocate on.
    const relayed = prevote(2, hash);
    w.byz.broadcast({ kind: 'vote', vote: relayed });
    await w.sched.run(100);
    const conflicting_hash = conflicting_hash_of(b);
    for (const i of [1, 2, 3]) {
      const bodies = w.got.get(i)!.map((x) => x.body as ConsensusMessage);
      expect(bodies.length).toBe(4);
      // Each received message is validly signed (exec signature included): an honest node accepts it.
      for (const m of bodies) expect(valid(m), JSON.stringify(m).slice(0, 80)).toBe(true);
      const in_b = w.half_b.has(w.keys[i]!.pubkey);
      const want = in_b ? conflicting_hash : hash;
      const pr = bodies[0]! as { kind: 'proposal'; proposal: Proposal };
      expect(block_hash(p, pr.proposal.block.header)).toBe(want);
      expect(pr.proposal.block.header.time_ms).toBe(b.header.time_ms + (in_b ? 1 : 0));
      expect((bodies[1] as { vote: Vote }).vote.block_hash).toBe(want);
      // Nil: as is to half A; to half B a vote for the conflicting version of the round's proposal.
      expect((bodies[2] as { vote: Vote }).vote.block_hash).toBe(in_b ? conflicting_hash : null);
      expect((bodies[3] as { vote: Vote }).vote).toEqual(relayed);
    }
    expect(w.half_b.size).toBe(1);
  });

  test('colluders: a fellow equivocator learns the conflicting block, votes for it to half B, and its node never sees the pair', async () => {
    const keys = [0, 1, 2, 3].map((i) => validator_key(i).pubkey);
    // Validators 0 and 1 collude; validator 3 is half B of both.
    const w = world('equivocate-split', { colluders: [keys[1]!], half_b: [keys[3]!] });
    const second = byzantine_network('equivocate-split', w.peers[1]!, {
      ...w.ctx,
      secret_key: w.keys[1]!.sk,
      peers: keys.filter((_, i) => i !== 1).sort(),
      colluders: [keys[0]!],
      half_b: [keys[3]!],
    });
    const seen_by_node: unknown[] = [];
    second.on_message((_from, body) => seen_by_node.push(body));
    const b = block();
    w.byz.broadcast({ kind: 'proposal', proposal: proposal(0, b) });
    await w.sched.run(50);
    // What validator 1's node got: version A as a plain two-key message (its engine takes it).
    expect(seen_by_node).toEqual([{ kind: 'proposal', proposal: proposal(0, b) }]);
    second.broadcast({ kind: 'vote', vote: prevote(1, block_hash(p, b.header)) });
    await w.sched.run(100);
    const votes = (i: number) =>
      w.got
        .get(i)!
        .map((x) => x.body as ConsensusMessage)
        .filter((m) => m.kind === 'vote')
        .map((m) => (m as { vote: Vote }).vote);
    // Half A (validator 2) and the colluder (0) get its vote for version A, half B (3) for version B.
    expect(votes(2).map((v) => v.block_hash)).toEqual([block_hash(p, b.header)]);
    expect(votes(0).map((v) => v.block_hash)).toEqual([block_hash(p, b.header)]);
    const [for_b] = votes(3);
    expect(for_b?.validator).toBe(keys[1]);
    expect(for_b?.block_hash).toBe(conflicting_hash_of(b));
    expect(valid({ kind: 'vote', vote: for_b })).toBe(true);
    // And validator 3 holds that very block, from validator 0.
    const got_b = w.got
      .get(3)!
      .map((x) => x.body as ConsensusMessage)
      .find((m) => m.kind === 'proposal');
    expect(block_hash(p, (got_b as { proposal: Proposal }).proposal.block.header)).toBe(
      conflicting_hash_of(b),
    );
  });

  test('equivocate: both versions go to everyone', async () => {
    const w = world('equivocate');
    const b = block();
    w.byz.broadcast({ kind: 'proposal', proposal: proposal(0, b) });
    await w.sched.run(100);
    for (const i of [1, 2, 3]) {
      const hashes = w.got
        .get(i)!
        .map((x) => block_hash(p, (x.body as { proposal: Proposal }).proposal.block.header));
      expect(new Set(hashes).size).toBe(2);
    }
  });
});

describe('sim/byzantine: silence, withholding, delay', () => {
  test('silent: sends nothing, answers no request, but its own requests are answered', async () => {
    const w = world('silent');
    w.peers[1]!.on_request(async () => ({ height: 7 }));
    w.byz.on_request(async () => ({ height: 9 }));
    w.byz.broadcast({ kind: 'vote', vote: prevote(0, null) });
    expect(w.byz.send(w.keys[1]!.pubkey, { kind: 'txs', raws: [] })).toBe(true);
    const asked = w.peers[1]!.request(w.keys[0]!.pubkey, { kind: 'status' }, 200);
    const outcome = asked.then(
      () => 'answered',
      (e: Error) => e.message,
    );
    const own = w.byz.request(w.keys[1]!.pubkey, { kind: 'status' }, 200);
    await w.sched.run(1_000);
    expect(await outcome).toBe('request timed out');
    expect(await own).toEqual({ height: 7 });
    for (const i of [1, 2, 3]) expect(w.got.get(i)).toEqual([]);
  });

  test('withhold-votes: proposals leave, votes do not', async () => {
    const w = world('withhold-votes');
    w.byz.broadcast({ kind: 'proposal', proposal: proposal(0, block()) });
    w.byz.broadcast({ kind: 'vote', vote: prevote(0, null) });
    expect(w.byz.send(w.keys[1]!.pubkey, { kind: 'vote', vote: prevote(0, null) })).toBe(true);
    await w.sched.run(100);
    for (const i of [1, 2, 3])
      expect(w.got.get(i)!.map((x) => (x.body as ConsensusMessage).kind)).toEqual(['proposal']);
  });

  test('withhold-block: its proposal reaches half A only; its votes reach everyone', async () => {
    const w = world('withhold-block');
    w.byz.broadcast({ kind: 'proposal', proposal: proposal(0, block()) });
    w.byz.broadcast({ kind: 'vote', vote: prevote(0, null) });
    for (const i of [1, 2, 3])
      w.byz.send(w.keys[i]!.pubkey, { kind: 'proposal', proposal: proposal(0, block()) });
    await w.sched.run(100);
    for (const i of [1, 2, 3]) {
      const kinds = w.got.get(i)!.map((x) => (x.body as ConsensusMessage).kind);
      const in_b = w.half_b.has(w.keys[i]!.pubkey);
      expect(kinds, `node ${i}`).toEqual(in_b ? ['vote'] : ['proposal', 'vote', 'proposal']);
    }
  });

  test('delay-votes: votes arrive a delay late on the injected clock, other messages at once; stop drops held ones', async () => {
    const w = world('delay-votes', { delay_ms: 300 });
    w.byz.broadcast({ kind: 'vote', vote: prevote(0, null) });
    w.byz.broadcast({ kind: 'proposal', proposal: proposal(0, block()) });
    await w.sched.run(1_000);
    for (const i of [1, 2, 3]) {
      const arrivals = w.got.get(i)!.map((x) => [(x.body as ConsensusMessage).kind, x.at_ms]);
      // Network delay 5 ms; the vote waited 300 ms first.
      expect(arrivals).toEqual([
        ['proposal', 5],
        ['vote', 305],
      ]);
    }
    w.byz.send(w.keys[1]!.pubkey, { kind: 'vote', vote: prevote(0, null) });
    await w.byz.stop();
    await w.sched.run(2_000);
    expect(w.got.get(1)!.length).toBe(2);
  });
});

describe('sim/byzantine: garbage', () => {
  test('garbage bodies are deterministic per seed, cover every mutation, and are never valid messages', () => {
    const original: ConsensusMessage[] = [
      { kind: 'proposal', proposal: proposal(0, block()) },
      { kind: 'vote', vote: prevote(0, block_hash(p, block().header)) },
      { kind: 'vote', vote: prevote(0, null) },
    ];
    const frozen = structuredClone(original);
    const draw = (s: number) => {
      const rng = { next: make_rng(s) };
      return Array.from({ length: 600 }, (_, k) => garbage_body(rng, original[k % original.length]));
    };
    const a = draw(seed);
    // Same seed, same garbage: a run replays exactly.
    expect(draw(seed)).toEqual(a);
    // The messages it started from are untouched (the engine keeps and re-sends them).
    expect(original).toEqual(frozen);
    expect(new Set(a.map((g) => g.kind))).toEqual(new Set(GARBAGE_KINDS));
    for (const g of a)
      expect(valid(g.body), `${g.kind}: ${JSON.stringify(g.body).slice(0, 120)}`).toBe(false);
    // Both originals are valid: `valid` is not simply false.
    for (const m of original) expect(valid(m)).toBe(true);
  });

  test('garbage follows honest traffic: every message still leaves, followed by junk', async () => {
    const w = world('garbage');
    const honest: ConsensusMessage = { kind: 'vote', vote: prevote(0, null) };
    for (let k = 0; k < 20; k++) w.byz.broadcast(honest);
    await w.sched.run(100);
    let junk = 0;
    for (const i of [1, 2, 3]) {
      const bodies = w.got.get(i)!.map((x) => x.body);
      expect(bodies.filter((b) => JSON.stringify(b) === JSON.stringify(honest)).length).toBe(20);
      junk += bodies.filter((b) => !valid(b)).length;
    }
    expect(junk).toBeGreaterThan(10);
  });
});

/**
 * An enclave whose methods work only with itself as `this` (like the worker pool: a class with
 * private fields).
 */
class PrivateEnclave {
  readonly #inner = test_enclave();
  calls = 0;
  execute_block(input: BlockInput) {
    this.calls++;
    return this.#inner.execute_block(input);
  }
  query(input: Parameters<Enclave['query']>[0]) {
    return this.#inner.query(input);
  }
}

describe('sim/byzantine: wrong results', () => {
  const input = (txs: string[]): BlockInput => ({
    ...stub_block_input(
      txs,
      { chain_id: CHAIN_ID, height: 1, time_ms: 1, random_seed: GENESIS_PARENT_HASH },
      { roots: [], measurements: [] },
    ),
    balances: { [fee_pool_address(p)]: 0 },
  });

  test('wrong-results-some alters exactly the blocks whose first tx text hashes odd; wrong-results alters all', async () => {
    const inner = new PrivateEnclave();
    const as_enclave = { ...test_enclave(), execute_block: (i: BlockInput) => inner.execute_block(i) };
    const some = byzantine_enclave('wrong-results-some', as_enclave, { p });
    const all = byzantine_enclave('wrong-results', as_enclave, { p });
    let altered = 0;
    for (let k = 0; k < 64; k++) {
      const txs = k === 0 ? [] : [`tx-${k}`, 'second'];
      const honest = await test_enclave().execute_block(input(txs));
      const a = await some.execute_block(input(txs));
      const b = await all.execute_block(input(txs));
      if (!honest.ok || !a.ok || !b.ok) throw new Error('the test enclave executes every block');
      // The documented rule, computed here independently of altered_here.
      const digest = p.sha256(utf8(txs[0] ?? ''));
      const odd = txs.length > 0 && (digest[31]! & 1) === 1;
      expect(altered_here(p, { txs })).toBe(odd);
      expect(a.value.result_hash !== honest.value.result_hash, `block ${k}`).toBe(odd);
      expect(b.value.result_hash).not.toBe(honest.value.result_hash);
      if (odd) altered++;
    }
    // About half of 63 non-empty blocks.
    expect(altered).toBeGreaterThan(15);
    expect(altered).toBeLessThan(48);
    expect(inner.calls).toBe(128);
  });

  test('the enclave decorator calls its inner enclave with the inner enclave as `this`', async () => {
    const inner = new PrivateEnclave();
    const wrong = byzantine_enclave('wrong-results', inner as unknown as Enclave, { p });
    const answer = await wrong.execute_block(input(['x']));
    expect(answer.ok).toBe(true);
    expect(inner.calls).toBe(1);
  });
});
