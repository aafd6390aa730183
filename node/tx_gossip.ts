/**
 * Transaction gossip in batches. Every p2p frame is Ed25519-signed by the sender and verified by
 * each receiver, so sending one frame per transaction cost a signature per peer and a
 * verification per receiver for every transaction: at a few hundred tx/s that was a large share
 * of a validator's host work. Transactions the node accepted are collected here and broadcast as
 * one `{kind: 'txs', raws}` message when the batch is full or `flush_ms` after its first one.
 * @module
 */

/** A batch of gossiped transactions on the wire: their exact JSON texts, in acceptance order. */
export interface TxsMessage {
  kind: 'txs';
  raws: string[];
}

/** Limits of {@link TxGossip}; a receiver refuses a batch over `txs_max`. */
export interface TxGossipOptions {
  /** Most transactions in one batch. */
  txs_max: number;
  /** Most UTF-16 units of transaction text in one batch (bounds the frame). */
  chars_max: number;
  /** Longest a transaction waits for its batch to fill. */
  flush_ms: number;
}

/** Defaults: a batch waits at most 5 ms, far below a block's time, and stays well under a frame. */
export const TX_GOSSIP_DEFAULTS: Readonly<TxGossipOptions> = Object.freeze({
  txs_max: 512,
  chars_max: 4 * 1024 * 1024,
  flush_ms: 5,
});

/** Modules of {@link TxGossip}: where batches go, and a timer (injectable for simulations). */
export interface TxGossipModules {
  broadcast(message: TxsMessage): void;
  set_timeout(fn: () => void, ms: number): { unref?(): unknown } | unknown;
  clear_timeout(handle: unknown): void;
}

/** Collects accepted transactions and broadcasts them in batches. */
export class TxGossip {
  readonly #opts: Readonly<TxGossipOptions>;
  readonly #m: TxGossipModules;
  #raws: string[] = [];
  #chars = 0;
  #timer: unknown = null;

  constructor(opts: Partial<TxGossipOptions>, modules: TxGossipModules) {
    const o = { ...TX_GOSSIP_DEFAULTS, ...opts };
    for (const name of ['txs_max', 'chars_max'] as const) {
      if (!Number.isSafeInteger(o[name]) || o[name] < 1)
        throw new RangeError(`${name} must be a positive integer`);
    }
    if (!Number.isSafeInteger(o.flush_ms) || o.flush_ms < 0)
      throw new RangeError('flush_ms must be a non-negative integer');
    if (typeof modules?.broadcast !== 'function') throw new TypeError('modules.broadcast must be a function');
    this.#opts = Object.freeze(o);
    this.#m = modules;
  }

  /** Queues one accepted transaction; sends the batch now if it is full. */
  add(raw: string): void {
    if (typeof raw !== 'string') throw new TypeError('raw must be a string');
    if (this.#raws.length > 0 && this.#chars + raw.length > this.#opts.chars_max) this.flush();
    this.#raws.push(raw);
    this.#chars += raw.length;
    if (this.#raws.length >= this.#opts.txs_max || this.#chars >= this.#opts.chars_max) {
      this.flush();
    } else if (this.#timer === null) {
      this.#timer = this.#m.set_timeout(() => {
        this.#timer = null;
        this.flush();
      }, this.#opts.flush_ms);
    }
  }

  /** Sends what is queued, if anything. */
  flush(): void {
    if (this.#timer !== null) {
      this.#m.clear_timeout(this.#timer);
      this.#timer = null;
    }
    if (this.#raws.length === 0) return;
    const raws = this.#raws;
    this.#raws = [];
    this.#chars = 0;
    this.#m.broadcast({ kind: 'txs', raws });
  }
}

/**
 * The transactions of a received gossip message, or null if it is not a well-formed one: a
 * `{kind: 'tx', raw}` (one transaction, as older nodes send) or a `{kind: 'txs', raws}` of at most
 * `txs_max` strings.
 */
export function gossiped_txs(body: unknown, txs_max: number = TX_GOSSIP_DEFAULTS.txs_max): string[] | null {
  if (typeof body !== 'object' || body === null) return null;
  const b = body as { kind?: unknown; raw?: unknown; raws?: unknown };
  if (b.kind === 'tx') return typeof b.raw === 'string' ? [b.raw] : null;
  if (b.kind !== 'txs' || !Array.isArray(b.raws) || b.raws.length > txs_max) return null;
  return b.raws.every((r) => typeof r === 'string') ? (b.raws as string[]) : null;
}
