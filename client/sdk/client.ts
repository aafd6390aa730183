/**
 * `CloisterClient`: talks to a Cloister network over protocol.md §6, encrypts contract messages
 * (§3), signs transactions (§5) with their gas price and funds (§9), waits for their commit and
 * decrypts their results (§4), reads balances, asks a development network's faucet, and follows
 * contracts' public events. Browser-safe: cryptography comes only from
 * `protocol/providers/noble.ts`; fetch, clock, timer and randomness are injectable.
 * @module
 */

import { FAUCET_AMOUNT_MAX, type PublicEvent } from '../../protocol/bank.js';
import { equal_bytes, from_base64, from_hex, to_base64, to_hex } from '../../protocol/bytes.js';
import { is_address_hex, is_hex64 } from '../../protocol/checks.js';
import { RESULT_CODE_NAMES, type ResultCode } from '../../protocol/codes.js';
import {
  DecryptError,
  derive_tx_key,
  ENVELOPE_GCM_VERSION,
  ENVELOPE_NONCE_BYTES,
  encrypt_message,
  is_scheme,
  type Scheme,
} from '../../protocol/envelope.js';
import { noble_provider as p } from '../../protocol/providers/noble.js';
import { type ContractEventJson, type ContractResult, open_result } from '../../protocol/result.js';
import { SYSTEM_CONTRACTS, type SystemContracts } from '../../protocol/system.js';
import {
  account_address,
  contract_address,
  MalformedTxError,
  parse_tx,
  parse_tx_json,
  sign_tx,
  type Tx,
  type TxMsg,
  tx_hash,
} from '../../protocol/tx.js';
import { NoSystemContractError } from './channels/errors.js';
import {
  BadAnswerError,
  ChainIdMismatchError,
  ClientErrorCode,
  CloisterError,
  ConnectionError,
  ContractError,
  error_from_code,
  MalformedTransactionError,
  NoFaucetError,
  NotYourTxError,
  ResultAuthError,
  WaitTimeoutError,
  WrongSequenceError,
} from './errors.js';
import { type FollowNode, type FollowOptions, follow_public_events, type PublicEventAt } from './events.js';
import { type ClientKey, key_info, web_random } from './keys.js';
import { RpcTransport, read_events, type TransportModules, timer_sleep } from './rpc.js';

/** Gas limit of a transaction when the caller names none (the network allows up to 100,000,000). */
export const GAS_LIMIT_DEFAULT = 10_000_000;
/** Deadline of one RPC request. */
export const REQUEST_TIMEOUT_MS_DEFAULT = 30_000;
/** How long {@link CloisterClient.wait_for} waits for a commit by default. */
export const WAIT_TIMEOUT_MS_DEFAULT = 120_000;
/** First pause between polls of `GET /v1/txs/{hash}` (protocol.md §6) when the live stream is unavailable. */
export const POLL_INTERVAL_MS_FIRST = 100;
/** Longest pause between polls; each pause doubles up to this. */
export const POLL_INTERVAL_MS_MAX = 2_000;

/** Why a node halted (docs/protocol-notes.md): the height it could not apply, and what it found. */
export interface HaltInfo {
  height: number;
  reason: string;
}

/** `GET /v1/status` (protocol.md §6, §9). */
export interface NodeStatus {
  chain_id: string;
  height: number;
  io_pubkey: string;
  seed_exchange_pubkey: string;
  validator: unknown;
  validators: unknown[];
  /** Lowest gas price the network accepts, ucst per unit of gas (§9); 0 from a node that does not say. */
  min_gas_price: number;
  /** A development network (§9: funded development accounts, a faucet); false from an older node. */
  dev: boolean;
  /** The system contracts by name (docs/channels.md); `{}` from an older node or network. */
  contracts: Record<string, string>;
  /** The consensus keys of the validators the answering node is connected to; absent from an older node. */
  peers?: string[];
  /** Transactions waiting in the answering node's mempool; absent from an older node. */
  mempool?: number;
  /** Header time (ms since the epoch) of the last committed block, null before the first; absent from an older node. */
  last_block_time_ms?: number | null;
  /**
   * Present only when the node halted: its results differ from the network's, so it commits no
   * more blocks and refuses transactions (code 108); use another node.
   */
  halted?: HaltInfo | null;
}

/** One entry of `GET /v1/codes` (protocol.md §6). */
export interface CodeInfo {
  code_id: number;
  code_hash: string;
  name?: string;
  /** The system contract genesis made of this code (docs/channels.md), if any. */
  contract?: string;
}

/** `GET /v1/contracts/{address}` (protocol.md §6, §9). */
export interface ContractInfo {
  address: string;
  code_id: number;
  code_hash: string;
  label: string;
  creator: string;
  /** The contract's balance in ucst (§9); 0 from a node that does not say. */
  balance: number;
}

/** `GET /v1/accounts/{address}` (protocol.md §6, §9); an account never seen: sequence 0, balance 0. */
export interface AccountInfo {
  address: string;
  /** The count of the account's committed transactions: the sequence its next one must carry. */
  sequence: number;
  /** Balance in ucst (§9); 0 from a node that does not say. */
  balance: number;
}

/** Filters and page of {@link CloisterClient.contracts}: all given filters must hold. */
export interface ContractsQuery {
  code_id?: number;
  /** The creator's account address (40 lowercase hex). */
  creator?: string;
  /** Exact label. */
  label?: string;
  /** 1-100; the node's default (20) when absent. */
  limit?: number;
  /** The `cursor` of the previous page, to go on from it. */
  cursor?: string | null;
}

/** Filters and page of {@link CloisterClient.txs}: at least one of `sender` and `contract`. */
export interface TxsQuery {
  /** The sender's account address (40 lowercase hex). */
  sender?: string;
  /** The contract a transaction executes or instantiates (its top-level target). */
  contract?: string;
  limit?: number;
  cursor?: string | null;
}

/** One page of a listing: its items, and the cursor of the next page (null: this was the last). */
export interface Page<T> {
  items: T[];
  cursor: string | null;
}

/** A committed transaction, `GET /v1/txs/{hash}` (protocol.md §6, §9). */
export interface TxRecord {
  hash: string;
  height: number;
  index: number;
  code: number;
  gas_used: number;
  /** Base64 of the sealed result (§4); empty for codes 2-8, store_code and send. */
  output: string;
  contract?: string;
  code_id?: number;
  /** The transaction's public events, in plaintext (§9); empty from a node that does not list them. */
  events: PublicEvent[];
}

/** What {@link CloisterClient.faucet} gave: the committed faucet transaction (protocol.md §9). */
export interface FaucetOutcome {
  hash: string;
  record: TxRecord;
  /** The address funded. */
  address: string;
  /** The amount asked for, in ucst; undefined when the node's default (1,000,000) was used. */
  amount: number | undefined;
}

/** An encrypted message (protocol.md §3) and what the sender needs to open its result (§4). */
export interface EncryptedMessage {
  /** Base64 envelope, the `payload` of a transaction or query. */
  payload: string;
  /** The key that opens the result. */
  tx_key: Uint8Array;
  scheme: Scheme;
  /** Hex of the 32-byte nonce. */
  nonce: string;
  /** Hex of `pk_u`, the X25519 public key the envelope names. */
  pk_u: string;
}

/**
 * What a transaction sent through a lifecycle method gave. `T` is the type of the decrypted
 * `data`, as the caller of {@link CloisterClient.execute} or {@link CloisterClient.instantiate}
 * claims it: the client does not check it (see {@link CloisterClient.query}).
 */
export interface TxOutcome<T = unknown> {
  hash: string;
  /** The committed record; `null` when the caller did not wait. */
  record: TxRecord | null;
  /** The sequence the transaction was signed with. */
  sequence: number;
  /** Decrypted `data` of the result (§4), once committed with code 0; its type `T` is not checked. */
  data?: T;
  /** Decrypted events of the result (§4); `public: true` marks those listed in `record.events` (§9). */
  events?: ContractEventJson[];
  /** The contract's debug lines (§9; development networks only), once decrypted. */
  debug?: string[];
  /** The gas price the transaction was signed with, ucst per unit of gas (§9; 0 when absent). */
  gas_price: number;
  /** The fee, `gas_limit × gas_price` ucst (§9), kept by the network whatever the result. */
  fee: number;
  /** ucst sent to the contract with an instantiate or execute (§9), when any. */
  funds?: number;
  /** Recipient of a send (§9). */
  to?: string;
  /** Amount of a send, in ucst (§9). */
  amount?: number;
  /** Address of the new contract (instantiate), known before commit from sender and sequence (§5). */
  contract?: string;
  /** Code id of stored code (store_code), once committed. */
  code_id?: number;
  /** Code hash `H(code)` (store_code). */
  code_hash?: string;
  /** The envelope's key and scheme (instantiate, execute): keep them to decrypt later. */
  tx_key?: Uint8Array;
  scheme?: Scheme;
}

/** The envelope of a committed transaction, read from its block (protocol.md §3). */
export interface EnvelopeInfo {
  tx: Tx;
  scheme: Scheme;
  /** Hex nonce. */
  nonce: string;
  /** Hex `pk_u`. */
  pk_u: string;
}

/** Options of a {@link CloisterClient}. */
export interface ClientOptions {
  /** Node URLs; requests go to the first that answers. */
  nodes: readonly string[];
  /** The chain id the caller expects; the client refuses a node that serves another. */
  chain_id?: string | undefined;
  /** The caller's keys: {@link CloisterClient.recover_tx_key} looks among them. */
  keys?: readonly ClientKey[];
  gas_limit?: number;
  /**
   * Gas price of transactions when a call names none (protocol.md §9), ucst per unit of gas:
   * a non-negative integer, or `'auto'` for the network's `min_gas_price` (from `GET /v1/status`).
   * Default 0: no fee, which a network whose `min_gas_price` is above 0 refuses with code 8.
   */
  gas_price?: GasPrice;
  request_timeout_ms?: number;
  wait_timeout_ms?: number;
}

/** What a {@link CloisterClient} uses from outside; every member has a default. */
export interface ClientModules {
  fetch?: typeof fetch;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: (bytes: number) => Uint8Array;
}

/** A gas price (protocol.md §9): ucst per unit of gas, or `'auto'` for the network's `min_gas_price`. */
export type GasPrice = number | 'auto';

/** Options of a transaction-sending lifecycle method. */
export interface SendOptions {
  /** Wait for the commit and decrypt the result (default true). */
  wait?: boolean;
  gas_limit?: number;
  /** Gas price (§9); default the client's `gas_price` (0 unless set). Fee = gas_limit × gas_price. */
  gas_price?: GasPrice;
  /** ucst moved to the contract before it runs (§9; instantiate and execute only); default 0. */
  funds?: number;
  /** Encrypt for this code hash instead of the contract's (to test the enclave's refusal, §3). */
  code_hash?: string;
}

/**
 * Options of {@link CloisterClient.instantiate} and {@link CloisterClient.execute}: those of every
 * transaction, and the envelope's scheme.
 */
export interface ContractTxOptions extends SendOptions {
  /**
   * Envelope scheme (protocol.md §3): `'gcm'` (default) or `'siv'`, the Secret-Network-compatible
   * one; the result is sealed with the same scheme (§4).
   */
  scheme?: Scheme;
}

/** Options of {@link CloisterClient.query}. */
export interface QueryOptions {
  /** Envelope scheme (protocol.md §3): `'gcm'` (default) or `'siv'`; the answer is sealed with it (§4). */
  scheme?: Scheme;
  /**
   * The key whose encryption key is the envelope's `sk_u` (§3); default a one-off random one, as
   * an answer is never stored and needs no later recovery.
   */
  key?: ClientKey;
  /** Encrypt for this code hash instead of the contract's (to test the enclave's refusal, §3). */
  code_hash?: string;
}

/** Options of {@link CloisterClient.sign}. */
export interface SignOptions {
  /** The sequence to sign with; default the local counter, else the account's from the node. */
  sequence?: number;
  gas_limit?: number;
  /** Gas price (§9); default the client's. Sent only when above 0, so a v1 signature is unchanged. */
  gas_price?: GasPrice;
}

function check_address(address: unknown, what = 'address'): asserts address is string {
  if (typeof address !== 'string') throw new TypeError(`${what} must be a string`);
  if (!is_address_hex(address)) throw new RangeError(`${what} must be 40 lowercase hex characters`);
}

function check_hash(hash: unknown, what = 'hash'): asserts hash is string {
  if (typeof hash !== 'string') throw new TypeError(`${what} must be a string`);
  if (!is_hex64(hash)) throw new RangeError(`${what} must be 64 lowercase hex characters`);
}

function check_scheme(scheme: unknown): asserts scheme is Scheme {
  if (!is_scheme(scheme))
    throw new RangeError(`scheme must be "gcm" or "siv", got ${JSON.stringify(scheme)}`);
}

/**
 * The options object of query, instantiate and execute. The scheme used to be a positional
 * argument before it: a string here, or an argument after it (which JavaScript would ignore), is
 * such an old call, and gets a message that says where the scheme went.
 */
function check_opts(opts: unknown, extra: boolean): asserts opts is object {
  if (typeof opts === 'string')
    throw new TypeError(
      `the scheme is an option now: pass { scheme: ${JSON.stringify(opts)} } (with any other options) instead of ${JSON.stringify(opts)}`,
    );
  if (extra)
    throw new TypeError(
      'too many arguments: the scheme is an option now; pass one options object, { scheme, ... }, last',
    );
  if (typeof opts !== 'object' || opts === null) throw new TypeError('opts must be an object');
}

function check_key(key: unknown): asserts key is ClientKey {
  const k = key as ClientKey;
  if (typeof key !== 'object' || key === null || !(k.account_sk instanceof Uint8Array))
    throw new TypeError('key must be a ClientKey (see generate_key, Keyring.unlock)');
}

function check_count(value: unknown, what: string, min = 0): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw new TypeError(`${what} must be an integer`);
  if (value < min) throw new RangeError(`${what} must be at least ${min}`);
}

function check_gas_price(value: unknown, what = 'gas_price'): asserts value is GasPrice {
  if (value === 'auto') return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw new TypeError(`${what} must be an integer or "auto"`);
  if (value < 0) throw new RangeError(`${what} must be at least 0`);
}

/** protocol.md §9: `gas_limit × gas_price` must be below 2^53, or the transaction is malformed. */
function check_fee(gas_limit: number, gas_price: number): number {
  const fee = gas_limit * gas_price;
  if (!Number.isSafeInteger(fee))
    throw new MalformedTransactionError(
      `gas_limit × gas_price (${gas_limit} × ${gas_price}) must be below 2^53; lower the gas limit or the gas price`,
    );
  return fee;
}

/** The `funds` option (§9): a non-negative integer, put in the message only when above 0. */
function with_funds<M extends TxMsg>(msg: M, funds: number | undefined): M {
  if (funds === undefined) return msg;
  check_count(funds, 'funds');
  return funds > 0 ? { ...msg, funds } : msg;
}

/**
 * The public events of a record (§9): absent is none (an older node); anything not of the shape
 * `[{type, attributes: [{key, value}], contract}]` is null.
 */
function check_public_events(value: unknown): PublicEvent[] | null {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return null;
  const out: PublicEvent[] = [];
  for (const e of value as unknown[]) {
    if (typeof e !== 'object' || e === null) return null;
    const { type, attributes, contract } = e as Record<string, unknown>;
    if (typeof type !== 'string' || !is_address_hex(contract) || !Array.isArray(attributes)) return null;
    const copied: { key: string; value: string }[] = [];
    for (const a of attributes as unknown[]) {
      if (typeof a !== 'object' || a === null) return null;
      const { key, value: text } = a as Record<string, unknown>;
      if (typeof key !== 'string' || typeof text !== 'string') return null;
      copied.push({ key, value: text });
    }
    out.push({ type, attributes: copied, contract });
  }
  return out;
}

/**
 * An amount field of §9 (a balance, `min_gas_price`): absent is 0 (an older node); anything but a
 * non-negative safe integer is null.
 */
function check_amount(value: unknown): number | null {
  if (value === undefined) return 0;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

function msg_json(msg: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(msg);
  } catch (error) {
    throw new TypeError(`msg is not JSON-serializable: ${(error as Error).message}`);
  }
  if (text === undefined) throw new TypeError('msg must be a JSON value');
  return text;
}

/** Checks a `GET /v1/txs/{hash}` answer's shape (protocol.md §6); BadAnswerError if it is off. */
/** Adds a listing's `limit` (1-100) and `cursor` to `params`, checked. */
function page_params(params: URLSearchParams, page: { limit?: number; cursor?: string | null }): void {
  if (page.limit !== undefined) {
    check_count(page.limit, 'limit', 1);
    if (page.limit > 100) throw new RangeError('limit must be at most 100');
    params.set('limit', String(page.limit));
  }
  if (page.cursor !== undefined && page.cursor !== null) {
    if (typeof page.cursor !== 'string' || !/^[A-Za-z0-9_-]{1,256}$/.test(page.cursor))
      throw new TypeError('cursor must be the cursor a previous page answered');
    params.set('cursor', page.cursor);
  }
}

function query_string(params: URLSearchParams): string {
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

function check_cursor(value: unknown, node: string): string | null {
  if (value === null) return null;
  if (typeof value !== 'string' || value.length === 0)
    throw new BadAnswerError('a listing whose cursor is neither a string nor null', { node });
  return value;
}

function check_record(value: unknown, node?: string): TxRecord {
  const r = value as Record<string, unknown>;
  const ok =
    typeof value === 'object' &&
    value !== null &&
    is_hex64(r['hash']) &&
    Number.isSafeInteger(r['height']) &&
    Number.isSafeInteger(r['index']) &&
    Number.isSafeInteger(r['code']) &&
    Number.isSafeInteger(r['gas_used']) &&
    typeof r['output'] === 'string' &&
    (r['contract'] === undefined || is_address_hex(r['contract'])) &&
    (r['code_id'] === undefined || Number.isSafeInteger(r['code_id']));
  if (!ok) throw new BadAnswerError('a transaction record without the fields of protocol.md §6', { node });
  const events = check_public_events(r['events']);
  if (events === null)
    throw new BadAnswerError(
      'a transaction record whose events are not [{"type", "attributes", "contract"}]',
      {
        node,
      },
    );
  return {
    hash: r['hash'] as string,
    height: r['height'] as number,
    index: r['index'] as number,
    code: r['code'] as number,
    gas_used: r['gas_used'] as number,
    output: r['output'] as string,
    ...(r['contract'] === undefined ? {} : { contract: r['contract'] as string }),
    ...(r['code_id'] === undefined ? {} : { code_id: r['code_id'] as number }),
    events,
  };
}

/** What the client learns once from `GET /v1/status` and the tx-key route. */
interface NetworkInfo {
  chain_id: string;
  pk_io: Uint8Array;
  min_gas_price: number;
}

/**
 * A client of a Cloister network (protocol.md §3-§6, §9). Learns the chain id from `GET /v1/status`
 * (and refuses a node whose chain id differs from `opts.chain_id`, when given) and the io key from
 * `GET /registration/v1beta1/tx-key`. Keeps a local sequence counter per account, so several
 * transactions can be signed without waiting for each to commit.
 */
export class CloisterClient {
  readonly #rpc: RpcTransport;
  readonly #m: Required<ClientModules>;
  readonly #expected_chain_id: string | undefined;
  readonly #keys: readonly ClientKey[];
  readonly #gas_limit: number;
  readonly #gas_price: GasPrice;
  readonly #request_timeout_ms: number;
  readonly #wait_timeout_ms: number;
  #network: Promise<NetworkInfo> | null = null;
  readonly #sequences = new Map<string, number>();
  readonly #code_hashes = new Map<string, string>();

  /**
   * @param opts nodes, expected chain id, keys and limits (see {@link ClientOptions}).
   * @param modules fetch, clock, timer and randomness (defaults: the platform's).
   */
  constructor(opts: ClientOptions, modules: ClientModules = {}) {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('opts must be an object');
    this.#m = {
      fetch: modules.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      now: modules.now ?? (() => Date.now()),
      sleep: modules.sleep ?? timer_sleep,
      random: modules.random ?? web_random,
    };
    this.#rpc = new RpcTransport({ nodes: opts.nodes }, this.#m as TransportModules);
    if (opts.chain_id !== undefined && (typeof opts.chain_id !== 'string' || opts.chain_id.length === 0))
      throw new TypeError('chain_id must be a non-empty string');
    this.#expected_chain_id = opts.chain_id;
    this.#keys = [...(opts.keys ?? [])];
    for (const key of this.#keys) check_key(key);
    this.#gas_limit = opts.gas_limit ?? GAS_LIMIT_DEFAULT;
    check_count(this.#gas_limit, 'gas_limit', 1);
    this.#gas_price = opts.gas_price ?? 0;
    check_gas_price(this.#gas_price);
    this.#request_timeout_ms = opts.request_timeout_ms ?? REQUEST_TIMEOUT_MS_DEFAULT;
    check_count(this.#request_timeout_ms, 'request_timeout_ms', 1);
    this.#wait_timeout_ms = opts.wait_timeout_ms ?? WAIT_TIMEOUT_MS_DEFAULT;
    check_count(this.#wait_timeout_ms, 'wait_timeout_ms', 1);
  }

  /** The node URLs, normalized. */
  get nodes(): readonly string[] {
    return this.#rpc.nodes;
  }

  /** The node requests go to first: the one that last answered (the first URL until then). */
  get node(): string {
    return this.#rpc.current;
  }

  #get<T>(path: string, context?: string): Promise<T> {
    return this.#rpc.request<T>(
      'GET',
      path,
      context === undefined
        ? { timeout_ms: this.#request_timeout_ms }
        : { timeout_ms: this.#request_timeout_ms, context },
    );
  }

  /**
   * Checks a status answer's chain id and shape, and fills `min_gas_price` and `dev` where an
   * older node left them out.
   */
  #check_status(status: NodeStatus, node = this.#rpc.current): NodeStatus {
    if (typeof status !== 'object' || status === null || typeof status.chain_id !== 'string')
      throw new BadAnswerError('a status without chain_id', { node });
    const min_gas_price = check_amount(status.min_gas_price);
    if (min_gas_price === null)
      throw new BadAnswerError('a status whose min_gas_price is not a non-negative integer', { node });
    if (status.dev !== undefined && typeof status.dev !== 'boolean')
      throw new BadAnswerError('a status whose dev is not a boolean', { node });
    const halted = status.halted;
    if (
      halted !== undefined &&
      halted !== null &&
      (typeof halted !== 'object' ||
        !Number.isSafeInteger(halted.height) ||
        typeof halted.reason !== 'string')
    )
      throw new BadAnswerError('a status whose halted is not {"height", "reason"}', { node });
    if (this.#expected_chain_id !== undefined && status.chain_id !== this.#expected_chain_id)
      throw new ChainIdMismatchError(this.#expected_chain_id, status.chain_id, { node });
    const contracts: Record<string, string> = {};
    const listed: unknown = status.contracts ?? {};
    if (typeof listed !== 'object' || listed === null || Array.isArray(listed))
      throw new BadAnswerError('a status whose contracts is not an object of addresses', { node });
    for (const [name, address] of Object.entries(listed)) {
      if (!is_address_hex(address))
        throw new BadAnswerError(`a status whose contracts.${name.slice(0, 32)} is not an address`, { node });
      contracts[name] = address;
    }
    if (status.peers !== undefined && (!Array.isArray(status.peers) || !status.peers.every(is_hex64)))
      throw new BadAnswerError('a status whose peers is not a list of keys', { node });
    if (status.mempool !== undefined && check_amount(status.mempool) === null)
      throw new BadAnswerError('a status whose mempool is not a non-negative integer', { node });
    const last = status.last_block_time_ms;
    if (last !== undefined && last !== null && check_amount(last) === null)
      throw new BadAnswerError('a status whose last_block_time_ms is not a time or null', { node });
    return { ...status, min_gas_price, dev: status.dev ?? false, contracts };
  }

  /** Chain id, io key and minimum gas price, fetched once (protocol.md §2, §6, §9). */
  #network_keys(): Promise<NetworkInfo> {
    this.#network ??= (async () => {
      const status = await this.status();
      const answer = await this.#get<{ key?: unknown }>('/registration/v1beta1/tx-key');
      let pk_io: Uint8Array;
      try {
        pk_io = from_base64(answer.key as string);
      } catch {
        throw new BadAnswerError('tx-key is not base64', { node: this.#rpc.current });
      }
      if (pk_io.length !== 32 || to_hex(pk_io) !== status.io_pubkey)
        throw new BadAnswerError('the tx-key and the status io_pubkey differ', { node: this.#rpc.current });
      return { chain_id: status.chain_id, pk_io, min_gas_price: status.min_gas_price };
    })();
    // A failed lookup is not cached: the next call tries again.
    this.#network.catch(() => {
      this.#network = null;
    });
    return this.#network;
  }

  /** The network's chain id (from `GET /v1/status`, checked against `opts.chain_id`). */
  async chain_id(): Promise<string> {
    return (await this.#network_keys()).chain_id;
  }

  /**
   * `GET /v1/status` (protocol.md §6, §9); ChainIdMismatchError if the node serves another chain.
   * `halted` is set when the answering node halted ({@link node} names it). `min_gas_price` and
   * `dev` are 0 and false from a node older than §9.
   */
  async status(): Promise<NodeStatus> {
    return this.#check_status(await this.#get<NodeStatus>('/v1/status'));
  }

  /** The network's `min_gas_price` (protocol.md §9), read once: what an `'auto'` gas price pays. */
  async min_gas_price(): Promise<number> {
    return (await this.#network_keys()).min_gas_price;
  }

  /**
   * The system contracts of the network (docs/channels.md: the key directory, the mailbox, the
   * stream ACL and the key keeper), from `GET /v1/status`'s `contracts`.
   * {@link NoSystemContractError} (code 300) if the network lacks any of them (an older genesis).
   */
  async system_contracts(): Promise<SystemContracts> {
    const status = await this.status();
    for (const name of SYSTEM_CONTRACTS)
      if (status.contracts[name] === undefined) throw new NoSystemContractError(name);
    return status.contracts as SystemContracts;
  }

  /** `GET /v1/codes` (protocol.md §6): every stored code, the reference contracts first. */
  async codes(): Promise<CodeInfo[]> {
    const codes = await this.#get<CodeInfo[]>('/v1/codes');
    if (!Array.isArray(codes)) throw new BadAnswerError('codes is not an array', { node: this.#rpc.current });
    return codes;
  }

  /**
   * `GET /v1/contracts/{address}` (protocol.md §6, §9), with its `balance` (0 from a node older than
   * §9); code 6 error if there is no such contract.
   */
  async contract(address: string): Promise<ContractInfo> {
    check_address(address, 'contract address');
    const info = await this.#get<ContractInfo>(`/v1/contracts/${address}`, `contract ${address}`);
    if (!is_hex64(info?.code_hash))
      throw new BadAnswerError('a contract without a code hash', { node: this.#rpc.current });
    const balance = check_amount(info.balance);
    if (balance === null)
      throw new BadAnswerError('a contract whose balance is not a non-negative integer', {
        node: this.#rpc.current,
      });
    this.#code_hashes.set(address, info.code_hash);
    return { ...info, balance };
  }

  /**
   * `GET /v1/accounts/{address}` (protocol.md §6, §9): the count of the account's committed
   * transactions and its balance in ucst (0 from a node older than §9). An account never seen
   * has sequence 0 and balance 0.
   */
  async account(address: string): Promise<AccountInfo> {
    check_address(address, 'account address');
    const account = await this.#get<Partial<AccountInfo>>(`/v1/accounts/${address}`);
    if (!Number.isSafeInteger(account?.sequence))
      throw new BadAnswerError('an account without a sequence', { node: this.#rpc.current });
    const balance = check_amount(account.balance);
    if (balance === null)
      throw new BadAnswerError('an account whose balance is not a non-negative integer', {
        node: this.#rpc.current,
      });
    return { address: account.address ?? address, sequence: account.sequence as number, balance };
  }

  /** The balance of an account or contract address in ucst (protocol.md §9): `account(address).balance`. */
  async balance(address: string): Promise<number> {
    return (await this.account(address)).balance;
  }

  /** `GET /v1/txs/{hash}` (protocol.md §6); RpcRefusedError code 100 until it is committed. */
  async get_tx(hash: string): Promise<TxRecord> {
    check_hash(hash);
    return check_record(await this.#get<unknown>(`/v1/txs/${hash}`), this.#rpc.current);
  }

  async #find_tx(hash: string): Promise<TxRecord | null> {
    try {
      return await this.get_tx(hash);
    } catch (error) {
      if (error instanceof CloisterError && error.code === ClientErrorCode.NOT_FOUND) return null;
      throw error;
    }
  }

  /**
   * `GET /v1/contracts` (docs/protocol-notes.md "Discovery and status"): one page of the contracts
   * matching every given filter, each as {@link contract} answers it, and the cursor of the next
   * page (null: no more). A page may hold fewer than `limit`, even none, and still have a cursor.
   * A cursor from another listing is refused by the node (RpcRefusedError, code 106).
   */
  async contracts(query: ContractsQuery = {}): Promise<Page<ContractInfo>> {
    if (typeof query !== 'object' || query === null) throw new TypeError('query must be an object');
    const params = new URLSearchParams();
    if (query.code_id !== undefined) {
      check_count(query.code_id, 'code_id', 1);
      params.set('code_id', String(query.code_id));
    }
    if (query.creator !== undefined) {
      check_address(query.creator, 'creator');
      params.set('creator', query.creator);
    }
    if (query.label !== undefined) {
      if (typeof query.label !== 'string' || query.label.length === 0)
        throw new TypeError('label must be a non-empty string');
      params.set('label', query.label);
    }
    page_params(params, query);
    const node = () => this.#rpc.current;
    const answer = await this.#get<{ contracts?: unknown; cursor?: unknown }>(
      `/v1/contracts${query_string(params)}`,
    );
    const list = answer?.contracts;
    if (!Array.isArray(list))
      throw new BadAnswerError('a contract listing without contracts', { node: node() });
    const items = list.map((c: unknown) => {
      const info = c as Partial<ContractInfo>;
      const balance = check_amount(info?.balance);
      if (
        !is_address_hex(info?.address) ||
        !is_hex64(info.code_hash) ||
        !Number.isSafeInteger(info.code_id) ||
        typeof info.label !== 'string' ||
        !is_address_hex(info.creator) ||
        balance === null
      )
        throw new BadAnswerError(
          'a contract listing entry without the fields of GET /v1/contracts/{address}',
          {
            node: node(),
          },
        );
      return {
        address: info.address,
        code_id: info.code_id as number,
        code_hash: info.code_hash,
        label: info.label,
        creator: info.creator,
        balance,
      };
    });
    return { items, cursor: check_cursor(answer.cursor, node()) };
  }

  /**
   * `GET /v1/txs` (docs/protocol-notes.md "Discovery and status"): one page of the committed
   * transactions of `sender` and/or aimed at `contract` (at least one), NEWEST FIRST, each as
   * {@link get_tx} answers it, and the cursor of the next page (null: no more). Refused
   * transactions (codes 4, 5, 7, 8 without gas) are not listed.
   */
  async txs(query: TxsQuery): Promise<Page<TxRecord>> {
    if (typeof query !== 'object' || query === null) throw new TypeError('query must be an object');
    if (query.sender === undefined && query.contract === undefined)
      throw new TypeError('txs needs a sender or a contract (or both)');
    const params = new URLSearchParams();
    if (query.sender !== undefined) {
      check_address(query.sender, 'sender');
      params.set('sender', query.sender);
    }
    if (query.contract !== undefined) {
      check_address(query.contract, 'contract');
      params.set('contract', query.contract);
    }
    page_params(params, query);
    const answer = await this.#get<{ txs?: unknown; cursor?: unknown }>(`/v1/txs${query_string(params)}`);
    const node = this.#rpc.current;
    if (!Array.isArray(answer?.txs)) throw new BadAnswerError('a transaction listing without txs', { node });
    return {
      items: answer.txs.map((t: unknown) => check_record(t, node)),
      cursor: check_cursor(answer.cursor, node),
    };
  }

  /** `GET /v1/blocks/{height}/txs` (docs/protocol-notes.md extension): the block's transaction texts. */
  async block_txs(height: number): Promise<string[]> {
    check_count(height, 'height', 1);
    const answer = await this.#get<{ txs?: unknown }>(`/v1/blocks/${height}/txs`);
    if (!Array.isArray(answer.txs) || !answer.txs.every((t) => typeof t === 'string'))
      throw new BadAnswerError('block txs is not an array of strings', { node: this.#rpc.current });
    return answer.txs as string[];
  }

  async #code_hash_of_contract(address: string): Promise<string> {
    return this.#code_hashes.get(address) ?? (await this.contract(address)).code_hash;
  }

  async #code_hash_of_code(code_id: number): Promise<string> {
    const code = (await this.codes()).find((c) => c.code_id === code_id);
    if (code === undefined)
      throw error_from_code(ClientErrorCode.UNKNOWN_CODE_OR_CONTRACT, 'unknown code', {
        context: `code id ${code_id}`,
        node: this.#rpc.current,
      });
    return code.code_hash;
  }

  /**
   * Encrypts `msg` (a JSON value) for the contract whose code hash is `code_hash` (protocol.md §3)
   * with a fresh nonce. The envelope's `sk_u` is `opts.key`'s encryption key, so its owner can
   * recover `tx_key` later ({@link recover_tx_key}); without a key, a one-off key.
   */
  async encrypt(
    code_hash: string,
    msg: unknown,
    scheme: Scheme = 'gcm',
    opts: { key?: ClientKey | undefined } = {},
  ): Promise<EncryptedMessage> {
    check_hash(code_hash, 'code_hash');
    check_scheme(scheme);
    const text = msg_json(msg);
    if (opts.key !== undefined) check_key(opts.key);
    const { chain_id, pk_io } = await this.#network_keys();
    const nonce = this.#m.random(ENVELOPE_NONCE_BYTES);
    const sk_u = opts.key?.encryption_sk ?? this.#m.random(32);
    const { envelope, tx_key } = encrypt_message(p, {
      scheme,
      sk_u,
      pk_io,
      nonce,
      chain_id,
      code_hash,
      msg_json: text,
    });
    return {
      payload: to_base64(envelope),
      tx_key,
      scheme,
      nonce: to_hex(nonce),
      pk_u: to_hex(p.x25519_secret(sk_u).public_key),
    };
  }

  /**
   * Signs `msg` as `key`'s account (protocol.md §5). The sequence is `opts.sequence`, else the
   * local counter, else the account's committed count from `GET /v1/accounts/{address}`; the
   * counter then moves on by one. The gas price (§9) is `opts.gas_price`, else the client's
   * (`'auto'`: the network's `min_gas_price`); it enters the body only when above 0, so a
   * transaction without fee is signed exactly as in v1. A gas price that is not a non-negative
   * integer is a TypeError/RangeError, and `gas_limit × gas_price` not below 2^53 a
   * {@link MalformedTransactionError} (code 7), both before anything is sent.
   */
  async sign(key: ClientKey, msg: TxMsg, opts: SignOptions = {}): Promise<Tx> {
    check_key(key);
    if (typeof msg !== 'object' || msg === null) throw new TypeError('msg must be a transaction message');
    const info = key_info(key);
    const gas_limit = opts.gas_limit ?? this.#gas_limit;
    check_count(gas_limit, 'gas_limit', 1);
    const asked = opts.gas_price ?? this.#gas_price;
    check_gas_price(asked);
    if (asked !== 'auto') check_fee(gas_limit, asked);
    const { chain_id, min_gas_price } = await this.#network_keys();
    const gas_price = asked === 'auto' ? min_gas_price : asked;
    check_fee(gas_limit, gas_price);
    let sequence = opts.sequence ?? this.#sequences.get(info.address);
    if (sequence === undefined) sequence = (await this.account(info.address)).sequence;
    check_count(sequence, 'sequence');
    this.#sequences.set(info.address, sequence + 1);
    return sign_tx(p, key.account_sk, {
      chain_id,
      sender: info.account_pubkey,
      sequence,
      gas_limit,
      ...(gas_price > 0 ? { gas_price } : {}),
      msg,
    });
  }

  /**
   * Submits a signed transaction (`POST /v1/txs`, protocol.md §6) and, with `wait`, waits for its
   * commit ({@link wait_for}). A refusal is thrown as its typed error; after a wrong sequence
   * (code 5) the local counter takes the node's expected value, after any other failure it is
   * dropped so the next {@link sign} asks the node.
   */
  async submit(tx: Tx, opts: { wait?: boolean } = {}): Promise<{ hash: string; record: TxRecord | null }> {
    let checked: Tx;
    try {
      checked = parse_tx(tx);
    } catch (error) {
      if (error instanceof MalformedTxError) throw new MalformedTransactionError(error.message);
      throw error;
    }
    const hash = tx_hash(p, checked);
    const sender = account_address(p, from_hex(checked.body.sender, 32));
    try {
      const answer = await this.#rpc.request<{ hash?: unknown }>('POST', '/v1/txs', {
        body: checked,
        timeout_ms: this.#request_timeout_ms,
        context: checked.body.msg.type === 'execute' ? `contract ${checked.body.msg.contract}` : undefined,
      });
      if (answer.hash !== hash)
        throw new BadAnswerError(`the node names the transaction ${String(answer.hash)}, not ${hash}`, {
          node: this.#rpc.current,
        });
    } catch (error) {
      if (error instanceof WrongSequenceError && error.expected !== undefined)
        this.#sequences.set(sender, error.expected);
      else this.#sequences.delete(sender);
      throw error;
    }
    if (opts.wait !== true) return { hash, record: null };
    return { hash, record: await this.wait_for(hash) };
  }

  /**
   * Resolves with the committed record of `hash`. Watches the live stream `GET /v1/events` (after
   * it opens, it checks `GET /v1/txs/{hash}` once, so a commit in between is not missed); if the
   * stream cannot be opened or breaks, polls `GET /v1/txs/{hash}` with growing pauses. Throws
   * {@link WaitTimeoutError} after `timeout_ms`.
   */
  async wait_for(hash: string, opts: { timeout_ms?: number } = {}): Promise<TxRecord> {
    check_hash(hash);
    const timeout_ms = opts.timeout_ms ?? this.#wait_timeout_ms;
    check_count(timeout_ms, 'timeout_ms', 1);
    const deadline = this.#m.now() + timeout_ms;
    const streamed = await this.#wait_streamed(hash, deadline);
    if (streamed === 'timeout') throw new WaitTimeoutError(hash, timeout_ms, { node: this.#rpc.current });
    if (streamed !== 'unavailable') return streamed;
    return this.#wait_polled(hash, deadline, timeout_ms);
  }

  async #wait_streamed(hash: string, deadline: number): Promise<TxRecord | 'timeout' | 'unavailable'> {
    const abort = new AbortController();
    const stop_timer = new AbortController();
    let timed_out = false;
    void this.#m.sleep(deadline - this.#m.now(), stop_timer.signal).then(() => {
      if (stop_timer.signal.aborted) return;
      timed_out = true;
      abort.abort();
    });
    try {
      const { body } = await this.#rpc.open_stream(abort.signal);
      // Subscribed: any later commit arrives on the stream; an earlier one is already served.
      const earlier = await this.#find_tx(hash);
      if (earlier !== null) return earlier;
      for await (const event of read_events(body)) {
        if (event.type !== 'tx') continue;
        let data: unknown;
        try {
          data = JSON.parse(event.data);
        } catch {
          continue;
        }
        if ((data as { hash?: unknown })?.hash === hash) return check_record(data, this.#rpc.current);
      }
      return timed_out ? 'timeout' : 'unavailable';
    } catch (error) {
      if (timed_out) return 'timeout';
      // A refusal of the tx lookup itself is the caller's answer, not a reason to poll.
      if (error instanceof CloisterError && !(error instanceof ConnectionError) && error.code < 100)
        throw error;
      return 'unavailable';
    } finally {
      stop_timer.abort();
      abort.abort();
    }
  }

  async #wait_polled(hash: string, deadline: number, timeout_ms: number): Promise<TxRecord> {
    let pause = POLL_INTERVAL_MS_FIRST;
    for (;;) {
      let unreachable: ConnectionError | undefined;
      try {
        const record = await this.#find_tx(hash);
        if (record !== null) return record;
      } catch (error) {
        // A node may be restarting: keep trying others until the deadline.
        if (!(error instanceof ConnectionError)) throw error;
        unreachable = error;
      }
      const left = deadline - this.#m.now();
      if (left <= 0) throw unreachable ?? new WaitTimeoutError(hash, timeout_ms, { node: this.#rpc.current });
      await this.#m.sleep(Math.min(pause, left));
      pause = Math.min(pause * 2, POLL_INTERVAL_MS_MAX);
    }
  }

  /**
   * Opens the sealed result of a committed transaction or query (protocol.md §4) with its
   * `tx_key`: `{data, events, debug?}` or `{error, debug?}` (§9: `debug` on development networks,
   * `public: true` on events also listed in plaintext). Throws {@link ResultAuthError} if it does
   * not authenticate (tampered or not yours), and the typed error of the record's code when there
   * is no sealed output (codes 2-8).
   */
  decrypt(
    record: { code: number; output: string; hash?: string },
    tx_key: Uint8Array,
    scheme: Scheme,
  ): ContractResult {
    if (typeof record !== 'object' || record === null) throw new TypeError('record must be an object');
    check_scheme(scheme);
    if (typeof record.output !== 'string') throw new TypeError('record.output must be a string');
    const details = record.hash === undefined ? {} : { hash: record.hash };
    if (record.output === '') {
      if (record.code === 0) throw new RangeError('this transaction has no sealed result (store_code)');
      throw error_from_code(record.code, RESULT_CODE_NAMES[record.code as ResultCode] ?? 'failed', details);
    }
    let output: Uint8Array;
    try {
      output = from_base64(record.output);
    } catch {
      throw new ResultAuthError(details);
    }
    try {
      return open_result(p, scheme, tx_key, output);
    } catch (error) {
      if (error instanceof DecryptError) throw new ResultAuthError(details);
      throw error;
    }
  }

  /**
   * The decrypted outcome of a record: `{data, events, debug?}` for code 0; {@link ContractError}
   * with the contract's own message (and its `debug` lines) for code 1; the code's typed error
   * otherwise.
   */
  open(
    record: { code: number; output: string; hash?: string },
    tx_key: Uint8Array,
    scheme: Scheme,
    context?: { what?: string; gas_limit?: number },
  ): { data: unknown; events: ContractEventJson[]; debug?: string[] } {
    const details = record.hash === undefined ? {} : { hash: record.hash };
    if (record.code !== 0 && record.code !== 1) {
      throw error_from_code(record.code, RESULT_CODE_NAMES[record.code as ResultCode] ?? 'failed', {
        ...details,
        ...(context?.what === undefined ? {} : { context: context.what }),
        ...(context?.gas_limit === undefined ? {} : { gas_limit: context.gas_limit }),
      });
    }
    const result = this.decrypt(record, tx_key, scheme);
    if ('error' in result) throw new ContractError(result.error, details, result.debug);
    if (record.code !== 0) throw new BadAnswerError('code 1 with a successful result', details);
    return result.debug === undefined
      ? { data: result.data, events: result.events }
      : { data: result.data, events: result.events, debug: result.debug };
  }

  /**
   * The signed transaction of a committed record, read from its block
   * (`GET /v1/blocks/{height}/txs`): its sender, message, gas limit and price (protocol.md §5, §9).
   */
  async tx_of(record: { hash: string; height: number }): Promise<Tx> {
    if (typeof record !== 'object' || record === null) throw new TypeError('record must be a TxRecord');
    check_hash(record.hash, 'record.hash');
    const texts = await this.block_txs(record.height);
    let tx: Tx | undefined;
    for (const text of texts) {
      try {
        const candidate = parse_tx_json(text);
        if (tx_hash(p, candidate) === record.hash) {
          tx = candidate;
          break;
        }
      } catch {
        // Not a §5 transaction: not the one asked for.
      }
    }
    if (tx === undefined)
      throw new BadAnswerError(`block ${record.height} does not hold transaction ${record.hash}`, {
        node: this.#rpc.current,
      });
    return tx;
  }

  /**
   * Reads the envelope of a committed instantiate or execute from its block
   * (`GET /v1/blocks/{height}/txs`): the transaction, scheme, nonce and `pk_u` (protocol.md §3).
   */
  async envelope_of(record: TxRecord): Promise<EnvelopeInfo> {
    const tx = await this.tx_of(record);
    const msg = tx.body.msg;
    if (msg.type !== 'instantiate' && msg.type !== 'execute')
      throw new RangeError(`a ${msg.type} transaction carries no envelope`);
    const envelope = from_base64(msg.payload);
    const offset = msg.scheme === 'gcm' ? 1 : 0;
    if (envelope.length < offset + 64 || (msg.scheme === 'gcm' && envelope[0] !== ENVELOPE_GCM_VERSION))
      throw new NotYourTxError('(none: the envelope is malformed)', { hash: record.hash });
    return {
      tx,
      scheme: msg.scheme,
      nonce: to_hex(envelope.subarray(offset, offset + 32)),
      pk_u: to_hex(envelope.subarray(offset + 32, offset + 64)),
    };
  }

  /**
   * Recovers the `tx_key` of a committed transaction sent with one of `keys` (default: the
   * client's keys): reads nonce and `pk_u` from its envelope ({@link envelope_of}) and, if `pk_u`
   * is one of the keys' encryption public keys, derives
   * `tx_key = HKDF(X25519(sk_u, pk_io) ‖ nonce, SALT, "", 32)` (protocol.md §3).
   * {@link NotYourTxError} otherwise.
   */
  async recover_tx_key(
    record: TxRecord,
    keys: readonly ClientKey[] = this.#keys,
  ): Promise<{ tx_key: Uint8Array; scheme: Scheme; key: ClientKey; envelope: EnvelopeInfo }> {
    if (!Array.isArray(keys)) throw new TypeError('keys must be an array of ClientKey');
    const envelope = await this.envelope_of(record);
    const pk_u = from_hex(envelope.pk_u, 32);
    const { pk_io } = await this.#network_keys();
    for (const key of keys) {
      check_key(key);
      const secret = p.x25519_secret(key.encryption_sk);
      if (!equal_bytes(secret.public_key, pk_u)) continue;
      const shared = secret.shared(pk_io);
      if (shared === null) throw new BadAnswerError('the io key is a point of small order');
      return {
        tx_key: derive_tx_key(p, shared, from_hex(envelope.nonce, 32)),
        scheme: envelope.scheme,
        key,
        envelope,
      };
    }
    throw new NotYourTxError(envelope.pk_u, { hash: record.hash });
  }

  /**
   * Encrypts `msg` (protocol.md §3) with `opts.scheme` (default `'gcm'`), sends it as a query
   * (`POST /v1/contracts/{address}/query`, §6) and returns the decrypted `data` (§4).
   * {@link ContractError} for a contract error (code 1).
   *
   * `T` is the caller's claim about the shape of the contract's answer, for its own type checking:
   * the client only parses the JSON and does not check it against `T`. Check it yourself where a
   * wrong shape matters.
   */
  async query<T = unknown>(address: string, msg: unknown, opts: QueryOptions = {}): Promise<T> {
    check_address(address, 'contract address');
    // biome-ignore lint/complexity/noArguments: refuses the old positional scheme of JavaScript callers
    check_opts(opts, arguments.length > 3);
    const scheme = opts.scheme ?? 'gcm';
    check_scheme(scheme);
    const code_hash = opts.code_hash ?? (await this.#code_hash_of_contract(address));
    const e = await this.encrypt(code_hash, msg, scheme, { key: opts.key });
    const answer = await this.#rpc.request<{ code?: unknown; output?: unknown }>(
      'POST',
      `/v1/contracts/${address}/query`,
      {
        body: { scheme, payload: e.payload },
        timeout_ms: this.#request_timeout_ms,
        context: `contract ${address}`,
      },
    );
    if (!Number.isSafeInteger(answer.code) || typeof answer.output !== 'string')
      throw new BadAnswerError('a query answer without code and output', { node: this.#rpc.current });
    return this.open({ code: answer.code as number, output: answer.output }, e.tx_key, scheme).data as T;
  }

  /**
   * Checks a lifecycle method's options before anything is encrypted or sent: gas limit and price
   * (§9: `gas_limit × gas_price` below 2^53 when the price is a number) and funds.
   */
  #check_send_opts(opts: SendOptions): void {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('opts must be an object');
    const gas_limit = opts.gas_limit ?? this.#gas_limit;
    check_count(gas_limit, 'gas_limit', 1);
    const gas_price = opts.gas_price ?? this.#gas_price;
    check_gas_price(gas_price);
    if (gas_price !== 'auto') check_fee(gas_limit, gas_price);
    if (opts.funds !== undefined) check_count(opts.funds, 'funds');
  }

  async #send(
    key: ClientKey,
    msg: TxMsg,
    opts: SendOptions,
  ): Promise<{ tx: Tx; hash: string; record: TxRecord | null; gas_limit: number; gas_price: number }> {
    const gas_limit = opts.gas_limit ?? this.#gas_limit;
    const gas_price = opts.gas_price ?? this.#gas_price;
    for (let attempt = 0; ; attempt++) {
      const tx = await this.sign(key, msg, { gas_limit, gas_price });
      try {
        const sent = await this.submit(tx, { wait: opts.wait !== false });
        return { tx, gas_limit, gas_price: tx.body.gas_price ?? 0, ...sent };
      } catch (error) {
        // Another transaction from this key got in first: sign once more at the node's sequence.
        if (!(error instanceof WrongSequenceError) || attempt >= 1) throw error;
      }
    }
  }

  /** The outcome fields every lifecycle method fills: hash, record, sequence, gas price and fee. */
  #outcome<T>(sent: { tx: Tx; hash: string; record: TxRecord | null }): TxOutcome<T> {
    const gas_price = sent.tx.body.gas_price ?? 0;
    return {
      hash: sent.hash,
      record: sent.record,
      sequence: sent.tx.body.sequence,
      gas_price,
      fee: sent.tx.body.gas_limit * gas_price,
    };
  }

  /** Throws the typed error of a committed record's non-zero code (one without a sealed result). */
  #check_committed(sent: { hash: string; record: TxRecord | null; gas_limit: number }): void {
    if (sent.record === null || sent.record.code === 0) return;
    throw error_from_code(sent.record.code, RESULT_CODE_NAMES[sent.record.code as ResultCode] ?? 'failed', {
      hash: sent.hash,
      gas_limit: sent.gas_limit,
    });
  }

  /**
   * Stores contract code (protocol.md §5 `store_code`). With `wait` (default) resolves once
   * committed, with `code_id`; `code_hash` is `H(code)`.
   */
  async store_code(key: ClientKey, code: Uint8Array, opts: SendOptions = {}): Promise<TxOutcome> {
    check_key(key);
    if (!(code instanceof Uint8Array)) throw new TypeError('code must be a Uint8Array');
    this.#check_send_opts(opts);
    if (opts.funds !== undefined && opts.funds > 0)
      throw new RangeError('funds go only with instantiate and execute (protocol.md §9)');
    const code_hash = to_hex(p.sha256(code));
    const sent = await this.#send(key, { type: 'store_code', code: to_base64(code) }, opts);
    const out: TxOutcome = { ...this.#outcome(sent), code_hash };
    this.#check_committed(sent);
    if (sent.record?.code_id !== undefined) out.code_id = sent.record.code_id;
    return out;
  }

  /**
   * Sends `amount` ucst from `key`'s account to `to`, an account or contract address (protocol.md
   * §9 `send`). With `wait` (default) resolves once committed; a committed failure is thrown as
   * its typed error ({@link InsufficientFundsError} for code 8). `opts.funds` does not apply.
   */
  async send(key: ClientKey, to: string, amount: number, opts: SendOptions = {}): Promise<TxOutcome> {
    check_key(key);
    check_address(to, 'recipient address');
    check_count(amount, 'amount', 1);
    this.#check_send_opts(opts);
    if (opts.funds !== undefined && opts.funds > 0)
      throw new RangeError('funds go only with instantiate and execute; a send moves its amount');
    const sent = await this.#send(key, { type: 'send', to, amount }, opts);
    const out: TxOutcome = { ...this.#outcome(sent), to, amount };
    this.#check_committed(sent);
    return out;
  }

  /**
   * Creates a contract of `code_id` with the init `msg`, encrypted with `opts.scheme` (default
   * `'gcm'`, protocol.md §3), as an `instantiate` transaction (§5), sending it `opts.funds` ucst
   * (§9). The new address is known at once; with `wait` (default) resolves once committed with the
   * decrypted result (§4), and throws the typed error of a failure. `T`, the type of `data`, is
   * the caller's claim and is not checked (see {@link query}).
   */
  async instantiate<T = unknown>(
    key: ClientKey,
    code_id: number,
    label: string,
    msg: unknown,
    opts: ContractTxOptions = {},
  ): Promise<TxOutcome<T>> {
    check_key(key);
    check_count(code_id, 'code_id', 1);
    if (typeof label !== 'string' || label.length === 0)
      throw new TypeError('label must be a non-empty string');
    // biome-ignore lint/complexity/noArguments: refuses the old positional scheme of JavaScript callers
    check_opts(opts, arguments.length > 5);
    const scheme = opts.scheme ?? 'gcm';
    check_scheme(scheme);
    this.#check_send_opts(opts);
    const code_hash = opts.code_hash ?? (await this.#code_hash_of_code(code_id));
    const e = await this.encrypt(code_hash, msg, scheme, { key });
    const sent = await this.#send(
      key,
      with_funds({ type: 'instantiate', code_id, label, scheme, payload: e.payload }, opts.funds),
      opts,
    );
    const contract = contract_address(p, sent.tx.body.sender, sent.tx.body.sequence);
    const out: TxOutcome<T> = {
      ...this.#outcome<T>(sent),
      ...(opts.funds ? { funds: opts.funds } : {}),
      contract,
      tx_key: e.tx_key,
      scheme,
    };
    if (sent.record === null) return out;
    const result = this.open(sent.record, e.tx_key, scheme, {
      what: `code id ${code_id}`,
      gas_limit: sent.gas_limit,
    });
    if (sent.record.contract !== undefined && sent.record.contract !== contract)
      throw new BadAnswerError(`the node created ${sent.record.contract}, not ${contract}`);
    this.#code_hashes.set(contract, code_hash);
    return { ...out, ...result, data: result.data as T };
  }

  /**
   * Runs a contract's execute entry point with `msg`, encrypted with `opts.scheme` (default
   * `'gcm'`, protocol.md §3), as an `execute` transaction (§5), sending it `opts.funds` ucst (§9).
   * With `wait` (default) resolves once committed with the decrypted `data`, `events` and `debug`
   * (§4, §9), and throws the typed error of a failure. `T`, the type of `data`, is the caller's
   * claim and is not checked (see {@link query}).
   */
  async execute<T = unknown>(
    key: ClientKey,
    contract: string,
    msg: unknown,
    opts: ContractTxOptions = {},
  ): Promise<TxOutcome<T>> {
    check_key(key);
    check_address(contract, 'contract address');
    // biome-ignore lint/complexity/noArguments: refuses the old positional scheme of JavaScript callers
    check_opts(opts, arguments.length > 4);
    const scheme = opts.scheme ?? 'gcm';
    check_scheme(scheme);
    this.#check_send_opts(opts);
    const code_hash = opts.code_hash ?? (await this.#code_hash_of_contract(contract));
    const e = await this.encrypt(code_hash, msg, scheme, { key });
    const sent = await this.#send(
      key,
      with_funds({ type: 'execute', contract, scheme, payload: e.payload }, opts.funds),
      opts,
    );
    const out: TxOutcome<T> = {
      ...this.#outcome<T>(sent),
      ...(opts.funds ? { funds: opts.funds } : {}),
      tx_key: e.tx_key,
      scheme,
    };
    if (sent.record === null) return out;
    const result = this.open(sent.record, e.tx_key, scheme, {
      what: `contract ${contract}`,
      gas_limit: sent.gas_limit,
    });
    return { ...out, ...result, data: result.data as T };
  }

  /**
   * Asks a development network's faucet for tokens (`POST /v1/faucet`, protocol.md §9): `amount`
   * ucst (the node's default, 1,000,000, when left out; at most 10^9) to `address`. Resolves with
   * the committed faucet transaction. {@link NoFaucetError} (code 100) on a network without a
   * faucet, {@link RateLimitedError} (code 112, with `retry_after_s`) when this address asked too
   * often, the record's typed error if it committed with a non-zero code.
   */
  async faucet(address: string, amount?: number): Promise<FaucetOutcome> {
    check_address(address, 'address');
    if (amount !== undefined) {
      check_count(amount, 'amount', 1);
      if (amount > FAUCET_AMOUNT_MAX)
        throw new RangeError(`amount must be at most ${FAUCET_AMOUNT_MAX} (the faucet's limit per request)`);
    }
    let answer: unknown;
    try {
      answer = await this.#rpc.request<unknown>('POST', '/v1/faucet', {
        body: amount === undefined ? { address } : { address, amount },
        // The node answers once the faucet's transaction commits.
        timeout_ms: Math.max(this.#request_timeout_ms, this.#wait_timeout_ms),
      });
    } catch (error) {
      if (error instanceof CloisterError && error.code === ClientErrorCode.NOT_FOUND && error.status === 404)
        throw new NoFaucetError({ node: error.node ?? this.#rpc.current, status: 404, cause: error });
      throw error;
    }
    const record = check_record(answer, this.#rpc.current);
    if (record.code !== 0)
      throw error_from_code(record.code, RESULT_CODE_NAMES[record.code as ResultCode] ?? 'failed', {
        hash: record.hash,
      });
    return { hash: record.hash, record, address, amount };
  }

  /** Requests to one node, for a follower catching up from the node its stream is on. */
  #follow_node(node: string): FollowNode {
    const rpc = new RpcTransport({ nodes: [node] }, this.#m as TransportModules);
    const get = <T>(path: string): Promise<T> =>
      rpc.request<T>('GET', path, { timeout_ms: this.#request_timeout_ms });
    return {
      height: async () => this.#check_status(await get<NodeStatus>('/v1/status'), node).height,
      block_hashes: async (height) => {
        const block = await get<{ tx_hashes?: unknown }>(`/v1/blocks/${height}`);
        const hashes = block?.tx_hashes;
        if (!Array.isArray(hashes) || !hashes.every(is_hex64))
          throw new BadAnswerError(`block ${height} without tx_hashes`, { node });
        return hashes as string[];
      },
      tx: async (hash) => check_record(await get<unknown>(`/v1/txs/${hash}`), node),
    };
  }

  /**
   * The public events (protocol.md §9) of committed transactions, as they commit, in commit order:
   * an async iterator of `{height, hash, index, event_index, contract, type, attributes}`. Only
   * those of `opts.contract` when given. With `opts.from_height`, first those of every block from
   * that height (`GET /v1/blocks/{h}`, `GET /v1/txs/{hash}`), then live ones from the stream
   * `GET /v1/events`, without gap or duplicate. Reconnects (to any of the client's nodes) when the
   * stream breaks, and catches up what it missed; `opts.on_status` hears of it. Ends when
   * `opts.signal` aborts, yielding nothing more, or when the caller stops iterating; throws only
   * ChainIdMismatchError.
   */
  public_events(opts: FollowOptions & { contract?: string | undefined } = {}): AsyncGenerator<PublicEventAt> {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('opts must be an object');
    const { contract } = opts;
    if (contract !== undefined) check_address(contract, 'contract address');
    if (opts.from_height !== undefined) check_count(opts.from_height, 'from_height', 1);
    return follow_public_events(
      {
        open: (signal) => this.#rpc.open_stream(signal),
        at: (node) => this.#follow_node(node),
        parse_tx: (data, node) => check_record(data, node),
        sleep: (ms, signal) => this.#m.sleep(ms, signal),
      },
      contract === undefined ? () => true : (e) => e.contract === contract,
      opts,
    );
  }

  /** {@link public_events} of one contract: the events it emitted (`event.contract === contract`). */
  contract_events(contract: string, opts: FollowOptions = {}): AsyncGenerator<PublicEventAt> {
    check_address(contract, 'contract address');
    return this.public_events({ ...opts, contract });
  }
}
