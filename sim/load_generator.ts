/**
 * An open-loop load generator for a network of validator processes: signed, encrypted
 * transactions to the reference contracts (`counter` and `echo`, each under both envelope schemes)
 * at a rate that may change while it runs. `npm start` (sim/main_job.ts) runs its workload with
 * one, and `cloister sim up --load R` runs one that `POST /load` on its control server
 * (sim/control_server.ts) and `cloister sim load` steer.
 *
 * - **Lazy.** Nothing is sent while the rate is 0. The first time it is above 0 (or on
 *   {@link LoadGenerator.prepare}) the generator opens a validator's live event stream and
 *   instantiates its four contracts there (`wait=commit`), then submits. A preparation that fails
 *   (no validator up, an instantiation refused, a network that charges fees) leaves the state
 *   `failed` with the reason in `error`; the next rate above 0 tries again.
 * - **Open loop.** Every `tick_ms` it sends what is due at the rate since the rate was last set,
 *   whatever has committed; more than one second's worth at once (the process was held up) is
 *   skipped, not sent in a burst.
 * - **Clients and sequences.** Clients are accounts with fresh random keys: a development network
 *   (`min_gas_price` 0, what `npm start` and a new `sim up` folder make) takes fee-less
 *   transactions from accounts it has never seen. On a network with `min_gas_price` above 0 the
 *   preparation fails with that reason, and a refusal while running is counted under its reason
 *   (`insufficient funds or fee (code 8)`). A client has one submission in flight at a time and
 *   sends to one validator: client k to the (k mod n)-th of the n validators up now, so
 *   submissions go round-robin over the validators up and a client's sequences reach its
 *   validator in order. When a client's validator changes (the set up changed: a kill, a restart)
 *   or one of its submissions is refused or unanswered, the client takes a **fresh key**
 *   (sequence 0) rather than re-syncing its sequence from `GET /v1/accounts/...`: transactions of
 *   its old account may still be in a mempool or gossiped, so a sequence read back may be stale a
 *   moment later, while a new account cannot collide with anything in flight. What the old account
 *   had sent is still counted if it commits. When every client waits for an answer, the pool grows
 *   up to `clients_max`; beyond it a due submission is skipped.
 * - **Commits** are watched on one validator's live stream (`GET /v1/events`). When that stream
 *   fails or ends (its validator died) the generator follows another validator up, and when it has
 *   seen no block for `stream_stale_ms` while older submissions wait (its validator is paused, or
 *   cut off by a partition) it moves on too. After moving it catches up on the blocks it missed
 *   (`GET /v1/blocks/{h}`, then `GET /v1/txs/{hash}` for its own).
 * - **Latency** is commit observed − submission: from just before the `POST /v1/txs` to the moment
 *   the transaction's `tx` event arrives on the stream (or a catch-up finds it), on `now_ms`.
 *   Percentiles are over the last {@link LATENCY_WINDOW} commits.
 * - **Bounded.** At most `pending_max` submissions wait for their commit (the oldest beyond it is
 *   dropped and counted), one older than `pending_timeout_ms` is dropped too; the latency window is
 *   fixed. Nothing throws out of it: errors become `state: 'failed'` with `error`, or refusals
 *   counted by reason ({@link refusal_reason}).
 *
 * Randomness (keys, nonces) comes from `node:crypto`; nothing here takes part in consensus.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { from_base64, from_hex, to_base64, to_hex } from '../protocol/bytes.js';
import { encrypt_message, type Scheme } from '../protocol/envelope.js';
import type { CryptoProvider } from '../protocol/provider.js';
import { get_provider } from '../protocol/providers/index.js';
import { open_result } from '../protocol/result.js';
import {
  RpcTransport,
  read_events,
  type StreamEvent,
  type TransportModules,
  timer_sleep,
} from '../protocol/rpc_client.js';
import { sign_tx, type TxMsg, tx_hash } from '../protocol/tx.js';
import { percentile, refusal_reason } from './job_summary.js';

/** The highest rate {@link LoadGenerator.set_rate} takes, transactions per second. */
export const LOAD_RATE_MAX = 10_000;
/** Commits the latency percentiles of {@link LoadStats} are taken over (the most recent). */
export const LATENCY_WINDOW = 1000;
/** Blocks a catch-up after moving to another validator's stream looks back at most. */
const CATCH_UP_BLOCKS_MAX = 256;

/** What the generator is doing. */
export type LoadState = 'idle' | 'preparing' | 'running' | 'failed';

/** The generator's numbers, as `GET /status` and `POST /load` of the control server show them. */
export interface LoadStats {
  /** Transactions per second asked for (0: none sent). */
  rate: number;
  /** `idle`: rate 0, or not prepared yet; `preparing`: instantiating its contracts; `running`: sending; `failed`: see `error`. */
  state: LoadState;
  /** Why it failed (with state `failed`). */
  error?: string;
  /** Transactions sent to a validator's RPC (`POST /v1/txs`). */
  submitted: number;
  /** Of those, seen committed (any result code). */
  committed: number;
  /** Committed with a non-zero code. */
  failed: number;
  /** Committed results their client opened (and, for echo, found what it sent). */
  decrypted: number;
  /** Sent, not refused, not seen committed yet. */
  pending: number;
  /** Given up on while pending: the oldest beyond `pending_max`, or older than `pending_timeout_ms`. */
  dropped: number;
  /** Due but not sent: no validator up, every client waiting for an answer, or a backlog over one second. */
  skipped: number;
  /** Submissions a validator refused or did not answer, by reason ({@link refusal_reason}). */
  refused: Record<string, number>;
  /** Commit latency percentiles over the last {@link LATENCY_WINDOW} commits; null before any. */
  latency_ms: { p50: number | null; p99: number | null };
  /** The highest block height seen on the event stream; null before any. */
  height: number | null;
  /** The RPC URL whose event stream it follows now, null while none is open. */
  watching: string | null;
}

/** One of its transactions seen committed. */
export interface LoadCommit {
  hash: string;
  /** Its result code (protocol.md §5); 0 is success. */
  code: number;
  /** Commit observed − submission, ms. */
  latency_ms: number;
  /** When the commit was observed, on the generator's `now_ms` clock. */
  at_ms: number;
}

/** Options of {@link LoadGenerator}; every count and duration is a positive integer. */
export interface LoadGeneratorOptions {
  /** The RPC URLs of the validators up now, by index ('' for one that is down). */
  urls: () => readonly string[];
  /** Transactions per second to start with (default 0: idle until {@link LoadGenerator.set_rate}). */
  rate?: number | undefined;
  /** Cryptography for envelopes, signatures and results (default `native`). */
  provider?: CryptoProvider;
  /** The clock of submissions and commits, ms (default `Date.now`). */
  now_ms?: () => number;
  /** How often due transactions are sent (default 100 ms). */
  tick_ms?: number;
  /** Clients at first (default 16). */
  clients?: number;
  /** Clients at most (default 512). */
  clients_max?: number;
  /** Submissions waiting for their commit, at most (default 10,000). */
  pending_max?: number;
  /** A submission not seen committed after this long is dropped (default 120,000 ms). */
  pending_timeout_ms?: number;
  /** Deadline of one `POST /v1/txs` (default 10,000 ms). */
  submit_timeout_ms?: number;
  /** Deadline of the preparation's steps: the stream opening, each instantiation (default 60,000 ms). */
  prepare_timeout_ms?: number;
  /** Pause before preparing again after a failure that may pass, while the rate is above 0 (default 2,000 ms). */
  prepare_retry_ms?: number;
  /** Pause before following another validator's stream (default 250 ms). */
  stream_retry_ms?: number;
  /** Move to another stream after this long without a block while a submission older waits (default 10,000 ms). */
  stream_stale_ms?: number;
  /** WHATWG fetch for every request (default `globalThis.fetch`; tests pass a fake network). */
  fetch?: typeof fetch;
}

type Limits = Required<
  Pick<
    LoadGeneratorOptions,
    | 'tick_ms'
    | 'clients'
    | 'clients_max'
    | 'pending_max'
    | 'pending_timeout_ms'
    | 'submit_timeout_ms'
    | 'prepare_timeout_ms'
    | 'prepare_retry_ms'
    | 'stream_retry_ms'
    | 'stream_stale_ms'
  >
>;

const DEFAULT_LIMITS: Limits = {
  tick_ms: 100,
  clients: 16,
  clients_max: 512,
  pending_max: 10_000,
  pending_timeout_ms: 120_000,
  submit_timeout_ms: 10_000,
  prepare_timeout_ms: 60_000,
  prepare_retry_ms: 2000,
  stream_retry_ms: 250,
  stream_stale_ms: 10_000,
};

/** A preparation that trying again cannot mend: the network cannot take the generator's transactions. */
export class LoadSetupError extends Error {
  override name = 'LoadSetupError';
}

/** Gas limit of every transaction it sends. */
const GAS_LIMIT = 400_000;

/**
 * `rate` if it is a rate the generator takes: a finite number from 0 to {@link LOAD_RATE_MAX}
 * transactions per second, fractions allowed (0.5 is one every 2 s); else a RangeError.
 */
export function check_load_rate(rate: unknown): number {
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0 || rate > LOAD_RATE_MAX) {
    const shown = typeof rate === 'number' ? String(rate) : (JSON.stringify(rate) ?? String(rate));
    throw new RangeError(
      `a load rate is a number of transactions per second from 0 to ${LOAD_RATE_MAX}, not ${shown}`,
    );
  }
  return rate;
}

function limits_of(opts: LoadGeneratorOptions): Limits {
  const limits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]) {
    const value = opts[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${key} must be a positive integer`);
    limits[key] = value;
  }
  if (limits.clients > limits.clients_max) throw new RangeError('clients must not exceed clients_max');
  return limits;
}

function message_of(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

interface Client {
  readonly index: number;
  sk: Uint8Array;
  pubkey: string;
  sequence: number;
  /** The validator it sends to ('' before its first submission). */
  url: string;
  busy: boolean;
}

interface Target {
  address: string;
  code_hash: string;
  scheme: Scheme;
  echo: boolean;
}

interface Chain {
  chain_id: string;
  pk_io: Uint8Array;
  targets: Target[];
}

interface Sent {
  at_ms: number;
  tx_key: Uint8Array;
  scheme: Scheme;
  /** The value an echo must answer; null for the counter. */
  echo: string | null;
}

/** A committed transaction as the stream and `GET /v1/txs/{hash}` give it (the fields used). */
interface TxAnswer {
  hash?: unknown;
  code?: unknown;
  output?: unknown;
}

/**
 * Sends encrypted transactions to the validators `urls()` names at `rate` per second and
 * measures their commits; see the module documentation for how.
 */
export class LoadGenerator {
  /** {@link LOAD_RATE_MAX}: the highest rate it takes, transactions per second. */
  static readonly RATE_MAX = LOAD_RATE_MAX;
  readonly #urls: () => readonly string[];
  readonly #p: CryptoProvider;
  readonly #now: () => number;
  readonly #o: Limits;
  readonly #modules: TransportModules;
  readonly #abort = new AbortController();
  #rate = 0;
  /** When the rate was last set, and how many were due since. */
  #epoch_ms = 0;
  #issued = 0;
  #chain: Chain | null = null;
  #preparing: Promise<void> | null = null;
  #error: string | null = null;
  #stopped = false;
  #stopping: Promise<void> | null = null;
  readonly #clients: Client[] = [];
  #next_client = 0;
  readonly #pending = new Map<string, Sent>();
  readonly #latencies: number[] = [];
  #latency_at = 0;
  readonly #counts = { submitted: 0, committed: 0, failed: 0, decrypted: 0, dropped: 0, skipped: 0 };
  readonly #refused = new Map<string, number>();
  #height: number | null = null;
  #watching: string | null = null;
  #last_block_ms = 0;
  readonly #listeners = new Set<(c: LoadCommit) => void>();
  readonly #wakers = new Set<() => void>();
  readonly #open_waiters = new Set<(error?: Error) => void>();
  readonly #inflight = new Set<Promise<void>>();
  readonly #loop: Promise<void>;
  #watcher: Promise<void> | null = null;
  /** Whether {@link LoadGenerator.#prepare_until_ready} runs. */
  #retrying = false;

  /**
   * @param opts.urls the RPC URLs of the validators up now ('' for one that is down), asked
   *   before every tick and every stream change.
   * @param opts.rate transactions per second to start with (default 0, idle); a RangeError
   *   outside 0..{@link LOAD_RATE_MAX}.
   */
  constructor(opts: LoadGeneratorOptions) {
    if (typeof opts !== 'object' || opts === null || typeof opts.urls !== 'function')
      throw new TypeError("urls must be a function returning the validators' RPC URLs");
    const rate = check_load_rate(opts.rate ?? 0);
    this.#urls = opts.urls;
    this.#p = opts.provider ?? get_provider('native');
    this.#now = opts.now_ms ?? (() => Date.now());
    this.#o = limits_of(opts);
    const base = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    const stop = this.#abort.signal;
    this.#modules = {
      // Every request ends when the generator stops.
      fetch: (input, init) =>
        base(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, stop]) : stop }),
      now: () => Date.now(),
      sleep: timer_sleep,
    };
    this.#loop = this.#run();
    this.set_rate(rate);
  }

  /**
   * Sets the rate, transactions per second: a finite number from 0 to {@link LOAD_RATE_MAX},
   * fractions allowed (0.5: one every 2 s); a RangeError otherwise. 0 pauses submission (what is
   * pending is still watched). The schedule restarts from now at the new rate. The first rate
   * above 0 prepares the generator, and one after a failure tries again. An Error once stopped.
   */
  set_rate(rate: number): void {
    check_load_rate(rate);
    if (this.#stopped) throw new Error('the load generator has stopped');
    this.#rate = rate;
    this.#epoch_ms = this.#now();
    this.#issued = 0;
    if (rate > 0) {
      if (this.#chain === null) this.#track(this.#prepare_until_ready());
      else this.#error = null;
    }
    this.#wake();
  }

  /**
   * Prepares now, whatever the rate: opens an event stream and instantiates the contracts.
   * Resolves once done (at once if done before), rejects with why it failed (the state is then
   * `failed`). Concurrent calls share one attempt.
   */
  prepare(): Promise<void> {
    if (this.#stopped) return Promise.reject(new Error('the load generator has stopped'));
    if (this.#chain !== null) return Promise.resolve();
    if (this.#preparing === null) {
      this.#error = null;
      const attempt = this.#prepare_once().then(
        () => {
          this.#preparing = null;
        },
        (error: unknown) => {
          this.#preparing = null;
          if (!this.#stopped) this.#error = message_of(error);
          throw error;
        },
      );
      this.#preparing = attempt;
      this.#track(attempt);
    }
    return this.#preparing;
  }

  /**
   * Prepares, and while the rate stays above 0 tries again every `prepare_retry_ms` after a
   * failure that may pass (a validator killed or paused while it instantiated); a network that
   * cannot take its transactions at all ({@link LoadSetupError}: fees, no reference codes) stays
   * `failed`. One loop at a time; its state shows `failed` with the error between attempts.
   */
  async #prepare_until_ready(): Promise<void> {
    if (this.#retrying) return;
    this.#retrying = true;
    try {
      for (;;) {
        try {
          await this.prepare();
          return;
        } catch (error) {
          if (this.#stopped || this.#rate === 0 || error instanceof LoadSetupError) return;
        }
        await timer_sleep(this.#o.prepare_retry_ms, this.#abort.signal);
        if (this.#stopped || this.#rate === 0 || this.#chain !== null) return;
      }
    } finally {
      this.#retrying = false;
    }
  }

  /** Its numbers now. */
  stats(): LoadStats {
    const sorted = this.#latencies.slice().sort((a, b) => a - b);
    const at = (q: number) => (sorted.length === 0 ? null : percentile(sorted, q));
    const refused = [...this.#refused].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const stats: LoadStats = {
      rate: this.#rate,
      state: this.#state(),
      ...this.#counts,
      pending: this.#pending.size,
      refused: Object.fromEntries(refused),
      latency_ms: { p50: at(0.5), p99: at(0.99) },
      height: this.#height,
      watching: this.#watching,
    };
    if (this.#error !== null) stats.error = this.#error;
    return stats;
  }

  /** Calls `listener` with each of its transactions seen committed; returns the unsubscribe. */
  on_commit(listener: (c: LoadCommit) => void): () => void {
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Stops submitting, ends its event stream and its requests in flight; resolves once all has
   * ended. Idempotent. Its numbers stay readable; the rate is then 0.
   */
  stop(): Promise<void> {
    if (this.#stopping === null) {
      this.#stopped = true;
      this.#rate = 0;
      this.#abort.abort();
      for (const waiter of [...this.#open_waiters]) waiter(new Error('the load generator has stopped'));
      this.#wake();
      this.#stopping = (async () => {
        await this.#loop;
        await this.#watcher;
        while (this.#inflight.size > 0) await Promise.all([...this.#inflight]);
      })();
    }
    return this.#stopping;
  }

  #state(): LoadState {
    if (this.#error !== null) return 'failed';
    if (this.#preparing !== null) return 'preparing';
    return this.#chain !== null && this.#rate > 0 ? 'running' : 'idle';
  }

  /** The validators up now, in index order; none if `urls()` throws. */
  #up(): string[] {
    try {
      return this.#urls().filter((u) => typeof u === 'string' && u !== '');
    } catch {
      return [];
    }
  }

  /** Follows `promise` until it settles, so that `stop()` can wait for it; it never rejects. */
  #track(promise: Promise<unknown>): void {
    const settled = promise.then(
      () => undefined,
      () => undefined,
    );
    this.#inflight.add(settled);
    void settled.then(() => this.#inflight.delete(settled));
  }

  /** Resolves after `ms` (never, with null), or sooner when woken (a new rate, prepared, stopping). */
  #nap(ms: number | null): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakers.delete(done);
        resolve();
      };
      const timer = ms === null ? undefined : setTimeout(done, ms);
      this.#wakers.add(done);
    });
  }

  /** Ends every nap now. */
  #wake(): void {
    for (const done of [...this.#wakers]) done();
  }

  async #request<T>(url: string, method: 'GET' | 'POST', path: string, body?: unknown, timeout_ms?: number) {
    const deadline = timeout_ms ?? this.#o.submit_timeout_ms;
    return new RpcTransport({ nodes: [url] }, this.#modules).request<T>(
      method,
      path,
      body === undefined ? { timeout_ms: deadline } : { body, timeout_ms: deadline },
    );
  }

  // ---- preparation ----------------------------------------------------------------------------

  /** Opens a stream, reads the chain, instantiates a counter and an echo under each scheme. */
  async #prepare_once(): Promise<void> {
    this.#watcher ??= this.#watch();
    await this.#stream_open(this.#o.prepare_timeout_ms);
    const url = this.#watching ?? this.#up()[0];
    if (url === undefined) throw new Error('no validator is up');
    const status = await this.#request<{ chain_id: string; io_pubkey: string; min_gas_price?: number }>(
      url,
      'GET',
      '/v1/status',
    );
    const price = status.min_gas_price ?? 0;
    if (price > 0)
      throw new LoadSetupError(
        `the network charges fees (min_gas_price ${price}) and the load generator's fresh accounts hold no tokens: run it on a development network (cloister init --dev; a new sim up folder)`,
      );
    const chain: Chain = { chain_id: status.chain_id, pk_io: from_hex(status.io_pubkey, 32), targets: [] };
    await this.#instantiate(chain, url);
    if (this.#stopped) throw new Error('the load generator has stopped');
    while (this.#clients.length < this.#o.clients) this.#clients.push(this.#new_client(this.#clients.length));
    this.#chain = chain;
    this.#epoch_ms = this.#now();
    this.#issued = 0;
    this.#wake();
  }

  /** Instantiates `counter` and `echo` under each scheme through `url`, one after another, into `chain.targets`. */
  async #instantiate(chain: Chain, url: string): Promise<void> {
    const codes = await this.#request<{ code_id: number; code_hash: string; name?: string }[]>(
      url,
      'GET',
      '/v1/codes',
    );
    const admin = this.#renew(this.#new_client(-1), url);
    for (const name of ['counter', 'echo'] as const) {
      const code = codes.find((c) => c.name === name);
      if (code === undefined) throw new LoadSetupError(`the network has no ${name} code (GET /v1/codes)`);
      for (const scheme of ['gcm', 'siv'] as const) {
        const e = this.#encrypt(chain, code.code_hash, name === 'counter' ? { count: 0 } : {}, scheme);
        const msg: TxMsg = {
          type: 'instantiate',
          code_id: code.code_id,
          label: `${name}-${scheme}`,
          scheme,
          payload: e.payload,
        };
        const record = await this.#request<{ code: number; contract?: string }>(
          url,
          'POST',
          '/v1/txs?wait=commit',
          this.#sign(chain, admin, msg),
          this.#o.prepare_timeout_ms,
        ).catch((error: unknown) => {
          throw new Error(`instantiating ${name} (${scheme}) was refused: ${refusal_reason(error)}`);
        });
        if (record.code !== 0 || typeof record.contract !== 'string')
          throw new Error(`instantiating ${name} (${scheme}) failed with code ${record.code}`);
        const address = record.contract;
        chain.targets.push({ address, code_hash: code.code_hash, scheme, echo: name === 'echo' });
      }
    }
  }

  /** Resolves once an event stream is open; rejects after `timeout_ms` or at stop. */
  #stream_open(timeout_ms: number): Promise<void> {
    if (this.#watching !== null) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (error?: Error) => {
        clearTimeout(timer);
        this.#open_waiters.delete(done);
        if (error === undefined) resolve();
        else reject(error);
      };
      const timer = setTimeout(
        () => done(new Error(`no validator's event stream (GET /v1/events) opened within ${timeout_ms} ms`)),
        timeout_ms,
      );
      this.#open_waiters.add(done);
    });
  }

  // ---- submission -----------------------------------------------------------------------------

  /** Sends what is due, every tick_ms, while prepared and the rate is above 0. */
  async #run(): Promise<void> {
    while (!this.#stopped) {
      if (this.#chain === null || this.#rate === 0 || this.#error !== null) {
        await this.#nap(null);
        continue;
      }
      try {
        this.#tick();
      } catch (error) {
        this.#error = `the load generator failed: ${message_of(error)}`;
      }
      await this.#nap(this.#o.tick_ms);
    }
  }

  #tick(): void {
    const now = this.#now();
    this.#expire(now);
    let due = Math.floor(((now - this.#epoch_ms) * this.#rate) / 1000) - this.#issued;
    const most = Math.max(1, Math.ceil(this.#rate));
    if (due > most) {
      // Held up for over a second: the backlog is skipped, not sent in one burst.
      this.#counts.skipped += due - most;
      this.#issued += due - most;
      due = most;
    }
    const up = this.#up();
    for (let k = 0; k < due; k++) {
      this.#issued++;
      this.#submit(this.#chain!, up);
    }
  }

  /** Sends one transaction through the next free client, to its validator. */
  #submit(chain: Chain, up: readonly string[]): void {
    const client = this.#pick(up);
    if (client === null) {
      this.#counts.skipped++;
      return;
    }
    const n = this.#counts.submitted;
    const target = chain.targets[n % chain.targets.length]!;
    const value = `hello ${n}`;
    const e = this.#encrypt(
      chain,
      target.code_hash,
      target.echo ? { echo: { value } } : { increment: {} },
      target.scheme,
    );
    const tx = this.#sign(chain, client, {
      type: 'execute',
      contract: target.address,
      scheme: target.scheme,
      payload: e.payload,
    });
    const hash = tx_hash(this.#p, tx);
    // Held before it is sent: its commit may be announced before the answer arrives.
    this.#hold(hash, {
      at_ms: this.#now(),
      tx_key: e.tx_key,
      scheme: target.scheme,
      echo: target.echo ? value : null,
    });
    this.#counts.submitted++;
    client.busy = true;
    const sent = this.#request(client.url, 'POST', '/v1/txs', tx).then(
      () => {
        client.busy = false;
      },
      (error: unknown) => {
        client.busy = false;
        if (this.#stopped) return;
        this.#pending.delete(hash);
        const why = refusal_reason(error);
        this.#refused.set(why, (this.#refused.get(why) ?? 0) + 1);
        // Its sequence chain is broken (or unknown): a fresh account from the next one on.
        this.#renew(client, client.url);
      },
    );
    this.#track(sent);
  }

  /**
   * The next client with nothing in flight, round-robin, each bound to the (index mod n)-th
   * validator up (a fresh key when that is another one than before); a new client when all wait,
   * up to clients_max; null when none can send.
   */
  #pick(up: readonly string[]): Client | null {
    if (up.length === 0) return null;
    const pool = this.#clients;
    for (let tries = 0; tries < pool.length; tries++) {
      const client = pool[this.#next_client++ % pool.length]!;
      if (client.busy) continue;
      const url = up[client.index % up.length]!;
      return client.url === url ? client : this.#renew(client, url);
    }
    if (pool.length >= this.#o.clients_max) return null;
    const client = this.#renew(this.#new_client(pool.length), up[pool.length % up.length]!);
    pool.push(client);
    return client;
  }

  #new_client(index: number): Client {
    return { index, sk: new Uint8Array(32), pubkey: '', sequence: 0, url: '', busy: false };
  }

  /** Gives `client` a fresh random account (sequence 0) sending to `url`. */
  #renew(client: Client, url: string): Client {
    client.sk = new Uint8Array(randomBytes(32));
    client.pubkey = to_hex(this.#p.ed25519_public(client.sk));
    client.sequence = 0;
    client.url = url;
    return client;
  }

  #encrypt(chain: Chain, code_hash: string, msg: unknown, scheme: Scheme) {
    const { envelope, tx_key } = encrypt_message(this.#p, {
      scheme,
      sk_u: new Uint8Array(randomBytes(32)),
      pk_io: chain.pk_io,
      nonce: new Uint8Array(randomBytes(32)),
      chain_id: chain.chain_id,
      code_hash,
      msg_json: JSON.stringify(msg),
    });
    return { payload: to_base64(envelope), tx_key };
  }

  #sign(chain: Chain, client: Client, msg: TxMsg) {
    return sign_tx(this.#p, client.sk, {
      chain_id: chain.chain_id,
      sender: client.pubkey,
      sequence: client.sequence++,
      gas_limit: GAS_LIMIT,
      msg,
    });
  }

  /** Holds a submission until its commit; the oldest is dropped beyond pending_max. */
  #hold(hash: string, sent: Sent): void {
    if (this.#pending.size >= this.#o.pending_max) {
      const oldest = this.#pending.keys().next();
      if (!oldest.done) {
        this.#pending.delete(oldest.value);
        this.#counts.dropped++;
      }
    }
    this.#pending.set(hash, sent);
  }

  /** Drops submissions older than pending_timeout_ms (the map is in submission order). */
  #expire(now: number): void {
    for (const [hash, sent] of this.#pending) {
      if (now - sent.at_ms <= this.#o.pending_timeout_ms) break;
      this.#pending.delete(hash);
      this.#counts.dropped++;
    }
  }

  // ---- commits --------------------------------------------------------------------------------

  /** Follows one validator's stream after another until stopped, preferring a new one after a failure. */
  async #watch(): Promise<void> {
    let last: string | null = null;
    while (!this.#stopped) {
      const up = this.#up();
      const url = up.find((u) => u !== last) ?? up[0];
      if (url !== undefined) {
        await this.#follow(url);
        last = url;
      }
      if (!this.#stopped) await this.#nap(this.#o.stream_retry_ms);
    }
  }

  /** Reads `url`'s live stream until it fails, ends, goes stale, or the generator stops. */
  async #follow(url: string): Promise<void> {
    const stream = new AbortController();
    const signal = AbortSignal.any([this.#abort.signal, stream.signal]);
    const every_ms = Math.max(10, Math.min(1000, Math.floor(this.#o.stream_stale_ms / 4)));
    const check = setInterval(() => this.#check_stream(stream), every_ms);
    try {
      const { body } = await new RpcTransport({ nodes: [url] }, this.#modules).open_stream(signal);
      this.#watching = url;
      this.#last_block_ms = this.#now();
      for (const waiter of [...this.#open_waiters]) waiter();
      if (this.#height !== null) this.#track(this.#catch_up(url, this.#height));
      for await (const event of read_events(body)) this.#on_event(event);
    } catch {
      // It failed or was cut: the caller moves to another validator.
    } finally {
      clearInterval(check);
      stream.abort();
      if (this.#watching === url) this.#watching = null;
    }
  }

  /** Ends a stream that has shown no block for stream_stale_ms while an older submission waits. */
  #check_stream(stream: AbortController): void {
    const now = this.#now();
    this.#expire(now);
    const oldest = this.#pending.values().next();
    const stale = this.#o.stream_stale_ms;
    if (!oldest.done && now - oldest.value.at_ms > stale && now - this.#last_block_ms > stale) stream.abort();
  }

  /** Finds its transactions committed in blocks after `from_height` up to `url`'s height. */
  async #catch_up(url: string, from_height: number): Promise<void> {
    try {
      const { height } = await this.#request<{ height: number }>(url, 'GET', '/v1/status');
      const to = Math.min(height, from_height + CATCH_UP_BLOCKS_MAX);
      for (let h = from_height + 1; h <= to && !this.#stopped && this.#pending.size > 0; h++) {
        const block = await this.#request<{ tx_hashes: string[] }>(url, 'GET', `/v1/blocks/${h}`);
        const ours = block.tx_hashes.filter((hash) => this.#pending.has(hash));
        const records = await Promise.all(
          ours.map((hash) => this.#request<TxAnswer>(url, 'GET', `/v1/txs/${hash}`)),
        );
        for (const record of records) this.#on_tx(record);
      }
    } catch {
      // Best effort: what it misses stays pending until it is dropped.
    }
  }

  #on_event(event: StreamEvent): void {
    try {
      if (event.type === 'block') {
        const { height } = JSON.parse(event.data) as { height?: unknown };
        if (typeof height === 'number') this.#height = Math.max(this.#height ?? 0, height);
        this.#last_block_ms = this.#now();
      } else if (event.type === 'tx') {
        this.#on_tx(JSON.parse(event.data) as TxAnswer);
      }
    } catch {
      // An event that is not JSON is skipped.
    }
  }

  /** Counts a committed transaction if it is one of its own pending ones. */
  #on_tx(record: TxAnswer): void {
    if (typeof record !== 'object' || record === null || typeof record.hash !== 'string') return;
    const sent = this.#pending.get(record.hash);
    if (sent === undefined) return;
    this.#pending.delete(record.hash);
    const at_ms = this.#now();
    const latency_ms = Math.max(0, at_ms - sent.at_ms);
    const code = typeof record.code === 'number' ? record.code : -1;
    this.#counts.committed++;
    this.#latencies[this.#latency_at] = latency_ms;
    this.#latency_at = (this.#latency_at + 1) % LATENCY_WINDOW;
    if (code !== 0) this.#counts.failed++;
    else if (this.#opens(sent, record.output)) this.#counts.decrypted++;
    const commit: LoadCommit = { hash: record.hash, code, latency_ms, at_ms };
    for (const listener of [...this.#listeners]) {
      try {
        listener(commit);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  /** Whether its client opens the result (and an echo answers what it sent). */
  #opens(sent: Sent, output: unknown): boolean {
    if (typeof output !== 'string') return false;
    try {
      const result = open_result(this.#p, sent.scheme, sent.tx_key, from_base64(output));
      return 'data' in result && (sent.echo === null || result.data === sent.echo);
    } catch {
      return false;
    }
  }
}
