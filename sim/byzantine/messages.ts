/**
 * Recognising this validator's own consensus messages among the bodies a node sends (it also
 * relays other validators' votes, and sends transactions and previews).
 * @module
 */

import type { Hex, Proposal, Vote } from '../../node/consensus/types.js';

/** Whether `body` looks like a vote message (`{kind: 'vote', vote: {...}}`), anyone's. */
export function is_vote_body(body: unknown): body is { kind: 'vote'; vote: Vote } {
  const b = body as { kind?: unknown; vote?: unknown } | null;
  return (
    typeof b === 'object' && b !== null && b.kind === 'vote' && typeof b.vote === 'object' && b.vote !== null
  );
}

/** Whether `body` looks like a proposal message, anyone's. */
export function is_proposal_body(body: unknown): body is { kind: 'proposal'; proposal: Proposal } {
  const b = body as { kind?: unknown; proposal?: unknown } | null;
  return (
    typeof b === 'object' &&
    b !== null &&
    b.kind === 'proposal' &&
    typeof b.proposal === 'object' &&
    b.proposal !== null
  );
}

/** The vote in `body` if it is one signed by `self`, else null. */
export function own_vote(body: unknown, self: Hex): Vote | null {
  return is_vote_body(body) && body.vote.validator === self ? body.vote : null;
}

/** The proposal in `body` if it is one signed by `self`, else null. */
export function own_proposal(body: unknown, self: Hex): Proposal | null {
  return is_proposal_body(body) && body.proposal.validator === self ? body.proposal : null;
}
