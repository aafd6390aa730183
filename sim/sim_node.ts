/**
 * `cloister sim node`: a validator process for simulations (`cloister sim up --byzantine`), the
 * real-world node (node/node.ts) with byzantine decorators (./byzantine.ts) around its network or
 * enclave. Byzantine behaviour lives here, in simulation code; `cloister node start` runs honest
 * nodes only and its engine has no code path that misbehaves.
 * @module
 */

import type { Enclave } from '../enclave/api.js';
import { type CometNode, start_comet_node } from '../node/abci/node.js';
import { read_genesis } from '../node/genesis.js';
import { home_paths, read_config } from '../node/home.js';
import type { Log } from '../node/modules.js';
import { type NodeDecorators, ValidatorNode } from '../node/node.js';
import { get_provider } from '../protocol/providers/index.js';
import {
  BYZANTINE_BEHAVIOURS,
  type ByzantineBehaviour,
  byzantine_decorators,
  byzantine_enclave,
  byzantine_network,
} from './byzantine.js';

/** What a simulated validator does: honest, or one of the byzantine behaviours. */
export type NodeBehaviour = 'honest' | ByzantineBehaviour;
/** Every behaviour `--byzantine I:BEHAVIOUR` accepts, `honest` first. */
export const BEHAVIOURS: readonly NodeBehaviour[] = ['honest', ...BYZANTINE_BEHAVIOURS];

/**
 * Starts the validator of `home` with `behaviour` (honest: exactly `cloister node start`).
 * `colluders`: indices (in genesis) of fellow equivocators; they learn each other's conflicting
 * blocks, and all split the honest validators the same way (half B: the second half of the
 * honest validators by key), which is what it takes for more than 1/3 to fork them.
 */
export function start_sim_node(
  home: string,
  opts: { behaviour: NodeBehaviour; log: Log; colluders?: readonly number[] },
): Promise<ValidatorNode | CometNode> {
  const comet = read_config(home).engine?.kind === 'cometbft';
  if (opts.behaviour === 'honest')
    return comet ? start_comet_node(home, { log: opts.log }) : ValidatorNode.start(home, { log: opts.log });
  if (!BYZANTINE_BEHAVIOURS.includes(opts.behaviour))
    throw new RangeError(`unknown behaviour ${opts.behaviour}`);
  // Under CometBFT only the enclave is Cloister's to make byzantine: p2p and consensus are CometBFT's.
  if (comet) {
    const behaviour = opts.behaviour;
    const enclave = (inner: Enclave) => byzantine_enclave(behaviour, inner, { p: get_provider('native') });
    return start_comet_node(home, { log: opts.log, enclave });
  }
  const colluders = opts.colluders ?? [];
  const decorate =
    colluders.length === 0
      ? byzantine_decorators(opts.behaviour)
      : colluding(home, opts.behaviour, colluders);
  return ValidatorNode.start(home, { log: opts.log, decorate });
}

/** The decorators of an equivocator colluding with the validators at `colluders` (genesis indices). */
function colluding(
  home: string,
  behaviour: ByzantineBehaviour,
  colluders: readonly number[],
): NodeDecorators {
  const p = get_provider('native');
  const genesis = read_genesis(p, home_paths(home).genesis);
  const keys = genesis.validators.map((v) => v.pubkey);
  for (const i of colluders) {
    if (!Number.isInteger(i) || i < 0 || i >= keys.length) {
      throw new RangeError(`--colluders: validator ${i} does not exist (validators 0..${keys.length - 1})`);
    }
  }
  const fellows = colluders.map((i) => keys[i] as string);
  return {
    network: (inner, ctx) => {
      const self = keys.find((k) => !ctx.peers.includes(k));
      const honest = keys.filter((k) => k !== self && !fellows.includes(k)).sort();
      const half_b = honest.slice(Math.ceil(honest.length / 2));
      const others = fellows.filter((k) => k !== self);
      return byzantine_network(behaviour, inner, { ...ctx, colluders: others, half_b });
    },
    enclave: (inner, ctx) => byzantine_enclave(behaviour, inner, ctx),
  };
}
