/**
 * Where the channels keep local state (contacts and communication keys, seen message ids, group
 * keys, pinned fingerprints): a small named-document store, a file per name in Node
 * (`./storage_file_node.ts`), memory in tests, IndexedDB in a browser (`./storage_indexeddb.ts`).
 * Documents holding secrets are sealed with {@link sealed_storage} under a key derived from the
 * account key, so a copied store file reveals nothing without the key file. Browser-safe.
 * @module
 */

import { gcm } from '@noble/ciphers/aes.js';
import { concat, from_base64, from_utf8, to_base64, utf8 } from '../../../protocol/bytes.js';
import { web_random } from '../keys.js';

/** Largest document a store keeps, in characters. */
export const DOCUMENT_CHARS_MAX = 4 * 1024 * 1024;
const NAME_RE = /^[A-Za-z0-9._-]{1,128}$/;

/** A store of named text documents. Writes are atomic: a crash leaves the old or the new text. */
export interface ChannelStorage {
  /** The document's text, or null if there is none. */
  get(name: string): Promise<string | null>;
  /** Replaces the document (atomically). */
  set(name: string, text: string): Promise<void>;
  /** Removes the document if it exists. */
  remove(name: string): Promise<void>;
  /**
   * Runs `work` (a read-modify-write of the document) so that no other holder of the same store,
   * in another process or tab, runs one at the same time. Optional: a store only this realm uses
   * needs none (callers serialise within the realm themselves).
   */
  exclusive?<T>(name: string, work: () => Promise<T>): Promise<T>;
}

/**
 * Runs `work` under `storage`'s {@link ChannelStorage.exclusive} lock of `name` when it has one
 * (against other processes and tabs), else at once: the caller serialises within this realm.
 */
export function exclusive_if_any<T>(
  storage: ChannelStorage,
  name: string,
  work: () => Promise<T>,
): Promise<T> {
  return storage.exclusive === undefined ? work() : storage.exclusive(name, work);
}

/** Throws unless `name` is 1-128 characters of `A-Z a-z 0-9 . _ -` and `text` (if given) is not too long. */
export function check_document(name: unknown, text?: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME_RE.test(name))
    throw new TypeError(
      `document name must be 1-128 characters of A-Z a-z 0-9 . _ -, got ${JSON.stringify(name)}`,
    );
  if (text !== undefined && (typeof text !== 'string' || text.length > DOCUMENT_CHARS_MAX))
    throw new RangeError(`a document must be a string of at most ${DOCUMENT_CHARS_MAX} characters`);
}

/** Documents in memory (tests, or a browser tab that keeps nothing). */
export class MemoryStorage implements ChannelStorage {
  readonly #docs = new Map<string, string>();
  async get(name: string): Promise<string | null> {
    check_document(name);
    return this.#docs.get(name) ?? null;
  }
  async set(name: string, text: string): Promise<void> {
    check_document(name, text);
    this.#docs.set(name, text);
  }
  async remove(name: string): Promise<void> {
    check_document(name);
    this.#docs.delete(name);
  }
}

/** A sealed document could not be opened: another key sealed it, or it was changed. */
export class SealedDocumentError extends Error {
  override name = 'SealedDocumentError';
}

const SEALED_PREFIX = 'sealed1:';

/**
 * A view of `inner` that seals every document with AES-256-GCM under `key` (32 bytes), the
 * document's name as associated data (so documents cannot be swapped), a fresh 12-byte IV each
 * write: stored text is `sealed1:` + base64(IV ‖ ciphertext ‖ tag). Reading a document another key
 * sealed, or one changed on disk, throws {@link SealedDocumentError}.
 */
export function sealed_storage(
  inner: ChannelStorage,
  key: Uint8Array,
  random: (bytes: number) => Uint8Array = web_random,
): ChannelStorage {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new TypeError('key must be 32 bytes');
  const k = Uint8Array.from(key);
  return {
    async get(name) {
      const text = await inner.get(name);
      if (text === null) return null;
      if (!text.startsWith(SEALED_PREFIX)) throw new SealedDocumentError(`${name} is not a sealed document`);
      let bytes: Uint8Array;
      try {
        bytes = from_base64(text.slice(SEALED_PREFIX.length));
      } catch {
        throw new SealedDocumentError(`${name} is not a sealed document`);
      }
      if (bytes.length < 12 + 16) throw new SealedDocumentError(`${name} is not a sealed document`);
      try {
        return from_utf8(gcm(k, bytes.subarray(0, 12), utf8(name)).decrypt(bytes.subarray(12)));
      } catch {
        throw new SealedDocumentError(
          `${name} does not open with this key (another key sealed it, or it was changed)`,
        );
      }
    },
    async set(name, text) {
      check_document(name, text);
      const iv = random(12);
      const sealed = gcm(k, iv, utf8(name)).encrypt(utf8(text));
      await inner.set(name, SEALED_PREFIX + to_base64(concat(iv, sealed)));
    },
    remove: (name) => inner.remove(name),
    ...(inner.exclusive === undefined
      ? {}
      : { exclusive: <T>(name: string, work: () => Promise<T>) => inner.exclusive!(name, work) }),
  };
}
