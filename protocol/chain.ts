/**
 * The chain's data: blocks, headers, commits, votes and proposals, and the exact bytes each hash
 * and signature covers. One definition for the validator host (consensus, store, sync) and the
 * enclave's light client, so both sides hash and sign the same bytes. The node's consensus notes
 * (docs/consensus.md) describe how these are used; protocol.md fixes only what clients see (§6
 * `GET /v1/blocks/{height}` serves the header and commit as they are here).
 * @module
 */

import { concat, to_hex, utf8 } from './bytes.js';
import { jcs } from './jcs.js';
import type { CryptoProvider } from './provider.js';

/** 64 lowercase hex chars: a hash or an Ed25519 public key (protocol.md §1). */
export type Hex = string;

/** The hash a block at height 1 names as its parent: 64 zeros. */
export const GENESIS_PARENT_HASH: Hex = '0'.repeat(64);

/** A validator: its Ed25519 consensus public key and voting power. */
export interface Validator {
  pubkey: Hex;
  power: number;
}

/** What a block commits to. `result_hash` is the proposer's enclave result hash for these txs. */
export interface BlockHeader {
  chain_id: string;
  height: number;
  round: number;
  /** Proposer's block time; > the parent's, bounded by validators' clocks (see docs/consensus.md). */
  time_ms: number;
  /** The proposer's validator pubkey. */
  proposer: Hex;
  prev_block_hash: Hex;
  /** `hex(H(utf8(jcs(txs))))`. */
  txs_hash: Hex;
  /** `hex(H(utf8(jcs(last_commit))))`, or 64 zeros at height 1. */
  last_commit_hash: Hex;
  result_hash: Hex;
  /**
   * The proposer's Ed25519 signature over `exec_sign_bytes(header)` (the header without
   * `result_hash` and this field), made before execution: the enclave executes a block only with
   * it (the enclave's light client, docs/enclave.md), and only then is result_hash known.
   */
  exec_signature: string;
}

/** The exact keys of a BlockHeader, in declaration order (shape checks use this one list). */
export const BLOCK_HEADER_KEYS = [
  'chain_id',
  'height',
  'round',
  'time_ms',
  'proposer',
  'prev_block_hash',
  'txs_hash',
  'last_commit_hash',
  'result_hash',
  'exec_signature',
] as const satisfies readonly (keyof BlockHeader)[];

/** A header before execution: what the proposer signs for the enclaves. */
export type UnexecutedHeader = Omit<BlockHeader, 'result_hash' | 'exec_signature'>;

/** A precommit signature inside a commit. */
export interface CommitSig {
  validator: Hex;
  signature: Hex;
}

/** Precommits of more than 2/3 of the voting power for one block at one height and round. */
export interface Commit {
  height: number;
  round: number;
  block_hash: Hex;
  signatures: CommitSig[];
}

/** A block: header, transactions (exact JSON texts) and the commit of its parent. */
export interface Block {
  header: BlockHeader;
  txs: string[];
  last_commit: Commit | null;
}

/** The two voting steps of a round. */
export type VoteType = 'prevote' | 'precommit';

/** A signed prevote or precommit; `block_hash` null is a vote for nil. */
export interface Vote {
  type: VoteType;
  height: number;
  round: number;
  block_hash: Hex | null;
  validator: Hex;
  signature: Hex;
}

/** A signed proposal of a block for a height and round (`pol_round` -1 unless re-proposing a locked block). */
export interface Proposal {
  height: number;
  round: number;
  pol_round: number;
  block: Block;
  validator: Hex;
  signature: Hex;
}

function domain(prefix: string, value: unknown): Uint8Array {
  return concat(utf8(prefix), utf8(jcs(value)));
}

/** `hex(H(utf8("cloister/block/v1\n") ‖ utf8(jcs(header))))`. */
export function block_hash(p: CryptoProvider, header: BlockHeader): Hex {
  return to_hex(p.sha256(domain('cloister/block/v1\n', header)));
}

/** Bytes an exec signature covers: `"cloister/exec/v1\n" ‖ jcs(header without result_hash and exec_signature)`. */
export function exec_sign_bytes(header: UnexecutedHeader | BlockHeader): Uint8Array {
  const { chain_id, height, round, time_ms, proposer, prev_block_hash, txs_hash, last_commit_hash } = header;
  return domain('cloister/exec/v1\n', {
    chain_id,
    height,
    round,
    time_ms,
    proposer,
    prev_block_hash,
    txs_hash,
    last_commit_hash,
  });
}

/** `hex(H(utf8(jcs(txs))))`. */
export function txs_hash(p: CryptoProvider, txs: readonly string[]): Hex {
  return to_hex(p.sha256(utf8(jcs(txs))));
}

/** `hex(H(utf8(jcs(commit))))`, or 64 zeros for no commit. */
export function commit_hash(p: CryptoProvider, commit: Commit | null): Hex {
  return commit === null ? GENESIS_PARENT_HASH : to_hex(p.sha256(utf8(jcs(commit))));
}

/** Bytes a vote's signature covers: `"cloister/vote/v1\n" ‖ jcs({chain_id, type, height, round, block_hash})`. */
export function vote_sign_bytes(chain_id: string, vote: Omit<Vote, 'validator' | 'signature'>): Uint8Array {
  const { type, height, round, block_hash } = vote;
  return domain('cloister/vote/v1\n', { chain_id, type, height, round, block_hash });
}

/** Bytes a proposal's signature covers: `"cloister/proposal/v1\n" ‖ jcs({chain_id, height, round, pol_round, block_hash})`. */
export function proposal_sign_bytes(
  chain_id: string,
  proposal: { height: number; round: number; pol_round: number; block_hash: Hex },
): Uint8Array {
  const { height, round, pol_round, block_hash } = proposal;
  return domain('cloister/proposal/v1\n', { chain_id, height, round, pol_round, block_hash });
}
