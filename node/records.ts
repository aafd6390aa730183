/**
 * What a validator host stores and serves: committed transaction results, blocks with their
 * commits, codes. Shapes follow protocol.md §6, so RPC answers are these records as they are.
 * @module
 */

import type { ContractInfo } from '../enclave/api.js';
import type { PublicEvent } from '../protocol/bank.js';
import type { ResultCode } from '../protocol/codes.js';
import type { Block, Commit, Hex } from './consensus/types.js';

/** `GET /v1/txs/{hash}` (protocol.md §6). */
export interface TxRecord {
  hash: Hex;
  height: number;
  index: number;
  code: ResultCode;
  gas_used: number;
  output: string;
  contract?: Hex;
  code_id?: number;
  /** protocol.md §9: the public events of a transaction that succeeded, in emission order; absent when none. */
  events?: PublicEvent[];
}

/** A committed block with the commit that decided it and its agreed result hash. */
export interface BlockRecord {
  block: Block;
  /** The precommits that committed this block (the next block carries them too, as last_commit). */
  commit: Commit;
  block_hash: Hex;
  tx_hashes: Hex[];
}

/** A stored code (protocol.md §6 `GET /v1/codes`). */
export interface CodeRecord {
  code_id: number;
  code_hash: Hex;
  /** Base64 of the code. */
  code: string;
  name?: string;
}

export type { ContractInfo };
