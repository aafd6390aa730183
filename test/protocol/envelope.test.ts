/**
 * Envelopes (protocol.md §3, protocol/envelope.ts): round trips in both schemes and providers, and
 * every way an envelope can be wrong answered with one identical DecryptError.
 */

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { concat, to_hex, utf8 } from '../../protocol/bytes.js';
import { CANNOT_DECRYPT_MESSAGE } from '../../protocol/codes.js';
import {
  DecryptError,
  derive_tx_key,
  encrypt_message,
  envelope_scheme_overhead_bytes,
  is_canonical_x25519_public_key,
  open_envelope,
  SCHEMES,
  type Scheme,
} from '../../protocol/envelope.js';
import { derive_network_keys, iv } from '../../protocol/keys.js';
import type { CryptoProvider, X25519Secret } from '../../protocol/provider.js';
import { fc_options, le32, P25519, PROVIDERS, SMALL_ORDER_U, SMALL_ORDER_U_HIGH_BIT } from './helpers.js';

const SEED = new Uint8Array(32).fill(0xab);
const CODE_HASH = 'c0de'.repeat(16);
const OTHER_HASH = 'beef'.repeat(16);
const CHAIN = 'cloister-test';
const MSG = '{"echo":{"value":"hi \u2713"}}';

function network(p: CryptoProvider): { io: X25519Secret; pk_io: Uint8Array } {
  const keys = derive_network_keys(p, SEED);
  return { io: p.x25519_secret(keys.io_sk), pk_io: keys.io_pk };
}

function make(p: CryptoProvider, scheme: Scheme, msg_json = MSG) {
  return encrypt_message(p, {
    scheme,
    sk_u: new Uint8Array(32).fill(0x11),
    pk_io: network(p).pk_io,
    nonce: new Uint8Array(32).fill(0x22),
    chain_id: CHAIN,
    code_hash: CODE_HASH,
    msg_json,
  });
}

/** Runs `f` and returns the DecryptError it must throw, checking it is the one identical error. */
function decrypt_error(f: () => unknown): DecryptError {
  let caught: unknown;
  try {
    f();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(DecryptError);
  const e = caught as DecryptError;
  expect(e.message).toBe(CANNOT_DECRYPT_MESSAGE);
  expect(e.code).toBe(3);
  expect(e.name).toBe('DecryptError');
  expect(e.cause).toBeUndefined();
  expect(Object.keys(e).sort()).toEqual(['code', 'name']);
  return e;
}

describe.each(PROVIDERS)('envelopes, %s provider', (_name, p) => {
  const { io } = network(p);

  test.each(SCHEMES)('%s: round trip, layout and tx_key', (scheme) => {
    const { envelope, tx_key } = make(p, scheme);
    const header = scheme === 'gcm' ? 1 : 0;
    expect(envelope.length).toBe(envelope_scheme_overhead_bytes(scheme) + 64 + utf8(MSG).length);
    if (scheme === 'gcm') expect(envelope[0]).toBe(1);
    expect(to_hex(envelope.subarray(header, header + 32))).toBe('22'.repeat(32));
    expect(to_hex(envelope.subarray(header + 32, header + 64))).toBe(
      to_hex(p.x25519_secret(new Uint8Array(32).fill(0x11)).public_key),
    );
    const shared = p.x25519_secret(new Uint8Array(32).fill(0x11)).shared(network(p).pk_io)!;
    expect(to_hex(tx_key)).toBe(to_hex(derive_tx_key(p, shared, new Uint8Array(32).fill(0x22))));
    const opened = open_envelope(p, io, { scheme, envelope, chain_id: CHAIN, code_hash: CODE_HASH });
    expect(opened.msg_json).toBe(MSG);
    expect(to_hex(opened.tx_key)).toBe(to_hex(tx_key));
  });

  test.each(SCHEMES)(
    '%s: every single-byte change, truncation and extension throws the one DecryptError',
    (scheme) => {
      const { envelope } = make(p, scheme);
      const open = (e: Uint8Array) =>
        open_envelope(p, io, { scheme, envelope: e, chain_id: CHAIN, code_hash: CODE_HASH });
      for (let i = 0; i < envelope.length; i++) {
        for (const mask of [0x01, 0x80, 0xff]) {
          const bad = Uint8Array.from(envelope);
          bad[i]! ^= mask;
          decrypt_error(() => open(bad));
        }
      }
      for (let n = 0; n < envelope.length; n++) decrypt_error(() => open(envelope.subarray(0, n)));
      decrypt_error(() => open(concat(envelope, new Uint8Array(1))));
    },
  );

  test.each(SCHEMES)('%s: wrong code hash throws DecryptError', (scheme) => {
    const { envelope } = make(p, scheme);
    decrypt_error(() => open_envelope(p, io, { scheme, envelope, chain_id: CHAIN, code_hash: OTHER_HASH }));
  });

  test('gcm binds the chain id: another chain id throws DecryptError', () => {
    const { envelope } = make(p, 'gcm');
    for (const chain_id of ['', 'cloister-test2', 'Cloister-test']) {
      decrypt_error(() => open_envelope(p, io, { scheme: 'gcm', envelope, chain_id, code_hash: CODE_HASH }));
    }
  });

  test('siv does not bind the chain id (Secret Network compatibility)', () => {
    const { envelope } = make(p, 'siv');
    expect(
      open_envelope(p, io, { scheme: 'siv', envelope, chain_id: 'elsewhere', code_hash: CODE_HASH }).msg_json,
    ).toBe(MSG);
  });

  test('gcm: every unknown version byte throws DecryptError', () => {
    const { envelope } = make(p, 'gcm');
    for (let v = 0; v < 256; v++) {
      if (v === 1) continue;
      const bad = Uint8Array.from(envelope);
      bad[0] = v;
      decrypt_error(() =>
        open_envelope(p, io, { scheme: 'gcm', envelope: bad, chain_id: CHAIN, code_hash: CODE_HASH }),
      );
    }
  });

  test.each(SCHEMES)('%s: a gcm envelope is not a siv one and the other way round', (scheme) => {
    const { envelope } = make(p, scheme);
    const other = scheme === 'gcm' ? 'siv' : 'gcm';
    decrypt_error(() =>
      open_envelope(p, io, { scheme: other, envelope, chain_id: CHAIN, code_hash: CODE_HASH }),
    );
  });

  test.each(SCHEMES)('%s: non-canonical pk_u (top bit set, or u ≥ p) throws DecryptError', (scheme) => {
    const { envelope } = make(p, scheme);
    const at = scheme === 'gcm' ? 33 : 32;
    const high = Uint8Array.from(envelope);
    high[at + 31]! |= 0x80; // X25519 would mask it and give the same shared secret
    decrypt_error(() =>
      open_envelope(p, io, { scheme, envelope: high, chain_id: CHAIN, code_hash: CODE_HASH }),
    );
    for (let d = 0n; d < 19n; d++) {
      const bad = Uint8Array.from(envelope);
      bad.set(le32(P25519 + d), at);
      decrypt_error(() =>
        open_envelope(p, io, { scheme, envelope: bad, chain_id: CHAIN, code_hash: CODE_HASH }),
      );
    }
  });

  test('is_canonical_x25519_public_key', () => {
    expect(is_canonical_x25519_public_key(le32(P25519 - 1n))).toBe(true);
    expect(is_canonical_x25519_public_key(le32(P25519))).toBe(false);
    expect(is_canonical_x25519_public_key(le32(2n ** 255n - 1n))).toBe(false);
    expect(is_canonical_x25519_public_key(le32(2n ** 255n + 9n))).toBe(false);
    expect(is_canonical_x25519_public_key(le32(9n))).toBe(true);
    expect(is_canonical_x25519_public_key(le32(2n ** 254n + 2n ** 248n * 0xedn))).toBe(true);
  });

  test.each(SCHEMES)('%s: small-order pk_u throws DecryptError', (scheme) => {
    const { envelope } = make(p, scheme);
    const at = scheme === 'gcm' ? 33 : 32;
    for (const [, u] of [...SMALL_ORDER_U, ...SMALL_ORDER_U_HIGH_BIT]) {
      const bad = Uint8Array.from(envelope);
      bad.set(u, at);
      decrypt_error(() =>
        open_envelope(p, io, { scheme, envelope: bad, chain_id: CHAIN, code_hash: CODE_HASH }),
      );
    }
  });

  test.each(SCHEMES)(
    '%s: authentic plaintexts that are not UTF-8, too short or with a wrong prefix',
    (scheme) => {
      // Build envelopes by hand, authenticated under the right key, with bad plaintexts.
      const sk_u = new Uint8Array(32).fill(0x33);
      const user = p.x25519_secret(sk_u);
      const nonce = new Uint8Array(32).fill(0x44);
      const tx_key = derive_tx_key(p, user.shared(network(p).pk_io)!, nonce);
      const seal = (pt: Uint8Array) =>
        scheme === 'gcm'
          ? concat(Uint8Array.of(1), nonce, user.public_key, p.gcm_seal(tx_key, iv(0), utf8(CHAIN), pt))
          : concat(nonce, user.public_key, p.siv_seal(tx_key, new Uint8Array(), pt));
      const open = (pt: Uint8Array) =>
        open_envelope(p, io, { scheme, envelope: seal(pt), chain_id: CHAIN, code_hash: CODE_HASH });
      expect(open(utf8(CODE_HASH)).msg_json).toBe(''); // exactly the hash: an empty message
      const bad_plaintexts = [
        new Uint8Array(),
        utf8(CODE_HASH.slice(0, 63)),
        utf8(CODE_HASH.toUpperCase() + MSG),
        utf8(OTHER_HASH + MSG),
        concat(utf8(CODE_HASH), Uint8Array.of(0xff, 0xfe)), // not UTF-8
        concat(utf8(CODE_HASH.slice(0, 10)), Uint8Array.of(0xc3), utf8(CODE_HASH.slice(10))), // not UTF-8
        utf8(`\u00e9${CODE_HASH.slice(1)}${MSG}`),
        concat(Uint8Array.of(0xef, 0xbb, 0xbf), utf8(CODE_HASH + MSG)), // a BOM is a character, not skipped
      ];
      for (const pt of bad_plaintexts) decrypt_error(() => open(pt));
    },
  );

  test('argument errors are TypeError / RangeError, not DecryptError', () => {
    const { envelope } = make(p, 'gcm');
    expect(() =>
      open_envelope(p, io, { scheme: 'gcm', envelope, chain_id: CHAIN, code_hash: CODE_HASH.toUpperCase() }),
    ).toThrow(TypeError);
    expect(() =>
      open_envelope(p, io, { scheme: 'xyz' as Scheme, envelope, chain_id: CHAIN, code_hash: CODE_HASH }),
    ).toThrow(RangeError);
    expect(() =>
      open_envelope(p, io, {
        scheme: 'gcm',
        envelope: [1] as unknown as Uint8Array,
        chain_id: CHAIN,
        code_hash: CODE_HASH,
      }),
    ).toThrow(TypeError);
    expect(() =>
      open_envelope(p, {} as X25519Secret, {
        scheme: 'gcm',
        envelope,
        chain_id: CHAIN,
        code_hash: CODE_HASH,
      }),
    ).toThrow(TypeError);
    const base = {
      scheme: 'gcm' as Scheme,
      sk_u: new Uint8Array(32),
      pk_io: network(p).pk_io,
      nonce: new Uint8Array(32),
      chain_id: CHAIN,
      code_hash: CODE_HASH,
      msg_json: '{}',
    };
    expect(() => encrypt_message(p, { ...base, code_hash: 'abc' })).toThrow(TypeError);
    expect(() => encrypt_message(p, { ...base, nonce: new Uint8Array(12) })).toThrow(RangeError);
    expect(() => encrypt_message(p, { ...base, msg_json: '\ud800' })).toThrow(TypeError);
    expect(() => encrypt_message(p, { ...base, pk_io: SMALL_ORDER_U[0]![1] })).toThrow(RangeError);
    expect(envelope_scheme_overhead_bytes('gcm')).toBe(81);
    expect(envelope_scheme_overhead_bytes('siv')).toBe(80);
  });
});

describe('envelopes: noble and native are interchangeable', () => {
  const [noble, native] = [PROVIDERS[0]![1], PROVIDERS[1]![1]];

  test('property: identical envelopes from both; each opens the other’s', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SCHEMES),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.string({ unit: 'binary', maxLength: 20 }),
        fc.stringMatching(/^[0-9a-f]{64}$/),
        fc.string({ unit: 'binary', maxLength: 100 }),
        (scheme, seed, sk_u, nonce, chain_id, code_hash, msg_json) => {
          const keys = derive_network_keys(noble, seed);
          const args = { scheme, sk_u, pk_io: keys.io_pk, nonce, chain_id, code_hash, msg_json };
          const a = encrypt_message(noble, args);
          const b = encrypt_message(native, args);
          expect(to_hex(b.envelope)).toBe(to_hex(a.envelope));
          expect(to_hex(b.tx_key)).toBe(to_hex(a.tx_key));
          for (const [opener, sealer] of [
            [noble, native],
            [native, noble],
          ] as const) {
            const io = opener.x25519_secret(keys.io_sk);
            const env = sealer === noble ? a.envelope : b.envelope;
            const opened = open_envelope(opener, io, { scheme, envelope: env, chain_id, code_hash });
            expect(opened.msg_json).toBe(msg_json);
            expect(to_hex(opened.tx_key)).toBe(to_hex(a.tx_key));
          }
        },
      ),
      fc_options(100),
    );
  });

  test('property: random bytes never open, and fail the same way in both', () => {
    const io_sk = derive_network_keys(noble, SEED).io_sk;
    fc.assert(
      fc.property(fc.constantFrom(...SCHEMES), fc.uint8Array({ maxLength: 300 }), (scheme, envelope) => {
        for (const p of [noble, native]) {
          decrypt_error(() =>
            open_envelope(p, p.x25519_secret(io_sk), {
              scheme,
              envelope,
              chain_id: CHAIN,
              code_hash: CODE_HASH,
            }),
          );
        }
      }),
      fc_options(200),
    );
  });

  test('the DecryptError of different failures cannot be told apart (stack included)', () => {
    const p = noble;
    const { io } = network(p);
    const { envelope } = make(p, 'gcm');
    const short = decrypt_error(() =>
      open_envelope(p, io, {
        scheme: 'gcm',
        envelope: envelope.subarray(0, 3),
        chain_id: CHAIN,
        code_hash: CODE_HASH,
      }),
    );
    const hash = decrypt_error(() =>
      open_envelope(p, io, { scheme: 'gcm', envelope, chain_id: CHAIN, code_hash: OTHER_HASH }),
    );
    expect(hash.message).toBe(short.message);
    // Thrown from the same line of open_envelope: the stacks agree up to the caller's frames.
    const top = (e: Error) => e.stack?.split('\n').slice(0, 2).join('\n');
    expect(top(hash)).toBe(top(short));
    expect(top(hash)).toContain('open_envelope');
  });
});
