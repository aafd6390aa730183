/**
 * `wrong-results` and `wrong-results-some`: an enclave decorator whose block results are altered
 * (the last byte of `result_hash` changed), so this validator proposes blocks no honest validator
 * accepts and rejects every honest block it should execute alike. `wrong-results` alters every
 * result; `wrong-results-some` only the results of blocks chosen by {@link altered_here}: blocks
 * with at least one transaction whose first transaction text hashes (SHA-256 of its UTF-8) to a
 * digest with its lowest bit set. Every other call (queries included) goes to the inner enclave
 * as it is.
 * @module
 */

import type { BlockInput, Enclave } from '../../enclave/api.js';
import { utf8 } from '../../protocol/bytes.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { forward_enclave } from './forward.js';

/**
 * The `wrong-results-some` rule: true for a block with ≥ 1 transaction where
 * `sha256(utf8(txs[0]))` has the low bit of its last byte set (about half of all non-empty blocks,
 * the same at every node).
 */
export function altered_here(p: CryptoProvider, input: Pick<BlockInput, 'txs'>): boolean {
  const first = input.txs[0];
  if (first === undefined) return false;
  const digest = p.sha256(utf8(first));
  return ((digest[digest.length - 1] ?? 0) & 1) === 1;
}

/**
 * `enclave` whose `execute_block` result hash is altered when `when(input)` holds. A plain
 * decorator, so each call runs with `enclave` itself as `this` (a class with private fields
 * refuses any other receiver).
 */
export function altered_enclave(enclave: Enclave, when: (input: BlockInput) => boolean): Enclave {
  return forward_enclave(enclave, {
    execute_block: async (input) => {
      const answer = await enclave.execute_block(input);
      if (!answer.ok || !when(input)) return answer;
      const hash = answer.value.result_hash;
      const wrong = `${hash.slice(0, 62)}${hash.endsWith('00') ? 'ff' : '00'}`;
      return { ok: true, value: { ...answer.value, result_hash: wrong } };
    },
  });
}
