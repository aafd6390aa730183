/**
 * Stage records (docs/enclave.md "Parallel execution"): what one enclave worker learned about a
 * block's transaction ahead of the worker that executes the block, handed over sealed. A record
 * says the signature verified, carries the opened envelope, and may carry a speculative execution
 * of the transaction (enclave/speculate.ts): every value it read and everything it
 * changed. The executing worker uses a record only if it opens under this node's stage key for
 * this block, position and transaction, and uses a speculation only if every value it read is still
 * what the block holds at that transaction (value-based validation in the manner of Block-STM), so
 * a record is a cache of work, never another answer.
 *
 *   stage_key = HKDF(seal_key, SALT, utf8("cloister/stage-record/v1"), 32)
 *   ad        = utf8("cloister/stage-record/v1\n" ‖ jcs({chain_id, dev, height, random_seed, time_ms}) ‖ "\n")
 *               ‖ u32_be(index) ‖ SHA-256(utf8(tx))
 *   record    = iv(12) ‖ AES-256-GCM(stage_key, iv, ad, utf8(JSON.stringify(body)))
 *
 * The IV is random: records are per node and never enter a result, so nothing validators compare
 * depends on it. GCM rather than SIV, and bytes rather than base64: a block seals and opens
 * hundreds of these, and both run in native code. Binding the transaction's exact text (its
 * SHA-256) rather than its hash lets the executing worker use a record without parsing the
 * transaction at all: the record carries what admission reads of it.
 *
 * The seal key is the node's own (enclave/sealing.ts): records open only in this node's enclave,
 * and the host, which carries them between workers, sees their length and nothing else.
 * @module
 */

import { concat, from_utf8, u32_be, utf8 } from '../protocol/bytes.js';
import { jcs } from '../protocol/jcs.js';
import { SALT } from '../protocol/keys.js';
import type { CryptoProvider } from '../protocol/provider.js';
import type { BlockInput, BoundContract, TxResult } from './api.js';

/** Domain of the stage key and of every record's associated data. */
export const STAGE_RECORD_DOMAIN = 'cloister/stage-record/v1';

/** Largest sealed record the executing worker opens; a larger one is ignored. */
export const STAGE_RECORD_BYTES_MAX = 1024 * 1024;

/** Most values one speculation may read before it is dropped (and the transaction run in order). */
export const SPEC_READS_MAX = 4096;

/**
 * One value a speculative execution read, with what it saw:
 * `c` a contract record (or null: no contract), `x` whether an address holds a contract,
 * `d` a code id's code hash (or null), `r` a state value (or null), `k` whether the input carries a
 * contract record or balance, `b` an exact balance, `n` that a balance is known (its value unused).
 */
export type SpecRead =
  | ['c', string, BoundContract | null]
  | ['x', string, boolean]
  | ['d', number, string | null]
  | ['r', string, string, string | null]
  | ['k', string, 'contract' | 'balance', boolean]
  | ['b', string, number]
  | ['n', string];

/** What a speculation changed, in the order the block folds it in, and the result it gave. */
export interface Speculation {
  reads: SpecRead[];
  result: TxResult;
  balances: [string, number][];
  writes: [string, [string, string | null][]][];
  created: BoundContract[];
}

/** The envelope as the staging worker opened it for `code_hash`. */
export interface OpenedEnvelope {
  code_hash: string;
  /** hex */
  tx_key: string;
  msg_json: string;
}

/** What admission reads of a transaction (enclave/block.ts), as the staging worker parsed it. */
export interface Admission {
  /** The transaction's hash (protocol.md §3). */
  hash: string;
  /** The sender's account address. */
  sender: string;
  sequence: number;
  gas_price: number;
  /** protocol.md §9: gas_limit × gas_price. */
  fee: number;
}

/**
 * A record's plaintext; one exists only for a transaction that parsed, belongs to this chain, is
 * within the gas cap, and whose signature verified.
 */
export interface StageRecord {
  admission: Admission;
  opened: OpenedEnvelope | null;
  spec: Speculation | null;
}

/** The node's stage key, derived once per worker from its seal key. */
export function derive_stage_key(p: CryptoProvider, seal_key: Uint8Array): Uint8Array {
  return p.hkdf(seal_key, SALT, utf8(STAGE_RECORD_DOMAIN), 32);
}

/** The part of every record's associated data that one block shares. */
export function stage_ad_prefix(input: BlockInput): Uint8Array {
  const { chain_id, dev, height, random_seed, time_ms } = input;
  return utf8(`${STAGE_RECORD_DOMAIN}\n${jcs({ chain_id, dev, height, random_seed, time_ms })}\n`);
}

function record_ad(p: CryptoProvider, prefix: Uint8Array, index: number, raw: string): Uint8Array {
  return concat(prefix, u32_be(index), p.sha256(utf8(raw)));
}

const IV_BYTES = 12;

/** Seals the record of the transaction `raw` at `index` of a block (`prefix` from {@link stage_ad_prefix}), under a fresh 12-byte `iv`. */
export function seal_stage_record(
  p: CryptoProvider,
  key: Uint8Array,
  prefix: Uint8Array,
  index: number,
  raw: string,
  record: StageRecord,
  iv: Uint8Array,
): Uint8Array {
  if (iv.length !== IV_BYTES) throw new RangeError('stage record iv must be 12 bytes');
  const sealed = p.gcm_seal(key, iv, record_ad(p, prefix, index, raw), utf8(JSON.stringify(record)));
  return concat(iv, sealed);
}

/**
 * Opens a record; null for anything that does not open for this block, position and transaction
 * (absent, too large, another node's, another block's, altered): the caller then does the work.
 */
export function open_stage_record(
  p: CryptoProvider,
  key: Uint8Array,
  prefix: Uint8Array,
  index: number,
  raw: string,
  sealed: Uint8Array,
): StageRecord | null {
  if (sealed.length <= IV_BYTES || sealed.length > STAGE_RECORD_BYTES_MAX) return null;
  try {
    const ad = record_ad(p, prefix, index, raw);
    const plain = p.gcm_open(key, sealed.subarray(0, IV_BYTES), ad, sealed.subarray(IV_BYTES));
    return plain === null ? null : (JSON.parse(from_utf8(plain)) as StageRecord);
  } catch {
    return null;
  }
}
