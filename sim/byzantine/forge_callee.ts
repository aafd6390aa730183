/**
 * `forge-callee`: an enclave decorator for a host that forges what crosses it while a block runs
 * (protocol.md §9): every contract the block's input carries but no transaction names (a callee
 * the enclave asked for) is handed in under another code when the input holds one, or with a
 * forged binding otherwise, and its sealed state altered (the last byte of each value flipped).
 * The enclave must refuse such an input (BAD_INPUT or STATE_CORRUPT, never a result), so this
 * validator cannot execute blocks with contract messages that reach an unnamed contract, while
 * blocks without them run as usual. Queries pass unchanged.
 * @module
 */

import type { BlockInput, Enclave } from '../../enclave/api.js';
import { from_base64, to_base64 } from '../../protocol/bytes.js';
import { MalformedTxError, parse_tx_json } from '../../protocol/tx.js';
import { forward_enclave } from './forward.js';

/** The contracts a block's transactions name (execute targets). */
function named(input: BlockInput): Set<string> {
  const out = new Set<string>();
  for (const raw of input.txs) {
    try {
      const msg = parse_tx_json(raw).body.msg;
      if (msg.type === 'execute') out.add(msg.contract);
    } catch (error) {
      if (!(error instanceof MalformedTxError)) throw error;
    }
  }
  return out;
}

/** `input` with every callee forged as the module doc says; the same input if it has none. */
export function forge_callees(input: BlockInput): BlockInput {
  const callees = Object.keys(input.contracts).filter((a) => !named(input).has(a));
  if (callees.length === 0) return input;
  const forged = structuredClone(input);
  for (const address of callees) {
    const info = forged.contracts[address]!;
    const other = Object.keys(forged.codes).find((id) => id !== String(info.code_id));
    if (other !== undefined) {
      // Another code under the callee's address, its binding kept: the pairing a host would forge.
      info.code_id = Number(other);
      info.code_hash =
        Object.values(forged.contracts).find((c) => c.code_id === info.code_id)?.code_hash ?? info.code_hash;
    } else {
      info.binding = `${info.binding.slice(0, 63)}${info.binding.endsWith('0') ? '1' : '0'}`;
    }
    forged.state[address] = (forged.state[address] ?? []).map(([key, value]) => {
      const bytes = from_base64(value);
      bytes[bytes.length - 1]! ^= 1;
      return [key, to_base64(bytes)];
    });
  }
  return forged;
}

/** `enclave` whose block inputs have their callees forged. */
export function forge_callee_enclave(enclave: Enclave): Enclave {
  return forward_enclave(enclave, {
    execute_block: (input) => enclave.execute_block(forge_callees(input)),
  });
}
