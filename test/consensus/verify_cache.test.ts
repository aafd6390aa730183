/**
 * cached_verify_hex (node/consensus/types.ts): remembers only valid signatures, for the exact
 * public key, signature and message, and stays bounded.
 */

import { describe, expect, it } from 'vitest';
import { cached_verify_hex, verify_hex } from '../../node/consensus/types.js';
import { to_hex, utf8 } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';

const p = get_provider('native');

function signer(seed: number) {
  const sk = new Uint8Array(32).fill(seed);
  const pubkey = to_hex(p.ed25519_public(sk));
  return { pubkey, sign: (m: Uint8Array) => to_hex(p.ed25519_sign(sk, m)) };
}

/** A provider that counts Ed25519 verifications, so a test can tell a cache hit from a check. */
function counting() {
  let calls = 0;
  const wrapped = {
    ...p,
    ed25519_verify: (s: Uint8Array, m: Uint8Array, k: Uint8Array) => {
      calls++;
      return p.ed25519_verify(s, m, k);
    },
  };
  return { p: wrapped, calls: () => calls };
}

describe('cached_verify_hex', () => {
  it('answers as verify_hex, and checks a valid signature once', () => {
    const a = signer(1);
    const b = signer(2);
    const m = utf8('precommit 7');
    const sig = a.sign(m);
    const c = counting();
    const verify = cached_verify_hex();
    expect(verify(c.p, sig, m, a.pubkey)).toBe(true);
    expect(verify(c.p, sig, m, a.pubkey)).toBe(true);
    expect(c.calls()).toBe(1);
    // The same signature over another message, or under another key, is checked and refused.
    expect(verify(c.p, sig, utf8('precommit 8'), a.pubkey)).toBe(
      verify_hex(p, sig, utf8('precommit 8'), a.pubkey),
    );
    expect(verify(c.p, sig, utf8('precommit 8'), a.pubkey)).toBe(false);
    expect(verify(c.p, sig, m, b.pubkey)).toBe(false);
    // A bad signature is never remembered: each call checks it again.
    const bad = `${sig.slice(0, 127)}${sig.endsWith('0') ? '1' : '0'}`;
    const before = c.calls();
    expect(verify(c.p, bad, m, a.pubkey)).toBe(false);
    expect(verify(c.p, bad, m, a.pubkey)).toBe(false);
    expect(c.calls()).toBe(before + 2);
    expect(verify(c.p, 'zz', m, a.pubkey)).toBe(false);
  });

  it('forgets the oldest entry past its bound', () => {
    const a = signer(3);
    const c = counting();
    const verify = cached_verify_hex(2);
    const msgs = ['m1', 'm2', 'm3'].map(utf8);
    const sigs = msgs.map((m) => a.sign(m));
    for (const [i, m] of msgs.entries()) expect(verify(c.p, sigs[i]!, m, a.pubkey)).toBe(true);
    expect(c.calls()).toBe(3);
    expect(verify(c.p, sigs[2]!, msgs[2]!, a.pubkey)).toBe(true); // kept
    expect(c.calls()).toBe(3);
    expect(verify(c.p, sigs[0]!, msgs[0]!, a.pubkey)).toBe(true); // evicted: checked again
    expect(c.calls()).toBe(4);
    expect(() => cached_verify_hex(0)).toThrow(RangeError);
  });
});
