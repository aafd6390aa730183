/**
 * `cloister mail` (docs/channels.md).
 * @module
 */

import type { Argv } from 'yargs';

/** Registers `cloister mail`. */
export function mail_commands(y: Argv): Argv {
  return y;
}
