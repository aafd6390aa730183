/**
 * Typed errors of the host's chain store, so callers can tell "the disk holds something it should
 * not" (stop the node) from "you asked for something invalid" (a bug in the caller) from "this
 * store belongs to another chain" (an operator mistake).
 * @module
 */

/**
 * Stored data failed a read-back check: a checksum, a record's shape, or a cross-record invariant
 * (e.g. the height names a block that is missing). The store must not be served from; the node
 * should stop and the operator restore or resync the data folder.
 */
export class StoreCorruptError extends Error {
  override readonly name = 'StoreCorruptError';
  /** The LevelDB key whose value failed, or null for a cross-record check. */
  readonly key: string | null;

  constructor(key: string | null, message: string, options?: { cause?: unknown }) {
    super(key === null ? `store corrupt: ${message}` : `store corrupt at ${key}: ${message}`, options);
    this.key = key;
  }
}

/** The store holds another chain than asked for: a different chain id or different genesis codes. */
export class StoreMismatchError extends Error {
  override readonly name = 'StoreMismatchError';
}

/** The LevelDB folder could not be opened (locked by another process, unreadable, …). */
export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError';
}

/** A call on a store that was closed, or that stopped serving after a failed read-back. */
export class StoreClosedError extends Error {
  override readonly name = 'StoreClosedError';
}

/**
 * `commit_block` refused its arguments before writing anything: the block does not extend the
 * chain, or the enclave output does not belong to it. A RangeError, as any invalid argument.
 */
export class CommitRejectedError extends RangeError {
  override readonly name = 'CommitRejectedError';
}

/**
 * A listing's cursor (`list_contracts`, `list_txs`) is not one this store gave for that listing:
 * not base64url, not a key of the listing's range, or from another listing (other filters). A
 * RangeError, as any invalid argument; the RPC answers it 400 code 106.
 */
export class StoreCursorError extends RangeError {
  override readonly name = 'StoreCursorError';
}
