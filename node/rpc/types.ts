/**
 * What the RPC server needs from the validator host (`RpcBackend`), what it streams
 * (`LiveEvent`), and how it is configured (`RpcOptions`, with the defaults of its optional limits).
 * @module
 */

import type { ContractInfo } from '../../enclave/api.js';
import type { Tx } from '../../protocol/tx.js';
import type { TxRecord } from '../records.js';

/** One event of the live stream `GET /v1/events`: a committed block, or one of its transactions. */
export type StreamedEvent =
  | { type: 'block'; height: number; block_hash: string; time_ms: number; txs: number }
  | ({ type: 'tx' } & TxRecord);

/**
 * What a backend's subscribers get: the events streamed, and `halted` once when the node halts,
 * which is never streamed: the server ends every live stream on it (no more events will come).
 */
export type LiveEvent = StreamedEvent | { type: 'halted'; height: number; reason: string };

/** Why a node halted: the height it could not apply and what it found there. */
export interface HaltInfo {
  height: number;
  reason: string;
}

/** What `GET /v1/status` answers (protocol.md §6, §9). */
export interface RpcStatus {
  chain_id: string;
  height: number;
  io_pubkey: string;
  seed_exchange_pubkey: string;
  validator: string;
  validators: { pubkey: string; power: number }[];
  /** protocol.md §9: the least gas price (ucst per unit of gas) a transaction may offer. */
  min_gas_price: number;
  /**
   * Addition to protocol.md §9 (docs/protocol-notes.md): whether this is a development network
   * (funded development accounts, `POST /v1/faucet`, debug lines in results).
   */
  dev: boolean;
  /**
   * Addition (docs/protocol-notes.md "System contracts"): the system contracts genesis made, by
   * name (`directory`, `mailbox`, `stream_acl`, `key_keeper`); `{}` on an older network.
   */
  contracts?: Record<string, string>;
  /**
   * Addition (docs/protocol-notes.md "Discovery and status"): the consensus keys of the validators
   * this node is connected to now, sorted; `[]` on a follower.
   */
  peers?: string[];
  /** Addition: transactions waiting in this node's mempool. */
  mempool?: number;
  /** Addition: the header time of the last committed block (ms since the epoch); null before the first. */
  last_block_time_ms?: number | null;
  /** Set only when the node halted (docs/protocol-notes.md); absent on a healthy node. The server fills it from {@link RpcBackend.halted}. */
  halted?: HaltInfo | undefined;
}

/**
 * Why the node did not take or answer a request: a protocol.md §5 code (4, 5, 7, …), or a
 * condition of the node itself: `'full'` a full mempool, `'busy'` a full enclave queue or a node
 * that is stopping, `'halted'` a halted node, `'enclave_failed'` an enclave call that failed for a
 * reason that is not a result (worker died, deadline passed), `'quarantined'` a transaction this
 * node's liveness guard holds back (node/quarantine.ts).
 */
export type Refusal = {
  ok: false;
  code: number | 'full' | 'busy' | 'halted' | 'enclave_failed' | 'quarantined';
  message: string;
};

/** A refusal at submission (see {@link Refusal}). */
export type SubmitRefusal = Refusal;

/**
 * Why the faucet (`POST /v1/faucet`, protocol.md §9) gave nothing: a {@link Refusal} of its own
 * transaction (`'busy'` also when its sequence kept being taken by other validators' faucets, or
 * the node is stopping), `'rate_limited'` when this address asked too often lately (answered 429
 * with Retry-After), or `'timeout'` when its transaction did not commit in time.
 */
export type FaucetRefusal =
  | Refusal
  | { ok: false; code: 'rate_limited'; message: string; retry_after_s: number }
  | { ok: false; code: 'timeout'; message: string };

/** What the faucet answers: its committed transaction (as `GET /v1/txs/{hash}` shows it), or why not. */
export type FaucetAnswer = { ok: true; record: TxRecord } | FaucetRefusal;

/** `GET /v1/contracts/{address}` (protocol.md §6, §9): the contract's public facts and balance. */
export type ContractAnswer = ContractInfo & { balance: number };

/** `GET /v1/accounts/{address}` (protocol.md §6, §9). */
export interface AccountAnswer {
  address: string;
  sequence: number;
  /** ucst; 0 for an address never funded. */
  balance: number;
}

/** Filters of `GET /v1/contracts` (docs/protocol-notes.md "Discovery and status"); all given must hold. */
export interface ContractListFilter {
  code_id?: number;
  creator?: string;
  label?: string;
}

/** Filters of `GET /v1/txs`: at least one; both given must hold. */
export interface TxListFilter {
  sender?: string;
  contract?: string;
}

/** A page of a listing: `limit` 1-100 (checked), and the previous page's opaque cursor or null. */
export interface ListPage {
  limit: number;
  cursor: string | null;
}

/** A query's answer: its §5 code and base64 sealed output. */
export type QueryAnswer = { code: number; output: string };

/**
 * The validator host as the RPC server sees it. Every method may reject; the server then answers
 * 500 (code 104) without the rejection's text, and logs it.
 */
export interface RpcBackend {
  /** The chain, its height, the network's public keys, this validator and the validator set. */
  status(): Promise<RpcStatus>;
  /**
   * Why the node halted, or null while it runs. The server adds it to `GET /v1/status` and, while
   * it is set, refuses `POST /v1/txs` and new live streams with 503 code 108.
   */
  halted(): HaltInfo | null;
  /** pk_io as 64 hex; the server answers GET /registration/v1beta1/tx-key with {"key": base64(bytes)}. */
  io_pubkey(): Promise<string>;
  /**
   * The raw request body text of POST /v1/txs, already checked to be a well-formed transaction,
   * and that check's result (`parse_tx_json(raw)`), so the text is parsed once per submission.
   */
  submit(raw: string, tx: Tx): Promise<{ ok: true; hash: string } | SubmitRefusal>;
  /** The committed record, or null when `hash` is not committed (yet). */
  get_tx(hash: string): Promise<TxRecord | null>;
  /**
   * Resolves with the record once committed (at once if it already is), or null after
   * timeout_ms. The server keeps its own deadline of the same length too.
   */
  wait_tx(hash: string, timeout_ms: number): Promise<TxRecord | null>;
  /**
   * The query's §5 code and sealed output; null: no such contract; a {@link Refusal} when the
   * input is over a limit (code 7) or the enclave could not run it (`'busy'`, `'enclave_failed'`).
   */
  query(
    address: string,
    body: { scheme: 'gcm' | 'siv'; payload: string },
  ): Promise<QueryAnswer | Refusal | null>;
  /**
   * The contract's public facts and balance; null: no such contract. Whatever else the answer
   * carries (a store's `binding`) never reaches the wire: the server copies the named fields.
   */
  get_contract(address: string): Promise<ContractAnswer | null>;
  /**
   * `GET /v1/contracts`: a page of contracts matching `filter`, and the cursor of the next page
   * (null: no more). A cursor this node did not give for this listing throws RpcError 400 code 106.
   */
  list_contracts(
    filter: ContractListFilter,
    page: ListPage,
  ): Promise<{ contracts: ContractAnswer[]; cursor: string | null }>;
  /** `GET /v1/txs`: a page of committed transactions matching `filter`, newest first; as list_contracts. */
  list_txs(filter: TxListFilter, page: ListPage): Promise<{ txs: TxRecord[]; cursor: string | null }>;
  /** Every stored code, the reference contracts first (protocol.md §7). */
  codes(): Promise<{ code_id: number; code_hash: string; name?: string; contract?: string }[]>;
  /** An account's committed sequence and balance (0 and 0 for an account never seen). */
  account(address: string): Promise<AccountAnswer>;
  /** null: not committed yet. */
  block(
    height: number,
  ): Promise<{ header: unknown; block_hash: string; tx_hashes: string[]; commit: unknown } | null>;
  /**
   * Extension (not in protocol.md §6): the block's transactions, the exact JSON texts that were
   * committed, so a node that is not a validator can follow the chain over RPC. null: not committed.
   */
  block_txs(height: number): Promise<string[] | null>;
  /** Live events until the returned function is called. Events must arrive in commit order. */
  subscribe(fn: (event: LiveEvent) => void): () => void;
  /**
   * Whether this node serves `POST /v1/faucet` (protocol.md §9: development networks only). When
   * false the route answers 404 code 100 before reading the body.
   */
  has_faucet(): boolean;
  /**
   * Sends `amount` ucst to `address` from the faucet account and answers once that transaction
   * commits (within `timeout_ms`); the server has checked the address and amount. `signal` aborts
   * when the node stops or the client leaves: the faucet then gives up waiting ('busy').
   */
  faucet(
    address: string,
    amount: number,
    opts: { timeout_ms: number; signal: AbortSignal },
  ): Promise<FaucetAnswer>;
}

/**
 * Configuration of the RPC server. The six required fields are the ones a node's config names;
 * the optional ones are further limits with defaults in {@link RPC_DEFAULTS}.
 */
export interface RpcOptions {
  /** Interface to listen on, e.g. 127.0.0.1. */
  host: string;
  /** TCP port; 0 picks a free one (start() reports it). */
  port: number;
  /** Largest request body accepted; larger ones get 413 before being parsed. */
  body_bytes_max: number;
  /** How long `POST /v1/txs?wait=commit` waits for the commit before answering 504. */
  wait_timeout_ms: number;
  /** Concurrent `GET /v1/events` streams; more get 503. */
  sse_clients_max: number;
  /** Concurrent live streams from one remote address; more get 429 code 110. */
  sse_clients_per_address_max?: number;
  /** Value of Access-Control-Allow-Origin on every answer ('*' for any); '' sends no CORS headers. */
  cors_origin: string;
  /** Requests being handled at once (live streams not counted); more get 503. */
  requests_max?: number;
  /** Open TCP connections; the kernel backlog holds, then the server drops, further ones. */
  connections_max?: number;
  /** Time a client has to send the request headers. */
  headers_timeout_ms?: number;
  /** Time a client has to send the whole request (headers and body); at least headers_timeout_ms. */
  request_timeout_ms?: number;
  /** How long an idle keep-alive connection stays open. */
  keep_alive_timeout_ms?: number;
  /** Longest request target (path and query string) accepted; longer ones get 414. */
  url_chars_max?: number;
  /** Interval of the comment heartbeat on live streams. */
  sse_heartbeat_ms?: number;
  /** Unsent bytes a live stream may queue before the slow client is dropped. */
  sse_buffer_bytes_max?: number;
  /**
   * The bound of the whole stop(): in-flight requests may finish and connections close within it;
   * past it every connection left is cut (and `rpc_stop_timeout` logged).
   */
  stop_timeout_ms?: number;
}

/** Defaults of the optional limits of {@link RpcOptions}. */
export const RPC_DEFAULTS = Object.freeze({
  requests_max: 256,
  connections_max: 1024,
  headers_timeout_ms: 10_000,
  request_timeout_ms: 30_000,
  // Long, so a node closing a kept-alive socket under a client's next request (a stalled node, a late
  // client) needs a minute of idleness, not 5 s; clients retry the rare rest (keep_alive_race.test.ts).
  keep_alive_timeout_ms: 65_000,
  url_chars_max: 2048,
  sse_clients_per_address_max: 8,
  sse_heartbeat_ms: 15_000,
  sse_buffer_bytes_max: 1024 * 1024,
  stop_timeout_ms: 10_000,
});

/** Every limit of {@link RpcOptions}, defaults filled in. */
export type RpcLimits = Required<RpcOptions>;

/**
 * The node's metrics as the RPC server sees them (node/metrics.ts implements it): each request is
 * counted by its route template (`/v1/txs/{hash}`; `unknown` for a path no route matches) and
 * status (`none` when no answer was sent), and `GET /metrics` serves the exposition text.
 */
export interface RpcMetrics {
  rpc_request(route: string, status: string): void;
  exposition(): Promise<{ content_type: string; body: string }>;
}

/** Optional hook for structured log lines, e.g. `rpc_internal_error`. */
export type RpcLog = (event: string, fields: Record<string, unknown>) => void;
