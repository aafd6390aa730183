/**
 * Published known-answer vectors (test/vectors/rfc*.json, see test/vectors/README.md) checked
 * against both providers: RFC 5869 HKDF, RFC 7748 X25519, RFC 8032 Ed25519, RFC 5297 AES-SIV,
 * RFC 8785 JCS.
 */

import { describe, expect, test } from 'vitest';
import { from_hex, to_hex, utf8 } from '../../protocol/bytes.js';
import { jcs } from '../../protocol/jcs.js';
import { native_aes } from '../../protocol/providers/native.js';
import { noble_aes } from '../../protocol/providers/noble.js';
import { siv_open_with, siv_seal_with } from '../../protocol/siv.js';
import { load_vectors, PROVIDERS } from './helpers.js';

interface HkdfFile {
  vectors: { ikm: string; salt: string; info: string; length: number; prk: string; okm: string }[];
}
interface X25519File {
  scalar_mult: { scalar: string; u: string; output: string }[];
  iterated: { iterations: number; k: string }[];
  diffie_hellman: { alice_sk: string; alice_pk: string; bob_sk: string; bob_pk: string; shared: string };
}
interface Ed25519File {
  vectors: { name: string; secret_key: string; public_key: string; message: string; signature: string }[];
}
interface SivFile {
  vectors: { name: string; key: string; ad: string[]; plaintext: string; output: string }[];
}
interface JcsFile {
  documents: { name: string; input: string; output: string; output_utf8_hex?: string }[];
  numbers: { ieee754: string; output: string }[];
  rejected_numbers: string[];
}

const hkdf = load_vectors<HkdfFile>('rfc5869_hkdf.json');
const x25519 = load_vectors<X25519File>('rfc7748_x25519.json');
const ed25519 = load_vectors<Ed25519File>('rfc8032_ed25519.json');
const siv = load_vectors<SivFile>('rfc5297_siv.json');
const jcs_file = load_vectors<JcsFile>('rfc8785_jcs.json');

function ieee754(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

describe.each(PROVIDERS)('RFC vectors, %s provider', (_name, p) => {
  test('RFC 5869 A.1 HKDF-SHA-256 (and its PRK as HMAC-SHA-256)', () => {
    for (const v of hkdf.vectors) {
      expect(to_hex(p.hkdf(from_hex(v.ikm), from_hex(v.salt), from_hex(v.info), v.length))).toBe(v.okm);
      expect(to_hex(p.hmac_sha256(from_hex(v.salt), from_hex(v.ikm)))).toBe(v.prk);
    }
  });

  test('FIPS 180-4 SHA-256 of "abc" and of the empty string', () => {
    expect(to_hex(p.sha256(utf8('abc')))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(to_hex(p.sha256(new Uint8Array()))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  test('RFC 7748 §5.2 scalar multiplication (vector 2 has the top bit of u set)', () => {
    for (const v of x25519.scalar_mult) {
      const shared = p.x25519_secret(from_hex(v.scalar)).shared(from_hex(v.u));
      expect(shared && to_hex(shared)).toBe(v.output);
    }
  });

  test('RFC 7748 §5.2 iterated X25519, 1 and 1000 iterations', () => {
    let k = from_hex(`09${'00'.repeat(31)}`);
    let u = k;
    let done = 0;
    for (const v of x25519.iterated) {
      for (; done < v.iterations; done++) {
        const next = p.x25519_secret(k).shared(u);
        if (next === null) throw new Error('unexpected small-order result');
        u = k;
        k = next;
      }
      expect(to_hex(k)).toBe(v.k);
    }
  });

  test('RFC 7748 §6.1 Diffie-Hellman', () => {
    const d = x25519.diffie_hellman;
    const alice = p.x25519_secret(from_hex(d.alice_sk));
    const bob = p.x25519_secret(from_hex(d.bob_sk));
    expect(to_hex(alice.public_key)).toBe(d.alice_pk);
    expect(to_hex(bob.public_key)).toBe(d.bob_pk);
    expect(to_hex(alice.shared(from_hex(d.bob_pk))!)).toBe(d.shared);
    expect(to_hex(bob.shared(from_hex(d.alice_pk))!)).toBe(d.shared);
  });

  test.each(ed25519.vectors)('RFC 8032 §7.1 Ed25519 $name', (v) => {
    const sk = from_hex(v.secret_key);
    const message = from_hex(v.message);
    expect(to_hex(p.ed25519_public(sk))).toBe(v.public_key);
    expect(to_hex(p.ed25519_sign(sk, message))).toBe(v.signature);
    expect(p.ed25519_verify(from_hex(v.signature), message, from_hex(v.public_key))).toBe(true);
    const other = Uint8Array.from([...message, 0]);
    expect(p.ed25519_verify(from_hex(v.signature), other, from_hex(v.public_key))).toBe(false);
  });

  test('RFC 5297 A.1 through the provider (one associated-data item)', () => {
    const v = siv.vectors[0]!;
    expect(v.ad).toHaveLength(1);
    const key = from_hex(v.key);
    const ad = from_hex(v.ad[0]!);
    expect(to_hex(p.siv_seal(key, ad, from_hex(v.plaintext)))).toBe(v.output);
    expect(to_hex(p.siv_open(key, ad, from_hex(v.output))!)).toBe(v.plaintext);
  });
});

describe.each([
  ['noble', noble_aes],
  ['native', native_aes],
] as const)('RFC 5297 Appendix A with the %s AES primitive', (_name, aes) => {
  test.each(siv.vectors)('$name', (v) => {
    const key = from_hex(v.key);
    const ad = v.ad.map((a) => from_hex(a));
    expect(to_hex(siv_seal_with(aes, key, ad, from_hex(v.plaintext)))).toBe(v.output);
    expect(to_hex(siv_open_with(aes, key, ad, from_hex(v.output))!)).toBe(v.plaintext);
  });
});

describe('RFC 8785 JCS', () => {
  test.each(jcs_file.documents)('$name', (d) => {
    expect(jcs(JSON.parse(d.input))).toBe(d.output);
    if (d.output_utf8_hex !== undefined)
      expect(to_hex(utf8(jcs(JSON.parse(d.input))))).toBe(d.output_utf8_hex);
  });

  test('Appendix B number serialization', () => {
    for (const n of jcs_file.numbers) expect(jcs(ieee754(n.ieee754))).toBe(n.output);
  });

  test('Appendix B: NaN and infinities are rejected', () => {
    for (const hex of jcs_file.rejected_numbers) expect(() => jcs(ieee754(hex))).toThrow(TypeError);
  });
});
