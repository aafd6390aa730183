/**
 * An account's key-agreement keys (docs/channels.md "Key-agreement keys"): X25519 keys of their
 * own, apart from the envelope key of protocol.md §3, derived from the account's secret key and a
 * key id, so rotating to a new id gives an independent key and the key file needs no new field:
 *
 *   sk(key_id) = HKDF-SHA256(ikm = account_sk, salt = utf8("cloister/key-agreement/v1"), info = utf8(key_id), 32)
 *
 * Browser-safe.
 * @module
 */

import { utf8 } from '../../../protocol/bytes.js';
import { noble_provider as p } from '../../../protocol/providers/noble.js';
import type { ClientKey } from '../keys.js';
import { check_key_id } from './key_uri.js';

/** HKDF salt of key-agreement keys. */
export const KX_KEY_SALT = 'cloister/key-agreement/v1';
/** The key id `directory publish` uses when none is given. */
export const KX_KEY_ID_DEFAULT = 'kx1';

/** An X25519 key pair for key agreement. */
export interface KxKeyPair {
  key_id: string;
  secret_key: Uint8Array;
  public_key: Uint8Array;
}

/** The key-agreement key pair of `key` with id `key_id`. TypeError on a bad key id. */
export function kx_key_pair(key: ClientKey, key_id: string): KxKeyPair {
  check_key_id(key_id);
  const secret_key = p.hkdf(key.account_sk, utf8(KX_KEY_SALT), utf8(key_id), 32);
  return { key_id, secret_key, public_key: p.x25519_secret(secret_key).public_key };
}

/** X25519(secret, public), or null for a public key of small order (an all-zero shared secret). */
export function x25519_shared(secret_key: Uint8Array, public_key: Uint8Array): Uint8Array | null {
  return p.x25519_secret(secret_key).shared(public_key);
}

/**
 * A secret derived from the account key for one purpose (a viewing key, a local store's key):
 * `HKDF-SHA256(account_sk, utf8("cloister/derived/v1"), utf8(purpose), length)`.
 */
export function derived_secret(key: ClientKey, purpose: string, length = 32): Uint8Array {
  if (typeof purpose !== 'string' || purpose.length === 0)
    throw new TypeError('purpose must be a non-empty string');
  return p.hkdf(key.account_sk, utf8('cloister/derived/v1'), utf8(purpose), length);
}
