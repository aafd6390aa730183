/**
 * Argument checks shared by every provider, so that `noble` and `native` reject exactly the same
 * inputs with the same TypeError / RangeError (provider.ts: "inputs are checked").
 * @module
 */

import { assert_bytes } from '../bytes.js';

/** SHA-256 output length in bytes (FIPS 180-4). */
export const SHA256_BYTES = 32;
/** Largest HKDF-SHA-256 output, 255 · HashLen bytes (RFC 5869 §2.3). */
export const HKDF_SHA256_OUTPUT_BYTES_MAX = 255 * SHA256_BYTES;
/** AES-256-GCM key length in bytes (protocol.md §1 `GCM`). */
export const GCM_KEY_BYTES = 32;
/** AES-256-GCM IV length in bytes (protocol.md §1 `GCM`, NIST SP 800-38D §8.2.1). */
export const GCM_IV_BYTES = 12;
/** AES-256-GCM tag length in bytes (protocol.md §1 `GCM`). */
export const GCM_TAG_BYTES = 16;
/** X25519 key length in bytes (RFC 7748 §5). */
export const X25519_KEY_BYTES = 32;
/** Ed25519 secret and public key length in bytes (RFC 8032 §5.1.5). */
export const ED25519_KEY_BYTES = 32;
/** Ed25519 signature length in bytes (RFC 8032 §5.1.6). */
export const ED25519_SIGNATURE_BYTES = 64;

/** Checks HKDF arguments (RFC 5869 §2.3: 1 ≤ L ≤ 255 · HashLen). */
export function check_hkdf_args(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): void {
  assert_bytes(ikm, 'ikm');
  assert_bytes(salt, 'salt');
  assert_bytes(info, 'info');
  if (typeof length !== 'number') throw new TypeError('length must be a number');
  if (!Number.isInteger(length) || length < 1 || length > HKDF_SHA256_OUTPUT_BYTES_MAX) {
    throw new RangeError(`HKDF length must be an integer from 1 to ${HKDF_SHA256_OUTPUT_BYTES_MAX}`);
  }
}

/** Checks AES-256-GCM arguments (protocol.md §1 `GCM(key, iv, aad, pt)`). */
export function check_gcm_args(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, data: Uint8Array): void {
  assert_bytes(key, 'key', GCM_KEY_BYTES);
  assert_bytes(iv, 'iv', GCM_IV_BYTES);
  assert_bytes(aad, 'aad');
  assert_bytes(data, 'data');
}

/** Checks that `value` is a 32-byte X25519 key (RFC 7748 §5). */
export function check_x25519_key(value: Uint8Array, name: string): void {
  assert_bytes(value, name, X25519_KEY_BYTES);
}

/** Checks that `value` is a 32-byte Ed25519 secret key (RFC 8032 §5.1.5). */
export function check_ed25519_secret(value: Uint8Array): void {
  assert_bytes(value, 'sk', ED25519_KEY_BYTES);
}

/** True when every byte of `bytes` is zero, in time independent of the contents. */
export function is_all_zero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}
