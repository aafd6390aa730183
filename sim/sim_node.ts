/**
 * `cloister sim node`: a validator process for simulations (`cloister sim up --byzantine`), the
 * real-world node (node/node.ts) with byzantine decorators (./byzantine.ts) around its network or
 * enclave. Byzantine behaviour lives here, in simulation code; `cloister node start` runs honest
 * nodes only and its engine has no code path that misbehaves.
 * @module
 */

import type { Log } from '../node/modules.js';
import { ValidatorNode } from '../node/node.js';
import { BYZANTINE_BEHAVIOURS, type ByzantineBehaviour, byzantine_decorators } from './byzantine.js';

/** What a simulated validator does: honest, or one of the byzantine behaviours. */
export type NodeBehaviour = 'honest' | ByzantineBehaviour;
/** Every behaviour `--byzantine I:BEHAVIOUR` accepts, `honest` first. */
export const BEHAVIOURS: readonly NodeBehaviour[] = ['honest', ...BYZANTINE_BEHAVIOURS];

/** Starts the validator of `home` with `behaviour` (honest: exactly `cloister node start`). */
export function start_sim_node(
  home: string,
  opts: { behaviour: NodeBehaviour; log: Log },
): Promise<ValidatorNode> {
  if (opts.behaviour === 'honest') return ValidatorNode.start(home, { log: opts.log });
  if (!BYZANTINE_BEHAVIOURS.includes(opts.behaviour))
    throw new RangeError(`unknown behaviour ${opts.behaviour}`);
  return ValidatorNode.start(home, { log: opts.log, decorate: byzantine_decorators(opts.behaviour) });
}
