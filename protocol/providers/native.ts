/**
 * The `native` {@link CryptoProvider}: every primitive of protocol.md §1 from `node:crypto`
 * (OpenSSL), for enclaves and benchmarks. Byte-identical to the `noble` provider on every input
 * (test/protocol checks it with property tests), including X25519 peers with the top bit set,
 * non-canonical u-coordinates and small-order points, and the strict Ed25519 edge cases.
 *
 * Keys enter OpenSSL as KeyObjects imported from JWK (much faster than DER). Nothing secret is
 * cached globally: a prepared X25519 secret lives only in the handle `x25519_secret` returns,
 * and Ed25519 secret keys are imported per call. Ed25519 public keys are cached (bounded), since
 * validators and busy accounts verify under the same few keys over and over.
 * @module
 */

import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hash,
  hkdfSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { assert_bytes, concat } from '../bytes.js';
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
  SHA256_BYTES,
} from './checks.js';

/** Longest `info` node's `hkdfSync` takes (bytes); longer ones use the HMAC form of RFC 5869. */
const HKDF_SYNC_INFO_BYTES_MAX = 1024;
const ZERO_IV = new Uint8Array(16);

/** A plain Uint8Array copy of a Buffer, so results never alias node's shared Buffer pool. */
function own(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** AES-128 block operations (FIPS 197, SP 800-38A) from OpenSSL, for protocol/siv.ts. */
export const native_aes: AesBlockPrimitive = {
  encrypt_block(key, block) {
    const cipher = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
    return own(Buffer.concat([cipher.update(block), cipher.final()]));
  },
  cbc_mac(key, data) {
    const cipher = createCipheriv('aes-128-cbc', key, ZERO_IV).setAutoPadding(false);
    const out = Buffer.concat([cipher.update(data), cipher.final()]);
    return own(out.subarray(out.length - 16));
  },
  ctr(key, iv, data) {
    // OpenSSL's CTR mode increments the whole 128-bit block big-endian, as RFC 5297 §2.5 needs.
    const cipher = createCipheriv('aes-128-ctr', key, iv);
    return own(Buffer.concat([cipher.update(data), cipher.final()]));
  },
};

/** RFC 5869 §2.2–2.3 with HMAC-SHA-256, for the `info` lengths `hkdfSync` refuses. */
function hkdf_hmac(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const prk = createHmac('sha256', salt).update(ikm).digest();
  const out = new Uint8Array(Math.ceil(length / SHA256_BYTES) * SHA256_BYTES);
  let t: Uint8Array = new Uint8Array(0);
  for (let i = 0; i * SHA256_BYTES < length; i++) {
    t = createHmac('sha256', prk)
      .update(t)
      .update(info)
      .update(Uint8Array.of(i + 1))
      .digest();
    out.set(t, i * SHA256_BYTES);
  }
  return out.slice(0, length);
}

/** X25519 private KeyObject of a raw 32-byte secret (RFC 7748 §5; OpenSSL clamps it). */
/** Ed25519 public KeyObjects kept, by base64url key: public keys may be cached, secrets never. */
const ED25519_PUBLIC_KEYS_CACHED_MAX = 4096;
const ed25519_public_keys = new Map<string, KeyObject>();

/** The KeyObject of a 32-byte Ed25519 public key, imported once while it stays in the cache. */
function ed25519_public_key(public_key: Uint8Array): KeyObject {
  const x = b64url(public_key);
  let key = ed25519_public_keys.get(x);
  if (key === undefined) {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
    // Bounded: past the limit the oldest entry goes (Map order is insertion order).
    if (ed25519_public_keys.size >= ED25519_PUBLIC_KEYS_CACHED_MAX) {
      const oldest = ed25519_public_keys.keys().next();
      if (oldest.done !== true) ed25519_public_keys.delete(oldest.value);
    }
    ed25519_public_keys.set(x, key);
  }
  return key;
}

function x25519_private_key(sk: Uint8Array): KeyObject {
  // For a private JWK node reads only `d`; `x` must be present as a string but is not used.
  return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(sk), x: '' }, format: 'jwk' });
}

/** Raw public key bytes of an OKP KeyObject. */
function okp_public_bytes(key: KeyObject): Uint8Array {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new TypeError('OKP key without x');
  return own(Buffer.from(jwk.x, 'base64url'));
}

/**
 * X25519 (RFC 7748 §5). The peer's u-coordinate has its top bit masked before import (RFC 7748
 * §5: "MUST mask the most significant bit"); OpenSSL 3 masks it too, but masking here keeps the
 * answer independent of the OpenSSL build. OpenSSL reduces non-canonical values mod p, as noble
 * does. Any failure (OpenSSL refuses an all-zero result) and any all-zero output map to `null`
 * (§6.1). test/protocol/providers.test.ts checks all of this against noble.
 */
function x25519_secret(sk: Uint8Array): X25519Secret {
  check_x25519_key(sk, 'sk');
  const private_key = x25519_private_key(sk);
  const public_key = okp_public_bytes(private_key);
  return {
    public_key,
    shared(pk: Uint8Array): Uint8Array | null {
      check_x25519_key(pk, 'pk');
      const u = Uint8Array.from(pk);
      u[31]! &= 0x7f;
      let out: Uint8Array;
      try {
        const peer = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(u) }, format: 'jwk' });
        out = own(diffieHellman({ privateKey: private_key, publicKey: peer }));
      } catch {
        return null;
      }
      return out.length === 32 && !is_all_zero(out) ? out : null;
    },
  };
}

function ed25519_private_key(sk: Uint8Array): KeyObject {
  // As for X25519: node reads only `d` of a private JWK.
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64url(sk), x: '' }, format: 'jwk' });
}

/** The `native` provider (protocol.md §1 primitives over node:crypto / OpenSSL). */
export const native_provider: CryptoProvider = Object.freeze({
  name: 'native',

  sha256(data: Uint8Array): Uint8Array {
    assert_bytes(data, 'data');
    // One-shot: no Hash object per call (a block hashes every transaction, key and value).
    return own(hash('sha256', data, 'buffer'));
  },

  hmac_sha256(key: Uint8Array, data: Uint8Array): Uint8Array {
    assert_bytes(key, 'key');
    assert_bytes(data, 'data');
    return own(createHmac('sha256', key).update(data).digest());
  },

  hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    check_hkdf_args(ikm, salt, info, length);
    if (info.length > HKDF_SYNC_INFO_BYTES_MAX) return hkdf_hmac(ikm, salt, info, length);
    return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
  },

  x25519_secret,

  gcm_seal(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    check_gcm_args(key, iv, aad, plaintext);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_BYTES });
    cipher.setAAD(aad);
    const head = cipher.update(plaintext);
    const tail = cipher.final();
    return concat(head, tail, cipher.getAuthTag());
  },

  gcm_open(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    check_gcm_args(key, iv, aad, sealed);
    if (sealed.length < GCM_TAG_BYTES) return null;
    const split = sealed.length - GCM_TAG_BYTES;
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_BYTES });
    decipher.setAuthTag(sealed.subarray(split));
    decipher.setAAD(aad);
    const head = decipher.update(sealed.subarray(0, split));
    try {
      const tail = decipher.final();
      return concat(head, tail);
    } catch {
      head.fill(0);
      return null;
    }
  },

  siv_seal(key: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    assert_bytes(ad, 'ad');
    return siv_seal_with(native_aes, key, [ad], plaintext);
  },

  siv_open(key: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    assert_bytes(ad, 'ad');
    return siv_open_with(native_aes, key, [ad], sealed);
  },

  ed25519_public(sk: Uint8Array): Uint8Array {
    check_ed25519_secret(sk);
    return okp_public_bytes(ed25519_private_key(sk));
  },

  ed25519_sign(sk: Uint8Array, message: Uint8Array): Uint8Array {
    check_ed25519_secret(sk);
    assert_bytes(message, 'message');
    return own(sign(null, message, ed25519_private_key(sk)));
  },

  /**
   * Strict Ed25519 (RFC 8032 §5.1.7): the shared byte checks of protocol/ed25519_strict.ts, then
   * OpenSSL, which checks the cofactorless equation by re-encoding `[S]B − [k]A` and comparing
   * it with `R`. Never throws.
   */
  ed25519_verify(signature: Uint8Array, message: Uint8Array, public_key: Uint8Array): boolean {
    if (!ed25519_strict_precheck(signature, message, public_key)) return false;
    try {
      return verify(null, message, ed25519_public_key(public_key), signature);
    } catch {
      return false;
    }
  },
});
