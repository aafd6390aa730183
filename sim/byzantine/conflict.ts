/**
 * Conflicting versions of this validator's own messages, for the equivocating behaviours. The
 * conflicting block of a block is the same block one millisecond later (`header.time_ms + 1`,
 * re-hashed): just as valid to an honest validator, so honest validators that see different
 * versions split. Deterministic, so two equivocators that saw the same block derive the same
 * conflicting block and vote for it consistently.
 *
 * The tracker remembers every block seen in a proposal (its own, and those received) by hash, so
 * a vote for a block can be turned into a vote for that block's conflicting version; and the
 * proposal seen at each (height, round), so a nil vote can become a vote for the conflicting
 * version of the round's proposal. Bounded: the last {@link KEEP_HEIGHTS} heights, at most
 * {@link BLOCKS_MAX} blocks.
 * @module
 */

import {
  type Block,
  type BlockHeader,
  block_hash,
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

interface Known {
  height: number;
  header: BlockHeader;
}

/** The conflicting version of `block`: one millisecond later, otherwise the same. */
export function conflicting_block(block: Block): Block {
  return { ...block, header: { ...block.header, time_ms: block.header.time_ms + 1 } };
}

/** Tracks blocks seen and signs conflicting versions of this validator's own proposals and votes. */
export class Conflicts {
  readonly #c: Checked;
  readonly #blocks = new Map<Hex, Known>();
  /** Hash of the (first) block proposed at `${height}/${round}`. */
  readonly #at = new Map<string, Hex>();
  #top = 0;

  constructor(c: Checked) {
    this.#c = c;
  }

  /** Remembers the block of a proposal body (anyone's; junk is ignored). */
  observe(body: unknown): void {
    if (!is_proposal_body(body)) return;
    const { height, round, block } = body.proposal;
    if (!Number.isSafeInteger(height) || !Number.isSafeInteger(round)) return;
    let hash: Hex;
    try {
      if (typeof block?.header?.time_ms !== 'number') return;
      hash = block_hash(this.#c.ctx.p, block.header);
    } catch {
      return; // a malformed header: nothing to equivocate about
    }
    this.#remember(hash, height, block.header);
    const key = `${height}/${round}`;
    if (!this.#at.has(key)) this.#at.set(key, hash);
  }

  /** The conflicting version of own proposal `pr`, signed with the secret key. */
  proposal(pr: Proposal): Proposal {
    this.observe({ kind: 'proposal', proposal: pr });
    const block = conflicting_block(pr.block);
    const hash = block_hash(this.#c.ctx.p, block.header);
    const bytes = proposal_sign_bytes(this.#c.ctx.chain_id, {
      height: pr.height,
      round: pr.round,
      pol_round: pr.pol_round,
      block_hash: hash,
    });
    return { ...pr, block, signature: this.#sign(bytes) };
  }

  /**
   * A vote conflicting with own vote `v`, signed with the secret key: for a block, a vote for its
   * conflicting version (a made-up hash if the block was never seen); for nil, a vote for the
   * conflicting version of the block proposed at the vote's height and round. Null when `v` is
   * nil and no proposal of that round was seen: then there is nothing to conflict with.
   */
  vote(v: Vote): Vote | null {
    let target: Hex;
    if (v.block_hash !== null) target = this.#conflicting_hash(v.block_hash);
    else {
      const proposed = this.#at.get(`${v.height}/${v.round}`);
      if (proposed === undefined) return null;
      target = this.#conflicting_hash(proposed);
    }
    const bytes = vote_sign_bytes(this.#c.ctx.chain_id, {
      type: v.type,
      height: v.height,
      round: v.round,
      block_hash: target,
    });
    return { ...v, block_hash: target, signature: this.#sign(bytes) };
  }

  #conflicting_hash(hash: Hex): Hex {
    const known = this.#blocks.get(hash);
    const { p } = this.#c.ctx;
    if (known !== undefined) return block_hash(p, { ...known.header, time_ms: known.header.time_ms + 1 });
    return to_hex(p.sha256(utf8(`cloister/sim/equivocate\n${hash}`)));
  }

  #remember(hash: Hex, height: number, header: BlockHeader): void {
    if (height > this.#top) {
      this.#top = height;
      const floor = height - KEEP_HEIGHTS;
      for (const [h, k] of this.#blocks) if (k.height < floor) this.#blocks.delete(h);
      for (const key of this.#at.keys()) if (Number(key.split('/')[0]) < floor) this.#at.delete(key);
    }
    this.#blocks.set(hash, { height, header });
    while (this.#blocks.size > BLOCKS_MAX) {
      const oldest = this.#blocks.keys().next().value as Hex;
      this.#blocks.delete(oldest);
    }
    while (this.#at.size > BLOCKS_MAX) {
      const oldest = this.#at.keys().next().value as string;
      this.#at.delete(oldest);
    }
  }

  #sign(bytes: Uint8Array): Hex {
    return to_hex(this.#c.ctx.p.ed25519_sign(this.#c.ctx.secret_key, bytes));
  }
}
