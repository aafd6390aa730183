/**
 * The chain store's LevelDB key layout (docs/storage.md). Keys are ASCII strings, compared by
 * LevelDB byte by byte, so a prefix selects one kind of record and fixed-width big-endian hex
 * numbers sort in numeric order:
 *
 *   meta/format             store format version (2)
 *   meta/chain_id           chain id this store belongs to
 *   meta/height             last committed height
 *   meta/next_code_id       id the next stored code gets
 *   meta/genesis            the genesis balances were written (true)
 *   block/<u64 hex>         BlockRecord by height
 *   tx/<hash>               TxRecord by tx hash
 *   account/<address>       committed sequence
 *   balance/<address>       committed balance in ucst (protocol.md §9), absent when 0
 *   contract/<address>      ContractInfo
 *   code/<u64 hex>          CodeRecord by code id
 *   state/<address>/<key>   sealed value by contract and hidden key (base64)
 *   sealed/<name>           sealed enclave blob
 *   consensus/state         the consensus engine's signed state
 *   idx/contract/code/<code id u64 hex>/<address>      contracts by code id (value true)
 *   idx/contract/creator/<creator>/<address>           contracts by creator (value true)
 *   idx/contract/label/<SHA-256(label) hex>/<address>  contracts by label (value true)
 *   idx/tx/sender/<address>/<position>                 counted txs by sender (value: tx hash)
 *   idx/tx/contract/<address>/<position>               counted txs by target contract (value: tx hash)
 *
 * A position is {@link tx_position}: newest first in key order.
 * @module
 */

import { is_address_hex, is_hex64 } from '../../protocol/checks.js';

/**
 * Version of this layout; written at creation, checked at every open. 2: balances, contract
 * bindings. 3: the discovery indexes (`idx/`); a format-2 store is upgraded on open.
 */
export const STORE_FORMAT = 3;

/** Fixed keys. */
export const KEYS = Object.freeze({
  format: 'meta/format',
  chain_id: 'meta/chain_id',
  height: 'meta/height',
  next_code_id: 'meta/next_code_id',
  genesis: 'meta/genesis',
  consensus_state: 'consensus/state',
});

/** Prefixes of the keyed record kinds. */
export const PREFIXES = Object.freeze({
  meta: 'meta/',
  block: 'block/',
  tx: 'tx/',
  account: 'account/',
  balance: 'balance/',
  contract: 'contract/',
  code: 'code/',
  state: 'state/',
  sealed: 'sealed/',
  consensus: 'consensus/',
  idx: 'idx/',
});

/** Prefixes of the discovery indexes (docs/storage.md "Indexes"). */
export const IDX = Object.freeze({
  contract_code: 'idx/contract/code/',
  contract_creator: 'idx/contract/creator/',
  contract_label: 'idx/contract/label/',
  tx_sender: 'idx/tx/sender/',
  tx_contract: 'idx/tx/contract/',
});

/** Largest height or index a {@link tx_position} takes. */
const POSITION_MAX = Number.MAX_SAFE_INTEGER;

const U64_HEX_RE = /^[0-9a-f]{16}$/;
/** Sealed blob names: short lowercase words. */
export const SEALED_NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/;

/**
 * `n` as 16 lowercase hex digits (u64 big-endian), so LevelDB's byte order is numeric order.
 * RangeError unless `n` is a non-negative safe integer.
 */
export function u64_hex(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError('key number must be a non-negative safe integer');
  return n.toString(16).padStart(16, '0');
}

/** Parses {@link u64_hex}; null if `text` is not 16 lowercase hex digits of a safe integer. */
export function parse_u64_hex(text: string): number | null {
  if (!U64_HEX_RE.test(text)) return null;
  const n = Number.parseInt(text, 16);
  return Number.isSafeInteger(n) ? n : null;
}

/** `block/<u64 hex height>`. */
export function block_key(height: number): string {
  return PREFIXES.block + u64_hex(height);
}

/** `tx/<64 hex hash>`; TypeError for anything but 64 lowercase hex. */
export function tx_key(hash: string): string {
  if (!is_hex64(hash)) throw new TypeError('tx hash must be 64 lowercase hex');
  return PREFIXES.tx + hash;
}

/** `account/<40 hex address>`; TypeError for anything but 40 lowercase hex. */
export function account_key(address: string): string {
  return PREFIXES.account + check_address(address);
}

/** `balance/<40 hex address>`; TypeError for anything but 40 lowercase hex. */
export function balance_key(address: string): string {
  return PREFIXES.balance + check_address(address);
}

/** `contract/<40 hex address>`; TypeError for anything but 40 lowercase hex. */
export function contract_key(address: string): string {
  return PREFIXES.contract + check_address(address);
}

/** `code/<u64 hex code id>`. */
export function code_key(code_id: number): string {
  return PREFIXES.code + u64_hex(code_id);
}

/** `state/<address>/`: the prefix of one contract's entries. */
export function state_prefix(address: string): string {
  return `${PREFIXES.state}${check_address(address)}/`;
}

/** `state/<address>/<hidden key, base64>`. */
export function state_key(address: string, hidden_key: string): string {
  return state_prefix(address) + hidden_key;
}

/** `sealed/<name>`; TypeError unless `name` matches {@link SEALED_NAME_RE}. */
export function sealed_key(name: string): string {
  if (typeof name !== 'string' || !SEALED_NAME_RE.test(name)) {
    throw new TypeError('sealed blob name must be 1-32 characters of [a-z0-9_-], starting with a letter');
  }
  return PREFIXES.sealed + name;
}

/**
 * A transaction's place in the chain as 32 hex characters that sort NEWEST FIRST: `u64 hex of
 * (2^53 - 1 - height)` then `u64 hex of (2^53 - 1 - index)`, so an ascending scan (the only
 * direction the key-value seam offers) lists later blocks first, and within a block later
 * transactions first.
 */
export function tx_position(height: number, index: number): string {
  return u64_hex(POSITION_MAX - height) + u64_hex(POSITION_MAX - index);
}

/** Parses {@link tx_position}; null if `text` is not one. */
export function parse_tx_position(text: string): { height: number; index: number } | null {
  if (text.length !== 32) return null;
  const h = parse_u64_hex(text.slice(0, 16));
  const i = parse_u64_hex(text.slice(16));
  if (h === null || i === null) return null;
  return { height: POSITION_MAX - h, index: POSITION_MAX - i };
}

/** `idx/contract/code/<code id>/`: the prefix of the contracts of one code. */
export function idx_contract_code_prefix(code_id: number): string {
  return `${IDX.contract_code}${u64_hex(code_id)}/`;
}

/** `idx/contract/creator/<creator>/`: the prefix of one creator's contracts. */
export function idx_contract_creator_prefix(creator: string): string {
  return `${IDX.contract_creator}${check_address(creator)}/`;
}

/** `idx/contract/label/<label hash>/`: the prefix of the contracts of one label (`label_hash`: 64 hex). */
export function idx_contract_label_prefix(label_hash: string): string {
  if (!is_hex64(label_hash)) throw new TypeError('label hash must be 64 lowercase hex');
  return `${IDX.contract_label}${label_hash}/`;
}

/** `idx/tx/sender/<address>/`: the prefix of one sender's transactions. */
export function idx_tx_sender_prefix(sender: string): string {
  return `${IDX.tx_sender}${check_address(sender)}/`;
}

/** `idx/tx/contract/<address>/`: the prefix of the transactions aimed at one contract. */
export function idx_tx_contract_prefix(contract: string): string {
  return `${IDX.tx_contract}${check_address(contract)}/`;
}

/**
 * Iterator bounds selecting exactly the keys that start with `prefix`. Every key is ASCII, so
 * U+00FF (UTF-8 C3 BF) sorts after every key sharing the prefix.
 */
export function prefix_range(prefix: string): { gte: string; lt: string } {
  return { gte: prefix, lt: `${prefix}\u00ff` };
}

/** Returns `address` if it is 40 lowercase hex; TypeError otherwise. */
export function check_address(address: string): string {
  if (!is_address_hex(address)) {
    throw new TypeError('address must be 40 lowercase hex characters');
  }
  return address;
}
