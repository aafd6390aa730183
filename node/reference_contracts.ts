/**
 * The reference contracts every network ships at genesis (protocol.md §7), in the order
 * `GET /v1/codes` lists them: code id 1 is `echo`, 2 is `counter`.
 * @module
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { find_code_root } from '../enclave/measurement.js';

/** Names of the reference contracts, in code-id order. */
export const REFERENCE_CONTRACTS: readonly string[] = ['echo', 'counter'];

/** A contract's code as shipped in `contracts/`. */
export interface ShippedCode {
  name: string;
  code: Uint8Array;
}

/** Reads a contract shipped in `contracts/NAME.js`. */
export function read_shipped_contract(name: string, code_root: string = find_code_root()): ShippedCode {
  if (!/^[a-z_]{1,64}$/.test(name)) throw new TypeError('contract names are lowercase letters and _');
  return { name, code: new Uint8Array(readFileSync(join(code_root, 'contracts', `${name}.js`))) };
}

/** The reference contracts' code, in code-id order (ids 1, 2, …). */
export function reference_codes(code_root?: string): ShippedCode[] {
  return REFERENCE_CONTRACTS.map((name) => read_shipped_contract(name, code_root));
}
