/** Network keys (protocol.md §2, protocol/keys.ts) and seed sharing (§8, protocol/seed_share.ts). */

import { describe, expect, test } from 'vitest';
import { to_hex, utf8 } from '../../protocol/bytes.js';
import { derive_key, derive_network_keys, iv, KEY_LABELS, type KeyLabel, SALT } from '../../protocol/keys.js';
import { open_seed_share, SEED_SHARE_BYTES, seal_seed_share } from '../../protocol/seed_share.js';
import { PROVIDERS, SMALL_ORDER_U } from './helpers.js';

const SEED = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);

describe.each(PROVIDERS)('keys, %s provider', (_name, p) => {
  test('derive_key is HKDF(seed, SALT, utf8("cloister/" + label), 32); keys differ per label', () => {
    const seen = new Set<string>();
    for (const label of KEY_LABELS) {
      const k = derive_key(p, SEED, label);
      expect(to_hex(k)).toBe(to_hex(p.hkdf(SEED, SALT, utf8(`cloister/${label}`), 32)));
      seen.add(to_hex(k));
    }
    expect(seen.size).toBe(5);
  });

  test('derive_network_keys', () => {
    const k = derive_network_keys(p, SEED);
    expect(to_hex(k.io_sk)).toBe(to_hex(derive_key(p, SEED, 'io')));
    expect(to_hex(k.io_pk)).toBe(to_hex(p.x25519_secret(k.io_sk).public_key));
    expect(to_hex(k.seed_exchange_sk)).toBe(to_hex(derive_key(p, SEED, 'seed-exchange')));
    expect(to_hex(k.seed_exchange_pk)).toBe(to_hex(p.x25519_secret(k.seed_exchange_sk).public_key));
    expect(to_hex(k.state)).toBe(to_hex(derive_key(p, SEED, 'state')));
    expect(to_hex(k.callback)).toBe(to_hex(derive_key(p, SEED, 'callback')));
    expect(to_hex(k.random)).toBe(to_hex(derive_key(p, SEED, 'random')));
  });

  test('argument checks', () => {
    expect(() => derive_key(p, new Uint8Array(31), 'io')).toThrow(RangeError);
    expect(() => derive_key(p, SEED, 'IO' as KeyLabel)).toThrow(RangeError);
    expect(() => derive_key(p, SEED, 1 as unknown as KeyLabel)).toThrow(TypeError);
  });
});

describe('IV(i) and SALT', () => {
  test('IV(i) = 8 zero bytes ‖ u32_be(i)', () => {
    expect(to_hex(iv(0))).toBe('000000000000000000000000');
    expect(to_hex(iv(1))).toBe('000000000000000000000001');
    expect(to_hex(iv(0xfffffffe))).toBe('0000000000000000fffffffe');
    expect(() => iv(-1)).toThrow(RangeError);
    expect(() => iv(2 ** 32)).toThrow(RangeError);
    expect(() => iv(0.5)).toThrow(RangeError);
    expect(() => iv('1' as unknown as number)).toThrow(TypeError);
  });

  test('SALT', () => {
    expect(to_hex(SALT)).toBe('000000000000000000024bead8df69990852c202db0e0097c1a12ea637d7e96d');
  });
});

describe.each(PROVIDERS)('seed share, %s provider', (_name, p) => {
  const keys = derive_network_keys(p, SEED);
  const exchange = p.x25519_secret(keys.seed_exchange_sk);
  const reg = p.x25519_secret(new Uint8Array(32).fill(0x77));

  test('a validator seals, the new node opens; every validator gets the same bytes', () => {
    const share = seal_seed_share(p, exchange, reg.public_key, SEED)!;
    expect(share).toHaveLength(SEED_SHARE_BYTES);
    for (const [, q] of PROVIDERS) {
      const again = seal_seed_share(q, q.x25519_secret(keys.seed_exchange_sk), reg.public_key, SEED)!;
      expect(to_hex(again)).toBe(to_hex(share));
    }
    expect(to_hex(open_seed_share(p, reg, keys.seed_exchange_pk, share)!)).toBe(to_hex(SEED));
  });

  test('wrong key, wrong node, tampering or wrong length give null', () => {
    const share = seal_seed_share(p, exchange, reg.public_key, SEED)!;
    const other = p.x25519_secret(new Uint8Array(32).fill(0x78));
    expect(open_seed_share(p, other, keys.seed_exchange_pk, share)).toBeNull();
    expect(open_seed_share(p, reg, keys.io_pk, share)).toBeNull();
    for (let i = 0; i < share.length; i++) {
      const bad = Uint8Array.from(share);
      bad[i]! ^= 1;
      expect(open_seed_share(p, reg, keys.seed_exchange_pk, bad)).toBeNull();
    }
    expect(open_seed_share(p, reg, keys.seed_exchange_pk, share.subarray(0, 47))).toBeNull();
    expect(open_seed_share(p, reg, keys.seed_exchange_pk, new Uint8Array(49))).toBeNull();
  });

  test('small-order keys give null', () => {
    for (const [, u] of SMALL_ORDER_U) {
      expect(seal_seed_share(p, exchange, u, SEED)).toBeNull();
      expect(open_seed_share(p, reg, u, new Uint8Array(SEED_SHARE_BYTES))).toBeNull();
    }
  });

  test('argument checks', () => {
    expect(() => seal_seed_share(p, exchange, reg.public_key, new Uint8Array(16))).toThrow(RangeError);
    expect(() => seal_seed_share(p, {} as never, reg.public_key, SEED)).toThrow(TypeError);
    expect(() => open_seed_share(p, reg, new Uint8Array(31), new Uint8Array(48))).toThrow(RangeError);
  });
});
