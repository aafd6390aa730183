/**
 * The byte-level part of strict Ed25519 verification (RFC 8032 §5.1.7) shared by every provider,
 * so that `noble` and `native` accept exactly the same signatures (provider.ts
 * `ed25519_verify`). What each provider does after this check is the cofactorless equation
 * `encode([S]B − [k]A') == R` (RFC 8032 §5.1.7 allows it in place of the cofactored one), which
 * is what OpenSSL computes; with the checks below the two equations can only differ for public
 * keys with a torsion component, and both providers then answer the same because both use the
 * cofactorless form.
 *
 * Rejected here, before any curve arithmetic:
 * - `S ≥ L` (RFC 8032 §5.1.7 step 1, "non-canonical S", malleability);
 * - a public key or `R` whose y coordinate is not below p (RFC 8032 §5.1.3 step 1);
 * - a public key of small order (the eight torsion points, whichever sign bit): RFC 8032 does not
 *   require this, but noble's strict mode and many libraries do, and such a key lets one
 *   signature verify for many messages.
 *
 * Pure and browser-safe.
 * @module
 */

import { ED25519_KEY_BYTES, ED25519_SIGNATURE_BYTES } from './providers/checks.js';

/** Group order L = 2^252 + 27742317777372353535851937790883648493, 32 bytes little-endian. */
const L_LE = hex_le('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');
/** Field prime p = 2^255 − 19, 32 bytes little-endian. */
const P_LE = hex_le('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');

/**
 * y coordinates (little-endian, sign bit cleared) of the eight points of order dividing 8 on
 * edwards25519: y = 1 (identity), y = p − 1 (order 2), y = 0 (order 4) and ±y8 (order 8).
 * test/protocol checks this list against `ED25519_TORSION_SUBGROUP` of @noble/curves.
 */
const SMALL_ORDER_Y = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
].map(hex_le);

function hex_le(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** `a < b` for two little-endian numbers of equal length (public data: variable time is fine). */
function less_than_le(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = a.length - 1; i >= 0; i--) {
    if (a[i]! !== b[i]!) return a[i]! < b[i]!;
  }
  return false;
}

/** The y coordinate of a point encoding: the encoding with its sign bit cleared. */
function y_of(encoding: Uint8Array): Uint8Array {
  const y = Uint8Array.from(encoding);
  y[31]! &= 0x7f;
  return y;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i]! !== b[i]!) return false;
  return true;
}

/**
 * True when `public_key` is a 32-byte point encoding with canonical y (< p) that is not one of
 * the small-order points (RFC 8032 §5.1.3; small order as above). Never throws.
 */
export function ed25519_public_key_acceptable(public_key: unknown): boolean {
  if (!(public_key instanceof Uint8Array) || public_key.length !== ED25519_KEY_BYTES) return false;
  const y = y_of(public_key);
  if (!less_than_le(y, P_LE)) return false;
  return !SMALL_ORDER_Y.some((bad) => same(bad, y));
}

/**
 * The checks every provider runs before its Ed25519 equation (RFC 8032 §5.1.7, strict): types
 * and lengths, `S < L`, canonical `R` and public key, public key not of small order. Returns
 * false instead of throwing.
 */
export function ed25519_strict_precheck(signature: unknown, message: unknown, public_key: unknown): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_BYTES) return false;
  if (!(message instanceof Uint8Array)) return false;
  if (!ed25519_public_key_acceptable(public_key)) return false;
  if (!less_than_le(signature.subarray(32, 64), L_LE)) return false;
  return less_than_le(y_of(signature.subarray(0, 32)), P_LE);
}
