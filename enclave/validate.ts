/**
 * Shape checks for what the host hands the enclave. The host is untrusted: a wrong shape is a
 * BAD_INPUT fault for the whole call, an oversized one a LIMIT fault, and neither changes anything.
 * @module
 */

import type { Validator } from '../protocol/chain.js';
import {
  check_chain_id as check_chain_id_field,
  check_validator_set,
  is_address_hex,
  is_field_error,
  is_hex64,
} from '../protocol/checks.js';
import { SCHEMES } from '../protocol/envelope.js';
import type { AttestationPolicy, BlockInput, BoundContract, QueryInput, StateEntry } from './api.js';
import { ENCLAVE_LIMITS } from './limits.js';
import { EnclaveErrorCode, EnclaveFault } from './result.js';

function bad(message: string): never {
  throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, message);
}

/** Runs a shared check of protocol/checks.ts, turning its field error into a BAD_INPUT fault. */
function field<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (is_field_error(error)) bad(error.message);
    throw error;
  }
}

function record(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad(`${name} must be an object`);
  return value as Record<string, unknown>;
}

function count(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    bad(`${name} must be a non-negative safe integer`);
  return value;
}

function text(value: unknown, name: string): string {
  if (typeof value !== 'string') bad(`${name} must be a string`);
  return value;
}

/** Checks a chain id (protocol/checks.ts `is_chain_id`); a BAD_INPUT fault if it is not one. */
export function check_chain_id(value: unknown): string {
  return field(() => check_chain_id_field(value));
}

/**
 * Checks a validator set (protocol/checks.ts `check_validator_set`: 1..100 validators, 64-hex
 * pubkeys, powers 1..1,000,000, no key twice); a BAD_INPUT fault if it is not one.
 */
export function check_validators(value: unknown): Validator[] {
  return field(() => check_validator_set(value));
}

function check_contract_info(value: unknown, name: string): BoundContract {
  const c = record(value, name);
  if (!is_address_hex(c.address)) bad(`${name}.address must be 40 hex`);
  count(c.code_id, `${name}.code_id`);
  if (!is_hex64(c.code_hash)) bad(`${name}.code_hash must be 64 hex`);
  text(c.label, `${name}.label`);
  if (!is_address_hex(c.creator)) bad(`${name}.creator must be 40 hex`);
  if (!is_hex64(c.binding)) bad(`${name}.binding must be 64 hex`);
  return c as unknown as BoundContract;
}

/** `{address: ucst}`, each a safe integer: protocol.md §9 balances. */
function check_balances(value: unknown): Record<string, number> {
  const balances = record(value, 'balances');
  const entries = Object.entries(balances);
  if (entries.length > ENCLAVE_LIMITS.block_balances_max)
    throw new EnclaveFault(EnclaveErrorCode.LIMIT, 'too many balances');
  for (const [address, amount] of entries) {
    if (!is_address_hex(address)) bad('balances must be keyed by address');
    count(amount, `balances[${address}]`);
  }
  return balances as Record<string, number>;
}

function check_state(value: unknown, name: string): StateEntry[] {
  if (!Array.isArray(value)) bad(`${name} must be an array`);
  if (value.length > ENCLAVE_LIMITS.contract_state_entries_max) {
    throw new EnclaveFault(EnclaveErrorCode.LIMIT, `${name} has more entries than the limit`);
  }
  return value as StateEntry[];
}

/** Checks an attestation policy: at most 64 roots and 64 measurements, each 64 hex (protocol.md §8). */
function check_policy(value: unknown): AttestationPolicy {
  const a = record(value, 'attestation');
  for (const field of ['roots', 'measurements'] as const) {
    const list = a[field];
    if (!Array.isArray(list) || list.length > 64 || list.some((x) => !is_hex64(x))) {
      bad(`attestation.${field} must be a list of at most 64 hex keys`);
    }
  }
  return a as unknown as AttestationPolicy;
}

/** Validates a block input's shape and limits. */
export function check_block_input(value: unknown): BlockInput {
  const b = record(value, 'block');
  check_chain_id(b.chain_id);
  count(b.height, 'height');
  count(b.time_ms, 'time_ms');
  if (!is_hex64(b.random_seed)) bad('random_seed must be 64 hex');
  if (!Array.isArray(b.txs)) bad('txs must be an array');
  if (b.txs.length > ENCLAVE_LIMITS.block_txs_max)
    throw new EnclaveFault(EnclaveErrorCode.LIMIT, 'too many transactions');
  let bytes = 0;
  for (const tx of b.txs) {
    if (typeof tx !== 'string') bad('every tx must be a JSON string');
    bytes += tx.length;
  }
  if (bytes > ENCLAVE_LIMITS.block_bytes_max)
    throw new EnclaveFault(EnclaveErrorCode.LIMIT, 'block too large');
  const accounts = record(b.accounts, 'accounts');
  for (const [address, seq] of Object.entries(accounts)) {
    if (!is_address_hex(address)) bad('account addresses must be 40 hex');
    count(seq, 'account sequence');
  }
  check_balances(b.balances);
  count(b.min_gas_price, 'min_gas_price');
  if (typeof b.dev !== 'boolean') bad('dev must be a boolean');
  if (!Array.isArray(b.no_contract) || b.no_contract.some((a) => !is_address_hex(a)))
    bad('no_contract must be a list of addresses');
  if (b.no_contract.length > ENCLAVE_LIMITS.block_contracts_max)
    throw new EnclaveFault(EnclaveErrorCode.LIMIT, 'too many addresses in no_contract');
  const contracts = record(b.contracts, 'contracts');
  const contract_count = Object.keys(contracts).length;
  if (contract_count > ENCLAVE_LIMITS.block_contracts_max)
    throw new EnclaveFault(EnclaveErrorCode.LIMIT, 'too many contracts');
  for (const [address, info] of Object.entries(contracts)) {
    const c = check_contract_info(info, `contracts[${address}]`);
    if (c.address !== address) bad('contracts must be keyed by their address');
  }
  const codes = record(b.codes, 'codes');
  if (Object.keys(codes).length > ENCLAVE_LIMITS.block_codes_max)
    throw new EnclaveFault(EnclaveErrorCode.LIMIT, 'too many codes');
  for (const [id, code] of Object.entries(codes)) {
    if (!/^(0|[1-9][0-9]{0,15})$/.test(id)) bad('codes must be keyed by code id');
    text(code, `codes[${id}]`);
  }
  const state = record(b.state, 'state');
  for (const [address, entries] of Object.entries(state)) {
    if (!is_address_hex(address)) bad('state must be keyed by contract address');
    check_state(entries, `state[${address}]`);
  }
  count(b.next_code_id, 'next_code_id');
  check_policy(b.attestation);
  return b as unknown as BlockInput;
}

/** Validates a query input's shape and limits. */
export function check_query_input(value: unknown): QueryInput {
  const q = record(value, 'query');
  check_chain_id(q.chain_id);
  count(q.height, 'height');
  count(q.time_ms, 'time_ms');
  check_contract_info(q.contract, 'contract');
  count(q.balance, 'balance');
  if (q.dev !== undefined && typeof q.dev !== 'boolean') bad('dev must be a boolean');
  text(q.code, 'code');
  check_state(q.state, 'state');
  if (!SCHEMES.includes(q.scheme as never)) bad('scheme must be gcm or siv');
  text(q.payload, 'payload');
  return q as unknown as QueryInput;
}

export { check_policy };
