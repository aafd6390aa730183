/**
 * Strict readers of CometBFT v0.38's RPC JSON (`rpc/core/types/responses.go`, written by
 * `libs/json`): the `signed_header` of `GET /commit?height=H` and the `result` of
 * `GET /validators?height=H`. The enclave reads them from an untrusted host, so every field is
 * checked and any other key is refused. Shapes: int64/uint64 are decimal strings, int32/uint32
 * are JSON numbers, hashes and addresses are hex (CometBFT writes upper case), signatures and
 * keys are standard base64, times RFC 3339 with up to nine fractional digits. Parse the text
 * with protocol/strict_json.ts first (JSON.parse keeps the last of two equal keys).
 * Browser-safe.
 * @module
 */

import { from_base64 } from '../bytes.js';
import type { CryptoProvider } from '../provider.js';
import { check_commit, check_header, HEADER_HASH_FIELDS } from './checks.js';
import { parse_time } from './time.js';
import {
  COMET_APP_HASH_BYTES_MAX,
  COMET_SIGNATURES_MAX,
  type CometBlockId,
  type CometCommit,
  type CometCommitSig,
  CometFormatError,
  type CometHeader,
  type CometTime,
  type CometValidator,
  INT64_MAX,
  INT64_MIN,
  UINT64_MAX,
} from './types.js';
import { validator_address } from './validators.js';

type Json = Record<string, unknown>;

/** `value` as an object with exactly the keys `required` (and some of `optional`), else CometFormatError. */
function object(
  value: unknown,
  field: string,
  required: readonly string[],
  optional: readonly string[] = [],
): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CometFormatError(field, 'an object');
  const o = value as Json;
  for (const k of required) if (!Object.hasOwn(o, k)) throw new CometFormatError(`${field}.${k}`, 'present');
  for (const k of Object.keys(o))
    if (!required.includes(k) && !optional.includes(k))
      throw new CometFormatError(`${field}.${k}`, 'absent (unknown key)');
  return o;
}

const DECIMAL_RE = /^(0|-?[1-9][0-9]{0,19})$/;

/** A decimal string (libs/json's int64 and uint64) in [min, max], canonical: no '+', no leading zeros. */
function decimal(value: unknown, field: string, min: bigint, max: bigint): bigint {
  if (typeof value !== 'string' || !DECIMAL_RE.test(value))
    throw new CometFormatError(field, 'a decimal string');
  const n = BigInt(value);
  if (n < min || n > max) throw new CometFormatError(field, `${min}..${max}`);
  return n;
}

/** A JSON number that is an integer in [min, max] (libs/json's int32 and uint32). */
function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max)
    throw new CometFormatError(field, `an integer ${min}..${max}`);
  return value;
}

const HEX_RE = /^(?:[0-9A-Fa-f]{2})*$/;

/** Hex bytes (`HexBytes`: CometBFT writes upper case; Go's decoder takes either) of at most `max` bytes. */
function hex(value: unknown, field: string, max: number): Uint8Array {
  if (typeof value !== 'string' || value.length > 2 * max || !HEX_RE.test(value))
    throw new CometFormatError(field, `hex of at most ${max} bytes`);
  const out = new Uint8Array(value.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(value.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Standard padded base64 of at most `max` bytes; `null` (Go's nil []byte) is empty. */
function base64(value: unknown, field: string, max: number): Uint8Array {
  if (value === null) return new Uint8Array(0);
  if (typeof value !== 'string' || value.length > 4 * Math.ceil(max / 3))
    throw new CometFormatError(field, `base64 of at most ${max} bytes`);
  try {
    return from_base64(value);
  } catch {
    throw new CometFormatError(field, 'standard padded base64');
  }
}

function time(value: unknown, field: string): CometTime {
  try {
    return parse_time(value as string);
  } catch (error) {
    throw new CometFormatError(field, error instanceof CometFormatError ? error.rule : 'an RFC 3339 time');
  }
}

/** `{"hash": hex, "parts": {"total": number, "hash": hex}}` (types.BlockID). */
function block_id(value: unknown, field: string): CometBlockId {
  const o = object(value, field, ['hash', 'parts']);
  const parts = object(o['parts'], `${field}.parts`, ['total', 'hash']);
  return {
    hash: hex(o['hash'], `${field}.hash`, 32),
    part_set_header: {
      total: integer(parts['total'], `${field}.parts.total`, 0, 0xffffffff),
      hash: hex(parts['hash'], `${field}.parts.hash`, 32),
    },
  };
}

/** `types.Header` JSON; `version.block` / `version.app` may be missing (`omitempty`: zero). */
function header(value: unknown, field: string): CometHeader {
  const keys = [
    'version',
    'chain_id',
    'height',
    'time',
    'last_block_id',
    ...HEADER_HASH_FIELDS,
    'app_hash',
    'proposer_address',
  ];
  const o = object(value, field, keys);
  const v = object(o['version'], `${field}.version`, [], ['block', 'app']);
  const version = {
    block: v['block'] === undefined ? 0n : decimal(v['block'], `${field}.version.block`, 0n, UINT64_MAX),
    app: v['app'] === undefined ? 0n : decimal(v['app'], `${field}.version.app`, 0n, UINT64_MAX),
  };
  if (typeof o['chain_id'] !== 'string') throw new CometFormatError(`${field}.chain_id`, 'a string');
  const hashes = Object.fromEntries(
    HEADER_HASH_FIELDS.map((k) => [k, hex(o[k], `${field}.${k}`, 32)]),
  ) as Record<(typeof HEADER_HASH_FIELDS)[number], Uint8Array>;
  const h: CometHeader = {
    version,
    chain_id: o['chain_id'],
    height: decimal(o['height'], `${field}.height`, 1n, INT64_MAX),
    time: time(o['time'], `${field}.time`),
    last_block_id: block_id(o['last_block_id'], `${field}.last_block_id`),
    ...hashes,
    app_hash: hex(o['app_hash'], `${field}.app_hash`, COMET_APP_HASH_BYTES_MAX),
    proposer_address: hex(o['proposer_address'], `${field}.proposer_address`, 20),
  };
  check_header(h, field);
  return h;
}

function commit_sig(value: unknown, field: string): CometCommitSig {
  const o = object(value, field, ['block_id_flag', 'validator_address', 'timestamp', 'signature']);
  return {
    block_id_flag: integer(o['block_id_flag'], `${field}.block_id_flag`, 1, 3),
    validator_address: hex(o['validator_address'], `${field}.validator_address`, 20),
    timestamp: time(o['timestamp'], `${field}.timestamp`),
    signature: base64(o['signature'], `${field}.signature`, 64),
  };
}

/** `types.Commit` JSON. */
function commit(value: unknown, field: string): CometCommit {
  const o = object(value, field, ['height', 'round', 'block_id', 'signatures']);
  const sigs = o['signatures'];
  if (!Array.isArray(sigs) || sigs.length === 0 || sigs.length > COMET_SIGNATURES_MAX)
    throw new CometFormatError(`${field}.signatures`, `a list of 1 to ${COMET_SIGNATURES_MAX}`);
  const c: CometCommit = {
    height: decimal(o['height'], `${field}.height`, 1n, INT64_MAX),
    round: integer(o['round'], `${field}.round`, 0, 2 ** 31 - 1),
    block_id: block_id(o['block_id'], `${field}.block_id`),
    signatures: sigs.map((s, i) => commit_sig(s, `${field}.signatures[${i}]`)),
  };
  check_commit(c, field);
  return c;
}

/**
 * Parses `result.signed_header` of CometBFT v0.38's `/commit` RPC answer (`ResultCommit` of
 * `rpc/core/types/responses.go`: `types.SignedHeader` of `types/block.go`), already JSON-parsed.
 * Strict: exactly the keys CometBFT writes, every field checked (`Header.ValidateBasic`,
 * `Commit.ValidateBasic`): hashes empty or 32 bytes (the app hash up to
 * COMET_APP_HASH_BYTES_MAX, as its length is the application's), addresses 20 bytes,
 * signatures 64 bytes, or none for an absent slot (JSON `null`). Throws CometFormatError naming
 * the field. Says nothing of whether the commit holds: that is verify_comet_commit's question.
 */
export function parse_signed_header(json: unknown): { header: CometHeader; commit: CometCommit } {
  const o = object(json, 'signed_header', ['header', 'commit']);
  return { header: header(o['header'], 'header'), commit: commit(o['commit'], 'commit') };
}

/**
 * Parses the `result` of CometBFT v0.38's `/validators?height=H` RPC answer (`ResultValidators`
 * of `rpc/core/types/responses.go`: `block_height`, `validators`, `count`, `total`) to the
 * validator set, in the order given. Ed25519 keys only (`tendermint/PubKeyEd25519`); each
 * `address` must be the key's address; the page must hold the whole set (`count` = `total`:
 * ask with `per_page` ≥ the set's size, at most 100 per page in CometBFT). Throws CometFormatError.
 */
export function parse_validators(p: CryptoProvider, json: unknown): CometValidator[] {
  const o = object(json, 'result', ['block_height', 'validators', 'count', 'total']);
  decimal(o['block_height'], 'result.block_height', 1n, INT64_MAX);
  const list = o['validators'];
  if (!Array.isArray(list) || list.length === 0 || list.length > COMET_SIGNATURES_MAX)
    throw new CometFormatError('result.validators', `a list of 1 to ${COMET_SIGNATURES_MAX}`);
  const count = decimal(o['count'], 'result.count', 0n, INT64_MAX);
  const total = decimal(o['total'], 'result.total', 0n, INT64_MAX);
  if (count !== BigInt(list.length) || total !== count)
    throw new CometFormatError('result', 'the whole set in one page (count = total = number of validators)');
  return list.map((item, i): CometValidator => {
    const field = `result.validators[${i}]`;
    const v = object(item, field, ['address', 'pub_key', 'voting_power', 'proposer_priority']);
    const key = object(v['pub_key'], `${field}.pub_key`, ['type', 'value']);
    if (key['type'] !== 'tendermint/PubKeyEd25519')
      throw new CometFormatError(`${field}.pub_key.type`, '"tendermint/PubKeyEd25519"');
    const pubkey = base64(key['value'], `${field}.pub_key.value`, 32);
    if (pubkey.length !== 32) throw new CometFormatError(`${field}.pub_key.value`, '32 bytes');
    const address = hex(v['address'], `${field}.address`, 20);
    const expected = validator_address(p, pubkey);
    if (address.length !== 20 || !address.every((b, j) => b === expected[j]))
      throw new CometFormatError(`${field}.address`, "the key's address");
    decimal(v['proposer_priority'], `${field}.proposer_priority`, INT64_MIN, INT64_MAX);
    return { pubkey, power: decimal(v['voting_power'], `${field}.voting_power`, 1n, INT64_MAX) };
  });
}
