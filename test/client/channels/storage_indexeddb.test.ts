/**
 * client/sdk/channels/storage_indexeddb.ts against a small in-memory fake of the IndexedDB API
 * (Node has no IndexedDB and the repository no browser harness): documents round-trip, survive a
 * new storage object over the same database, failures surface as IndexedDbStorageError, and a
 * replay guard runs over it, locking its document across tabs with the Web Locks API. The fake follows the IndexedDB callback order (request success,
 * then transaction complete, each in a later task).
 */

import { describe, expect, it, vi } from 'vitest';
import { ReplayError, ReplayGuard } from '../../../client/sdk/channels/replay_guard.js';
import {
  type IdbDatabaseLike,
  type IdbFactoryLike,
  type IdbObjectStoreLike,
  type IdbOpenRequestLike,
  type IdbRequestLike,
  type IdbTransactionLike,
  IndexedDbStorage,
  IndexedDbStorageError,
} from '../../../client/sdk/channels/storage_indexeddb.js';

const later = (fn: () => void) => setTimeout(fn, 0);

class FakeRequest<T> implements IdbRequestLike<T> {
  result!: T;
  error: unknown = null;
  onsuccess: ((event: unknown) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
}

class FakeOpenRequest extends FakeRequest<IdbDatabaseLike> implements IdbOpenRequestLike {
  onupgradeneeded: ((event: unknown) => void) | null = null;
  onblocked: ((event: unknown) => void) | null = null;
}

/** Databases in memory: name → (store → (key → value)). */
class FakeIdb implements IdbFactoryLike {
  readonly dbs = new Map<string, { version: number; stores: Map<string, Map<string, unknown>> }>();
  fail_writes = false;
  opens = 0;

  open(name: string, version = 1): IdbOpenRequestLike {
    this.opens++;
    const request = new FakeOpenRequest();
    later(() => {
      let entry = this.dbs.get(name);
      const upgrade = entry === undefined || entry.version < version;
      if (entry === undefined) {
        entry = { version, stores: new Map() };
        this.dbs.set(name, entry);
      }
      entry.version = version;
      request.result = this.#database(entry.stores);
      if (upgrade) request.onupgradeneeded?.({});
      request.onsuccess?.({});
    });
    return request;
  }

  #database(stores: Map<string, Map<string, unknown>>): IdbDatabaseLike {
    const fake = this;
    return {
      objectStoreNames: { contains: (n: string) => stores.has(n) },
      createObjectStore: (n: string) => stores.set(n, new Map()),
      close: () => {},
      transaction(store_name: string, mode: 'readonly' | 'readwrite'): IdbTransactionLike {
        const data = stores.get(store_name);
        if (data === undefined) throw new Error(`NotFoundError: ${store_name}`);
        const tx: IdbTransactionLike = {
          error: null,
          oncomplete: null,
          onerror: null,
          onabort: null,
          objectStore(): IdbObjectStoreLike {
            const run = <T>(write: boolean, op: () => T): IdbRequestLike<T> => {
              const request = new FakeRequest<T>();
              later(() => {
                if (write && mode !== 'readwrite') throw new Error('ReadOnlyError');
                if (write && fake.fail_writes) {
                  request.error = new Error('QuotaExceededError');
                  request.onerror?.({});
                  (tx as { error: unknown }).error = request.error;
                  later(() => tx.onabort?.({}));
                  return;
                }
                request.result = op();
                request.onsuccess?.({});
                later(() => tx.oncomplete?.({}));
              });
              return request;
            };
            return {
              get: (key) => run(false, () => data.get(key)),
              put: (value, key) =>
                run(true, () => {
                  data.set(key, value);
                  return key;
                }),
              delete: (key) =>
                run(true, () => {
                  data.delete(key);
                  return undefined;
                }),
            };
          },
        };
        return tx;
      },
    };
  }
}

describe('IndexedDbStorage (over a fake IndexedDB)', () => {
  it('stores, replaces, reads and removes documents, and opens the database once', async () => {
    const idb = new FakeIdb();
    const storage = new IndexedDbStorage('test-db', idb);
    expect(await storage.get('a')).toBeNull();
    await storage.set('a', 'one');
    await storage.set('a', 'two');
    await storage.set('b.json', '{"x":1}');
    expect(await storage.get('a')).toBe('two');
    expect(await storage.get('b.json')).toBe('{"x":1}');
    await storage.remove('a');
    await storage.remove('missing');
    expect(await storage.get('a')).toBeNull();
    expect(idb.opens).toBe(1);
    expect([...idb.dbs.get('test-db')!.stores.keys()]).toEqual(['documents']);
  });

  it('keeps documents for a new storage object over the same database (a reload)', async () => {
    const idb = new FakeIdb();
    await new IndexedDbStorage('db', idb).set('seen-ids', 'kept');
    expect(await new IndexedDbStorage('db', idb).get('seen-ids')).toBe('kept');
    expect(await new IndexedDbStorage('other', idb).get('seen-ids')).toBeNull();
  });

  it('checks names and sizes, and reports failed writes and a missing IndexedDB', async () => {
    const idb = new FakeIdb();
    const storage = new IndexedDbStorage('db', idb);
    await expect(storage.set('a/b', 'x')).rejects.toThrow(TypeError);
    await expect(storage.set('a', 'x'.repeat(4 * 1024 * 1024 + 1))).rejects.toThrow(RangeError);
    idb.fail_writes = true;
    await expect(storage.set('a', 'x')).rejects.toBeInstanceOf(IndexedDbStorageError);
    idb.fail_writes = false;
    expect(await storage.get('a')).toBeNull();
    idb.dbs.get('db')!.stores.get('documents')!.set('odd', 42);
    await expect(storage.get('odd')).rejects.toBeInstanceOf(IndexedDbStorageError);
    expect(() => new IndexedDbStorage()).toThrow(IndexedDbStorageError);
  });

  it('carries a replay guard across a reload', async () => {
    const idb = new FakeIdb();
    const now = 1_700_000_000_000;
    await new ReplayGuard(new IndexedDbStorage('db', idb)).accept('id', now, now);
    await expect(
      new ReplayGuard(new IndexedDbStorage('db', idb)).accept('id', now, now),
    ).rejects.toBeInstanceOf(ReplayError);
  });

  it('locks a document across tabs with the Web Locks API when the browser has it', async () => {
    const idb = new FakeIdb();
    const requested: string[] = [];
    vi.stubGlobal('navigator', {
      locks: {
        request: async <T>(name: string, work: () => Promise<T>) => {
          requested.push(name);
          return work();
        },
      },
    });
    try {
      const now = 1_700_000_000_000;
      await new ReplayGuard(new IndexedDbStorage('db', idb)).accept('id', now, now);
      expect(requested).toEqual(['cloister-channels/db/seen-ids']);
    } finally {
      vi.unstubAllGlobals();
    }
    // Without the API the guard still runs (this tab's calls are serialised by the guard).
    expect(await new IndexedDbStorage('db', idb).exclusive('seen-ids', async () => 'ran')).toBe('ran');
  });
});
