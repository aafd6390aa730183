/**
 * The liveness guard's memory: transactions whose execution made this validator's enclave fail
 * for a reason that is not a result (its worker died, a call ran past its deadline, an internal
 * enclave error). A quarantined transaction is refused at submission, so a sender cannot put it
 * straight back into the mempool and stall every proposal that picks it up again.
 *
 * The quarantine is local to one validator and bounded in count and in time: it never decides
 * whether a block is valid (that stays a function of the block, see docs/consensus.md), it only
 * keeps this node from proposing, and accepting, what its own enclave cannot execute.
 * @module
 */

import type { EnclaveErrorCode } from '../enclave/result.js';
import { system_clock } from './real_world.js';

/** Most transaction hashes held; the oldest goes first when a new one would exceed it. */
export const QUARANTINE_TXS_MAX = 1_024;
/** How long a hash stays quarantined, from when it was last quarantined. */
export const QUARANTINE_MS = 10 * 60 * 1_000;

/**
 * Enclave error codes that are not a deterministic result of a block and can be caused by one
 * transaction in it: the worker died (out of memory, crashed), the call ran past the host's
 * deadline, the contract engine aborted a call (its native stack ran out), or the enclave hit an
 * internal error. A block that fails with one of these is never
 * committed by this node's proposals, so the guard looks for the transaction that causes it.
 * BUSY and CLOSED (the host's own queue or shutdown) and BAD_INPUT, LIMIT and the sealing codes
 * (what the host handed in) say nothing about any one transaction and are not among them.
 */
export const TX_ATTRIBUTABLE_FAILURES: ReadonlySet<EnclaveErrorCode> = new Set<EnclaveErrorCode>([
  'WORKER_DIED',
  'TIMEOUT',
  'ABORTED',
  'INTERNAL',
]);

/** Bounds of a {@link Quarantine}. */
export interface QuarantineLimits {
  /** Most hashes held, at least 1. */
  txs_max: number;
  /** How long a hash is held, in ms, at least 1. */
  duration_ms: number;
}

/** What a quarantined hash is held with: why, and until when. */
export interface QuarantineEntry {
  reason: string;
  /** The clock's ms when the hash stops being quarantined. */
  until_ms: number;
}

/** Bounded set of quarantined transaction hashes, each held for a fixed time. */
export class Quarantine {
  readonly #limits: Readonly<QuarantineLimits>;
  readonly #now_ms: () => number;
  /** By hash, in order of quarantine (a Map iterates in insertion order): oldest first. */
  readonly #entries = new Map<string, QuarantineEntry>();

  constructor(
    limits: QuarantineLimits = { txs_max: QUARANTINE_TXS_MAX, duration_ms: QUARANTINE_MS },
    now_ms: () => number = system_clock().now_ms,
  ) {
    for (const name of ['txs_max', 'duration_ms'] as const) {
      const value = limits[name];
      if (!Number.isSafeInteger(value) || value < 1)
        throw new RangeError(`quarantine ${name} must be a positive safe integer`);
    }
    if (typeof now_ms !== 'function') throw new TypeError('now_ms must be a function');
    this.#limits = Object.freeze({ ...limits });
    this.#now_ms = now_ms;
  }

  /**
   * Quarantines `hash` for `duration_ms` from now (again, if it already was), evicting the oldest
   * entry when the quarantine is full.
   */
  add(hash: string, reason: string): QuarantineEntry {
    if (typeof hash !== 'string' || hash.length === 0) throw new TypeError('hash must be a non-empty string');
    this.#expire();
    // Re-inserting moves the hash to the young end, so it is evicted last.
    this.#entries.delete(hash);
    while (this.#entries.size >= this.#limits.txs_max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    const entry = { reason, until_ms: this.#now_ms() + this.#limits.duration_ms };
    this.#entries.set(hash, entry);
    if (this.#entries.size > this.#limits.txs_max) throw new Error('invariant: quarantine over its count');
    return entry;
  }

  /** The entry of `hash` and the ms it has left, while it is quarantined; else null. */
  get(hash: string): (QuarantineEntry & { left_ms: number }) | null {
    const entry = this.#entries.get(hash);
    if (entry === undefined) return null;
    const left_ms = entry.until_ms - this.#now_ms();
    if (left_ms <= 0) {
      this.#entries.delete(hash);
      return null;
    }
    return { ...entry, left_ms };
  }

  /** Hashes held now (expired ones dropped first). */
  size(): number {
    this.#expire();
    return this.#entries.size;
  }

  /**
   * Drops expired entries from the old end. Entries are in quarantine order and all last the
   * same time, so they also expire in that order: stop at the first one still held.
   */
  #expire(): void {
    const now = this.#now_ms();
    for (const [hash, entry] of this.#entries) {
      if (now < entry.until_ms) return;
      this.#entries.delete(hash);
    }
  }
}
