/**
 * Stand-ins the ValidatorApp tests share: the enclave input a host store prepares for a block
 * outside any real chain state (no accounts, contracts or codes), and an enclave output with
 * nothing in it but a result hash.
 */

import type { AttestationPolicy, BlockInput, BlockOutput } from '../../enclave/api.js';

/** What a stub store's `block_input` returns for `txs` at header fields `h`. */
export function stub_block_input(
  txs: string[],
  h: { chain_id: string; height: number; time_ms: number; random_seed: string },
  attestation: AttestationPolicy,
): BlockInput {
  return {
    ...h,
    txs,
    accounts: {},
    balances: {},
    min_gas_price: 0,
    dev: false,
    contracts: {},
    no_contract: [],
    codes: {},
    state: {},
    next_code_id: 1,
    attestation,
  };
}

/** An enclave output with no results and no writes, and result hash `result_hash`. */
export function empty_block_output(result_hash: string): BlockOutput {
  return {
    results: [],
    accounts: {},
    balances: {},
    contracts: [],
    codes: [],
    state_writes: {},
    gas_used: 0,
    result_hash,
  };
}
