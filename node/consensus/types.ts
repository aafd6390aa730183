/**
 * Consensus data: blocks, proposals, votes, commits, and the exact bytes each signature covers.
 * Shared by the consensus engine, the host's store, sync and the enclave's light client, so every
 * part signs and checks the same bytes.
 * @module
 */

import { concat, from_hex, to_hex, utf8 } from '../../protocol/bytes.js';
import { jcs } from '../../protocol/jcs.js';
import type { CryptoProvider } from '../../protocol/provider.js';

/** 64 lowercase hex chars: a hash or an Ed25519 public key. */
export type Hex = string;

/** The hash a block at height 1 names as its parent. */
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

function domain(prefix: string, value: unknown): Uint8Array {
  return concat(utf8(prefix), utf8(jcs(value)));
}

/** `hex(H(utf8("cloister/block/v1\n") ‖ utf8(jcs(header))))`. */
export function block_hash(p: CryptoProvider, header: BlockHeader): Hex {
  return to_hex(p.sha256(domain('cloister/block/v1\n', header)));
}

/** Bytes an exec signature covers: `"cloister/exec/v1\n" ‖ jcs(header without result_hash and exec_signature)`. */
export function exec_sign_bytes(header: UnexecutedHeader | BlockHeader): Uint8Array {
  const {
    chain_id,
    height,
    round,
    time_ms,
    proposer,
    prev_block_hash,
    txs_hash: txs,
    last_commit_hash,
  } = header;
  return domain('cloister/exec/v1\n', {
    chain_id,
    height,
    round,
    time_ms,
    proposer,
    prev_block_hash,
    txs_hash: txs,
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
  const { height, round, pol_round } = proposal;
  return domain('cloister/proposal/v1\n', {
    chain_id,
    height,
    round,
    pol_round,
    block_hash: proposal.block_hash,
  });
}

/** Verifies an Ed25519 signature given as hex, never throwing. */
export function verify_hex(p: CryptoProvider, signature: Hex, message: Uint8Array, pubkey: Hex): boolean {
  try {
    return p.ed25519_verify(from_hex(signature, 64), message, from_hex(pubkey, 32));
  } catch {
    return false;
  }
}

/** A signature check with {@link verify_hex}'s signature. */
export type VerifyHex = (p: CryptoProvider, signature: Hex, message: Uint8Array, pubkey: Hex) => boolean;

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

/** Total voting power. */
export function total_power(validators: readonly Validator[]): number {
  return validators.reduce((sum, v) => sum + v.power, 0);
}

/** True when `power` is more than two thirds of `total` (integer arithmetic, no rounding). */
export function is_quorum(power: number, total: number): boolean {
  return 3 * power > 2 * total;
}

/**
 * Checks a commit: every signature is a precommit by a distinct validator of the set for
 * `commit.block_hash`, and their power is more than 2/3. Returns why not, or null if it holds.
 */
export function verify_commit(
  p: CryptoProvider,
  chain_id: string,
  validators: readonly Validator[],
  commit: Commit,
  verify: VerifyHex = verify_hex,
): string | null {
  const by_key = new Map(validators.map((v) => [v.pubkey, v.power]));
  const seen = new Set<Hex>();
  let power = 0;
  const bytes = vote_sign_bytes(chain_id, {
    type: 'precommit',
    height: commit.height,
    round: commit.round,
    block_hash: commit.block_hash,
  });
  for (const sig of commit.signatures) {
    const validator_power = by_key.get(sig.validator);
    if (validator_power === undefined)
      return `commit signed by unknown validator ${sig.validator.slice(0, 8)}`;
    if (seen.has(sig.validator)) return 'commit has a validator twice';
    seen.add(sig.validator);
    if (!verify(p, sig.signature, bytes, sig.validator)) return 'commit signature does not verify';
    power += validator_power;
  }
  return is_quorum(power, total_power(validators)) ? null : 'commit lacks 2/3 of the voting power';
}

/**
 * Weighted round-robin proposer (Tendermint's priority algorithm, deterministic): every validator
 * starts at priority 0; for each step, add each validator's power to its priority, pick the
 * highest (ties: lowest pubkey), subtract the total power from the pick. The proposer of
 * (height, round) is the pick at step `(height - 1) + round` counted from genesis.
 * Cost is O(steps × validators); callers cache by height.
 */
export function proposer_at(validators: readonly Validator[], height: number, round: number): Hex {
  if (validators.length === 0) throw new RangeError('empty validator set');
  const sorted = [...validators].sort((a, b) => (a.pubkey < b.pubkey ? -1 : a.pubkey > b.pubkey ? 1 : 0));
  const total = total_power(sorted);
  const steps = height - 1 + round;
  // The sequence is periodic with period `total` (every validator is picked exactly power
  // times per period), so only the remainder needs simulating.
  const remaining = steps % total;
  const priority = new Array<number>(sorted.length).fill(0);
  let pick = 0;
  for (let step = 0; step <= remaining; step++) {
    for (let i = 0; i < sorted.length; i++) priority[i]! += sorted[i]!.power;
    pick = 0;
    for (let i = 1; i < sorted.length; i++) if (priority[i]! > priority[pick]!) pick = i;
    priority[pick]! -= total;
  }
  return sorted[pick]!.pubkey;
}
