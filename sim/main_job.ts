/**
 * `npm start`: a local network of validator processes with encrypted client traffic.
 *
 * Starts N validators of a development network (protocol.md §9: min_gas_price 0, the development
 * accounts and the faucet funded at genesis; the genesis ceremony shares the seed by simulated
 * attestation), prints the funded accounts and how to ask the faucet for tokens, then an
 * open-loop workload of signed, encrypted transactions against the reference contracts (both
 * envelope schemes), submitted round-robin to every validator's RPC: a {@link LoadGenerator}
 * (sim/load_generator.ts), the one `sim up --load` runs. Commits are observed on the live event
 * stream; each client decrypts its own results. Shows live progress (height, tx/s,
 * commit latency) on stderr and prints a summary when stopped (Ctrl-C) or after --seconds. Like
 * `sim up` it serves the control server and the live dashboard (sim/dashboard/server.ts).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { get_provider } from '../protocol/providers/index.js';
import { control_file_path } from './control_server.js';
import { percentile, summary_lines } from './job_summary.js';
import { LOAD_RATE_MAX, LoadGenerator } from './load_generator.js';
import { dev_network_lines, LocalNetwork, type NodeEvent } from './network.js';
import { EarlyEvents, start_steering } from './steering.js';

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
  --dashboard-port D   port of the live dashboard on 127.0.0.1 (default: one the system chooses)
  --no-dashboard   serve no dashboard
  --help           show this help

While it runs, the live dashboard (its URL is printed as \`dashboard http://127.0.0.1:PORT/#token=…\`)
shows the validators, tx/s and latency, the consensus timeline, blocks, transactions and faults,
and steers the network (docs/dashboard.md); \`cloister sim status|kill|…|load --dir DIR\` steer it
from a terminal.

`;

function int_option(value: string | undefined, name: string, def: number, min: number, max: number): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new RangeError(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      validators: { type: 'string' },
      port: { type: 'string' },
      rate: { type: 'string' },
      seconds: { type: 'string' },
      dir: { type: 'string' },
      'dashboard-port': { type: 'string' },
      'no-dashboard': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const validators = int_option(values.validators, 'validators', 4, 1, 16);
  const port = int_option(values.port, 'port', 26657, 1024, 60000);
  const rate = int_option(values.rate, 'rate', 100, 1, LOAD_RATE_MAX);
  const seconds = int_option(values.seconds, 'seconds', 0, 0, 86_400);
  const dashboard_port = int_option(values['dashboard-port'], 'dashboard-port', 0, 0, 65_535);
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
  const net_dir = temp ? join(dir, 'net') : dir;
  const early = new EarlyEvents();
  const network = await LocalNetwork.up({
    validators,
    dir: net_dir,
    port,
    on_event: (e) => {
      on_event(e);
      early.push(e);
    },
  });
  const urls = network.urls();
  log(`ready ${urls.join(' ')}`);
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(130);
    stopping = true;
  };
  const load = new LoadGenerator({ urls: () => network.urls(), provider: p });
  // The control server (its token in net_dir/control.json: `cloister sim … --dir` steers this
  // network too) and the dashboard; `POST /stop` stops the workload as Ctrl-C does.
  const steering = await start_steering({
    network,
    dir: net_dir,
    load,
    dashboard_port: values['no-dashboard'] === true ? null : dashboard_port,
    early,
    on_stop: stop,
    print: log,
  });
  log(`control ${steering.control.url} (token in ${control_file_path(net_dir)})`);
  if (steering.dashboard !== null) log(`dashboard ${steering.dashboard.url}#token=${steering.control.token}`);
  for (const line of dev_network_lines(p, network.genesis(), urls)) log(line);
  // The validators run --supervised: a terminal's Ctrl-C reaches them too, and they leave it to
  // this process, which drains the workload before it stops them.
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  try {
    await load.prepare();
    log(`contracts instantiated; workload at ${rate} tx/s (Ctrl-C to stop)`);
    // Every commit's latency, for the summary's percentiles (the generator keeps the last 1000).
    const latencies: number[] = [];
    load.on_commit((c) => latencies.push(c.latency_ms));
    load.set_rate(rate);
    const started = Date.now();
    let window_start = Date.now();
    let window_committed = 0;
    while (!stopping && (seconds === 0 || Date.now() - started < seconds * 1000)) {
      await new Promise((r) => setTimeout(r, 100));
      if (Date.now() - window_start < 1000) continue;
      const s = load.stats();
      const sorted = [...latencies].sort((a, b) => a - b);
      const tps = ((s.committed - window_committed) * 1000) / (Date.now() - window_start);
      log(
        `height ${s.height ?? 0}  committed ${s.committed}  ${tps.toFixed(0)} tx/s  latency p50 ${percentile(sorted, 0.5)} ms p99 ${percentile(sorted, 0.99)} ms  pending ${s.pending}`,
      );
      window_start = Date.now();
      window_committed = s.committed;
    }
    // The workload ends here: the rate counts what committed until now, over this long.
    load.set_rate(0);
    const load_ms = Date.now() - started;
    const committed_in_load = load.stats().committed;
    // Give what is in flight a moment to commit: until the pending set drains or 10 s pass.
    const drain_started = Date.now();
    const drain_until = drain_started + 10_000;
    while (load.stats().pending > 0 && Date.now() < drain_until) await new Promise((r) => setTimeout(r, 100));

    const s = load.stats();
    process.stdout.write(
      `${summary_lines({
        heights,
        submitted: s.submitted,
        refused: new Map(Object.entries(s.refused)),
        load_ms,
        committed_in_load,
        committed: s.committed,
        drain_ms: Date.now() - drain_started,
        // Dropped ones were given up on unseen: never seen committed too.
        pending: s.pending + s.dropped,
        failed: s.failed,
        latencies_ms: latencies,
        decrypted: s.decrypted,
        logs: temp ? null : dir,
      }).join('\n')}\n`,
    );
    return s.committed > 0 && s.failed === 0 ? 0 : 1;
  } finally {
    await load.stop();
    await steering.close();
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
