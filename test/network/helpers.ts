/**
 * Helpers for tests with real validator processes on loopback: a network in a temporary folder,
 * a client that encrypts and signs transactions, and cross-node comparisons.
 */

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { find_code_root } from '../../enclave/measurement.js';
import { from_base64, from_hex, to_base64, to_hex } from '../../protocol/bytes.js';
import { encrypt_message, type Scheme } from '../../protocol/envelope.js';
import { get_provider } from '../../protocol/providers/index.js';
import { open_result } from '../../protocol/result.js';
import { rpc } from '../../protocol/rpc_client.js';
import { sign_tx, type Tx, type TxMsg } from '../../protocol/tx.js';
import { LocalNetwork } from '../../sim/network.js';
import type { NodeBehaviour } from '../../sim/sim_node.js';

export const p = get_provider('native');

/** The `cloister` command line of this checkout. */
export const CLOISTER_BIN = join(find_code_root(), 'bin', 'cloister.js');

/**
 * Runs `cloister node join --json` for a new node at `home` listening on `port`: the genesis of
 * the network in `net_dir`, registered through `from` (a validator's URL), its quote signed with
 * `key_file` (default: the network's own attestation root). Rejects as execFile does on a
 * non-zero exit (`code`, `stdout`, `stderr`).
 */
export function join_node(args: {
  net_dir: string;
  from: string;
  home: string;
  port: number;
  key_file?: string;
}): Promise<{ stdout: string; stderr: string }> {
  const { net_dir, from, home, port } = args;
  return promisify(execFile)(process.execPath, [
    CLOISTER_BIN,
    'node',
    'join',
    '--json',
    '--home',
    home,
    '--genesis',
    join(net_dir, 'net', 'v0', 'genesis.json'),
    '--from',
    from,
    '--attestation-key',
    args.key_file ?? join(net_dir, 'net', 'attestation_root_key'),
    '--port',
    String(port),
  ]);
}

/**
 * A network in a temporary folder; `down()` stops it and removes the folder. Validator i listens
 * for RPC on port + i and for p2p on port + 1000 + i, so test files give each network its own
 * block of 100 ports from 22000 (RPC 22x00-22x03, p2p 23x00-23x03), below the kernel's ephemeral range
 * (32768-60999) so no port-0 listener or outgoing connection elsewhere can take them.
 */
export async function temp_network(port: number, behaviours: [number, NodeBehaviour][] = [], validators = 4) {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-nettest-'));
  const network = await LocalNetwork.up({
    validators,
    dir: join(dir, 'net'),
    port,
    behaviours: new Map(behaviours),
  });
  return {
    network,
    dir,
    async down() {
      await network.down();
      // CLOISTER_KEEP_NET=1 keeps the homes and node logs, to read after a failure.
      if (process.env['CLOISTER_KEEP_NET'] === '1') console.log(`network kept in ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface TxRecord {
  hash: string;
  height: number;
  index: number;
  code: number;
  gas_used: number;
  output: string;
  contract?: string;
}

/** A client: an account, the network's io key, and the keys of what it sent. */
export class Client {
  readonly sk = new Uint8Array(randomBytes(32));
  readonly pubkey = to_hex(p.ed25519_public(this.sk));
  sequence = 0;
  readonly keys = new Map<string, { tx_key: Uint8Array; scheme: Scheme }>();

  private constructor(
    readonly chain_id: string,
    readonly pk_io: Uint8Array,
    readonly codes: { code_id: number; code_hash: string; name?: string }[],
  ) {}

  static async connect(url: string): Promise<Client> {
    const status = await rpc<{ chain_id: string; io_pubkey: string }>(url, '/v1/status');
    const codes = await rpc<{ code_id: number; code_hash: string; name?: string }[]>(url, '/v1/codes');
    return new Client(status.chain_id, from_hex(status.io_pubkey, 32), codes);
  }

  code(name: string) {
    const c = this.codes.find((x) => x.name === name);
    if (c === undefined) throw new Error(`no code ${name}`);
    return c;
  }

  encrypt(code_hash: string, msg: unknown, scheme: Scheme) {
    const { envelope, tx_key } = encrypt_message(p, {
      scheme,
      sk_u: new Uint8Array(randomBytes(32)),
      pk_io: this.pk_io,
      nonce: new Uint8Array(randomBytes(32)),
      chain_id: this.chain_id,
      code_hash,
      msg_json: JSON.stringify(msg),
    });
    return { payload: to_base64(envelope), tx_key };
  }

  /** Signs a message at the next sequence. */
  sign(msg: TxMsg) {
    return sign_tx(p, this.sk, {
      chain_id: this.chain_id,
      sender: this.pubkey,
      sequence: this.sequence++,
      gas_limit: 2_000_000,
      msg,
    });
  }

  /** Encrypts, signs and submits; resolves with the committed record (wait=commit). */
  async send(
    url: string,
    target: { address?: string; code: string; scheme: Scheme },
    msg: unknown,
  ): Promise<TxRecord> {
    const c = this.code(target.code);
    const e = this.encrypt(c.code_hash, msg, target.scheme);
    const tx =
      target.address === undefined
        ? this.sign({
            type: 'instantiate',
            code_id: c.code_id,
            label: `t${this.sequence}`,
            scheme: target.scheme,
            payload: e.payload,
          })
        : this.sign({ type: 'execute', contract: target.address, scheme: target.scheme, payload: e.payload });
    const record = await rpc<TxRecord>(url, '/v1/txs?wait=commit', { body: tx, timeout_ms: 120_000 });
    this.keys.set(record.hash, { tx_key: e.tx_key, scheme: target.scheme });
    return record;
  }

  /** Decrypts the output of one of its own transactions. */
  open(record: TxRecord): unknown {
    const k = this.keys.get(record.hash);
    if (k === undefined) throw new Error('not my transaction');
    return open_result(p, k.scheme, k.tx_key, from_base64(record.output));
  }
}

/** Height of each node (-1 if it does not answer). */
export async function heights(urls: string[]): Promise<number[]> {
  return Promise.all(
    urls.map((u) =>
      rpc<{ height: number }>(u, '/v1/status', { timeout_ms: 5_000 }).then(
        (s) => s.height,
        () => -1,
      ),
    ),
  );
}

/**
 * Blocks 1..height as served by a node, as JSON text. The tip's commit is each node's own
 * (whichever 2/3+ precommits it collected), so `height` should be below every node's tip: then
 * every block, commit included, must be byte-identical across nodes.
 */
export async function blocks_json(url: string, height: number): Promise<string[]> {
  const out: string[] = [];
  for (let h = 1; h <= height; h++) out.push(JSON.stringify(await rpc(url, `/v1/blocks/${h}`)));
  return out;
}

/**
 * A transaction that makes a block: a `send` of 1 ucst from a fresh, empty account (gas price 0,
 * so free wherever `min_gas_price` is 0; it commits with a failure code). Networks make blocks on
 * demand (issue #15, docs/consensus.md "Block pacing"): a test that needs heights to rise sends these.
 */
export function nudge_tx(chain_id: string): Tx {
  const sk = new Uint8Array(randomBytes(32));
  return sign_tx(p, sk, {
    chain_id,
    sender: to_hex(p.ed25519_public(sk)),
    sequence: 0,
    gas_limit: 100_000,
    msg: { type: 'send', to: '0'.repeat(40), amount: 1 },
  });
}

/**
 * Drives load: sends a {@link nudge_tx} to `urls` in turn, one at once and then one every
 * `every_ms`, so new blocks keep coming; failures (a node down, a refusal) are ignored. Returns
 * the stop function.
 */
export function drive_load(urls: string[], every_ms = 1_000): () => void {
  let chain_id: string | null = null;
  let turn = 0;
  let stopped = false;
  const nudge = async () => {
    const url = urls[turn++ % urls.length]!;
    chain_id ??= (await rpc<{ chain_id: string }>(url, '/v1/status', { timeout_ms: 5_000 })).chain_id;
    await rpc(url, '/v1/txs', { body: nudge_tx(chain_id), timeout_ms: 5_000 });
  };
  const tick = () => {
    if (!stopped) void nudge().catch(() => undefined);
  };
  tick();
  const timer = setInterval(tick, every_ms);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

/**
 * Resolves when `url` reaches `height`, watching its live stream (no polling). While it waits it
 * drives load into `url` ({@link drive_load}), since an idle network makes no blocks; `drive:
 * false` only watches.
 */
export async function reach(
  url: string,
  height: number,
  timeout_ms = 60_000,
  opts: { drive?: boolean } = {},
): Promise<void> {
  const { RpcTransport, read_events } = await import('../../protocol/rpc_client.js');
  const abort = new AbortController();
  let timed_out = false;
  const timer = setTimeout(() => {
    timed_out = true;
    abort.abort();
  }, timeout_ms);
  let reached = false;
  let stop_load = () => {};
  try {
    // The stream first, the height second: a block committed in between is then either in the
    // height read or announced on the stream (the node subscribes before it answers the headers).
    const { body } = await new RpcTransport({ nodes: [url] }).open_stream(abort.signal);
    reached = (await heights([url]))[0]! >= height;
    if (!reached && opts.drive !== false) stop_load = drive_load([url]);
    if (!reached) {
      for await (const event of read_events(body)) {
        if (event.type !== 'block' || (JSON.parse(event.data) as { height: number }).height < height)
          continue;
        reached = true;
        break;
      }
    }
  } catch (error) {
    if (!timed_out) throw error;
  } finally {
    clearTimeout(timer);
    stop_load();
    abort.abort();
  }
  if (reached) return;
  // Say which it was: the deadline, or a stream the node ended (stopping, halted), and where it is.
  const why = timed_out ? `within ${timeout_ms} ms` : 'before its live stream ended';
  const status = await rpc(url, '/v1/status', { timeout_ms: 5_000 }).catch((error: unknown) => String(error));
  throw new Error(`${url} did not reach height ${height} ${why}; status ${JSON.stringify(status)}`);
}

/** Asserts that `url` serves blocks 1..height exactly as `reference` (JSON texts); names the first difference. */
export async function expect_same_blocks(url: string, reference: string[]): Promise<void> {
  const mine = await blocks_json(url, reference.length);
  for (let h = 0; h < reference.length; h++) {
    if (mine[h] !== reference[h])
      throw new Error(`${url} block ${h + 1} differs:\n  ${mine[h]}\n  ${reference[h]}`);
  }
}
