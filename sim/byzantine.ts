/**
 * Byzantine validators for the simulator: decorators over a node's peer network or enclave
 * (node/modules.ts seams). The consensus engine has no code path that misbehaves; a byzantine
 * validator is an honest node whose messages or results are changed on their way out. Every
 * decorator is deterministic: time comes from `ctx.clock` and chance from `ctx.rng`.
 *
 * | behaviour            | seam    | what it does                                                     |
 * |----------------------|---------|------------------------------------------------------------------|
 * | `wrong-results`      | enclave | every `execute_block` result hash altered                        |
 * | `wrong-results-some` | enclave | altered if ≥ 1 tx and `sha256(utf8(txs[0]))` ends in an odd byte |
 * | `forge-callee`       | enclave | callees of contract messages handed in forged (forge_callee.ts)  |
 * | `equivocate`         | network | own proposals and votes sent as is and conflicting, to all       |
 * | `equivocate-split`   | network | as is to half A, the conflicting version to half B               |
 * | `silent`             | network | sends nothing, answers no request; still receives and syncs      |
 * | `withhold-votes`     | network | sends proposals but no votes                                     |
 * | `delay-votes`        | network | each vote leaves `ctx.delay_ms` late (default 1 s)               |
 * | `withhold-block`     | network | its own proposals go to half A only                              |
 * | `garbage`            | network | after each message, a malformed or mutated one (garbage.ts)      |
 *
 * Halves: the other validators' pubkeys (less `ctx.colluders`) sorted; half A is the first
 * `ceil(n / 2)`, half B the rest, or `ctx.half_b` (every connected peer outside half B is in half
 * A). The conflicting version of an own proposal carries the same block one millisecond later
 * (`header.time_ms + 1`, exec signature re-signed, re-hashed, re-signed with
 * `proposal_sign_bytes`); a vote for a block becomes a vote for version A to half A and for
 * version B to half B; a nil vote stays nil for half A and is, for half B, a vote for version B of
 * the round's proposal (as is when none was seen). Fellow equivocators named in `ctx.colluders`
 * learn each other's version B, so that all of them vote for the same one: with more than a
 * third of the power they can make the halves commit different blocks. See
 * sim/byzantine/conflict.ts. Requests, relayed votes, transactions and previews pass unchanged
 * except where the table says otherwise.
 * @module
 */

import type { Enclave } from '../enclave/api.js';
import type { PeerNetwork } from '../node/modules.js';
import type { CryptoProvider } from '../protocol/provider.js';
import { type ByzantineContext, check_context } from './byzantine/context.js';
import { delay_votes_network } from './byzantine/delay_votes.js';
import { equivocate_network } from './byzantine/equivocate.js';
import { forge_callee_enclave } from './byzantine/forge_callee.js';
import { garbage_network } from './byzantine/garbage.js';
import { silent_network } from './byzantine/silent.js';
import { withhold_block_network, withhold_votes_network } from './byzantine/withhold.js';
import { altered_enclave, altered_here } from './byzantine/wrong_results.js';

export { type ByzantineContext, DEFAULT_VOTE_DELAY_MS } from './byzantine/context.js';
export { GARBAGE_KINDS, type GarbageKind, garbage_body } from './byzantine/garbage.js';
export { altered_here } from './byzantine/wrong_results.js';

/** A byzantine behaviour of a simulated validator (see the table of this module). */
export type ByzantineBehaviour =
  | 'wrong-results'
  | 'wrong-results-some'
  | 'forge-callee'
  | 'equivocate'
  | 'equivocate-split'
  | 'silent'
  | 'withhold-votes'
  | 'delay-votes'
  | 'withhold-block'
  | 'garbage';

/** Every {@link ByzantineBehaviour}, in the order of the table of this module. */
export const BYZANTINE_BEHAVIOURS: readonly ByzantineBehaviour[] = Object.freeze([
  'wrong-results',
  'wrong-results-some',
  'forge-callee',
  'equivocate',
  'equivocate-split',
  'silent',
  'withhold-votes',
  'delay-votes',
  'withhold-block',
  'garbage',
]);

/** The behaviours that decorate the enclave; the others decorate the network. */
const ENCLAVE_BEHAVIOURS: readonly ByzantineBehaviour[] = [
  'wrong-results',
  'wrong-results-some',
  'forge-callee',
];

/** Whether `x` names a {@link ByzantineBehaviour}. */
export function is_byzantine_behaviour(x: unknown): x is ByzantineBehaviour {
  return typeof x === 'string' && (BYZANTINE_BEHAVIOURS as readonly string[]).includes(x);
}

function check_behaviour(behaviour: unknown): asserts behaviour is ByzantineBehaviour {
  if (!is_byzantine_behaviour(behaviour)) throw new RangeError(`unknown behaviour ${String(behaviour)}`);
}

/**
 * `inner` as a validator with `behaviour` uses it. An enclave behaviour returns `inner` itself:
 * call both this and {@link byzantine_enclave}. Throws RangeError for an unknown behaviour and
 * TypeError/RangeError for a bad `ctx`.
 */
export function byzantine_network(
  behaviour: ByzantineBehaviour,
  inner: PeerNetwork,
  ctx: ByzantineContext,
): PeerNetwork {
  check_behaviour(behaviour);
  if (ENCLAVE_BEHAVIOURS.includes(behaviour)) return inner;
  const c = check_context(ctx);
  switch (behaviour) {
    case 'equivocate':
      return equivocate_network(inner, c, false);
    case 'equivocate-split':
      return equivocate_network(inner, c, true);
    case 'silent':
      return silent_network(inner);
    case 'withhold-votes':
      return withhold_votes_network(inner);
    case 'delay-votes':
      return delay_votes_network(inner, c);
    case 'withhold-block':
      return withhold_block_network(inner, c);
    case 'garbage':
      return garbage_network(inner, c);
    default:
      throw new RangeError(`unknown behaviour ${String(behaviour)}`);
  }
}

/**
 * `inner` as a validator with `behaviour` uses it: altered results for `wrong-results` and
 * `wrong-results-some`, `inner` itself for a network behaviour. Throws RangeError for an unknown
 * behaviour.
 */
export function byzantine_enclave(
  behaviour: ByzantineBehaviour,
  inner: Enclave,
  ctx: { p: CryptoProvider },
): Enclave {
  check_behaviour(behaviour);
  if (behaviour === 'wrong-results') return altered_enclave(inner, () => true);
  if (behaviour === 'wrong-results-some')
    return altered_enclave(inner, (input) => altered_here(ctx.p, input));
  if (behaviour === 'forge-callee') return forge_callee_enclave(inner);
  return inner;
}

/** The decorators of a node started with `behaviour` (node/node.ts `NodeDecorators`). */
export interface ByzantineDecorators {
  network: (inner: PeerNetwork, ctx: ByzantineContext) => PeerNetwork;
  enclave: (inner: Enclave, ctx: { p: CryptoProvider }) => Enclave;
}

/** Both decorators of `behaviour`, ready for `ValidatorNode.start(home, { decorate })`. */
export function byzantine_decorators(behaviour: ByzantineBehaviour): ByzantineDecorators {
  check_behaviour(behaviour);
  return {
    network: (inner, ctx) => byzantine_network(behaviour, inner, ctx),
    enclave: (inner, ctx) => byzantine_enclave(behaviour, inner, ctx),
  };
}
