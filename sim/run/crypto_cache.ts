/**
 * Signature checks shared by every simulated validator: the same (signature, message, key) is
 * verified once for the whole simulated network and the answer remembered, since N validators
 * verify every vote and transaction N times with the same bytes. Only `ed25519_verify` is
 * remembered; every other operation goes to the real provider. The answer for given bytes never
 * changes, so the cache cannot change what any validator decides, only how long it takes.
 * @module
 */

import { createHash, createPrivateKey, type KeyObject, sign } from 'node:crypto';
import type { CryptoProvider } from '../../protocol/provider.js';

/** Entries kept before the cache starts over (bounds memory on long runs). */
const ENTRIES_MAX = 500_000;
/** Signing keys kept imported (the simulated validators' and the ceremony's; SIMULATION only). */
const SIGNING_KEYS_MAX = 1024;

/** `p` with a shared memory of signature checks; `stats` counts hits and misses. */
export function caching_provider(
  p: CryptoProvider,
): CryptoProvider & { stats: { hits: number; misses: number } } {
  const known = new Map<string, boolean>();
  const stats = { hits: 0, misses: 0 };
  const ed25519_verify: CryptoProvider['ed25519_verify'] = (signature, message, public_key) => {
    const key = createHash('sha256')
      .update(signature)
      .update(public_key)
      .update(new Uint8Array([message.length & 0xff, (message.length >>> 8) & 0xff]))
      .update(message)
      .digest('base64');
    const seen = known.get(key);
    if (seen !== undefined) {
      stats.hits++;
      return seen;
    }
    stats.misses++;
    const answer = p.ed25519_verify(signature, message, public_key);
    if (known.size >= ENTRIES_MAX) known.clear();
    known.set(key, answer);
    return answer;
  };
  // SIMULATION only: every secret of the simulated network lives in this one process anyway, so
  // its signing keys are imported into OpenSSL once rather than per signature. The signature is
  // the same bytes (Ed25519 is deterministic, RFC 8032 §5.1.6).
  const signing_keys = new Map<string, KeyObject>();
  const ed25519_sign: CryptoProvider['ed25519_sign'] = (sk, message) => {
    if (!(sk instanceof Uint8Array) || sk.length !== 32) return p.ed25519_sign(sk, message);
    const d = Buffer.from(sk).toString('base64url');
    let key = signing_keys.get(d);
    if (key === undefined) {
      if (signing_keys.size >= SIGNING_KEYS_MAX) signing_keys.clear();
      key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d, x: '' }, format: 'jwk' });
      signing_keys.set(d, key);
    }
    return new Uint8Array(sign(null, message, key));
  };
  // The native provider's methods use no `this`: a copy with two methods replaced behaves the same.
  return { ...p, ed25519_verify, ed25519_sign, stats };
}
