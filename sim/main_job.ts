/**
 * `npm start`: a local network of validator processes with encrypted client traffic.
 *
 * Starts N validators of a development network (protocol.md §9: min_gas_price 0, the development
 * accounts and the faucet funded at genesis; the genesis ceremony shares the seed by simulated
 * attestation), prints the funded accounts and how to ask the faucet for tokens, then an
 * open-loop workload of signed, encrypted transactions against the reference contracts (both
 * envelope schemes), submitted round-robin to every validator's RPC. Commits are observed on the
 * live event stream; each client decrypts its own results. Shows live progress (height, tx/s,
 * commit latency) on stderr and prints a summary when stopped (Ctrl-C) or after --seconds.
 */

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { from_base64, from_hex, to_base64, to_hex } from '../protocol/bytes.js';
import { encrypt_message, type Scheme } from '../protocol/envelope.js';
import { get_provider } from '../protocol/providers/index.js';
import { open_result } from '../protocol/result.js';
import { rpc, subscribe } from '../protocol/rpc_client.js';
import { sign_tx, type TxMsg } from '../protocol/tx.js';
import { percentile, refusal_reason, summary_lines } from './job_summary.js';
import { dev_network_lines, LocalNetwork, type NodeEvent } from './network.js';

const HELP = `Usage: npm start [-- options]

Starts a local development network of validator processes and sends it encrypted transactions
until Ctrl-C. A development network charges no fees (min_gas_price 0), funds the development
accounts dev0..dev3 at genesis (\`cloister keys import-dev\` signs as them) and answers
POST /v1/faucet on every validator: the banner printed once the network is up shows the accounts
and how to get tokens for any address (\`cloister faucet ADDRESS --node URL\`).

Options:
  --validators N   validator processes (default 4)
  --port P         RPC port of validator 0; validator i uses P+i, p2p P+1000+i (default 26657)
  --rate R         transactions submitted per second, open loop (default 100)
  --seconds S      stop after S seconds of workload (default 0: run until Ctrl-C)
  --dir DIR        keep the network in DIR (default: a temporary folder, removed at exit)
  --help           show this help
`;

function int_option(value: string | undefined, name: string, def: number, min: number, max: number): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new RangeError(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

interface Sent {
  at_ms: number;
  tx_key: Uint8Array;
  scheme: Scheme;
  echo: string | null;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      validators: { type: 'string' },
      port: { type: 'string' },
      rate: { type: 'string' },
      seconds: { type: 'string' },
      dir: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const validators = int_option(values.validators, 'validators', 4, 1, 16);
  const port = int_option(values.port, 'port', 26657, 1024, 60000);
  const rate = int_option(values.rate, 'rate', 100, 1, 100_000);
  const seconds = int_option(values.seconds, 'seconds', 0, 0, 86_400);
  const temp = values.dir === undefined;
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'cloister-net-'));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const p = get_provider('native');

  log(`starting ${validators} validators in ${dir} …`);
  // Each validator's height as it logs it (started at, then each commit): known also for one that
  // stopped answering, and without asking anyone once the workload is over.
  const heights: (number | null)[] = Array.from({ length: validators }, () => null);
  const on_event = (e: NodeEvent) => {
    if ((e.event === 'committed' || e.event === 'started') && typeof e.height === 'number')
      heights[e.index] = Math.max(heights[e.index] ?? 0, e.height);
    if (e.event === 'halted' || e.event === 'evidence' || e.event === 'crashed' || e.event === 'exited')
      log(
        `validator ${e.index}: ${e.event}${e.event === 'crashed' ? ` (code ${e.code}, signal ${e.signal})` : ''}`,
      );
  };
  const network = await LocalNetwork.up({ validators, dir: temp ? join(dir, 'net') : dir, port, on_event });
  const urls = network.urls();
  log(`ready ${urls.join(' ')}`);
  for (const line of dev_network_lines(p, network.genesis(), urls)) log(line);
  const stream = new AbortController();
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(130);
    stopping = true;
  };
  // The validators run --supervised: a terminal's Ctrl-C reaches them too, and they leave it to
  // this process, which drains the workload before it stops them.
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  try {
    const status = await rpc<{ chain_id: string; io_pubkey: string }>(urls[0]!, '/v1/status');
    const codes = await rpc<{ code_id: number; code_hash: string; name?: string }[]>(urls[0]!, '/v1/codes');
    const code = (name: string) => codes.find((c) => c.name === name)!;
    const pk_io = from_hex(status.io_pubkey, 32);
    const clients = Array.from({ length: 16 }, () => {
      const sk = new Uint8Array(randomBytes(32));
      return { sk, pubkey: to_hex(p.ed25519_public(sk)), sequence: 0 };
    });
    const encrypt = (code_hash: string, msg: unknown, scheme: Scheme) => {
      const { envelope, tx_key } = encrypt_message(p, {
        scheme,
        sk_u: new Uint8Array(randomBytes(32)),
        pk_io,
        nonce: new Uint8Array(randomBytes(32)),
        chain_id: status.chain_id,
        code_hash,
        msg_json: JSON.stringify(msg),
      });
      return { payload: to_base64(envelope), tx_key };
    };
    const sign = (c: (typeof clients)[number], msg: TxMsg) =>
      sign_tx(p, c.sk, {
        chain_id: status.chain_id,
        sender: c.pubkey,
        sequence: c.sequence++,
        gas_limit: 400_000,
        msg,
      });

    // Contracts: a counter and an echo per scheme.
    const targets: { address: string; code_hash: string; scheme: Scheme; echo: boolean }[] = [];
    for (const name of ['counter', 'echo']) {
      for (const scheme of ['gcm', 'siv'] as const) {
        const c = code(name);
        const e = encrypt(c.code_hash, name === 'counter' ? { count: 0 } : {}, scheme);
        const tx = sign(clients[0]!, {
          type: 'instantiate',
          code_id: c.code_id,
          label: `${name}-${scheme}`,
          scheme,
          payload: e.payload,
        });
        const record = await rpc<{ code: number; contract: string }>(urls[0]!, '/v1/txs?wait=commit', {
          body: tx,
          timeout_ms: 60_000,
        });
        if (record.code !== 0) throw new Error(`instantiating ${name} failed with code ${record.code}`);
        targets.push({ address: record.contract, code_hash: c.code_hash, scheme, echo: name === 'echo' });
      }
    }
    log(`contracts instantiated; workload at ${rate} tx/s (Ctrl-C to stop)`);

    const sent = new Map<string, Sent>();
    const latencies: number[] = [];
    let committed = 0;
    let decrypted = 0;
    const refused = new Map<string, number>();
    let failed = 0;
    let height = 0;
    void subscribe(
      urls[0]!,
      (type, data) => {
        if (type === 'block') height = (data as { height: number }).height;
        if (type !== 'tx') return;
        const tx = data as { hash: string; code: number; output: string };
        const s = sent.get(tx.hash);
        if (s === undefined) return;
        sent.delete(tx.hash);
        committed++;
        latencies.push(Date.now() - s.at_ms);
        if (tx.code !== 0) {
          failed++;
          return;
        }
        const result = open_result(p, s.scheme, s.tx_key, from_base64(tx.output));
        if ('data' in result && (s.echo === null || result.data === s.echo)) decrypted++;
      },
      stream.signal,
    ).catch((error: unknown) => log(`event stream closed: ${(error as Error).message}`));

    const started = Date.now();
    let submitted = 0;
    let window_start = Date.now();
    let window_committed = 0;
    const tick_ms = 100;
    while (!stopping && (seconds === 0 || Date.now() - started < seconds * 1000)) {
      const tick_started = Date.now();
      const due = Math.floor(((tick_started - started) / 1000) * rate) - submitted;
      const batch: Promise<void>[] = [];
      for (let k = 0; k < due; k++) {
        const client = clients[submitted % clients.length]!;
        const target = targets[submitted % targets.length]!;
        const value = `hello ${submitted}`;
        const e = encrypt(
          target.code_hash,
          target.echo ? { echo: { value } } : { increment: {} },
          target.scheme,
        );
        const tx = sign(client, {
          type: 'execute',
          contract: target.address,
          scheme: target.scheme,
          payload: e.payload,
        });
        // A client always uses the same validator: its consecutive sequences then arrive in order.
        const url = urls[(submitted % clients.length) % urls.length]!;
        submitted++;
        batch.push(
          rpc<{ hash: string }>(url, '/v1/txs', { body: tx }).then(
            ({ hash }) => {
              sent.set(hash, {
                at_ms: tick_started,
                tx_key: e.tx_key,
                scheme: target.scheme,
                echo: target.echo ? value : null,
              });
            },
            (error: unknown) => {
              const why = refusal_reason(error);
              refused.set(why, (refused.get(why) ?? 0) + 1);
              client.sequence--; // the next one reuses the sequence this one did not take
            },
          ),
        );
      }
      await Promise.all(batch);
      if (Date.now() - window_start >= 1000) {
        const sorted = [...latencies].sort((a, b) => a - b);
        const tps = ((committed - window_committed) * 1000) / (Date.now() - window_start);
        log(
          `height ${height}  committed ${committed}  ${tps.toFixed(0)} tx/s  latency p50 ${percentile(sorted, 0.5)} ms p99 ${percentile(sorted, 0.99)} ms  pending ${sent.size}`,
        );
        window_start = Date.now();
        window_committed = committed;
      }
      const rest = tick_ms - (Date.now() - tick_started);
      if (rest > 0) await new Promise((r) => setTimeout(r, rest));
    }
    // The workload ends here: the rate counts what committed until now, over this long.
    const load_ms = Date.now() - started;
    const committed_in_load = committed;
    // Give what is in flight a moment to commit: until the pending set drains or 10 s pass.
    const drain_started = Date.now();
    const drain_until = drain_started + 10_000;
    while (sent.size > 0 && Date.now() < drain_until) await new Promise((r) => setTimeout(r, 100));

    process.stdout.write(
      `${summary_lines({
        heights,
        submitted,
        refused,
        load_ms,
        committed_in_load,
        committed,
        drain_ms: Date.now() - drain_started,
        pending: sent.size,
        failed,
        latencies_ms: latencies,
        decrypted,
        logs: temp ? null : dir,
      }).join('\n')}\n`,
    );
    return committed > 0 && failed === 0 ? 0 : 1;
  } finally {
    stream.abort();
    await network.down();
    if (temp) rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`cloister: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
