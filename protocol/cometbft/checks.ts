/**
 * The shape checks of a CometBFT v0.38 header and commit, as CometBFT's own `ValidateBasic`
 * methods (`types/block.go`) make them: every field of the right kind, length and range. Used
 * by the JSON readers (json.ts) and again by header_hash / verify_comet_commit, which may be handed
 * values built elsewhere. Each throws CometFormatError naming the field. Browser-safe.
 * @module
 */

import { utf8 } from '../bytes.js';
import { check_bigint, check_block_id, check_bytes, check_uint64, is_zero_block_id } from './proto.js';
import { check_time, is_zero_time } from './time.js';
import {
  BLOCK_ID_FLAG,
  COMET_APP_HASH_BYTES_MAX,
  COMET_CHAIN_ID_BYTES_MAX,
  COMET_SIGNATURES_MAX,
  type CometCommit,
  type CometCommitSig,
  CometFormatError,
  type CometHeader,
  INT64_MAX,
} from './types.js';

/** The header's hashes that `ValidateHash` checks: empty or 32 bytes (all but the app hash). */
export const HEADER_HASH_FIELDS = [
  'last_commit_hash',
  'data_hash',
  'validators_hash',
  'next_validators_hash',
  'consensus_hash',
  'last_results_hash',
  'evidence_hash',
] as const;

const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Throws CometFormatError unless `v` is empty or 32 bytes (`ValidateHash` of `types/validation.go`). */
export function check_hash(v: Uint8Array, field: string): Uint8Array {
  if (!(v instanceof Uint8Array) || (v.length !== 0 && v.length !== 32))
    throw new CometFormatError(field, 'empty or 32 bytes');
  return v;
}

/**
 * Throws CometFormatError unless `chain_id` is a string of at most 50 UTF-8 bytes (`MaxChainIDLen`,
 * `types/genesis.go`) without lone surrogates, so that it has exactly one UTF-8 encoding.
 */
export function check_comet_chain_id(chain_id: string, field: string): string {
  if (typeof chain_id !== 'string' || LONE_SURROGATE_RE.test(chain_id.slice(0, COMET_CHAIN_ID_BYTES_MAX + 1)))
    throw new CometFormatError(field, 'a well-formed string');
  // why: every UTF-16 unit takes at least one UTF-8 byte, so a longer text is refused unread.
  if (chain_id.length > COMET_CHAIN_ID_BYTES_MAX || utf8(chain_id).length > COMET_CHAIN_ID_BYTES_MAX)
    throw new CometFormatError(field, `at most ${COMET_CHAIN_ID_BYTES_MAX} UTF-8 bytes`);
  return chain_id;
}

/**
 * Checks the shape of `h` as CometBFT v0.38's `Header.ValidateBasic` (`types/block.go`) does,
 * except the block protocol version (the commit check compares it): a height of 1 or more, hashes
 * empty or 32 bytes, an app hash of at most {@link COMET_APP_HASH_BYTES_MAX} bytes, a 20-byte
 * proposer address. Throws CometFormatError naming the field.
 */
export function check_header(h: CometHeader, field = 'header'): void {
  if (typeof h !== 'object' || h === null || typeof h.version !== 'object' || h.version === null)
    throw new CometFormatError(field, 'a header');
  check_uint64(h.version.block, `${field}.version.block`);
  check_uint64(h.version.app, `${field}.version.app`);
  check_comet_chain_id(h.chain_id, `${field}.chain_id`);
  check_bigint(h.height, 1n, INT64_MAX, `${field}.height`);
  check_time(h.time, `${field}.time`);
  check_block_id(h.last_block_id, `${field}.last_block_id`);
  check_hash(h.last_block_id.hash, `${field}.last_block_id.hash`);
  check_hash(h.last_block_id.part_set_header.hash, `${field}.last_block_id.part_set_header.hash`);
  for (const name of HEADER_HASH_FIELDS) check_hash(h[name], `${field}.${name}`);
  check_bytes(h.app_hash, COMET_APP_HASH_BYTES_MAX, `${field}.app_hash`);
  if (!(h.proposer_address instanceof Uint8Array) || h.proposer_address.length !== 20)
    throw new CometFormatError(`${field}.proposer_address`, '20 bytes');
}

/**
 * Checks one signature slot as `CommitSig.ValidateBasic` (`types/block.go`) does: a known flag;
 * an absent slot has no address, Go's zero time and no signature; a commit or nil vote has a
 * 20-byte address and (Ed25519) a 64-byte signature. Throws CometFormatError naming the field.
 */
export function check_commit_sig(s: CometCommitSig, field: string): void {
  if (typeof s !== 'object' || s === null) throw new CometFormatError(field, 'a commit signature');
  const flag = s.block_id_flag;
  if (flag !== BLOCK_ID_FLAG.ABSENT && flag !== BLOCK_ID_FLAG.COMMIT && flag !== BLOCK_ID_FLAG.NIL)
    throw new CometFormatError(`${field}.block_id_flag`, '1 (absent), 2 (commit) or 3 (nil)');
  if (!(s.validator_address instanceof Uint8Array) || !(s.signature instanceof Uint8Array))
    throw new CometFormatError(field, 'a commit signature with byte fields');
  check_time(s.timestamp, `${field}.timestamp`);
  if (flag === BLOCK_ID_FLAG.ABSENT) {
    if (s.validator_address.length !== 0)
      throw new CometFormatError(`${field}.validator_address`, 'empty when absent');
    if (!is_zero_time(s.timestamp))
      throw new CometFormatError(`${field}.timestamp`, '0001-01-01T00:00:00Z when absent');
    if (s.signature.length !== 0) throw new CometFormatError(`${field}.signature`, 'empty when absent');
    return;
  }
  if (s.validator_address.length !== 20) throw new CometFormatError(`${field}.validator_address`, '20 bytes');
  if (s.signature.length !== 64) throw new CometFormatError(`${field}.signature`, '64 bytes (Ed25519)');
}

/**
 * Checks a commit's shape as `Commit.ValidateBasic` (`types/block.go`) does for a height of 1 or
 * more: round ≥ 0, a block id that is not zero, 1 to {@link COMET_SIGNATURES_MAX} signature
 * slots, each as {@link check_commit_sig} says. Throws CometFormatError naming the field.
 */
export function check_commit(c: CometCommit, field = 'commit'): void {
  if (typeof c !== 'object' || c === null) throw new CometFormatError(field, 'a commit');
  check_bigint(c.height, 1n, INT64_MAX, `${field}.height`);
  if (!Number.isSafeInteger(c.round) || c.round < 0 || c.round > 2 ** 31 - 1)
    throw new CometFormatError(`${field}.round`, 'an integer 0..2^31-1');
  check_block_id(c.block_id, `${field}.block_id`);
  if (is_zero_block_id(c.block_id))
    throw new CometFormatError(`${field}.block_id`, 'not zero (a commit is for a block)');
  if (!Array.isArray(c.signatures) || c.signatures.length === 0 || c.signatures.length > COMET_SIGNATURES_MAX)
    throw new CometFormatError(`${field}.signatures`, `a list of 1 to ${COMET_SIGNATURES_MAX}`);
  c.signatures.forEach((s, i) => {
    check_commit_sig(s, `${field}.signatures[${i}]`);
  });
}
