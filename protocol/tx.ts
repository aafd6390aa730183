/**
 * Accounts and transactions (protocol.md §5): the transaction JSON, its signature, hash and
 * strict structural validation, account and contract addresses.
 * @module
 */

import { assert_bytes, concat, from_hex, is_base64, to_hex, u64_be, utf8 } from './bytes.js';
import { is_address_hex, is_hex64, is_signature_hex } from './checks.js';
import { ResultCode } from './codes.js';
import { is_scheme, type Scheme } from './envelope.js';
import { is_well_formed, jcs } from './jcs.js';
import type { CryptoProvider } from './provider.js';
import { DuplicateKeyError, find_duplicate_key, parse_json_strict } from './strict_json.js';

/** `store_code` message (protocol.md §5): `code` is standard base64 of the contract's code. */
export interface StoreCodeMsg {
  type: 'store_code';
  code: string;
}

/** `instantiate` message (protocol.md §5): `payload` is the base64 envelope (§3) of the init msg. */
export interface InstantiateMsg {
  type: 'instantiate';
  code_id: number;
  label: string;
  scheme: Scheme;
  payload: string;
  /** protocol.md §9: ucst moved from the sender to the new contract before it runs; absent means 0. */
  funds?: number;
}

/** `execute` message (protocol.md §5): `contract` is a 40-hex address, `payload` a base64 envelope. */
export interface ExecuteMsg {
  type: 'execute';
  contract: string;
  scheme: Scheme;
  payload: string;
  /** protocol.md §9: ucst moved from the sender to the contract before it runs; absent means 0. */
  funds?: number;
}

/** `send` message (protocol.md §9): moves `amount` ucst (> 0) from the sender to `to` (40 hex). */
export interface SendMsg {
  type: 'send';
  to: string;
  amount: number;
}

/** `register_node` message (protocol.md §5, §8): `pk_reg` 64 hex, `quote` the attestation quote. */
export interface RegisterNodeMsg {
  type: 'register_node';
  pk_reg: string;
  quote: Record<string, unknown>;
}

/** The message `M` of a transaction (protocol.md §5). */
export type TxMsg = StoreCodeMsg | InstantiateMsg | ExecuteMsg | RegisterNodeMsg | SendMsg;

/** The signed body `B` of a transaction (protocol.md §5). */
export interface TxBody {
  chain_id: string;
  /** Lowercase hex of the sender's 32-byte Ed25519 public key. */
  sender: string;
  sequence: number;
  gas_limit: number;
  /** protocol.md §9: ucst per unit of gas; absent means 0. `gas_limit × gas_price` is below 2^53. */
  gas_price?: number;
  msg: TxMsg;
}

/** A transaction `{"body": B, "signature": hex}` (protocol.md §5). */
export interface Tx {
  body: TxBody;
  /** Lowercase hex of the 64-byte Ed25519 signature over {@link sign_bytes}. */
  signature: string;
}

/** Domain prefix of the signed bytes (protocol.md §5). */
export const TX_SIGN_PREFIX = 'cloister/tx/v1\n';
/** Domain prefix of a contract address preimage (protocol.md §5). */
export const CONTRACT_ADDRESS_PREFIX = 'cloister/contract\n';
/** Most characters (Unicode code points) in an instantiate `label`; at least 1. */
export const TX_LABEL_CHARS_MAX = 128;
/** Most characters (Unicode code points) in a `chain_id`; at least 1. */
export const TX_CHAIN_ID_CHARS_MAX = 128;
/** Bytes of an address (protocol.md §5: the first 20 bytes of a hash). */
export const ADDRESS_BYTES = 20;

/** A transaction that is not of the form protocol.md §5 fixes: result code 7. */
export class MalformedTxError extends Error {
  /** protocol.md §5 result code 7, malformed transaction. */
  readonly code = ResultCode.MALFORMED_TX;
  override readonly name = 'MalformedTxError';
}

/**
 * The bytes an account signs (protocol.md §5): `utf8("cloister/tx/v1\n") ‖ utf8(jcs(body))`.
 * Throws TypeError if `body` is not a JSON value. `body_jcs`, when given, must be `jcs(body)`
 * computed by the caller (so one canonicalisation serves the signature and the hash).
 */
export function sign_bytes(body: TxBody, body_jcs?: string): Uint8Array {
  if (typeof body !== 'object' || body === null) throw new TypeError('body must be an object');
  return utf8(TX_SIGN_PREFIX + (body_jcs ?? jcs(body)));
}

/**
 * Signs `body` with the account's 32-byte Ed25519 secret key (protocol.md §5). Throws RangeError
 * if `body.sender` is not the hex public key of `sk_account`.
 */
export function sign_tx(p: CryptoProvider, sk_account: Uint8Array, body: TxBody): Tx {
  assert_bytes(sk_account, 'sk_account', 32);
  if (typeof body !== 'object' || body === null) throw new TypeError('body must be an object');
  if (body.sender !== to_hex(p.ed25519_public(sk_account))) {
    throw new RangeError('body.sender is not the public key of sk_account');
  }
  return { body, signature: to_hex(p.ed25519_sign(sk_account, sign_bytes(body))) };
}

/**
 * Whether `tx.signature` is a valid strict Ed25519 signature (RFC 8032) by `tx.body.sender` over
 * {@link sign_bytes}`(tx.body)` (protocol.md §5). False, never an exception, for malformed hex or
 * a body that is not a JSON value; TypeError only if `tx` is not an object.
 */
export function verify_tx_signature(p: CryptoProvider, tx: Tx, body_jcs?: string): boolean {
  if (typeof tx !== 'object' || tx === null) throw new TypeError('tx must be an object');
  const { body, signature } = tx;
  if (typeof body !== 'object' || body === null) return false;
  if (!is_signature_hex(signature)) return false;
  if (!is_hex64(body.sender)) return false;
  let message: Uint8Array;
  try {
    message = sign_bytes(body, body_jcs);
  } catch {
    return false;
  }
  return p.ed25519_verify(from_hex(signature), message, from_hex(body.sender));
}

/**
 * protocol.md §5 `tx_hash = hex(H(utf8(jcs({"body": B, "signature": signature}))))`; any other
 * property of `tx` is ignored. `body_jcs`, when given, must be `jcs(tx.body)`.
 */
export function tx_hash(p: CryptoProvider, tx: Tx, body_jcs?: string): string {
  if (typeof tx !== 'object' || tx === null) throw new TypeError('tx must be an object');
  // RFC 8785 orders the two keys "body" < "signature", so the canonical text is built around
  // the body's canonical text; jcs() still checks the signature is a JSON value.
  const body_text = body_jcs ?? jcs(tx.body);
  return to_hex(p.sha256(utf8(`{"body":${body_text},"signature":${jcs(tx.signature)}}`)));
}

/** protocol.md §5: an account's address is the lowercase hex of the first 20 bytes of `H(public key)`. */
export function account_address(p: CryptoProvider, public_key: Uint8Array): string {
  assert_bytes(public_key, 'public_key', 32);
  return to_hex(p.sha256(public_key).subarray(0, ADDRESS_BYTES));
}

/**
 * protocol.md §5 contract address:
 * `hex(H(utf8("cloister/contract\n") ‖ utf8(sender) ‖ u64_be(sequence))[0..20])`, where `sender`
 * is the 64-hex public key string of `body.sender` and `sequence` that of the instantiate tx.
 */
export function contract_address(p: CryptoProvider, sender: string, sequence: number): string {
  if (typeof sender !== 'string') throw new TypeError('sender must be a string');
  if (!is_hex64(sender)) throw new TypeError('sender must be 64 lowercase hex characters');
  if (typeof sequence !== 'number') throw new TypeError('sequence must be a number');
  const preimage = concat(utf8(CONTRACT_ADDRESS_PREFIX), utf8(sender), u64_be(sequence));
  return to_hex(p.sha256(preimage).subarray(0, ADDRESS_BYTES));
}

// ---- strict parsing -------------------------------------------------------------------------

function fail(message: string): never {
  throw new MalformedTxError(message);
}

function plain_object(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${where} must be an object`);
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) fail(`${where} must be a plain object`);
  return value as Record<string, unknown>;
}

function exact_keys(
  value: Record<string, unknown>,
  keys: readonly string[],
  where: string,
  optional: readonly string[] = [],
): void {
  for (const key of Reflect.ownKeys(value)) {
    if (typeof key !== 'string' || !(keys.includes(key) || optional.includes(key))) {
      fail(`${where} has unexpected key ${String(key)}`);
    }
  }
  for (const key of keys) if (!Object.hasOwn(value, key)) fail(`${where} is missing key ${key}`);
}

/** An optional count field (protocol.md §9 `gas_price`, `funds`): copied only when present. */
function optional_count<K extends string>(
  value: Record<string, unknown>,
  key: K,
  where: string,
): { [P in K]?: number } {
  if (!Object.hasOwn(value, key)) return {};
  return { [key]: count(value[key], `${where}.${key}`) } as { [P in K]?: number };
}

function positive(value: unknown, where: string): number {
  const n = count(value, where);
  if (n === 0) fail(`${where} must be above 0`);
  return n;
}

function text(value: unknown, where: string, max_chars: number): string {
  if (typeof value !== 'string') fail(`${where} must be a string`);
  if (!is_well_formed(value)) fail(`${where} contains a lone surrogate`);
  const chars = [...value].length;
  if (chars < 1 || chars > max_chars) fail(`${where} must have 1 to ${max_chars} characters`);
  return value;
}

function hex(
  value: unknown,
  where: string,
  is_hex: (value: unknown) => value is string,
  chars: number,
): string {
  if (!is_hex(value)) fail(`${where} must be ${chars} lowercase hex characters`);
  return value;
}

function count(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || Object.is(value, -0)) {
    fail(`${where} must be a non-negative integer below 2^53`);
  }
  return value;
}

function base64(value: unknown, where: string): string {
  if (typeof value !== 'string') fail(`${where} must be a string`);
  if (!is_base64(value)) fail(`${where} must be standard padded base64`);
  return value;
}

function scheme(value: unknown, where: string): Scheme {
  if (!is_scheme(value)) fail(`${where} must be "gcm" or "siv"`);
  return value;
}

function parse_msg(value: unknown): TxMsg {
  const msg = plain_object(value, 'body.msg');
  const type = msg['type'];
  switch (type) {
    case 'store_code':
      exact_keys(msg, ['type', 'code'], 'body.msg');
      return { type, code: base64(msg['code'], 'body.msg.code') };
    case 'instantiate':
      exact_keys(msg, ['type', 'code_id', 'label', 'scheme', 'payload'], 'body.msg', ['funds']);
      return {
        type,
        code_id: count(msg['code_id'], 'body.msg.code_id'),
        label: text(msg['label'], 'body.msg.label', TX_LABEL_CHARS_MAX),
        scheme: scheme(msg['scheme'], 'body.msg.scheme'),
        payload: base64(msg['payload'], 'body.msg.payload'),
        ...optional_count(msg, 'funds', 'body.msg'),
      };
    case 'execute':
      exact_keys(msg, ['type', 'contract', 'scheme', 'payload'], 'body.msg', ['funds']);
      return {
        type,
        contract: hex(msg['contract'], 'body.msg.contract', is_address_hex, 40),
        scheme: scheme(msg['scheme'], 'body.msg.scheme'),
        payload: base64(msg['payload'], 'body.msg.payload'),
        ...optional_count(msg, 'funds', 'body.msg'),
      };
    case 'send':
      exact_keys(msg, ['type', 'to', 'amount'], 'body.msg');
      return {
        type,
        to: hex(msg['to'], 'body.msg.to', is_address_hex, 40),
        amount: positive(msg['amount'], 'body.msg.amount'),
      };
    case 'register_node': {
      exact_keys(msg, ['type', 'pk_reg', 'quote'], 'body.msg');
      const pk_reg = hex(msg['pk_reg'], 'body.msg.pk_reg', is_hex64, 64);
      const quote = plain_object(msg['quote'], 'body.msg.quote');
      let quote_jcs: string;
      try {
        quote_jcs = jcs(quote);
      } catch (error) {
        fail(`body.msg.quote is not a JSON value: ${(error as Error).message}`);
      }
      return { type, pk_reg, quote: JSON.parse(quote_jcs) as Record<string, unknown> };
    }
    default:
      fail('body.msg.type must be one of store_code, instantiate, execute, register_node, send');
  }
}

/**
 * Strict structural validation of a transaction (protocol.md §5), e.g. the result of
 * `JSON.parse`. Checks exact key sets at every level, types, lowercase hex of the right length
 * (sender 64, signature 128, contract 40, pk_reg 64), non-negative safe integers, scheme, standard
 * padded base64 for `code` and `payload`, 1 to {@link TX_LABEL_CHARS_MAX} characters of label and
 * 1 to {@link TX_CHAIN_ID_CHARS_MAX} of chain id, well-formed Unicode, and that `quote` is a JSON
 * object. Returns a fresh copy made of the checked fields only; throws {@link MalformedTxError}
 * (code 7) naming the first problem found. Does not verify the signature.
 */
export function parse_tx(value: unknown): Tx {
  const tx = plain_object(value, 'tx');
  exact_keys(tx, ['body', 'signature'], 'tx');
  const body = plain_object(tx['body'], 'body');
  exact_keys(body, ['chain_id', 'sender', 'sequence', 'gas_limit', 'msg'], 'body', ['gas_price']);
  const parsed: TxBody = {
    chain_id: text(body['chain_id'], 'body.chain_id', TX_CHAIN_ID_CHARS_MAX),
    sender: hex(body['sender'], 'body.sender', is_hex64, 64),
    sequence: count(body['sequence'], 'body.sequence'),
    gas_limit: count(body['gas_limit'], 'body.gas_limit'),
    ...optional_count(body, 'gas_price', 'body'),
    msg: parse_msg(body['msg']),
  };
  // protocol.md §9: a fee that is not a safe integer is malformed, not unaffordable.
  if (!Number.isSafeInteger(parsed.gas_limit * (parsed.gas_price ?? 0))) {
    fail('body.gas_limit × body.gas_price must be below 2^53');
  }
  return { body: parsed, signature: hex(tx['signature'], 'signature', is_signature_hex, 128) };
}

/** protocol.md §9 `fee = gas_limit × gas_price`, in ucst (a safe integer for any parsed tx). */
export function tx_fee(body: TxBody): number {
  return body.gas_limit * (body.gas_price ?? 0);
}

/** protocol.md §9 `funds` of an instantiate or execute message; 0 for every other message. */
export function tx_funds(body: TxBody): number {
  const msg = body.msg;
  return msg.type === 'instantiate' || msg.type === 'execute' ? (msg.funds ?? 0) : 0;
}

/**
 * `JSON.parse` then {@link parse_tx}; MalformedTxError (code 7) if `text` is not JSON or if any
 * object in it, at any depth, has two equal keys (docs/protocol-notes.md). TypeError if `text` is
 * not a string.
 */
export function parse_tx_json(json_text: string): Tx {
  if (typeof json_text !== 'string') throw new TypeError('transaction text must be a string');
  let value: unknown;
  try {
    value = parse_json_strict(json_text);
  } catch (error) {
    if (error instanceof DuplicateKeyError) fail(`transaction has a ${error.message}`);
    fail('transaction is not valid JSON');
  }
  return parse_tx(value);
}

/**
 * Throws {@link MalformedTxError} (code 7) if some object in the transaction text `json_text` has
 * two equal keys: for a caller that already holds `parse_tx(JSON.parse(json_text))` and so did
 * not go through {@link parse_tx_json}. `json_text` must be text `JSON.parse` accepts.
 */
export function check_tx_keys(json_text: string): void {
  const key = find_duplicate_key(json_text);
  if (key !== null) fail(`transaction has a ${new DuplicateKeyError(key).message}`);
}
