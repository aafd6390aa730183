/**
 * The double-signing guard: what this validator signed last, and its lock, kept durably so a
 * restarted validator never signs two different things for one height, round and step.
 *
 * The rule (as CometBFT's private validator): signing positions `(height, round, step)` only ever
 * move forward, with steps ordered proposal < prevote < precommit. Asked to sign at a position
 * before the last one: refuse. At the same position: re-use the stored signature if the content is
 * the same, refuse otherwise. After it: sign, and save the new state before the message leaves.
 * @module
 */

import {
  type BlockShapeLimits,
  block_shape_error,
  is_height,
  is_hex64,
  is_round,
  is_signature_hex,
  vote_shape_error,
} from './shapes.js';
import { type Block, type Hex, proposal_sign_bytes, type Vote, vote_sign_bytes } from './types.js';

/** The steps at which a validator signs something. */
export type SignedStep = 'proposal' | 'prevote' | 'precommit';

/** Order of steps inside one round. */
export const SIGNED_STEP_ORDER: Readonly<Record<SignedStep, number>> = Object.freeze({
  proposal: 0,
  prevote: 1,
  precommit: 2,
});

/** The last message this validator signed, and its lock at that moment. */
export interface SignedState {
  height: number;
  round: number;
  step: SignedStep;
  /** The block hash signed for; null for a nil vote. Never null for a proposal. */
  block_hash: Hex | null;
  /** The proposal's pol_round; -1 for votes. */
  pol_round: number;
  /** The signature that left (or was about to leave) this validator. */
  signature: Hex;
  /** For a proposal: its block, so a restarted proposer re-sends the very same proposal. Else null. */
  proposal_block: Block | null;
  /** Round of the lock at `height`, -1 if unlocked. */
  locked_round: number;
  /** The block locked on at `height` (null iff locked_round is -1). */
  locked_block: Block | null;
  /**
   * The prevotes for the locked block in `locked_round` this validator held (its proof of lock),
   * so a restarted validator can show it again: without them nobody may be able to accept the
   * block it stays locked on, and the height stalls. Absent in records written before it existed,
   * and empty when unlocked.
   */
  locked_pol?: Vote[];
}

/** Most prevotes kept as a proof of lock (a validator set has at most 100 validators). */
export const LOCKED_POL_VOTES_MAX = 1000;

/** Durable store of {@link SignedState}: `save` resolves only once the state is durable. */
export interface SignedStateStore {
  load(): Promise<SignedState | null>;
  save(state: SignedState): Promise<void>;
}

/** A signing position. */
export interface SignPosition {
  height: number;
  round: number;
  step: SignedStep;
}

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function compare_position(a: SignPosition, b: SignPosition): number {
  if (a.height !== b.height) return a.height - b.height;
  if (a.round !== b.round) return a.round - b.round;
  return SIGNED_STEP_ORDER[a.step] - SIGNED_STEP_ORDER[b.step];
}

/**
 * The bytes the signature of `s` covers (the vote or proposal signing bytes of types.ts), so a
 * stored state can be checked against a public key outside the engine (e.g. by `reset-signing`).
 */
export function signed_state_sign_bytes(
  chain_id: string,
  s: SignPosition & { block_hash: Hex | null; pol_round: number },
): Uint8Array {
  if (s.step === 'proposal') {
    if (s.block_hash === null) throw new RangeError('a proposal needs a block hash');
    return proposal_sign_bytes(chain_id, {
      height: s.height,
      round: s.round,
      pol_round: s.pol_round,
      block_hash: s.block_hash,
    });
  }
  return vote_sign_bytes(chain_id, {
    type: s.step,
    height: s.height,
    round: s.round,
    block_hash: s.block_hash,
  });
}

/** What the guard allows for a request to sign. */
export type SignDecision =
  | { kind: 'sign' }
  | { kind: 'reuse'; signature: Hex }
  | { kind: 'refuse'; reason: 'regression' | 'conflict' };

/**
 * Decides whether `next` may be signed given the `last` signed state (null: never signed).
 * Pure, so it is tested on its own.
 */
export function check_sign(
  last: SignedState | null,
  next: SignPosition & { block_hash: Hex | null; pol_round: number },
): SignDecision {
  if (last === null) return { kind: 'sign' };
  const order = compare_position(next, last);
  if (order > 0) return { kind: 'sign' };
  if (order < 0) return { kind: 'refuse', reason: 'regression' };
  if (next.block_hash === last.block_hash && next.pol_round === last.pol_round) {
    return { kind: 'reuse', signature: last.signature };
  }
  return { kind: 'refuse', reason: 'conflict' };
}

/** Why `value` is not a SignedState (shape only), or null. */
export function signed_state_error(value: unknown, limits: BlockShapeLimits): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const v = value as Record<string, unknown>;
  const keys = [
    'height',
    'round',
    'step',
    'block_hash',
    'pol_round',
    'signature',
    'proposal_block',
    'locked_round',
    'locked_block',
  ];
  const with_pol = Object.hasOwn(v, 'locked_pol');
  if (Object.keys(v).length !== keys.length + (with_pol ? 1 : 0) || !keys.every((k) => Object.hasOwn(v, k))) {
    return 'keys';
  }
  if (!is_height(v['height'])) return 'height';
  if (!is_round(v['round'])) return 'round';
  if (v['step'] !== 'proposal' && v['step'] !== 'prevote' && v['step'] !== 'precommit') return 'step';
  if (v['block_hash'] !== null && !is_hex64(v['block_hash'])) return 'block_hash';
  if (!is_signature_hex(v['signature'])) return 'signature';
  const pol = v['pol_round'];
  if (!Number.isSafeInteger(pol) || (pol as number) < -1 || (pol as number) >= (v['round'] as number)) {
    return 'pol_round';
  }
  if (v['step'] === 'proposal') {
    if (v['block_hash'] === null) return 'proposal without block_hash';
    if (v['proposal_block'] === null) return 'proposal without its block';
    const e = block_shape_error(v['proposal_block'], limits);
    if (e !== null) return `proposal_block: ${e}`;
  } else if (v['proposal_block'] !== null || pol !== -1) {
    return 'vote with proposal fields';
  }
  const locked_round = v['locked_round'];
  if (!Number.isSafeInteger(locked_round) || (locked_round as number) < -1) return 'locked_round';
  if ((locked_round === -1) !== (v['locked_block'] === null)) return 'locked_round and locked_block disagree';
  if (v['locked_block'] !== null) {
    const e = block_shape_error(v['locked_block'], limits);
    if (e !== null) return `locked_block: ${e}`;
  }
  if (with_pol) {
    const pol_votes = v['locked_pol'];
    if (!Array.isArray(pol_votes) || pol_votes.length > LOCKED_POL_VOTES_MAX) return 'locked_pol';
    for (const vote of pol_votes) {
      const e = vote_shape_error(vote);
      if (e !== null) return `locked_pol: ${e}`;
    }
    if (locked_round === -1 && pol_votes.length > 0) return 'locked_pol without a lock';
    for (const vote of pol_votes as Vote[]) {
      if (vote.type !== 'prevote' || vote.height !== v['height'] || vote.round !== locked_round) {
        return 'locked_pol: not a prevote of the lock';
      }
    }
  }
  return null;
}

/**
 * An in-memory {@link SignedStateStore} (tests and simulations): keeps structured clones, so
 * nothing the engine holds aliases what was "persisted". `saves` counts completed saves.
 */
export class MemorySignedStateStore implements SignedStateStore {
  #state: SignedState | null = null;
  /** Completed saves. */
  saves = 0;

  /** The stored state (a clone), or null. */
  async load(): Promise<SignedState | null> {
    return this.#state === null ? null : structuredClone(this.#state);
  }

  /** Replaces the stored state with a clone of `state`. */
  async save(state: SignedState): Promise<void> {
    this.#state = structuredClone(state);
    this.saves++;
  }

  /** The stored state without cloning (read-only inspection). */
  peek(): Readonly<SignedState> | null {
    return this.#state;
  }
}
