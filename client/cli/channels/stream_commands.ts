/**
 * `cloister stream` (docs/channels.md).
 * @module
 */

import type { Argv } from 'yargs';

/** Registers `cloister stream`. */
export function stream_commands(y: Argv): Argv {
  return y;
}
