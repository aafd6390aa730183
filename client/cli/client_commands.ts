/**
 * Client commands of the `cloister` CLI, over the SDK in client/sdk/: `keys
 * add|list|show|delete|import-dev`, `tx store|instantiate|execute|send|get`, `query`, `status`,
 * `codes`, `contracts get|list`, `txs`, `balance`, `faucet`, `events`.
 *
 * Output is human-readable by default and one JSON object with `--json`. Exit codes: 0 ok,
 * 1 failure (with `--json`, `{"ok": false, "error": {"code", "name", "message"}}` where `code` is
 * the protocol.md §5 code, the RPC code ≥ 100 or the client's ≥ 200), 2 usage. User mistakes never
 * print a stack trace.
 * @module
 */

import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { Argv } from 'yargs';
import { DENOM, FAUCET_AMOUNT_DEFAULT, FAUCET_AMOUNT_MAX, type PublicEvent } from '../../protocol/bank.js';
import { from_hex, to_hex } from '../../protocol/bytes.js';
import { is_address_hex } from '../../protocol/checks.js';
import { RESULT_CODE_NAMES, type ResultCode } from '../../protocol/codes.js';
import { SCHEMES, type Scheme } from '../../protocol/envelope.js';
import { noble_provider as p } from '../../protocol/providers/noble.js';
import { account_address, tx_fee, tx_funds } from '../../protocol/tx.js';
import {
  ClientErrorCode,
  type ClientKey,
  CloisterClient,
  CloisterError,
  ContractError,
  type ContractEventJson,
  dev_keys,
  type GasPrice,
  generate_key,
  type KeyInfo,
  type Keyring,
  KeyringError,
  key_info,
  type NodeStatus,
  type TxOutcome,
  type TxRecord,
} from '../sdk/index.js';
import { keyring_path, type LoadedKeyring, load_keyring, save_keyring } from '../sdk/keyfile_node.js';
import { contract_check_command } from './contract_check.js';
import { can_prompt, prompt_hidden } from './prompt.js';

/** Where a default node listens (validator 0 of `cloister init` / `npm start`). */
export const NODE_URL_DEFAULT = 'http://127.0.0.1:26657';
/** Largest passphrase file read, in bytes. */
export const PASSPHRASE_FILE_BYTES_MAX = 4096;

/** A mistake in how the command was called: exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface CommonArgs {
  json: boolean;
}

export interface KeyringArgs extends CommonArgs {
  keyring?: string | undefined;
  'passphrase-file'?: string | undefined;
}

/** What {@link node_options} gives a command. */
export interface NodeArgs extends KeyringArgs {
  node: string[];
  'chain-id'?: string | undefined;
}

export interface NetworkArgs extends NodeArgs {
  key?: string | undefined;
  scheme: Scheme;
  'gas-limit'?: number | undefined;
  /** `tx` commands only: a count, or "auto". */
  'gas-price'?: string | undefined;
  timeout: number;
}

// ---- output ---------------------------------------------------------------------------------

export function write_json(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function write_lines(lines: string[]): void {
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function row(label: string, value: string): string {
  return `${label.padEnd(18)} ${value}`;
}

/** Reports `error` and exits: 2 for usage mistakes, 1 for everything else. */
export function fail(error: unknown, json: boolean): never {
  if (error instanceof UsageError || error instanceof TypeError || error instanceof RangeError) {
    // Argument checks of the SDK throw TypeError/RangeError: the caller's input, so usage.
    if (json) write_json({ ok: false, error: { code: null, name: 'UsageError', message: error.message } });
    process.stderr.write(`cloister: ${error.message}\nRun \`cloister --help\` for usage.\n`);
    process.exit(2);
  }
  if (error instanceof CloisterError) {
    if (json) write_json({ ok: false, error: error.to_json() });
    else {
      process.stderr.write(`cloister: ${error.message} [code ${error.code}]\n`);
      // A contract's debug lines (protocol.md §9) are what its developer needs to see why it failed.
      if (error instanceof ContractError)
        for (const line of error.debug ?? []) process.stderr.write(`debug: ${line}\n`);
    }
    process.exit(1);
  }
  const message = error instanceof Error ? error.message : String(error);
  if (json) write_json({ ok: false, error: { code: null, name: 'Error', message } });
  else process.stderr.write(`cloister: ${message}\n`);
  if (process.env['CLOISTER_DEBUG'] && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
}

/** Wraps a command handler: runs it, exits 0, or reports its error (see {@link fail}). */
export function action<A extends CommonArgs>(
  fn: (argv: A) => Promise<void>,
): (parsed: unknown) => Promise<void> {
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
export async function with_spinner<T>(label: string, work: Promise<T>): Promise<T> {
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
export function read_passphrase(argv: KeyringArgs): string | undefined {
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

/** A whole number of at least `min` in plain decimal digits (an amount, a height), else a usage error. */
export function parse_count(text: unknown, what: string, min = 0): number {
  const value = typeof text === 'number' ? String(text) : text;
  if (typeof value !== 'string' || !/^[0-9]{1,16}$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new UsageError(`${what} must be a whole number in plain digits, got ${JSON.stringify(text)}`);
  const n = Number(value);
  if (n < min) throw new UsageError(`${what} must be at least ${min}`);
  return n;
}

/** `--gas-price`: a whole number of ucst per unit of gas, or "auto" (the network's min_gas_price). */
function parse_gas_price(text: string | undefined): GasPrice | undefined {
  if (text === undefined) return undefined;
  return text === 'auto' ? 'auto' : parse_count(text, '--gas-price');
}

export function parse_msg(text: string, what = 'MSG_JSON'): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `${what} is not JSON (${(error as Error).message}); quote it for the shell, e.g. '{"increment": {}}'`,
    );
  }
}

export async function open_keyring(argv: KeyringArgs): Promise<LoadedKeyring> {
  const loaded = await load_keyring(keyring_path({ flag: argv.keyring }));
  if (loaded.loose_permissions)
    process.stderr.write(
      `cloister: warning: ${loaded.path} is readable by others; run \`chmod 600 ${loaded.path}\`\n`,
    );
  return loaded;
}

/** The key `--key` names, or the only key of the keyring. */
export function pick_key_name(keyring: Keyring, name: string | undefined, path: string): string {
  if (name !== undefined) return name;
  const keys = keyring.list();
  if (keys.length === 1) return keys[0]!.name;
  if (keys.length === 0)
    throw new UsageError(
      `no keys in ${path}: add one with \`cloister keys add NAME\` (or name --keyring FILE)`,
    );
  throw new UsageError(`name a key with --key (have: ${keys.map((k) => k.name).join(', ')})`);
}

export async function unlock_key(argv: NetworkArgs): Promise<ClientKey> {
  const { keyring, path } = await open_keyring(argv);
  return unlock_named(keyring, pick_key_name(keyring, argv.key, path), argv);
}

/**
 * Unlocks key `name`: with the passphrase of `--passphrase-file` or `CLOISTER_PASSPHRASE`, else,
 * for a sealed key on a terminal, one typed at a prompt (not echoed).
 */
export async function unlock_named(keyring: Keyring, name: string, argv: KeyringArgs): Promise<ClientKey> {
  let passphrase = read_passphrase(argv);
  if (passphrase === undefined && keyring.info(name).encrypted && can_prompt())
    passphrase = await prompt_hidden(`passphrase for key ${name}: `);
  return keyring.unlock(name, passphrase);
}

export function make_client(argv: NetworkArgs | NodeArgs, keys: ClientKey[] = []): CloisterClient {
  const gas_price = parse_gas_price((argv as NetworkArgs)['gas-price']);
  return new CloisterClient({
    nodes: argv.node,
    chain_id: argv['chain-id'],
    keys,
    ...('gas-limit' in argv && argv['gas-limit'] !== undefined ? { gas_limit: argv['gas-limit'] } : {}),
    ...(gas_price === undefined ? {} : { gas_price }),
    ...('timeout' in argv && argv.timeout !== undefined ? { wait_timeout_ms: argv.timeout * 1000 } : {}),
  });
}

/**
 * An address from the command line: 40 lowercase hex as it is, else the name of a key in the key
 * file (its address; no passphrase needed).
 */
export async function address_of(
  argv: KeyringArgs,
  text: string,
  what: string,
): Promise<{ address: string; key?: string }> {
  if (is_address_hex(text)) return { address: text };
  if (/^[A-Za-z0-9._-]{1,64}$/.test(text) && !/^[0-9a-fA-F]{40}$/.test(text)) {
    const { keyring, path } = await open_keyring(argv);
    if (keyring.has(text)) return { address: keyring.info(text).address, key: text };
    throw new UsageError(
      `${what} ${JSON.stringify(text)} is neither an address (40 lowercase hex) nor a key in ${path}`,
    );
  }
  throw new UsageError(
    `${what} must be an address (40 lowercase hex) or a key name, got ${JSON.stringify(text)}`,
  );
}

// ---- printing results -----------------------------------------------------------------------

function attributes_text(attributes: { key: string; value: string }[]): string {
  return attributes.map((a) => `${a.key}=${a.value}`).join(' ');
}

function words(...parts: string[]): string {
  return parts.filter((s) => s !== '').join('  ');
}

/** Decrypted events (protocol.md §4); those the network also lists in plaintext (§9) say so. */
export function event_lines(events: ContractEventJson[] | undefined): string[] {
  return (events ?? []).map((e) =>
    row(e.public === true ? 'event (public)' : 'event', words(e.type, attributes_text(e.attributes))),
  );
}

/** A record's public events (protocol.md §9), with the contract that emitted each. */
export function public_event_lines(events: PublicEvent[]): string[] {
  return events.map((e) =>
    row('public event', words(e.type, attributes_text(e.attributes), `(contract ${e.contract})`)),
  );
}

function debug_lines(debug: string[] | undefined): string[] {
  return (debug ?? []).map((line) => row('debug', line));
}

function ucst(amount: number): string {
  return `${amount} ${DENOM}`;
}

export function outcome_json(o: TxOutcome): Record<string, unknown> {
  const out: Record<string, unknown> = { hash: o.hash, committed: o.record !== null, sequence: o.sequence };
  if (o.record !== null) {
    out['height'] = o.record.height;
    out['index'] = o.record.index;
    out['code'] = o.record.code;
    out['gas_used'] = o.record.gas_used;
  }
  out['gas_price'] = o.gas_price;
  out['fee'] = o.fee;
  if (o.funds !== undefined) out['funds'] = o.funds;
  if (o.to !== undefined) out['to'] = o.to;
  if (o.amount !== undefined) out['amount'] = o.amount;
  if (o.contract !== undefined) out['contract'] = o.contract;
  if (o.code_id !== undefined) out['code_id'] = o.code_id;
  if (o.code_hash !== undefined) out['code_hash'] = o.code_hash;
  if (o.record !== null && o.data !== undefined) out['data'] = o.data;
  if (o.events !== undefined) out['events'] = o.events;
  if (o.record !== null) out['public_events'] = o.record.events;
  if (o.debug !== undefined) out['debug'] = o.debug;
  return out;
}

/** What a transaction costs and moves (protocol.md §9), for the human output. */
function money_lines(o: {
  fee: number;
  gas_price: number;
  funds?: number;
  to?: string;
  amount?: number;
}): string[] {
  const lines: string[] = [];
  if (o.to !== undefined && o.amount !== undefined) lines.push(row('sent', `${ucst(o.amount)} to ${o.to}`));
  if (o.funds !== undefined && o.funds > 0) lines.push(row('funds', `${ucst(o.funds)} to the contract`));
  if (o.fee > 0) lines.push(row('fee', `${ucst(o.fee)} (gas limit × gas price ${o.gas_price})`));
  return lines;
}

export function print_outcome(argv: CommonArgs, o: TxOutcome): void {
  if (argv.json) {
    write_json(outcome_json(o));
    return;
  }
  const lines: string[] = [];
  if (o.record === null) {
    lines.push(row('submitted', o.hash));
    lines.push(...money_lines(o));
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
  lines.push(...money_lines(o));
  if (o.contract !== undefined) lines.push(row('contract', o.contract));
  if (o.code_id !== undefined) lines.push(row('code id', String(o.code_id)));
  if (o.code_hash !== undefined) lines.push(row('code hash', o.code_hash));
  if (o.data !== undefined) lines.push(row('data', JSON.stringify(o.data)));
  lines.push(...event_lines(o.events));
  lines.push(...public_event_lines(o.record.events));
  lines.push(...debug_lines(o.debug));
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

export function keyring_options<T>(y: Argv<T>) {
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

/**
 * The options of a command that only reads from a node: the key file (key names stand for their
 * addresses), the node, and the chain id to insist on. `--help` then lists only these.
 */
export function node_options<T>(y: Argv<T>) {
  return keyring_options(y)
    .option('node', {
      type: 'string',
      array: true,
      default: [NODE_URL_DEFAULT],
      describe: 'node RPC URL; repeat for fallbacks, tried in order',
    })
    .option('chain-id', { type: 'string', describe: 'refuse a node whose chain id is not this' });
}

/** The options of a command that signs or encrypts: the node's, plus the key, scheme, gas limit and wait. */
export function network_options<T>(y: Argv<T>) {
  return node_options(y)
    .option('key', { type: 'string', describe: 'name of the key to sign with (default: the only key)' })
    .option('scheme', {
      choices: SCHEMES,
      default: 'gcm' as Scheme,
      describe: 'envelope scheme (protocol.md §3): gcm, or siv (Secret Network compatible)',
    })
    .option('gas-limit', { type: 'number', describe: 'gas limit of a transaction (default 10000000)' })
    .option('timeout', { type: 'number', default: 120, describe: 'seconds to wait for a commit' });
}

/** The options of every `tx` command: the network's, plus waiting and the gas price (protocol.md §9). */
export function tx_options<T>(y: Argv<T>) {
  return network_options(y)
    .option('wait', {
      type: 'boolean',
      default: false,
      describe: 'wait for the commit and print the result',
    })
    .option('gas-price', {
      type: 'string',
      describe:
        'ucst per unit of gas; the fee is gas limit × gas price, kept whatever the result. "auto": the network\'s minimum (`cloister status`). Default 0 (no fee)',
    });
}

function funds_option<T>(y: Argv<T>) {
  return y.option('funds', {
    type: 'string',
    describe: 'ucst to send to the contract with the message (default 0)',
  });
}

/** `--funds` as the SDK takes it: left out when not given. */
function funds_of(argv: { funds?: string | undefined }): { funds?: number } {
  return argv.funds === undefined ? {} : { funds: parse_count(argv.funds, '--funds') };
}

function code_hash_option<T>(y: Argv<T>) {
  return y.option('code-hash', {
    type: 'string',
    describe: "encrypt for this code hash instead of the contract's (for testing the enclave's refusal)",
  });
}

// ---- commands -------------------------------------------------------------------------------

/** A new key's passphrase typed twice at a prompt; empty for none (the key is stored unencrypted). */
async function ask_new_passphrase(): Promise<string | undefined> {
  const first = await prompt_hidden('passphrase to encrypt the key (empty: store it unencrypted): ');
  if (first === '') return undefined;
  const again = await prompt_hidden('the same passphrase again: ');
  if (again !== first) throw new UsageError('the two passphrases differ; nothing was added');
  return first;
}

/** `keys export NAME [--out FILE]`: the key as a key file of its own, secrets as stored. */
async function keys_export(argv: KeyringArgs & { name: string; out?: string }): Promise<void> {
  const { keyring } = await open_keyring(argv);
  const text = keyring.export(argv.name);
  const info = keyring.info(argv.name);
  if (!info.encrypted)
    process.stderr.write(
      `cloister: warning: key ${info.name} is stored unencrypted, so this export holds its secret key as it is: keep it like the key file\n`,
    );
  if (argv.out === undefined) return void process.stdout.write(text);
  await writeFile(argv.out, text, { mode: 0o600, flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(
      `cannot write --out ${argv.out}: ${error.code === 'EEXIST' ? 'the file exists' : (error.code ?? 'error')}`,
    );
  });
  if (argv.json) return write_json({ ...info, out: argv.out });
  write_lines([`exported key ${info.name} to ${argv.out}`]);
}

/** `keys import FILE`: adds the keys of a key file (an export, or a whole key file). */
async function keys_import(argv: KeyringArgs & { file: string }): Promise<void> {
  const { keyring, path } = await open_keyring(argv);
  let text: string;
  try {
    text = await readFile(argv.file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${argv.file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const added = keyring.import(text);
  await save_keyring(path, keyring);
  if (argv.json) return write_json({ keyring: path, keys: added });
  write_lines(added.flatMap((info) => [`imported key ${info.name} into ${path}`, ...key_lines(info)]));
}

function keys_command(y: Argv): Argv {
  return y.command('keys', 'account and encryption keys in the key file', (k) =>
    keyring_options(k)
      .command(
        'add <name>',
        'make a new key (an Ed25519 account key and an X25519 encryption key) and print its address',
        (c) => c.positional('name', { type: 'string', demandOption: true }),
        action(async (argv: KeyringArgs & { name: string }) => {
          const { keyring, path } = await open_keyring(argv);
          const passphrase = read_passphrase(argv) ?? (can_prompt() ? await ask_new_passphrase() : undefined);
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
        'export <name>',
        'write one key as a key file of its own (to stdout, or --out FILE with mode 0600), its secrets as stored: a passphrase-sealed key stays sealed',
        (c) =>
          c
            .positional('name', { type: 'string', demandOption: true })
            .option('out', { type: 'string', describe: 'write to this new file instead of stdout' }),
        action(keys_export),
      )
      .command(
        'import <file>',
        'add the keys of a key file (what `keys export` wrote, or another key file); refused, adding nothing, if a name is taken',
        (c) => c.positional('file', { type: 'string', demandOption: true }),
        action(keys_import),
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
          const key = await unlock_named(keyring, argv.name, argv);
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
      .command(
        'import-dev',
        'import the development accounts dev0..dev3 (public keys, funded by development networks only)',
        (c) =>
          c.option('force', {
            type: 'boolean',
            default: false,
            describe: 'replace a different key that already has one of these names (its secrets are lost)',
          }),
        action(async (argv: KeyringArgs & { force: boolean }) => import_dev(argv)),
      )
      .demandCommand(1, 'name a keys command: add, list, show, delete or import-dev'),
  );
}

/** The warning every import of the development keys prints. */
export const DEV_KEYS_WARNING =
  'warning: these keys are public (anyone can derive them, see docs/client.md "Development accounts"); use them only on development networks, never for anything of value';

/**
 * `keys import-dev`: adds dev0..dev3 (`dev_keys()`), unencrypted since their secrets are public.
 * A key of the same name and the same secrets is left as it is; a different one is an error
 * (code 211) unless `--force` replaces it. Nothing is written unless every name can be imported.
 */
async function import_dev(argv: KeyringArgs & { force: boolean }): Promise<void> {
  const { keyring, path } = await open_keyring(argv);
  const plan: { key: ClientKey; info: KeyInfo; status: 'added' | 'present' | 'replaced' }[] = [];
  for (const key of dev_keys()) {
    const info = key_info(key);
    if (!keyring.has(key.name)) {
      plan.push({ key, info, status: 'added' });
      continue;
    }
    const held = keyring.info(key.name);
    if (held.account_pubkey === info.account_pubkey && held.encryption_pubkey === info.encryption_pubkey) {
      plan.push({ key, info, status: 'present' });
    } else if (argv.force) {
      plan.push({ key, info, status: 'replaced' });
    } else {
      throw new KeyringError(
        ClientErrorCode.KEY_EXISTS,
        `${path} already holds a different key named ${JSON.stringify(key.name)} (address ${held.address}); rename or delete it, or pass --force to replace it`,
      );
    }
  }
  for (const { key, status } of plan) {
    if (status === 'present') continue;
    if (status === 'replaced') keyring.remove(key.name);
    await keyring.add(key);
  }
  if (plan.some((x) => x.status !== 'present')) await save_keyring(path, keyring);
  const keys = plan.map(({ info, status }) => ({ ...info, status }));
  if (argv.json)
    return write_json({ keyring: path, keys, warning: DEV_KEYS_WARNING.replace(/^warning: /, '') });
  write_lines([
    `development keys in ${path}:`,
    `${'NAME'.padEnd(6)}  ${'ADDRESS'.padEnd(40)}  STATUS`,
    ...keys.map(
      (k) => `${k.name.padEnd(6)}  ${k.address}  ${k.status === 'present' ? 'already present' : k.status}`,
    ),
    DEV_KEYS_WARNING,
  ]);
}

function tx_command(y: Argv): Argv {
  return y.command('tx', 'send transactions, and look them up', (t) =>
    tx_options(t)
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
          funds_option(
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
          ),
        action(
          async (
            argv: NetworkArgs & {
              code_id: number;
              msg_json: string;
              label: string;
              wait: boolean;
              funds?: string;
              'code-hash'?: string;
            },
          ) => {
            if (!Number.isSafeInteger(argv.code_id) || argv.code_id < 1)
              throw new UsageError('CODE_ID must be a positive integer (see `cloister codes`)');
            const msg = parse_msg(argv.msg_json);
            const funds = funds_of(argv);
            const client = make_client(argv);
            const key = await unlock_key(argv);
            const work = client.instantiate(key, argv.code_id, argv.label, msg, {
              scheme: argv.scheme,
              wait: argv.wait,
              ...funds,
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
          funds_option(
            code_hash_option(
              c
                .positional('contract', {
                  type: 'string',
                  demandOption: true,
                  describe: 'contract address (40 hex)',
                })
                .positional('msg_json', {
                  type: 'string',
                  demandOption: true,
                  describe: 'the message, JSON',
                }),
            ),
          ),
        action(
          async (
            argv: NetworkArgs & {
              contract: string;
              msg_json: string;
              wait: boolean;
              funds?: string;
              'code-hash'?: string;
            },
          ) => {
            const msg = parse_msg(argv.msg_json);
            const funds = funds_of(argv);
            const client = make_client(argv);
            const key = await unlock_key(argv);
            const work = client.execute(key, argv.contract, msg, {
              scheme: argv.scheme,
              wait: argv.wait,
              ...funds,
              ...(argv['code-hash'] === undefined ? {} : { code_hash: argv['code-hash'] }),
            });
            print_outcome(argv, await with_spinner('executing, waiting for the commit', work));
          },
        ),
      )
      .command(
        'send',
        'send ucst from your account to another account or a contract (--to, --amount)',
        (c) =>
          c
            .option('to', {
              type: 'string',
              demandOption: true,
              describe: 'recipient: an address (40 hex) or the name of a key in the key file',
            })
            .option('amount', { type: 'string', demandOption: true, describe: 'ucst to send (above 0)' }),
        action(async (argv: NetworkArgs & { to: string; amount: string; wait: boolean }) => {
          const amount = parse_count(argv.amount, '--amount', 1);
          const client = make_client(argv);
          const { address: to } = await address_of(argv, argv.to, '--to');
          const key = await unlock_key(argv);
          const work = client.send(key, to, amount, { wait: argv.wait });
          print_outcome(argv, await with_spinner('sending, waiting for the commit', work));
        }),
      )
      .command(
        'get <hash>',
        'show a committed transaction; decrypts its result when it was sent with one of your keys',
        (c) =>
          c.positional('hash', { type: 'string', demandOption: true, describe: 'transaction hash (64 hex)' }),
        action(async (argv: NetworkArgs & { hash: string }) => tx_get(argv)),
      )
      .demandCommand(1, 'name a tx command: store, instantiate, execute, send or get'),
  );
}

/**
 * `tx get`: the record with its public events, what the transaction is (type, sender, fee, funds,
 * amount sent: read from its block), and its decrypted result when one of the caller's keys sent it.
 */
async function tx_get(argv: NetworkArgs & { hash: string }): Promise<void> {
  const client = make_client(argv);
  const record: TxRecord = await client.get_tx(argv.hash);
  const out: Record<string, unknown> = { ...record };
  let note: string | undefined;
  const tx = await client.tx_of(record);
  const msg = tx.body.msg;
  out['type'] = msg.type;
  out['sender'] = tx.body.sender;
  out['sender_address'] = account_address(p, from_hex(tx.body.sender, 32));
  out['gas_limit'] = tx.body.gas_limit;
  out['gas_price'] = tx.body.gas_price ?? 0;
  out['fee'] = tx_fee(tx.body);
  if (tx_funds(tx.body) > 0) out['funds'] = tx_funds(tx.body);
  if (msg.type === 'send') {
    out['to'] = msg.to;
    out['amount'] = msg.amount;
  }
  // register_node outputs are seed shares, not sealed results: nothing to decrypt.
  if (record.output !== '' && record.code <= 1 && (msg.type === 'instantiate' || msg.type === 'execute')) {
    const envelope = await client.envelope_of(record);
    out['scheme'] = envelope.scheme;
    const { keyring, path } = await open_keyring(argv);
    const mine = keyring.find_by_encryption_pubkey(envelope.pk_u);
    if (mine === undefined) {
      note = `sealed to encryption key ${envelope.pk_u}, which is not in ${path}: only its sender can read it`;
      out['decrypted'] = false;
    } else {
      const key = await unlock_named(keyring, mine.name, argv);
      const { tx_key, scheme } = await client.recover_tx_key(record, [key]);
      const result = client.decrypt(record, tx_key, scheme);
      out['decrypted'] = true;
      out['key'] = mine.name;
      out['result'] = result;
    }
  }
  if (argv.json) return write_json(out);
  const lines = [
    row('hash', record.hash),
    row('committed', `height ${record.height}, index ${record.index}, gas used ${record.gas_used}`),
    row('code', `${record.code} (${RESULT_CODE_NAMES[record.code as ResultCode] ?? 'failed'})`),
    row('type', msg.type),
    row('sender', String(out['sender_address'])),
    ...money_lines({
      fee: out['fee'] as number,
      gas_price: out['gas_price'] as number,
      ...(out['funds'] === undefined ? {} : { funds: out['funds'] as number }),
      ...(msg.type === 'send' ? { to: msg.to, amount: msg.amount } : {}),
    }),
  ];
  if (record.contract !== undefined) lines.push(row('contract', record.contract));
  if (record.code_id !== undefined) lines.push(row('code id', String(record.code_id)));
  lines.push(...public_event_lines(record.events));
  const result = out['result'] as
    | { data?: unknown; events?: ContractEventJson[]; error?: string; debug?: string[] }
    | undefined;
  if (result !== undefined) {
    lines.push(row('decrypted with', String(out['key'])));
    if (result.error !== undefined) lines.push(row('contract error', result.error));
    else {
      lines.push(row('data', JSON.stringify(result.data)));
      lines.push(...event_lines(result.events));
    }
    lines.push(...debug_lines(result.debug));
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
      const data = await make_client(argv).query(argv.contract, msg, {
        scheme: argv.scheme,
        ...(argv['code-hash'] === undefined ? {} : { code_hash: argv['code-hash'] }),
      });
      if (argv.json) return write_json({ data });
      write_lines([JSON.stringify(data, null, 2)]);
    }),
  );
}

function info_commands(y: Argv): Argv {
  return y
    .command(
      'status',
      "the node's chain id, height, keys, minimum gas price, and whether it is a development network",
      (c) => node_options(c),
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
          row('min gas price', `${status.min_gas_price} ${DENOM} per unit of gas`),
          row(
            'development',
            status.dev ? 'yes (funded dev accounts, a faucet: `cloister faucet`)' : 'no (no faucet)',
          ),
          ...Object.entries(status.contracts).map(([name, address]) =>
            row(name, `${address} (system contract)`),
          ),
          ...status_additions(status),
          // A halted node refuses transactions; the SDK sends them to the next --node.
          row('halted', halted === null ? 'no' : `yes, at height ${halted.height}: ${halted.reason}`),
        ]);
      }),
    )
    .command(
      'codes',
      'the stored codes: id, code hash, name, and the system contract genesis made of it',
      (c) => node_options(c),
      action(async (argv: NetworkArgs) => {
        const codes = await make_client(argv).codes();
        if (argv.json) return write_json(codes);
        write_lines([
          `${'ID'.padEnd(4)}  ${'CODE HASH'.padEnd(64)}  NAME`,
          ...codes.map((c) =>
            `${String(c.code_id).padEnd(4)}  ${c.code_hash}  ${c.name ?? ''}${c.contract === undefined ? '' : `  (system contract ${c.contract})`}`.trimEnd(),
          ),
        ]);
      }),
    )
    .command(
      ['contracts', 'contract'],
      'contracts: check one before storing it, look instances up, list them',
      (c) =>
        c
          .command(
            'check <file>',
            'check that a contract compiles for the Cloister VM, print its code hash, size and entry points, and warn about shapes that cannot work (missing or misspelled entry points, a reply without a reply entry point, removed globals)',
            (k) =>
              k
                .positional('file', {
                  type: 'string',
                  demandOption: true,
                  describe: 'the contract module (.js)',
                })
                .option('strict', {
                  type: 'boolean',
                  default: false,
                  describe: 'fail (exit 1) on warnings too',
                }),
            (argv) => {
              const a = argv as unknown as CommonArgs & { file: string; strict: boolean };
              const outcome = contract_check_command(a.file, { json: a.json, strict: a.strict });
              if (outcome !== 'ok') process.exit(1);
            },
          )
          .command(
            'get <address>',
            "a contract's code id, code hash, label, creator and balance",
            (g) => node_options(g).positional('address', { type: 'string', demandOption: true }),
            action(async (argv: NetworkArgs & { address: string }) => {
              const info = await make_client(argv).contract(argv.address);
              if (argv.json) return write_json(info);
              write_lines([
                row('address', info.address),
                row('code id', String(info.code_id)),
                row('code hash', info.code_hash),
                row('label', info.label),
                row('creator', info.creator),
                row('balance', ucst(info.balance)),
              ]);
            }),
          )
          .command(
            'list',
            'contracts by code id, creator and label (docs/protocol-notes.md "Discovery and status")',
            (l) =>
              page_options(l)
                .option('code-id', { type: 'number', describe: 'only contracts of this code id' })
                .option('creator', {
                  type: 'string',
                  describe: 'only contracts this address or key name made',
                })
                .option('label', { type: 'string', describe: 'only contracts with exactly this label' }),
            action(
              async (
                argv: NetworkArgs & PageArgs & { 'code-id'?: number; creator?: string; label?: string },
              ) => {
                const client = make_client(argv);
                const creator =
                  argv.creator === undefined
                    ? undefined
                    : (await address_of(argv, argv.creator, '--creator')).address;
                const filter = {
                  ...(argv['code-id'] === undefined
                    ? {}
                    : { code_id: parse_count(argv['code-id'], '--code-id', 1) }),
                  ...(creator === undefined ? {} : { creator }),
                  ...(argv.label === undefined ? {} : { label: argv.label }),
                };
                const { items, cursor } = await pages(argv, (page) =>
                  client.contracts({ ...filter, ...page }),
                );
                if (argv.json) return write_json({ contracts: items, cursor });
                write_lines([
                  `${'ADDRESS'.padEnd(40)}  ${'CODE'.padEnd(5)}  ${'CREATOR'.padEnd(40)}  LABEL`,
                  ...items.map(
                    (c) => `${c.address}  ${String(c.code_id).padEnd(5)}  ${c.creator}  ${c.label}`,
                  ),
                  ...page_footer(items.length, 'contract', cursor),
                ]);
              },
            ),
          )
          .demandCommand(1, 'name a contracts command: check, get or list'),
    )
    .command(
      'txs',
      'committed transactions by sender and/or contract, newest first (docs/protocol-notes.md "Discovery and status")',
      (t) =>
        page_options(t)
          .option('sender', { type: 'string', describe: 'only transactions this address or key name sent' })
          .option('contract', {
            type: 'string',
            describe: 'only transactions that execute or instantiate this contract address',
          }),
      action(async (argv: NetworkArgs & PageArgs & { sender?: string; contract?: string }) => {
        if (argv.sender === undefined && argv.contract === undefined)
          throw new UsageError('give --sender or --contract (or both)');
        const client = make_client(argv);
        const sender =
          argv.sender === undefined ? undefined : (await address_of(argv, argv.sender, '--sender')).address;
        const filter = {
          ...(sender === undefined ? {} : { sender }),
          ...(argv.contract === undefined ? {} : { contract: argv.contract }),
        };
        const { items, cursor } = await pages(argv, (page) => client.txs({ ...filter, ...page }));
        if (argv.json) return write_json({ txs: items, cursor });
        write_lines([
          `${'HEIGHT'.padEnd(8)}  ${'INDEX'.padEnd(5)}  ${'RESULT'.padEnd(24)}  ${'GAS'.padEnd(10)}  ${'HASH'.padEnd(64)}  CONTRACT`,
          ...items.map((t) =>
            `${String(t.height).padEnd(8)}  ${String(t.index).padEnd(5)}  ${result_name(t.code).padEnd(24)}  ${String(t.gas_used).padEnd(10)}  ${t.hash}  ${t.contract ?? ''}`.trimEnd(),
          ),
          ...page_footer(items.length, 'transaction', cursor),
        ]);
      }),
    );
}

/** `--limit`, `--cursor` and `--all` of the listing commands. */
interface PageArgs {
  limit?: number | undefined;
  cursor?: string | undefined;
  all: boolean;
}

/** Most pages `--all` follows: 100 × 100 items. */
const ALL_PAGES_MAX = 100;

function page_options<T>(y: Argv<T>) {
  return node_options(y)
    .option('limit', { type: 'number', describe: 'items per page, 1-100 (default 20)' })
    .option('cursor', { type: 'string', describe: 'go on from the cursor a previous page printed' })
    .option('all', {
      type: 'boolean',
      default: false,
      describe: `follow the cursor through every page (at most ${ALL_PAGES_MAX} pages)`,
    });
}

/** One page, or with `--all` every page from `--cursor` on (cursor null at the end). */
async function pages<T>(
  argv: PageArgs,
  fetch_page: (page: {
    limit?: number;
    cursor?: string | null;
  }) => Promise<{ items: T[]; cursor: string | null }>,
): Promise<{ items: T[]; cursor: string | null }> {
  const limit = argv.limit === undefined ? undefined : parse_count(argv.limit, '--limit', 1);
  if (limit !== undefined && limit > 100) throw new UsageError('--limit must be at most 100');
  const items: T[] = [];
  let cursor: string | null = argv.cursor ?? null;
  for (let i = 0; i < (argv.all ? ALL_PAGES_MAX : 1); i++) {
    const page = await fetch_page({ ...(limit === undefined ? {} : { limit }), cursor });
    items.push(...page.items);
    cursor = page.cursor;
    if (cursor === null) break;
  }
  return { items, cursor };
}

function page_footer(count: number, what: string, cursor: string | null): string[] {
  const counted = `${count} ${what}${count === 1 ? '' : 's'}`;
  return [cursor === null ? `${counted}; no more` : `${counted}; more with --cursor ${cursor}`];
}

function result_name(code: number): string {
  const name = (RESULT_CODE_NAMES as Record<number, string>)[code];
  return name === undefined ? String(code) : `${code} ${name}`;
}

/** The status lines of the node's peers, mempool and last block (absent from an older node). */
function status_additions(status: NodeStatus): string[] {
  const lines: string[] = [];
  if (status.peers !== undefined)
    lines.push(
      row('peers', status.peers.length === 0 ? '0' : `${status.peers.length}: ${status.peers.join(', ')}`),
    );
  if (status.mempool !== undefined) lines.push(row('mempool', `${status.mempool} transactions waiting`));
  if (status.last_block_time_ms !== undefined)
    lines.push(
      row(
        'last block',
        status.last_block_time_ms === null ? 'none yet' : new Date(status.last_block_time_ms).toISOString(),
      ),
    );
  return lines;
}

function funds_commands(y: Argv): Argv {
  return y
    .command(
      'balance <account>',
      `an account's balance in ${DENOM} (an address, or the name of a key in the key file)`,
      (c) =>
        node_options(c).positional('account', {
          type: 'string',
          demandOption: true,
          describe: 'an address (40 hex) or a key name',
        }),
      action(async (argv: NetworkArgs & { account: string }) => {
        const client = make_client(argv);
        const { address, key } = await address_of(argv, argv.account, 'ACCOUNT');
        const account = await client.account(address);
        if (argv.json)
          return write_json({
            address,
            ...(key === undefined ? {} : { key }),
            balance: account.balance,
            denom: DENOM,
          });
        write_lines([
          ...(key === undefined ? [] : [row('key', key)]),
          row('address', address),
          row('balance', ucst(account.balance)),
        ]);
      }),
    )
    .command(
      'faucet <account>',
      `get ${DENOM} from a development network's faucet (an address, or the name of a key in the key file)`,
      (c) =>
        node_options(c)
          .positional('account', {
            type: 'string',
            demandOption: true,
            describe: 'an address (40 hex) or a key name',
          })
          .option('amount', {
            type: 'string',
            describe: `${DENOM} to ask for (default ${FAUCET_AMOUNT_DEFAULT}, at most ${FAUCET_AMOUNT_MAX})`,
          }),
      action(async (argv: NetworkArgs & { account: string; amount?: string }) => {
        const amount = argv.amount === undefined ? undefined : parse_count(argv.amount, '--amount', 1);
        if (amount !== undefined && amount > FAUCET_AMOUNT_MAX)
          throw new UsageError(
            `--amount must be at most ${FAUCET_AMOUNT_MAX} (the faucet's limit per request)`,
          );
        const client = make_client(argv);
        const { address, key } = await address_of(argv, argv.account, 'ACCOUNT');
        const got = await with_spinner(
          'asking the faucet, waiting for the commit',
          client.faucet(address, amount),
        );
        const balance = await client.balance(address);
        const given = amount ?? FAUCET_AMOUNT_DEFAULT;
        if (argv.json)
          return write_json({
            hash: got.hash,
            height: got.record.height,
            address,
            ...(key === undefined ? {} : { key }),
            amount: given,
            balance,
          });
        write_lines([
          row('received', `${ucst(given)} from the faucet`),
          row('address', key === undefined ? address : `${address} (key ${key})`),
          row('balance', ucst(balance)),
          row('hash', `${got.hash} (height ${got.record.height})`),
        ]);
      }),
    )
    .command(
      'events',
      "print a contract's public events as they commit, until Ctrl-C (--from-height replays earlier blocks first)",
      (c) =>
        node_options(c)
          .option('contract', {
            type: 'string',
            demandOption: true,
            describe: 'the contract whose public events to print (40 hex)',
          })
          .option('from-height', {
            type: 'string',
            describe: 'first replay the committed blocks from this height, then go on live',
          }),
      action(async (argv: NetworkArgs & { contract: string; 'from-height'?: string }) => {
        if (!is_address_hex(argv.contract))
          throw new UsageError(
            `--contract must be a contract address (40 lowercase hex), got ${JSON.stringify(argv.contract)}`,
          );
        const from = argv['from-height'];
        const from_height = from === undefined ? undefined : parse_count(from, '--from-height', 1);
        await follow_events(argv, argv.contract, from_height);
      }),
    );
}

/** `events`: one line (or JSON object) per public event of `contract`, until SIGINT or SIGTERM. */
async function follow_events(
  argv: NetworkArgs,
  contract: string,
  from_height: number | undefined,
): Promise<void> {
  const client = make_client(argv);
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // A reader that went away (`cloister events … | head -3`) ends the follow, quietly.
  process.stdout.on('error', stop);
  const note = (text: string): void => {
    process.stderr.write(`cloister: ${text}\n`);
  };
  let first = true;
  const events = client.contract_events(contract, {
    signal: abort.signal,
    from_height,
    on_status: (s) => {
      if (s.type === 'live') {
        if (first)
          note(
            `following the public events of ${contract} on ${s.node} (height ${s.height}${from_height === undefined ? '' : `, replayed from ${from_height}`}); Ctrl-C to stop`,
          );
        else note(`live again on ${s.node} at height ${s.height}`);
        first = false;
      } else {
        const why = s.error instanceof Error ? s.error.message : String(s.error);
        note(`${why}; reconnecting in ${(s.delay_ms / 1000).toFixed(1)} s`);
      }
    },
  });
  for await (const e of events) {
    if (argv.json) write_json(e);
    else
      process.stdout.write(
        `${words(`height ${e.height}`, `tx ${e.hash}`, e.type, attributes_text(e.attributes))}\n`,
      );
  }
}

/**
 * Adds the client commands (keys, tx, txs, query, status, codes, contracts, balance, faucet, events) to
 * a yargs instance.
 */
export function client_commands(y: Argv): Argv {
  return funds_commands(info_commands(query_command(tx_command(keys_command(y)))));
}
