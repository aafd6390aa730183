/**
 * {@link ChannelStorage} over IndexedDB, for browsers: one database (default `cloister-channels`),
 * one object store `documents`, a document's name as its key and its text as the value. A `set`
 * is one `put` in a read-write transaction and resolves when the transaction completes, so a
 * document is replaced whole or not at all. Uses the page's `indexedDB` unless a factory is given
 * (a fake in tests). Browser-safe: no Node module, and only the small part of the IndexedDB API
 * declared here.
 * @module
 */

import { type ChannelStorage, check_document, DOCUMENT_CHARS_MAX } from './storage.js';

/** The default database name. */
export const IDB_DATABASE_DEFAULT = 'cloister-channels';
/** The object store holding the documents. */
export const IDB_STORE = 'documents';
const IDB_VERSION = 1;

/** The part of an `IDBRequest` this module uses. */
export interface IdbRequestLike<T> {
  readonly result: T;
  readonly error: unknown;
  onsuccess: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** The part of an `IDBOpenDBRequest` this module uses. */
export interface IdbOpenRequestLike extends IdbRequestLike<IdbDatabaseLike> {
  onupgradeneeded: ((event: unknown) => void) | null;
  onblocked: ((event: unknown) => void) | null;
}

/** The part of an `IDBObjectStore` this module uses. */
export interface IdbObjectStoreLike {
  get(key: string): IdbRequestLike<unknown>;
  put(value: unknown, key: string): IdbRequestLike<unknown>;
  delete(key: string): IdbRequestLike<unknown>;
}

/** The part of an `IDBTransaction` this module uses. */
export interface IdbTransactionLike {
  readonly error: unknown;
  objectStore(name: string): IdbObjectStoreLike;
  oncomplete: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onabort: ((event: unknown) => void) | null;
}

/** The part of an `IDBDatabase` this module uses. */
export interface IdbDatabaseLike {
  readonly objectStoreNames: { contains(name: string): boolean };
  createObjectStore(name: string): unknown;
  transaction(store: string, mode: 'readonly' | 'readwrite'): IdbTransactionLike;
  close(): void;
  onversionchange?: ((event: unknown) => void) | null;
}

/** The part of an `IDBFactory` (`window.indexedDB`) this module uses. */
export interface IdbFactoryLike {
  open(name: string, version?: number): IdbOpenRequestLike;
}

/** The part of the Web Locks API (`navigator.locks`) the store uses. */
export interface WebLocksLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

/** IndexedDB failed or is missing (private mode, blocked by another tab, quota). */
export class IndexedDbStorageError extends Error {
  override name = 'IndexedDbStorageError';
}

function failure(what: string, error: unknown): IndexedDbStorageError {
  const detail = error instanceof Error ? `: ${error.message}` : '';
  return new IndexedDbStorageError(`IndexedDB ${what} failed${detail}`);
}

/** Documents in an IndexedDB object store. */
export class IndexedDbStorage implements ChannelStorage {
  readonly #factory: IdbFactoryLike;
  readonly #name: string;
  #db: Promise<IdbDatabaseLike> | null = null;

  /** `name`: the database (default {@link IDB_DATABASE_DEFAULT}); `factory`: default `globalThis.indexedDB`. */
  constructor(name: string = IDB_DATABASE_DEFAULT, factory?: IdbFactoryLike) {
    if (typeof name !== 'string' || name.length === 0 || name.length > 128)
      throw new TypeError('database name must be 1-128 characters');
    const found = factory ?? (globalThis as { indexedDB?: IdbFactoryLike }).indexedDB;
    if (found === undefined || typeof found.open !== 'function')
      throw new IndexedDbStorageError('this environment has no IndexedDB: use MemoryStorage or FileStorage');
    this.#factory = found;
    this.#name = name;
  }

  #open(): Promise<IdbDatabaseLike> {
    this.#db ??= new Promise<IdbDatabaseLike>((resolve, reject) => {
      const request = this.#factory.open(this.#name, IDB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(IDB_STORE)) db.createObjectStore(IDB_STORE);
      };
      request.onsuccess = () => {
        const db = request.result;
        // Another tab upgrading the database: let it, and reopen on the next call.
        db.onversionchange = () => {
          db.close();
          this.#db = null;
        };
        resolve(db);
      };
      request.onerror = () => reject(failure('open', request.error));
      request.onblocked = () => reject(new IndexedDbStorageError('IndexedDB open is blocked by another tab'));
    }).catch((error: unknown) => {
      this.#db = null;
      throw error;
    });
    return this.#db;
  }

  /** Runs one request in a transaction; resolves with its result once the transaction completes. */
  async #run<T>(
    mode: 'readonly' | 'readwrite',
    what: string,
    make: (store: IdbObjectStoreLike) => IdbRequestLike<T>,
  ): Promise<T> {
    const db = await this.#open();
    return new Promise<T>((resolve, reject) => {
      const tx = db.transaction(IDB_STORE, mode);
      const request = make(tx.objectStore(IDB_STORE));
      let result: T;
      request.onsuccess = () => {
        result = request.result;
      };
      request.onerror = () => reject(failure(what, request.error));
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(failure(what, tx.error));
      tx.onabort = () => reject(failure(what, tx.error));
    });
  }

  async get(name: string): Promise<string | null> {
    check_document(name);
    const value = await this.#run('readonly', 'read', (store) => store.get(name));
    if (value === undefined || value === null) return null;
    if (typeof value !== 'string' || value.length > DOCUMENT_CHARS_MAX)
      throw new IndexedDbStorageError(
        `IndexedDB document ${name} is not a text of at most ${DOCUMENT_CHARS_MAX} characters`,
      );
    return value;
  }

  async set(name: string, text: string): Promise<void> {
    check_document(name, text);
    await this.#run('readwrite', 'write', (store) => store.put(text, name));
  }

  async remove(name: string): Promise<void> {
    check_document(name);
    await this.#run('readwrite', 'delete', (store) => store.delete(name));
  }

  /**
   * Runs `work` holding the Web Locks API lock `cloister-channels/<database>/<name>`, so two tabs
   * do not read-modify-write one document at once (the replay guard). Where the API is missing
   * (an older browser) it runs `work` as it is: this tab's own calls are serialised by the caller.
   */
  exclusive<T>(name: string, work: () => Promise<T>): Promise<T> {
    check_document(name);
    const locks = (globalThis as { navigator?: { locks?: WebLocksLike } }).navigator?.locks;
    if (locks === undefined || typeof locks.request !== 'function') return work();
    return locks.request(`cloister-channels/${this.#name}/${name}`, work);
  }

  /** Closes the database (a later call opens it again). */
  async close(): Promise<void> {
    const db = this.#db;
    this.#db = null;
    if (db !== null) (await db.catch(() => null))?.close();
  }
}
