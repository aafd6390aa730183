/**
 * The secure-channel commands (docs/channels.md): the key directory, evan.network-style mailbox key
 * exchange and mail, KILT-style envelopes, Streamr-style streams, and IRCrypt's three-phase exchange.
 * @module
 */

import type { Argv } from 'yargs';
import { directory_commands } from './directory_commands.js';
import { kx_commands } from './kx_commands.js';
import { kx3_commands } from './kx3_commands.js';
import { mail_commands } from './mail_commands.js';
import { msg_commands } from './msg_commands.js';
import { stream_commands } from './stream_commands.js';

/** Registers every channel command. */
export function channel_commands(y: Argv): Argv {
  return kx3_commands(stream_commands(msg_commands(mail_commands(kx_commands(directory_commands(y))))));
}
