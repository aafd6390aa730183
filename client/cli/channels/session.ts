/**
 * What every channel command starts from (docs/channels.md "Local state"): `--key` unlocked from
 * the key file, a client, the key's channel directory `<keyring dir>/channels/<key name>`, and the
 * key file's names by address, to print beside addresses.
 * @module
 */

import { dirname, join } from 'node:path';
import type { CloisterClient } from '../../sdk/client.js';
import type { ClientKey } from '../../sdk/keys.js';
import {
  make_client,
  type NetworkArgs,
  open_keyring,
  pick_key_name,
  unlock_named,
} from '../client_commands.js';

/** One unlocked key and where its channels keep their state. */
export interface ChannelSession {
  key: ClientKey;
  /** The key's name in the key file. */
  name: string;
  client: CloisterClient;
  /** The key file's path. */
  keyring_path: string;
  /** `<keyring dir>/channels/<key name>`. */
  dir: string;
  /** Key names of the key file by address. */
  names: Map<string, string>;
}

/** `<directory of the key file>/channels/<key name>`: where a key's channel state lives. */
export function channel_dir(keyring_path: string, key_name: string): string {
  return join(dirname(keyring_path), 'channels', key_name);
}

/** Unlocks `--key` (or the only key) and opens a client with it. */
export async function channel_session(argv: NetworkArgs): Promise<ChannelSession> {
  const { keyring, path } = await open_keyring(argv);
  const name = pick_key_name(keyring, argv.key, path);
  const key = await unlock_named(keyring, name, argv);
  return {
    key,
    name,
    client: make_client(argv, [key]),
    keyring_path: path,
    dir: channel_dir(path, name),
    names: new Map(keyring.list().map((k) => [k.address, k.name] as const)),
  };
}

/** `address (name)` when the key file has a key of that address; `unknown` for null. */
export function who(s: { names: Map<string, string> }, address: string | null): string {
  if (address === null) return 'unknown';
  const name = s.names.get(address);
  return name === undefined ? address : `${address} (${name})`;
}
