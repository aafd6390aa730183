/**
 * System contracts (docs/protocol-notes.md "System contracts"): contracts every network ships at
 * genesis, instantiated there at an address derived from their code hash,
 *
 *   address = hex(H(utf8("cloister/system-contract/v1\n" + code_hash))[0..20])
 *
 * so the address names the code: no host can pair it with other code, and the enclave accepts
 * such a pair without the binding MAC an instantiate makes (enclave/binding.ts). Their state
 * starts empty; they need no instantiate message. `GET /v1/status` lists them under `contracts`
 * and `GET /v1/codes` gives each system code its `contract`. Browser-safe.
 * @module
 */

import { to_hex, utf8 } from './bytes.js';
import { is_hex64 } from './checks.js';
import type { CryptoProvider } from './provider.js';

/** Names of the system contracts, in the order genesis stores them after the reference contracts. */
export const SYSTEM_CONTRACTS = Object.freeze(['directory', 'mailbox', 'stream_acl', 'key_keeper'] as const);

/** One of {@link SYSTEM_CONTRACTS}. */
export type SystemContractName = (typeof SYSTEM_CONTRACTS)[number];

/** The system contracts of a network by name: `GET /v1/status`'s `contracts`. */
export type SystemContracts = Record<SystemContractName, string>;

/** Domain prefix of a system contract's address preimage. */
export const SYSTEM_ADDRESS_PREFIX = 'cloister/system-contract/v1\n';

/** The creator a system contract's record names: no account (20 zero bytes). */
export const SYSTEM_CREATOR = '0'.repeat(40);

/** The binding field of a system contract's record: it has none (64 zeros); its address is its binding. */
export const SYSTEM_BINDING = '0'.repeat(64);

/** Whether `name` is a system contract's name. */
export function is_system_contract_name(name: unknown): name is SystemContractName {
  return typeof name === 'string' && (SYSTEM_CONTRACTS as readonly string[]).includes(name);
}

/** The address of the system contract whose code hash is `code_hash` (64 lowercase hex). */
export function system_contract_address(p: CryptoProvider, code_hash: string): string {
  if (!is_hex64(code_hash)) throw new TypeError('code_hash must be 64 lowercase hex characters');
  return to_hex(p.sha256(utf8(`${SYSTEM_ADDRESS_PREFIX}${code_hash}`)).subarray(0, 20));
}

/**
 * The system contracts among a genesis's codes, by name: what `GET /v1/status` lists as
 * `contracts`. A genesis from before system contracts has none, so this may be partial.
 */
export function system_contracts_of(
  p: CryptoProvider,
  codes: readonly { name?: string | undefined; code_hash: string }[],
): Partial<SystemContracts> {
  const out: Partial<SystemContracts> = {};
  for (const c of codes) {
    if (is_system_contract_name(c.name) && out[c.name] === undefined)
      out[c.name] = system_contract_address(p, c.code_hash);
  }
  return out;
}
