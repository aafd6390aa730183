/**
 * The enclave call set: the only way a host talks to its enclave, in the manner of an SGX EDL.
 * Two implementations answer it identically: `PoolEnclave` (piscina worker threads) and
 * `InProcessEnclave` (same code on the caller's thread, for simulations and fast tests).
 *
 * Everything crossing this boundary is public or sealed: hex keys and hashes, base64 ciphertexts,
 * plain numbers. No plaintext message, state or result, and no seed or derived secret, ever
 * appears in an argument or an answer.
 * @module
 */

import type { PublicEvent } from '../protocol/bank.js';
import type { ResultCode } from '../protocol/codes.js';
import type { Scheme } from '../protocol/envelope.js';
import type { LightInput } from './light.js';
import type { CometLightInput } from './light_comet.js';
import type { Result } from './result.js';

/** Lowercase hex. */
export type Hex = string;
/** Standard padded base64. */
export type Base64 = string;

/** The network's public keys (protocol.md §2) and this enclave's measurement. */
export interface PublicKeys {
  io_pubkey: Hex;
  seed_exchange_pubkey: Hex;
  /** Hash of the enclave's own code; see enclave/measurement.ts. */
  measurement: Hex;
}

/** A new seed, sealed to this node's platform and enclave measurement. */
export interface SealedSeed {
  /** Opaque to the host: AES-256-GCM under a key only this enclave build on this node can derive. */
  sealed_seed: Base64;
  keys: PublicKeys;
}

/** What the simulated attestation service signs: the enclave's measurement and report data. */
export interface AttestationReport {
  measurement: Hex;
  /** `H(pk_reg)`, binding the quote to the registration key (protocol.md §8). */
  report_data: Hex;
}

/**
 * A (simulated) attestation quote; see enclave/attestation.ts for its signed bytes. A type alias,
 * not an interface, so it is assignable to the JSON object a transaction carries.
 */
export type Quote = {
  version: 1;
  measurement: Hex;
  report_data: Hex;
  issued_at_ms: number;
  expires_at_ms: number;
  /** Ed25519 public key of the attestation root that signed it. */
  root: Hex;
  signature: Hex;
};

/** What genesis says about attestation: trusted roots and the allowed enclave measurements. */
export interface AttestationPolicy {
  roots: Hex[];
  measurements: Hex[];
}

/** A registration in progress on a joining node. */
export interface Registration {
  pk_reg: Hex;
  /** The registration secret key, sealed like the seed, so it survives a restart. */
  sealed_reg: Base64;
  report: AttestationReport;
}

/** Public facts about a contract instance (protocol.md §6 `GET /v1/contracts/{address}`). */
export interface ContractInfo {
  address: Hex;
  code_id: number;
  code_hash: Hex;
  label: string;
  /** Account address (40 hex) of the instantiating sender. */
  creator: Hex;
}

/**
 * A contract as the enclave takes it: its public facts and `binding`, the enclave's MAC over its
 * address and code hash (enclave/binding.ts), made when it was instantiated. The enclave runs a
 * contract only if its binding checks, so a host cannot pair an address with other code (and so
 * hand a callee's messages or state to code that would publish them).
 */
export interface BoundContract extends ContractInfo {
  binding: Hex;
}

/** One sealed state entry: hidden key and sealed value, exactly as the host stores them. */
export type StateEntry = [key: Base64, value: Base64];

/** Everything the enclave needs to execute one block; all of it public or sealed. */
export interface BlockInput {
  chain_id: string;
  height: number;
  /** Block time chosen by the proposer and agreed by consensus. Never the wall clock. */
  time_ms: number;
  /** 32 public bytes per block (e.g. the previous block hash) from which contract randomness is keyed. */
  random_seed: Hex;
  /** The block's transactions, each the exact JSON text that was submitted. */
  txs: string[];
  /** Committed sequence of every sender in the block, by account address; absent means 0. */
  accounts: Record<Hex, number>;
  /**
   * protocol.md §9: the committed balance (ucst) of every address given, 0 included. An address
   * the block needs and that is not here makes the enclave answer {@link BlockOutput.need}.
   */
  balances: Record<Hex, number>;
  /** Least gas price (genesis, protocol.md §9). */
  min_gas_price: number;
  /** A development network: results carry contracts' debug lines (protocol.md §9). */
  dev: boolean;
  /** Every existing contract the block's transactions name, by address, with its binding. */
  contracts: Record<Hex, BoundContract>;
  /** Addresses named by the block (or asked for in {@link BlockOutput.need}) that are no contract. */
  no_contract: Hex[];
  /** Code, base64, for every code id the block's transactions instantiate or execute. */
  codes: Record<string, Base64>;
  /** All sealed state entries of every contract in `contracts`. */
  state: Record<Hex, StateEntry[]>;
  /** The id the next stored code gets. */
  next_code_id: number;
  attestation: AttestationPolicy;
  /**
   * What the enclave's light client checks before executing (enclave/light.ts): required once the
   * seed is bound to a chain by `light_init`. Absent for blocks outside any chain (tests, the
   * pre-genesis ceremony).
   */
  light?: LightInput | CometLightInput;
}

/** The outcome of one transaction (protocol.md §6 `GET /v1/txs/{hash}` less height and index). */
export interface TxResult {
  hash: Hex;
  code: ResultCode;
  gas_used: number;
  /** Sealed result (protocol.md §4) or, for `register_node`, the seed share; '' when none. */
  output: Base64;
  contract?: Hex;
  code_id?: number;
  code_hash?: Hex;
  /** protocol.md §9: the public events of a transaction that succeeded; absent when none. */
  events?: PublicEvent[];
}

/** A state write: the final sealed value of a hidden key after the block, or null if removed. */
export type StateWrite = [key: Base64, value: Base64 | null];

/** Everything a block changed; every honest enclave produces these bytes exactly. */
export interface BlockOutput {
  results: TxResult[];
  /** New committed sequence of every account whose transactions counted. */
  accounts: Record<Hex, number>;
  /** protocol.md §9: the new balance of every address whose balance changed, sorted by address. */
  balances: Record<Hex, number>;
  contracts: BoundContract[];
  codes: { code_id: number; code_hash: Hex }[];
  /** By contract address, writes sorted by key. */
  state_writes: Record<Hex, StateWrite[]>;
  gas_used: number;
  /** `hex(H(utf8("cloister/block-result/v1\n") ‖ utf8(jcs(output without result_hash and sealed_light))))`. */
  result_hash: Hex;
  /** The light client's new sealed state, when the block went through it; per node, not hashed. */
  sealed_light?: Base64;
  /**
   * Not a result: the block reached contracts or balances the input does not carry (a contract
   * message to a contract no transaction names). The host adds them (`no_contract` for addresses
   * that are not contracts) and executes again; `results` is empty and nothing else counts.
   */
  need?: { contracts: Hex[]; balances: Hex[] };
}

/** A read-only contract query (protocol.md §6 `POST /v1/contracts/{address}/query`). */
export interface QueryInput {
  chain_id: string;
  height: number;
  time_ms: number;
  contract: BoundContract;
  /** The contract's committed balance (ucst), what `ctx.balance` shows a query. */
  balance: number;
  /** A development network: the answer carries the query's debug lines (protocol.md §9). Absent: false. */
  dev?: boolean;
  code: Base64;
  state: StateEntry[];
  scheme: Scheme;
  payload: Base64;
}

/** A query's answer: `output` is sealed to the querier (protocol.md §4); '' when there is none. */
export interface QueryOutput {
  code: ResultCode;
  output: Base64;
  gas_used: number;
}

/** A registration to check against the genesis policy at a block time. */
export interface RegistrationCheck {
  pk_reg: Hex;
  quote: unknown;
  time_ms: number;
  attestation: AttestationPolicy;
}

/** The call set. */
export interface Enclave {
  /** The measurement of this enclave build. Needs no seed. */
  measurement(): Promise<Result<Hex>>;
  /** Makes a new consensus seed (genesis only) and keeps it loaded. */
  create_seed(): Promise<Result<SealedSeed>>;
  /** Unseals and loads a seed sealed earlier by this node's enclave. */
  load_seed(sealed_seed: Base64): Promise<Result<PublicKeys>>;
  /** The loaded network's public keys. */
  public_keys(): Promise<Result<PublicKeys>>;
  /** Starts joining a network: a registration key pair and the report to get a quote for. */
  attestation_report(): Promise<Result<Registration>>;
  /** Finishes joining: opens the seed share for `sealed_reg`, then seals and loads the seed. */
  accept_seed_share(args: {
    sealed_reg: Base64;
    seed_share: Base64;
    seed_exchange_pubkey: Hex;
  }): Promise<Result<SealedSeed>>;
  /** Checks a registration (protocol.md §8) without executing a block: what the mempool uses. */
  check_registration(args: RegistrationCheck): Promise<Result<{ valid: boolean; reason: string }>>;
  /**
   * Binds the loaded seed to a chain's light client (genesis of `chain_id` with `validators`): from
   * then on the enclave executes only blocks its light client checked. Returns the initial light
   * state; the host keeps it and the new sealed seed (which replaces the old one).
   */
  light_init(args: {
    chain_id: string;
    validators: { pubkey: string; power: number }[];
    /** The consensus engine it follows: Cloister's (default) or CometBFT (docs/cometbft.md). */
    engine?: 'cloister' | 'cometbft';
  }): Promise<Result<{ sealed_seed: Base64; sealed_light: Base64 }>>;
  /** Executes a block of transactions. */
  execute_block(input: BlockInput): Promise<Result<BlockOutput>>;
  /** Runs a query. */
  query(input: QueryInput): Promise<Result<QueryOutput>>;
  /** Stops the enclave; later calls answer CLOSED. */
  close(): Promise<void>;
}
