/**
 * Unix sockets a node listens on (its admin channel, node/admin.ts; its ABCI server under
 * CometBFT, node/abci/server.ts): a socket file left by a process that is gone is removed before
 * listening, one a live process serves is not.
 * @module
 */

import { lstatSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';

/**
 * Removes the socket file `path` if no process serves it. Throws if a process does (`what` names
 * the socket in the message, e.g. "the admin socket", and `hint` follows it), or if `path` is something other than a
 * socket. Nothing there: nothing to do.
 */
export async function clear_stale_socket(path: string, what: string, hint = ''): Promise<void> {
  let is_socket: boolean;
  try {
    is_socket = lstatSync(path).isSocket();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!is_socket) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  const served = await new Promise<boolean>((done) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      done(true);
    });
    probe.once('error', () => done(false));
  });
  if (served) throw new Error(`another process serves ${what} ${path}${hint}`);
  unlinkSync(path);
}
