/**
 * Shape checks of every record the chain store writes and reads back. The same check runs on
 * write (a failure is a caller bug: the store refuses it) and on read (a failure means the disk
 * holds something the store never wrote: StoreCorruptError), so nothing malformed is stored or
 * served. Checks copy nothing: they return their input typed.
 * @module
 */

import type { BoundContract } from '../../enclave/api.js';
import { ENCLAVE_LIMITS } from '../../enclave/limits.js';
import type { PublicEvent } from '../../protocol/bank.js';
import { is_base64 } from '../../protocol/bytes.js';
import { BLOCK_HEADER_KEYS, type Block, type BlockHeader, type Commit } from '../../protocol/chain.js';
import {
  CHAIN_ID_RULE,
  is_address_hex,
  is_chain_id,
  is_hex64,
  is_signature_hex,
} from '../../protocol/checks.js';
import { TX_LABEL_CHARS_MAX } from '../../protocol/tx.js';
import type { BlockRecord, CodeRecord, TxRecord } from '../records.js';

/** A record does not have the shape the store writes. Converted to a typed error by the caller. */
export class ShapeError extends Error {
  override readonly name = 'ShapeError';
}

/** Longest base64 of a sealed state key or value: a 64 KiB VM value sealed, with room to spare. */
export const STATE_B64_CHARS_MAX = 256 * 1024;
/** Longest base64 of a stored code: a whole transaction's worth. */
export const CODE_B64_CHARS_MAX = ENCLAVE_LIMITS.tx_bytes_max;
/**
 * Longest base64 of a transaction's sealed output. The VM bounds data (64 KiB) and events
 * (64 × 8 KiB) in bytes, but JSON escaping can grow them six-fold before sealing; this leaves room
 * for all of it, because refusing an output the enclave produced would stop the node.
 */
export const OUTPUT_B64_CHARS_MAX = 16 * 1024 * 1024;
/** Most signatures in one commit: far above any simulated validator set. */
export const COMMIT_SIGNATURES_MAX = 1024;
/** Longest name of a genesis code. */
export const CODE_NAME_CHARS_MAX = 64;
/** Highest public result code (protocol.md §5). */
const RESULT_CODE_MAX = 8;
/** Public events one transaction may list: 8 calls deep, each many messages, each 64 events; bounded. */
const PUBLIC_EVENTS_MAX = 4096;

function fail(message: string): never {
  throw new ShapeError(message);
}

/** Throws unless `value` is a plain (non-array, non-null) object. */
export function object(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${where} must be an object`);
  return value as Record<string, unknown>;
}

/** Throws if `value` has a key outside `allowed`: the store writes exact shapes only. */
function only_keys(value: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(value))
    if (!allowed.includes(key)) fail(`${where} has unexpected key ${key}`);
}

/** A non-negative safe integer. */
export function count(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    fail(`${where} must be a non-negative safe integer`);
  }
  return value;
}

/** A safe integer at least 1. */
export function positive(value: unknown, where: string): number {
  if (count(value, where) < 1) fail(`${where} must be at least 1`);
  return value as number;
}

/** 40 lowercase hex characters. */
export function hex40(value: unknown, where: string): string {
  if (!is_address_hex(value)) fail(`${where} must be 40 lowercase hex`);
  return value;
}

/** 64 lowercase hex characters. */
export function hex64(value: unknown, where: string): string {
  if (!is_hex64(value)) fail(`${where} must be 64 lowercase hex`);
  return value;
}

/** Standard padded base64 of at most `chars_max` characters; '' allowed when `empty_ok`. */
export function base64(value: unknown, where: string, chars_max: number, empty_ok = false): string {
  if (typeof value !== 'string') fail(`${where} must be a string`);
  if (value.length > chars_max) fail(`${where} is longer than ${chars_max} characters`);
  if (value === '') {
    if (!empty_ok) fail(`${where} must not be empty`);
    return value;
  }
  // The same strings from_base64 decodes, checked without decoding them.
  if (!is_base64(value)) fail(`${where} must be standard padded base64`);
  return value;
}

/** A network's chain id (protocol/checks.ts `is_chain_id`, the rule genesis and the enclave apply). */
export function chain_id(value: unknown, where = 'chain_id'): string {
  if (!is_chain_id(value)) fail(`${where} must be ${CHAIN_ID_RULE}`);
  return value;
}

/** A block header (protocol/chain.ts). */
export function check_header(value: unknown, where = 'header'): BlockHeader {
  const h = object(value, where);
  only_keys(h, BLOCK_HEADER_KEYS, where);
  chain_id(h['chain_id'], `${where}.chain_id`);
  positive(h['height'], `${where}.height`);
  count(h['round'], `${where}.round`);
  count(h['time_ms'], `${where}.time_ms`);
  for (const key of ['proposer', 'prev_block_hash', 'txs_hash', 'last_commit_hash', 'result_hash']) {
    hex64(h[key], `${where}.${key}`);
  }
  if (!is_signature_hex(h['exec_signature'])) {
    fail(`${where}.exec_signature must be 128 lowercase hex`);
  }
  return h as unknown as BlockHeader;
}

/** A commit (protocol/chain.ts); signatures are shape-checked, not verified. */
export function check_commit(value: unknown, where = 'commit'): Commit {
  const c = object(value, where);
  only_keys(c, ['height', 'round', 'block_hash', 'signatures'], where);
  positive(c['height'], `${where}.height`);
  count(c['round'], `${where}.round`);
  hex64(c['block_hash'], `${where}.block_hash`);
  const sigs = c['signatures'];
  if (!Array.isArray(sigs) || sigs.length > COMMIT_SIGNATURES_MAX) {
    fail(`${where}.signatures must be a list of at most ${COMMIT_SIGNATURES_MAX}`);
  }
  sigs.forEach((sig: unknown, i) => {
    const s = object(sig, `${where}.signatures[${i}]`);
    only_keys(s, ['validator', 'signature'], `${where}.signatures[${i}]`);
    hex64(s['validator'], `${where}.signatures[${i}].validator`);
    if (!is_signature_hex(s['signature'])) {
      fail(`${where}.signatures[${i}].signature must be 128 lowercase hex`);
    }
  });
  return c as unknown as Commit;
}

/** A block: header, txs within the enclave's block limits, and its parent's commit or null. */
export function check_block(value: unknown, where = 'block'): Block {
  const b = object(value, where);
  only_keys(b, ['header', 'txs', 'last_commit'], where);
  const header = check_header(b['header'], `${where}.header`);
  const txs = b['txs'];
  if (!Array.isArray(txs) || txs.length > ENCLAVE_LIMITS.block_txs_max) {
    fail(`${where}.txs must be a list of at most ${ENCLAVE_LIMITS.block_txs_max}`);
  }
  let chars = 0;
  for (const tx of txs) {
    if (typeof tx !== 'string') fail(`${where}.txs must hold strings`);
    chars += tx.length;
  }
  if (chars > ENCLAVE_LIMITS.block_bytes_max)
    fail(`${where}.txs exceed ${ENCLAVE_LIMITS.block_bytes_max} characters`);
  const last_commit = b['last_commit'];
  if (last_commit === null) {
    if (header.height !== 1) fail(`${where}.last_commit may be null only at height 1`);
  } else {
    const c = check_commit(last_commit, `${where}.last_commit`);
    if (c.height !== header.height - 1) fail(`${where}.last_commit is not for the parent height`);
  }
  return b as unknown as Block;
}

/** A stored block record: the block, its commit, its hash and one tx hash per tx. */
export function check_block_record(value: unknown, where = 'block record'): BlockRecord {
  const r = object(value, where);
  only_keys(r, ['block', 'commit', 'block_hash', 'tx_hashes'], where);
  const block = check_block(r['block'], `${where}.block`);
  const commit = check_commit(r['commit'], `${where}.commit`);
  const hash = hex64(r['block_hash'], `${where}.block_hash`);
  if (commit.height !== block.header.height || commit.block_hash !== hash) {
    fail(`${where}.commit is not for this block`);
  }
  const hashes = r['tx_hashes'];
  if (!Array.isArray(hashes) || hashes.length !== block.txs.length) {
    fail(`${where}.tx_hashes must have one hash per tx`);
  }
  hashes.forEach((h: unknown, i) => {
    hex64(h, `${where}.tx_hashes[${i}]`);
  });
  return r as unknown as BlockRecord;
}

/** A committed transaction's record (protocol.md §6 `GET /v1/txs/{hash}`). */
export function check_tx_record(value: unknown, where = 'tx record'): TxRecord {
  const t = object(value, where);
  only_keys(
    t,
    ['hash', 'height', 'index', 'code', 'gas_used', 'output', 'contract', 'code_id', 'events'],
    where,
  );
  hex64(t['hash'], `${where}.hash`);
  positive(t['height'], `${where}.height`);
  if (count(t['index'], `${where}.index`) >= ENCLAVE_LIMITS.block_txs_max)
    fail(`${where}.index out of range`);
  if (count(t['code'], `${where}.code`) > RESULT_CODE_MAX) fail(`${where}.code is not a result code`);
  count(t['gas_used'], `${where}.gas_used`);
  base64(t['output'], `${where}.output`, OUTPUT_B64_CHARS_MAX, true);
  if (t['contract'] !== undefined) hex40(t['contract'], `${where}.contract`);
  if (t['code_id'] !== undefined) positive(t['code_id'], `${where}.code_id`);
  if (t['events'] !== undefined) check_public_events(t['events'], `${where}.events`);
  return t as unknown as TxRecord;
}

/** Public events of one transaction (protocol.md §9): bounded like the VM bounds a call's events. */
export function check_public_events(value: unknown, where: string): PublicEvent[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > PUBLIC_EVENTS_MAX)
    fail(`${where} must be a list of 1-${PUBLIC_EVENTS_MAX} events`);
  for (const [i, item] of value.entries()) {
    const e = object(item, `${where}[${i}]`);
    only_keys(e, ['type', 'attributes', 'contract'], `${where}[${i}]`);
    if (typeof e['type'] !== 'string' || e['type'].length === 0) fail(`${where}[${i}].type must be text`);
    hex40(e['contract'], `${where}[${i}].contract`);
    const attributes = e['attributes'];
    if (!Array.isArray(attributes)) fail(`${where}[${i}].attributes must be a list`);
    for (const a of attributes as unknown[]) {
      const kv = object(a, `${where}[${i}].attributes[]`);
      only_keys(kv, ['key', 'value'], `${where}[${i}].attributes[]`);
      if (typeof kv['key'] !== 'string' || typeof kv['value'] !== 'string')
        fail(`${where}[${i}].attributes[] must be {key, value} text`);
    }
  }
  return value as PublicEvent[];
}

/** Public facts of a contract instance. */
export function check_contract_info(value: unknown, where = 'contract'): BoundContract {
  const c = object(value, where);
  only_keys(c, ['address', 'code_id', 'code_hash', 'label', 'creator', 'binding'], where);
  hex64(c['binding'], `${where}.binding`);
  hex40(c['address'], `${where}.address`);
  positive(c['code_id'], `${where}.code_id`);
  hex64(c['code_hash'], `${where}.code_hash`);
  const label = c['label'];
  // Counted in code points, as parse_tx bounds it: the store must accept every label the
  // enclave can commit, or a valid block would stop the node.
  if (typeof label !== 'string' || label.length === 0 || [...label].length > TX_LABEL_CHARS_MAX) {
    fail(`${where}.label must be 1-${TX_LABEL_CHARS_MAX} characters`);
  }
  hex40(c['creator'], `${where}.creator`);
  return c as unknown as BoundContract;
}

/**
 * A stored code. Whether `code_hash` is the hash of `code` is checked by the store, which holds
 * the hash function.
 */
export function check_code_record(value: unknown, where = 'code'): CodeRecord {
  const c = object(value, where);
  only_keys(c, ['code_id', 'code_hash', 'code', 'name'], where);
  positive(c['code_id'], `${where}.code_id`);
  hex64(c['code_hash'], `${where}.code_hash`);
  base64(c['code'], `${where}.code`, CODE_B64_CHARS_MAX, true);
  const name = c['name'];
  if (
    name !== undefined &&
    (typeof name !== 'string' || name.length === 0 || name.length > CODE_NAME_CHARS_MAX)
  ) {
    fail(`${where}.name must be 1-${CODE_NAME_CHARS_MAX} characters`);
  }
  return c as unknown as CodeRecord;
}

/** A sealed contract state value or hidden key (base64, non-empty). */
export function check_state_b64(value: unknown, where: string): string {
  return base64(value, where, STATE_B64_CHARS_MAX);
}
