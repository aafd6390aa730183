/**
 * Conflicting versions of this validator's own messages, for the equivocating behaviours.
 *
 * Blocks come in pairs per proposal: version A is the block as proposed, version B the same block
 * one millisecond later (`header.time_ms + 1`), its exec signature re-signed when the block is
 * this validator's own (so it is just as valid to an honest validator: both execute alike unless
 * a contract reads the block time), re-hashed, and proposed under a second proposal signature.
 * Honest validators that see different versions split.
 *
 * A vote for either version of a known pair becomes two votes: for version A (to half A) and for
 * version B (to half B). A nil vote becomes nil for half A and, for half B, a vote for version B
 * of the pair proposed at that height and round, if any. A vote for a block outside any pair
 * conflicts with a vote for that block one millisecond later (a block nobody holds).
 *
 * Fellow equivocators (`colluders`) learn the pairs of each other's proposals: their copy of a
 * proposal carries version B alongside ({@link with_pair}), which their decorator reads and strips
 * before the node sees the message ({@link Conflicts.observe}), so that all of them vote for the
 * same version B. Bounded: the last {@link KEEP_HEIGHTS} heights, at most {@link BLOCKS_MAX} blocks.
 * @module
 */

import {
  type Block,
  type BlockHeader,
  block_hash,
  exec_sign_bytes,
  type Hex,
  type Proposal,
  proposal_sign_bytes,
  type Vote,
  vote_sign_bytes,
} from '../../node/consensus/types.js';
import { to_hex, utf8 } from '../../protocol/bytes.js';
import type { Checked } from './context.js';
import { is_proposal_body } from './messages.js';

/** Heights below the highest seen minus this are forgotten. */
export const KEEP_HEIGHTS = 4;
/** Most blocks remembered (the oldest go first). */
export const BLOCKS_MAX = 4096;

/** The field of a proposal message to a colluder that carries version B (simulation only). */
export const PAIR_FIELD = 'sim_conflicting';

interface Pair {
  height: number;
  a: Hex;
  b: Hex;
}

/** A proposal message for a colluder: version A, with version B alongside. */
export function with_pair(a: Proposal, b: Proposal): unknown {
  return { kind: 'proposal', proposal: a, [PAIR_FIELD]: b };
}

/** The two votes of a vote: for half A and for half B (null: the vote as it is goes to both). */
export interface VotePair {
  a: Vote;
  b: Vote | null;
}

/** Tracks blocks and pairs seen, and signs conflicting versions of own proposals and votes. */
export class Conflicts {
  readonly #c: Checked;
  /** Headers of blocks seen in proposals, by hash. */
  readonly #headers = new Map<Hex, { height: number; header: BlockHeader }>();
  /** The pair of each version's hash (both hashes map to it). */
  readonly #pairs = new Map<Hex, Pair>();
  /** The pair proposed at `${height}/${round}`. */
  readonly #at = new Map<string, Pair>();
  #top = 0;

  constructor(c: Checked) {
    this.#c = c;
  }

  /**
   * Reads an incoming body: remembers the block of a proposal (anyone's) and the pair a colluder
   * sent. Returns the body the node should see: without the pair field (junk passes as it is).
   */
  observe(body: unknown): unknown {
    if (!is_proposal_body(body)) return body;
    const a = this.#remember(body.proposal);
    const record = body as unknown as Record<string, unknown>;
    if (!(PAIR_FIELD in record)) return body;
    const other = record[PAIR_FIELD] as Proposal;
    const b = this.#remember(other);
    const same_place =
      other?.validator === body.proposal.validator &&
      other?.height === body.proposal.height &&
      other?.round === body.proposal.round;
    if (a !== null && b !== null && a !== b && same_place)
      this.#pair(body.proposal.height, body.proposal.round, a, b);
    return { kind: 'proposal', proposal: body.proposal };
  }

  /** Version B of own proposal `pr` (version A), signed with the secret key. */
  proposal(pr: Proposal): Proposal {
    const { p, chain_id, secret_key } = this.#c.ctx;
    const a = block_hash(p, pr.block.header);
    const known = this.#pairs.get(a);
    let block: Block;
    if (known !== undefined && known.a === a) {
      // Re-sent (rebroadcast): the same version B again.
      block = { ...pr.block, header: this.#headers.get(known.b)?.header ?? this.#later(pr.block.header) };
    } else block = { ...pr.block, header: this.#later(pr.block.header) };
    const b = block_hash(p, block.header);
    this.#remember(pr);
    this.#headers.set(b, { height: pr.height, header: block.header });
    this.#pair(pr.height, pr.round, a, b);
    const bytes = proposal_sign_bytes(chain_id, {
      height: pr.height,
      round: pr.round,
      pol_round: pr.pol_round,
      block_hash: b,
    });
    return { ...pr, block, signature: to_hex(p.ed25519_sign(secret_key, bytes)) };
  }

  /** The votes for half A and half B of own vote `v` (see the module comment). */
  vote(v: Vote): VotePair {
    if (v.block_hash === null) {
      const pair = this.#at.get(`${v.height}/${v.round}`);
      return { a: v, b: pair === undefined ? null : this.#vote_for(v, pair.b) };
    }
    const pair = this.#pairs.get(v.block_hash);
    if (pair !== undefined) return { a: this.#vote_for(v, pair.a), b: this.#vote_for(v, pair.b) };
    const known = this.#headers.get(v.block_hash);
    const { p } = this.#c.ctx;
    const other =
      known !== undefined
        ? block_hash(p, { ...known.header, time_ms: known.header.time_ms + 1 })
        : to_hex(p.sha256(utf8(`cloister/sim/equivocate\n${v.block_hash}`)));
    return { a: v, b: this.#vote_for(v, other) };
  }

  /** `v` for `hash`: `v` itself when it already is, else re-signed with the secret key. */
  #vote_for(v: Vote, hash: Hex): Vote {
    if (v.block_hash === hash) return v;
    const { p, chain_id, secret_key } = this.#c.ctx;
    const bytes = vote_sign_bytes(chain_id, {
      type: v.type,
      height: v.height,
      round: v.round,
      block_hash: hash,
    });
    return { ...v, block_hash: hash, signature: to_hex(p.ed25519_sign(secret_key, bytes)) };
  }

  /** `header` one millisecond later, its exec signature re-signed if the block is this validator's. */
  #later(header: BlockHeader): BlockHeader {
    const later = { ...header, time_ms: header.time_ms + 1 };
    if (header.proposer !== this.#c.self) return later;
    const { p, secret_key } = this.#c.ctx;
    return { ...later, exec_signature: to_hex(p.ed25519_sign(secret_key, exec_sign_bytes(later))) };
  }

  /** Remembers the block of `pr`; its hash, or null for a malformed one. */
  #remember(pr: Proposal): Hex | null {
    const height = pr?.height;
    const header = pr?.block?.header;
    if (!Number.isSafeInteger(height) || typeof header?.time_ms !== 'number') return null;
    let hash: Hex;
    try {
      hash = block_hash(this.#c.ctx.p, header);
    } catch {
      return null; // a malformed header: nothing to equivocate about
    }
    if (height > this.#top) this.#prune(height);
    this.#headers.set(hash, { height, header });
    while (this.#headers.size > BLOCKS_MAX) this.#headers.delete(this.#headers.keys().next().value as Hex);
    return hash;
  }

  #pair(height: number, round: number, a: Hex, b: Hex): void {
    const pair = { height, a, b };
    this.#pairs.set(a, pair);
    this.#pairs.set(b, pair);
    const key = `${height}/${round}`;
    if (!this.#at.has(key)) this.#at.set(key, pair);
    while (this.#pairs.size > 2 * BLOCKS_MAX) this.#pairs.delete(this.#pairs.keys().next().value as Hex);
    while (this.#at.size > BLOCKS_MAX) this.#at.delete(this.#at.keys().next().value as string);
  }

  #prune(height: number): void {
    this.#top = height;
    const floor = height - KEEP_HEIGHTS;
    for (const [hash, known] of this.#headers) if (known.height < floor) this.#headers.delete(hash);
    for (const [hash, pair] of this.#pairs) if (pair.height < floor) this.#pairs.delete(hash);
    for (const [key, pair] of this.#at) if (pair.height < floor) this.#at.delete(key);
  }
}
