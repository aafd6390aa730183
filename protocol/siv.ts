/**
 * RFC 5297 AES-SIV (protocol.md §1 `SIV(key, ad, pt)`), written once over a small AES-128 block
 * primitive so that the `noble` and `native` providers share every line of the mode itself and
 * differ only in how a block is enciphered.
 *
 * Layout: a 32-byte key is split into `K1 = key[0..16]` (S2V / CMAC) and `K2 = key[16..32]` (CTR)
 * (RFC 5297 §2.6); the output is `V(16) ‖ C` (§2.6). Pure and browser-safe.
 * @module
 */

import { assert_bytes, concat, equal_bytes } from './bytes.js';

/** AES block size and SIV tag length in bytes (RFC 5297 §2.6). */
export const SIV_TAG_BYTES = 16;
/** Bytes of an AES-SIV key as protocol.md §1 uses it: two AES-128 halves. */
export const SIV_KEY_BYTES = 32;
/**
 * Most associated-data items S2V accepts besides the plaintext (RFC 5297 §2.4 / §7: at most 126
 * items, so that with the plaintext no more than 127 strings enter S2V).
 */
export const SIV_AD_ITEMS_MAX = 126;

const BLOCK = 16;
const ZERO_BLOCK = new Uint8Array(BLOCK);
const ONE_BLOCK = Uint8Array.from([...new Uint8Array(BLOCK - 1), 1]);

/**
 * The AES-128 operations AES-SIV needs (FIPS 197, NIST SP 800-38A). Implementations check
 * nothing beyond what is stated: callers in this module always pass 16-byte keys and IVs.
 */
export interface AesBlockPrimitive {
  /** AES-128 encryption of one 16-byte block. */
  encrypt_block(key: Uint8Array, block: Uint8Array): Uint8Array;
  /**
   * The last block of AES-128-CBC encryption of `data` under an all-zero IV, without padding
   * (`data.length` is a positive multiple of 16): the CBC-MAC that CMAC (RFC 4493) finishes.
   */
  cbc_mac(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** AES-128-CTR (SP 800-38A §6.5) with a 128-bit big-endian counter starting at `iv`. */
  ctr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array;
}

/** `dbl(S)` of RFC 5297 §2.3: multiplication by x in GF(2^128), a new block. */
export function dbl(block: Uint8Array): Uint8Array {
  assert_bytes(block, 'block', BLOCK);
  const out = new Uint8Array(BLOCK);
  for (let i = 0; i < BLOCK - 1; i++) out[i] = ((block[i]! << 1) | (block[i + 1]! >>> 7)) & 0xff;
  // Constant time: 0x87 when the top bit was set, 0 otherwise.
  out[BLOCK - 1] = ((block[BLOCK - 1]! << 1) & 0xff) ^ (0x87 & -(block[0]! >>> 7));
  return out;
}

function xor_into(target: Uint8Array, offset: number, block: Uint8Array): void {
  for (let i = 0; i < block.length; i++) target[offset + i]! ^= block[i]!;
}

/** CMAC subkeys K1 = dbl(L), K2 = dbl(K1) with L = AES(K, 0^128) (RFC 4493 §2.3). */
function cmac_subkeys(aes: AesBlockPrimitive, key: Uint8Array): [Uint8Array, Uint8Array] {
  const k1 = dbl(aes.encrypt_block(key, ZERO_BLOCK));
  return [k1, dbl(k1)];
}

function cmac_with(
  aes: AesBlockPrimitive,
  key: Uint8Array,
  [k1, k2]: [Uint8Array, Uint8Array],
  message: Uint8Array,
): Uint8Array {
  const blocks = Math.max(1, Math.ceil(message.length / BLOCK));
  const complete = message.length > 0 && message.length % BLOCK === 0;
  const buffer = new Uint8Array(blocks * BLOCK);
  buffer.set(message);
  const last = (blocks - 1) * BLOCK;
  if (complete) {
    xor_into(buffer, last, k1);
  } else {
    buffer[message.length] = 0x80; // padding 10^i (RFC 4493 §2.4 step 4)
    xor_into(buffer, last, k2);
  }
  return aes.cbc_mac(key, buffer);
}

/** AES-CMAC (RFC 4493 §2.4) with a 16-byte key over any number of bytes. */
export function cmac(aes: AesBlockPrimitive, key: Uint8Array, message: Uint8Array): Uint8Array {
  assert_bytes(key, 'key', BLOCK);
  assert_bytes(message, 'message');
  return cmac_with(aes, key, cmac_subkeys(aes, key), message);
}

/**
 * S2V of RFC 5297 §2.4 over the strings `items` (associated data items, then the plaintext).
 * With zero items it is `CMAC(K, <one>)`; note that one empty item is not zero items.
 */
export function s2v(aes: AesBlockPrimitive, key: Uint8Array, items: readonly Uint8Array[]): Uint8Array {
  assert_bytes(key, 'key', BLOCK);
  if (!Array.isArray(items)) throw new TypeError('items must be an array');
  if (items.length > SIV_AD_ITEMS_MAX + 1)
    throw new RangeError(`S2V takes at most ${SIV_AD_ITEMS_MAX + 1} items`);
  for (const item of items) assert_bytes(item, 'S2V item');
  const subkeys = cmac_subkeys(aes, key);
  const last = items[items.length - 1];
  if (last === undefined) return cmac_with(aes, key, subkeys, ONE_BLOCK);
  let d = cmac_with(aes, key, subkeys, ZERO_BLOCK);
  for (let i = 0; i < items.length - 1; i++) {
    d = dbl(d);
    xor_into(d, 0, cmac_with(aes, key, subkeys, items[i]!));
  }
  let t: Uint8Array;
  if (last.length >= BLOCK) {
    t = Uint8Array.from(last); // T = Sn xorend D
    xor_into(t, last.length - BLOCK, d);
  } else {
    t = dbl(d); // T = dbl(D) xor pad(Sn)
    xor_into(t, 0, last);
    t[last.length]! ^= 0x80;
  }
  return cmac_with(aes, key, subkeys, t);
}

/** Q = V with the 31st and 63rd bits (from the right) cleared (RFC 5297 §2.6). */
function counter_block(v: Uint8Array): Uint8Array {
  const q = Uint8Array.from(v);
  q[8]! &= 0x7f;
  q[12]! &= 0x7f;
  return q;
}

function check_key(key: Uint8Array): void {
  assert_bytes(key, 'key', SIV_KEY_BYTES);
}

function check_ad(ad: readonly Uint8Array[]): void {
  if (!Array.isArray(ad)) throw new TypeError('ad must be an array of Uint8Array');
  if (ad.length > SIV_AD_ITEMS_MAX) throw new RangeError(`at most ${SIV_AD_ITEMS_MAX} associated-data items`);
  for (const item of ad) assert_bytes(item, 'associated data item');
}

/**
 * RFC 5297 §2.6 SIV-Encrypt with a 32-byte key and any list of associated-data items (the
 * providers' `siv_seal` passes exactly one). Returns `V(16) ‖ C`.
 */
export function siv_seal_with(
  aes: AesBlockPrimitive,
  key: Uint8Array,
  ad: readonly Uint8Array[],
  plaintext: Uint8Array,
): Uint8Array {
  check_key(key);
  check_ad(ad);
  assert_bytes(plaintext, 'plaintext');
  const k1 = key.subarray(0, BLOCK);
  const k2 = key.subarray(BLOCK, 2 * BLOCK);
  const v = s2v(aes, k1, [...ad, plaintext]);
  const c = aes.ctr(k2, counter_block(v), plaintext);
  return concat(v, c);
}

/**
 * RFC 5297 §2.7 SIV-Decrypt. Returns the plaintext, or `null` when `sealed` is shorter than the
 * tag or the recomputed tag differs (compared in constant time); the unauthenticated plaintext is
 * never returned.
 */
export function siv_open_with(
  aes: AesBlockPrimitive,
  key: Uint8Array,
  ad: readonly Uint8Array[],
  sealed: Uint8Array,
): Uint8Array | null {
  check_key(key);
  check_ad(ad);
  assert_bytes(sealed, 'sealed');
  if (sealed.length < SIV_TAG_BYTES) return null;
  const k1 = key.subarray(0, BLOCK);
  const k2 = key.subarray(BLOCK, 2 * BLOCK);
  const v = sealed.subarray(0, SIV_TAG_BYTES);
  const plaintext = aes.ctr(k2, counter_block(v), sealed.subarray(SIV_TAG_BYTES));
  const t = s2v(aes, k1, [...ad, plaintext]);
  if (!equal_bytes(t, v)) {
    plaintext.fill(0);
    return null;
  }
  return plaintext;
}
