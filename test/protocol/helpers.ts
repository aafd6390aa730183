/**
 * Shared helpers of the protocol tests: both providers, vector loading, and the fast-check seed
 * (printed so a failure can be replayed with FC_SEED=<seed>).
 * @module
 */

import { readFileSync } from 'node:fs';
import type { CryptoProvider } from '../../protocol/provider.js';
import { native_provider } from '../../protocol/providers/native.js';
import { noble_provider } from '../../protocol/providers/noble.js';

/** Both providers, for `describe.each` / `test.each`. */
export const PROVIDERS: readonly [string, CryptoProvider][] = [
  ['noble', noble_provider],
  ['native', native_provider],
];

/** The fast-check seed of this run: FC_SEED from the environment, or one made from the clock. */
export const seed = Number(process.env['FC_SEED'] ?? Date.now() % 2 ** 31);

let seed_logged = false;

/** fast-check options with {@link seed}; logs the seed once per test file. */
export function fc_options(numRuns: number): { seed: number; numRuns: number } {
  if (!seed_logged) {
    seed_logged = true;
    console.log(`fast-check seed ${seed} (replay a failure with FC_SEED=${seed})`);
  }
  return { seed, numRuns };
}

/** Parsed JSON of test/vectors/<name>. */
export function load_vectors<T = unknown>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), 'utf8')) as T;
}

/** Little-endian 32-byte encoding of a non-negative bigint below 2^256 (RFC 7748 §5 u-coordinates). */
export function le32(value: bigint): Uint8Array {
  const out = new Uint8Array(32);
  let x = value;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** p = 2^255 − 19 (RFC 7748 §4.1). */
export const P25519 = 2n ** 255n - 19n;

/**
 * The u-coordinates the brief lists as small-order points (RFC 7748 §6.1, the libsodium blocklist):
 * 0, 1, the two order-8 points, p − 1, p, p + 1, each as 32 bytes little-endian.
 */
export const SMALL_ORDER_U: readonly [string, Uint8Array][] = [
  ['0', le32(0n)],
  ['1', le32(1n)],
  [
    'order-8 point 3256…3504',
    le32(325606250916557431795983626356110631294008115727848805560023387167927233504n),
  ],
  [
    'order-8 point 3938…5823',
    le32(39382357235489614581723060781553021112529911719440698176882885853963445705823n),
  ],
  ['p - 1', le32(P25519 - 1n)],
  ['p', le32(P25519)],
  ['p + 1', le32(P25519 + 1n)],
];

/** The same points with the (masked) top bit set, which RFC 7748 §5 says must be ignored. */
export const SMALL_ORDER_U_HIGH_BIT: readonly [string, Uint8Array][] = SMALL_ORDER_U.map(([name, u]) => {
  const v = Uint8Array.from(u);
  v[31]! |= 0x80;
  return [`${name} with top bit set`, v];
});
