/**
 * `cloister mail send|inbox|delete` (docs/channels.md "Mailbox key exchange"): mail sealed under
 * the communication key of a `cloister kx` contact, one key per epoch of blocks, through the
 * mailbox system contract, which lists an inbox only to its owner. An inbox holds at most
 * {@link INBOX_MAILS_MAX} mails and then refuses mail, invites included, until its owner deletes
 * some: `mail inbox` says when it is nearly full, and `mail delete` deletes by id or, with
 * `--read`, what `mail inbox` has shown.
 * @module
 */

import type { Argv } from 'yargs';
import { ChannelErrorCode } from '../../sdk/channels/errors.js';
import { type InboxEntry, MAIL_TEXT_BYTES_MAX } from '../../sdk/channels/evan.js';
import { delete_in_batches, INBOX_MAILS_MAX } from '../../sdk/channels/mailbox.js';
import {
  action,
  address_of,
  type NetworkArgs,
  network_options,
  parse_count,
  UsageError,
  write_json,
  write_lines,
} from '../client_commands.js';
import { type EvanSession, evan_session } from './kx_commands.js';
import { who } from './session.js';

/** From this many mails on, `mail inbox` says the inbox is nearly full (7/8 of it). */
export const INBOX_NEARLY_FULL_MAILS = INBOX_MAILS_MAX - INBOX_MAILS_MAX / 8;

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

/** The lines `mail inbox` prints for one entry. */
function entry_lines(s: EvanSession, e: InboxEntry): string[] {
  const head = `#${e.id} ${new Date(e.time_ms).toISOString()} height ${e.height}`;
  const from = who(s, e.from);
  const drop = `delete it with \`cloister mail delete --key ${s.key.name} ${e.id}\``;
  if (e.type === 'mail' && e.error === undefined)
    return [
      `${head} mail from ${from} (epoch ${e.epoch}):`,
      ...(e.text ?? '').split('\n').map((l) => `  ${l}`),
    ];
  if (e.type === 'mail' && e.error?.code === ChannelErrorCode.NO_CONTACT)
    return [
      `${head} mail from ${from}: cannot decrypt yet: ${e.error.message} (it shows again once you have a key)`,
    ];
  if (e.type === 'mail')
    return [`${head} mail from ${from}: cannot decrypt: ${e.error!.message} [code ${e.error!.code}]`];
  if (e.type === 'invite' && e.error === undefined)
    return [
      e.invite?.accepted === true
        ? `${head} invite from ${from} (${e.invite.from_uri}): accepted`
        : `${head} invite from ${from}: run \`cloister kx accept --key ${s.key.name} ${e.from}\``,
    ];
  if (e.type === 'invite') return [`${head} invalid invite from ${from}: ${e.error!.message}; ${drop}`];
  if (e.type === 'confirm' && e.error === undefined)
    return [`${head} key confirmation from ${from}: contact confirmed`];
  if (e.type === 'confirm') return [`${head} invalid key confirmation from ${from}: ${e.error!.message}`];
  return [`${head} ${e.kind} from ${from} (not a mail of this channel)`];
}

/**
 * A warning when the inbox holds {@link INBOX_NEARLY_FULL_MAILS} mails or more (`count`, null
 * when the mailbox does not say), naming the commands that make room for key `key_name`; else nothing.
 */
export function fullness_lines(key_name: string, count: number | null): string[] {
  if (count === null || count < INBOX_NEARLY_FULL_MAILS) return [];
  const state = count >= INBOX_MAILS_MAX ? 'is full' : 'is nearly full';
  return [
    `your inbox ${state}: ${count} of ${INBOX_MAILS_MAX} mails; a full inbox refuses new mail and invites. Delete what you have read with \`cloister mail delete --key ${key_name} --read\`, or mails by id with \`cloister mail delete --key ${key_name} ID...\``,
  ];
}

type InboxArgs = NetworkArgs & { all: boolean };

async function inbox(argv: InboxArgs): Promise<void> {
  const s = await evan_session(argv);
  const entries = await s.channel.inbox({ all: argv.all });
  const count = await s.mailbox.count();
  if (argv.json)
    return write_json({
      address: s.channel.address,
      mails: entries.map(entry_json),
      inbox_count: count,
      inbox_max: INBOX_MAILS_MAX,
    });
  if (entries.length === 0)
    return write_lines([
      argv.all ? 'your inbox is empty' : 'no new mail (`--all` lists every mail still in your inbox)',
      ...fullness_lines(s.key.name, count),
    ]);
  write_lines([...entries.flatMap((e) => entry_lines(s, e)), ...fullness_lines(s.key.name, count)]);
}

type DeleteArgs = NetworkArgs & { ids?: string[]; read: boolean };

async function remove(argv: DeleteArgs): Promise<void> {
  const named = (argv.ids ?? []).map((id) => parse_count(id, 'ID', 1));
  if (named.length === 0 && !argv.read)
    throw new UsageError('name the mail ids to delete (from `cloister mail inbox`), or use --read');
  const s = await evan_session(argv);
  const read = argv.read ? await s.channel.read_ids() : [];
  const ids = [...new Set([...named, ...read])].sort((a, b) => a - b);
  const deleted = await delete_in_batches(ids, (batch) => s.mailbox.remove(batch));
  const count = await s.mailbox.count();
  if (argv.json) return write_json({ ids, deleted, inbox_count: count, inbox_max: INBOX_MAILS_MAX });
  write_lines([
    ids.length === 0
      ? 'nothing to delete: `cloister mail inbox` has shown no mail this channel is done with'
      : `deleted ${deleted} of ${ids.length} mails${deleted < ids.length ? ' (the others were not in your inbox)' : ''}`,
    ...(count === null ? [] : [`your inbox holds ${count} of ${INBOX_MAILS_MAX} mails`]),
  ]);
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
        .command(
          'delete [ids..]',
          `delete mails from your inbox by id (as \`cloister mail inbox\` numbers them), or with --read every mail it has shown that is done with; an inbox holds at most ${INBOX_MAILS_MAX} mails and then refuses new mail and invites`,
          (c) =>
            network_options(c)
              .positional('ids', { type: 'string', array: true, describe: 'mail ids' })
              .option('read', {
                type: 'boolean',
                default: false,
                describe:
                  "also delete what `cloister mail inbox` has already shown: mail (opened or not), key confirmations and accepted invites; invites still to accept, mail waiting for a key exchange and other channels' mail (kx3) stay",
              })
              .example('$0 mail delete --key bob 3 4', 'delete mails 3 and 4')
              .example('$0 mail delete --key bob --read', 'delete the mail you have read'),
          action(remove),
        )
        .demandCommand(1, 'name a mail command: send, inbox, delete'),
  );
}
