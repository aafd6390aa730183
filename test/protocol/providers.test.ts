/**
 * The `noble` and `native` providers (protocol/providers/) agree byte for byte on every input:
 * property tests over random inputs, plus the edge cases where libraries usually differ (X25519
 * small-order and non-canonical points, high-bit keys; Ed25519 non-canonical encodings, small-order
 * and mixed-order keys, S ≥ L).
 */

import { createPublicKey, verify as node_verify } from 'node:crypto';
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { concat, from_hex, to_hex } from '../../protocol/bytes.js';
import { ed25519_public_key_acceptable } from '../../protocol/ed25519_strict.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { get_provider, PROVIDER_NAMES } from '../../protocol/providers/index.js';
import { native_provider as native } from '../../protocol/providers/native.js';
import { noble_provider as noble } from '../../protocol/providers/noble.js';
import { fc_options, le32, P25519, PROVIDERS, SMALL_ORDER_U, SMALL_ORDER_U_HIGH_BIT } from './helpers.js';

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const hex = (b: Uint8Array | null) => (b === null ? null : to_hex(b));

/** Both providers' answers to `f`, as comparable values (hex for bytes, class name for errors). */
function both<T>(f: (p: CryptoProvider) => T): [unknown, unknown] {
  const run = (p: CryptoProvider) => {
    try {
      const out = f(p);
      return out instanceof Uint8Array ? to_hex(out) : out;
    } catch (error) {
      return `threw ${(error as Error).constructor.name}`;
    }
  };
  return [run(noble), run(native)];
}

function expect_same<T>(f: (p: CryptoProvider) => T): unknown {
  const [a, b] = both(f);
  expect(b).toEqual(a);
  return a;
}

describe('provider registry', () => {
  test('get_provider and PROVIDER_NAMES', () => {
    expect(PROVIDER_NAMES).toEqual(['noble', 'native']);
    for (const name of PROVIDER_NAMES) expect(get_provider(name).name).toBe(name);
    expect(() => get_provider('openssl' as never)).toThrow(RangeError);
    expect(() => get_provider(1 as never)).toThrow(TypeError);
  });
});

describe('noble and native agree: property tests', () => {
  test('sha256 and hmac_sha256 (keys of any length, also longer than a block)', () => {
    fc.assert(
      fc.property(bytes(200), bytes(300), (key, data) => {
        expect_same((p) => p.sha256(data));
        expect_same((p) => p.hmac_sha256(key, data));
      }),
      fc_options(300),
    );
  });

  test('hkdf, including info longer than node hkdfSync accepts (1024 bytes)', () => {
    fc.assert(
      fc.property(
        bytes(80),
        bytes(80),
        bytes(1100),
        fc.integer({ min: 1, max: 600 }),
        (ikm, salt, info, length) => {
          expect_same((p) => p.hkdf(ikm, salt, info, length));
        },
      ),
      fc_options(150),
    );
    const big = new Uint8Array(2000).fill(5);
    expect_same((p) => p.hkdf(big, big, big, 255 * 32));
  });

  test('x25519: random secrets and random peers (the top bit set half the time)', () => {
    fc.assert(
      fc.property(bytes32, bytes32, (sk, pk) => {
        expect_same((p) => p.x25519_secret(sk).public_key);
        expect_same((p) => p.x25519_secret(sk).shared(pk));
      }),
      fc_options(300),
    );
  });

  test('x25519: key agreement is symmetric', () => {
    fc.assert(
      fc.property(bytes32, bytes32, (a, b) => {
        for (const [, p] of PROVIDERS) {
          const sa = p.x25519_secret(a);
          const sb = p.x25519_secret(b);
          expect(hex(sa.shared(sb.public_key))).toBe(hex(sb.shared(sa.public_key)));
        }
      }),
      fc_options(100),
    );
  });

  test('gcm seal is identical; open round-trips; any corruption gives null in both', () => {
    fc.assert(
      fc.property(
        bytes32,
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        bytes(40),
        bytes(100),
        fc.nat(),
        (key, iv, aad, pt, flip) => {
          const sealed = expect_same((p) => p.gcm_seal(key, iv, aad, pt)) as string;
          const s = from_hex(sealed);
          expect_same((p) => p.gcm_open(key, iv, aad, s));
          expect(both((p) => p.gcm_open(key, iv, aad, s))[0]).toBe(to_hex(pt));
          const bad = Uint8Array.from(s);
          bad[flip % bad.length]! ^= 1 << (flip % 8);
          expect(both((p) => p.gcm_open(key, iv, aad, bad))).toEqual([null, null]);
          expect(both((p) => p.gcm_open(key, iv, concat(aad, new Uint8Array(1)), s))).toEqual([null, null]);
          expect(both((p) => p.gcm_open(key, iv, aad, s.subarray(0, flip % 16)))).toEqual([null, null]);
        },
      ),
      fc_options(200),
    );
  });

  test('siv seal is identical; open round-trips; any corruption gives null in both', () => {
    fc.assert(
      fc.property(bytes32, bytes(40), bytes(100), fc.nat(), (key, ad, pt, flip) => {
        const s = from_hex(expect_same((p) => p.siv_seal(key, ad, pt)) as string);
        expect(both((p) => p.siv_open(key, ad, s))).toEqual([to_hex(pt), to_hex(pt)]);
        const bad = Uint8Array.from(s);
        bad[flip % bad.length]! ^= 1 << (flip % 8);
        expect(both((p) => p.siv_open(key, ad, bad))).toEqual([null, null]);
      }),
      fc_options(200),
    );
  });

  test('ed25519: public keys and signatures identical, both verify, and agree on random forgeries', () => {
    fc.assert(
      fc.property(bytes32, bytes(200), bytes(64), fc.nat(), (sk, msg, junk, flip) => {
        const pk = from_hex(expect_same((p) => p.ed25519_public(sk)) as string);
        const sig = from_hex(expect_same((p) => p.ed25519_sign(sk, msg)) as string);
        expect(both((p) => p.ed25519_verify(sig, msg, pk))).toEqual([true, true]);
        const bad = Uint8Array.from(sig);
        bad[flip % 64]! ^= 1 << (flip % 8);
        expect(both((p) => p.ed25519_verify(bad, msg, pk))).toEqual([false, false]);
        const padded = concat(junk, new Uint8Array(64)).subarray(0, 64);
        expect_same((p) => p.ed25519_verify(padded, msg, pk));
        expect_same((p) => p.ed25519_verify(sig, msg, sk)); // a random 32 bytes as the key
      }),
      fc_options(150),
    );
  });
});

describe('x25519 edge cases (RFC 7748 §5, §6.1)', () => {
  const secrets = [new Uint8Array(32), new Uint8Array(32).fill(0xff), from_hex(`${'01'.repeat(31)}80`)];

  test.each([...SMALL_ORDER_U, ...SMALL_ORDER_U_HIGH_BIT])(
    'small-order u = %s gives null in both',
    (_n, u) => {
      for (const sk of secrets) expect(both((p) => p.x25519_secret(sk).shared(u))).toEqual([null, null]);
    },
  );

  test('non-canonical u (p+2 … 2^255−1) is reduced mod p in both', () => {
    const sk = new Uint8Array(32).fill(0x42);
    for (let d = 2n; d <= 18n; d++) {
      const nc = le32(P25519 + d);
      const reduced = le32(d);
      const a = both((p) => p.x25519_secret(sk).shared(nc));
      expect(a[1]).toEqual(a[0]);
      expect(a[0]).toBe(hex(noble.x25519_secret(sk).shared(reduced)));
    }
  });

  test('the top bit of u is ignored (masked) in both', () => {
    const sk = new Uint8Array(32).fill(0x17);
    const u = noble.x25519_secret(new Uint8Array(32).fill(3)).public_key;
    const high = Uint8Array.from(u);
    high[31]! |= 0x80;
    expect(both((p) => p.x25519_secret(sk).shared(high))).toEqual(both((p) => p.x25519_secret(sk).shared(u)));
  });

  test('secret keys are clamped: bits the RFC clears or sets do not matter', () => {
    const sk = new Uint8Array(32).fill(0x55);
    const same = Uint8Array.from(sk);
    same[0] = (same[0]! & 248) | 7;
    same[31] = (same[31]! & 127) | 128;
    for (const [, p] of PROVIDERS) {
      expect(to_hex(p.x25519_secret(same).public_key)).toBe(to_hex(p.x25519_secret(sk).public_key));
    }
  });

  test('argument checks are the same in both', () => {
    expect(both((p) => p.x25519_secret(new Uint8Array(31)))).toEqual([
      'threw RangeError',
      'threw RangeError',
    ]);
    expect(both((p) => p.x25519_secret(new Uint8Array(32)).shared(new Uint8Array(33)))).toEqual([
      'threw RangeError',
      'threw RangeError',
    ]);
    expect(both((p) => p.x25519_secret([] as unknown as Uint8Array))).toEqual([
      'threw TypeError',
      'threw TypeError',
    ]);
  });
});

describe('ed25519 strict verification edge cases (RFC 8032 §5.1.7)', () => {
  const { Point } = ed25519;
  const L = Point.Fn.ORDER;
  const message = new Uint8Array([1, 2, 3]);

  function raw_openssl_verify(sig: Uint8Array, msg: Uint8Array, pk: Uint8Array): boolean {
    try {
      const key = createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pk).toString('base64url') },
        format: 'jwk',
      });
      return node_verify(null, msg, key, sig);
    } catch {
      return false;
    }
  }

  /** A signature by secret scalar `a` under the (possibly tampered) public key encoding `pk`. */
  function sign_raw(a: bigint, pk: Uint8Array, msg: Uint8Array, r: bigint): Uint8Array {
    const big_r = Point.BASE.multiply(r).toBytes();
    const k = Point.Fn.create(bytesToNumberLE(sha512(concat(big_r, pk, msg))));
    return concat(big_r, numberToBytesLE(Point.Fn.create(r + k * a), 32));
  }

  test('the small-order list of ed25519_strict.ts covers @noble/curves ED25519_TORSION_SUBGROUP', () => {
    for (const h of ED25519_TORSION_SUBGROUP) {
      const enc = from_hex(h);
      expect(ed25519_public_key_acceptable(enc)).toBe(false);
      const flipped = Uint8Array.from(enc);
      flipped[31]! ^= 0x80;
      expect(ed25519_public_key_acceptable(flipped)).toBe(false);
    }
    expect(ed25519_public_key_acceptable(noble.ed25519_public(new Uint8Array(32)))).toBe(true);
  });

  test('small-order public keys are rejected by both, though OpenSSL alone would accept', () => {
    // A = identity: [S]B = R + [k]A holds for S = r, R = [r]B, any message.
    const identity = Point.ZERO.toBytes();
    const r = 1234567n;
    const sig = concat(Point.BASE.multiply(r).toBytes(), numberToBytesLE(r, 32));
    expect(raw_openssl_verify(sig, message, identity)).toBe(true);
    expect(both((p) => p.ed25519_verify(sig, message, identity))).toEqual([false, false]);
    for (const h of ED25519_TORSION_SUBGROUP) {
      expect(both((p) => p.ed25519_verify(sig, message, from_hex(h)))).toEqual([false, false]);
    }
  });

  test('mixed-order public keys: both use the cofactorless equation and agree', () => {
    // A' = [a]B + T8. Cofactorless verification holds only when [k]T8 = 0, i.e. 8 | k; noble's own
    // zip215:false verify is cofactored and would accept all of these.
    const a = 0x1234567890abcdefn;
    const pk = Point.BASE.multiply(a)
      .add(Point.fromBytes(from_hex(ED25519_TORSION_SUBGROUP[1]!)))
      .toBytes();
    let accepted = 0;
    let noble_lib_accepted = 0;
    for (let i = 0; i < 96; i++) {
      const msg = new Uint8Array([i, 7]);
      const sig = sign_raw(a, pk, msg, BigInt(1000 + i));
      const [x, y] = both((p) => p.ed25519_verify(sig, msg, pk));
      expect(y).toBe(x);
      expect(raw_openssl_verify(sig, msg, pk)).toBe(x);
      if (x === true) accepted++;
      if (ed25519.verify(sig, msg, pk, { zip215: false })) noble_lib_accepted++;
    }
    expect(noble_lib_accepted).toBe(96);
    expect(accepted).toBeLessThan(96);
  });

  test('S ≥ L (malleated signatures) is rejected by both', () => {
    const sk = new Uint8Array(32).fill(9);
    const pk = noble.ed25519_public(sk);
    const sig = noble.ed25519_sign(sk, message);
    const s = bytesToNumberLE(sig.subarray(32));
    const malleated = concat(sig.subarray(0, 32), numberToBytesLE(s + L, 32));
    expect(both((p) => p.ed25519_verify(malleated, message, pk))).toEqual([false, false]);
    const max_s = concat(sig.subarray(0, 32), numberToBytesLE(2n ** 256n - 1n, 32));
    expect(both((p) => p.ed25519_verify(max_s, message, pk))).toEqual([false, false]);
  });

  test('S = L − 1 and S = 0 are in range (checked by the equation, same answer in both)', () => {
    const a = 99n;
    const pk = Point.BASE.multiply(a).toBytes();
    // Not valid signatures (the equation fails), but S is in range, so the equation decides.
    const r_point = Point.BASE.multiply(5n);
    const sig0 = concat(r_point.toBytes(), new Uint8Array(32));
    expect_same((p) => p.ed25519_verify(sig0, message, pk));
    const sig_max = concat(r_point.toBytes(), numberToBytesLE(L - 1n, 32));
    expect_same((p) => p.ed25519_verify(sig_max, message, pk));
  });

  test('non-canonical encodings of A and R (y ≥ p, or x = 0 with the sign bit) are rejected by both', () => {
    const sk = new Uint8Array(32).fill(11);
    const pk = noble.ed25519_public(sk);
    const sig = noble.ed25519_sign(sk, message);
    for (let d = 0n; d < 19n; d++) {
      for (const sign of [0, 0x80]) {
        const enc = le32(P25519 + d);
        enc[31]! |= sign;
        expect(both((p) => p.ed25519_verify(sig, message, enc))).toEqual([false, false]);
        const bad_r = concat(enc, sig.subarray(32));
        expect(both((p) => p.ed25519_verify(bad_r, message, pk))).toEqual([false, false]);
      }
    }
    const neg_zero_identity = from_hex(`01${'00'.repeat(30)}80`);
    expect(both((p) => p.ed25519_verify(sig, message, neg_zero_identity))).toEqual([false, false]);
  });

  test('never throws on wrong types or lengths: false', () => {
    const cases: [unknown, unknown, unknown][] = [
      [new Uint8Array(63), message, new Uint8Array(32)],
      [new Uint8Array(64), message, new Uint8Array(31)],
      ['sig', message, new Uint8Array(32)],
      [new Uint8Array(64), 'msg', new Uint8Array(32)],
      [null, null, null],
    ];
    for (const [s, m, k] of cases) {
      expect(both((p) => p.ed25519_verify(s as Uint8Array, m as Uint8Array, k as Uint8Array))).toEqual([
        false,
        false,
      ]);
    }
  });
});

describe('argument checks are identical in both providers', () => {
  test.each<[string, (p: CryptoProvider) => unknown]>([
    ['sha256(non-bytes)', (p) => p.sha256('x' as never)],
    ['hkdf length 0', (p) => p.hkdf(new Uint8Array(1), new Uint8Array(1), new Uint8Array(), 0)],
    ['hkdf length 8161', (p) => p.hkdf(new Uint8Array(1), new Uint8Array(1), new Uint8Array(), 8161)],
    ['hkdf length 1.5', (p) => p.hkdf(new Uint8Array(1), new Uint8Array(1), new Uint8Array(), 1.5)],
    [
      'gcm key 16 bytes',
      (p) => p.gcm_seal(new Uint8Array(16), new Uint8Array(12), new Uint8Array(), new Uint8Array()),
    ],
    [
      'gcm iv 16 bytes',
      (p) => p.gcm_seal(new Uint8Array(32), new Uint8Array(16), new Uint8Array(), new Uint8Array()),
    ],
    [
      'gcm_open short',
      (p) => p.gcm_open(new Uint8Array(32), new Uint8Array(12), new Uint8Array(), new Uint8Array(15)),
    ],
    ['siv key 64 bytes', (p) => p.siv_seal(new Uint8Array(64), new Uint8Array(), new Uint8Array())],
    ['siv_open short', (p) => p.siv_open(new Uint8Array(32), new Uint8Array(), new Uint8Array(15))],
    ['ed25519 sk 64 bytes', (p) => p.ed25519_sign(new Uint8Array(64), new Uint8Array())],
  ])('%s', (_name, f) => {
    const [a, b] = both(f);
    expect(b).toEqual(a);
  });
});
