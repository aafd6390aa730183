/**
 * `CloisterClient`: talks to a Cloister network over protocol.md §6, encrypts contract messages
 * (§3), signs transactions (§5), waits for their commit and decrypts their results (§4).
 * Browser-safe: cryptography comes only from `protocol/providers/noble.ts`; fetch, clock, timer
 * and randomness are injectable.
 * @module
 */

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
import {
  BadAnswerError,
  ChainIdMismatchError,
  ClientErrorCode,
  CloisterError,
  ConnectionError,
  ContractError,
  error_from_code,
  MalformedTransactionError,
  NotYourTxError,
  ResultAuthError,
  WaitTimeoutError,
  WrongSequenceError,
} from './errors.js';
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

/** `GET /v1/status` (protocol.md §6). */
export interface NodeStatus {
  chain_id: string;
  height: number;
  io_pubkey: string;
  seed_exchange_pubkey: string;
  validator: unknown;
  validators: unknown[];
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
}

/** `GET /v1/contracts/{address}` (protocol.md §6). */
export interface ContractInfo {
  address: string;
  code_id: number;
  code_hash: string;
  label: string;
  creator: string;
}

/** A committed transaction, `GET /v1/txs/{hash}` (protocol.md §6). */
export interface TxRecord {
  hash: string;
  height: number;
  index: number;
  code: number;
  gas_used: number;
  /** Base64 of the sealed result (§4); empty for codes 2-7 and store_code. */
  output: string;
  contract?: string;
  code_id?: number;
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

/** What a transaction sent through a lifecycle method gave. */
export interface TxOutcome {
  hash: string;
  /** The committed record; `null` when the caller did not wait. */
  record: TxRecord | null;
  /** The sequence the transaction was signed with. */
  sequence: number;
  /** Decrypted `data` of the result (§4), once committed with code 0. */
  data?: unknown;
  /** Decrypted events of the result (§4). */
  events?: ContractEventJson[];
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

/** Options of a transaction-sending lifecycle method. */
export interface SendOptions {
  /** Wait for the commit and decrypt the result (default true). */
  wait?: boolean;
  gas_limit?: number;
  /** Encrypt for this code hash instead of the contract's (to test the enclave's refusal, §3). */
  code_hash?: string;
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
  const out: TxRecord = {
    hash: r['hash'] as string,
    height: r['height'] as number,
    index: r['index'] as number,
    code: r['code'] as number,
    gas_used: r['gas_used'] as number,
    output: r['output'] as string,
  };
  if (r['contract'] !== undefined) out.contract = r['contract'] as string;
  if (r['code_id'] !== undefined) out.code_id = r['code_id'] as number;
  return out;
}

/**
 * A client of a Cloister network (protocol.md §3-§6). Learns the chain id from `GET /v1/status`
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
  readonly #request_timeout_ms: number;
  readonly #wait_timeout_ms: number;
  #network: Promise<{ chain_id: string; pk_io: Uint8Array }> | null = null;
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

  #check_chain_id(status: NodeStatus): void {
    if (typeof status !== 'object' || status === null || typeof status.chain_id !== 'string')
      throw new BadAnswerError('a status without chain_id', { node: this.#rpc.current });
    const halted = status.halted;
    if (
      halted !== undefined &&
      halted !== null &&
      (typeof halted !== 'object' ||
        !Number.isSafeInteger(halted.height) ||
        typeof halted.reason !== 'string')
    )
      throw new BadAnswerError('a status whose halted is not {"height", "reason"}', {
        node: this.#rpc.current,
      });
    if (this.#expected_chain_id !== undefined && status.chain_id !== this.#expected_chain_id)
      throw new ChainIdMismatchError(this.#expected_chain_id, status.chain_id, { node: this.#rpc.current });
  }

  /** Chain id and io key, fetched once (protocol.md §2, §6). */
  #network_keys(): Promise<{ chain_id: string; pk_io: Uint8Array }> {
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
      return { chain_id: status.chain_id, pk_io };
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
   * `GET /v1/status` (protocol.md §6); ChainIdMismatchError if the node serves another chain.
   * `halted` is set when the answering node halted ({@link node} names it).
   */
  async status(): Promise<NodeStatus> {
    const status = await this.#get<NodeStatus>('/v1/status');
    this.#check_chain_id(status);
    return status;
  }

  /** `GET /v1/codes` (protocol.md §6): every stored code, the reference contracts first. */
  async codes(): Promise<CodeInfo[]> {
    const codes = await this.#get<CodeInfo[]>('/v1/codes');
    if (!Array.isArray(codes)) throw new BadAnswerError('codes is not an array', { node: this.#rpc.current });
    return codes;
  }

  /** `GET /v1/contracts/{address}` (protocol.md §6); code 6 error if there is no such contract. */
  async contract(address: string): Promise<ContractInfo> {
    check_address(address, 'contract address');
    const info = await this.#get<ContractInfo>(`/v1/contracts/${address}`, `contract ${address}`);
    if (!is_hex64(info?.code_hash))
      throw new BadAnswerError('a contract without a code hash', { node: this.#rpc.current });
    this.#code_hashes.set(address, info.code_hash);
    return info;
  }

  /** `GET /v1/accounts/{address}` (protocol.md §6): the count of the account's committed transactions. */
  async account(address: string): Promise<{ address: string; sequence: number }> {
    check_address(address, 'account address');
    const account = await this.#get<{ address: string; sequence: number }>(`/v1/accounts/${address}`);
    if (!Number.isSafeInteger(account?.sequence))
      throw new BadAnswerError('an account without a sequence', { node: this.#rpc.current });
    return account;
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
   * counter then moves on by one.
   */
  async sign(key: ClientKey, msg: TxMsg, opts: { sequence?: number; gas_limit?: number } = {}): Promise<Tx> {
    check_key(key);
    if (typeof msg !== 'object' || msg === null) throw new TypeError('msg must be a transaction message');
    const info = key_info(key);
    const gas_limit = opts.gas_limit ?? this.#gas_limit;
    check_count(gas_limit, 'gas_limit', 1);
    const { chain_id } = await this.#network_keys();
    let sequence = opts.sequence ?? this.#sequences.get(info.address);
    if (sequence === undefined) sequence = (await this.account(info.address)).sequence;
    check_count(sequence, 'sequence');
    this.#sequences.set(info.address, sequence + 1);
    return sign_tx(p, key.account_sk, {
      chain_id,
      sender: info.account_pubkey,
      sequence,
      gas_limit,
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
   * `tx_key`. Throws {@link ResultAuthError} if it does not authenticate (tampered or not yours),
   * and the typed error of the record's code when there is no sealed output (codes 2-7).
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
   * The decrypted outcome of a record: `{data, events}` for code 0; {@link ContractError} with the
   * contract's own message for code 1; the code's typed error otherwise.
   */
  open(
    record: { code: number; output: string; hash?: string },
    tx_key: Uint8Array,
    scheme: Scheme,
    context?: { what?: string; gas_limit?: number },
  ): { data: unknown; events: ContractEventJson[] } {
    const details = record.hash === undefined ? {} : { hash: record.hash };
    if (record.code !== 0 && record.code !== 1) {
      throw error_from_code(record.code, RESULT_CODE_NAMES[record.code as ResultCode] ?? 'failed', {
        ...details,
        ...(context?.what === undefined ? {} : { context: context.what }),
        ...(context?.gas_limit === undefined ? {} : { gas_limit: context.gas_limit }),
      });
    }
    const result = this.decrypt(record, tx_key, scheme);
    if ('error' in result) throw new ContractError(result.error, details);
    if (record.code !== 0) throw new BadAnswerError('code 1 with a successful result', details);
    return { data: result.data, events: result.events };
  }

  /**
   * Reads the envelope of a committed instantiate or execute from its block
   * (`GET /v1/blocks/{height}/txs`): the transaction, scheme, nonce and `pk_u` (protocol.md §3).
   */
  async envelope_of(record: TxRecord): Promise<EnvelopeInfo> {
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
   * Encrypts and sends a query (`POST /v1/contracts/{address}/query`, protocol.md §6) and returns
   * the decrypted `data` (§4). {@link ContractError} for a contract error (code 1).
   */
  async query(
    address: string,
    msg: unknown,
    scheme: Scheme = 'gcm',
    opts: { key?: ClientKey; code_hash?: string } = {},
  ): Promise<unknown> {
    check_address(address, 'contract address');
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
    return this.open({ code: answer.code as number, output: answer.output }, e.tx_key, scheme).data;
  }

  async #send(
    key: ClientKey,
    msg: TxMsg,
    opts: SendOptions,
  ): Promise<{ tx: Tx; hash: string; record: TxRecord | null; gas_limit: number }> {
    const gas_limit = opts.gas_limit ?? this.#gas_limit;
    for (let attempt = 0; ; attempt++) {
      const tx = await this.sign(key, msg, { gas_limit });
      try {
        const sent = await this.submit(tx, { wait: opts.wait !== false });
        return { tx, gas_limit, ...sent };
      } catch (error) {
        // Another transaction from this key got in first: sign once more at the node's sequence.
        if (!(error instanceof WrongSequenceError) || attempt >= 1) throw error;
      }
    }
  }

  /**
   * Stores contract code (protocol.md §5 `store_code`). With `wait` (default) resolves once
   * committed, with `code_id`; `code_hash` is `H(code)`.
   */
  async store_code(key: ClientKey, code: Uint8Array, opts: SendOptions = {}): Promise<TxOutcome> {
    check_key(key);
    if (!(code instanceof Uint8Array)) throw new TypeError('code must be a Uint8Array');
    const code_hash = to_hex(p.sha256(code));
    const sent = await this.#send(key, { type: 'store_code', code: to_base64(code) }, opts);
    const out: TxOutcome = {
      hash: sent.hash,
      record: sent.record,
      sequence: sent.tx.body.sequence,
      code_hash,
    };
    if (sent.record !== null) {
      if (sent.record.code !== 0)
        throw error_from_code(
          sent.record.code,
          RESULT_CODE_NAMES[sent.record.code as ResultCode] ?? 'failed',
          {
            hash: sent.hash,
            gas_limit: sent.gas_limit,
          },
        );
      if (sent.record.code_id !== undefined) out.code_id = sent.record.code_id;
    }
    return out;
  }

  /**
   * Creates a contract of `code_id` with the encrypted init `msg` (protocol.md §5 `instantiate`).
   * The new address is known at once; with `wait` (default) resolves once committed with the
   * decrypted result, and throws the typed error of a failure.
   */
  async instantiate(
    key: ClientKey,
    code_id: number,
    label: string,
    msg: unknown,
    scheme: Scheme = 'gcm',
    opts: SendOptions = {},
  ): Promise<TxOutcome> {
    check_key(key);
    check_count(code_id, 'code_id', 1);
    if (typeof label !== 'string' || label.length === 0)
      throw new TypeError('label must be a non-empty string');
    check_scheme(scheme);
    const code_hash = opts.code_hash ?? (await this.#code_hash_of_code(code_id));
    const e = await this.encrypt(code_hash, msg, scheme, { key });
    const sent = await this.#send(
      key,
      { type: 'instantiate', code_id, label, scheme, payload: e.payload },
      opts,
    );
    const contract = contract_address(p, sent.tx.body.sender, sent.tx.body.sequence);
    const out: TxOutcome = {
      hash: sent.hash,
      record: sent.record,
      sequence: sent.tx.body.sequence,
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
    return { ...out, ...result };
  }

  /**
   * Runs a contract's execute entry point with the encrypted `msg` (protocol.md §5 `execute`).
   * With `wait` (default) resolves once committed with the decrypted `data` and `events`.
   */
  async execute(
    key: ClientKey,
    contract: string,
    msg: unknown,
    scheme: Scheme = 'gcm',
    opts: SendOptions = {},
  ): Promise<TxOutcome> {
    check_key(key);
    check_address(contract, 'contract address');
    check_scheme(scheme);
    const code_hash = opts.code_hash ?? (await this.#code_hash_of_contract(contract));
    const e = await this.encrypt(code_hash, msg, scheme, { key });
    const sent = await this.#send(key, { type: 'execute', contract, scheme, payload: e.payload }, opts);
    const out: TxOutcome = {
      hash: sent.hash,
      record: sent.record,
      sequence: sent.tx.body.sequence,
      tx_key: e.tx_key,
      scheme,
    };
    if (sent.record === null) return out;
    return {
      ...out,
      ...this.open(sent.record, e.tx_key, scheme, {
        what: `contract ${contract}`,
        gas_limit: sent.gas_limit,
      }),
    };
  }
}
