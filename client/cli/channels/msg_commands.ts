/**
 * `cloister msg seal|open` (docs/channels.md "Envelopes"): KILT-style envelopes, NaCl boxes
 * between two published key-agreement keys, carried by any transport (a pipe, a file, a mail).
 *
 *   cloister msg seal --key alice --to cloister:<bob>#kx1 "hello"      → one line of envelope JSON
 *   cloister msg open --key bob [--seen FILE] [--json] < envelope.json  → the text
 *
 * `open` keeps the ids of the envelopes it accepted in a seen-id store, by default
 * `<key file dir>/channels/<key name>/kilt-seen-ids.json`, so an envelope opens once even across
 * runs (a replay exits 1 with a message containing "replay"); a changed envelope, one for another
 * receiver or one whose sender does not match its key exits 1 with one identical message.
 * @module
 */

import type { Argv } from 'yargs';
import { DirectoryClient } from '../../sdk/channels/directory.js';
import { UnknownKeyError } from '../../sdk/channels/errors.js';
import { check_key_id, parse_key_uri } from '../../sdk/channels/key_uri.js';
import { KILT_ENVELOPE_CHARS_MAX, KILT_TEXT_TYPE, open, seal } from '../../sdk/channels/kilt.js';
import { ReplayGuard } from '../../sdk/channels/replay_guard.js';
import { FileStorage } from '../../sdk/channels/storage_file_node.js';
import { key_info } from '../../sdk/keys.js';
import {
  action,
  address_of,
  make_client,
  type NetworkArgs,
  network_options,
  UsageError,
  write_json,
} from '../client_commands.js';
import { channel_session } from './session.js';

/** The seen-id document of `msg open` in the key's channel directory. */
export const MSG_SEEN_DOCUMENT = 'kilt-seen-ids';
/** Most bytes `msg open` reads from stdin. */
const STDIN_BYTES_MAX = KILT_ENVELOPE_CHARS_MAX + 1024;
/** Most characters of TEXT. */
const TEXT_CHARS_MAX = 7_000;

/** Reads all of stdin as UTF-8, refusing more than `max_bytes`. */
async function read_stdin(max_bytes: number): Promise<string> {
  if (process.stdin.isTTY)
    throw new UsageError(
      'pipe one envelope into `cloister msg open` (e.g. `cloister msg open --key bob < envelope.json`)',
    );
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of process.stdin) {
    const buf = chunk as Buffer;
    bytes += buf.length;
    if (bytes > max_bytes)
      throw new UsageError(
        `stdin is over ${max_bytes} bytes: an envelope is at most ${KILT_ENVELOPE_CHARS_MAX}`,
      );
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Unlocks `--key` and answers it with its name and the key file's path. */
type SealArgs = NetworkArgs & { to: string; 'key-id'?: string; type: string; text: string };

async function seal_command(argv: SealArgs): Promise<void> {
  if (typeof argv.text !== 'string' || argv.text.length > TEXT_CHARS_MAX)
    throw new UsageError(`TEXT must be at most ${TEXT_CHARS_MAX} characters`);
  const { key } = await channel_session(argv);
  const client = make_client(argv, [key]);
  const directory = new DirectoryClient(client);
  // --to: a key URI; an address or a key name of the key file means that account's newest key.
  let to = argv.to;
  if (!to.startsWith('cloister:')) {
    const { address } = await address_of(argv, to, '--to');
    to = (await directory.current(address)).uri;
  } else parse_key_uri(to);
  let key_id = argv['key-id'];
  if (key_id === undefined) {
    try {
      key_id = (await directory.current(key_info(key).address)).key_id;
    } catch (error) {
      if (error instanceof UnknownKeyError)
        throw new UsageError(
          `${key.name} has no active key-agreement key: publish one with \`cloister directory publish --key ${key.name}\``,
        );
      throw error;
    }
  } else check_key_id(key_id, '--key-id');
  const { envelope } = await seal({
    key,
    sender_key_id: key_id,
    to,
    body: { type: argv.type, content: argv.text },
    resolver: directory,
  });
  write_json(envelope);
}

type OpenArgs = NetworkArgs & { seen?: string };

async function open_command(argv: OpenArgs): Promise<void> {
  const { key, dir } = await channel_session(argv);
  const text = (await read_stdin(STDIN_BYTES_MAX)).trim();
  if (text === '') throw new UsageError('stdin is empty: pipe one envelope (JSON) into `cloister msg open`');
  const storage = argv.seen === undefined ? new FileStorage(dir) : FileStorage.single(argv.seen);
  const guard = new ReplayGuard(storage, { document: MSG_SEEN_DOCUMENT });
  const directory = new DirectoryClient(make_client(argv, [key]));
  const message = await open(text, { key, resolver: directory, guard });
  if (argv.json) return write_json(message);
  const { type, content } = message.body;
  process.stdout.write(
    `${type === KILT_TEXT_TYPE && typeof content === 'string' ? content : JSON.stringify(message.body)}\n`,
  );
}

/** Registers `cloister msg`. */
export function msg_commands(y: Argv): Argv {
  return y.command(
    'msg',
    'KILT-style envelopes: a message NaCl-boxed from one published key-agreement key to another, for any transport',
    (m) =>
      m
        .command(
          'seal <text>',
          "seal TEXT for --to's key; prints the envelope {ciphertext, nonce, senderKeyUri, receiverKeyUri} as one line of JSON",
          (c) =>
            network_options(c)
              .positional('text', { type: 'string', demandOption: true })
              .option('to', {
                type: 'string',
                demandOption: true,
                describe:
                  "receiver's key URI cloister:<address>#<key-id> (an address or key name: that account's newest key)",
              })
              .option('key-id', {
                type: 'string',
                describe: "which of --key's published key ids seals (default: its newest active one)",
              })
              .option('type', {
                type: 'string',
                default: KILT_TEXT_TYPE,
                describe: 'body type (a-z 0-9 -, e.g. text)',
              }),
          action(seal_command),
        )
        .command(
          'open',
          'read one envelope (JSON) from stdin, check it and print its text (--json: the whole message); an envelope opens once',
          (c) =>
            network_options(c).option('seen', {
              type: 'string',
              describe:
                'file of the ids of accepted envelopes (default <key file dir>/channels/<key name>/kilt-seen-ids.json)',
            }),
          action(open_command),
        )
        .demandCommand(1, 'name a msg command: seal, open'),
  );
}
