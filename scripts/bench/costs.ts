/**
 * What one transaction costs inside the enclave, stage by stage (bench:enclave's cost breakdown):
 * each stage of the execute path timed alone in a loop on one thread, then the whole
 * `execute_block` in-process, then the same blocks through a 1-worker pool. The difference
 * between the whole and its timed stages is the enclave's own overhead (VM, contract state, JSON,
 * the block result hash); the difference between the pool and in-process figures is the worker
 * hop and the host's block building. Timing uses performance.now() in this process only.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { EnclaveCore } from '../../enclave/core.js';
import { PoolEnclave } from '../../enclave/pool.js';
import { unwrap } from '../../enclave/result.js';
import { from_hex } from '../../protocol/bytes.js';
import { ResultCode } from '../../protocol/codes.js';
import { open_envelope } from '../../protocol/envelope.js';
import { jcs } from '../../protocol/jcs.js';
import type { ProviderName } from '../../protocol/provider.js';
import { get_provider } from '../../protocol/providers/index.js';
import { seal_result_json } from '../../protocol/result.js';
import { account_address, parse_tx_json, tx_hash, verify_tx_signature } from '../../protocol/tx.js';
import { round } from './report.js';
import {
  CHAIN_ID,
  type ContractName,
  clone_chain,
  envelope_for,
  execute_msg,
  lane_txs,
  measure_throughput,
  POOL_WARM_BLOCKS_MAX,
  result_jcs,
  T0_MS,
  type World,
  warm_pool,
} from './world.js';

/** Where one transaction's time goes, µs per transaction on one thread (see the module doc). */
export interface CostRow {
  provider: ProviderName;
  contract: ContractName;
  payload_bytes: number;
  /** `JSON.parse` and the strict shape check of protocol.md §5 (parse_tx_json). */
  parse_us: number;
  /** `jcs(body)`, `tx_hash` and the sender's account address. */
  hash_us: number;
  /** Ed25519 verification of the signature (RFC 8032, strict). */
  verify_us: number;
  /** Opening the envelope: X25519, HKDF-SHA-256, AES-256-GCM open, code-hash check (§3). */
  open_us: number;
  /** Sealing the result: AES-256-GCM (§4). */
  seal_us: number;
  /** The whole `execute_block`, in-process (no worker hop), per transaction. */
  execute_us: number;
  /** `execute_us` less the five stages above: VM, contract state, result JSON, block result hash. */
  other_us: number;
  /** Per transaction through a 1-worker pool, host block building and applying included. */
  pool_us: number;
  /** `pool_us − execute_us`: structured cloning, the worker hop, the host's block input and apply. */
  hop_us: number;
}

/** How long each measurement runs. */
export interface CostPlan {
  /** Items per stage loop. */
  sample: number;
  /** Least time a stage loop runs, ms. */
  stage_min_ms: number;
  /** Transactions per block for the execute and pool figures. */
  block_txs: number;
  /** Measured blocks for the execute and pool figures. */
  blocks: number;
  /** Unrecorded execution first, so the JIT has settled. */
  warm_ms: number;
}

/** µs per item of `fn` over `items`, after one unrecorded pass, looping for at least `min_ms`. */
export function per_item_us<T>(items: readonly T[], fn: (item: T) => void, min_ms: number): number {
  for (const item of items) fn(item);
  let done = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (const item of items) fn(item);
    done += items.length;
    elapsed = performance.now() - start;
  } while (elapsed < min_ms);
  return (elapsed * 1000) / done;
}

/** The in-process figure: blocks through an EnclaveCore on this thread, timing only the enclave call. */
async function execute_us(
  world: World,
  provider: ProviderName,
  contract: ContractName,
  payload: number,
  plan: CostPlan,
) {
  const core = new EnclaveCore({ provider, platform_secret_file: world.secret });
  const chain = await clone_chain(world.base);
  const run_block = async (block: string[]): Promise<number> => {
    const input = await chain.block_input(block, T0_MS + (chain.height() + 1) * 1000);
    const start = performance.now();
    const answer = core.dispatch({ call: 'execute_block', sealed_seed: world.sealed_seed, input });
    const ms = performance.now() - start;
    if (!answer.ok) throw new Error(`execute_block: ${answer.error.message}`);
    const output = answer.value as Parameters<typeof chain.apply>[1];
    if (output.results.some((r) => r.code !== ResultCode.OK)) throw new Error('a benchmark tx failed');
    await chain.apply(input, output);
    return ms;
  };
  const warm_start = performance.now();
  for (let b = 0; b < POOL_WARM_BLOCKS_MAX && performance.now() - warm_start < plan.warm_ms; b++) {
    await run_block(lane_txs(world, contract, payload, true, 1, plan.block_txs)[0]!);
  }
  let ms = 0;
  for (const block of lane_txs(world, contract, payload, true, plan.blocks, plan.block_txs))
    ms += await run_block(block);
  await chain.close();
  return (ms * 1000) / (plan.blocks * plan.block_txs);
}

/** The breakdown for one provider, contract and payload size (fresh client key per transaction). */
export async function measure_costs(
  world: World,
  provider: ProviderName,
  contract: ContractName,
  payload_bytes: number,
  plan: CostPlan,
): Promise<CostRow> {
  const p = get_provider(provider);
  // Stages on the very transactions the enclave runs (client work done here, not timed).
  const raws = lane_txs(world, contract, payload_bytes, true, 1, plan.sample)[0]!;
  const txs = raws.map((raw) => parse_tx_json(raw));
  const bodies = txs.map((tx) => jcs(tx.body));
  const parse_us = per_item_us(raws, (raw) => parse_tx_json(raw), plan.stage_min_ms);
  const hash_us = per_item_us(
    txs,
    (tx) => {
      tx_hash(p, tx, jcs(tx.body));
      account_address(p, from_hex(tx.body.sender, 32));
    },
    plan.stage_min_ms,
  );
  let i = 0;
  const verify_us = per_item_us(
    txs,
    (tx) => {
      if (!verify_tx_signature(p, tx, bodies[i++ % bodies.length]!)) throw new Error('costs: bad signature');
    },
    plan.stage_min_ms,
  );
  // Opening and sealing need the io secret, which stays in the enclave: use a key of our own
  // with envelopes of the same size and kind.
  const io_sk = new Uint8Array(randomBytes(32));
  const io = p.x25519_secret(io_sk);
  const code_hash = world.code_hash[contract];
  const msg = execute_msg(contract, payload_bytes);
  const native = get_provider('native');
  const envelopes = Array.from({ length: plan.sample }, () =>
    envelope_for(native, io.public_key, code_hash, msg, null),
  );
  const open = (envelope: Uint8Array) =>
    open_envelope(p, io, { scheme: 'gcm', envelope, chain_id: CHAIN_ID, code_hash });
  const open_us = per_item_us(envelopes, open, plan.stage_min_ms);
  const keys = envelopes.map((e) => open(e).tx_key);
  const result = result_jcs(contract, msg);
  const seal_us = per_item_us(keys, (key) => seal_result_json(p, 'gcm', key, result), plan.stage_min_ms);

  const whole_us = await execute_us(world, provider, contract, payload_bytes, plan);
  const pool = new PoolEnclave({ provider, platform_secret_file: world.secret, workers: 1 });
  let pool_us: number;
  try {
    unwrap(await pool.load_seed(world.sealed_seed));
    await warm_pool(pool, world, 1, plan.block_txs, plan.warm_ms);
    const lane = lane_txs(world, contract, payload_bytes, true, plan.blocks, plan.block_txs);
    pool_us = 1e6 / (await measure_throughput(pool, world, [lane]));
  } finally {
    await pool.close();
  }
  const staged = parse_us + hash_us + verify_us + open_us + seal_us;
  const r = (v: number) => round(v, 1);
  return {
    provider,
    contract,
    payload_bytes,
    parse_us: r(parse_us),
    hash_us: r(hash_us),
    verify_us: r(verify_us),
    open_us: r(open_us),
    seal_us: r(seal_us),
    execute_us: r(whole_us),
    other_us: r(whole_us - staged),
    pool_us: r(pool_us),
    hop_us: r(pool_us - whole_us),
  };
}

/** The breakdown table: one row per provider, contract and payload. */
export function format_costs(rows: readonly CostRow[]): string {
  const head = [
    'provider',
    'contract',
    'payload_B',
    'parse',
    'hash',
    'verify',
    'open',
    'seal',
    'other',
    'execute',
    'hop',
    'pool',
  ];
  const cells = rows.map((c) => [
    c.provider,
    c.contract,
    String(c.payload_bytes),
    ...[
      c.parse_us,
      c.hash_us,
      c.verify_us,
      c.open_us,
      c.seal_us,
      c.other_us,
      c.execute_us,
      c.hop_us,
      c.pool_us,
    ].map((v) => v.toFixed(1)),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    'µs per transaction on one thread: parse + hash + verify + open + seal + other = execute (in-process); execute + hop = pool (1 worker)',
    line(head),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.map(line),
  ].join('\n');
}
