/**
 * The worker protocol: one message type per call of the call set (enclave/api.ts). The host side
 * keeps only the sealed seed (ciphertext) and sends it with every call that needs keys, so any
 * worker, including one just restarted, can serve any call.
 * @module
 */

import type { Base64, BlockInput, QueryInput, RegistrationCheck } from './api.js';
import type { EngineName } from './vm/types.js';

export type EnclaveTask =
  | { call: 'measurement' }
  | { call: 'create_seed' }
  | { call: 'load_seed'; sealed_seed: Base64 }
  | { call: 'public_keys'; sealed_seed: Base64 }
  | { call: 'attestation_report' }
  | { call: 'accept_seed_share'; sealed_reg: Base64; seed_share: Base64; seed_exchange_pubkey: string }
  | { call: 'check_registration'; args: RegistrationCheck }
  | {
      call: 'execute_block';
      sealed_seed: Base64;
      input: BlockInput;
      /** One sealed stage record (or an empty array) per transaction, from `stage_txs` (enclave/stage_record.ts). */
      staged?: Uint8Array[];
    }
  | { call: 'stage_txs'; sealed_seed: Base64; input: BlockInput; from: number; to: number }
  | {
      call: 'light_init';
      sealed_seed: Base64;
      chain_id: string;
      validators: { pubkey: string; power: number }[];
      /** The consensus engine the light client follows (enclave/light.ts `LightEngine`); default 'cloister'. */
      engine?: 'cloister' | 'cometbft';
    }
  | { call: 'query'; sealed_seed: Base64; input: QueryInput };

export type EnclaveCall = EnclaveTask['call'];

/** How the enclave is set up; the same for every worker of a pool. Structured-clone safe. */
export interface EnclaveOptions {
  /** Which CryptoProvider the enclave uses. */
  provider: 'noble' | 'native';
  /**
   * Path of this node's platform secret (SIMULATION of the CPU's fused key), created on first use.
   * Only enclave code reads it.
   */
  platform_secret_file: string;
  /** Root of the code that is measured; defaults to this checkout. */
  code_root?: string;
  /**
   * The contract engine, for benchmarks and tests that compare the two; defaults to QuickJS.
   * Every validator of a network must run the same one (nodes never set it).
   */
  vm_engine?: EngineName;
}
