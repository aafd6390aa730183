/**
 * Cloister's ABCI application (node/abci/app.ts, docs/cometbft.md "The mapping") without
 * CometBFT: a real ChainStore on a simulated disk, the node's real mempool (node/parts.ts
 * `node_mempool`), and an enclave that is never called on the paths that execute nothing
 * (CheckTx, Prepare/ProcessProposal, Info, InitChain, Query), or one that answers a scripted
 * output where FinalizeBlock and Commit are the subject. test/cometbft/network.test.ts drives the
 * same application end to end under real CometBFT processes.
 */

import {
  CheckTxType,
  RequestCheckTx,
  RequestFinalizeBlock,
  RequestInfo,
  RequestInitChain,
  RequestPrepareProposal,
  RequestProcessProposal,
  RequestQuery,
} from 'cosmjs-types/tendermint/abci/types';
import { describe, expect, it, vi } from 'vitest';
import type { BlockInput, BlockOutput, Enclave } from '../../enclave/api.js';
import type { CometLightInput } from '../../enclave/light_comet.js';
import type { Result } from '../../enclave/result.js';
import { CODESPACE, COMET_CHECK_CODES, CometApp } from '../../node/abci/app.js';
import { STORE_CODE_BLOCK_BYTES_MAX } from '../../node/app.js';
import type { Block } from '../../node/consensus/types.js';
import type { Genesis } from '../../node/genesis.js';
import { node_mempool } from '../../node/parts.js';
import type { TxRecord } from '../../node/records.js';
import { ChainStore } from '../../node/store/chain_store.js';
import { MemoryDisk } from '../../node/store/memory_disk.js';
import { from_hex, to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { validator_address } from '../../protocol/cometbft/index.js';
import { native_provider } from '../../protocol/providers/native.js';
import { parse_tx_json, type TxMsg, tx_hash } from '../../protocol/tx.js';
import { CHAIN_ID, TestAccount, test_bytes } from '../enclave/fixtures.js';
import { load_vectors } from '../protocol/helpers.js';

const p = native_provider;
const T0_MS = 1_790_000_000_000;
const POWERS = [10, 10, 30, 40];
const validator_keys = POWERS.map((_, i) => p.ed25519_public(test_bytes(p, `abci-app/validator-${i}`)));
const alice = new TestAccount(p, 'abci-app/alice');
const bob = new TestAccount(p, 'abci-app/bob');
const carol = new TestAccount(p, 'abci-app/carol');
const dave = new TestAccount(p, 'abci-app/dave');
const poor = new TestAccount(p, 'abci-app/poor');
const FUNDED = 1_000_000_000;
const MIN_GAS_PRICE = 1;

const genesis: Genesis = {
  chain_id: CHAIN_ID,
  genesis_time_ms: T0_MS,
  validators: validator_keys.map((pk, i) => ({ pubkey: to_hex(pk), power: POWERS[i]!, name: `v${i}` })),
  io_pubkey: '00'.repeat(32),
  seed_exchange_pubkey: '00'.repeat(32),
  attestation: { roots: [], measurements: [] },
  codes: [],
  min_gas_price: MIN_GAS_PRICE,
  balances: Object.fromEntries([alice, bob, carol, dave].map((a) => [a.address, FUNDED])),
};

const BLOCK = { txs_max: 4, bytes_max: 4 * 1024 * 1024, gas_max: 1_000_000 };
const MEMPOOL = { txs_max: 100, bytes_max: 8 * 1024 * 1024, per_account_max: 10 };

type Logged = [event: string, fields: Record<string, unknown>];

/** What a scripted enclave answers to `execute_block`, one answer per call. */
type Script = ((input: BlockInput) => Result<BlockOutput>)[];

interface Setup {
  app: CometApp;
  store: ChainStore;
  mempool: ReturnType<typeof node_mempool>;
  disk: MemoryDisk;
  logs: Logged[];
  /** Every enclave call, by method name, with the block input for `execute_block`. */
  calls: { method: string; input?: BlockInput }[];
  /** Heights whose signed header was asked for. */
  asked: number[];
  finals: { block: Block; hash: string; txs: TxRecord[] }[];
  /** What `on_halt` was told. */
  halts: { height: number; reason: string }[];
  /** Every query the node was asked, and its scripted answers (one per query; none: the test fails). */
  queries: { address: string; body: { scheme: string; payload: string } }[];
  query_script: QueryAnswer[];
}

/** What the node's `query` answers (node/backend.ts): a result, a refusal, or null for no contract. */
type QueryAnswer = () => Promise<
  { code: number; output: string } | { ok: false; code: number | string; message: string } | null
>;

/**
 * A CometApp over a fresh store on a simulated disk (or `disk`, reopened), the node's mempool,
 * and an enclave that answers `script` to `execute_block` (none by default) and fails the test on
 * any other call. `signed_header(h)` answers {@link signed_header_at}(h).
 */
async function setup(
  opts: {
    block?: Partial<typeof BLOCK>;
    mempool?: Partial<typeof MEMPOOL>;
    script?: Script;
    disk?: MemoryDisk;
  } = {},
): Promise<Setup> {
  const disk = opts.disk ?? new MemoryDisk();
  const store = await ChainStore.open_kv(disk.open(), { chain_id: genesis.chain_id }, { p });
  await store.init_genesis([], genesis.balances);
  const mempool = node_mempool(p, genesis, { mempool: { ...MEMPOOL, ...opts.mempool } }, store, () => T0_MS);
  const logs: Logged[] = [];
  const calls: Setup['calls'] = [];
  const asked: number[] = [];
  const finals: Setup['finals'] = [];
  const script = [...(opts.script ?? [])];
  const enclave = new Proxy({} as Enclave, {
    get(_target, method) {
      if (typeof method !== 'string' || method === 'then') return undefined;
      return async (input?: BlockInput) => {
        calls.push({ method, ...(method === 'execute_block' ? { input: structuredClone(input) } : {}) });
        const next = method === 'execute_block' ? script.shift() : undefined;
        if (next === undefined) throw new Error(`unexpected enclave call: ${method}`);
        return next(input!);
      };
    },
  });
  const halts: Setup['halts'] = [];
  const queries: Setup['queries'] = [];
  const query_script: QueryAnswer[] = [];
  const modules = {
    p,
    enclave,
    store,
    mempool,
    log: (event: string, fields: Record<string, unknown>) => logs.push([event, fields]),
    signed_header: async (height: number) => {
      asked.push(height);
      return signed_header_at(height);
    },
    on_final: (block: Block, hash: string, txs: TxRecord[]) => finals.push({ block, hash, txs }),
    on_halt: (height: number, reason: string) => halts.push({ height, reason }),
    query: (address: string, body: { scheme: 'gcm' | 'siv'; payload: string }) => {
      queries.push({ address, body });
      const next = query_script.shift();
      if (next === undefined) throw new Error('unexpected query');
      return next();
    },
  };
  const app = new CometApp({ genesis, block: { ...BLOCK, ...opts.block } }, modules);
  return { app, store, mempool, disk, logs, calls, asked, finals, halts, queries, query_script };
}

/**
 * The recorded one-validator signed header of height 3 + `height`, renumbered to `height`: what
 * FinalizeBlock reads from it is a time and a parent hash (the enclave here checks nothing).
 */
function signed_header_at(height: number): { header: { time: string; last_block_id: { hash: string } } } {
  const recorded = load_vectors<{
    result: { signed_header: { header: Record<string, unknown>; commit: Record<string, unknown> } };
  }>(`cometbft/one_node.commit.${3 + height}.json`).result.signed_header;
  return {
    ...recorded,
    header: { ...recorded.header, height: String(height) },
    commit: { ...recorded.commit, height: String(height) },
  } as unknown as { header: { time: string; last_block_id: { hash: string } } };
}

const SEND = (to: TestAccount, amount = 1): TxMsg => ({ type: 'send', to: to.address, amount });

/** A signed send from `from` at `sequence` (gas limit 10 000 at the least price unless given). */
function send_tx(
  from: TestAccount,
  sequence: number,
  opts: { gas_limit?: number; gas_price?: number; chain_id?: string } = {},
): string {
  return from.tx(SEND(bob), { sequence, gas_limit: 10_000, gas_price: MIN_GAS_PRICE, ...opts });
}

/** A signed store_code whose transaction text is about `bytes` long (the code is not compiled here). */
function store_code_tx(from: TestAccount, sequence: number, bytes: number): string {
  const code = to_base64(new Uint8Array(Math.floor((bytes * 3) / 4)).fill(0x61));
  return from.tx({ type: 'store_code', code }, { sequence, gas_limit: 10_000, gas_price: MIN_GAS_PRICE });
}

const hash_of = (raw: string) => tx_hash(p, parse_tx_json(raw));
const check = (app: CometApp, tx: Uint8Array | string, type = CheckTxType.NEW) =>
  app.check_tx(RequestCheckTx.fromPartial({ tx: typeof tx === 'string' ? utf8(tx) : tx, type }));
const prepare = (app: CometApp, txs: (string | Uint8Array)[], max_tx_bytes = 1n << 40n) =>
  app
    .prepare_proposal(
      RequestPrepareProposal.fromPartial({
        maxTxBytes: max_tx_bytes,
        txs: txs.map((t) => (typeof t === 'string' ? utf8(t) : t)),
        height: 1n,
      }),
    )
    .txs.map((t) => Buffer.from(t).toString('utf8'));
const ACCEPT = 1;
const REJECT = 2;
const process_status = (app: CometApp, txs: (string | Uint8Array)[]) =>
  app.process_proposal(
    RequestProcessProposal.fromPartial({
      txs: txs.map((t) => (typeof t === 'string' ? utf8(t) : t)),
      height: 7n,
    }),
  ).status;
const total_bytes = (txs: string[]) => txs.reduce((n, t) => n + utf8(t).length, 0);

/** The tx text with one hex digit of its signature changed: well-formed, but it does not verify. */
function forge(raw: string): string {
  const tx = JSON.parse(raw) as { signature: string };
  tx.signature = `${tx.signature.slice(0, -1)}${tx.signature.endsWith('0') ? '1' : '0'}`;
  return JSON.stringify(tx);
}

/** Sealed light states as the store keeps them (base64; opaque here). */
const LIGHT = ['light-0', 'light-1', 'light-2'].map((s) => to_base64(utf8(s))) as [string, string, string];

const NOT_UTF8 = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]);

describe('CometApp.check_tx', () => {
  it('answers the mempool’s verdict: 0, or the protocol.md code', async () => {
    const { app, mempool, calls } = await setup();
    const good = send_tx(alice, 0);
    expect(await check(app, good)).toMatchObject({ code: 0, log: '', codespace: '' });
    expect(mempool.has(hash_of(good))).toBe(true);
    // The same bytes again (CometBFT asks once more after its cache forgot them): still 0, held once.
    expect(await check(app, good)).toMatchObject({ code: 0 });
    expect(mempool.size()).toBe(1);

    const refusals: [string, string | Uint8Array, number, RegExp][] = [
      ['bad signature', forge(send_tx(carol, 0)), 4, /signature/],
      ['sequence ahead', send_tx(carol, 1), 5, /expected 0/],
      ['sequence already held', send_tx(alice, 0, { gas_limit: 20_000 }), 5, /expected 1/],
      ['malformed JSON', '{"body": ', 7, /JSON/],
      ['JSON, not a transaction', '{"body":{},"signature":"00"}', 7, /body/],
      ['another chain', send_tx(carol, 0, { chain_id: 'other-chain' }), 7, /chain_id/],
      ['bytes that are not UTF-8', NOT_UTF8, 7, /not UTF-8/],
      // A byte-order mark stays in the text (it would vanish from what the enclave hashes).
      [
        'a transaction after a byte-order mark',
        new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(send_tx(carol, 0))]),
        7,
        /JSON|body|parse/,
      ],
      [
        'a gas price under the least',
        send_tx(carol, 0, { gas_price: 0 }),
        8,
        /below the network's min_gas_price 1/,
      ],
      ['a fee the sender cannot pay', send_tx(poor, 0), 8, /insufficient funds for the fee: 10000 ucst/],
    ];
    for (const [what, tx, code, log] of refusals) {
      const answer = await check(app, tx);
      expect({ what, code: answer.code, codespace: answer.codespace }).toEqual({
        what,
        code,
        codespace: CODESPACE,
      });
      expect(answer.log, what).toMatch(log);
    }
    expect(mempool.size()).toBe(1);
    expect(calls).toEqual([]);
  });

  it('keeps on recheck only what the mempool still holds', async () => {
    const { app, mempool, calls } = await setup();
    const held = send_tx(alice, 0);
    const unknown = send_tx(carol, 0);
    expect((await check(app, held)).code).toBe(0);
    expect(await check(app, held, CheckTxType.RECHECK)).toMatchObject({ code: 0 });
    const gone = await check(app, unknown, CheckTxType.RECHECK);
    expect(gone).toMatchObject({ code: COMET_CHECK_CODES.not_held, codespace: CODESPACE });
    expect(COMET_CHECK_CODES.not_held).toBe(23);
    // A recheck asks nothing of the mempool's checks: the unknown one was not added.
    expect(mempool.has(hash_of(unknown))).toBe(false);
    expect((await check(app, '{"x"', CheckTxType.RECHECK)).code).toBe(7);
    expect((await check(app, NOT_UTF8, CheckTxType.RECHECK)).code).toBe(7);
    // Once the mempool dropped it (committed elsewhere), a recheck lets CometBFT drop it too.
    await mempool.update([held]);
    expect((await check(app, held, CheckTxType.RECHECK)).code).toBe(23);
    expect(calls).toEqual([]);
  });

  it('answers 20 when the mempool is full', async () => {
    const { app } = await setup({ mempool: { txs_max: 1 } });
    expect((await check(app, send_tx(alice, 0))).code).toBe(0);
    expect(await check(app, send_tx(carol, 0))).toMatchObject({
      code: COMET_CHECK_CODES.full,
      codespace: CODESPACE,
    });
    expect(COMET_CHECK_CODES.full).toBe(20);
  });

  it('never throws: a failing mempool is code 24 and a log line', async () => {
    const { app, mempool, logs } = await setup();
    const add = vi.spyOn(mempool, 'add').mockRejectedValueOnce(new Error('disk on fire'));
    const answer = await check(app, send_tx(alice, 0));
    expect(add).toHaveBeenCalledTimes(1);
    expect(answer).toMatchObject({ code: COMET_CHECK_CODES.busy, log: 'disk on fire', codespace: CODESPACE });
    expect(COMET_CHECK_CODES.busy).toBe(24);
    expect(logs).toEqual([['check_tx_failed', { error: 'disk on fire' }]]);
    add.mockImplementationOnce(() => {
      throw new TypeError('thrown, not rejected');
    });
    expect((await check(app, send_tx(alice, 0))).code).toBe(24);
    expect(logs[1]).toEqual(['check_tx_failed', { error: 'thrown, not rejected' }]);
    add.mockRestore();
    expect((await check(app, send_tx(alice, 0))).code).toBe(0);
  });

  it('never throws on a closed store either: the mempool cannot read a sequence', async () => {
    const { app, store, logs } = await setup();
    await store.close();
    const answer = await check(app, send_tx(carol, 0));
    expect(answer.code).toBe(24);
    expect(answer.log).not.toBe('');
    expect(logs).toEqual([['check_tx_failed', { error: answer.log }]]);
  });
});

describe('CometApp.prepare_proposal', () => {
  it("keeps CometBFT's order and drops what is not a transaction", async () => {
    const { app, calls } = await setup();
    const a = send_tx(dave, 0);
    const b = send_tx(alice, 0);
    const c = send_tx(carol, 0);
    expect([a, b, c]).not.toEqual([a, b, c].sort());
    expect(prepare(app, [a, b, c])).toEqual([a, b, c]);
    expect(prepare(app, [c, 'k1=v1', a, NOT_UTF8, '{"body":{},"signature":"00"}', b, ''])).toEqual([c, a, b]);
    expect(prepare(app, [])).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('cuts at txs_max', async () => {
    const { app } = await setup({ block: { txs_max: 3 } });
    const txs = [alice, bob, carol, dave].map((a) => send_tx(a, 0));
    expect(prepare(app, txs)).toEqual(txs.slice(0, 3));
    // Non-transactions take no slot.
    expect(prepare(app, ['x', ...txs])).toEqual(txs.slice(0, 3));
  });

  it("cuts at Cloister's bytes_max and at CometBFT's maxTxBytes, whichever is less", async () => {
    const txs = [alice, bob, carol, dave].map((a) => send_tx(a, 0));
    const two = total_bytes(txs.slice(0, 2));
    const { app } = await setup({ block: { bytes_max: two } });
    expect(prepare(app, txs)).toEqual(txs.slice(0, 2));
    const roomy = (await setup()).app;
    expect(prepare(roomy, txs, BigInt(two))).toEqual(txs.slice(0, 2));
    expect(prepare(roomy, txs, BigInt(two - 1))).toEqual(txs.slice(0, 1));
    expect(prepare(roomy, txs, BigInt(total_bytes(txs)))).toEqual(txs);
    // A larger one that does not fit is left for a later block; a smaller one after it fits.
    const big = send_tx(carol, 0, { gas_limit: 123_456_789 });
    const small = [send_tx(alice, 0), send_tx(bob, 0)];
    const limit = BigInt(total_bytes(small) + 1);
    expect(utf8(big).length).toBeGreaterThan(utf8(small[1]!).length);
    expect(prepare(roomy, [small[0]!, big, small[1]!], limit)).toEqual(small);
  });

  it('cuts at gas_max', async () => {
    const { app } = await setup({ block: { gas_max: 50_000 } });
    const a = send_tx(alice, 0, { gas_limit: 30_000 });
    const b = send_tx(bob, 0, { gas_limit: 30_000 });
    const c = send_tx(carol, 0, { gas_limit: 20_000 });
    const d = send_tx(dave, 0, { gas_limit: 1 });
    expect(prepare(app, [a, b, c, d])).toEqual([a, c]);
    expect(prepare(app, [send_tx(alice, 0, { gas_limit: 50_001 })])).toEqual([]);
    expect(prepare(app, [send_tx(alice, 0, { gas_limit: 50_000 })])).toHaveLength(1);
  });

  it("holds back a sender's later transactions once one of them is left out", async () => {
    const { app } = await setup({ block: { gas_max: 50_000 } });
    const c0 = send_tx(carol, 0, { gas_limit: 20_000 });
    const b0 = send_tx(bob, 0, { gas_limit: 40_000 });
    const b1 = send_tx(bob, 1, { gas_limit: 20_000 });
    const d0 = send_tx(dave, 0, { gas_limit: 20_000 });
    // b0 does not fit: b1 would commit with a wrong sequence, so it waits for the next block too.
    expect(prepare(app, [c0, b0, b1, d0])).toEqual([c0, d0]);
  });

  it(`cuts store_code transactions at ${STORE_CODE_BLOCK_BYTES_MAX} bytes in a block`, async () => {
    const { app } = await setup();
    const first = store_code_tx(alice, 0, 400_000);
    const second = store_code_tx(carol, 0, 700_000);
    const fits = store_code_tx(carol, 0, 400_000);
    const send = send_tx(dave, 0);
    expect(total_bytes([first, second])).toBeGreaterThan(STORE_CODE_BLOCK_BYTES_MAX);
    expect(total_bytes([first, fits])).toBeLessThan(STORE_CODE_BLOCK_BYTES_MAX);
    expect(total_bytes([first, second, send])).toBeLessThan(BLOCK.bytes_max);
    expect(prepare(app, [first, second, send])).toEqual([first, send]);
    expect(prepare(app, [first, fits, send])).toEqual([first, fits, send]);
  });
});

describe('CometApp.process_proposal', () => {
  it('accepts a block within the limits, every transaction one', async () => {
    const { app, logs, calls } = await setup({ block: { txs_max: 3, gas_max: 30_000 } });
    const txs = [alice, bob, carol].map((a) => send_tx(a, 0));
    expect(process_status(app, txs)).toBe(ACCEPT);
    expect(process_status(app, [])).toBe(ACCEPT);
    // Well-formed is enough here: signatures and sequences are the enclave's to judge.
    expect(process_status(app, [forge(send_tx(alice, 5))])).toBe(ACCEPT);
    expect(logs).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('rejects a block over a limit, or holding bytes that are not a transaction', async () => {
    const txs = [alice, bob, carol, dave].map((a) => send_tx(a, 0));
    const limits = { txs_max: 3, bytes_max: total_bytes(txs.slice(0, 2)), gas_max: 30_000 };
    const { app, logs } = await setup({ block: limits });
    const cases: [(string | Uint8Array)[], RegExp][] = [
      [txs, /over 3 transactions/],
      [txs.slice(0, 3), /over \d+ bytes/],
      [[send_tx(alice, 0, { gas_limit: 30_001 })], /over 30000 gas/],
      [[txs[0]!, send_tx(bob, 0, { gas_limit: 20_001 })], /over 30000 gas/],
      [[txs[0]!, 'k1=v1'], /not one/],
      [[NOT_UTF8], /not one/],
      [[''], /not one/],
      [['{"body":{},"signature":"00"}'], /not one/],
    ];
    for (const [block, why] of cases) {
      logs.length = 0;
      expect(process_status(app, block)).toBe(REJECT);
      expect(logs).toHaveLength(1);
      expect(logs[0]![0]).toBe('proposal_invalid');
      expect(logs[0]![1]).toMatchObject({ height: 7, reason: expect.stringMatching(why) });
    }
    expect(process_status(app, txs.slice(0, 2))).toBe(ACCEPT);
  });

  it(`rejects store_code transactions over ${STORE_CODE_BLOCK_BYTES_MAX} bytes in a block`, async () => {
    const { app, logs } = await setup();
    const two = [store_code_tx(alice, 0, 400_000), store_code_tx(carol, 0, 700_000)];
    expect(process_status(app, two)).toBe(REJECT);
    expect(logs[0]![1]).toMatchObject({ reason: `store_code over ${STORE_CODE_BLOCK_BYTES_MAX} bytes` });
    expect(process_status(app, [two[0]!, send_tx(dave, 0)])).toBe(ACCEPT);
  });
});

describe('CometApp.info, init_chain and query', () => {
  it('reports height 0 and an empty app hash on an empty store', async () => {
    const { app } = await setup();
    expect(await app.info(RequestInfo.fromPartial({}))).toMatchObject({
      data: 'cloister',
      appVersion: 1n,
      lastBlockHeight: 0n,
      lastBlockAppHash: new Uint8Array(0),
    });
  });

  it("takes only this chain's genesis: its chain id and validator set", async () => {
    const { app, calls } = await setup();
    type Update = { pubKey: { ed25519?: Uint8Array; secp256k1?: Uint8Array }; power: bigint };
    const ours: Update[] = validator_keys.map((pk, i) => ({
      pubKey: { ed25519: pk },
      power: BigInt(POWERS[i]!),
    }));
    const init = (chainId: string, validators: Update[]) =>
      app.init_chain(RequestInitChain.fromPartial({ chainId, validators, initialHeight: 1n }));
    // In CometBFT's order (power descending) rather than genesis order: the same set.
    const answer = init(CHAIN_ID, [...ours].reverse());
    expect(answer.appHash).toEqual(new Uint8Array(0));
    expect(answer.validators).toEqual([]);
    expect(() => init('other-chain', ours)).toThrow(/CometBFT's chain is other-chain/);
    expect(() =>
      app.init_chain(
        RequestInitChain.fromPartial({ chainId: CHAIN_ID, validators: ours, initialHeight: 5n }),
      ),
    ).toThrow(/starts at height 5/);
    const other_key = p.ed25519_public(test_bytes(p, 'abci-app/stranger'));
    const sets: [string, Update[]][] = [
      ['a key replaced', ours.map((v, i) => (i === 0 ? { ...v, pubKey: { ed25519: other_key } } : v))],
      ['another power', ours.map((v, i) => (i === 3 ? { ...v, power: 41n } : v))],
      [
        'powers swapped',
        ours.map((v, i) => (i === 1 ? { ...v, power: 30n } : i === 2 ? { ...v, power: 10n } : v)),
      ],
      ['one left out', ours.slice(1)],
      ['one added', [...ours, { pubKey: { ed25519: other_key }, power: 10n }]],
      [
        'a key of another type',
        ours.map((v, i) => (i === 0 ? { ...v, pubKey: { secp256k1: v.pubKey.ed25519 } } : v)),
      ],
      ['none', []],
    ];
    for (const [what, validators] of sets)
      expect(() => init(CHAIN_ID, validators), what).toThrow(/not this chain's genesis set/);
    expect(calls).toEqual([]);
  });

  it('answers an encrypted query at /contract/<address> through the node, anything else code 7', async () => {
    const contract = 'c0'.repeat(20);
    const body = { scheme: 'siv', payload: to_base64(utf8('sealed query')) };
    const { app, queries, query_script } = await setup();
    const ask = (path: string, data: Uint8Array | string = JSON.stringify(body)) =>
      app.query(RequestQuery.fromPartial({ path, data: typeof data === 'string' ? utf8(data) : data }));

    query_script.push(async () => ({ code: 0, output: 'b3V0cHV0' }));
    const answer = await ask(`/contract/${contract}`);
    expect(answer).toMatchObject({ code: 0, codespace: '', height: 0n });
    expect(JSON.parse(Buffer.from(answer.value).toString('utf8'))).toEqual({ code: 0, output: 'b3V0cHV0' });
    expect(queries).toEqual([{ address: contract, body }]);

    // The node's verdicts: no contract (6), a refusal with a code or a name (1), a failure (1).
    query_script.push(async () => null);
    expect(await ask(`/contract/${contract}`)).toMatchObject({ code: 6, log: `no contract at ${contract}` });
    query_script.push(async () => ({ ok: false, code: 9, message: 'out of gas' }));
    expect(await ask(`/contract/${contract}`)).toMatchObject({
      code: 9,
      log: 'out of gas',
      codespace: CODESPACE,
    });
    query_script.push(async () => ({ ok: false, code: 'busy', message: 'enclave busy' }));
    expect(await ask(`/contract/${contract}`)).toMatchObject({ code: 1, log: 'enclave busy' });
    query_script.push(async () => {
      throw new Error('store closed');
    });
    expect(await ask(`/contract/${contract}`)).toMatchObject({ code: 1, log: 'query failed: store closed' });
    expect(queries).toHaveLength(5);

    // Not a query: answered 7 without asking the node.
    const not_queries: [string, Uint8Array | string][] = [
      ['/store', JSON.stringify(body)],
      [`/contract/${contract.toUpperCase()}`, JSON.stringify(body)],
      [`/contract/${contract}/x`, JSON.stringify(body)],
      [`/contract/${contract.slice(2)}`, JSON.stringify(body)],
      [`/contract/${contract}`, '{"scheme": "gcm"'],
      [`/contract/${contract}`, JSON.stringify({ ...body, scheme: 'ecb' })],
      [`/contract/${contract}`, JSON.stringify({ scheme: 'gcm', payload: 42 })],
      [`/contract/${contract}`, NOT_UTF8],
      [`/contract/${contract}`, ''],
    ];
    for (const [path, data] of not_queries)
      expect(await ask(path, data), path).toMatchObject({
        code: 7,
        codespace: CODESPACE,
        value: new Uint8Array(0),
      });
    expect(queries).toHaveLength(5);
  });
});

describe('CometApp.finalize_block and commit (scripted enclave)', () => {
  const proposer = validator_keys[2]!;
  const finalize = (app: CometApp, height: number, txs: string[]) =>
    app.finalize_block(
      RequestFinalizeBlock.fromPartial({
        height: BigInt(height),
        txs: txs.map(utf8),
        proposerAddress: validator_address(p, proposer),
      }),
    );

  /** An enclave answer: one result per tx (code 0, gas 1 000, sealed output), the next sealed light. */
  const executes =
    (sealed_light: string, result_hash: string) =>
    (input: BlockInput): Result<BlockOutput> => ({
      ok: true,
      value: {
        results: input.txs.map((raw) => ({
          hash: hash_of(raw),
          code: 0,
          gas_used: 1000,
          output: to_base64(utf8(`sealed result of ${hash_of(raw)}`)),
        })),
        accounts: Object.fromEntries(
          input.txs.map((raw) => {
            const body = parse_tx_json(raw).body;
            return [address_of(body.sender), body.sequence + 1];
          }),
        ),
        balances: {},
        contracts: [],
        codes: [],
        state_writes: {},
        gas_used: 1000 * input.txs.length,
        result_hash,
        sealed_light,
      },
    });

  it('executes with CometBFT’s commit as evidence, commits, and answers app hashes and finality', async () => {
    const tx = send_tx(alice, 0);
    const s = await setup({
      script: [executes(LIGHT[1], 'ab'.repeat(32)), executes(LIGHT[2], 'cd'.repeat(32))],
    });
    const { app, store, mempool, calls, asked, finals } = s;
    await store.put_sealed('light', LIGHT[0]);
    expect((await check(app, tx)).code).toBe(0);

    const r1 = await finalize(app, 1, [tx]);
    expect(asked).toEqual([1]);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.input!;
    const header = signed_header_at(1).header;
    expect(input).toMatchObject({
      chain_id: CHAIN_ID,
      height: 1,
      txs: [tx],
      time_ms: Date.parse(`${header.time.slice(0, 23)}Z`),
      random_seed: header.last_block_id.hash.toLowerCase(),
    });
    expect(input.light).toEqual({
      engine: 'cometbft',
      signed_header: signed_header_at(1),
      validators: genesis.validators.map(({ pubkey, power }) => ({ pubkey, power })),
      sealed_light: LIGHT[0],
    } satisfies CometLightInput);
    expect(r1.txResults).toHaveLength(1);
    expect(r1.txResults[0]).toMatchObject({
      code: 0,
      info: hash_of(tx),
      gasUsed: 1000n,
      codespace: '',
      data: utf8(`sealed result of ${hash_of(tx)}`),
    });
    // Nothing is stored before Commit but the light state, which moves with the execution (a crash
    // before Commit leaves the light client on this block, which it takes again).
    expect(store.height()).toBe(0);
    expect(await store.get_sealed('light')).toBe(LIGHT[1]);

    await app.commit({});
    expect(store.height()).toBe(1);
    const record = store.last_block()!;
    expect(r1.appHash).toEqual(from_hex(record.block_hash, 32));
    expect(record.block.header).toMatchObject({
      proposer: to_hex(proposer),
      result_hash: 'ab'.repeat(32),
      round: 0,
    });
    expect(await store.get_sealed('light')).toBe(LIGHT[1]);
    expect(mempool.has(hash_of(tx))).toBe(false);
    expect((await check(app, tx, CheckTxType.RECHECK)).code).toBe(23);
    expect(await app.info(RequestInfo.fromPartial({}))).toMatchObject({
      lastBlockHeight: 1n,
      lastBlockAppHash: from_hex(record.block_hash, 32),
    });
    // Height 1's results are final only when height 2 commits its app hash.
    expect(finals).toEqual([]);
    expect(app.final_height()).toBe(0);

    // An empty block keeps the app hash; FinalizeBlock of height 2 announces height 1 final.
    const r2 = await finalize(app, 2, []);
    expect(finals.map((f) => f.hash)).toEqual([record.block_hash]);
    expect(r2.txResults).toEqual([]);
    expect(r2.appHash).toEqual(from_hex(record.block_hash, 32));
    await app.commit({});
    expect(store.height()).toBe(2);
    expect(app.final_height()).toBe(1);
    expect(await store.get_sealed('light')).toBe(LIGHT[2]);

    // After a crash and restart, Info looks back past the empty block for the app hash, and
    // InitChain (CometBFT's home wiped) is refused on a store that has blocks.
    s.disk.crash();
    const again = await setup({ disk: s.disk });
    expect(again.store.height()).toBe(2);
    expect(await again.app.info(RequestInfo.fromPartial({}))).toMatchObject({
      lastBlockHeight: 2n,
      lastBlockAppHash: from_hex(record.block_hash, 32),
    });
    const validators = validator_keys.map((pk, i) => ({
      pubKey: { ed25519: pk },
      power: BigInt(POWERS[i]!),
    }));
    expect(() =>
      again.app.init_chain(
        RequestInitChain.fromPartial({ chainId: CHAIN_ID, validators, initialHeight: 1n }),
      ),
    ).toThrow(/InitChain on a store that has blocks/);
    expect(again.calls).toEqual([]);
  });

  it('checks for divergence only while a height with transactions waits, and only on a valid commit', async () => {
    const s = await setup({
      script: [executes(LIGHT[1], 'ab'.repeat(32)), executes(LIGHT[2], 'cd'.repeat(32))],
    });
    await s.store.put_sealed('light', LIGHT[0]);
    expect(s.app.awaiting_agreement()).toBe(false);
    await finalize(s.app, 1, [send_tx(alice, 0)]);
    await s.app.commit({});
    expect(s.app.awaiting_agreement()).toBe(true);
    // Not a signed header, another height, or a commit by validators that are not this chain's:
    // nothing to say, and the node goes on.
    for (const signed of [null, { header: {} }, signed_header_at(1), signed_header_at(2)])
      expect(await s.app.check_divergence(signed)).toBeNull();
    expect(s.halts).toEqual([]);
    // The next height commits (empty): nothing waits for agreement any more.
    await finalize(s.app, 2, []);
    await s.app.commit({});
    expect(s.app.awaiting_agreement()).toBe(false);
  });

  it('after a restart, counts the last stored block final only once the next height commits, and then announces it', async () => {
    const tx = send_tx(alice, 0);
    const s = await setup({ script: [executes(LIGHT[1], 'ab'.repeat(32))] });
    await s.store.put_sealed('light', LIGHT[0]);
    await finalize(s.app, 1, [tx]);
    await s.app.commit({});
    const record = s.store.last_block()!;
    // Restarted before height 2: its CometBFT may not have seen height 2 commit height 1's app hash.
    s.disk.crash();
    const again = await setup({ disk: s.disk, script: [executes(LIGHT[2], 'cd'.repeat(32))] });
    expect(again.store.height()).toBe(1);
    expect(again.app.final_height()).toBe(0);
    await finalize(again.app, 2, []);
    // FinalizeBlock of height 2: height 1 is final, announced from the store with its transaction.
    expect(again.finals.map((f) => f.hash)).toEqual([record.block_hash]);
    expect(again.finals[0]!.txs.map((t) => [t.hash, t.height, t.index, t.code])).toEqual([
      [hash_of(tx), 1, 0, 0],
    ]);
    expect(again.app.final_height()).toBe(1);
    await again.app.commit({});
    expect(again.app.final_height()).toBe(1);
  });

  it('stops on a block the enclave cannot execute, after two attempts', async () => {
    const fails = (): Result<BlockOutput> => ({ ok: false, error: { code: 'INTERNAL', message: 'boom' } });
    const { app, store, calls, logs, halts } = await setup({ script: [fails, fails, fails] });
    await store.put_sealed('light', LIGHT[0]);
    await expect(finalize(app, 1, [send_tx(alice, 0)])).rejects.toThrow(
      /cannot execute the committed block at height 1 \(INTERNAL boom\)/,
    );
    expect(calls).toHaveLength(2);
    expect(logs.filter(([e]) => e === 'block_execution_failed')).toHaveLength(2);
    // The node says it halted, and why, before CometBFT stops on the exception.
    expect(halts).toEqual([{ height: 1, reason: expect.stringMatching(/INTERNAL boom/) }]);
    expect(store.height()).toBe(0);
    await expect(app.commit({})).rejects.toThrow(/Commit without FinalizeBlock/);
  });

  it('stops at once on a closed enclave', async () => {
    const closed = (): Result<BlockOutput> => ({
      ok: false,
      error: { code: 'CLOSED', message: 'enclave is closed' },
    });
    const { app, store, calls } = await setup({ script: [closed, closed] });
    await store.put_sealed('light', LIGHT[0]);
    await expect(finalize(app, 1, [])).rejects.toThrow(/CLOSED enclave is closed/);
    expect(calls).toHaveLength(1);
  });

  it('refuses a height that does not follow the store, and a home without a light state', async () => {
    const { app, calls, asked } = await setup();
    await expect(finalize(app, 2, [])).rejects.toThrow(
      /FinalizeBlock at height 2, but this node has committed 0/,
    );
    expect(asked).toEqual([]);
    await expect(finalize(app, 1, [])).rejects.toThrow(/no sealed light state/);
    expect(calls).toEqual([]);
    await expect(app.commit({})).rejects.toThrow(/Commit without FinalizeBlock/);
  });
});

/** The account address of a sender key (protocol/tx.ts account_address). */
function address_of(sender: string): string {
  for (const a of [alice, bob, carol, dave, poor]) if (a.pubkey === sender) return a.address;
  throw new Error(`unknown sender ${sender}`);
}
