/**
 * The network's keys (protocol.md §2) and the constants of §1 they are derived with.
 * @module
 */

import { assert_bytes, concat, from_hex, u32_be, utf8 } from './bytes.js';
import type { CryptoProvider } from './provider.js';

/** protocol.md §1 `SALT`: the 32 bytes 000000000000000000024bead8df69990852c202db0e0097c1a12ea637d7e96d. */
export const SALT: Uint8Array = from_hex(
  '000000000000000000024bead8df69990852c202db0e0097c1a12ea637d7e96d',
  32,
);

/** Bytes of the network secret `consensus_seed` (protocol.md §2). */
export const CONSENSUS_SEED_BYTES = 32;
/** Bytes of every key derived by {@link derive_key} (protocol.md §2). */
export const NETWORK_KEY_BYTES = 32;

/** The labels of protocol.md §2. */
export type KeyLabel = 'io' | 'seed-exchange' | 'state' | 'callback' | 'random';

/** Every label of protocol.md §2, in the table's order. */
export const KEY_LABELS: readonly KeyLabel[] = Object.freeze([
  'io',
  'seed-exchange',
  'state',
  'callback',
  'random',
] as const);

/**
 * protocol.md §2 `k(label) = HKDF(consensus_seed, SALT, utf8("cloister/" + label), 32)`.
 * Throws TypeError/RangeError unless `seed` is 32 bytes and `label` one of {@link KEY_LABELS}.
 */
export function derive_key(p: CryptoProvider, seed: Uint8Array, label: KeyLabel): Uint8Array {
  assert_bytes(seed, 'seed', CONSENSUS_SEED_BYTES);
  if (typeof label !== 'string') throw new TypeError('label must be a string');
  if (!KEY_LABELS.includes(label)) throw new RangeError(`unknown key label ${JSON.stringify(label)}`);
  return p.hkdf(seed, SALT, utf8(`cloister/${label}`), NETWORK_KEY_BYTES);
}

/** Every key of protocol.md §2, with the public halves of the two X25519 keys. */
export interface NetworkKeys {
  /** `sk_io`, the X25519 secret clients encrypt to (§2 label `io`, used in §3). */
  io_sk: Uint8Array;
  /** `pk_io = X25519(sk_io, 9)`, published in genesis and by `GET /v1/status`. */
  io_pk: Uint8Array;
  /** `sk_seed_exchange` (§2 label `seed-exchange`, used in §8). */
  seed_exchange_sk: Uint8Array;
  /** `pk_seed_exchange`, published in genesis and by `GET /v1/status`. */
  seed_exchange_pk: Uint8Array;
  /** Root of contract state encryption (§2 label `state`). */
  state: Uint8Array;
  /** Authenticates contract-to-contract messages (§2 label `callback`). */
  callback: Uint8Array;
  /** Root of per-block randomness (§2 label `random`). */
  random: Uint8Array;
}

/** Derives every key of protocol.md §2 from the 32-byte `consensus_seed`. */
export function derive_network_keys(p: CryptoProvider, seed: Uint8Array): NetworkKeys {
  const io_sk = derive_key(p, seed, 'io');
  const seed_exchange_sk = derive_key(p, seed, 'seed-exchange');
  return {
    io_sk,
    io_pk: p.x25519_secret(io_sk).public_key,
    seed_exchange_sk,
    seed_exchange_pk: p.x25519_secret(seed_exchange_sk).public_key,
    state: derive_key(p, seed, 'state'),
    callback: derive_key(p, seed, 'callback'),
    random: derive_key(p, seed, 'random'),
  };
}

/** protocol.md §1 `IV(i)` = 8 zero bytes ‖ `u32_be(i)`, a 12-byte GCM IV. RangeError unless 0 ≤ i < 2^32. */
export function iv(i: number): Uint8Array {
  if (typeof i !== 'number') throw new TypeError('IV index must be a number');
  return concat(new Uint8Array(8), u32_be(i));
}
