/**
 * `cloister directory` (docs/channels.md).
 * @module
 */

import type { Argv } from 'yargs';

/** Registers `cloister directory`. */
export function directory_commands(y: Argv): Argv {
  return y;
}
