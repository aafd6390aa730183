/**
 * Sharing the consensus seed with an attested new node (protocol.md §8):
 *
 *     GCM(HKDF(X25519(sk_seed_exchange, pk_reg), SALT, utf8("cloister/seed-share"), 32), IV(0), pk_reg, consensus_seed)
 *
 * Deterministic, so every validator outputs the same bytes. The new node opens it with
 * `X25519(sk_reg, pk_seed_exchange)`, the same shared secret.
 * @module
 */

import { assert_bytes, utf8 } from './bytes.js';
import { CONSENSUS_SEED_BYTES, iv, SALT } from './keys.js';
import type { CryptoProvider, X25519Secret } from './provider.js';

/** HKDF info of the seed-share key (protocol.md §8). */
export const SEED_SHARE_INFO = 'cloister/seed-share';
/** Bytes of a sealed seed share: the 32-byte seed and a 16-byte GCM tag (protocol.md §8). */
export const SEED_SHARE_BYTES = CONSENSUS_SEED_BYTES + 16;

function check_secret(value: unknown, name: string): asserts value is X25519Secret {
  if (typeof value !== 'object' || value === null || typeof (value as X25519Secret).shared !== 'function') {
    throw new TypeError(`${name} must be an X25519Secret`);
  }
}

function share_key(p: CryptoProvider, shared: Uint8Array): Uint8Array {
  return p.hkdf(shared, SALT, utf8(SEED_SHARE_INFO), 32);
}

/**
 * Seals `seed` for the registering node whose key is `pk_reg` (protocol.md §8), with the
 * network's `seed_exchange` secret. Returns `null` if `pk_reg` is a point of small order.
 */
export function seal_seed_share(
  p: CryptoProvider,
  seed_exchange: X25519Secret,
  pk_reg: Uint8Array,
  seed: Uint8Array,
): Uint8Array | null {
  check_secret(seed_exchange, 'seed_exchange');
  assert_bytes(pk_reg, 'pk_reg', 32);
  assert_bytes(seed, 'seed', CONSENSUS_SEED_BYTES);
  const shared = seed_exchange.shared(pk_reg);
  if (shared === null) return null;
  return p.gcm_seal(share_key(p, shared), iv(0), pk_reg, seed);
}

/**
 * Opens a seed share (protocol.md §8) in the new node's enclave with its registration secret
 * `reg` and the network's `pk_seed_exchange`; the associated data is `reg.public_key` (= pk_reg).
 * Returns the 32-byte seed, or `null` if the share has the wrong length, does not authenticate,
 * or `pk_seed_exchange` is a point of small order.
 */
export function open_seed_share(
  p: CryptoProvider,
  reg: X25519Secret,
  pk_seed_exchange: Uint8Array,
  share: Uint8Array,
): Uint8Array | null {
  check_secret(reg, 'reg');
  assert_bytes(pk_seed_exchange, 'pk_seed_exchange', 32);
  assert_bytes(share, 'share');
  if (share.length !== SEED_SHARE_BYTES) return null;
  const shared = reg.shared(pk_seed_exchange);
  if (shared === null) return null;
  const seed = p.gcm_open(share_key(p, shared), iv(0), reg.public_key, share);
  return seed !== null && seed.length === CONSENSUS_SEED_BYTES ? seed : null;
}
