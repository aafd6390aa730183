/**
 * The one small interface every cryptographic primitive of protocol.md §1 is reached through.
 * Two implementations exist: `noble` (pure `@noble/*`, browser-safe, used by the client SDK) and
 * `native` (`node:crypto`, used by enclaves and benchmarks where speed matters). Property tests
 * show they agree byte for byte, so a network may mix them.
 *
 * Contract of every method: inputs are checked (TypeError / RangeError on wrong types or lengths);
 * authentication failures return `null` instead of throwing, so callers can map every failure to
 * one identical error (protocol.md §3).
 * @module
 */

/** A prepared X25519 secret key (RFC 7748): cheap repeated agreement with many public keys. */
export interface X25519Secret {
  /** The 32-byte public key `X25519(sk, 9)`. */
  readonly public_key: Uint8Array;
  /**
   * `X25519(sk, pk)` for a 32-byte `pk`. Returns `null` when the result is all zero, i.e. `pk` is
   * a point of small order (RFC 7748 §6.1), which protocol.md §3 requires the enclave to refuse.
   */
  shared(pk: Uint8Array): Uint8Array | null;
}

/** Names of the available providers. */
export type ProviderName = 'noble' | 'native';

/** Cryptographic primitives of protocol.md §1. */
export interface CryptoProvider {
  readonly name: ProviderName;
  /** SHA-256 (FIPS 180-4), protocol.md `H(x)`. */
  sha256(data: Uint8Array): Uint8Array;
  /** HMAC-SHA-256 (RFC 2104). */
  hmac_sha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** HKDF with SHA-256 (RFC 5869), protocol.md `HKDF(ikm, salt, info, L)`. */
  hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** Prepares a 32-byte X25519 secret key (clamped as RFC 7748 §5 says). */
  x25519_secret(sk: Uint8Array): X25519Secret;
  /** AES-256-GCM seal (NIST SP 800-38D): 32-byte key, 12-byte IV, returns `ct ‖ tag(16)`. */
  gcm_seal(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** AES-256-GCM open; `null` if the input is shorter than a tag or does not authenticate. */
  gcm_open(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null;
  /** RFC 5297 AES-SIV seal with a 32-byte key and exactly one associated-data item: `tag(16) ‖ ct`. */
  siv_seal(key: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** RFC 5297 AES-SIV open; `null` if the input is shorter than a tag or does not authenticate. */
  siv_open(key: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array | null;
  /** Ed25519 public key of a 32-byte secret key (RFC 8032 §5.1.5). */
  ed25519_public(sk: Uint8Array): Uint8Array;
  /** Ed25519 signature (RFC 8032 §5.1.6), 64 bytes. */
  ed25519_sign(sk: Uint8Array, message: Uint8Array): Uint8Array;
  /**
   * Strict RFC 8032 §5.1.7 verification (canonical S and encodings; no ZIP-215 leniency), so
   * every provider accepts exactly the same signatures. Never throws on bad input: returns false.
   */
  ed25519_verify(signature: Uint8Array, message: Uint8Array, public_key: Uint8Array): boolean;
}
