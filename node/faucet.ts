/**
 * The development network's faucet (protocol.md §9 `POST /v1/faucet`): a validator signs a `send`
 * from the faucet account, whose secret key is public (protocol/bank.ts `faucet_account`), submits
 * it like any client's transaction and answers once it commits.
 *
 * Every validator of a development network serves the same faucet account, so the account's
 * sequence is shared: this node takes the next one as its mempool sees it (committed plus this
 * node's pending faucet transactions), one request at a time, and another validator's faucet may
 * still take the same sequence first. A transaction that loses its sequence (refused with code 5
 * at submission, committed with code 5, or dropped once the account's committed sequence passed
 * it) is signed again with a fresh sequence, at most {@link FAUCET_LIMITS}`.attempts_max` times in
 * all. Two validators that sign the same request (address, amount and sequence) sign the same
 * transaction: it commits once, and both answer with it.
 *
 * Each address may ask this node {@link FAUCET_LIMITS}`.requests_max` times per `window_ms`
 * ({@link RateLimiter}, on the node's clock); the limiter tracks at most `addresses_max` addresses,
 * forgetting the least recently seen first.
 * @module
 */

import { faucet_account } from '../protocol/bank.js';
import { from_hex } from '../protocol/bytes.js';
import { ResultCode } from '../protocol/codes.js';
import type { CryptoProvider } from '../protocol/provider.js';
import { sign_tx, type Tx } from '../protocol/tx.js';
import type { Log } from './modules.js';
import type { TxRecord } from './records.js';
import type { FaucetAnswer, Refusal } from './rpc/types.js';

/** The faucet's limits. */
export const FAUCET_LIMITS = Object.freeze({
  /** Gas limit of a faucet `send` (it needs about 12,000: tx_base and send in enclave/limits.ts). */
  gas_limit: 100_000,
  /**
   * Sequences one request tries before it gives up (503). When every validator's faucet signs at
   * once, each block settles one of them and the others sign again: on a local network of four
   * validators a request was seen to need three; eight leaves room.
   */
  attempts_max: 8,
  /** Requests one address may make of this node per window. */
  requests_max: 5,
  /** The rate limiter's window, ms. */
  window_ms: 60_000,
  /** Addresses the rate limiter tracks at once; past it the least recently seen is forgotten. */
  addresses_max: 10_000,
  /** Requests in progress at once on this node; more are answered busy (503). */
  pending_max: 64,
});

/** What a {@link Faucet} uses. */
export interface FaucetModules {
  p: CryptoProvider;
  /** The node's clock (never the wall clock: the simulator runs this on simulated time). */
  now_ms(): number;
  /** Arms a timer on the node's clock; the returned function cancels it. */
  set_timer(delay_ms: number, fn: () => void): () => void;
  /** The sequence the account's next transaction should carry (committed + pending on this node). */
  next_sequence(address: string): Promise<number>;
  /** The account's committed sequence. */
  committed_sequence(address: string): Promise<number>;
  /** Submits a transaction as a client's (the mempool, then gossip); `tx` is `parse_tx_json(raw)`. */
  submit(raw: string, tx: Tx): Promise<{ ok: true; hash: string } | Refusal>;
  /** The committed record of a transaction, or null. */
  get_tx(hash: string): Promise<TxRecord | null>;
  /** Calls `fn` after every commit (the store already holds it); the returned function stops it. */
  on_commit(fn: () => void): () => void;
  /** Log lines: `faucet_sent` for each transaction submitted, `faucet_retry` when one lost its sequence. */
  log?: Log;
}

/**
 * A sliding-window rate limit per key: at most `requests_max` requests in any `window_ms`, for at
 * most `keys_max` keys (past that the least recently seen key is forgotten, so memory stays
 * bounded at `keys_max × requests_max` times).
 */
export class RateLimiter {
  readonly #opts: { requests_max: number; window_ms: number; keys_max: number };
  readonly #now_ms: () => number;
  /** Per key, the times of its requests within the window, oldest first; least recently seen key first. */
  readonly #hits = new Map<string, number[]>();

  constructor(opts: { requests_max: number; window_ms: number; keys_max: number }, now_ms: () => number) {
    for (const [name, value] of Object.entries(opts)) {
      if (!Number.isSafeInteger(value) || value < 1)
        throw new RangeError(`RateLimiter ${name} must be a positive integer`);
    }
    this.#opts = { ...opts };
    this.#now_ms = now_ms;
  }

  /** Keys tracked now. */
  get size(): number {
    return this.#hits.size;
  }

  /**
   * Counts one request of `key` and answers null if it is within the limit; otherwise counts
   * nothing and answers how many ms until `key` may ask again (at least 1).
   */
  take(key: string): number | null {
    const now = this.#now_ms();
    const { requests_max, window_ms, keys_max } = this.#opts;
    const hits = (this.#hits.get(key) ?? []).filter((t) => t > now - window_ms);
    this.#hits.delete(key);
    if (hits.length >= requests_max) {
      this.#hits.set(key, hits);
      return Math.max(1, hits[0]! + window_ms - now);
    }
    hits.push(now);
    this.#hits.set(key, hits);
    while (this.#hits.size > keys_max) {
      const oldest = this.#hits.keys().next();
      if (oldest.done === true) break;
      this.#hits.delete(oldest.value);
    }
    return null;
  }
}

/** The faucet of a development network's validator. */
export class Faucet {
  readonly #m: FaucetModules;
  readonly #chain_id: string;
  readonly #sk: Uint8Array;
  readonly #sender: string;
  /** The faucet account's address. */
  readonly address: string;
  readonly #limiter: RateLimiter;
  /** Tail of the queue of sign-and-submit steps: one at a time, so sequences follow each other. */
  #tail: Promise<void> = Promise.resolve();
  /** Requests in progress (queued, submitting or waiting for their commit). */
  #pending = 0;

  constructor(opts: { chain_id: string }, modules: FaucetModules) {
    this.#m = modules;
    this.#chain_id = opts.chain_id;
    const account = faucet_account(modules.p);
    this.#sk = from_hex(account.secret_key, 32);
    this.#sender = account.public_key;
    this.address = account.address;
    this.#limiter = new RateLimiter(
      {
        requests_max: FAUCET_LIMITS.requests_max,
        window_ms: FAUCET_LIMITS.window_ms,
        keys_max: FAUCET_LIMITS.addresses_max,
      },
      modules.now_ms,
    );
  }

  #log(event: string, fields: Record<string, unknown>): void {
    this.#m.log?.(event, fields);
  }

  /** Requests in progress now. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Sends `amount` ucst to `address` (both already checked) and answers with the committed
   * transaction, within `timeout_ms` on the node's clock and until `signal` aborts. Answers
   * 'rate_limited' when `address` asked too often, 'busy' when too many requests are in progress,
   * when every attempt lost its sequence, or when `signal` aborted, 'timeout' when the deadline
   * passed, and a refusal of its own transaction as the mempool gave it ('full', 'halted', …).
   * Throws when its own transaction is refused for a reason that is the node's fault (4, 7, 8).
   */
  async request(
    address: string,
    amount: number,
    opts: { timeout_ms: number; signal: AbortSignal },
  ): Promise<FaucetAnswer> {
    const wait_ms = this.#limiter.take(address);
    if (wait_ms !== null) {
      const seconds = Math.ceil(wait_ms / 1000);
      return {
        ok: false,
        code: 'rate_limited',
        retry_after_s: seconds,
        message: `${address} asked the faucet ${FAUCET_LIMITS.requests_max} times in the last ${FAUCET_LIMITS.window_ms / 1000} s, the most this node allows; ask again in ${seconds} s`,
      };
    }
    if (this.#pending >= FAUCET_LIMITS.pending_max) {
      return { ok: false, code: 'busy', message: 'the faucet is busy with other requests; retry' };
    }
    this.#pending++;
    // One deadline for the whole request: queue, submissions and commits.
    const stop = new AbortController();
    const cancel_timer = this.#m.set_timer(opts.timeout_ms, () => stop.abort('timeout'));
    const on_abort = () => stop.abort('aborted');
    if (opts.signal.aborted) on_abort();
    else opts.signal.addEventListener('abort', on_abort, { once: true });
    try {
      for (let attempt = 0; attempt < FAUCET_LIMITS.attempts_max && !stop.signal.aborted; attempt++) {
        const sent = await this.#send(address, amount, stop.signal);
        if (sent === null) break;
        if (!sent.ok) {
          // Another validator's faucet (or a commit racing this one) took the sequence.
          if (sent.code === ResultCode.WRONG_SEQUENCE) {
            this.#log('faucet_retry', { reason: 'refused', attempt, message: sent.message });
            continue;
          }
          if (typeof sent.code === 'number')
            throw new Error(
              `the faucet's own transaction was refused with code ${sent.code}: ${sent.message}`,
            );
          return sent;
        }
        const outcome = await this.#outcome(sent.hash, sent.sequence, stop.signal);
        if (outcome === null) break;
        if (outcome === 'lost' || outcome.code === ResultCode.WRONG_SEQUENCE) {
          const reason = outcome === 'lost' ? 'lost' : 'committed with code 5';
          this.#log('faucet_retry', { reason, attempt, sequence: sent.sequence, hash: sent.hash });
          continue;
        }
        return { ok: true, record: outcome };
      }
      if (stop.signal.reason === 'timeout') {
        return {
          ok: false,
          code: 'timeout',
          message: `the faucet's transaction did not commit within ${opts.timeout_ms} ms; it may still commit`,
        };
      }
      if (stop.signal.aborted) return { ok: false, code: 'busy', message: 'node is stopping' };
      return {
        ok: false,
        code: 'busy',
        message: `the faucet account's sequence was taken by other validators' faucets ${FAUCET_LIMITS.attempts_max} times; retry`,
      };
    } finally {
      cancel_timer();
      opts.signal.removeEventListener('abort', on_abort);
      this.#pending--;
    }
  }

  /**
   * In the queue: signs the send at the faucet account's next sequence and submits it. Null when
   * `signal` aborted before its turn.
   */
  #send(
    to: string,
    amount: number,
    signal: AbortSignal,
  ): Promise<{ ok: true; hash: string; sequence: number } | Refusal | null> {
    const turn = this.#tail.then(async () => {
      if (signal.aborted) return null;
      const sequence = await this.#m.next_sequence(this.address);
      const tx = sign_tx(this.#m.p, this.#sk, {
        chain_id: this.#chain_id,
        sender: this.#sender,
        sequence,
        gas_limit: FAUCET_LIMITS.gas_limit,
        msg: { type: 'send', to, amount },
      });
      const added = await this.#m.submit(JSON.stringify(tx), tx);
      if (!added.ok) return added;
      this.#log('faucet_sent', { to, amount, sequence, hash: added.hash });
      return { ok: true as const, hash: added.hash, sequence };
    });
    this.#tail = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }

  /**
   * Waits until the transaction `hash` at `sequence` commits (its record), or is lost: not
   * committed while the faucet account's committed sequence has passed `sequence` (another
   * transaction took it, and the mempool dropped this one). Checked once now and after every
   * commit. Null when `signal` aborts first.
   */
  #outcome(hash: string, sequence: number, signal: AbortSignal): Promise<TxRecord | 'lost' | null> {
    return new Promise((resolve) => {
      let done = false;
      let checking = false;
      let again = false;
      const finish = (value: TxRecord | 'lost' | null) => {
        if (done) return;
        done = true;
        off();
        signal.removeEventListener('abort', on_abort);
        resolve(value);
      };
      const on_abort = () => finish(null);
      const check = async (): Promise<void> => {
        // One check at a time; a commit during one runs it once more.
        if (checking) {
          again = true;
          return;
        }
        checking = true;
        try {
          do {
            again = false;
            const record = await this.#m.get_tx(hash);
            if (record !== null) return finish(record);
            if ((await this.#m.committed_sequence(this.address)) > sequence) {
              // It may have committed between the two reads.
              return finish((await this.#m.get_tx(hash)) ?? 'lost');
            }
          } while (again && !done);
        } catch {
          // The store is closing: the deadline or the stop ends this wait.
        } finally {
          checking = false;
        }
      };
      const off = this.#m.on_commit(() => void check());
      if (signal.aborted) return finish(null);
      signal.addEventListener('abort', on_abort, { once: true });
      void check();
    });
  }
}
