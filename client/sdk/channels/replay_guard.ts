/**
 * The replay guard of envelopes (docs/channels.md "Envelopes"), after KILT's replay-protection
 * cookbook: a message is accepted only if its `createdAt` lies in `[now − 60 s, now + 1 s]` and its
 * id was not accepted before. Accepted ids live in one JSON document of a {@link ChannelStorage}
 * (a file beside the key file in the CLI, IndexedDB in a browser), so a restart does not forget
 * them; every check first drops the ids older than the window (they could not pass the age check
 * again anyway), and the store is bounded: when it is full of ids still inside the window the guard
 * refuses everything ({@link SeenStoreFullError}) rather than forget one. The store remembers the
 * latest time it was used: ids are dropped by that time, and a clock that went back since gets no
 * message older than its window ('clock_behind'), which could have been dropped. Checks on one
 * document run one at a time in this JavaScript realm (and across processes where the storage
 * locks), so two envelopes opened at once cannot both pass.
 *
 * KILT's example keeps the ids in a `Map` in memory (lost on restart, unbounded) and purges on a
 * timer; this keeps them in storage and purges on each check. Browser-safe.
 * @module
 */

import { is_count } from '../../../protocol/checks.js';
import { ChannelError, ChannelErrorCode } from './errors.js';
import { type ChannelStorage, exclusive_if_any } from './storage.js';

/** Oldest accepted message, in ms before now (KILT's MAX_ACCEPTED_AGE). */
export const REPLAY_MAX_AGE_MS = 60_000;
/** Furthest accepted message in the future, in ms after now (clock skew; KILT's −MIN_ACCEPTED_AGE). */
export const REPLAY_MAX_FUTURE_MS = 1_000;
/** Most ids the store keeps at once. */
export const SEEN_IDS_MAX = 10_000;
/** Longest id, in characters. */
export const SEEN_ID_CHARS_MAX = 160;
/** Default name of the seen-id document. */
export const SEEN_DOCUMENT_DEFAULT = 'seen-ids';
/** Format tag of the seen-id document. */
export const SEEN_FORMAT = 'cloister-seen-ids/v1';

/** Why a message was refused as a replay. */
export type ReplayReason = 'seen' | 'too_old' | 'in_future' | 'clock_behind';

/** The message was accepted before, or was created outside the accepted window. */
export class ReplayError extends ChannelError {
  override name = 'ReplayError';
  constructor(readonly reason: ReplayReason) {
    super(
      ChannelErrorCode.REPLAY,
      reason === 'seen'
        ? 'replay: this message was already accepted once'
        : reason === 'too_old'
          ? `replay: the message was created more than ${REPLAY_MAX_AGE_MS / 1000} s ago (possible replay, or a slow clock)`
          : reason === 'in_future'
            ? `replay: the message was created more than ${REPLAY_MAX_FUTURE_MS / 1000} s in the future (possible replay, or a clock ahead)`
            : `replay: the message is older than the seen-message store can vouch for: this clock went back since the store was last used (possible replay; messages are accepted again once the clock passes that time)`,
    );
  }
}

/** The seen-id store is full of ids still inside the window: accepting more could forget one. */
export class SeenStoreFullError extends ChannelError {
  override name = 'SeenStoreFullError';
  constructor(readonly max_ids: number) {
    super(
      ChannelErrorCode.SEEN_STORE_FULL,
      `the seen-message store holds ${max_ids} ids still inside the ${REPLAY_MAX_AGE_MS / 1000} s window: refusing messages until some are older`,
    );
  }
}

/** The seen-id document is not one this guard wrote: refusing everything rather than guess. */
export class SeenStoreCorruptError extends Error {
  override name = 'SeenStoreCorruptError';
}

/** Options of a {@link ReplayGuard}; the defaults are KILT's window and {@link SEEN_IDS_MAX}. */
export interface ReplayGuardOptions {
  /** Name of the document in the storage (default {@link SEEN_DOCUMENT_DEFAULT}). */
  document?: string;
  /** Most ids kept (default {@link SEEN_IDS_MAX}). */
  max_ids?: number;
  /** Oldest accepted message, ms before now (default {@link REPLAY_MAX_AGE_MS}). */
  max_age_ms?: number;
  /** Furthest accepted message, ms after now (default {@link REPLAY_MAX_FUTURE_MS}). */
  max_future_ms?: number;
}

/**
 * One lock per (storage object, document) in this realm: guards over the same store share it. A
 * store with {@link ChannelStorage.exclusive} (FileStorage) also locks against other processes.
 */
const locks = new WeakMap<ChannelStorage, Map<string, Promise<unknown>>>();

function exclusive<T>(storage: ChannelStorage, document: string, work: () => Promise<T>): Promise<T> {
  let by_doc = locks.get(storage);
  if (by_doc === undefined) {
    by_doc = new Map();
    locks.set(storage, by_doc);
  }
  const previous = by_doc.get(document) ?? Promise.resolve();
  // In this realm, one at a time; against other processes, the store's own lock if it has one.
  const locked = () => exclusive_if_any(storage, document, work);
  const run = previous.then(locked, locked);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  by_doc.set(document, tail);
  void tail.then(() => {
    if (by_doc.get(document) === tail) by_doc.delete(document);
  });
  return run;
}

function check_bound(value: number | undefined, fallback: number, what: string, min: number): number {
  const n = value ?? fallback;
  if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`${what} must be a whole number ≥ ${min}`);
  return n;
}

/** Guards against replays with a persistent, bounded store of accepted ids. */
export class ReplayGuard {
  readonly document: string;
  readonly max_ids: number;
  readonly max_age_ms: number;
  readonly max_future_ms: number;

  constructor(
    readonly storage: ChannelStorage,
    opts: ReplayGuardOptions = {},
  ) {
    if (storage === null || typeof storage !== 'object' || typeof storage.get !== 'function')
      throw new TypeError('storage must be a ChannelStorage');
    this.document = opts.document ?? SEEN_DOCUMENT_DEFAULT;
    if (typeof this.document !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(this.document))
      throw new TypeError('document must be 1-128 characters of A-Z a-z 0-9 . _ -');
    this.max_ids = check_bound(opts.max_ids, SEEN_IDS_MAX, 'max_ids', 1);
    this.max_age_ms = check_bound(opts.max_age_ms, REPLAY_MAX_AGE_MS, 'max_age_ms', 0);
    this.max_future_ms = check_bound(opts.max_future_ms, REPLAY_MAX_FUTURE_MS, 'max_future_ms', 0);
  }

  /**
   * Accepts the message `id` created at `created_at_ms`, at time `now_ms`, and records it: throws
   * {@link ReplayError} if it is outside `[now − max_age, now + max_future]` or was accepted
   * before, {@link SeenStoreFullError} if the store is full of ids inside the window. Call it only
   * after the message opened and passed every other check. Calls run one at a time per store.
   */
  async accept(id: string, created_at_ms: number, now_ms: number): Promise<void> {
    if (typeof id !== 'string' || id.length === 0 || id.length > SEEN_ID_CHARS_MAX)
      throw new TypeError(`id must be a string of 1-${SEEN_ID_CHARS_MAX} characters`);
    if (!Number.isSafeInteger(created_at_ms) || created_at_ms < 0)
      throw new TypeError('created_at_ms must be a whole number of ms ≥ 0');
    if (!Number.isSafeInteger(now_ms) || now_ms < 0) throw new TypeError('now_ms must be a whole number ≥ 0');
    return exclusive(this.storage, this.document, async () => {
      if (created_at_ms < now_ms - this.max_age_ms) throw new ReplayError('too_old');
      if (created_at_ms > now_ms + this.max_future_ms) throw new ReplayError('in_future');
      const { seen, latest_ms } = await this.#load(now_ms);
      // Ids were dropped by the latest time the store was used: if this clock went back since,
      // an id older than that window may have been dropped, and could be accepted twice.
      if (created_at_ms < latest_ms - this.max_age_ms) throw new ReplayError('clock_behind');
      if (seen.has(id)) throw new ReplayError('seen');
      if (seen.size >= this.max_ids) throw new SeenStoreFullError(this.max_ids);
      seen.set(id, created_at_ms);
      await this.#save(seen, latest_ms);
    });
  }

  /** Whether `id` is recorded and still inside the window at `now_ms` (read only). */
  has(id: string, now_ms: number): Promise<boolean> {
    return exclusive(this.storage, this.document, async () => (await this.#load(now_ms)).seen.has(id));
  }

  /** How many ids inside the window at `now_ms` the store holds (read only). */
  size(now_ms: number): Promise<number> {
    return exclusive(this.storage, this.document, async () => (await this.#load(now_ms)).seen.size);
  }

  /**
   * The recorded ids, without those older than the window at the later of `now_ms` and the latest
   * time the store was used (`latest_ms`, which this returns moved up to `now_ms`).
   */
  async #load(now_ms: number): Promise<{ seen: Map<string, number>; latest_ms: number }> {
    const text = await this.storage.get(this.document);
    const seen = new Map<string, number>();
    if (text === null) return { seen, latest_ms: now_ms };
    const corrupt = (why: string) =>
      new SeenStoreCorruptError(
        `the seen-message store ${this.document} is not valid (${why}): refusing messages; remove it only if no message inside the last minute could be replayed`,
      );
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw corrupt('not JSON');
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw corrupt('not an object');
    const {
      format,
      seen: entries,
      latest_ms: stored,
    } = doc as { format?: unknown; seen?: unknown; latest_ms?: unknown };
    if (format !== SEEN_FORMAT) throw corrupt(`format is not ${SEEN_FORMAT}`);
    if (!Array.isArray(entries)) throw corrupt('no seen list');
    // Written since the clock check was added; a document from before has none, and starts it now.
    if (stored !== undefined && !is_count(stored)) throw corrupt('bad latest_ms');
    const latest_ms = Math.max(now_ms, (stored as number | undefined) ?? 0);
    const oldest = latest_ms - this.max_age_ms;
    for (const entry of entries) {
      if (
        !Array.isArray(entry) ||
        entry.length !== 2 ||
        typeof entry[0] !== 'string' ||
        entry[0].length === 0 ||
        entry[0].length > SEEN_ID_CHARS_MAX ||
        !Number.isSafeInteger(entry[1])
      )
        throw corrupt('bad entry');
      const [id, created_at_ms] = entry as [string, number];
      if (created_at_ms >= oldest) seen.set(id, created_at_ms);
    }
    return { seen, latest_ms };
  }

  async #save(seen: Map<string, number>, latest_ms: number): Promise<void> {
    await this.storage.set(
      this.document,
      JSON.stringify({ format: SEEN_FORMAT, latest_ms, seen: [...seen] }),
    );
  }
}
