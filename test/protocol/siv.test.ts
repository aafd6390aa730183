/**
 * RFC 5297 AES-SIV (protocol/siv.ts) over both AES block primitives: RFC 4493 CMAC vectors, the
 * one-empty-item rule Secret Network relies on, tamper rejection, and agreement with @noble/ciphers'
 * independent `aessiv` on random inputs.
 */

import { aessiv } from '@noble/ciphers/aes.js';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { from_hex, to_hex } from '../../protocol/bytes.js';
import { native_aes } from '../../protocol/providers/native.js';
import { noble_aes } from '../../protocol/providers/noble.js';
import { cmac, dbl, SIV_AD_ITEMS_MAX, s2v, siv_open_with, siv_seal_with } from '../../protocol/siv.js';
import { fc_options, PROVIDERS } from './helpers.js';

const AES = [
  ['noble', noble_aes],
  ['native', native_aes],
] as const;

// RFC 4493 §4 examples (AES-128 key 2b7e1516…).
const CMAC_KEY = from_hex('2b7e151628aed2a6abf7158809cf4f3c');
const CMAC_MSG = from_hex(
  '6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710',
);
const CMAC_VECTORS: [number, string][] = [
  [0, 'bb1d6929e95937287fa37d129b756746'],
  [16, '070a16b46b4d4144f79bdd9dd04a287c'],
  [40, 'dfa66747de9ae63030ca32611497c827'],
  [64, '51f0bebf7e3b9d92fc49741779363cfe'],
];

describe.each(AES)('AES-SIV over the %s AES primitive', (_name, aes) => {
  test.each(CMAC_VECTORS)('RFC 4493 CMAC example, %i bytes', (length, tag) => {
    expect(to_hex(cmac(aes, CMAC_KEY, CMAC_MSG.subarray(0, length)))).toBe(tag);
  });

  test('RFC 4493 §4 subkeys: dbl(AES(K, 0)) and dbl(dbl(AES(K, 0)))', () => {
    const l = aes.encrypt_block(CMAC_KEY, new Uint8Array(16));
    expect(to_hex(l)).toBe('7df76b0c1ab899b33e42f047b91b546f');
    expect(to_hex(dbl(l))).toBe('fbeed618357133667c85e08f7236a8de');
    expect(to_hex(dbl(dbl(l)))).toBe('f7ddac306ae266ccf90bc11ee46d513b');
  });

  test('one empty associated-data item is not the same as none (S2V, RFC 5297 §2.4)', () => {
    const key = new Uint8Array(16).fill(7);
    expect(to_hex(s2v(aes, key, [new Uint8Array(), new Uint8Array(3)]))).not.toBe(
      to_hex(s2v(aes, key, [new Uint8Array(3)])),
    );
  });

  test('rejects short input, any flipped bit and the wrong associated data with null', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    const sealed = siv_seal_with(aes, key, [new Uint8Array()], new Uint8Array(40).fill(1));
    expect(siv_open_with(aes, key, [new Uint8Array()], sealed.subarray(0, 15))).toBeNull();
    for (let i = 0; i < sealed.length; i++) {
      const bad = Uint8Array.from(sealed);
      bad[i]! ^= 0x01;
      expect(siv_open_with(aes, key, [new Uint8Array()], bad)).toBeNull();
    }
    expect(siv_open_with(aes, key, [new Uint8Array(1)], sealed)).toBeNull();
    expect(siv_open_with(aes, key, [], sealed)).toBeNull();
  });

  test('argument checks', () => {
    expect(() => siv_seal_with(aes, new Uint8Array(16), [], new Uint8Array())).toThrow(RangeError);
    expect(() =>
      siv_seal_with(aes, new Uint8Array(32), [[] as unknown as Uint8Array], new Uint8Array()),
    ).toThrow(TypeError);
    const too_many = Array.from({ length: SIV_AD_ITEMS_MAX + 1 }, () => new Uint8Array());
    expect(() => siv_seal_with(aes, new Uint8Array(32), too_many, new Uint8Array())).toThrow(RangeError);
  });

  test('property: equals @noble/ciphers aessiv (independent RFC 5297 code) and round-trips', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(fc.uint8Array({ maxLength: 70 }), { maxLength: 4 }),
        fc.uint8Array({ maxLength: 100 }),
        (key, ad, plaintext) => {
          const sealed = siv_seal_with(aes, key, ad, plaintext);
          expect(to_hex(sealed)).toBe(to_hex(aessiv(key, ...ad).encrypt(plaintext)));
          expect(to_hex(siv_open_with(aes, key, ad, sealed)!)).toBe(to_hex(plaintext));
        },
      ),
      fc_options(150),
    );
  });
});

describe.each(PROVIDERS)('provider siv_seal / siv_open, %s', (_name, p) => {
  test('the provider passes exactly one associated-data item', () => {
    const key = new Uint8Array(32).fill(3);
    const pt = new Uint8Array(20).fill(9);
    expect(to_hex(p.siv_seal(key, new Uint8Array(), pt))).toBe(
      to_hex(aessiv(key, new Uint8Array()).encrypt(pt)),
    );
    expect(to_hex(p.siv_seal(key, new Uint8Array(), pt))).not.toBe(to_hex(aessiv(key).encrypt(pt)));
  });
});
