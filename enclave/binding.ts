/**
 * A contract's binding: the enclave's MAC over its address and code hash, made at instantiate
 * and checked before every call (docs/protocol-notes.md "Contract messages"):
 *
 *   binding = hex(HMAC-SHA256(k_callback, utf8("cloister/contract-binding/v1\n" + address + "\n" + code_hash)))
 *
 * `k_callback` is protocol.md §2's key for contract-to-contract messages. Contract messages never
 * leave the enclave, but the callee's identity does come from the host (its contract record):
 * without the binding a host could name other code for a callee's address and have that code
 * read the caller's message or the callee's state. Deterministic, so every validator stores the
 * same binding, and it enters the block result hash with the new contract.
 * @module
 */

import { equal_bytes, from_hex, to_hex, utf8 } from '../protocol/bytes.js';
import { is_hex64 } from '../protocol/checks.js';
import { system_contract_address } from '../protocol/system.js';
import type { KeyContext } from './context.js';

/** Domain prefix of the binding MAC's message. */
export const BINDING_PREFIX = 'cloister/contract-binding/v1\n';

/** The binding of `address` to `code_hash` under this network's `callback` key. */
export function contract_binding(ctx: KeyContext, address: string, code_hash: string): string {
  return to_hex(ctx.p.hmac_sha256(ctx.keys.callback, utf8(`${BINDING_PREFIX}${address}\n${code_hash}`)));
}

/**
 * Whether `binding` is this enclave's binding of `address` to `code_hash` (compared in constant
 * time), or `address` is the system contract address of `code_hash` (protocol/system.ts): that
 * address is a hash of the code hash, so no host can pair it with other code, and genesis made
 * such contracts without an instantiate to MAC them.
 */
export function binding_holds(ctx: KeyContext, address: string, code_hash: string, binding: string): boolean {
  if (!is_hex64(binding)) return false;
  if (is_hex64(code_hash) && address === system_contract_address(ctx.p, code_hash)) return true;
  return equal_bytes(from_hex(contract_binding(ctx, address, code_hash), 32), from_hex(binding, 32));
}
