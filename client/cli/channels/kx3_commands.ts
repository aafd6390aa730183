/**
 * `cloister kx3` (docs/channels.md "Three-phase key exchange"): runs IRCrypt's three-phase key
 * exchange between two keys of this machine, as two parties in one process over the mailbox
 * system contract (each party sends its mails signed with its own key), shows each phase on
 * stderr, prints the session key's fingerprint for both sides (never the key) and whether they
 * match, and keeps the key and the pinned fingerprints in each side's sealed channel store
 * (`<key file's folder>/channels/<key name>`).
 * @module
 */

import type { Argv } from 'yargs';
import { DirectoryClient } from '../../sdk/channels/directory.js';
import { check_key_id } from '../../sdk/channels/key_uri.js';
import { derived_secret, KX_KEY_ID_DEFAULT } from '../../sdk/channels/kx_keys.js';
import type { Kx3Progress, Kx3Result } from '../../sdk/channels/kx3.js';
import { fingerprint, fingerprint_text } from '../../sdk/channels/kx3_crypto.js';
import { Kx3AbortedError } from '../../sdk/channels/kx3_errors.js';
import { MailboxLineTransport } from '../../sdk/channels/kx3_mailbox.js';
import { Kx3Store, kx3_exchange } from '../../sdk/channels/kx3_transport.js';
import { MailboxClient } from '../../sdk/channels/mailbox.js';
import { sealed_storage } from '../../sdk/channels/storage.js';
import { FileStorage } from '../../sdk/channels/storage_file_node.js';
import { type ClientKey, key_info, timer_sleep, web_random } from '../../sdk/index.js';
import { keyring_path, load_keyring } from '../../sdk/keyfile_node.js';
import {
  action,
  make_client,
  type NetworkArgs,
  network_options,
  open_keyring,
  pick_key_name,
  row,
  UsageError,
  unlock_named,
  write_json,
  write_lines,
} from '../client_commands.js';
import { channel_dir } from './session.js';

type Kx3Args = NetworkArgs & {
  peer: string;
  'peer-keyring'?: string | undefined;
  'key-id': string;
  'peer-key-id'?: string | undefined;
  repin: boolean;
  'check-directory': boolean;
  'retransmit-s': number;
};

interface Side {
  key: ClientKey;
  key_id: string;
  address: string;
  dir: string;
  store: Kx3Store;
}

async function side(key: ClientKey, key_id: string, keyring_file: string): Promise<Side> {
  const dir = channel_dir(keyring_file, key.name);
  const storage = sealed_storage(new FileStorage(dir), derived_secret(key, 'channel-store'));
  return { key, key_id, address: key_info(key).address, dir, store: new Kx3Store(storage) };
}

function progress(name: string): (p: Kx3Progress) => void {
  return (p) =>
    process.stderr.write(`kx3 ${name}: phase ${p.phase}: ${p.warning ? 'warning: ' : ''}${p.message}\n`);
}

async function run(argv: Kx3Args): Promise<void> {
  if (!(argv.timeout > 0)) throw new UsageError('--timeout must be a positive number of seconds');
  if (!(argv['retransmit-s'] > 0))
    throw new UsageError('--retransmit-s must be a positive number of seconds');
  check_key_id(argv['key-id'], '--key-id');
  const peer_key_id = argv['peer-key-id'] ?? argv['key-id'];
  check_key_id(peer_key_id, '--peer-key-id');
  const own = await open_keyring(argv);
  const key_a = await unlock_named(own.keyring, pick_key_name(own.keyring, argv.key, own.path), argv);
  const peer_file =
    argv['peer-keyring'] === undefined ? own.path : keyring_path({ flag: argv['peer-keyring'] });
  const peer_ring = peer_file === own.path ? own : await load_keyring(peer_file);
  if (!peer_ring.keyring.has(argv.peer))
    throw new UsageError(
      `--peer ${JSON.stringify(argv.peer)} is not a key in ${peer_file}: kx3 runs both parties here, so it needs both keys (name another key file with --peer-keyring)`,
    );
  const key_b = await unlock_named(peer_ring.keyring, argv.peer, argv);
  const a = await side(key_a, argv['key-id'], own.path);
  const b = await side(key_b, peer_key_id, peer_file);
  if (a.address === b.address) throw new UsageError('--key and --peer are the same account');

  const client = make_client(argv, [key_a, key_b]);
  const sleep = timer_sleep;
  const [ta, tb] = await Promise.all([
    MailboxLineTransport.open(new MailboxClient(client, key_a), b.address, { sleep }),
    MailboxLineTransport.open(new MailboxClient(client, key_b), a.address, { sleep }),
  ]);
  const resolver = argv['check-directory'] ? new DirectoryClient(client) : undefined;
  const common = {
    repin: argv.repin,
    timeout_ms: Math.round(argv.timeout * 1000),
    retransmit_ms: Math.round(argv['retransmit-s'] * 1000),
    part_timeout_ms: Math.round(argv.timeout * 1000),
    poll_ms: 500,
  };
  const started = Date.now();
  const exchange = (me: Side, peer: Side, role: 'initiator' | 'responder', transport: MailboxLineTransport) =>
    kx3_exchange(
      {
        ...common,
        role,
        key: me.key,
        key_id: me.key_id,
        peer: peer.address,
        on_progress: progress(me.key.name),
      },
      {
        transport,
        clock: Date.now,
        random: web_random,
        store: me.store,
        ...(resolver === undefined ? {} : { resolver }),
      },
    );
  const settled = await Promise.allSettled([
    exchange(a, b, 'initiator', ta),
    exchange(b, a, 'responder', tb),
  ]);
  await Promise.allSettled([ta.close(), tb.close()]);
  // The side that found the problem explains it better than the one told by an ERROR line.
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  const cause = failures.find((e) => !(e instanceof Kx3AbortedError && e.reason === 'peer_aborted'));
  if (failures.length > 0) throw cause ?? failures[0];
  const [ra, rb] = settled.map((s) => (s as PromiseFulfilledResult<Kx3Result>).value) as [
    Kx3Result,
    Kx3Result,
  ];
  const match = ra.key_fingerprint === rb.key_fingerprint;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const mails = ta.mails_sent + tb.mails_sent;
  const side_json = (s: Side, r: Kx3Result) => ({
    name: s.key.name,
    address: s.address,
    key_id: s.key_id,
    key_fingerprint: r.key_fingerprint,
    peer_fingerprint: fingerprint_text(fingerprint(r.peer_keys)),
    pin_status: r.pin_status,
    sent_keys: r.sent_keys,
    store: s.dir,
  });
  if (argv.json) {
    write_json({
      ok: match,
      session_id: ra.session_id,
      match,
      sides: [side_json(a, ra), side_json(b, rb)],
      mails,
      seconds: Number(seconds),
    });
  } else {
    const pin_word = {
      pinned: 'pinned fingerprint matched',
      tofu: 'first contact, trusted on first use and pinned',
      repinned: 're-pinned',
    };
    write_lines([
      row('session', ra.session_id),
      row(`${a.key.name} key`, ra.key_fingerprint),
      row(`${b.key.name} key`, rb.key_fingerprint),
      row('keys match', match ? 'yes' : 'NO'),
      row(
        `${a.key.name} sees ${b.key.name}`,
        `${fingerprint_text(fingerprint(ra.peer_keys))} (${pin_word[ra.pin_status]})`,
      ),
      row(
        `${b.key.name} sees ${a.key.name}`,
        `${fingerprint_text(fingerprint(rb.peer_keys))} (${pin_word[rb.pin_status]})`,
      ),
      row('stored', `${a.dir}, ${b.dir} (sealed)`),
      row('mails', `${mails} in ${seconds}s`),
    ]);
  }
  if (!match) throw new Error('the two sides derived different keys');
}

/** Registers `cloister kx3`. */
export function kx3_commands(y: Argv): Argv {
  return y.command(
    'kx3',
    "IRCrypt's three-phase key exchange between two of your keys, over the mailbox",
    (c) =>
      network_options(c)
        .usage('$0 kx3 --key NAME --peer NAME2 [--peer-keyring FILE] [--key-id ID] [--timeout S]')
        .epilogue(
          [
            "Runs IRCrypt's three-phase key exchange as two parties in this process; each sends its lines as mails of kind kx3, signed with its own key.",
            "Phase 1 (PING, PONG, NEXT): each side says which fingerprint it holds for the other's keys.",
            'Phase 2 (PUB): a side whose keys the other lacks, or holds stale, sends them in parts and waits for a receipt.',
            'Phase 3 (COMMIT, SYM, CONFIRM): each side commits to a random half, then reveals it sealed to the peer and signed over the transcript; key = HKDF(both halves, session id, transcript); each side confirms with a MAC under the new key.',
            "Prints the session key's fingerprint for both sides (never the key) and whether they match. Each side keeps the key and the peer's pinned fingerprint in its sealed channel store, <key file's folder>/channels/<key name>. A peer whose fingerprint changed since it was pinned aborts the exchange (possible man in the middle) unless --repin. Exit 1 when the exchange aborts, with the reason.",
          ].join('\n\n'),
        )
        .option('peer', {
          type: 'string',
          demandOption: true,
          describe: 'name of the other key (the responder)',
        })
        .option('peer-keyring', {
          type: 'string',
          describe: 'key file holding --peer (default: the same key file); same passphrase',
        })
        .option('key-id', {
          type: 'string',
          default: KX_KEY_ID_DEFAULT,
          describe: 'key-agreement key id of --key (kx_key_pair(key, id))',
        })
        .option('peer-key-id', {
          type: 'string',
          describe: 'key-agreement key id of --peer (default: --key-id)',
        })
        .option('timeout', {
          type: 'number',
          default: 120,
          describe: 'seconds the whole exchange may take (also the wait for each commit)',
        })
        .option('retransmit-s', {
          type: 'number',
          default: 20,
          describe: 'seconds before a message without receipt is sent again',
        })
        .option('repin', {
          type: 'boolean',
          default: false,
          describe:
            'accept a peer fingerprint that differs from the pinned one (after checking it with the peer)',
        })
        .option('check-directory', {
          type: 'boolean',
          default: false,
          describe: "also require each peer's key-agreement key to be the one the directory lists",
        }),
    action(run),
  );
}
