/**
 * Client commands of the `cloister` CLI, over the SDK in client/sdk/: `keys add|list|show|delete`,
 * `tx store|instantiate|execute|get`, `query`, `status`, `codes`, `contracts get`.
 *
 * Output is human-readable by default and one JSON object with `--json`. Exit codes: 0 ok,
 * 1 failure (with `--json`, `{"ok": false, "error": {"code", "name", "message"}}` where `code` is
 * the protocol.md §5 code, the RPC code ≥ 100 or the client's ≥ 200), 2 usage. User mistakes never
 * print a stack trace.
 * @module
 */

import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { to_hex } from '../../protocol/bytes.js';
import { SCHEMES, type Scheme } from '../../protocol/envelope.js';
import {
  type ClientKey,
  CloisterClient,
  CloisterError,
  type ContractEventJson,
  generate_key,
  type KeyInfo,
  type Keyring,
  type TxOutcome,
  type TxRecord,
} from '../sdk/index.js';
import { keyring_path, type LoadedKeyring, load_keyring, save_keyring } from '../sdk/keyfile_node.js';

/** Where a default node listens (validator 0 of `cloister init` / `npm start`). */
export const NODE_URL_DEFAULT = 'http://127.0.0.1:26657';
/** Largest passphrase file read, in bytes. */
export const PASSPHRASE_FILE_BYTES_MAX = 4096;

/** A mistake in how the command was called: exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface CommonArgs {
  json: boolean;
}

interface KeyringArgs extends CommonArgs {
  keyring?: string | undefined;
  'passphrase-file'?: string | undefined;
}

interface NetworkArgs extends KeyringArgs {
  node: string[];
  'chain-id'?: string | undefined;
  key?: string | undefined;
  scheme: Scheme;
  'gas-limit'?: number | undefined;
  timeout: number;
}

// ---- output ---------------------------------------------------------------------------------

function write_json(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function write_lines(lines: string[]): void {
  process.stdout.write(`${lines.join('\n')}\n`);
}

function row(label: string, value: string): string {
  return `${label.padEnd(18)} ${value}`;
}

/** Reports `error` and exits: 2 for usage mistakes, 1 for everything else. */
function fail(error: unknown, json: boolean): never {
  if (error instanceof UsageError || error instanceof TypeError || error instanceof RangeError) {
    // Argument checks of the SDK throw TypeError/RangeError: the caller's input, so usage.
    if (json) write_json({ ok: false, error: { code: null, name: 'UsageError', message: error.message } });
    process.stderr.write(`cloister: ${error.message}\nRun \`cloister --help\` for usage.\n`);
    process.exit(2);
  }
  if (error instanceof CloisterError) {
    if (json) write_json({ ok: false, error: error.to_json() });
    else process.stderr.write(`cloister: ${error.message} [code ${error.code}]\n`);
    process.exit(1);
  }
  const message = error instanceof Error ? error.message : String(error);
  if (json) write_json({ ok: false, error: { code: null, name: 'Error', message } });
  else process.stderr.write(`cloister: ${message}\n`);
  if (process.env['CLOISTER_DEBUG'] && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
}

/** Wraps a command handler: runs it, exits 0, or reports its error (see {@link fail}). */
function action<A extends CommonArgs>(fn: (argv: A) => Promise<void>): (parsed: unknown) => Promise<void> {
  // yargs types the parsed arguments per builder; each handler names the fields it reads.
  return async (parsed) => {
    const argv = parsed as A;
    try {
      await fn(argv);
    } catch (error) {
      fail(error, argv.json);
    }
    process.exit(0);
  };
}

/**
 * Runs `work` with a spinner on stderr, only when stderr is a terminal (never in pipes or logs).
 */
async function with_spinner<T>(label: string, work: Promise<T>): Promise<T> {
  if (!process.stderr.isTTY) return work;
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let i = 0;
  const started = Date.now();
  const timer = setInterval(() => {
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    process.stderr.write(`\r${frames[i++ % frames.length]} ${label} ${seconds}s`);
  }, 100);
  try {
    return await work;
  } finally {
    clearInterval(timer);
    process.stderr.write('\r\x1b[K');
  }
}

// ---- inputs ---------------------------------------------------------------------------------

/** The passphrase from `--passphrase-file` (first line), else `CLOISTER_PASSPHRASE`, else none. */
function read_passphrase(argv: KeyringArgs): string | undefined {
  const file = argv['passphrase-file'];
  if (file !== undefined) {
    let text: string;
    try {
      const bytes = readFileSync(file);
      if (bytes.length > PASSPHRASE_FILE_BYTES_MAX)
        throw new UsageError(`--passphrase-file ${file} is over ${PASSPHRASE_FILE_BYTES_MAX} bytes`);
      text = bytes.toString('utf8');
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(
        `cannot read --passphrase-file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    // The first line: files written by `echo` end with a newline that is not part of the passphrase.
    const line = text.split(/\r?\n/)[0] ?? '';
    if (line === '') throw new UsageError(`--passphrase-file ${file} is empty`);
    return line;
  }
  const env = process.env['CLOISTER_PASSPHRASE'];
  return env === undefined || env === '' ? undefined : env;
}

function parse_msg(text: string, what = 'MSG_JSON'): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `${what} is not JSON (${(error as Error).message}); quote it for the shell, e.g. '{"increment": {}}'`,
    );
  }
}

async function open_keyring(argv: KeyringArgs): Promise<LoadedKeyring> {
  const loaded = await load_keyring(keyring_path({ flag: argv.keyring }));
  if (loaded.loose_permissions)
    process.stderr.write(
      `cloister: warning: ${loaded.path} is readable by others; run \`chmod 600 ${loaded.path}\`\n`,
    );
  return loaded;
}

/** The key `--key` names, or the only key of the keyring. */
function pick_key_name(keyring: Keyring, name: string | undefined, path: string): string {
  if (name !== undefined) return name;
  const keys = keyring.list();
  if (keys.length === 1) return keys[0]!.name;
  if (keys.length === 0)
    throw new UsageError(
      `no keys in ${path}: add one with \`cloister keys add NAME\` (or name --keyring FILE)`,
    );
  throw new UsageError(`name a key with --key (have: ${keys.map((k) => k.name).join(', ')})`);
}

async function unlock_key(argv: NetworkArgs): Promise<ClientKey> {
  const { keyring, path } = await open_keyring(argv);
  const name = pick_key_name(keyring, argv.key, path);
  return keyring.unlock(name, read_passphrase(argv));
}

function make_client(argv: NetworkArgs, keys: ClientKey[] = []): CloisterClient {
  return new CloisterClient({
    nodes: argv.node,
    chain_id: argv['chain-id'],
    keys,
    ...(argv['gas-limit'] === undefined ? {} : { gas_limit: argv['gas-limit'] }),
    wait_timeout_ms: argv.timeout * 1000,
  });
}

// ---- printing results -----------------------------------------------------------------------

function event_lines(events: ContractEventJson[] | undefined): string[] {
  return (events ?? []).map((e) =>
    row('event', `${e.type}  ${e.attributes.map((a) => `${a.key}=${a.value}`).join(' ')}`.trimEnd()),
  );
}

function outcome_json(o: TxOutcome): Record<string, unknown> {
  const out: Record<string, unknown> = { hash: o.hash, committed: o.record !== null, sequence: o.sequence };
  if (o.record !== null) {
    out['height'] = o.record.height;
    out['index'] = o.record.index;
    out['code'] = o.record.code;
    out['gas_used'] = o.record.gas_used;
  }
  if (o.contract !== undefined) out['contract'] = o.contract;
  if (o.code_id !== undefined) out['code_id'] = o.code_id;
  if (o.code_hash !== undefined) out['code_hash'] = o.code_hash;
  if (o.record !== null && o.data !== undefined) out['data'] = o.data;
  if (o.events !== undefined) out['events'] = o.events;
  return out;
}

function print_outcome(argv: CommonArgs, o: TxOutcome): void {
  if (argv.json) {
    write_json(outcome_json(o));
    return;
  }
  const lines: string[] = [];
  if (o.record === null) {
    lines.push(row('submitted', o.hash));
    if (o.contract !== undefined) lines.push(row('contract', `${o.contract} (once committed)`));
    if (o.code_hash !== undefined) lines.push(row('code hash', o.code_hash));
    lines.push(`not waiting for the commit; see it with \`cloister tx get ${o.hash}\` (or pass --wait)`);
    write_lines(lines);
    return;
  }
  lines.push(
    row('committed', `height ${o.record.height}, index ${o.record.index}, gas used ${o.record.gas_used}`),
  );
  lines.push(row('hash', o.hash));
  if (o.contract !== undefined) lines.push(row('contract', o.contract));
  if (o.code_id !== undefined) lines.push(row('code id', String(o.code_id)));
  if (o.code_hash !== undefined) lines.push(row('code hash', o.code_hash));
  if (o.data !== undefined) lines.push(row('data', JSON.stringify(o.data)));
  lines.push(...event_lines(o.events));
  write_lines(lines);
}

function key_lines(info: KeyInfo & { encrypted?: boolean }): string[] {
  const lines = [
    row('name', info.name),
    row('address', info.address),
    row('account pubkey', info.account_pubkey),
    row('encryption pubkey', info.encryption_pubkey),
  ];
  if (info.encrypted !== undefined)
    lines.push(row('stored', info.encrypted ? 'encrypted with a passphrase' : 'unencrypted'));
  return lines;
}

// ---- option sets ----------------------------------------------------------------------------

function keyring_options<T>(y: Argv<T>) {
  return y
    .option('keyring', {
      type: 'string',
      describe: 'key file (default $CLOISTER_KEYRING, else ~/.cloister/keys.json)',
    })
    .option('passphrase-file', {
      type: 'string',
      describe: "file whose first line is the keys' passphrase (default $CLOISTER_PASSPHRASE)",
    });
}

function network_options<T>(y: Argv<T>) {
  return keyring_options(y)
    .option('node', {
      type: 'string',
      array: true,
      default: [NODE_URL_DEFAULT],
      describe: 'node RPC URL; repeat for fallbacks, tried in order',
    })
    .option('chain-id', { type: 'string', describe: 'refuse a node whose chain id is not this' })
    .option('key', { type: 'string', describe: 'name of the key to sign with (default: the only key)' })
    .option('scheme', {
      choices: SCHEMES,
      default: 'gcm' as Scheme,
      describe: 'envelope scheme (protocol.md §3): gcm, or siv (Secret Network compatible)',
    })
    .option('gas-limit', { type: 'number', describe: 'gas limit of a transaction (default 10000000)' })
    .option('timeout', { type: 'number', default: 120, describe: 'seconds to wait for a commit' });
}

function code_hash_option<T>(y: Argv<T>) {
  return y.option('code-hash', {
    type: 'string',
    describe: "encrypt for this code hash instead of the contract's (for testing the enclave's refusal)",
  });
}

// ---- commands -------------------------------------------------------------------------------

function keys_command(y: Argv): Argv {
  return y.command('keys', 'account and encryption keys in the key file', (k) =>
    keyring_options(k)
      .command(
        'add <name>',
        'make a new key (an Ed25519 account key and an X25519 encryption key) and print its address',
        (c) => c.positional('name', { type: 'string', demandOption: true }),
        action(async (argv: KeyringArgs & { name: string }) => {
          const { keyring, path } = await open_keyring(argv);
          const passphrase = read_passphrase(argv);
          const key = generate_key(argv.name, (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)));
          const info = await keyring.add(key, { passphrase });
          await save_keyring(path, keyring);
          if (argv.json) return write_json({ ...info, keyring: path });
          const lines = [`added key ${info.name} to ${path}`, ...key_lines(info)];
          if (passphrase === undefined)
            lines.push(
              'note: stored without a passphrase; use --passphrase-file FILE or CLOISTER_PASSPHRASE to encrypt keys',
            );
          write_lines(lines);
        }),
      )
      .command(
        'list',
        'list the keys (names, addresses, public keys)',
        (c) => c,
        action(async (argv: KeyringArgs) => {
          const { keyring, path } = await open_keyring(argv);
          const keys = keyring.list();
          if (argv.json) return write_json({ keyring: path, keys });
          if (keys.length === 0)
            return write_lines([`no keys in ${path}; add one with \`cloister keys add NAME\``]);
          const width = Math.max(4, ...keys.map((k) => k.name.length));
          write_lines([
            `${'NAME'.padEnd(width)}  ${'ADDRESS'.padEnd(40)}  ENCRYPTED`,
            ...keys.map((k) => `${k.name.padEnd(width)}  ${k.address}  ${k.encrypted ? 'yes' : 'no'}`),
          ]);
        }),
      )
      .command(
        'show <name>',
        "show a key's address and public keys (secrets only with --secret)",
        (c) =>
          c
            .positional('name', { type: 'string', demandOption: true })
            .option('secret', { type: 'boolean', default: false, describe: 'also print the secret keys' }),
        action(async (argv: KeyringArgs & { name: string; secret: boolean }) => {
          const { keyring } = await open_keyring(argv);
          const info = keyring.info(argv.name);
          if (!argv.secret) return argv.json ? write_json(info) : write_lines(key_lines(info));
          const key = await keyring.unlock(argv.name, read_passphrase(argv));
          const secrets = {
            account_sk: to_hex(key.account_sk),
            encryption_sk: to_hex(key.encryption_sk),
          };
          if (argv.json) return write_json({ ...info, ...secrets });
          write_lines([
            ...key_lines(info),
            row('account secret', secrets.account_sk),
            row('encryption secret', secrets.encryption_sk),
            'warning: anyone with these secrets can sign as this account and read its results',
          ]);
        }),
      )
      .command(
        'delete <name>',
        'delete a key (cannot be undone: pass --yes)',
        (c) =>
          c
            .positional('name', { type: 'string', demandOption: true })
            .option('yes', { type: 'boolean', default: false, describe: 'confirm the deletion' }),
        action(async (argv: KeyringArgs & { name: string; yes: boolean }) => {
          const { keyring, path } = await open_keyring(argv);
          const info = keyring.info(argv.name);
          if (!argv.yes)
            throw new UsageError(
              `deleting key ${argv.name} (address ${info.address}) cannot be undone; pass --yes to confirm`,
            );
          keyring.remove(argv.name);
          await save_keyring(path, keyring);
          if (argv.json) return write_json({ deleted: info.name, address: info.address, keyring: path });
          write_lines([`deleted key ${info.name} (address ${info.address}) from ${path}`]);
        }),
      )
      .demandCommand(1, 'name a keys command: add, list, show or delete'),
  );
}

function tx_command(y: Argv): Argv {
  return y.command('tx', 'send transactions, and look them up', (t) =>
    network_options(t)
      .option('wait', {
        type: 'boolean',
        default: false,
        describe: 'wait for the commit and print the result',
      })
      .command(
        'store <file>',
        'store contract code; with --wait prints its code id',
        (c) =>
          c.positional('file', { type: 'string', demandOption: true, describe: 'the contract module (.js)' }),
        action(async (argv: NetworkArgs & { file: string; wait: boolean }) => {
          let code: Uint8Array;
          try {
            code = new Uint8Array(readFileSync(argv.file));
          } catch (error) {
            throw new UsageError(
              `cannot read ${argv.file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
            );
          }
          const key = await unlock_key(argv);
          const client = make_client(argv, [key]);
          const work = client.store_code(key, code, { wait: argv.wait });
          print_outcome(argv, await with_spinner('storing code, waiting for the commit', work));
        }),
      )
      .command(
        'instantiate <code_id> <msg_json>',
        'create a contract from stored code with an encrypted init message',
        (c) =>
          code_hash_option(
            c
              .positional('code_id', {
                type: 'number',
                demandOption: true,
                describe: 'code id (`cloister codes`)',
              })
              .positional('msg_json', {
                type: 'string',
                demandOption: true,
                describe: 'the init message, JSON',
              })
              .option('label', { type: 'string', demandOption: true, describe: 'a name for the contract' }),
          ),
        action(
          async (
            argv: NetworkArgs & {
              code_id: number;
              msg_json: string;
              label: string;
              wait: boolean;
              'code-hash'?: string;
            },
          ) => {
            if (!Number.isSafeInteger(argv.code_id) || argv.code_id < 1)
              throw new UsageError('CODE_ID must be a positive integer (see `cloister codes`)');
            const msg = parse_msg(argv.msg_json);
            const key = await unlock_key(argv);
            const client = make_client(argv, [key]);
            const work = client.instantiate(key, argv.code_id, argv.label, msg, argv.scheme, {
              wait: argv.wait,
              ...(argv['code-hash'] === undefined ? {} : { code_hash: argv['code-hash'] }),
            });
            print_outcome(argv, await with_spinner('instantiating, waiting for the commit', work));
          },
        ),
      )
      .command(
        'execute <contract> <msg_json>',
        "run a contract's execute entry point with an encrypted message",
        (c) =>
          code_hash_option(
            c
              .positional('contract', {
                type: 'string',
                demandOption: true,
                describe: 'contract address (40 hex)',
              })
              .positional('msg_json', { type: 'string', demandOption: true, describe: 'the message, JSON' }),
          ),
        action(
          async (
            argv: NetworkArgs & { contract: string; msg_json: string; wait: boolean; 'code-hash'?: string },
          ) => {
            const msg = parse_msg(argv.msg_json);
            const key = await unlock_key(argv);
            const client = make_client(argv, [key]);
            const work = client.execute(key, argv.contract, msg, argv.scheme, {
              wait: argv.wait,
              ...(argv['code-hash'] === undefined ? {} : { code_hash: argv['code-hash'] }),
            });
            print_outcome(argv, await with_spinner('executing, waiting for the commit', work));
          },
        ),
      )
      .command(
        'get <hash>',
        'show a committed transaction; decrypts its result when it was sent with one of your keys',
        (c) =>
          c.positional('hash', { type: 'string', demandOption: true, describe: 'transaction hash (64 hex)' }),
        action(async (argv: NetworkArgs & { hash: string }) => tx_get(argv)),
      )
      .demandCommand(1, 'name a tx command: store, instantiate, execute or get'),
  );
}

/** `tx get`: the record, and its decrypted result when one of the caller's keys sent it. */
async function tx_get(argv: NetworkArgs & { hash: string }): Promise<void> {
  const client = make_client(argv);
  const record: TxRecord = await client.get_tx(argv.hash);
  const out: Record<string, unknown> = { ...record };
  let note: string | undefined;
  if (record.output !== '' && record.code <= 1) {
    const envelope = await client.envelope_of(record).catch((error: unknown) => {
      // register_node outputs are seed shares, not sealed results: nothing to decrypt.
      if (error instanceof RangeError) return null;
      throw error;
    });
    if (envelope !== null) {
      out['sender'] = envelope.tx.body.sender;
      out['type'] = envelope.tx.body.msg.type;
      out['scheme'] = envelope.scheme;
      const { keyring, path } = await open_keyring(argv);
      const mine = keyring.find_by_encryption_pubkey(envelope.pk_u);
      if (mine === undefined) {
        note = `sealed to encryption key ${envelope.pk_u}, which is not in ${path}: only its sender can read it`;
        out['decrypted'] = false;
      } else {
        const key = await keyring.unlock(mine.name, read_passphrase(argv));
        const { tx_key, scheme } = await client.recover_tx_key(record, [key]);
        const result = client.decrypt(record, tx_key, scheme);
        out['decrypted'] = true;
        out['key'] = mine.name;
        out['result'] = result;
      }
    }
  }
  if (argv.json) return write_json(out);
  const lines = [
    row('hash', record.hash),
    row('committed', `height ${record.height}, index ${record.index}, gas used ${record.gas_used}`),
    row('code', `${record.code}${record.code === 0 ? ' (ok)' : ''}`),
  ];
  if (out['type'] !== undefined) lines.push(row('type', String(out['type'])));
  if (record.contract !== undefined) lines.push(row('contract', record.contract));
  if (record.code_id !== undefined) lines.push(row('code id', String(record.code_id)));
  const result = out['result'] as
    | { data?: unknown; events?: ContractEventJson[]; error?: string }
    | undefined;
  if (result !== undefined) {
    lines.push(row('decrypted with', String(out['key'])));
    if (result.error !== undefined) lines.push(row('contract error', result.error));
    else {
      lines.push(row('data', JSON.stringify(result.data)));
      lines.push(...event_lines(result.events));
    }
  }
  if (note !== undefined) lines.push(note);
  write_lines(lines);
}

function query_command(y: Argv): Argv {
  return y.command(
    'query <contract> <msg_json>',
    'query a contract with an encrypted message and print the decrypted answer',
    (c) =>
      code_hash_option(
        network_options(c)
          .positional('contract', {
            type: 'string',
            demandOption: true,
            describe: 'contract address (40 hex)',
          })
          .positional('msg_json', { type: 'string', demandOption: true, describe: 'the query, JSON' }),
      ),
    action(async (argv: NetworkArgs & { contract: string; msg_json: string; 'code-hash'?: string }) => {
      const msg = parse_msg(argv.msg_json);
      // A query needs no account: a one-off encryption key is enough to read its answer.
      const data = await make_client(argv).query(
        argv.contract,
        msg,
        argv.scheme,
        argv['code-hash'] === undefined ? {} : { code_hash: argv['code-hash'] },
      );
      if (argv.json) return write_json({ data });
      write_lines([JSON.stringify(data, null, 2)]);
    }),
  );
}

function info_commands(y: Argv): Argv {
  return y
    .command(
      'status',
      "the node's chain id, height and keys",
      (c) => network_options(c),
      action(async (argv: NetworkArgs) => {
        const client = make_client(argv);
        const status = await client.status();
        if (argv.json) return write_json(status);
        const halted = status.halted ?? null;
        write_lines([
          row('node', client.node),
          row('chain id', status.chain_id),
          row('height', String(status.height)),
          row('validators', String(status.validators.length)),
          row('io key', status.io_pubkey),
          // A halted node refuses transactions; the SDK sends them to the next --node.
          ...(halted === null ? [] : [row('halted', `yes, at height ${halted.height}: ${halted.reason}`)]),
        ]);
      }),
    )
    .command(
      'codes',
      'the stored codes: id, code hash, name',
      (c) => network_options(c),
      action(async (argv: NetworkArgs) => {
        const codes = await make_client(argv).codes();
        if (argv.json) return write_json(codes);
        write_lines([
          `${'ID'.padEnd(4)}  ${'CODE HASH'.padEnd(64)}  NAME`,
          ...codes.map((c) => `${String(c.code_id).padEnd(4)}  ${c.code_hash}  ${c.name ?? ''}`.trimEnd()),
        ]);
      }),
    )
    .command('contracts', 'contract instances', (c) =>
      network_options(c)
        .command(
          'get <address>',
          "a contract's code id, code hash, label and creator",
          (g) => g.positional('address', { type: 'string', demandOption: true }),
          action(async (argv: NetworkArgs & { address: string }) => {
            const info = await make_client(argv).contract(argv.address);
            if (argv.json) return write_json(info);
            write_lines([
              row('address', info.address),
              row('code id', String(info.code_id)),
              row('code hash', info.code_hash),
              row('label', info.label),
              row('creator', info.creator),
            ]);
          }),
        )
        .demandCommand(1, 'name a contracts command: get'),
    );
}

/** Adds the client commands (keys, tx, query, status, codes, contracts) to a yargs instance. */
export function client_commands(y: Argv): Argv {
  return info_commands(query_command(tx_command(keys_command(y))));
}
