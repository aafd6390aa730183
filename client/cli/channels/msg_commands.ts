/**
 * `cloister msg` (docs/channels.md).
 * @module
 */

import type { Argv } from 'yargs';

/** Registers `cloister msg`. */
export function msg_commands(y: Argv): Argv {
  return y;
}
