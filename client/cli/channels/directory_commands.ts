/**
 * `cloister directory publish|revoke|show` (docs/channels.md "The directory"): an account's
 * X25519 key-agreement keys on chain, by key URI `cloister:<address>#<key-id>`.
 * @module
 */

import type { Argv } from 'yargs';
import { to_hex } from '../../../protocol/bytes.js';
import { DirectoryClient, key_usable } from '../../sdk/channels/directory.js';
import { check_key_id, type DirectoryKey } from '../../sdk/channels/key_uri.js';
import { KX_KEY_ID_DEFAULT } from '../../sdk/channels/kx_keys.js';
import { key_info } from '../../sdk/keys.js';
import {
  action,
  address_of,
  make_client,
  type NetworkArgs,
  network_options,
  node_options,
  parse_count,
  row,
  UsageError,
  unlock_key,
  write_json,
  write_lines,
} from '../client_commands.js';

function key_json(k: DirectoryKey, height: number): Record<string, unknown> {
  return {
    uri: k.uri,
    key_id: k.key_id,
    public_key: to_hex(k.public_key),
    published_height: k.published_height,
    revoked_height: k.revoked_height,
    status: key_status(k, height),
  };
}

/**
 * A key's status at `height`: `revoked at height R` (R ≤ height), `not yet published at this
 * height` (published after it), `active (revoked from height R)` (a revocation scheduled after
 * it), or `active`.
 */
export function key_status(k: DirectoryKey, height: number): string {
  if (k.revoked_height !== null && k.revoked_height <= height) return `revoked at height ${k.revoked_height}`;
  if (k.published_height > height) return 'not yet published at this height';
  if (k.revoked_height !== null) return `active (revoked from height ${k.revoked_height})`;
  return 'active';
}

/** The next free `kxN` id after the ids an account has used. */
function next_key_id(keys: DirectoryKey[]): string {
  let n = 1;
  while (keys.some((k) => k.key_id === `kx${n}`)) n++;
  return `kx${n}`;
}

type PublishArgs = NetworkArgs & { 'key-id'?: string; rotate: boolean };

async function publish(argv: PublishArgs): Promise<void> {
  const key = await unlock_key(argv);
  const client = make_client(argv, [key]);
  const directory = new DirectoryClient(client);
  const mine = await directory.keys(key_info(key).address);
  const height = (await client.status()).height;
  const key_id = argv['key-id'] ?? (argv.rotate || mine.length > 0 ? next_key_id(mine) : KX_KEY_ID_DEFAULT);
  check_key_id(key_id, '--key-id');
  if (mine.some((k) => k.key_id === key_id))
    throw new UsageError(
      `${key.name} already published key id ${key_id}; ids are never reused (leave out --key-id for the next one)`,
    );
  const published = await directory.publish(key, key_id);
  const revoked: string[] = [];
  if (argv.rotate) {
    for (const old of mine.filter((k) => key_usable(k, height))) {
      await directory.revoke(key, old.key_id);
      revoked.push(old.uri);
    }
  }
  if (argv.json) return write_json({ ...key_json(published, published.published_height), revoked });
  write_lines([
    row('published', published.uri),
    row('public key', to_hex(published.public_key)),
    row('height', String(published.published_height)),
    ...revoked.map((uri) => row('revoked', uri)),
  ]);
}

async function revoke(argv: NetworkArgs & { 'key-id': string; 'from-height'?: string }): Promise<void> {
  check_key_id(argv['key-id'], 'KEY_ID');
  const key = await unlock_key(argv);
  const from =
    argv['from-height'] === undefined ? undefined : parse_count(argv['from-height'], '--from-height', 1);
  const height = await new DirectoryClient(make_client(argv, [key])).revoke(key, argv['key-id'], from);
  if (argv.json) return write_json({ key_id: argv['key-id'], revoked_height: height });
  write_lines([row('revoked', `${argv['key-id']} from height ${height} on`)]);
}

async function show(argv: NetworkArgs & { account: string }): Promise<void> {
  const { address } = await address_of(argv, argv.account, 'ACCOUNT');
  const client = make_client(argv);
  const [keys, status] = await Promise.all([new DirectoryClient(client).keys(address), client.status()]);
  if (argv.json)
    return write_json({ address, height: status.height, keys: keys.map((k) => key_json(k, status.height)) });
  if (keys.length === 0) {
    write_lines([`${address} has published no keys (\`cloister directory publish --key NAME\`)`]);
    return;
  }
  write_lines([
    `${'KEY URI'.padEnd(62)}  ${'PUBLISHED'.padEnd(9)}  STATUS`,
    ...keys.map(
      (k) => `${k.uri.padEnd(62)}  ${String(k.published_height).padEnd(9)}  ${key_status(k, status.height)}`,
    ),
  ]);
}

/** Registers `cloister directory`. */
export function directory_commands(y: Argv): Argv {
  return y.command(
    'directory',
    "key-agreement keys on chain (the directory system contract): publish, revoke, show an account's keys",
    (d) =>
      d
        .command(
          'publish',
          `publish --key's X25519 key-agreement key (derived from the account key per key id) as cloister:<address>#<key-id>; the first is ${KX_KEY_ID_DEFAULT}, then kx2, … (--rotate publishes the next and revokes the active ones)`,
          (c) =>
            network_options(c)
              .option('key-id', {
                type: 'string',
                describe: 'key id to publish (1-32 of a-z 0-9 _ -); never reused',
              })
              .option('rotate', {
                type: 'boolean',
                default: false,
                describe: 'publish the next key id and revoke the ones active now',
              }),
          action(publish),
        )
        .command(
          'revoke <key-id>',
          "revoke one of --key's key ids from a height on (default: the block that commits it); resolving it from then is an error",
          (c) =>
            network_options(c)
              .positional('key-id', { type: 'string', demandOption: true })
              .option('from-height', {
                type: 'string',
                describe: 'height from which it counts as revoked (not before it was published)',
              }),
          action(revoke),
        )
        .command(
          'show <account>',
          "an account's keys (an address, or a key name of the key file): URIs, heights, active or revoked",
          (c) => node_options(c).positional('account', { type: 'string', demandOption: true }),
          action(show),
        )
        .demandCommand(1, 'name a directory command: publish, revoke, show'),
  );
}
