/**
 * `cloister kx invite|accept|status` (docs/channels.md "Mailbox key exchange"): evan.network's key
 * exchange through the mailbox system contract. The inviter seals a fresh communication key under
 * an exchange key (X25519 of both parties' directory keys, through HKDF bound to both key URIs)
 * and mails it; the invitee accepts whenever it likes, optionally confirming with a MAC under the
 * new key. Contacts and their keys live in `<keyring dir>/channels/<key name>/`, sealed under a
 * key derived from the account key. `kx accept` deletes the invites it takes or skips from the
 * inbox; one it refuses is refused for good, reported once, and stays until `cloister mail delete`.
 * @module
 */

import type { Argv } from 'yargs';
import { DirectoryClient } from '../../sdk/channels/directory.js';
import { ChannelError, ChannelErrorCode, UnknownKeyError } from '../../sdk/channels/errors.js';
import {
  type AcceptFailure,
  type AcceptResult,
  type ContactInfo,
  EPOCH_BLOCKS_DEFAULT,
  EPOCH_BLOCKS_MAX,
  EvanChannel,
  epoch_of,
} from '../../sdk/channels/evan.js';
import { check_key_id, type DirectoryKey, parse_key_uri } from '../../sdk/channels/key_uri.js';
import { MailboxClient } from '../../sdk/channels/mailbox.js';
import { FileStorage } from '../../sdk/channels/storage_file_node.js';
import type { CloisterClient } from '../../sdk/client.js';
import type { ClientKey } from '../../sdk/keys.js';
import {
  action,
  address_of,
  type NetworkArgs,
  network_options,
  parse_count,
  row,
  UsageError,
  write_json,
  write_lines,
} from '../client_commands.js';
import { channel_session, who } from './session.js';

/** Everything an evan command works with, for one key. */
export interface EvanSession {
  key: ClientKey;
  client: CloisterClient;
  directory: DirectoryClient;
  mailbox: MailboxClient;
  channel: EvanChannel;
  /** `<keyring dir>/channels/<key name>`. */
  dir: string;
  /** Key names of the key file by address, to print beside addresses. */
  names: Map<string, string>;
}

/** Unlocks `--key`, and opens its directory, mailbox and evan channel (store in the channel dir). */
export async function evan_session(argv: NetworkArgs): Promise<EvanSession> {
  const { key, client, dir, names } = await channel_session(argv);
  const directory = new DirectoryClient(client);
  const mailbox = new MailboxClient(client, key);
  const channel = new EvanChannel({
    key,
    mailbox,
    resolver: directory,
    store: new FileStorage(dir),
    height: async () => (await client.status()).height,
  });
  return { key, client, directory, mailbox, channel, dir, names };
}

/** The directory's newest usable key of `address`, or an error saying who must publish one. */
async function current_key(s: EvanSession, address: string, mine: boolean): Promise<DirectoryKey> {
  try {
    return await s.directory.current(address);
  } catch (error) {
    if (!(error instanceof UnknownKeyError)) throw error;
    throw new ChannelError(
      ChannelErrorCode.UNKNOWN_KEY,
      mine
        ? `${who(s, address)} has no usable key-agreement key in the directory: publish one with \`cloister directory publish --key ${s.key.name}\``
        : `${who(s, address)} has no usable key-agreement key in the directory: its owner must run \`cloister directory publish\` first`,
    );
  }
}

// ---- invite ---------------------------------------------------------------------------------

type InviteArgs = NetworkArgs & {
  peer: string;
  'key-id'?: string;
  'peer-key-uri'?: string;
  'epoch-blocks'?: string;
};

async function invite(argv: InviteArgs): Promise<void> {
  const epoch_blocks =
    argv['epoch-blocks'] === undefined
      ? EPOCH_BLOCKS_DEFAULT
      : parse_count(argv['epoch-blocks'], '--epoch-blocks', 1);
  if (epoch_blocks > EPOCH_BLOCKS_MAX)
    throw new UsageError(`--epoch-blocks must be at most ${EPOCH_BLOCKS_MAX}`);
  if (argv['key-id'] !== undefined) check_key_id(argv['key-id'], '--key-id');
  // PEER: an address, a key name of the key file, or a key URI.
  const uri_given = argv['peer-key-uri'] ?? (argv.peer.startsWith('cloister:') ? argv.peer : undefined);
  const peer = uri_given === undefined ? (await address_of(argv, argv.peer, 'PEER')).address : undefined;
  if (uri_given !== undefined) {
    const ref = parse_key_uri(uri_given);
    if (!argv.peer.startsWith('cloister:')) {
      const named = (await address_of(argv, argv.peer, 'PEER')).address;
      if (named !== ref.address)
        throw new UsageError(`--peer-key-uri ${uri_given} is not a key of PEER ${named}`);
    }
  }
  const s = await evan_session(argv);
  const peer_uri = uri_given ?? (await current_key(s, peer!, false)).uri;
  const key_id = argv['key-id'] ?? (await current_key(s, s.channel.address, true)).key_id;
  const r = await s.channel.invite(peer_uri, { key_id, epoch_blocks });
  if (argv.json) return write_json({ ...r, channel_dir: s.dir });
  write_lines([
    row('invited', who(s, r.peer)),
    row('from key', r.from_uri),
    row('to key', r.to_uri),
    row('invite id', r.invite_id),
    ...(r.replaces === null
      ? []
      : [row('replaces', `invite ${r.replaces} (a re-key: the peer takes this one)`)]),
    row('epochs', `${r.epoch_blocks} blocks each, from epoch ${r.start_epoch}`),
    row('mail id', String(r.mail_id)),
    row('state', 'invited: you can send mail now; the peer reads it once it accepts'),
    `the peer accepts with \`cloister kx accept --key THEIR_KEY ${s.channel.address} --confirm\``,
  ]);
}

// ---- accept ---------------------------------------------------------------------------------

type AcceptArgs = NetworkArgs & { peer?: string; confirm: boolean };

function failure_json(f: AcceptFailure): Record<string, unknown> {
  return { mail_id: f.mail_id, peer: f.peer, reported: f.reported, error: f.error.to_json() };
}

function accepted_line(s: EvanSession, a: AcceptResult): string {
  const sent = a.confirm_mail_id === undefined ? '' : ' (confirmation sent)';
  return a.status === 'accepted'
    ? `accepted invite ${a.invite_id} from ${who(s, a.peer)}${sent}`
    : `skipped invite ${a.invite_id} from ${who(s, a.peer)}: ${a.reason}`;
}

/** A refused invite, and how to get rid of it: it is checked as of its height, so it never holds later. */
function refused_line(s: EvanSession, f: AcceptFailure): string {
  return `refused invite (mail ${f.mail_id}) from ${who(s, f.peer)}: ${f.error.message}; it will not hold later either: delete it with \`cloister mail delete --key ${s.key.name} ${f.mail_id}\``;
}

/** One line for the refused invites reported by an earlier `kx accept`, or none. */
function reported_lines(s: EvanSession, failed: AcceptFailure[]): string[] {
  const ids = failed.filter((f) => f.reported).map((f) => f.mail_id);
  if (ids.length === 0) return [];
  return [
    `${ids.length} invite${ids.length === 1 ? '' : 's'} refused before still in your inbox (mail ${ids.join(', ')}): delete with \`cloister mail delete --key ${s.key.name} ${ids.join(' ')}\``,
  ];
}

async function accept(argv: AcceptArgs): Promise<void> {
  const from = argv.peer === undefined ? undefined : (await address_of(argv, argv.peer, 'PEER')).address;
  const s = await evan_session(argv);
  const { accepted, failed } = await s.channel.accept_pending({
    ...(from === undefined ? {} : { from }),
    confirm: argv.confirm,
  });
  if (from !== undefined && accepted.length === 0) {
    // PEER named: say why nothing was taken, whether or not an earlier run reported it.
    const f = failed[0];
    if (f === undefined)
      throw new ChannelError(
        ChannelErrorCode.NO_CONTACT,
        `no invite from ${who(s, from)} in your inbox: they invite with \`cloister kx invite --key THEIR_KEY ${s.channel.address}\``,
      );
    if (!argv.json) write_lines([refused_line(s, f)]);
    throw f.error;
  }
  if (argv.json) return write_json({ accepted, failed: failed.map(failure_json) });
  const fresh = failed.filter((f) => !f.reported);
  if (accepted.length === 0 && failed.length === 0) return write_lines(['no pending invites in your inbox']);
  write_lines([
    ...accepted.map((a) => accepted_line(s, a)),
    ...fresh.map((f) => refused_line(s, f)),
    ...reported_lines(s, failed),
  ]);
  // Exit 1 only for a refusal not reported before: a refused invite does not fail every run.
  if (accepted.length === 0 && fresh[0] !== undefined) throw fresh[0].error;
}

// ---- status ---------------------------------------------------------------------------------

function contact_json(c: ContactInfo, height: number): Record<string, unknown> {
  return { ...c, current_epoch: epoch_of(height, c.epoch_blocks) };
}

async function status(argv: NetworkArgs): Promise<void> {
  const s = await evan_session(argv);
  const taken = await s.channel.take_confirmations();
  const height = (await s.client.status()).height;
  const contacts = await s.channel.contacts();
  if (argv.json)
    return write_json({
      address: s.channel.address,
      height,
      contacts: contacts.map((c) => contact_json(c, height)),
      confirmed_now: taken.confirmed,
      refused_confirmations: taken.failed.map(failure_json),
    });
  const lines = [
    ...taken.confirmed.map((peer) => `confirmation from ${who(s, peer)}: contact confirmed`),
    ...taken.failed.map(
      (f) => `refused confirmation (mail ${f.mail_id}) from ${who(s, f.peer)}: ${f.error.message}`,
    ),
  ];
  if (contacts.length === 0) {
    lines.push(`no contacts yet: invite one with \`cloister kx invite --key ${s.key.name} PEER\``);
    return write_lines(lines);
  }
  for (const c of contacts) {
    lines.push(
      `${who(s, c.peer)}`,
      row('  state', `${c.state} (${c.inviter ? 'you invited' : 'they invited'}, height ${c.height})`),
      row('  my key', c.my_uri),
      row('  peer key', c.peer_uri),
      row(
        '  epoch',
        `keys from epoch ${c.base_epoch} on (now ${epoch_of(height, c.epoch_blocks)}, ${c.epoch_blocks} blocks each)`,
      ),
    );
  }
  write_lines(lines);
}

/** Registers `cloister kx`. */
export function kx_commands(y: Argv): Argv {
  return y.command(
    'kx',
    'evan.network-style key exchange through the mailbox: invite a peer, accept invites, list contacts',
    (k) =>
      k
        .command(
          'invite <peer>',
          "send PEER (an address, a key name, or a key URI) a fresh communication key sealed under X25519 of your and PEER's directory keys; you can mail them at once, they read it once they accept",
          (c) =>
            network_options(c)
              .positional('peer', {
                type: 'string',
                demandOption: true,
                describe: 'address, key name of the key file, or cloister:<address>#<key-id>',
              })
              .option('key-id', {
                type: 'string',
                describe: 'your key-agreement key to use (default: your newest usable one in the directory)',
              })
              .option('peer-key-uri', {
                type: 'string',
                describe: "the peer's key URI (default: its newest usable key in the directory)",
              })
              .option('epoch-blocks', {
                type: 'string',
                describe: `blocks per key epoch: mail keys move forward every epoch and older ones are forgotten (default ${EPOCH_BLOCKS_DEFAULT})`,
              })
              .example('$0 kx invite --key alice bob', 'invite the key named bob of your key file')
              .example('$0 kx invite --key alice cloister:0123…#kx2', "invite using the peer's key kx2"),
          action(invite),
        )
        .command(
          'accept [peer]',
          'accept the invites in your inbox (all, or only those from PEER); checks the on-chain sender owns the key the invite names (as the directory had it at the invite), stores the contact, and deletes the invites taken or skipped; a refused invite is reported once and stays until `cloister mail delete`',
          (c) =>
            network_options(c)
              .positional('peer', { type: 'string', describe: 'only invites from this address or key name' })
              .option('confirm', {
                type: 'boolean',
                default: false,
                describe:
                  'mail the inviter a key confirmation (a MAC under the new key) so its side turns confirmed; for an invite already accepted, sends it again',
              }),
          action(accept),
        )
        .command(
          'status',
          'your contacts: state (invited, accepted, confirmed), keys and epochs; takes confirmations from your inbox first',
          (c) => network_options(c),
          action(status),
        )
        .demandCommand(1, 'name a kx command: invite, accept, status'),
  );
}
