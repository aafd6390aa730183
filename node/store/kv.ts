/**
 * The key-value seam under the chain store: the subset of LevelDB (`level`'s `Level<string,
 * string>`) that ChainStore uses, so the same store code runs on LevelDB in a node and on a
 * simulated disk (./memory_disk.ts) in the deterministic simulator. LevelDB is ./level_kv.ts:
 * `Level<string, string>` as it is, but for a cheaper `batch`.
 *
 * The contract ChainStore relies on, which every implementation must keep:
 * - keys and values are strings; keys sort by UTF-16 code unit, which for the store's ASCII keys
 *   (and the U+00FF range end of ./keys.ts `prefix_range`) is LevelDB's byte order;
 * - `get` of a missing key resolves to undefined (not an error);
 * - a `batch` is atomic: after a crash all of it is there or none of it;
 * - a write with `{sync: true}` that resolved survives a crash;
 * - an iterator sees the data as it was when it was made (a snapshot), in key order.
 * @module
 */

/** Where a database handle is in its life (LevelDB's `status`). */
export type KvStatus = 'opening' | 'open' | 'closing' | 'closed';

/** One operation of an atomic {@link Kv.batch}. */
export type KvBatchOp = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };

/** Options of a write. */
export interface KvWriteOptions {
  /**
   * Durable before the write resolves (LevelDB: fsync of its log). Without it a crash may lose the
   * write, until a later synced write or flush.
   */
  sync?: boolean;
}

/** A key range of an iterator: bounds are optional, `limit` caps the entries (none: all). */
export interface KvRange {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  limit?: number;
}

/** The key-value operations the chain store uses. */
export interface Kv {
  /** 'open' between a resolved `open` and a `close`. */
  readonly status: KvStatus;
  /** Opens the handle; rejects if the database cannot be opened (e.g. another handle holds it). */
  open(): Promise<void>;
  /** Closes the handle; later calls fail. */
  close(): Promise<void>;
  /** The value at `key`, or undefined if there is none. */
  get(key: string): Promise<string | undefined>;
  /** Writes `value` at `key`. */
  put(key: string, value: string, options?: KvWriteOptions): Promise<void>;
  /** Applies `ops` atomically, in order. */
  batch(ops: KvBatchOp[], options?: KvWriteOptions): Promise<void>;
  /** Entries in key order within `range`, as of the call. */
  iterator(range?: KvRange): AsyncIterable<[string, string]>;
  /** Keys in order within `range`, as of the call. */
  keys(range?: KvRange): AsyncIterable<string>;
}
