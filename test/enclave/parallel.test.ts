/**
 * Parallel block execution (enclave/speculate.ts, enclave/stage_record.ts): a block staged over
 * several workers, speculations kept where what they read still holds and run again in order where
 * it does not, gives byte-identical output to the block executed serially. A property test over
 * random blocks of conflicting and independent transactions (seeded; replay with
 * PARALLEL_SEED=<seed>), then a host that tampers with, drops or moves stage records, canaries in
 * the records, and the pool's own staging.
 */

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { BlockInput, BlockOutput, PublicKeys } from '../../enclave/api.js';
import { STAGE_COUNTS } from '../../enclave/block.js';
import { plan_stages } from '../../enclave/host.js';
import { InProcessEnclave } from '../../enclave/in_process.js';
import { PoolEnclave } from '../../enclave/pool.js';
import { type Result, unwrap } from '../../enclave/result.js';
import type { EnclaveTask } from '../../enclave/tasks.js';
import { to_base64, utf8 } from '../../protocol/bytes.js';
import { ResultCode } from '../../protocol/codes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { contract_address } from '../../protocol/tx.js';
import { make_rng as prng } from '../rng.js';
import { encrypt, new_chain, T0_MS, TestAccount, temp_home } from './fixtures.js';

const seed = Number(process.env.PARALLEL_SEED ?? Date.now() % 2 ** 31);
console.log(`parallel execution: seed ${seed} (replay with PARALLEL_SEED=${seed})`);

const CANARY = 'CANARY-parallel-7f3a9c';

/**
 * Reads and writes keys, shows its balance, pays, calls another contract (with or without a reply),
 * draws randomness and fails on demand: enough for transactions to conflict in every way a block
 * can make them.
 */
const KV = `
export function instantiate(ctx, msg) { if (msg.k) ctx.storage.set(msg.k, 'init'); return null; }
export function execute(ctx, msg) {
  const before = ctx.storage.get(msg.k);
  const n = before === null ? 0 : Number(before.split(':')[0]) || 0;
  if (msg.w) ctx.storage.set(msg.k, (n + 1) + ':' + ctx.sender.slice(0, 6) + ':' + (msg.secret || ''));
  if (msg.pay) ctx.send(msg.pay.to, msg.pay.amount);
  if (msg.call) ctx.execute(msg.call.contract, msg.call.msg, { reply: msg.call.reply === true, funds: msg.call.funds || 0 });
  if (msg.rand) ctx.emit('rand', { r: JSON.stringify(ctx.random()) });
  ctx.emit('seen', { n: String(n), balance: String(ctx.balance), funds: String(ctx.funds) }, { public: msg.pub === true });
  if (msg.fail) throw new Error('asked to fail at ' + n);
  return { n, balance: ctx.balance, height: ctx.height };
}
export function reply(ctx, msg) { ctx.storage.set('replied', JSON.stringify(msg).slice(0, 200)); return null; }
export function query(ctx, msg) { return ctx.storage.get(msg.k); }
`;

const p = get_provider('native');
const home = temp_home();
const opts = { provider: 'native', platform_secret_file: home.secret } as const;

/** An in-process enclave that stages every block in up to 3 ranges, and lets the test play host. */
class StagingHost extends InProcessEnclave {
  /** Every stage record the host carried, for the canary check. */
  readonly carried: Uint8Array[] = [];
  /** Rewrites the records on their way to the executing worker. */
  tamper: ((staged: Uint8Array[]) => Uint8Array[]) | null = null;

  constructor() {
    super(opts, {}, { chunks_max: 3, chunk_txs_min: 1 });
  }

  protected override async run<T>(task: EnclaveTask): Promise<Result<T>> {
    let sent = task;
    if (task.call === 'execute_block' && task.staged !== undefined) {
      this.carried.push(...task.staged);
      if (this.tamper !== null) sent = { ...task, staged: this.tamper([...task.staged]) };
    }
    return super.run<T>(sent);
  }
}

const serial = new InProcessEnclave(opts);
const staged = new StagingHost();
let keys: PublicKeys;

/** Executes through both enclaves and requires byte-identical answers; the chain keeps the serial one. */
const both = {
  async execute_block(input: BlockInput): Promise<Result<BlockOutput>> {
    const a = await serial.execute_block(input);
    const b = await staged.execute_block(input);
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    return a;
  },
};

beforeAll(async () => {
  const made = unwrap(await serial.create_seed());
  keys = made.keys;
  unwrap(await staged.load_seed(made.sealed_seed));
});

afterAll(async () => {
  await serial.close();
  await staged.close();
  home.remove();
});

/** A chain with six funded accounts (one poor), fees on, and three KV contracts. */
async function open_world(label: string) {
  const accounts = Array.from({ length: 6 }, (_, i) => new TestAccount(p, `par-${label}-${i}`));
  const balances: Record<string, number> = {};
  for (const [i, a] of accounts.entries()) balances[a.address] = i === 5 ? 30_000 : 1_000_000_000;
  const chain = await new_chain(p, keys.measurement, [], { balances, min_gas_price: 1 });
  const alice = accounts[0]!;
  const price = { gas_price: 1 };
  const time = () => T0_MS + (chain.height() + 1) * 1000;
  const stored = (
    await chain.execute(both, [alice.tx({ type: 'store_code', code: to_base64(utf8(KV)) }, price)], time())
  ).output.results[0]!;
  const code = { code_id: stored.code_id!, code_hash: stored.code_hash! };
  const contracts: string[] = [];
  for (let i = 0; i < 3; i++) {
    const e = encrypt(p, keys, code.code_hash, { k: 'a' });
    const tx = alice.tx(
      { type: 'instantiate', code_id: code.code_id, label: `kv${i}`, scheme: 'gcm', payload: e.payload },
      price,
    );
    const r = (await chain.execute(both, [tx], time())).output.results[0]!;
    expect(r.code).toBe(ResultCode.OK);
    contracts.push(r.contract!);
  }
  return { chain, accounts, code, contracts, time };
}

type World = Awaited<ReturnType<typeof open_world>>;

/** Sets each account's next sequence to the committed one (refused transactions did not count). */
async function resync(w: World): Promise<void> {
  for (const a of w.accounts) a.sequence = await w.chain.store.get_account_sequence(a.address);
}

/** One random transaction; `made` collects contracts instantiated earlier in the same block. */
function random_tx(w: World, rand: () => number, made: string[]): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const who = pick(w.accounts);
  const targets = [...w.contracts, ...made];
  const price = { gas_price: 1 };
  const r = rand();
  const kv_msg = (): Record<string, unknown> => ({
    k: rand() < 0.5 ? pick(['a', 'b', 'c']) : `own-${who.address.slice(0, 4)}`,
    w: rand() < 0.6,
    ...(rand() < 0.15 ? { pay: { to: pick(w.accounts).address, amount: 1 + Math.floor(rand() * 5) } } : {}),
    ...(rand() < 0.2
      ? {
          call: {
            contract: pick(targets),
            msg: { k: pick(['a', 'b']), w: rand() < 0.5 },
            reply: rand() < 0.5,
          },
        }
      : {}),
    ...(rand() < 0.2 ? { rand: true } : {}),
    ...(rand() < 0.3 ? { pub: true } : {}),
    ...(rand() < 0.1 ? { fail: true } : {}),
    secret: CANARY,
  });
  if (r < 0.55) {
    const e = encrypt(p, keys, w.code.code_hash, kv_msg(), { scheme: rand() < 0.5 ? 'gcm' : 'siv' });
    const funds = rand() < 0.2 ? 1 + Math.floor(rand() * 10) : 0;
    return who.tx(
      {
        type: 'execute',
        contract: pick(targets),
        scheme: e.scheme,
        payload: e.payload,
        ...(funds > 0 ? { funds } : {}),
      },
      price,
    );
  }
  if (r < 0.65) {
    const address = contract_address(p, who.pubkey, who.sequence);
    const e = encrypt(p, keys, w.code.code_hash, { k: pick(['a', 'b']) });
    const tx = who.tx(
      { type: 'instantiate', code_id: w.code.code_id, label: 'm', scheme: 'gcm', payload: e.payload },
      price,
    );
    made.push(address);
    return tx;
  }
  if (r < 0.8)
    return who.tx({ type: 'send', to: pick(w.accounts).address, amount: Math.floor(rand() * 20) }, price);
  const e = encrypt(p, keys, w.code.code_hash, kv_msg());
  const msg = { type: 'execute' as const, contract: pick(targets), scheme: e.scheme, payload: e.payload };
  const broken = rand();
  if (broken < 0.25) {
    // A signature that does not verify: refused, and the sequence not used.
    const tx = JSON.parse(who.tx(msg, { ...price, sequence: who.sequence })) as { signature: string };
    tx.signature = (tx.signature[0] === 'a' ? 'b' : 'a') + tx.signature.slice(1);
    return JSON.stringify(tx);
  }
  if (broken < 0.5) return who.tx(msg, { ...price, sequence: who.sequence + 3 });
  if (broken < 0.75) return who.tx(msg, { ...price, gas_limit: 16_000 });
  // Encrypted for other code: cannot decrypt.
  const wrong = encrypt(p, keys, 'cd'.repeat(32), kv_msg());
  return who.tx({ ...msg, payload: wrong.payload }, price);
}

describe('parallel block execution', () => {
  test('plan_stages covers a block in order, in at most the chunks asked, each at least the minimum', () => {
    expect(plan_stages(10, 4, 8)).toBeNull();
    expect(plan_stages(16, 4, 8)).toEqual([
      [0, 8],
      [8, 16],
    ]);
    expect(plan_stages(11, 3, 1)).toEqual([
      [0, 3],
      [3, 7],
      [7, 11],
    ]);
    for (let txs = 0; txs < 60; txs++) {
      const plan = plan_stages(txs, 5, 3);
      if (plan === null) continue;
      expect(plan.length).toBeLessThanOrEqual(5);
      expect(plan[0]![0]).toBe(0);
      expect(plan.at(-1)![1]).toBe(txs);
      for (const [i, [from, to]] of plan.entries()) {
        expect(to - from).toBeGreaterThanOrEqual(3);
        if (i > 0) expect(from).toBe(plan[i - 1]![1]);
      }
    }
  });

  test('random blocks: staged and serial execution give byte-identical output, block after block', async () => {
    const rand = prng(seed);
    const w = await open_world(`prop-${seed}`);
    const before = { ...STAGE_COUNTS };
    for (let b = 0; b < 24; b++) {
      await resync(w);
      const made: string[] = [];
      const size = 1 + Math.floor(rand() * 40);
      const txs = Array.from({ length: size }, () => random_tx(w, rand, made));
      // `both` checks every enclave pass (lookups included) as the chain executes and commits.
      await w.chain.execute(both, txs, w.time());
    }
    // The property held over blocks that exercised both paths: speculations kept and run again.
    expect(STAGE_COUNTS.records - before.records).toBeGreaterThan(100);
    expect(STAGE_COUNTS.held - before.held).toBeGreaterThan(20);
    expect(STAGE_COUNTS.redone - before.redone).toBeGreaterThan(5);
    // The records the host carried hold no plaintext.
    for (const record of staged.carried) expect(Buffer.from(record).toString('latin1')).not.toContain(CANARY);
  }, 120_000);

  test('a host that alters, drops, swaps or replays stage records changes nothing: the executor does the work itself', async () => {
    const w = await open_world('tamper');
    const rand = prng(seed ^ 0x5bd1e995);
    let previous: Uint8Array[] = [];
    const none = new Uint8Array(0);
    const flip = (r: Uint8Array, at: number) => {
      const copy = r.slice();
      if (copy.length > at) copy[at]! ^= 1;
      return copy;
    };
    const tampers: [string, (s: Uint8Array[]) => Uint8Array[]][] = [
      ['flip an IV bit', (s) => s.map((r) => flip(r, 0))],
      ['flip a ciphertext bit', (s) => s.map((r) => flip(r, 40))],
      ['drop all', (s) => s.map(() => none)],
      ['swap neighbours', (s) => s.map((_, i) => s[i ^ 1] ?? none)],
      ['reverse', (s) => [...s].reverse()],
      ["replay the previous block's", (s) => s.map((_, i) => previous[i] ?? none)],
    ];
    const held_before = STAGE_COUNTS.held;
    for (const [name, tamper] of tampers) {
      await resync(w);
      const made: string[] = [];
      const txs = Array.from({ length: 12 }, () => random_tx(w, rand, made));
      const input = await w.chain.block_input(txs, w.time());
      const carried = staged.carried.length;
      staged.tamper = tamper;
      const got = await staged.execute_block(input);
      staged.tamper = null;
      expect(JSON.stringify(got), name).toBe(JSON.stringify(await serial.execute_block(input)));
      previous = staged.carried.slice(carried);
      await w.chain.execute(both, txs, input.time_ms);
    }
    // No altered or moved record was ever kept: only the untampered blocks' own (through `both`).
    expect(STAGE_COUNTS.held).toBeGreaterThanOrEqual(held_before);
    // A list of the wrong length is the host's fault, refused as such.
    await resync(w);
    const txs = Array.from({ length: 6 }, () => random_tx(w, rand, []));
    staged.tamper = () => [new Uint8Array(1)];
    const refused = await staged.execute_block(await w.chain.block_input(txs, w.time()));
    staged.tamper = null;
    expect(refused).toMatchObject({ ok: false, error: { code: 'BAD_INPUT' } });
  }, 120_000);
});

describe('PoolEnclave stages blocks over its workers', () => {
  test('a 48-transaction block on 2 workers, staged, equals the serial in-process answer', async () => {
    const pool = new PoolEnclave({ ...opts, workers: 2, stage_chunk_txs_min: 4 });
    try {
      unwrap(await pool.load_seed(staged.sealed_seed!));
      const w = await open_world('pool');
      const rand = prng(seed ^ 0x1234567);
      await resync(w);
      const made: string[] = [];
      const txs = Array.from({ length: 48 }, () => random_tx(w, rand, made));
      const input = await w.chain.block_input(txs, w.time());
      const expected = JSON.stringify(await serial.execute_block(input));
      expect(JSON.stringify(await pool.execute_block(input))).toBe(expected);
      // And with staging off, the same again.
      const plain = new PoolEnclave({ ...opts, workers: 2, stage: false });
      try {
        unwrap(await plain.load_seed(staged.sealed_seed!));
        expect(JSON.stringify(await plain.execute_block(input))).toBe(expected);
      } finally {
        await plain.close();
      }
    } finally {
      await pool.close();
    }
  }, 120_000);
});
