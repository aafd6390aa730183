/**
 * Consensus data as the validator host uses it. The data every side shares (blocks, votes,
 * commits, the bytes each signature covers, quorum and proposer rules) lives in `protocol/chain.ts`
 * and `protocol/quorum.ts`, where the enclave's light client reads it too; this module re-exports
 * it for the host and adds what only the host needs: the messages validators exchange, evidence,
 * the caching signature check and the cheap link check of a block to its parent.
 * @module
 */

import { to_hex } from '../../protocol/bytes.js';
import {
  type Commit,
  commit_hash,
  type Hex,
  type Proposal,
  txs_hash,
  type UnexecutedHeader,
  type Vote,
  type VoteType,
} from '../../protocol/chain.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { type VerifyHex, verify_hex } from '../../protocol/quorum.js';

export {
  BLOCK_HEADER_KEYS,
  type Block,
  type BlockHeader,
  block_hash,
  type Commit,
  type CommitSig,
  commit_hash,
  exec_sign_bytes,
  GENESIS_PARENT_HASH,
  type Hex,
  type Proposal,
  proposal_sign_bytes,
  txs_hash,
  type UnexecutedHeader,
  type Validator,
  type Vote,
  type VoteType,
  vote_sign_bytes,
} from '../../protocol/chain.js';
export {
  is_quorum,
  proposer_at,
  total_power,
  type VerifyHex,
  verify_commit,
  verify_hex,
} from '../../protocol/quorum.js';

/** Messages validators exchange. */
export type ConsensusMessage = { kind: 'proposal'; proposal: Proposal } | { kind: 'vote'; vote: Vote };

/** Two conflicting signed votes (or proposals) by one validator for the same height, round and step. */
export interface Evidence {
  kind: 'duplicate_vote' | 'duplicate_proposal';
  validator: Hex;
  height: number;
  round: number;
  step: VoteType | 'proposal';
  a: Hex | null;
  b: Hex | null;
  signature_a: Hex;
  signature_b: Hex;
}

/**
 * {@link verify_hex} that remembers the signatures it found valid (bounded, oldest dropped
 * first), keyed by public key, signature and the whole message: a validator verifies each
 * precommit when it arrives and again inside the next block's `last_commit`, and peers re-send
 * votes. Only successes are kept, and only for the exact message, so an answer from the cache is
 * the answer Ed25519 would give. Host side only: the enclave's light client verifies for itself.
 */
export function cached_verify_hex(entries_max = 4096): VerifyHex {
  if (!Number.isSafeInteger(entries_max) || entries_max < 1)
    throw new RangeError('entries_max must be a positive integer');
  const valid = new Set<string>();
  return (p, signature, message, pubkey) => {
    if (typeof signature !== 'string' || typeof pubkey !== 'string') return false;
    const key = `${pubkey}:${signature}:${to_hex(message)}`;
    if (valid.has(key)) return true;
    if (!verify_hex(p, signature, message, pubkey)) return false;
    if (valid.size >= entries_max) valid.delete(valid.values().next().value as string);
    valid.add(key);
    return true;
  };
}

/**
 * Why a block (or a proposer's preview of one) does not link to `expected`: its chain, height,
 * rightful proposer, parent hash, a time after the parent's, and the hashes of its transactions
 * and last commit. Null when it links. Checks only what is cheap and needs no signature; the
 * caller verifies the last commit (the consensus engine) or leaves it to the enclave's light
 * client (previews).
 */
export function block_link_error(
  p: CryptoProvider,
  block: { header: UnexecutedHeader; txs: readonly string[]; last_commit: Commit | null },
  expected: {
    chain_id: string;
    height: number;
    proposer: Hex;
    parent_hash: Hex;
    parent_time_ms: number | null;
  },
): string | null {
  const h = block.header;
  if (h.chain_id !== expected.chain_id) return 'chain_id';
  if (h.height !== expected.height) return 'height';
  if (h.proposer !== expected.proposer) return 'proposer';
  if (h.prev_block_hash !== expected.parent_hash) return 'prev_block_hash';
  if (expected.parent_time_ms !== null && !(h.time_ms > expected.parent_time_ms))
    return 'time_ms not after parent';
  try {
    if (h.txs_hash !== txs_hash(p, block.txs)) return 'txs_hash';
  } catch {
    return 'txs not canonical JSON text';
  }
  if (h.last_commit_hash !== commit_hash(p, block.last_commit)) return 'last_commit_hash';
  return null;
}
