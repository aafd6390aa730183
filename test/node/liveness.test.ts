/**
 * The liveness guard (docs/consensus.md "Liveness guard") through the real app, mempool and
 * consensus engine over a fake enclave that dies (WORKER_DIED) on chosen transactions: a proposer
 * isolates the transaction, quarantines it and proposes without it, later blocks commit the
 * others, a resubmission is refused over RPC with code QUARANTINED; a validator whose enclave
 * fails on another's proposal prevotes nil and goes on; a committed block that cannot be executed
 * halts the node. Also the per-block store_code limit, when building and when validating.
 */

import { afterEach, describe, expect, it } from 'vitest';
import type { BlockInput, BlockOutput, Enclave } from '../../enclave/api.js';
import { type EnclaveErrorCode, fail, ok } from '../../enclave/result.js';
import {
  COMMITTED_EXECUTION_ATTEMPTS_MAX,
  DivergedError,
  STORE_CODE_BLOCK_BYTES_MAX,
  UnexecutableBlockError,
  ValidatorApp,
} from '../../node/app.js';
import { ConsensusEngine } from '../../node/consensus/engine.js';
import { MemorySignedStateStore } from '../../node/consensus/signed_state.js';
import {
  type Block,
  type BlockHeader,
  block_hash,
  type Commit,
  type ConsensusMessage,
  commit_hash,
  GENESIS_PARENT_HASH,
  proposer_at,
  txs_hash,
} from '../../node/consensus/types.js';
import type { Genesis } from '../../node/genesis.js';
import { isolation_calls_needed } from '../../node/isolate.js';
import { Mempool } from '../../node/mempool.js';
import { Quarantine } from '../../node/quarantine.js';
import { RpcErrorCode, RpcServer } from '../../node/rpc/server.js';
import type { RpcBackend } from '../../node/rpc/types.js';
import { from_hex, to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { jcs } from '../../protocol/jcs.js';
import { account_address, parse_tx_json, type TxMsg, tx_hash } from '../../protocol/tx.js';
import {
  DEFAULT_TIMEOUTS,
  CHAIN_ID as ENGINE_CHAIN_ID,
  p,
  sign_proposal,
  sign_vote,
  VirtualScheduler,
  validator_key,
} from '../consensus/harness.js';
import { TestAccount } from '../enclave/fixtures.js';
import { empty_block_output, stub_block_input } from './app_stubs.js';

const CHAIN = ENGINE_CHAIN_ID;
const T0 = 1_000;
const EXEC = { type: 'execute', contract: 'ab'.repeat(20), scheme: 'gcm', payload: 'AAAA' } as const;
const keys = [0, 1, 2, 3].map(validator_key);
const genesis = {
  chain_id: CHAIN,
  genesis_time_ms: T0,
  validators: keys.map((k, i) => ({ pubkey: k.pubkey, power: 1, name: `v${i}` })),
  io_pubkey: '00'.repeat(32),
  seed_exchange_pubkey: '00'.repeat(32),
  attestation: { roots: [], measurements: [] },
  codes: [],
} satisfies Genesis;
const validators = genesis.validators.map(({ pubkey, power }) => ({ pubkey, power }));

/** A signed transaction of this test chain. */
function tx(account: TestAccount, msg: TxMsg = EXEC): string {
  return account.tx(msg, { chain_id: CHAIN });
}

function hash_of(raw: string): string {
  return tx_hash(p, parse_tx_json(raw));
}

/** Committed blocks, account sequences and sealed blobs in memory: what ValidatorApp uses of a ChainStore. */
class FakeStore {
  readonly blocks: { block: Block; commit: Commit }[] = [];
  readonly sequences = new Map<string, number>();
  readonly sealed = new Map<string, string>();

  height(): number {
    return this.blocks.length;
  }
  last_block() {
    return this.blocks.at(-1) ?? null;
  }
  async get_sealed(name: string) {
    return this.sealed.get(name) ?? null;
  }
  async put_sealed(name: string, value: string) {
    this.sealed.set(name, value);
  }
  async get_account_sequence(address: string) {
    return this.sequences.get(address) ?? 0;
  }
  async block_input(
    txs: string[],
    h: { chain_id: string; height: number; time_ms: number; random_seed: string },
  ): Promise<BlockInput> {
    return stub_block_input(txs, h, genesis.attestation);
  }
  async commit_block(args: { block: Block; commit: Commit; output: BlockOutput }) {
    for (const [address, sequence] of Object.entries(args.output.accounts))
      this.sequences.set(address, sequence);
    this.blocks.push({ block: args.block, commit: args.commit });
  }
}

/**
 * An enclave whose worker dies on any block holding a transaction of `killers` (or that answers
 * `fail_next` codes first, one per call); otherwise it executes: every sender's sequence moves
 * on, and the result hash covers the height and the transactions.
 */
class FakeEnclave {
  readonly killers = new Set<string>();
  readonly fail_next: EnclaveErrorCode[] = [];
  /** Transaction counts of every execute_block call. */
  readonly calls: number[] = [];
  on_call: (() => void) | null = null;

  async execute_block(input: BlockInput) {
    this.calls.push(input.txs.length);
    this.on_call?.();
    const code = this.fail_next.shift();
    if (code !== undefined) return fail(code, 'injected');
    if (input.txs.some((raw) => this.killers.has(raw))) return fail('WORKER_DIED', 'enclave worker died');
    const accounts: Record<string, number> = {};
    for (const raw of input.txs) {
      const body = parse_tx_json(raw).body;
      accounts[account_address(p, from_hex(body.sender, 32))] = body.sequence + 1;
    }
    const result_hash = to_hex(p.sha256(utf8(jcs({ height: input.height, txs: input.txs }))));
    const output: BlockOutput = { ...empty_block_output(result_hash), accounts };
    return ok(output);
  }
}

/** One validator's app over the fakes, with a mempool on an injected clock. */
function node(index: number) {
  const clock = { now: T0 + 1_000 };
  const store = new FakeStore();
  const enclave = new FakeEnclave();
  const quarantine = new Quarantine(undefined, () => clock.now);
  const mempool = new Mempool(
    {
      chain_id: CHAIN,
      limits: {
        txs_max: 1_000,
        bytes_max: 8 * 1024 * 1024,
        per_account_max: 16,
        tx_bytes_max: 512 * 1024,
        gas_limit_max: 10_000_000,
      },
    },
    {
      p,
      committed_sequence: async (address) => store.sequences.get(address) ?? 0,
      quarantine,
    },
  );
  const logs: { event: string; fields: Record<string, unknown> }[] = [];
  const key = keys[index]!;
  const app = new ValidatorApp(
    {
      genesis,
      pubkey: key.pubkey,
      sign: (m) => to_hex(p.ed25519_sign(key.sk, m)),
      block: { txs_max: 100, bytes_max: 4 * 1024 * 1024, gas_max: 1e12 },
    },
    {
      p,
      enclave: enclave as unknown as Enclave,
      store: store as never,
      mempool,
      now_ms: () => clock.now,
      log: (event, fields) => logs.push({ event, fields }),
      on_committed: () => {},
    },
  );
  const events = (name: string) => logs.filter((l) => l.event === name).map((l) => l.fields);
  return { app, store, enclave, mempool, logs, events, clock };
}

/** Proposes the next height on `n`'s committed chain, as the engine would. */
function propose(n: ReturnType<typeof node>, round = 0): Promise<Block> {
  const last = n.store.last_block();
  return n.app.propose({
    height: n.store.height() + 1,
    round,
    parent: last?.block.header ?? null,
    last_commit: last?.commit ?? null,
  });
}

/** Commits `block` on `n` with a stand-in commit (the fake store does not verify it). */
async function commit(n: ReturnType<typeof node>, block: Block): Promise<void> {
  const hash = block_hash(p, block.header);
  await n.app.commit(block, {
    height: block.header.height,
    round: block.header.round,
    block_hash: hash,
    signatures: [],
  });
}

/** Index of a validator that proposes neither round 0 nor round 1 of height 1. */
function bystander(): number {
  const busy = [0, 1].map((r) => proposer_at(validators, 1, r));
  return keys.findIndex((k) => !busy.includes(k.pubkey));
}

/** Height 1's block of `round` by that round's rightful proposer (a made-up result hash). */
function block_of(round: number, txs: string[]): Block {
  const header: BlockHeader = {
    chain_id: CHAIN,
    height: 1,
    round,
    time_ms: T0 + 10 + round,
    proposer: proposer_at(validators, 1, round),
    prev_block_hash: GENESIS_PARENT_HASH,
    txs_hash: txs_hash(p, txs),
    last_commit_hash: commit_hash(p, null),
    result_hash: to_hex(p.sha256(utf8(jcs({ height: 1, txs })))),
    exec_signature: '0'.repeat(128),
  };
  return { header, txs, last_commit: null };
}

const servers: RpcServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

describe('liveness guard: the proposer', () => {
  it('isolates a transaction that kills its enclave, quarantines it, and the chain goes on', async () => {
    const n = node(0);
    const [a, b, k, c] = ['a', 'b', 'killer', 'c'].map((l) => new TestAccount(p, `live-${l}`));
    const a0 = tx(a!);
    const b0 = tx(b!);
    const k0 = tx(k!);
    const a1 = tx(a!);
    const c0 = tx(c!);
    for (const raw of [a0, b0, k0, a1, c0]) expect(await n.mempool.add(raw)).toMatchObject({ ok: true });
    n.enclave.killers.add(k0);

    const first = await propose(n);
    // The block is the prefix before the killer: a real block of this height and round.
    expect(first.txs).toEqual([a0, b0]);
    expect(first.header.txs_hash).toBe(txs_hash(p, [a0, b0]));
    // One failed execution, then the bisection, within its bound.
    expect(n.enclave.calls[0]).toBe(5);
    expect(n.enclave.calls.length).toBeLessThanOrEqual(1 + isolation_calls_needed(5));
    const [failed] = n.events('block_execution_failed');
    expect(failed).toMatchObject({ phase: 'propose', height: 1, code: 'WORKER_DIED', txs: 5 });
    expect(failed!['tx_hashes']).toContain(hash_of(k0));
    expect(n.events('tx_quarantined')).toEqual([
      expect.objectContaining({ hash: hash_of(k0), height: 1, index: 2, code: 'WORKER_DIED' }),
    ]);
    expect(n.mempool.has(hash_of(k0))).toBe(false);
    const again = await n.mempool.add(k0);
    expect(again).toMatchObject({ ok: false, code: 'quarantined' });

    await commit(n, first);
    const second = await propose(n);
    // The transactions after the killer commit in the next block.
    expect(second.txs).toEqual([a1, c0]);
    await commit(n, second);
    expect(n.store.height()).toBe(2);
    expect(n.mempool.size()).toBe(0);
    expect(n.events('tx_quarantined')).toHaveLength(1);

    // Over RPC the refusal has its own code.
    const backend = {
      submit: (raw: string, parsed: ReturnType<typeof parse_tx_json>) => n.mempool.add(raw, 'client', parsed),
      halted: () => null,
    } as unknown as RpcBackend;
    const server = new RpcServer(
      {
        host: '127.0.0.1',
        port: 0,
        body_bytes_max: 1 << 20,
        wait_timeout_ms: 1_000,
        sse_clients_max: 1,
        cors_origin: '',
      },
      { backend },
    );
    servers.push(server);
    const { url } = await server.start();
    const answer = await fetch(`${url}/v1/txs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: k0,
    });
    const body = (await answer.json()) as { error: { code: number; message: string } };
    expect(answer.status).toBe(422);
    expect(body.error.code).toBe(RpcErrorCode.QUARANTINED);
    expect(body.error.message).toMatch(/quarantined/);
  });

  it('proposes an empty block when the first transaction is the killer, and blames nobody for a one-off', async () => {
    const n = node(0);
    const [k, a] = ['k2', 'a2'].map((l) => new TestAccount(p, `live-${l}`));
    const k0 = tx(k!);
    const a0 = tx(a!);
    for (const raw of [k0, a0]) await n.mempool.add(raw);
    n.enclave.killers.add(k0);
    const empty = await propose(n);
    expect(empty.txs).toEqual([]);
    expect(n.events('tx_quarantined')).toEqual([expect.objectContaining({ hash: hash_of(k0), index: 0 })]);
    await commit(n, empty);

    // A failure that does not come back (a worker killed once, for any reason) quarantines nothing.
    n.enclave.fail_next.push('WORKER_DIED');
    const whole = await propose(n);
    expect(whole.txs).toEqual([a0]);
    expect(n.events('block_execution_recovered')).toHaveLength(1);
    expect(n.events('tx_quarantined')).toHaveLength(1);
  });

  it('proposes nothing when the height is committed during the search, and quarantines nothing', async () => {
    const n = node(0);
    const k = new TestAccount(p, 'live-k3');
    const k0 = tx(k);
    await n.mempool.add(k0);
    await n.mempool.add(tx(k));
    n.enclave.killers.add(k0);
    // Another proposer's block of this height commits while the first execution runs.
    n.enclave.on_call = () => {
      if (n.store.height() === 0) n.store.blocks.push({ block: block_of(0, []), commit: {} as Commit });
    };
    await expect(n.app.propose({ height: 1, round: 0, parent: null, last_commit: null })).rejects.toThrow(
      /height committed/,
    );
    expect(n.events('tx_isolation_failed')).toEqual([
      expect.objectContaining({ reason: 'height committed' }),
    ]);
    expect(n.events('tx_quarantined')).toEqual([]);
    expect(n.mempool.size()).toBe(2);
  });

  it('searches on TIMEOUT and INTERNAL as on WORKER_DIED', async () => {
    for (const code of ['TIMEOUT', 'INTERNAL'] as const) {
      const n = node(0);
      const a0 = tx(new TestAccount(p, `live-${code}`));
      await n.mempool.add(a0);
      n.enclave.fail_next.push(code);
      expect((await propose(n)).txs).toEqual([a0]);
      expect(n.events('block_execution_failed')).toEqual([
        expect.objectContaining({ phase: 'propose', code }),
      ]);
      expect(n.events('block_execution_recovered')).toHaveLength(1);
    }
  });

  it('does not bisect for failures that are not a transaction’s (BUSY, BAD_INPUT)', async () => {
    for (const code of ['BUSY', 'BAD_INPUT'] as const) {
      const n = node(0);
      await n.mempool.add(tx(new TestAccount(p, `live-${code}`)));
      n.enclave.fail_next.push(code);
      await expect(propose(n)).rejects.toThrow(code);
      expect(n.enclave.calls).toHaveLength(1);
      expect(n.events('block_execution_failed')).toEqual([]);
    }
  });
});

describe('liveness guard: validators', () => {
  it('a validator whose enclave fails on a proposal finds it invalid and logs the tx hashes', async () => {
    const n = node(bystander());
    const k0 = tx(new TestAccount(p, 'live-v-k'));
    n.enclave.killers.add(k0);
    expect(await n.app.validate(block_of(0, [k0]))).toBe(false);
    expect(n.events('block_execution_failed')).toEqual([
      expect.objectContaining({ phase: 'validate', code: 'WORKER_DIED', tx_hashes: [hash_of(k0)] }),
    ]);
  });

  it('halts (UnexecutableBlockError, a DivergedError) on a committed block its enclave cannot execute', async () => {
    const n = node(bystander());
    const k0 = tx(new TestAccount(p, 'live-c-k'));
    n.enclave.killers.add(k0);
    const error = await commit(n, block_of(0, [k0])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnexecutableBlockError);
    expect(error).toBeInstanceOf(DivergedError);
    expect((error as Error).message).toMatch(
      /cannot execute the committed block at height 1 \(.*WORKER_DIED/,
    );
    // Tried again once (a worker may die for its own reasons), then gave up; nothing applied.
    expect(n.enclave.calls).toHaveLength(COMMITTED_EXECUTION_ATTEMPTS_MAX);
    expect(n.events('block_execution_failed').map((f) => f['phase'])).toEqual(['commit', 'commit']);
    expect(n.store.height()).toBe(0);

    // A failure that does not come back is not a reason to halt.
    const m = node(bystander());
    m.enclave.fail_next.push('TIMEOUT');
    await commit(m, block_of(0, [tx(new TestAccount(p, 'live-c-a'))]));
    expect(m.store.height()).toBe(1);
  });

  it('prevotes nil on a proposal its enclave dies on, then prevotes the next round’s block', async () => {
    const me = bystander();
    const n = node(me);
    const sched = new VirtualScheduler();
    const sent: ConsensusMessage[] = [];
    const engine = new ConsensusEngine(
      { chain_id: CHAIN, validators, timeouts: DEFAULT_TIMEOUTS },
      {
        p,
        app: n.app,
        signer: { pubkey: keys[me]!.pubkey, sign: (m) => to_hex(p.ed25519_sign(keys[me]!.sk, m)) },
        outbox: { broadcast: (m) => sent.push(m) },
        clock: sched,
        signed_state: new MemorySignedStateStore(),
        log: () => {},
      },
    );
    await engine.start({ height: 1, parent: null, last_commit: null });
    const others = [0, 1, 2, 3].filter((i) => i !== me);
    const index_of = (round: number) => keys.findIndex((k) => k.pubkey === proposer_at(validators, 1, round));
    const my_prevote = (round: number) =>
      sent.find((m) => m.kind === 'vote' && m.vote.type === 'prevote' && m.vote.round === round);

    const k0 = tx(new TestAccount(p, 'live-e-k'));
    n.enclave.killers.add(k0);
    const bad = block_of(0, [k0]);
    engine.receive({
      kind: 'proposal',
      proposal: sign_proposal(index_of(0), { height: 1, round: 0, pol_round: -1, block: bad }),
    });
    // Before the propose timeout: the nil prevote is the failed validation's, not the timeout's.
    await sched.run(DEFAULT_TIMEOUTS.propose_ms - 1);
    expect(my_prevote(0)).toMatchObject({ vote: { block_hash: null } });
    expect(n.events('block_execution_failed')).toHaveLength(1);

    // The others prevote and precommit nil too; round 1 starts after the precommit timeout.
    for (const type of ['prevote', 'precommit'] as const)
      for (const i of others.slice(0, 2))
        engine.receive({ kind: 'vote', vote: sign_vote(i, { type, round: 0 }) });
    await sched.run(sched.now_ms() + DEFAULT_TIMEOUTS.prevote_ms + DEFAULT_TIMEOUTS.precommit_ms + 1);
    expect(engine.round).toBe(1);

    const good = block_of(1, [tx(new TestAccount(p, 'live-e-a'))]);
    engine.receive({
      kind: 'proposal',
      proposal: sign_proposal(index_of(1), { height: 1, round: 1, pol_round: -1, block: good }),
    });
    await sched.run(sched.now_ms() + DEFAULT_TIMEOUTS.propose_ms - 1);
    expect(my_prevote(1)).toMatchObject({ vote: { block_hash: block_hash(p, good.header) } });
    expect(engine.step).not.toBe('halted');
    engine.stop();
  });

  it('the engine halts when 2/3 commit a block this validator cannot execute', async () => {
    const me = bystander();
    const n = node(me);
    const sched = new VirtualScheduler();
    const logs: { event: string; fields: Record<string, unknown> }[] = [];
    const engine = new ConsensusEngine(
      { chain_id: CHAIN, validators, timeouts: DEFAULT_TIMEOUTS },
      {
        p,
        app: n.app,
        signer: { pubkey: keys[me]!.pubkey, sign: (m) => to_hex(p.ed25519_sign(keys[me]!.sk, m)) },
        outbox: { broadcast: () => {} },
        clock: sched,
        signed_state: new MemorySignedStateStore(),
        log: (event, fields) => logs.push({ event, fields }),
      },
    );
    await engine.start({ height: 1, parent: null, last_commit: null });
    const k0 = tx(new TestAccount(p, 'live-h-k'));
    n.enclave.killers.add(k0);
    const bad = block_of(0, [k0]);
    const hash = block_hash(p, bad.header);
    const proposer = keys.findIndex((k) => k.pubkey === bad.header.proposer);
    engine.receive({
      kind: 'proposal',
      proposal: sign_proposal(proposer, { height: 1, round: 0, pol_round: -1, block: bad }),
    });
    for (const i of [0, 1, 2, 3].filter((i) => i !== me))
      engine.receive({ kind: 'vote', vote: sign_vote(i, { type: 'precommit', round: 0, block_hash: hash }) });
    await sched.run(DEFAULT_TIMEOUTS.propose_ms - 1, () => engine.step === 'halted');
    expect(engine.step).toBe('halted');
    const halt = logs.find((l) => l.event === 'halt')!;
    expect(halt.fields['error']).toMatch(/cannot execute the committed block at height 1/);
    expect(n.store.height()).toBe(0);
  });
});

describe('store_code limit per block', () => {
  /** A store_code transaction of about `bytes` UTF-8 bytes whose code compiles. */
  function store_code(account: TestAccount, bytes: number): string {
    const source = `// ${'x'.repeat(Math.floor((bytes * 3) / 4))}\nexport function execute(_ctx, msg) {\n  return msg;\n}\n`;
    return tx(account, { type: 'store_code', code: to_base64(utf8(source)) });
  }

  it('a proposer takes store_code transactions up to the limit; a proposal over it is invalid', async () => {
    const n = node(0);
    const codes = [1, 2, 3, 4].map((i) => store_code(new TestAccount(p, `live-s-${i}`), 300_000));
    const size = Buffer.byteLength(codes[0]!);
    // Three fit, four do not: the test is about the limit, not about these sizes.
    expect(3 * size).toBeLessThanOrEqual(STORE_CODE_BLOCK_BYTES_MAX);
    expect(4 * size).toBeGreaterThan(STORE_CODE_BLOCK_BYTES_MAX);
    const e0 = tx(new TestAccount(p, 'live-s-exec'));
    for (const raw of [...codes, e0]) expect(await n.mempool.add(raw)).toMatchObject({ ok: true });
    const block = await propose(n);
    expect(block.txs).toEqual([codes[0], codes[1], codes[2], e0]);

    const v = node(bystander());
    expect(await v.app.validate(block_of(0, codes))).toBe(false);
    expect(v.events('proposal_invalid')).toEqual([
      expect.objectContaining({ reason: expect.stringMatching(/store_code/) }),
    ]);
    // Invalid before execution: the enclave was not asked.
    expect(v.enclave.calls).toEqual([]);
    expect(await v.app.validate(block_of(0, codes.slice(0, 3)))).toBe(true);
  });
});
