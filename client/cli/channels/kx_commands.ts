/**
 * `cloister kx` (docs/channels.md).
 * @module
 */

import type { Argv } from 'yargs';

/** Registers `cloister kx`. */
export function kx_commands(y: Argv): Argv {
  return y;
}
