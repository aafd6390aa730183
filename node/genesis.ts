/**
 * Genesis: the public facts every validator starts from (chain id, validators and powers, the
 * network's public keys, the attestation policy, the reference contracts, and since protocol.md
 * §9 the least gas price, the balances at genesis and whether it is a development network).
 * Written by `cloister init`, read and checked by every node at start.
 * @module
 */

import { readFileSync } from 'node:fs';
import type { AttestationPolicy } from '../enclave/api.js';
import { from_base64, to_hex } from '../protocol/bytes.js';
import type { Validator } from '../protocol/chain.js';
import {
  CHAIN_ID_RULE,
  check_validator_set,
  is_address_hex,
  is_chain_id,
  is_field_error,
  is_hex64,
} from '../protocol/checks.js';
import type { CryptoProvider } from '../protocol/provider.js';
import { GENESIS_BALANCES_MAX } from './store/chain_store.js';

/** The §9 fields of a genesis: what `cloister init` takes from its flags. */
export type GenesisFunds = Pick<Genesis, 'min_gas_price' | 'balances' | 'dev'>;

/** The genesis file. */
export interface Genesis {
  chain_id: string;
  genesis_time_ms: number;
  validators: (Validator & { name: string })[];
  io_pubkey: string;
  seed_exchange_pubkey: string;
  attestation: AttestationPolicy;
  /** Reference contracts first (protocol.md §7), code ids 1, 2, … in this order. */
  codes: { name: string; code_hash: string; code: string }[];
  /** protocol.md §9: least ucst per unit of gas a transaction offers. A v1 genesis file without it: 0. */
  min_gas_price?: number;
  /** protocol.md §9: balances at genesis, ucst by address (accounts or contracts). Absent: none. */
  balances?: Record<string, number>;
  /** A development network (protocol.md §9): debug output, funded dev accounts, the faucet. Absent: false. */
  dev?: boolean;
}

/**
 * Throws a TypeError naming the first thing wrong with a genesis. The chain id, keys and validator
 * set follow the shared rules of protocol/checks.ts (docs/protocol-notes.md "One rule per input").
 */
export function check_genesis(p: CryptoProvider, value: unknown): Genesis {
  const fail = (message: string): never => {
    throw new TypeError(`genesis: ${message}`);
  };
  if (typeof value !== 'object' || value === null) fail('not an object');
  const g = value as Genesis;
  if (!is_chain_id(g.chain_id)) fail(`chain_id must be ${CHAIN_ID_RULE}`);
  if (!Number.isSafeInteger(g.genesis_time_ms) || g.genesis_time_ms < 0)
    fail('genesis_time_ms must be a safe integer');
  try {
    check_validator_set(g.validators);
  } catch (error) {
    if (is_field_error(error)) fail(error.message);
    throw error;
  }
  for (const v of g.validators) {
    if (typeof v.name !== 'string' || v.name.length === 0 || v.name.length > 64)
      fail('validator name must be 1-64 characters');
  }
  for (const key of ['io_pubkey', 'seed_exchange_pubkey'] as const) {
    if (!is_hex64(g[key])) fail(`${key} must be 64 hex`);
  }
  const a = g.attestation;
  if (typeof a !== 'object' || a === null || !Array.isArray(a.roots) || !Array.isArray(a.measurements))
    fail('attestation must have roots and measurements');
  for (const k of [...a.roots, ...a.measurements]) if (!is_hex64(k)) fail('attestation keys must be 64 hex');
  if (!Array.isArray(g.codes)) fail('codes must be a list');
  for (const c of g.codes) {
    if (typeof c.name !== 'string' || typeof c.code !== 'string') fail('codes need name and code');
    if (to_hex(p.sha256(from_base64(c.code))) !== c.code_hash)
      fail(`code ${c.name} does not match its code_hash`);
  }
  check_genesis_funds(g);
  return g;
}

/**
 * Checks the protocol.md §9 fields of a genesis (each may be absent: a v1 genesis file has none of
 * them, and reads as `min_gas_price` 0, no balances, not a development network). Throws a
 * TypeError naming the first problem: `min_gas_price` a non-negative safe integer; `balances` an
 * object of at most GENESIS_BALANCES_MAX (node/store/chain_store.ts) entries keyed by 40-lowercase-hex addresses, each
 * a positive safe integer (ucst), their sum a safe integer too (every amount in the chain stays
 * below 2^53); `dev` a boolean; a development network has `min_gas_price` 0 (its faucet and dev
 * accounts pay no fees).
 */
export function check_genesis_funds(g: GenesisFunds): void {
  const fail = (message: string): never => {
    throw new TypeError(`genesis: ${message}`);
  };
  const { min_gas_price, balances, dev } = g;
  if (min_gas_price !== undefined && (!Number.isSafeInteger(min_gas_price) || min_gas_price < 0))
    fail('min_gas_price must be a non-negative integer below 2^53 (ucst per unit of gas)');
  if (balances !== undefined) {
    if (typeof balances !== 'object' || balances === null || Array.isArray(balances))
      fail('balances must be an object of address → ucst');
    const entries = Object.entries(balances);
    if (entries.length > GENESIS_BALANCES_MAX)
      fail(`balances must fund at most ${GENESIS_BALANCES_MAX} addresses, not ${entries.length}`);
    let total = 0;
    for (const [address, amount] of entries) {
      if (!is_address_hex(address))
        fail(
          `balances key ${JSON.stringify(String(address).slice(0, 64))} must be an address of 40 lowercase hex`,
        );
      if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0)
        fail(`balance of ${address} must be a positive integer below 2^53 (ucst)`);
      total += amount;
      if (!Number.isSafeInteger(total)) fail('balances must sum to less than 2^53 ucst');
    }
  }
  if (dev !== undefined && typeof dev !== 'boolean') fail('dev must be true or false');
  if (dev === true && (min_gas_price ?? 0) !== 0)
    fail(`a development network (dev: true) must have min_gas_price 0, not ${min_gas_price}`);
}

/** Reads and checks a genesis file. */
export function read_genesis(p: CryptoProvider, path: string): Genesis {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read genesis ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TypeError(`genesis ${path} is not JSON`);
  }
  return check_genesis(p, value);
}
