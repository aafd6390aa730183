/**
 * Byte and text encodings used on the wire (protocol.md §1): lowercase hex for keys, hashes and
 * signatures; standard padded base64 for envelopes and ciphertexts; UTF-8 for text.
 * Pure and browser-safe: no Node-only APIs.
 * @module
 */

// Lookup tables instead of regular expressions: envelopes and code are tens of kilobytes, and a
// validating regex plus a second decoding pass over them was a visible share of a node's work.
const HEX_LOOKUP = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX_LOOKUP['0123456789abcdef'.charCodeAt(i)] = i;
const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < B64_ALPHABET.length; i++) B64_LOOKUP[B64_ALPHABET.charCodeAt(i)] = i;
const HEX_TABLE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

const encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF: authenticated bytes must decode to exactly one text, and
// the default would silently strip it, so `BOM ‖ x` and `x` would read the same.
const strict_decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Throws TypeError unless `value` is a Uint8Array (of `length` bytes, when given). */
export function assert_bytes(value: unknown, name: string, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (length !== undefined && value.length !== length) {
    throw new RangeError(`${name} must be ${length} bytes, got ${value.length}`);
  }
}

/** Lowercase hex of `bytes` (protocol.md §1: keys, hashes and signatures are lowercase hex). */
export function to_hex(bytes: Uint8Array): string {
  assert_bytes(bytes, 'bytes');
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX_TABLE[bytes[i]!];
  return out;
}

/** Parses lowercase hex; rejects upper case, odd length and non-hex (protocol.md §1). */
export function from_hex(hex: string, length?: number): Uint8Array {
  if (typeof hex !== 'string') throw new TypeError('hex must be a string');
  if (hex.length % 2 !== 0) throw new TypeError('expected lowercase hex of even length');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = HEX_LOOKUP[hex.charCodeAt(2 * i)] ?? -1;
    const lo = HEX_LOOKUP[hex.charCodeAt(2 * i + 1)] ?? -1;
    if (hi < 0 || lo < 0) throw new TypeError('expected lowercase hex of even length');
    out[i] = (hi << 4) | lo;
  }
  if (length !== undefined && out.length !== length) {
    throw new RangeError(`expected ${length} bytes of hex, got ${out.length}`);
  }
  return out;
}

/** Standard base64 with padding (RFC 4648 §4), as protocol.md §1 requires for envelopes. */
export function to_base64(bytes: Uint8Array): string {
  assert_bytes(bytes, 'bytes');
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out +=
      B64_ALPHABET[n >> 18]! +
      B64_ALPHABET[(n >> 12) & 63]! +
      B64_ALPHABET[(n >> 6) & 63]! +
      B64_ALPHABET[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += `${B64_ALPHABET[n >> 18]!}${B64_ALPHABET[(n >> 12) & 63]!}==`;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += `${B64_ALPHABET[n >> 18]!}${B64_ALPHABET[(n >> 12) & 63]!}${B64_ALPHABET[(n >> 6) & 63]!}=`;
  }
  return out;
}

/** Padding characters (0-2) of `text` if it has the form of standard padded base64, else -1. */
function base64_pad(text: string): number {
  if (text.length % 4 !== 0) return -1;
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const end = text.length - pad;
  for (let i = 0; i < end; i++) {
    if ((B64_LOOKUP[text.charCodeAt(i)] ?? -1) < 0) return -1;
  }
  return pad;
}

/**
 * True when `text` is standard padded base64 (RFC 4648 §4) exactly as {@link from_base64}
 * accepts it, checked without decoding.
 */
export function is_base64(text: string): boolean {
  if (typeof text !== 'string') throw new TypeError('base64 must be a string');
  const pad = base64_pad(text);
  if (pad <= 0) return pad === 0;
  // Non-zero trailing bits: the last data character must carry only the bits the bytes use.
  const last = B64_LOOKUP[text.charCodeAt(text.length - pad - 1)]!;
  return (last & (pad === 1 ? 0b11 : 0b1111)) === 0;
}

/**
 * Parses standard padded base64 (RFC 4648 §4). Rejects URL-safe characters, missing padding,
 * white space and non-zero trailing bits, so every byte string has exactly one encoding.
 */
export function from_base64(text: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('base64 must be a string');
  const pad = base64_pad(text);
  if (pad < 0) throw new TypeError('expected standard padded base64');
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const a = B64_LOOKUP[text.charCodeAt(i)]!;
    const b = B64_LOOKUP[text.charCodeAt(i + 1)]!;
    const c = text[i + 2] === '=' ? 0 : B64_LOOKUP[text.charCodeAt(i + 2)]!;
    const d = text[i + 3] === '=' ? 0 : B64_LOOKUP[text.charCodeAt(i + 3)]!;
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    if (o < out.length) out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
    if (i + 4 === text.length && ((pad === 1 && (n & 0xff) !== 0) || (pad === 2 && (n & 0xffff) !== 0))) {
      throw new TypeError('base64 has non-zero trailing bits');
    }
  }
  return out;
}

/** UTF-8 bytes of `text` (protocol.md §1 `utf8(s)`). */
export function utf8(text: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  return encoder.encode(text);
}

/**
 * Decodes UTF-8 (RFC 3629) exactly: TypeError on malformed input instead of substituting U+FFFD,
 * and a leading byte-order mark is kept as U+FEFF, so `utf8(from_utf8(b))` equals `b`.
 */
export function from_utf8(bytes: Uint8Array): string {
  assert_bytes(bytes, 'bytes');
  return strict_decoder.decode(bytes);
}

/** Concatenation `a ‖ b ‖ …`. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) {
    assert_bytes(p, 'part');
    length += p.length;
  }
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Big-endian unsigned 32-bit encoding (protocol.md §1 `IV(i)`). */
export function u32_be(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError('u32 out of range');
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, false);
  return out;
}

/** Big-endian unsigned 64-bit encoding of a safe integer (protocol.md §5 contract address). */
export function u64_be(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError('u64 must be a safe non-negative integer');
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value), false);
  return out;
}

/** Constant-time equality of two byte strings of equal length; false when lengths differ. */
export function equal_bytes(a: Uint8Array, b: Uint8Array): boolean {
  assert_bytes(a, 'a');
  assert_bytes(b, 'b');
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
