/**
 * mulberry32: the tests' one small seeded PRNG, floats in [0, 1), so a randomized test replays
 * from the seed it prints. Tests and simulations only: never for keys.
 * @module
 */

/** A PRNG seeded with `seed` (its low 32 bits). */
export function make_rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
