/**
 * NaCl `crypto_box` (docs/channels.md "Envelopes"): X25519 key agreement, HSalsa20 to a 32-byte
 * key (`crypto_box_beforenm`), then XSalsa20-Poly1305 (`crypto_secretbox`) with a 24-byte nonce.
 * The output is byte for byte what tweetnacl's `nacl.box` and libsodium's `crypto_box_easy`
 * give: the 16-byte Poly1305 tag, then the ciphertext. This is what KILT's envelopes carry
 * ("x25519-xsalsa20-poly1305"). Built on `@noble/curves` and `@noble/ciphers` only.
 *
 * One deliberate difference from tweetnacl: a peer public key of small order (which makes the
 * X25519 output all zeros, so anyone could compute the box key) is refused with a
 * {@link SmallOrderKeyError} instead of silently boxing under a public key. Browser-safe.
 * @module
 */

import { hsalsa, xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { assert_bytes, utf8 } from '../../../protocol/bytes.js';

/** Bytes of an X25519 public key. */
export const NACL_BOX_PUBLIC_KEY_BYTES = 32;
/** Bytes of an X25519 secret key. */
export const NACL_BOX_SECRET_KEY_BYTES = 32;
/** Bytes of the key `box_before` derives. */
export const NACL_BOX_SHARED_KEY_BYTES = 32;
/** Bytes of a box nonce (XSalsa20): random nonces are safe at this length. */
export const NACL_BOX_NONCE_BYTES = 24;
/** Bytes a box adds to its message (the Poly1305 tag, first). */
export const NACL_BOX_OVERHEAD_BYTES = 16;

/** The peer's X25519 public key has small order: every shared secret with it is all zeros. */
export class SmallOrderKeyError extends Error {
  override name = 'SmallOrderKeyError';
  constructor() {
    super('the public key has small order: no secret can be agreed with it');
  }
}

/** HSalsa20's constant, `expand 32-byte k`. */
const SIGMA_BYTES = utf8('expand 32-byte k');

/**
 * noble's `hsalsa` takes native-endian word views of the byte strings (it swaps them on
 * big-endian hosts itself); a Uint32Array over a copy of the bytes is exactly that.
 */
function native_words(bytes: Uint8Array): Uint32Array {
  return new Uint32Array(Uint8Array.from(bytes).buffer);
}

/**
 * `crypto_box_beforenm`: HSalsa20(key = X25519(my_secret_key, their_public_key), input = 16 zero
 * bytes). The same key both ways (Alice's secret with Bob's public, Bob's with Alice's).
 * Throws {@link SmallOrderKeyError} for a small-order public key.
 */
export function box_before(their_public_key: Uint8Array, my_secret_key: Uint8Array): Uint8Array {
  assert_bytes(their_public_key, 'their_public_key', NACL_BOX_PUBLIC_KEY_BYTES);
  assert_bytes(my_secret_key, 'my_secret_key', NACL_BOX_SECRET_KEY_BYTES);
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(my_secret_key, their_public_key);
  } catch {
    throw new SmallOrderKeyError();
  }
  const out = new Uint32Array(8);
  hsalsa(native_words(SIGMA_BYTES), native_words(shared), new Uint32Array(4), out);
  shared.fill(0);
  return new Uint8Array(out.buffer);
}

/** `crypto_box_afternm`: XSalsa20-Poly1305 under a {@link box_before} key; tag ‖ ciphertext. */
export function box_after(message: Uint8Array, nonce: Uint8Array, shared_key: Uint8Array): Uint8Array {
  assert_bytes(message, 'message');
  assert_bytes(nonce, 'nonce', NACL_BOX_NONCE_BYTES);
  assert_bytes(shared_key, 'shared_key', NACL_BOX_SHARED_KEY_BYTES);
  return xsalsa20poly1305(shared_key, nonce).encrypt(message);
}

/** `crypto_box_open_afternm`: the message, or null when the box does not open (like tweetnacl). */
export function box_open_after(
  box: Uint8Array,
  nonce: Uint8Array,
  shared_key: Uint8Array,
): Uint8Array | null {
  assert_bytes(box, 'box');
  assert_bytes(nonce, 'nonce', NACL_BOX_NONCE_BYTES);
  assert_bytes(shared_key, 'shared_key', NACL_BOX_SHARED_KEY_BYTES);
  if (box.length < NACL_BOX_OVERHEAD_BYTES) return null;
  try {
    return xsalsa20poly1305(shared_key, nonce).decrypt(box);
  } catch {
    return null;
  }
}

/**
 * `crypto_box` (tweetnacl's `nacl.box(message, nonce, theirPublicKey, mySecretKey)`): the
 * 16-byte tag, then the ciphertext. The nonce must never repeat for the same pair of keys; 24
 * random bytes are fine.
 */
export function box(
  message: Uint8Array,
  nonce: Uint8Array,
  their_public_key: Uint8Array,
  my_secret_key: Uint8Array,
): Uint8Array {
  assert_bytes(message, 'message');
  assert_bytes(nonce, 'nonce', NACL_BOX_NONCE_BYTES);
  const k = box_before(their_public_key, my_secret_key);
  try {
    return box_after(message, nonce, k);
  } finally {
    k.fill(0);
  }
}

/**
 * `crypto_box_open` (tweetnacl's `nacl.box.open`): the message, or null when the box was not
 * made with this nonce by the holder of the other key for this key, or was changed. Throws
 * {@link SmallOrderKeyError} for a small-order public key.
 */
export function box_open(
  boxed: Uint8Array,
  nonce: Uint8Array,
  their_public_key: Uint8Array,
  my_secret_key: Uint8Array,
): Uint8Array | null {
  assert_bytes(boxed, 'box');
  assert_bytes(nonce, 'nonce', NACL_BOX_NONCE_BYTES);
  const k = box_before(their_public_key, my_secret_key);
  try {
    return box_open_after(boxed, nonce, k);
  } finally {
    k.fill(0);
  }
}

/** The X25519 public key of `secret_key` (tweetnacl's `nacl.box.keyPair.fromSecretKey(sk).publicKey`). */
export function box_public_key(secret_key: Uint8Array): Uint8Array {
  assert_bytes(secret_key, 'secret_key', NACL_BOX_SECRET_KEY_BYTES);
  return x25519.getPublicKey(secret_key);
}
