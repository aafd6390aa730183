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
 * @module
 */

import { is_address_hex, is_hex64 } from '../../protocol/checks.js';

/** Version of this layout; written at creation, checked at every open. 2: balances, contract bindings. */
export const STORE_FORMAT = 2;

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
});

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
