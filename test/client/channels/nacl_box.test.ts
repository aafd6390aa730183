/**
 * client/sdk/channels/nacl_box.ts is NaCl's crypto_box: the NaCl distribution's known answer
 * (test/vectors/nacl_box.json), and byte for byte tweetnacl 1.0.3 both ways on random keys,
 * nonces and messages (fast-check; the seed is printed, replay with FC_SEED=<seed>).
 */

import fc from 'fast-check';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import {
  box,
  box_after,
  box_before,
  box_open,
  box_open_after,
  box_public_key,
  NACL_BOX_OVERHEAD_BYTES,
  SmallOrderKeyError,
} from '../../../client/sdk/channels/nacl_box.js';
import { from_hex, to_hex } from '../../../protocol/bytes.js';
import { fc_options, load_vectors, SMALL_ORDER_U } from '../../protocol/helpers.js';

interface Vector {
  alice_sk: string;
  alice_pk: string;
  bob_sk: string;
  bob_pk: string;
  shared_key: string;
  nonce: string;
  message: string;
  box: string;
}

const v = load_vectors<Vector>('nacl_box.json');
const h = (hex: string) => from_hex(hex);
const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const nonce24 = fc.uint8Array({ minLength: 24, maxLength: 24 });
const message = fc.uint8Array({ maxLength: 300 });

describe('NaCl crypto_box known answer (NaCl tests/box.c, box2.c, core1.c)', () => {
  it('derives the public keys and the beforenm key both ways', () => {
    expect(to_hex(box_public_key(h(v.alice_sk)))).toBe(v.alice_pk);
    expect(to_hex(box_public_key(h(v.bob_sk)))).toBe(v.bob_pk);
    expect(to_hex(box_before(h(v.bob_pk), h(v.alice_sk)))).toBe(v.shared_key);
    expect(to_hex(box_before(h(v.alice_pk), h(v.bob_sk)))).toBe(v.shared_key);
  });

  it('boxes the message from Alice to Bob, and Bob opens it', () => {
    expect(to_hex(box(h(v.message), h(v.nonce), h(v.bob_pk), h(v.alice_sk)))).toBe(v.box);
    expect(to_hex(box_after(h(v.message), h(v.nonce), h(v.shared_key)))).toBe(v.box);
    expect(to_hex(box_open(h(v.box), h(v.nonce), h(v.alice_pk), h(v.bob_sk))!)).toBe(v.message);
    expect(to_hex(box_open_after(h(v.box), h(v.nonce), h(v.shared_key))!)).toBe(v.message);
  });

  it('tweetnacl agrees with the vector (the vector is what tweetnacl computes)', () => {
    expect(to_hex(nacl.box(h(v.message), h(v.nonce), h(v.bob_pk), h(v.alice_sk)))).toBe(v.box);
    expect(to_hex(nacl.box.before(h(v.bob_pk), h(v.alice_sk)))).toBe(v.shared_key);
  });

  it('refuses every changed byte, a wrong key, a wrong nonce, and a too-short box', () => {
    const boxed = h(v.box);
    for (let i = 0; i < boxed.length; i++) {
      const changed = Uint8Array.from(boxed);
      changed[i]! ^= 1;
      expect(box_open(changed, h(v.nonce), h(v.alice_pk), h(v.bob_sk))).toBeNull();
    }
    expect(box_open(boxed, h(v.nonce), h(v.bob_pk), h(v.bob_sk))).toBeNull();
    const nonce = h(v.nonce);
    nonce[23]! ^= 1;
    expect(box_open(boxed, nonce, h(v.alice_pk), h(v.bob_sk))).toBeNull();
    expect(
      box_open(boxed.subarray(0, NACL_BOX_OVERHEAD_BYTES - 1), h(v.nonce), h(v.alice_pk), h(v.bob_sk)),
    ).toBeNull();
    expect(box_open(boxed.subarray(0, 0), h(v.nonce), h(v.alice_pk), h(v.bob_sk))).toBeNull();
  });

  it('rejects wrong lengths with RangeError/TypeError', () => {
    expect(() => box(h(v.message), h(v.nonce).subarray(1), h(v.bob_pk), h(v.alice_sk))).toThrow(RangeError);
    expect(() => box(h(v.message), h(v.nonce), h(v.bob_pk).subarray(1), h(v.alice_sk))).toThrow(RangeError);
    expect(() => box('x' as unknown as Uint8Array, h(v.nonce), h(v.bob_pk), h(v.alice_sk))).toThrow(
      TypeError,
    );
  });

  it.each(SMALL_ORDER_U)(
    'refuses the small-order public key %s (tweetnacl would box under a public key)',
    (_, u) => {
      expect(() => box(h(v.message), h(v.nonce), u, h(v.alice_sk))).toThrow(SmallOrderKeyError);
      expect(() => box_open(h(v.box), h(v.nonce), u, h(v.bob_sk))).toThrow(SmallOrderKeyError);
    },
  );
});

describe('byte-compatible with tweetnacl 1.0.3 on random inputs', () => {
  it('nacl_box.box equals nacl.box, and tweetnacl opens it', () => {
    fc.assert(
      fc.property(key32, key32, nonce24, message, (a_sk, b_sk, nonce, m) => {
        const b_pk = nacl.box.keyPair.fromSecretKey(b_sk).publicKey;
        const a_pk = nacl.box.keyPair.fromSecretKey(a_sk).publicKey;
        expect(to_hex(box_public_key(a_sk))).toBe(to_hex(a_pk));
        const ours = box(m, nonce, b_pk, a_sk);
        expect(to_hex(ours)).toBe(to_hex(nacl.box(m, nonce, b_pk, a_sk)));
        expect(ours.length).toBe(m.length + NACL_BOX_OVERHEAD_BYTES);
        expect(to_hex(nacl.box.open(ours, nonce, a_pk, b_sk)!)).toBe(to_hex(m));
      }),
      fc_options(200),
    );
  });

  it('nacl_box.box_open opens what nacl.box made, and refuses a flipped bit', () => {
    fc.assert(
      fc.property(key32, key32, nonce24, message, fc.nat(), (a_sk, b_sk, nonce, m, at) => {
        const b_pk = nacl.box.keyPair.fromSecretKey(b_sk).publicKey;
        const a_pk = nacl.box.keyPair.fromSecretKey(a_sk).publicKey;
        const theirs = nacl.box(m, nonce, b_pk, a_sk);
        expect(to_hex(box_open(theirs, nonce, a_pk, b_sk)!)).toBe(to_hex(m));
        expect(to_hex(box_before(a_pk, b_sk))).toBe(to_hex(nacl.box.before(a_pk, b_sk)));
        const changed = Uint8Array.from(theirs);
        changed[at % changed.length]! ^= 1 << (at % 8);
        expect(box_open(changed, nonce, a_pk, b_sk)).toBeNull();
        expect(nacl.box.open(changed, nonce, a_pk, b_sk)).toBeNull();
      }),
      fc_options(200),
    );
  });
});
