/**
 * The block pacing flags of a new network, shared by `cloister init` and `sim up`:
 * `--empty-block-interval S` and `--block-time S` (docs/consensus.md "Block pacing").
 * @module
 */

import { fail } from './exit.js';

/** `--empty-block-interval S` and `--block-time S` of a new network (docs/consensus.md "Block pacing"). */
export const PACING_OPTIONS = {
  'empty-block-interval': {
    type: 'number',
    describe:
      'a new network makes an empty block this many seconds after the last block when idle (default 0: blocks only when there are transactions)',
  },
  'block-time': {
    type: 'number',
    describe:
      'a new network makes a block every this many seconds, transactions or not (default 0: off; not with --empty-block-interval)',
  },
} as const;

/** The pacing flags as init_network options, in ms; exits 2 naming a bad value. */
export function pacing_flags(argv: { 'empty-block-interval'?: number; 'block-time'?: number }): {
  empty_block_interval_ms?: number;
  block_time_ms?: number;
} {
  const out: { empty_block_interval_ms?: number; block_time_ms?: number } = {};
  for (const [flag, field] of [
    ['empty-block-interval', 'empty_block_interval_ms'],
    ['block-time', 'block_time_ms'],
  ] as const) {
    const seconds = argv[flag];
    if (seconds === undefined) continue;
    if (!Number.isFinite(seconds) || seconds < 0 || seconds > 3600)
      fail(`--${flag} must be 0 to 3600 seconds`, 2);
    out[field] = Math.round(seconds * 1000);
  }
  if ((out.empty_block_interval_ms ?? 0) > 0 && (out.block_time_ms ?? 0) > 0)
    fail('--empty-block-interval and --block-time do not go together: pick one', 2);
  return out;
}
