/**
 * Per-round bookkeeping of one height: the proposals seen and the prevotes and precommits counted,
 * with their voting power tallied as they arrive. A validator is counted at most once per round and
 * vote type: the first vote counted stays, a different second one is evidence, never a second count.
 * @module
 */

import type { Hex, Proposal, Vote } from './types.js';

/** Tally key of a nil vote: hashes are 64 hex characters, so the empty string never collides. */
const NIL_KEY = '';

/**
 * Distinct values kept per validator, round and vote type. Honest validators sign one; an
 * equivocator's first few are kept (so every node can see the same quorums, below), more are
 * only evidence. Honest votes in one round are for at most the round's (one or two) proposed
 * blocks and nil, so a few suffice.
 */
export const VALUES_PER_VOTER_MAX = 4;

/** What adding a vote did. */
export type AddResult =
  | { kind: 'added' }
  | { kind: 'duplicate' }
  | { kind: 'conflict'; first: Vote; counted: boolean };

/**
 * Votes of one type in one round, with power per block hash (nil included).
 *
 * Counting rule: a validator adds its power at most once to the tally of any one value, and at most
 * once to the total. An equivocator's different votes each count toward their own value, as in the
 * paper's model where a faulty process may send anything to anyone: if the first vote to arrive
 * were the only one counted, nodes that saw an equivocator's votes in different orders would
 * disagree forever on whether a POL exists, and a lock could never be released (a liveness bug,
 * seen in the randomized tests). Safety does not depend on it: two values with more than 2/3 each
 * would need more than 1/3 of the power to sign both, which honest validators never do.
 */
export class VoteTally {
  readonly #by_validator = new Map<Hex, Vote[]>();
  readonly #power_by_key = new Map<string, number>();
  #total_power = 0;

  /** Power of the distinct validators that voted, whatever for. */
  get total_power(): number {
    return this.#total_power;
  }

  /** Counts `vote` (already verified) with the voter's `power`; see the class comment. */
  add(vote: Vote, power: number): AddResult {
    const mine = this.#by_validator.get(vote.validator);
    if (mine === undefined) {
      this.#by_validator.set(vote.validator, [vote]);
      this.#count(vote, power);
      this.#total_power += power;
      return { kind: 'added' };
    }
    const first = mine[0] as Vote;
    if (mine.some((v) => v.block_hash === vote.block_hash)) return { kind: 'duplicate' };
    if (mine.length >= VALUES_PER_VOTER_MAX) return { kind: 'conflict', first, counted: false };
    mine.push(vote);
    this.#count(vote, power);
    return { kind: 'conflict', first, counted: true };
  }

  #count(vote: Vote, power: number): void {
    const key = vote.block_hash ?? NIL_KEY;
    this.#power_by_key.set(key, (this.#power_by_key.get(key) ?? 0) + power);
  }

  /** True if exactly this signature from `validator` is counted already. */
  has_signature(validator: Hex, signature: Hex): boolean {
    return this.#by_validator.get(validator)?.some((v) => v.signature === signature) ?? false;
  }

  /** The vote of `validator` for `block_hash` (null: nil), if counted. */
  vote_for(validator: Hex, block_hash: Hex | null): Vote | undefined {
    return this.#by_validator.get(validator)?.find((v) => v.block_hash === block_hash);
  }

  /** Every counted vote for `block_hash` (null: nil). */
  votes_for(block_hash: Hex | null): Vote[] {
    const out: Vote[] = [];
    for (const mine of this.#by_validator.values()) {
      const vote = mine.find((v) => v.block_hash === block_hash);
      if (vote !== undefined) out.push(vote);
    }
    return out;
  }

  /** Power voting for `block_hash` (null: nil). */
  power_for(block_hash: Hex | null): number {
    return this.#power_by_key.get(block_hash ?? NIL_KEY) ?? 0;
  }

  /** Every value (block hash, or null for nil) holding more than 2/3 of `total`. */
  quorum_values(total: number): (Hex | null)[] {
    const out: (Hex | null)[] = [];
    for (const [key, power] of this.#power_by_key) {
      if (3 * power > 2 * total) out.push(key === NIL_KEY ? null : key);
    }
    return out;
  }
}

/** A proposal accepted for a round, with its block hash computed once. */
export interface SeenProposal {
  proposal: Proposal;
  block_hash: Hex;
}

/** Most proposals kept per round: the one acted on and one conflicting (its block may get decided). */
export const PROPOSALS_PER_ROUND_MAX = 2;

/** Everything seen in one round of one height, and which of the round's one-shot rules have fired. */
export class RoundState {
  /** The first is the proposal acted on; a second, conflicting one is kept for its block. */
  readonly proposals: SeenProposal[] = [];
  readonly prevotes = new VoteTally();
  readonly precommits = new VoteTally();
  /** Validators that sent anything in this round (for the round skip), and their power. */
  readonly #senders = new Set<Hex>();
  #senders_power = 0;
  /** Rules that fire once per round. */
  prevote_timer_set = false;
  precommit_timer_set = false;
  lock_rule_done = false;

  /** Power of the distinct validators that sent anything in this round. */
  get senders_power(): number {
    return this.#senders_power;
  }

  /** Notes that `validator` (of `power`) sent something in this round. */
  add_sender(validator: Hex, power: number): void {
    if (this.#senders.has(validator)) return;
    this.#senders.add(validator);
    this.#senders_power += power;
  }

  /** The proposal of this round whose block hashes to `block_hash`, if one was seen. */
  proposal_for(block_hash: Hex): SeenProposal | undefined {
    return this.proposals.find((p) => p.block_hash === block_hash);
  }
}
