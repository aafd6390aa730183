/**
 * Key URIs (docs/channels.md "The directory"): `cloister:<address>#<key-id>` names one
 * key-agreement key an account published in the directory contract, as KILT's
 * `did:kilt:<did>#<key-id>` names a DID's key. Browser-safe.
 * @module
 */

import { is_address_hex } from '../../../protocol/checks.js';

/** The scheme of a key URI. */
export const KEY_URI_SCHEME = 'cloister:';
/** Key ids: 1-32 characters of `a-z 0-9 _ -`. */
export const KEY_ID_CHARS_MAX = 32;
const KEY_ID_RE = /^[a-z0-9_-]{1,32}$/;

/** A parsed key URI. */
export interface KeyRef {
  /** The account that published the key (40 lowercase hex). */
  address: string;
  /** The key's id within that account. */
  key_id: string;
}

/** A key as the directory lists it (`{"keys": {...}}` query of contracts/directory.js). */
export interface DirectoryKey extends KeyRef {
  /** `cloister:<address>#<key_id>`. */
  uri: string;
  /** X25519 public key, 32 bytes. */
  public_key: Uint8Array;
  /** Height of the block that published it. */
  published_height: number;
  /** Height from which it is revoked, or null. */
  revoked_height: number | null;
}

/** Resolves key URIs to public keys: the directory client, or a fake in tests. */
export interface KeyResolver {
  /**
   * The key `uri` names, if it is published and not revoked (at the latest height, or at
   * `at_height`). Throws TypeError for a malformed URI, UnknownKeyError, RevokedKeyError.
   */
  resolve(uri: string, opts?: { at_height?: number }): Promise<DirectoryKey>;
}

/** Whether `key_id` is a valid key id. */
export function is_key_id(key_id: unknown): key_id is string {
  return typeof key_id === 'string' && KEY_ID_RE.test(key_id);
}

/** Throws a TypeError unless `key_id` is 1-32 characters of `a-z 0-9 _ -`. */
export function check_key_id(key_id: unknown, what = 'key id'): asserts key_id is string {
  if (!is_key_id(key_id))
    throw new TypeError(
      `${what} must be 1-${KEY_ID_CHARS_MAX} characters of a-z 0-9 _ -, got ${JSON.stringify(key_id)}`,
    );
}

/** `cloister:<address>#<key_id>`. TypeError on a bad address or key id. */
export function key_uri(address: string, key_id: string): string {
  if (!is_address_hex(address)) throw new TypeError('address must be 40 lowercase hex characters');
  check_key_id(key_id);
  return `${KEY_URI_SCHEME}${address}#${key_id}`;
}

/** Parses `cloister:<address>#<key_id>`; TypeError naming what is wrong. */
export function parse_key_uri(uri: unknown): KeyRef {
  if (typeof uri !== 'string' || uri.length > 128)
    throw new TypeError('a key URI must be a string of at most 128 characters');
  if (!uri.startsWith(KEY_URI_SCHEME))
    throw new TypeError(
      `key URI ${JSON.stringify(uri)} must start with ${KEY_URI_SCHEME} (cloister:<address>#<key-id>)`,
    );
  const rest = uri.slice(KEY_URI_SCHEME.length);
  const hash = rest.indexOf('#');
  if (hash < 0) throw new TypeError(`key URI ${JSON.stringify(uri)} has no #<key-id>`);
  const address = rest.slice(0, hash);
  const key_id = rest.slice(hash + 1);
  if (!is_address_hex(address))
    throw new TypeError(`key URI ${JSON.stringify(uri)}: the address must be 40 lowercase hex characters`);
  check_key_id(key_id, `key URI ${JSON.stringify(uri)}: the key id`);
  return { address, key_id };
}
