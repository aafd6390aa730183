/**
 * `cloister mail send|inbox` (docs/channels.md "Mailbox key exchange"): mail sealed under the
 * communication key of a `cloister kx` contact, one key per epoch of blocks, through the mailbox
 * system contract, which lists an inbox only to its owner.
 * @module
 */

import type { Argv } from 'yargs';
import { type InboxEntry, MAIL_TEXT_BYTES_MAX } from '../../sdk/channels/evan.js';
import {
  action,
  address_of,
  type NetworkArgs,
  network_options,
  UsageError,
  write_json,
  write_lines,
} from '../client_commands.js';
import { evan_session } from './kx_commands.js';
import { who } from './session.js';

/** Reads stdin as UTF-8, at most `bytes_max` bytes. */
async function read_stdin(bytes_max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    const b = chunk as Buffer;
    total += b.length;
    if (total > bytes_max) throw new UsageError(`mail text on stdin is over ${bytes_max} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

type SendArgs = NetworkArgs & { peer: string; text: string };

async function send(argv: SendArgs): Promise<void> {
  const { address } = await address_of(argv, argv.peer, 'PEER');
  const text = argv.text === '-' ? await read_stdin(MAIL_TEXT_BYTES_MAX) : argv.text;
  const s = await evan_session(argv);
  const r = await s.channel.send(address, text);
  if (argv.json) return write_json({ to: address, id: r.id, epoch: r.epoch });
  write_lines([`sent mail ${r.id} to ${who(s, address)} (epoch ${r.epoch})`]);
}

function entry_json(e: InboxEntry): Record<string, unknown> {
  const { error, ...rest } = e;
  return { ...rest, ...(error === undefined ? {} : { error: error.to_json() }) };
}

type InboxArgs = NetworkArgs & { all: boolean };

async function inbox(argv: InboxArgs): Promise<void> {
  const s = await evan_session(argv);
  const entries = await s.channel.inbox({ all: argv.all });
  if (argv.json) return write_json({ address: s.channel.address, mails: entries.map(entry_json) });
  if (entries.length === 0)
    return write_lines([
      argv.all ? 'your inbox is empty' : 'no new mail (`--all` lists every mail still in your inbox)',
    ]);
  const lines: string[] = [];
  for (const e of entries) {
    const head = `#${e.id} ${new Date(e.time_ms).toISOString()} height ${e.height}`;
    const from = who(s, e.from);
    if (e.type === 'mail' && e.error === undefined)
      lines.push(
        `${head} mail from ${from} (epoch ${e.epoch}):`,
        ...(e.text ?? '').split('\n').map((l) => `  ${l}`),
      );
    else if (e.type === 'mail')
      lines.push(`${head} mail from ${from}: cannot decrypt: ${e.error!.message} [code ${e.error!.code}]`);
    else if (e.type === 'invite' && e.error === undefined)
      lines.push(
        e.invite?.accepted === true
          ? `${head} invite from ${from} (${e.invite.from_uri}): accepted`
          : `${head} invite from ${from}: run \`cloister kx accept --key ${s.key.name} ${e.from}\``,
      );
    else if (e.type === 'invite') lines.push(`${head} invalid invite from ${from}: ${e.error!.message}`);
    else if (e.type === 'confirm' && e.error === undefined)
      lines.push(`${head} key confirmation from ${from}: contact confirmed`);
    else if (e.type === 'confirm')
      lines.push(`${head} invalid key confirmation from ${from}: ${e.error!.message}`);
    else lines.push(`${head} ${e.kind} from ${from} (not a mail of this channel)`);
  }
  write_lines(lines);
}

/** Registers `cloister mail`. */
export function mail_commands(y: Argv): Argv {
  return y.command(
    'mail',
    'encrypted mail to `cloister kx` contacts through the mailbox (only you can list your inbox)',
    (m) =>
      m
        .command(
          'send <peer> <text>',
          `seal TEXT (at most ${MAIL_TEXT_BYTES_MAX} bytes; - reads stdin) under the current epoch key of your contact PEER and mail it`,
          (c) =>
            network_options(c)
              .positional('peer', { type: 'string', demandOption: true, describe: 'address or key name' })
              .positional('text', {
                type: 'string',
                demandOption: true,
                describe: 'the text, or - for stdin',
              })
              .example('$0 mail send --key alice bob "hello"', 'needs a contact: `cloister kx invite` first'),
          action(send),
        )
        .command(
          'inbox',
          'read your new mail: mail from contacts decrypted, invites listed (take them with `cloister kx accept`), key confirmations taken; undecryptable mail marked',
          (c) =>
            network_options(c).option('all', {
              type: 'boolean',
              default: false,
              describe: 'every mail still in your inbox, not only those new since the last listing',
            }),
          action(inbox),
        )
        .demandCommand(1, 'name a mail command: send, inbox'),
  );
}
