/**
 * The table-driven hex and base64 decoders (protocol/bytes.ts) accept and reject exactly what the
 * protocol's regular-expression definitions do (protocol.md §1: lowercase hex of even length;
 * standard padded base64 with zero trailing bits), on random and edge-case strings.
 * Seeded: the seed is printed; replay with FC_SEED.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { from_base64, from_hex, is_base64, to_base64, to_hex } from '../../protocol/bytes.js';

const SEED = Number(process.env['FC_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
console.log(`bytes_fast.test: FC_SEED=${SEED}`);

/** The definitions the decoders replaced, kept here as the reference. */
const HEX_RE = /^(?:[0-9a-f]{2})*$/;
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function reference_base64_ok(text: string): boolean {
  if (!B64_RE.test(text)) return false;
  // Canonical: decoding and encoding again gives the same text (no non-zero trailing bits).
  const bin = Buffer.from(text, 'base64');
  return bin.toString('base64') === text;
}

function accepts(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    return false;
  }
}

const B64_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \né';
const HEX_CHARS = '0123456789abcdefABCDEFg \u0660';

describe('table-driven decoders match their regular-expression definitions', () => {
  it('from_hex accepts exactly lowercase hex of even length, and round-trips', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...HEX_CHARS), maxLength: 40 }), (text) => {
        expect(accepts(() => from_hex(text))).toBe(HEX_RE.test(text));
        if (HEX_RE.test(text)) expect(to_hex(from_hex(text))).toBe(text);
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('from_base64 and is_base64 accept exactly canonical padded base64, and round-trip', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...B64_CHARS), maxLength: 16 }), (text) => {
        const ok = reference_base64_ok(text);
        expect(is_base64(text)).toBe(ok);
        expect(accepts(() => from_base64(text))).toBe(ok);
        if (ok) expect(to_base64(from_base64(text))).toBe(text);
      }),
      { seed: SEED, numRuns: 5000 },
    );
  });

  it('encodings of random bytes decode back, and one flipped trailing bit is refused', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const b64 = to_base64(bytes);
        expect(is_base64(b64)).toBe(true);
        expect(from_base64(b64)).toEqual(bytes);
        expect(from_hex(to_hex(bytes))).toEqual(bytes);
        if (b64.endsWith('=')) {
          const pad = b64.endsWith('==') ? 2 : 1;
          const i = b64.length - pad - 1;
          const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
          const flipped = `${b64.slice(0, i)}${alphabet[alphabet.indexOf(b64[i]!) ^ 1]}${b64.slice(i + 1)}`;
          expect(is_base64(flipped)).toBe(false);
          expect(() => from_base64(flipped)).toThrow(TypeError);
        }
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('edge cases', () => {
    for (const bad of ['=', '==', '===', '====', 'A===', 'AA=A', 'AAA', 'AAAAA', ' AAAA', 'AAAA\n', 'AB==']) {
      expect(is_base64(bad)).toBe(false);
      expect(() => from_base64(bad)).toThrow(TypeError);
    }
    expect(from_base64('')).toEqual(new Uint8Array(0));
    expect(is_base64('')).toBe(true);
    expect(from_base64('AA==')).toEqual(Uint8Array.of(0));
    expect(() => from_hex('0')).toThrow(TypeError);
    expect(() => from_hex('0G')).toThrow(TypeError);
    expect(() => from_hex('ab', 2)).toThrow(RangeError);
  });
});
