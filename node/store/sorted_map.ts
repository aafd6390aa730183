/**
 * An ordered map of strings for the simulated disk (./memory_disk.ts): values in a hash map for
 * point reads, keys in a list of sorted chunks (each at most {@link CHUNK_KEYS_MAX}) for ordered
 * ranges. Inserting or deleting costs a binary search and a splice within one chunk, so a store of
 * a million keys stays cheap to write, and a range read walks only what it returns. Keys compare
 * by UTF-16 code unit (JavaScript's `<`), which for ASCII keys is LevelDB's byte order.
 * Synchronous and deterministic: no timers, no I/O.
 * @module
 */

import type { KvRange } from './kv.js';

/** Most keys in one chunk; a chunk that grows past it is split in two halves. */
export const CHUNK_KEYS_MAX = 512;

/** First index in sorted `list` whose key is at or above `key` (`strict`: above). */
function lower_bound(list: readonly string[], key: string, strict: boolean): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const k = list[mid]!;
    if (k < key || (strict && k === key)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A sorted map from string keys to string values. */
export class SortedMap {
  readonly #values = new Map<string, string>();
  /** Sorted, non-empty chunks; all keys of chunk i sort before every key of chunk i + 1. */
  #chunks: string[][] = [];

  /** Number of keys. */
  get size(): number {
    return this.#values.size;
  }

  /** The value at `key`, or undefined. */
  get(key: string): string | undefined {
    return this.#values.get(key);
  }

  /** Sets `key` to `value`. */
  set(key: string, value: string): void {
    if (!this.#values.has(key)) this.#insert_key(key);
    this.#values.set(key, value);
  }

  /** Removes `key`; whether it was there. */
  delete(key: string): boolean {
    if (!this.#values.delete(key)) return false;
    const c = this.#chunk_of(key, false);
    const chunk = this.#chunks[c]!;
    const i = lower_bound(chunk, key, false);
    // The key was in the value map, so it is in its chunk: the two change together.
    if (chunk[i] !== key) throw new Error('invariant: sorted keys and values disagree');
    chunk.splice(i, 1);
    if (chunk.length === 0) this.#chunks.splice(c, 1);
    return true;
  }

  /** Entries within `range` in key order, at most `range.limit` (a copy: later writes do not show). */
  entries(range: KvRange = {}): [string, string][] {
    const out: [string, string][] = [];
    const limit = range.limit === undefined || range.limit < 0 ? Number.POSITIVE_INFINITY : range.limit;
    if (limit === 0) return out;
    let c: number;
    let i: number;
    if (range.gt !== undefined || range.gte !== undefined) {
      // With both bounds given the tighter one wins, as in LevelDB.
      const strict = range.gte === undefined || (range.gt !== undefined && range.gt >= range.gte);
      const from = strict ? range.gt! : range.gte!;
      c = this.#chunk_of(from, strict);
      i = c < this.#chunks.length ? lower_bound(this.#chunks[c]!, from, strict) : 0;
    } else {
      c = 0;
      i = 0;
    }
    for (; c < this.#chunks.length; c++, i = 0) {
      const chunk = this.#chunks[c]!;
      for (; i < chunk.length; i++) {
        const key = chunk[i]!;
        if (range.lt !== undefined && key >= range.lt) return out;
        if (range.lte !== undefined && key > range.lte) return out;
        out.push([key, this.#values.get(key)!]);
        if (out.length >= limit) return out;
      }
    }
    return out;
  }

  /** An independent copy. */
  clone(): SortedMap {
    const copy = new SortedMap();
    for (const [k, v] of this.#values) copy.#values.set(k, v);
    copy.#chunks = this.#chunks.map((chunk) => chunk.slice());
    return copy;
  }

  /**
   * Index of the first chunk whose last key is at or above `key` (`strict`: above): the chunk that
   * holds `key` or where it belongs; `#chunks.length` if every key sorts before it.
   */
  #chunk_of(key: string, strict: boolean): number {
    let lo = 0;
    let hi = this.#chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = this.#chunks[mid]!;
      const last = chunk[chunk.length - 1]!;
      if (last < key || (strict && last === key)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #insert_key(key: string): void {
    if (this.#chunks.length === 0) {
      this.#chunks.push([key]);
      return;
    }
    // Past every key: it joins the last chunk.
    const c = Math.min(this.#chunk_of(key, false), this.#chunks.length - 1);
    const chunk = this.#chunks[c]!;
    chunk.splice(lower_bound(chunk, key, false), 0, key);
    if (chunk.length > CHUNK_KEYS_MAX) {
      const half = chunk.length >>> 1;
      this.#chunks.splice(c + 1, 0, chunk.splice(half));
    }
  }
}
