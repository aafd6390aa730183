/**
 * Executes a block in the enclave, answering the enclave's lookups (BlockOutput.need): a contract
 * message can reach a contract, or send to an address, that no transaction names, and only the
 * enclave finds out which, by running the block. The host then adds what was asked for from its
 * store and runs the block again, until the enclave has all it needs. Every pass adds at least one
 * contract or balance the input lacked, so the passes are bounded by what the chain holds; the
 * limit below turns a pathological block into a clear error instead of a long stall.
 * @module
 */

import type { BlockInput, BlockOutput, Enclave } from '../enclave/api.js';
import type { LightInput } from '../enclave/light.js';
import type { CometLightInput } from '../enclave/light_comet.js';
import type { Result } from '../enclave/result.js';
import { invariant } from '../protocol/invariant.js';
import type { ChainStore } from './store/chain_store.js';

/** Enclave passes over one block before the host gives up on it (docs/protocol-notes.md). */
export const LOOKUP_PASSES_MAX = 64;

/** A block's execution: the input it finally ran on (what the commit checks) and its output. */
export interface Executed {
  input: BlockInput;
  output: BlockOutput;
}

/**
 * Runs `input` (with `light`, when the enclave's light client must check the header) until the
 * enclave answers a result or fails. A failure is the enclave's own Result, passed on as it is.
 */
export async function execute_with_lookups(
  store: Pick<ChainStore, 'extend_input'>,
  enclave: Pick<Enclave, 'execute_block'>,
  input: BlockInput,
  light?: LightInput | CometLightInput,
): Promise<Result<Executed>> {
  let current = input;
  for (let pass = 0; pass < LOOKUP_PASSES_MAX; pass++) {
    const answer = await enclave.execute_block(light === undefined ? current : { ...current, light });
    if (!answer.ok) return answer;
    const need = answer.value.need;
    if (need === undefined) return { ok: true, value: { input: current, output: answer.value } };
    const before = Object.keys(current.contracts).length + current.no_contract.length;
    const balances_before = Object.keys(current.balances).length;
    current = await store.extend_input(current, need);
    // Each pass must learn something, or the enclave would ask forever for what it was given.
    invariant(
      Object.keys(current.contracts).length + current.no_contract.length > before ||
        Object.keys(current.balances).length > balances_before,
      'the enclave asked again for what it was given',
    );
  }
  return {
    ok: false,
    error: {
      code: 'LIMIT',
      message: `the block needed more than ${LOOKUP_PASSES_MAX} rounds of contract and balance lookups`,
    },
  };
}
