/**
 * Runtime shape checks of consensus data arriving from outside the process (peers, the signed
 * state store). Each returns why the value is malformed, or null if its shape holds. They check
 * shape only (types, lengths, exact key sets, integer ranges); signatures, hashes and links to a
 * parent are the engine's checks.
 * @module
 */

import { BLOCK_HEADER_KEYS } from '../../protocol/chain.js';
import { is_chain_id, is_hex64, is_signature_hex } from '../../protocol/checks.js';

/** Shared predicates, re-exported for this module's existing importers (protocol/checks.ts). */
export { is_hex64, is_signature_hex };

/** Largest round number accepted anywhere: far beyond what growing timeouts ever reach. */
export const ROUND_LIMIT = 1_000_000;

/** Bounds on a block's transactions, so one message cannot exhaust memory or hashing time. */
export interface BlockShapeLimits {
  /** Most transactions in one block. */
  block_txs_max: number;
  /** Longest transaction text, in UTF-16 code units. */
  tx_chars_max: number;
  /** Most signatures in a commit (the validator count). */
  commit_signatures_max: number;
}

/** True for a height: a safe integer ≥ 1. */
export function is_height(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 1;
}

/** True for a round: an integer in [0, ROUND_LIMIT]. */
export function is_round(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= ROUND_LIMIT;
}

function is_record(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** True when `value` is a plain object whose own keys are exactly `keys`. */
function has_exact_keys(value: unknown, keys: readonly string[]): value is Record<string, unknown> {
  if (!is_record(value)) return false;
  const own = Object.keys(value);
  if (own.length !== keys.length) return false;
  for (const key of keys) if (!Object.hasOwn(value, key)) return false;
  return true;
}

const HEADER_KEYS = BLOCK_HEADER_KEYS;

/** Why `value` is not a BlockHeader, or null. */
export function header_shape_error(value: unknown): string | null {
  if (!has_exact_keys(value, HEADER_KEYS)) return 'header keys';
  if (!is_chain_id(value['chain_id'])) return 'header chain_id';
  if (!is_height(value['height'])) return 'header height';
  if (!is_round(value['round'])) return 'header round';
  if (!Number.isSafeInteger(value['time_ms']) || (value['time_ms'] as number) < 0) return 'header time_ms';
  for (const key of ['proposer', 'prev_block_hash', 'txs_hash', 'last_commit_hash', 'result_hash'] as const) {
    if (!is_hex64(value[key])) return `header ${key}`;
  }
  if (!is_signature_hex(value['exec_signature'])) return 'header exec_signature';
  return null;
}

/** Why `value` is not a Commit, or null. */
export function commit_shape_error(value: unknown, limits: BlockShapeLimits): string | null {
  if (!has_exact_keys(value, ['height', 'round', 'block_hash', 'signatures'])) return 'commit keys';
  if (!is_height(value['height'])) return 'commit height';
  if (!is_round(value['round'])) return 'commit round';
  if (!is_hex64(value['block_hash'])) return 'commit block_hash';
  const sigs = value['signatures'];
  if (!Array.isArray(sigs) || sigs.length > limits.commit_signatures_max) return 'commit signatures';
  for (const sig of sigs as unknown[]) {
    if (!has_exact_keys(sig, ['validator', 'signature'])) return 'commit signature keys';
    if (!is_hex64(sig['validator']) || !is_signature_hex(sig['signature'])) return 'commit signature';
  }
  return null;
}

/** Why `value` is not a Block, or null. */
export function block_shape_error(value: unknown, limits: BlockShapeLimits): string | null {
  if (!has_exact_keys(value, ['header', 'txs', 'last_commit'])) return 'block keys';
  const header_error = header_shape_error(value['header']);
  if (header_error !== null) return header_error;
  const txs = value['txs'];
  if (!Array.isArray(txs) || txs.length > limits.block_txs_max) return 'block txs';
  for (const tx of txs as unknown[]) {
    if (typeof tx !== 'string' || tx.length > limits.tx_chars_max) return 'block tx';
  }
  if (value['last_commit'] !== null) return commit_shape_error(value['last_commit'], limits);
  return null;
}

/** Why `value` is not a Vote, or null. */
export function vote_shape_error(value: unknown): string | null {
  if (!has_exact_keys(value, ['type', 'height', 'round', 'block_hash', 'validator', 'signature'])) {
    return 'vote keys';
  }
  if (value['type'] !== 'prevote' && value['type'] !== 'precommit') return 'vote type';
  if (!is_height(value['height'])) return 'vote height';
  if (!is_round(value['round'])) return 'vote round';
  if (value['block_hash'] !== null && !is_hex64(value['block_hash'])) return 'vote block_hash';
  if (!is_hex64(value['validator'])) return 'vote validator';
  if (!is_signature_hex(value['signature'])) return 'vote signature';
  return null;
}

/** Why `value` is not a Proposal, or null. */
export function proposal_shape_error(value: unknown, limits: BlockShapeLimits): string | null {
  if (!has_exact_keys(value, ['height', 'round', 'pol_round', 'block', 'validator', 'signature'])) {
    return 'proposal keys';
  }
  if (!is_height(value['height'])) return 'proposal height';
  if (!is_round(value['round'])) return 'proposal round';
  const pol = value['pol_round'];
  // pol_round names an earlier round of the same height, or -1 for a fresh block.
  if (!Number.isSafeInteger(pol) || (pol as number) < -1 || (pol as number) >= (value['round'] as number)) {
    return 'proposal pol_round';
  }
  if (!is_hex64(value['validator'])) return 'proposal validator';
  if (!is_signature_hex(value['signature'])) return 'proposal signature';
  return block_shape_error(value['block'], limits);
}
