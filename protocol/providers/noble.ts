/**
 * The `noble` {@link CryptoProvider}: every primitive of protocol.md §1 from the audited pure
 * JavaScript `@noble/*` libraries. Browser-safe (no `node:` imports): the client SDK imports this
 * file directly. Gives byte-identical results to the `native` provider (test/protocol shows it).
 * @module
 */

import { cbc, ctr, ecb, gcm } from '@noble/ciphers/aes.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE } from '@noble/curves/utils.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { assert_bytes, concat, equal_bytes } from '../bytes.js';
import { ed25519_strict_precheck } from '../ed25519_strict.js';
import type { CryptoProvider, X25519Secret } from '../provider.js';
import { type AesBlockPrimitive, siv_open_with, siv_seal_with } from '../siv.js';
import {
  check_ed25519_secret,
  check_gcm_args,
  check_hkdf_args,
  check_x25519_key,
  GCM_TAG_BYTES,
  is_all_zero,
} from './checks.js';

const ZERO_IV = new Uint8Array(16);

/** AES-128 block operations (FIPS 197, SP 800-38A) from @noble/ciphers, for protocol/siv.ts. */
export const noble_aes: AesBlockPrimitive = {
  encrypt_block(key, block) {
    return ecb(key, { disablePadding: true }).encrypt(block);
  },
  cbc_mac(key, data) {
    return cbc(key, ZERO_IV, { disablePadding: true }).encrypt(data).slice(-16);
  },
  ctr(key, iv, data) {
    return ctr(key, iv).encrypt(data);
  },
};

/**
 * X25519 (RFC 7748 §5) with @noble/curves, which masks the top bit of the peer's u-coordinate,
 * reduces non-canonical values mod p, and throws (mapped to `null` here) exactly when the peer is
 * a point of small order, i.e. when the result would be all zero (§6.1).
 */
function x25519_secret(sk: Uint8Array): X25519Secret {
  check_x25519_key(sk, 'sk');
  const secret = Uint8Array.from(sk);
  const public_key = x25519.getPublicKey(secret);
  return {
    public_key,
    shared(pk: Uint8Array): Uint8Array | null {
      check_x25519_key(pk, 'pk');
      let out: Uint8Array;
      try {
        out = x25519.getSharedSecret(secret, pk);
      } catch {
        return null;
      }
      return is_all_zero(out) ? null : out;
    },
  };
}

/**
 * Strict Ed25519 verification (RFC 8032 §5.1.7) with the cofactorless equation
 * `encode([S]B − [k]A) == R`, after the shared byte checks of protocol/ed25519_strict.ts (which
 * cover what noble's `zip215: false` mode rejects: S ≥ L, non-canonical encodings, small-order
 * keys). noble's own `verify` uses the cofactored equation, which accepts more signatures under
 * public keys with a torsion component than OpenSSL does; this form gives the same answer as the
 * native provider on every input.
 */
function ed25519_verify(signature: Uint8Array, message: Uint8Array, public_key: Uint8Array): boolean {
  if (!ed25519_strict_precheck(signature, message, public_key)) return false;
  try {
    const { Point } = ed25519;
    const a = Point.fromBytes(public_key, false);
    const r = signature.subarray(0, 32);
    const s = bytesToNumberLE(signature.subarray(32, 64));
    const k = Point.Fn.create(bytesToNumberLE(sha512(concat(r, public_key, message))));
    const check = Point.BASE.multiplyUnsafe(s).subtract(a.multiplyUnsafe(k));
    return equal_bytes(check.toBytes(), r);
  } catch {
    return false;
  }
}

/** The `noble` provider (protocol.md §1 primitives over @noble/hashes, @noble/ciphers, @noble/curves). */
export const noble_provider: CryptoProvider = Object.freeze({
  name: 'noble',

  sha256(data: Uint8Array): Uint8Array {
    assert_bytes(data, 'data');
    return sha256(data);
  },

  hmac_sha256(key: Uint8Array, data: Uint8Array): Uint8Array {
    assert_bytes(key, 'key');
    assert_bytes(data, 'data');
    return hmac(sha256, key, data);
  },

  hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    check_hkdf_args(ikm, salt, info, length);
    return hkdf(sha256, ikm, salt, info, length);
  },

  x25519_secret,

  gcm_seal(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    check_gcm_args(key, iv, aad, plaintext);
    return gcm(key, iv, aad).encrypt(plaintext);
  },

  gcm_open(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    check_gcm_args(key, iv, aad, sealed);
    if (sealed.length < GCM_TAG_BYTES) return null;
    try {
      return gcm(key, iv, aad).decrypt(sealed);
    } catch {
      return null;
    }
  },

  siv_seal(key: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    assert_bytes(ad, 'ad');
    return siv_seal_with(noble_aes, key, [ad], plaintext);
  },

  siv_open(key: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    assert_bytes(ad, 'ad');
    return siv_open_with(noble_aes, key, [ad], sealed);
  },

  ed25519_public(sk: Uint8Array): Uint8Array {
    check_ed25519_secret(sk);
    return ed25519.getPublicKey(sk);
  },

  ed25519_sign(sk: Uint8Array, message: Uint8Array): Uint8Array {
    check_ed25519_secret(sk);
    assert_bytes(message, 'message');
    return ed25519.sign(message, sk);
  },

  ed25519_verify,
});
