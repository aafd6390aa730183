/**
 * The real-world implementations of the node's time and randomness seams (./modules.ts): the
 * system clock and the operating system's random source. The only place in a node that reads the
 * wall clock, arms a Node.js timer or draws unseeded randomness (besides the TCP and HTTP servers,
 * which are real-world implementations themselves).
 * @module
 */

import { randomInt } from 'node:crypto';
import type { Clock, Rng } from './modules.js';

/** Largest delay a Node.js timer takes (2^31 − 1 ms); longer ones would fire at once. */
const TIMER_DELAY_MS_MAX = 2 ** 31 - 1;

/**
 * The system clock: epoch milliseconds from a monotonic source (`performance.timeOrigin +
 * performance.now()`, so it never steps back when the wall clock is adjusted), and Node.js timers.
 */
export function system_clock(): Clock {
  const origin_ms = performance.timeOrigin;
  let last_ms = 0;
  return {
    now_ms: () => {
      // Monotonic: a block's time never goes back on one node.
      last_ms = Math.max(last_ms, Math.floor(origin_ms + performance.now()));
      return last_ms;
    },
    set_timer: (delay_ms, fn) => {
      if (!(delay_ms >= 0)) throw new RangeError(`timer delay must be ≥ 0, got ${delay_ms}`);
      const timer = setTimeout(fn, Math.min(delay_ms, TIMER_DELAY_MS_MAX));
      return () => clearTimeout(timer);
    },
  };
}

/** The operating system's random source, as floats in [0, 1) with 48 random bits. */
export function system_rng(): Rng {
  return { next: () => (randomInt(2 ** 24) * 2 ** 24 + randomInt(2 ** 24)) / 2 ** 48 };
}
