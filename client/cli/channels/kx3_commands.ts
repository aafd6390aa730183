/**
 * `cloister kx3` (docs/channels.md).
 * @module
 */

import type { Argv } from 'yargs';

/** Registers `cloister kx3`. */
export function kx3_commands(y: Argv): Argv {
  return y;
}
