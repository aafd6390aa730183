/**
 * `cloister stream create|grant|revoke|publish|read|rotate|rekey|serve|show` (docs/channels.md
 * "Streams"): Streamr-style encrypted streams over the stream ACL and key keeper system contracts.
 * Group keys are kept in `<keyring dir>/channels/<key name>`, sealed with a key derived from the
 * account key.
 * @module
 */

import type { Argv } from 'yargs';
import { FileStorage } from '../../sdk/channels/storage_file_node.js';
import { is_stream_id, STREAM_PLAINTEXT_BYTES_MAX } from '../../sdk/channels/stream_crypto.js';
import type { KeyExchangeScheme } from '../../sdk/channels/stream_key_exchange.js';
import { PUBLISHER_NEEDS_SUBSCRIBE, StreamClient, type StreamReadItem } from '../../sdk/channels/streams.js';
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

interface StreamSession {
  key: ClientKey;
  client: CloisterClient;
  streams: StreamClient;
  /** Key names of the key file by address, to print beside addresses. */
  names: Map<string, string>;
}

/** Unlocks `--key` and opens its stream client (group keys in `<keyring dir>/channels/<name>`). */
async function session(argv: NetworkArgs): Promise<StreamSession> {
  const { key, client, dir, names } = await channel_session(argv);
  return { key, client, streams: new StreamClient(client, key, { storage: new FileStorage(dir) }), names };
}

/**
 * A stream id from the command line: `<owner>/<name>` where the owner is an address or a key name
 * of the key file, or a bare `<name>` for a stream of `--key`.
 */
async function stream_of(argv: NetworkArgs, s: StreamSession, text: string): Promise<string> {
  if (typeof text !== 'string' || text.length === 0 || text.length > 128)
    throw new UsageError('STREAM must be <owner>/<name> or a name of your own stream');
  const slash = text.indexOf('/');
  const stream =
    slash < 0
      ? `${s.streams.address}/${text}`
      : `${(await address_of(argv, text.slice(0, slash), 'the owner of STREAM')).address}/${text.slice(slash + 1)}`;
  if (!is_stream_id(stream))
    throw new UsageError(
      `STREAM ${JSON.stringify(text)} must be <owner>/<name> (owner: an address or key name; name: 1-32 of a-z 0-9 _ -)`,
    );
  return stream;
}

async function create(argv: NetworkArgs & { name: string }): Promise<void> {
  const s = await session(argv);
  const { stream, outcome } = await s.streams.create(argv.name);
  if (argv.json) return write_json({ stream, height: outcome.record?.height ?? null });
  write_lines([
    row('created', stream),
    `grant access with \`cloister stream grant ${argv.name} ACCOUNT --subscribe\`; publish with \`cloister stream publish ${argv.name} TEXT\``,
  ]);
}

type GrantArgs = NetworkArgs & {
  stream: string;
  account: string;
  publish: boolean;
  subscribe: boolean;
  'expires-ms'?: string;
  rekey: boolean;
};

async function grant(argv: GrantArgs): Promise<void> {
  if (!argv.publish && !argv.subscribe)
    throw new UsageError(
      'name what to grant: --subscribe, or --subscribe --publish (`stream revoke` removes a member)',
    );
  if (argv.publish && !argv.subscribe)
    throw new UsageError(`--publish needs --subscribe: ${PUBLISHER_NEEDS_SUBSCRIBE}`);
  const s = await session(argv);
  const stream = await stream_of(argv, s, argv.stream);
  const { address } = await address_of(argv, argv.account, 'ACCOUNT');
  const expires_ms =
    argv['expires-ms'] === undefined ? null : parse_count(argv['expires-ms'], '--expires-ms');
  const r = await s.streams.grant(
    stream,
    address,
    { publish: argv.publish, subscribe: argv.subscribe, expires_ms },
    { rekey: argv.rekey },
  );
  const perms = [argv.subscribe ? 'subscribe' : '', argv.publish ? 'publish' : ''].filter((x) => x !== '');
  if (argv.json)
    return write_json({ stream, account: address, permissions: perms, expires_ms, rekeyed: r.key_id });
  const subscribes = argv.subscribe && (expires_ms === null || expires_ms > Date.now());
  const why = subscribes
    ? 'the new member reads from the next message on'
    : 're-keyed: the member may no longer subscribe, and cannot read later messages';
  write_lines([
    row('granted', `${perms.join(' + ')} on ${stream} to ${who(s, address)}`),
    ...(expires_ms === null ? [] : [row('expires', new Date(expires_ms).toISOString())]),
    ...(r.key_id === null ? [] : [row('new group key', `${r.key_id} (${why})`)]),
  ]);
}

async function revoke(argv: NetworkArgs & { stream: string; account: string }): Promise<void> {
  const s = await session(argv);
  const stream = await stream_of(argv, s, argv.stream);
  const { address } = await address_of(argv, argv.account, 'ACCOUNT');
  const r = await s.streams.revoke(stream, address);
  if (argv.json) return write_json({ stream, account: address, rekeyed: r.key_id });
  write_lines([
    row('revoked', `${who(s, address)} from ${stream}`),
    row('new group key', `${r.key_id} (re-keyed: the removed member cannot read later messages)`),
  ]);
}

async function publish(argv: NetworkArgs & { stream: string; text: string }): Promise<void> {
  const s = await session(argv);
  const stream = await stream_of(argv, s, argv.stream);
  if (new TextEncoder().encode(argv.text).length > STREAM_PLAINTEXT_BYTES_MAX)
    throw new UsageError(`TEXT is over ${STREAM_PLAINTEXT_BYTES_MAX} bytes`);
  const r = await s.streams.publish(stream, argv.text);
  if (argv.json) return write_json({ stream, seq: r.seq, key_id: r.key_id, new_key_id: r.new_key_id });
  write_lines([
    `published #${r.seq} on ${stream} (group key ${r.key_id}${r.new_key_id === null ? '' : `, carries the next key ${r.new_key_id}`})`,
  ]);
}

async function rotate(argv: NetworkArgs & { stream: string }): Promise<void> {
  const s = await session(argv);
  const stream = await stream_of(argv, s, argv.stream);
  const next = await s.streams.rotate(stream);
  if (argv.json) return write_json({ stream, next_key_id: next });
  write_lines([
    row('next group key', next),
    'the next message carries it, encrypted under the current key; it is also set in the key keeper',
  ]);
}

async function rekey(argv: NetworkArgs & { stream: string }): Promise<void> {
  const s = await session(argv);
  const stream = await stream_of(argv, s, argv.stream);
  const key_id = await s.streams.rekey(stream);
  if (argv.json) return write_json({ stream, key_id });
  write_lines([
    row('new group key', key_id),
    'used from the next message on, set in the key keeper and never sent under an old key: members removed or expired cannot read later messages',
  ]);
}

function item_line(item: StreamReadItem): string {
  if ('text' in item) return `#${item.seq} ${item.text}`;
  const why = item.undecryptable.startsWith('no key ') ? `no key ${item.key_id}` : item.undecryptable;
  return `#${item.seq} [cannot decrypt: ${why}]`;
}

type ReadArgs = NetworkArgs & {
  stream: string;
  follow: boolean;
  'from-seq'?: string;
  'request-keys': boolean;
  pq: boolean;
  'key-timeout': number;
};

async function read(argv: ReadArgs): Promise<void> {
  const s = await session(argv);
  const stream = await stream_of(argv, s, argv.stream);
  const from_seq = argv['from-seq'] === undefined ? undefined : parse_count(argv['from-seq'], '--from-seq');
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  const scheme: KeyExchangeScheme = argv.pq ? 'ml-kem-1024' : 'x25519';
  let count = 0;
  for await (const item of s.streams.read(stream, {
    from_seq,
    follow: argv.follow,
    signal: stop.signal,
    request_keys:
      argv['request-keys'] || argv.pq ? { scheme, timeout_ms: argv['key-timeout'] * 1000 } : undefined,
  })) {
    count++;
    if (argv.json) write_json(item);
    else write_lines([item_line(item)]);
  }
  if (count === 0 && !argv.json) process.stderr.write(`cloister: no messages on ${stream}\n`);
}

async function serve(argv: NetworkArgs & { stream: string; 'pq-only': boolean }): Promise<void> {
  const s = await session(argv);
  const stream = await stream_of(argv, s, argv.stream);
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  if (!argv.json) process.stderr.write(`answering key requests on ${stream}; Ctrl-C stops\n`);
  await s.streams.answer_requests(stream, {
    signal: stop.signal,
    require_pq: argv['pq-only'],
    on_answer: (r) => {
      if (argv.json)
        return write_json({ ...r, ...(r.error === undefined ? {} : { error: r.error.to_json() }) });
      write_lines([
        r.error === undefined
          ? `answered ${r.request_id} from ${who(s, r.subscriber)} (#${r.seq})`
          : `refused ${r.request_id} from ${who(s, r.subscriber)}: ${r.error.message}`,
      ]);
    },
  });
}

async function show(argv: NetworkArgs & { stream: string }): Promise<void> {
  const s = await session(argv);
  const stream = await stream_of(argv, s, argv.stream);
  const [info, members, local] = await Promise.all([
    s.streams.info(stream),
    s.streams.members(stream),
    s.streams.local_keys(stream),
  ]);
  if (argv.json) return write_json({ stream, ...info, members, local_keys: local });
  const perm = (m: { publish: boolean; subscribe: boolean }) =>
    [m.subscribe ? 'subscribe' : '', m.publish ? 'publish' : ''].filter((x) => x !== '').join('+') || 'none';
  write_lines([
    row('stream', stream),
    row('owner', who(s, info.owner)),
    row('key keeper', info.keeper ?? 'none'),
    row('messages', `seq ${info.seq} (every kind), created at height ${info.created_height}`),
    ...(info.removed_height === null ? [] : [row('last removal', `at height ${info.removed_height}`)]),
    row(
      'local group keys',
      `${local.ids.length}${local.current === null ? '' : `, current ${local.current}`}${local.next === null ? '' : `, next ${local.next}`}`,
    ),
    ...(local.rekey_pending
      ? [row('re-key pending', 'a removal was not re-keyed: the next publish or rotate re-keys first')]
      : []),
    ...members.map((m) =>
      row(
        'member',
        `${who(s, m.account)}  ${perm(m)}  granted at ${m.granted_height}${m.expires_ms === null ? '' : `  expires ${new Date(m.expires_ms).toISOString()}`}`,
      ),
    ),
  ]);
}

const STREAM_HELP =
  'STREAM is <owner>/<name> (owner: an address or a key name of the key file), or just <name> for a stream of --key';

/** Registers `cloister stream`. */
export function stream_commands(y: Argv): Argv {
  return y.command(
    'stream',
    'end-to-end encrypted streams (Streamr-style): create, grant, revoke, publish, read, rotate, rekey, serve, show',
    (d) =>
      d
        .command(
          'create <name>',
          "create the stream <--key's address>/<name> in the stream ACL, with the system key keeper",
          (c) =>
            network_options(c).positional('name', {
              type: 'string',
              demandOption: true,
              describe: '1-32 characters of a-z 0-9 _ -',
            }),
          action(create),
        )
        .command(
          'grant <stream> <account>',
          `let ACCOUNT (an address or key name) subscribe, and with --publish publish too; replaces what it had. A new subscriber reads from the next message on (the owner re-keys after the grant); a grant whose --expires-ms is already past cuts a subscriber off (re-keyed, like revoke). ${STREAM_HELP}`,
          (c) =>
            network_options(c)
              .positional('stream', { type: 'string', demandOption: true })
              .positional('account', { type: 'string', demandOption: true })
              .option('publish', {
                type: 'boolean',
                default: false,
                describe: 'may publish messages too (with --subscribe: publishers share the group key)',
              })
              .option('subscribe', {
                type: 'boolean',
                default: false,
                describe: 'may get group keys (key keeper, key requests)',
              })
              .option('expires-ms', {
                type: 'string',
                describe:
                  'permissions lapse at this time, ms since the Unix epoch (block time); default never',
              })
              .option('rekey', {
                type: 'boolean',
                default: true,
                describe:
                  'make a fresh group key after granting a new subscriber (--no-rekey: it reads only once you rotate); a removal always re-keys',
              }),
          action(grant),
        )
        .command(
          'revoke <stream> <account>',
          `remove ACCOUNT from the stream and re-key: it keeps what it could read, and cannot read later messages. ${STREAM_HELP}`,
          (c) =>
            network_options(c)
              .positional('stream', { type: 'string', demandOption: true })
              .positional('account', { type: 'string', demandOption: true }),
          action(revoke),
        )
        .command(
          'publish <stream> <text>',
          `encrypt TEXT under the current group key, sign it and publish it (the owner's first message makes the first key). ${STREAM_HELP}`,
          (c) =>
            network_options(c)
              .positional('stream', { type: 'string', demandOption: true })
              .positional('text', { type: 'string', demandOption: true }),
          action(publish),
        )
        .command(
          'read <stream>',
          `print each message as "#SEQ TEXT", or "#SEQ [cannot decrypt: REASON]" for one this key may not decrypt. Keys come from the local store, rotation links, the key keeper, and (--request-keys) the publisher. ${STREAM_HELP}`,
          (c) =>
            network_options(c)
              .positional('stream', { type: 'string', demandOption: true })
              .option('follow', {
                type: 'boolean',
                default: false,
                describe: 'keep printing messages as they are committed (Ctrl-C stops)',
              })
              .option('from-seq', { type: 'string', describe: 'skip messages before this seq' })
              .option('request-keys', {
                type: 'boolean',
                default: false,
                describe:
                  'ask the publisher in-stream for keys nobody else gives (it must run `stream serve`)',
              })
              .option('pq', {
                type: 'boolean',
                default: false,
                describe:
                  'key requests over ML-KEM-1024 (post-quantum) instead of X25519; implies --request-keys',
              })
              .option('key-timeout', {
                type: 'number',
                default: 15,
                describe: 'seconds to wait for the publisher to answer a key request',
              }),
          action(read),
        )
        .command(
          'rotate <stream>',
          `queue a next group key: the next message carries it encrypted under the current one (holders of the current key follow; to cut someone off use revoke). ${STREAM_HELP}`,
          (c) => network_options(c).positional('stream', { type: 'string', demandOption: true }),
          action(rotate),
        )
        .command(
          'rekey <stream>',
          `make a fresh group key, set in the key keeper and never sent under an old key (Streamr's re-key): members removed or whose subscription lapsed cannot read later messages. Drops a queued rotation. The owner's publish also re-keys by itself when a member's subscription lapsed after the current key was set. ${STREAM_HELP}`,
          (c) => network_options(c).positional('stream', { type: 'string', demandOption: true }),
          action(rekey),
        )
        .command(
          'serve <stream>',
          `answer key requests addressed to --key on the stream, checking the ACL, until Ctrl-C. ${STREAM_HELP}`,
          (c) =>
            network_options(c)
              .positional('stream', { type: 'string', demandOption: true })
              .option('pq-only', {
                type: 'boolean',
                default: false,
                describe: 'refuse X25519 key requests (post-quantum ML-KEM-1024 only)',
              }),
          action(serve),
        )
        .command(
          'show <stream>',
          `the stream's owner, keeper, members and the group keys held locally. ${STREAM_HELP}`,
          (c) => network_options(c).positional('stream', { type: 'string', demandOption: true }),
          action(show),
        )
        .demandCommand(
          1,
          'name a stream command: create, grant, revoke, publish, read, rotate, rekey, serve, show',
        ),
  );
}
