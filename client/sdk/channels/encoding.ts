/**
 * Unambiguous byte strings for what the channels sign, MAC or bind as associated data
 * (docs/channels.md): a domain string, then each part with its 4-byte big-endian length. Streamr
 * signs a plain concatenation of fields, where moving bytes between neighbouring fields keeps the
 * signature; a length before every part rules that out. Browser-safe.
 * @module
 */

import { concat, u32_be, utf8 } from '../../../protocol/bytes.js';

/** A part: bytes as they are, strings as UTF-8, numbers (safe integers ≥ 0) as 8-byte big-endian. */
export type Part = Uint8Array | string | number;

function part_bytes(part: Part): Uint8Array {
  if (part instanceof Uint8Array) return part;
  if (typeof part === 'string') return utf8(part);
  if (!Number.isSafeInteger(part) || part < 0)
    throw new RangeError('numeric parts must be safe integers ≥ 0');
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(part));
  return out;
}

/** `len(domain) ‖ domain ‖ len(p1) ‖ p1 ‖ …`, every length a 4-byte big-endian count of bytes. */
export function framed(domain: string, ...parts: Part[]): Uint8Array {
  const pieces: Uint8Array[] = [];
  for (const part of [domain, ...parts]) {
    const bytes = part_bytes(part);
    pieces.push(u32_be(bytes.length), bytes);
  }
  return concat(...pieces);
}
