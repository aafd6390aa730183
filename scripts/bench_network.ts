/**
 * Network benchmark (issue #5): how many signed, encrypted transactions a network of validator
 * processes on loopback commits per second, at what commit latency, against the bound of what its
 * enclaves could execute on this machine.
 *
 * **Sweep** (default). For each validator count (full: 1, 4, 7; `--quick`: 1, 4) a fresh
 * {@link LocalNetwork} (genesis in a temporary folder, removed afterwards, also on error or
 * SIGINT) gets one instance of the reference `echo` contract, then steps of open-loop load
 * (scripts/bench/load.ts: how load is offered and latency and tx/s are measured). 64 accounts,
 * each pinned to one validator's RPC (round-robin), send echo executes of about 256 bytes of
 * message JSON (the same message as bench:enclave's 256 B echo row), gcm scheme, a fresh X25519
 * client key per transaction, gas_limit 400 000. Every step's transactions are signed and
 * encrypted before the step (client crypto is not timed and takes no CPU during it). An
 * unrecorded 2 s warm-up at the first rate comes first (the first blocks compile the contract in
 * every enclave and warm up the JIT, which alone once took a first step's p99 to 1 s). A step
 * offers `rate` tx/s for `--step-seconds`; the next offers `rate × --growth` (1.5). The first rate
 * is 100 tx/s for 1 validator, 50 for 4 and 25 for 7: every validator executes every
 * transaction, so the saturation point falls about as 1/validators, and a sweep whose first step
 * already breaks (as it may on a busy machine) only says "below that". A step is **broken**
 * when its p99 commit latency is over 1000 ms (`--p99-max-ms`), it committed fewer than 90 % of
 * its transactions or at under 90 % of the offered rate, anything was refused at submission,
 * failed to submit, committed with a non-zero code or was not committed within `--drain-seconds`
 * after the last was due, or the in-flight bound was reached. The sweep stops at the first broken step (the network
 * is saturated there) or after `--max-steps`; after a break by latency or rate alone it runs one
 * more step at the geometric mean of the last unbroken and the broken rate (`--no-refine` skips
 * it), which narrows the saturation point from a factor 1.5 to about 1.22. Steps never overlap:
 * each waits for its own transactions to commit (the drain) before the next is signed.
 *
 * The row of a validator count is its **best unbroken step**: the highest committed tx/s with
 * p99 ≤ 1 s (`--p99-max-ms`), i.e. the saturation point to within the last step's factor. If
 * even the first step broke, the row is that step with `saturated: true`. If no step broke, the
 * row is a lower bound (its note says so).
 *
 * **Bound**, measured in the same run before any network starts: a 1-worker {@link PoolEnclave}
 * executes blocks of the same transaction kind (bench:enclave's `measure_throughput`; host-side
 * block building and applying included; best of five runs after 1.5 s of unrecorded warm-up blocks, as one run of
 * 400 transactions is noisy on a shared machine): single-core enclave tx/s. Every validator
 * executes every transaction, so the machine cannot commit more than
 * `single_core × cores ÷ validators`. `ratio = tx_per_s ÷ bound_tx_per_s`. The bound leaves out
 * consensus, RPC, storage and the load generator, which share the same cores, so 1 is out of
 * reach; the ratio says how much of the machine's enclave capacity the network turns into commits.
 *
 * **Soak** (`--soak SECONDS --rate R`): one network (default 4 validators), a constant open-loop
 * rate for SECONDS, each validator process's resident memory (VmRSS from /proc/<pid>/status, the
 * process including its enclave worker threads) sampled every 5 s (every SECONDS/20 s for soaks
 * under 100 s, at least 1 s). Growth per validator = (mean RSS over the last W seconds ÷ mean RSS
 * over [U, U + W) − 1) × 100, with warm-up U = W = min(60 s, 20 % of SECONDS); `growth_pct` is the
 * largest over the validators and `flat` means it is at most 10 %.
 *
 * **Engines** (`--engine cloister|cometbft|both`, default cloister). `cometbft` runs the same
 * sweep (or soak) against a {@link CometNetwork}: the same Cloister validator processes, each the
 * ABCI application of its own `cometbft` v0.38.17 process (docs/cometbft.md), with the same load,
 * steps, rules and JSON fields. `both` runs each validator count under Cloister's engine, then
 * under CometBFT, one network after the other in the same run, and prints them side by side with
 * the ratio cometbft ÷ cloister. Every result row names its `engine`. What differs:
 * - **Commit** is the `tx` event of validator 0's stream under either engine. Under Cloister's
 *   engine a commit is final; under CometBFT a node announces height H's results once H+1, whose
 *   header carries H's app hash, committed (docs/cometbft.md "Finality"), so latency runs to
 *   finality under both.
 * - **CPU**: validator CPU is the Cloister processes' and, under CometBFT, the `cometbft`
 *   processes' too (read from /proc/<pid>/stat likewise); `cometbft_cpu_ms_per_tx` (steps) and
 *   `cometbft_cpu_busy_share` (idle) give CometBFT's part, null under Cloister's engine.
 * - **Blocks**: `blocks_per_s` counts the blocks that hold a step's transactions; the idle window
 *   counts every height (/v1/status). Under CometBFT an empty block follows a block with
 *   transactions when nothing else is waiting, to carry its app hash: it holds none of the step's
 *   transactions, so `blocks_per_s` leaves it out; the idle window starts once the deployment's
 *   own such block is stored, so an idle network counts 0 blocks under either engine.
 * - **Ports**: Cloister RPC P+i and p2p P+1000+i (unused under CometBFT, but still reserved and
 *   checked); under CometBFT also RPC P+2000+10i, p2p +1 and ABCI +2. All are checked free before
 *   the bound is measured and before each network starts.
 * - `--workers` staging is the enclave pool's (FinalizeBlock executes through it), so it applies
 *   under both; the bound is the same enclave bound.
 * A missing or wrong `cometbft` binary (sim/cometbft/binary.ts) exits 2 with the install command
 * before anything runs.
 *
 * Output: a table on stdout, progress on stderr, `--out FILE` JSON, `--svg FILE` chart. Run
 * `npm run bench:network -- --help` for the flags. Timing uses performance.now() in this process.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { PoolEnclave } from '../enclave/pool.js';
import { unwrap } from '../enclave/result.js';
import { COMET_PORT_OFFSET, comet_ports, P2P_PORT_OFFSET } from '../node/init.js';
import { from_hex, to_base64 } from '../protocol/bytes.js';
import { encrypt_message } from '../protocol/envelope.js';
import { get_provider } from '../protocol/providers/index.js';
import { tx_hash } from '../protocol/tx.js';
import { check_cometbft } from '../sim/cometbft/binary.js';
import { CometNetwork } from '../sim/cometbft/network.js';
import {
  comet_named_ports,
  LocalNetwork,
  type NamedPort,
  probe_port,
  workers_per_validator,
} from '../sim/network.js';
import { type ChartPanel, render_chart, SERIES_COLORS } from './bench/chart.js';
import {
  EventStream,
  LoadAccount,
  type LoadTarget,
  type PreparedTx,
  prepare_txs,
  type RunResult,
  request_json,
  run_open_loop,
} from './bench/load.js';
import { child_processes, cpu_ms, rss_mb, validator_pids } from './bench/proc.js';
import { cores, is_main, log, machine_info, percentile, round, text_table } from './bench/report.js';
import { execute_msg, lane_txs, make_world, measure_throughput, warm_pool } from './bench/world.js';

/** The latency limit of an unbroken step (issue #5's target), ms. */
const P99_MAX_MS = 1000;
/** A step must commit at least this share of what it offered (count and rate). */
const COMMITTED_SHARE_MIN = 0.9;
/** Issue #5's network targets, for 4 validators on this machine. */
const TARGET_VALIDATORS = 4;
const TARGET_TX_PER_S = 1000;
const TARGET_RATIO = 0.5;
/** The memory target: growth over a soak at most this, percent. */
const TARGET_GROWTH_PCT = 10;
/** Message JSON bytes of each echo execute, as bench:enclave's 256 B row. */
const PAYLOAD_BYTES = 256;
/** Gas limit per transaction: the echo needs far less; block gas (500M) then allows > 500 txs. */
const GAS_LIMIT = 400_000;
/** Most transactions signed for one step or soak (about 1 KB each, held in memory). */
const RUN_TXS_MAX = 300_000;
/** Bound measurement: blocks × transactions per block, repeated, best taken. */
const BOUND_BLOCKS = 2;
const BOUND_BLOCK_TXS = 200;
const BOUND_REPEATS = 5;
/** Unrecorded execution before the bound's runs (see bench_enclave.ts warm_pool). */
const BOUND_WARM_MS = 1500;
const POST_TIMEOUT_MS = 30_000;
const STREAM_TIMEOUT_MS = 10_000;
/** How long the deployed contract may take to commit on every validator. */
const DEPLOY_TIMEOUT_MS = 60_000;
/** The unrecorded warm-up run before the first step (or the soak): this long, at least this many. */
const WARMUP_SECONDS = 2;
const WARMUP_TXS_MIN = 20;
/** Default first offered rate by validator count (see the module doc). */
const START_RATE_DEFAULT: Record<number, number> = { 1: 100, 4: 50, 7: 25 };

const HELP = `Usage: npm run bench:network -- [options]
       node dist/scripts/bench_network.js [options]

Starts local networks of validator processes on loopback and offers them open-loop load of
signed, encrypted echo transactions, raising the rate until commit latency breaks (p99 over
1000 ms or --p99-max-ms, under 90 % committed, refusals or losses). Reports per validator count
the best unbroken step's committed tx/s and p50/p99 commit latency, beside the bound:
single-core enclave tx/s (measured first, in the same run) × cores ÷ validators.

Sweep options:
  --quick              validators 1 and 4, 5 s steps (a few minutes on 2 cores)
  --validators LIST    validator counts, comma-separated (default 1,4,7; --quick 1,4;
                       with --soak a single count, default 4)
  --step-seconds S     seconds of load per step (default 10; --quick 5)
  --max-steps N        most steps per validator count (default 12)
  --start-rate R       first step's offered tx/s (default 100 for 1 validator, 50 for 4,
                       25 for 7, else 100)
  --growth F           each step offers F times the previous one's rate (default 1.5)
  --drain-seconds S    after a step's last transaction is due, wait at most S s for its
                       commits; the rest count as lost (default 15)
  --no-refine          no extra step between the last unbroken and the first broken rate
  --p99-max-ms MS      a step with p99 commit latency over MS is broken (default 1000, issue
                       #5's limit, which the targets keep; under CometBFT a transaction is final
                       two blocks after it is proposed, so a higher limit finds its capacity)
  --idle-seconds S     before the load, S s with none: blocks committed and validator CPU
                       per block, the fixed cost of a block (default 5; --quick 3; 0 skips)
Soak options (memory: is a validator's resident memory flat under constant load?):
  --soak SECONDS       one network, constant load for SECONDS, RSS of each validator sampled
  --rate R             the soak's offered tx/s (required with --soak)
Common options:
  --engine E           cloister (default), cometbft (each validator the ABCI application of a
                       cometbft v0.38.17 process, docs/cometbft.md) or both (each validator
                       count under Cloister's engine, then under CometBFT, in the same run, side
                       by side with the ratio cometbft/cloister; not with --soak). Without the
                       cometbft binary, cometbft and both exit 2 with the install command
  --workers N          enclave worker threads per validator (default: the cores this process
                       may use, shared out between the validators, at least 1; with 2 or more a
                       validator stages each block over them)
  --port P             RPC port of validator 0; validator i uses P+i, p2p P+1000+i, and under
                       CometBFT P+2000+10i..P+2000+10i+2 (default 24400); all must be free
  --accounts N         signing accounts, round-robin over the validators (default 64)
  --in-flight-max N    most transactions due but not committed; reaching it stops and
                       breaks the step (default 2000)
  --out FILE           write the results as JSON to FILE
  --svg FILE           write an SVG chart to FILE (default: --out with .svg, else
                       bench-network.svg)
  --help               this text

Progress goes to stderr, the table to stdout. Bad options, busy ports and a missing cometbft
binary exit with code 2.
`;

/** A bad command line: one line on stderr and exit code 2. */
class UsageError extends Error {}

/** What the machine lacks to run the plan (a cometbft binary, free ports): one line, exit code 2. */
class SetupError extends Error {}

/** A consensus engine the validators run under. */
export type Engine = 'cloister' | 'cometbft';
const ENGINES: readonly Engine[] = ['cloister', 'cometbft'];

function int_option(value: string | undefined, name: string, def: number, min: number, max: number): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(value)}`);
  return n;
}

function number_option(
  value: string | undefined,
  name: string,
  def: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`--${name} must be a number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  return n;
}

/** Everything the command line decides. */
interface Plan {
  /** The engines to run, in order: each validator count runs under each (`--engine both`: both). */
  engines: Engine[];
  validators: number[];
  port: number;
  /** Enclave workers per validator; null: the simulator's default (workers_per_validator). */
  workers: number | null;
  step_seconds: number;
  max_steps: number;
  start_rate: number | null;
  growth: number;
  drain_seconds: number;
  accounts: number;
  in_flight_max: number;
  /** Whether to add one step between the last good and the first broken rate. */
  refine: boolean;
  /** Seconds with no load before the warm-up, measuring the cost of a block (0: skip). */
  idle_seconds: number;
  /** A step whose p99 commit latency is over this is broken, ms (issue #5's 1000 by default). */
  p99_max_ms: number;
  soak: { seconds: number; rate: number } | null;
  out: string | undefined;
  svg: string;
}

/** The plan of `argv`, or null for --help; throws UsageError for anything wrong. */
export function parse_plan(argv: string[]): Plan | null {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean' },
        validators: { type: 'string' },
        'step-seconds': { type: 'string' },
        'max-steps': { type: 'string' },
        'start-rate': { type: 'string' },
        growth: { type: 'string' },
        'drain-seconds': { type: 'string' },
        'no-refine': { type: 'boolean' },
        'idle-seconds': { type: 'string' },
        'p99-max-ms': { type: 'string' },
        engine: { type: 'string' },
        soak: { type: 'string' },
        rate: { type: 'string' },
        port: { type: 'string' },
        workers: { type: 'string' },
        accounts: { type: 'string' },
        'in-flight-max': { type: 'string' },
        out: { type: 'string' },
        svg: { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    // parseArgs's messages are one clear line ("Unknown option '--x'. …"); keep only that line.
    throw new UsageError((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  if (values['help'] === true) return null;
  const str = (name: string) => values[name] as string | undefined;
  const quick = values['quick'] === true;
  const soak_seconds = str('soak');
  const soak =
    soak_seconds === undefined
      ? null
      : {
          seconds: int_option(soak_seconds, 'soak', 0, 10, 86_400),
          rate: number_option(str('rate'), 'rate', Number.NaN, 1, 100_000),
        };
  if (soak !== null && Number.isNaN(soak.rate)) throw new UsageError('--soak needs --rate R (tx/s)');
  if (soak === null && str('rate') !== undefined)
    throw new UsageError('--rate is for --soak; a sweep uses --start-rate');
  let validators = soak !== null ? [TARGET_VALIDATORS] : quick ? [1, 4] : [1, 4, 7];
  const list = str('validators');
  if (list !== undefined) {
    validators = list.split(',').map((v) => int_option(v, 'validators', 0, 1, 16));
    if (validators.length === 0 || validators.length > 8)
      throw new UsageError('--validators takes 1 to 8 counts, e.g. 4 or 1,4');
    if (soak !== null && validators.length !== 1)
      throw new UsageError('--soak runs one network: give one --validators count');
  }
  const engine = str('engine') ?? 'cloister';
  if (engine !== 'cloister' && engine !== 'cometbft' && engine !== 'both')
    throw new UsageError(`--engine must be cloister, cometbft or both, not ${JSON.stringify(engine)}`);
  const engines: Engine[] = engine === 'both' ? [...ENGINES] : [engine];
  if (soak !== null && engines.length !== 1)
    throw new UsageError('--soak runs one network: give --engine cloister or cometbft');
  // Every port a validator uses must exist: p2p P+1000+i, and under CometBFT P+2000+10i+2.
  const most = Math.max(...validators);
  const port_max = Math.min(
    ...engines.map((e) =>
      e === 'cloister' ? 65535 - P2P_PORT_OFFSET - most : 65535 - COMET_PORT_OFFSET - 10 * most,
    ),
  );
  const port = int_option(str('port'), 'port', 24400, 1024, port_max);
  const out = str('out');
  const svg =
    str('svg') ??
    (out !== undefined ? `${out.slice(0, out.length - extname(out).length)}.svg` : 'bench-network.svg');
  if (out !== undefined && out === svg) throw new UsageError('--out and --svg must be different files');
  return {
    engines,
    validators,
    port,
    workers: str('workers') === undefined ? null : int_option(str('workers'), 'workers', 1, 1, 64),
    step_seconds: number_option(str('step-seconds'), 'step-seconds', quick ? 5 : 10, 0.5, 600),
    max_steps: int_option(str('max-steps'), 'max-steps', 12, 1, 40),
    start_rate:
      str('start-rate') === undefined ? null : number_option(str('start-rate'), 'start-rate', 0, 1, 100_000),
    growth: number_option(str('growth'), 'growth', 1.5, 1.05, 10),
    drain_seconds: number_option(str('drain-seconds'), 'drain-seconds', 15, 1, 600),
    accounts: int_option(str('accounts'), 'accounts', 64, 1, 1024),
    in_flight_max: int_option(str('in-flight-max'), 'in-flight-max', 2000, 10, 100_000),
    refine: values['no-refine'] !== true,
    idle_seconds: number_option(str('idle-seconds'), 'idle-seconds', quick ? 3 : 5, 0, 600),
    p99_max_ms: number_option(str('p99-max-ms'), 'p99-max-ms', P99_MAX_MS, 10, 600_000),
    soak,
    out,
    svg,
  };
}

// ---------------------------------------------------------------------------------------------
// Temporary networks, cleaned up on every exit path.

/** Cleanups of what is running now (networks, folders); a signal runs them before exiting. */
const cleanups = new Set<() => Promise<void>>();
let interrupted = false;

/** Thrown on the main path once a signal arrived: stop there, write no results. */
class Interrupted extends Error {}

function check_interrupted(): void {
  if (interrupted) throw new Interrupted('interrupted');
}

/** SIGINT/SIGTERM: stop the networks, remove the folders, exit 130 (the main path writes nothing). */
function on_signal(signal: NodeJS.Signals): void {
  if (interrupted) process.exit(130); // a second Ctrl-C: leave now
  interrupted = true;
  log(`${signal}: stopping validators and removing temporary folders …`);
  void Promise.allSettled([...cleanups].map((fn) => fn())).finally(() => process.exit(130));
}

interface Net {
  engine: Engine;
  /** Cloister RPC URLs, by validator index. */
  urls: string[];
  agents: Agent[];
  /**
   * The processes whose CPU and memory count: each Cloister validator process (host and enclave
   * threads), and under CometBFT each validator's `cometbft` process (empty under Cloister's engine).
   */
  pids(): { validators: number[]; cometbft: number[] };
  stop(): Promise<void>;
}

/** Every port a network of `validators` under `engine` listens on (node/init.ts, docs/cometbft.md "Ports"). */
export function engine_ports(engine: Engine, validators: number, port: number): NamedPort[] {
  const host = '127.0.0.1';
  return Array.from({ length: validators }, (_, i) => {
    const ports: NamedPort[] = [
      { host, port: port + i, what: `v${i} RPC` },
      // Unused under CometBFT, but LocalNetwork still reserves it.
      { host, port: port + P2P_PORT_OFFSET + i, what: `v${i} p2p` },
    ];
    if (engine === 'cometbft') ports.push(...comet_named_ports(host, comet_ports(port, i).rpc, i));
    return ports;
  }).flat();
}

/** Throws a {@link SetupError} naming every port of `engines` × `validators` at `port` that is not free. */
async function check_ports(engines: readonly Engine[], validators: number, port: number): Promise<void> {
  const by_port = new Map<number, NamedPort>();
  for (const e of engines) for (const p of engine_ports(e, validators, port)) by_port.set(p.port, p);
  const ports = [...by_port.values()];
  const answers = await Promise.all(ports.map((p) => probe_port(p.host, p.port)));
  const bad = ports.flatMap((p, k) =>
    answers[k] === null ? [] : [`port ${p.port} (${p.what}) ${answers[k]}`],
  );
  if (bad.length > 0)
    throw new SetupError(
      `${bad.join('; ')}: stop what listens there, or give another --port than ${port} (validator i ` +
        `uses P+i and P+${P2P_PORT_OFFSET}+i, and under CometBFT P+${COMET_PORT_OFFSET}+10i to P+${COMET_PORT_OFFSET}+10i+2)`,
    );
}

/**
 * A fresh network of `validators` under `engine` in a temporary folder; stop() shuts it down and
 * removes it. `cometbft_bin`: the checked binary, needed under CometBFT.
 */
async function start_network(
  engine: Engine,
  validators: number,
  port: number,
  workers: number | null,
  cometbft_bin: string | null,
): Promise<Net> {
  await check_ports([engine], validators, port);
  const dir = mkdtempSync(join(tmpdir(), 'cloister-bench-net-'));
  let network: LocalNetwork | null = null;
  let comet: CometNetwork | null = null;
  const agents: Agent[] = [];
  let stopping: Promise<void> | null = null;
  // Idempotent: a signal's cleanup and the main path's `finally` both wait for the one shutdown.
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      for (const a of agents) a.destroy();
      try {
        if (comet !== null) await comet.down();
        else if (network !== null) await network.down();
        // Interrupted while starting: the network has not handed the processes over yet (the
        // cometbft processes' command lines name their homes in `dir` too).
        else for (const c of child_processes(dir)) process.kill(c.pid, 'SIGTERM');
      } finally {
        rmSync(dir, { recursive: true, force: true });
        cleanups.delete(stop);
      }
    })());
  cleanups.add(stop);
  const opts = {
    validators,
    dir: join(dir, 'net'),
    port,
    workers: workers ?? workers_per_validator(validators),
  };
  try {
    if (engine === 'cometbft') {
      if (cometbft_bin === null) throw new Error('invariant: no cometbft binary for --engine cometbft');
      comet = await CometNetwork.up({ ...opts, cometbft_bin });
      network = comet.local;
    } else network = await LocalNetwork.up(opts);
  } catch (error) {
    await stop();
    throw error;
  }
  const urls = network.urls();
  const homes = network.homes;
  const comet_net = comet;
  // Keep-alive connections, at most one per account and validator in use at once (accounts send
  // one transaction at a time), well under a node's 256 concurrent requests.
  for (let i = 0; i < validators; i++) agents.push(new Agent({ keepAlive: true, maxSockets: 128 }));
  return {
    engine,
    urls,
    agents,
    pids: () => ({ validators: validator_pids(homes), cometbft: comet_net?.comet_pids() ?? [] }),
    stop,
  };
}

/** Validator 0's committed height (`GET /v1/status`). */
async function status_height(net: Net): Promise<number> {
  const status = await request_json<{ height: number }>(net.agents[0]!, net.urls[0]!, '/v1/status', {
    method: 'GET',
    timeout_ms: STREAM_TIMEOUT_MS,
  });
  return status.height;
}

/** Waits until validator 0 has stored `height` (no event announces a block that holds nothing). */
async function wait_height(net: Net, height: number, timeout_ms: number): Promise<void> {
  const deadline = performance.now() + timeout_ms;
  while ((await status_height(net)) < height) {
    if (performance.now() > deadline)
      throw new Error(`validator 0 did not store height ${height} within ${timeout_ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Instantiates `echo` through validator 0 and waits until every validator committed it. */
async function deploy_echo(net: Net): Promise<LoadTarget> {
  const p = get_provider('native');
  const url = net.urls[0]!;
  const agent = net.agents[0]!;
  const status = await request_json<{ chain_id: string; io_pubkey: string }>(agent, url, '/v1/status', {
    method: 'GET',
    timeout_ms: POST_TIMEOUT_MS,
  });
  const codes = await request_json<{ code_id: number; code_hash: string; name?: string }[]>(
    agent,
    url,
    '/v1/codes',
    { method: 'GET', timeout_ms: POST_TIMEOUT_MS },
  );
  const echo = codes.find((c) => c.name === 'echo');
  if (echo === undefined) throw new Error('the network has no echo contract');
  const pk_io = from_hex(status.io_pubkey, 32);
  const { envelope } = encrypt_message(p, {
    scheme: 'gcm',
    sk_u: new Uint8Array(randomBytes(32)),
    pk_io,
    nonce: new Uint8Array(randomBytes(32)),
    chain_id: status.chain_id,
    code_hash: echo.code_hash,
    msg_json: '{}',
  });
  const admin = new LoadAccount(p, 0);
  const tx = admin.sign(
    status.chain_id,
    {
      type: 'instantiate',
      code_id: echo.code_id,
      label: 'bench-echo',
      scheme: 'gcm',
      payload: to_base64(envelope),
    },
    GAS_LIMIT,
  );
  const hash = tx_hash(p, tx);
  // Every validator's stream is open before the submission, so each one's commit event is seen.
  let seen = 0;
  let all_seen = () => {};
  const committed_everywhere = new Promise<void>((resolve) => {
    all_seen = resolve;
  });
  const streams = await Promise.all(
    net.urls.map((u) =>
      EventStream.open(
        u,
        (e) => {
          if (e.hash === hash && ++seen === net.urls.length) all_seen();
        },
        STREAM_TIMEOUT_MS,
      ),
    ),
  );
  try {
    const record = await request_json<{ code: number; contract?: string; height: number }>(
      agent,
      url,
      '/v1/txs?wait=commit',
      {
        method: 'POST',
        body: JSON.stringify(tx),
        timeout_ms: DEPLOY_TIMEOUT_MS,
      },
    );
    if (record.code !== 0 || record.contract === undefined)
      throw new Error(`instantiating echo failed with code ${record.code}`);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      committed_everywhere,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`echo not committed on every validator within ${DEPLOY_TIMEOUT_MS} ms`)),
          DEPLOY_TIMEOUT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    // Under CometBFT a node announces block H once H + 1, which carries H's app hash, is decided,
    // and stores H + 1 just after: wait for that, so the idle window that follows counts no block
    // of the deployment (H + 1 holds nothing; no other block comes without transactions).
    if (net.engine === 'cometbft') await wait_height(net, record.height + 1, DEPLOY_TIMEOUT_MS);
    return {
      chain_id: status.chain_id,
      pk_io,
      contract: record.contract,
      code_hash: echo.code_hash,
      msg: execute_msg('echo', PAYLOAD_BYTES),
      gas_limit: GAS_LIMIT,
    };
  } finally {
    await Promise.all(streams.map((s) => s.close()));
  }
}

// ---------------------------------------------------------------------------------------------
// The bound.

/** Single-core enclave tx/s for the load's transaction kind: a 1-worker pool, best of a few runs. */
async function measure_single_core(): Promise<number> {
  const world = await make_world();
  const remove = async () => {
    rmSync(world.home, { recursive: true, force: true });
    cleanups.delete(remove);
  };
  cleanups.add(remove);
  try {
    const enclave = new PoolEnclave({ provider: 'native', platform_secret_file: world.secret, workers: 1 });
    try {
      unwrap(await enclave.load_seed(world.sealed_seed));
      // Warm-up: starts the worker, unseals the seed, compiles the contract, lets the JIT settle.
      await warm_pool(enclave, world, 1, BOUND_BLOCK_TXS, BOUND_WARM_MS);
      let best = 0;
      for (let r = 0; r < BOUND_REPEATS; r++) {
        const lane = lane_txs(world, 'echo', PAYLOAD_BYTES, true, BOUND_BLOCKS, BOUND_BLOCK_TXS);
        best = Math.max(best, await measure_throughput(enclave, world, [lane]));
      }
      return best;
    } finally {
      await enclave.close();
    }
  } finally {
    await remove();
  }
}

// ---------------------------------------------------------------------------------------------
// Sweep.

/** One step of a sweep, as written to the JSON. */
export interface StepResult {
  offered_tx_per_s: number;
  tx_per_s: number;
  p50_ms: number;
  p99_ms: number;
  lost: number;
  broken_reason: string | null;
  /** Transactions due in the step, committed, refused at submission. */
  due: number;
  committed: number;
  refused: number;
  /** p99 of due time → POST sent (the client-side queue), ms. */
  submit_delay_p99_ms: number;
  /**
   * CPU time per committed transaction from the first due transaction to the end of the drain,
   * ms: all validator processes together (host and enclave threads, and under CometBFT the
   * `cometbft` processes too), and this load generator.
   */
  validators_cpu_ms_per_tx: number;
  loadgen_cpu_ms_per_tx: number;
  /** The `cometbft` processes' part of validators_cpu_ms_per_tx; null under Cloister's engine. */
  cometbft_cpu_ms_per_tx: number | null;
  /** Share of the machine's cores busy in those processes over the same span (0..1). */
  cpu_busy_share: number;
  /** Blocks holding the step's transactions, per second of the step, and their mean size. */
  blocks_per_s: number;
  txs_per_block: number;
}

/** Blocks and validator CPU over a window with no load. */
export interface IdleResult {
  seconds: number;
  blocks: number;
  blocks_per_s: number;
  /** CPU time of all validator processes together (`cometbft` too) per committed (empty) block, ms. */
  cpu_ms_per_block: number;
  /** Share of the machine's cores the validators kept busy. */
  cpu_busy_share: number;
  /** The `cometbft` processes' part of cpu_busy_share; null under Cloister's engine. */
  cometbft_cpu_busy_share: number | null;
}

/** One validator count's row. */
export interface NetworkResult {
  /** The consensus engine the validators ran under. */
  engine: Engine;
  validators: number;
  /** Enclave workers of each validator. */
  workers: number;
  tx_per_s: number;
  p50_ms: number;
  p99_ms: number;
  bound_tx_per_s: number;
  ratio: number;
  offered_tx_per_s: number;
  /** Even the first (lowest) step broke: the row is that step, not a sustainable load. */
  saturated: boolean;
  /**
   * Offered tx/s of the lowest broken step above the row's (the saturation point lies between
   * the two); the first step's if even it broke; null when no step broke (the row is a lower bound).
   */
  broke_at_offered_tx_per_s: number | null;
  /** The network with no load (null when skipped): what a block costs by itself. */
  idle: IdleResult | null;
  note: string;
  steps: StepResult[];
}

/** Why a run counts as broken (every reason that applies, joined), or null. */
function broken_reason(r: {
  fault: string | null;
  lost: number;
  committed: number;
  planned: number;
  tx_per_s: number;
  rate: number;
  p99_ms: number;
  /** The latency limit (`--p99-max-ms`). */
  p99_max_ms: number;
}): string | null {
  const reasons: string[] = [];
  if (r.fault !== null) reasons.push(r.fault);
  if (r.lost > 0) reasons.push(`${r.lost} not committed within the drain`);
  if (r.committed < COMMITTED_SHARE_MIN * r.planned) reasons.push(`committed ${r.committed} of ${r.planned}`);
  if (r.p99_ms > r.p99_max_ms) reasons.push(`p99 ${r.p99_ms.toFixed(0)} ms > ${r.p99_max_ms} ms`);
  if (r.tx_per_s < COMMITTED_SHARE_MIN * r.rate)
    reasons.push(`committed ${r.tx_per_s.toFixed(0)} tx/s of ${r.rate.toFixed(0)} offered`);
  return reasons.length === 0 ? null : reasons.join('; ');
}

/** A {@link cpu_now} reading. */
interface CpuReading {
  wall_ms: number;
  /** Every validator process, `cometbft` included, ms. */
  nodes_ms: number;
  /** The `cometbft` processes alone, ms; null under Cloister's engine. */
  comet_ms: number | null;
  self_us: number;
}

/**
 * CPU used so far by the validators (ms; under CometBFT with their `cometbft` processes) and by
 * this process (µs), at wall time `wall_ms`.
 */
function cpu_now(engine: Engine, pids: ReturnType<Net['pids']>): CpuReading {
  const self = process.cpuUsage();
  const sum = (list: readonly number[]) => list.reduce((total, pid) => total + cpu_ms(pid), 0);
  const comet_ms = engine === 'cometbft' ? sum(pids.cometbft) : null;
  return {
    wall_ms: performance.now(),
    nodes_ms: sum(pids.validators) + (comet_ms ?? 0),
    comet_ms,
    self_us: self.user + self.system,
  };
}

/** CPU per committed transaction between two {@link cpu_now} readings (zeros if none committed). */
function cpu_per_tx(
  start: CpuReading | null,
  end: CpuReading,
  committed: number,
): Pick<
  StepResult,
  'validators_cpu_ms_per_tx' | 'loadgen_cpu_ms_per_tx' | 'cometbft_cpu_ms_per_tx' | 'cpu_busy_share'
> {
  const comet = end.comet_ms === null ? null : 0;
  if (start === null || committed === 0 || end.wall_ms <= start.wall_ms)
    return {
      validators_cpu_ms_per_tx: 0,
      loadgen_cpu_ms_per_tx: 0,
      cometbft_cpu_ms_per_tx: comet,
      cpu_busy_share: 0,
    };
  const nodes_ms = end.nodes_ms - start.nodes_ms;
  const self_ms = (end.self_us - start.self_us) / 1000;
  return {
    validators_cpu_ms_per_tx: round(nodes_ms / committed, 3),
    loadgen_cpu_ms_per_tx: round(self_ms / committed, 3),
    cometbft_cpu_ms_per_tx:
      end.comet_ms === null || start.comet_ms === null
        ? null
        : round((end.comet_ms - start.comet_ms) / committed, 3),
    cpu_busy_share: round((nodes_ms + self_ms) / (end.wall_ms - start.wall_ms) / cores(), 3),
  };
}

/**
 * The network with no load for `seconds`: committed heights and validator CPU at both ends of the
 * window. A measurement window, not a wait for an event: nothing is expected to happen.
 */
async function measure_idle(net: Net, seconds: number): Promise<IdleResult> {
  const pids = net.pids();
  const height = () => status_height(net);
  const h0 = await height();
  const c0 = cpu_now(net.engine, pids);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const h1 = await height();
  const c1 = cpu_now(net.engine, pids);
  check_interrupted();
  const blocks = h1 - h0;
  const wall_s = (c1.wall_ms - c0.wall_ms) / 1000;
  const nodes_ms = c1.nodes_ms - c0.nodes_ms;
  return {
    seconds,
    blocks,
    blocks_per_s: round(blocks / wall_s, 2),
    cpu_ms_per_block: blocks > 0 ? round(nodes_ms / blocks, 2) : 0,
    cpu_busy_share: round(nodes_ms / (wall_s * 1000) / cores(), 3),
    cometbft_cpu_busy_share:
      c0.comet_ms === null || c1.comet_ms === null
        ? null
        : round((c1.comet_ms - c0.comet_ms) / (wall_s * 1000) / cores(), 3),
  };
}

/** One open-loop run of `txs` at `rate` on `net` (submitting to each account's validator, watching validator 0). */
function run_at(
  net: Net,
  plan: Plan,
  accounts: LoadAccount[],
  txs: PreparedTx[],
  rate: number,
  on_start?: () => void,
): Promise<RunResult> {
  return run_open_loop({
    urls: net.urls,
    agents: net.agents,
    stream_url: net.urls[0]!,
    accounts,
    txs,
    rate_tx_per_s: rate,
    in_flight_max: plan.in_flight_max,
    drain_timeout_ms: plan.drain_seconds * 1000,
    post_timeout_ms: POST_TIMEOUT_MS,
    stream_timeout_ms: STREAM_TIMEOUT_MS,
    ...(on_start === undefined ? {} : { on_start }),
  });
}

/**
 * A short run that is not recorded: the first blocks compile the contract in every validator's
 * enclave and warm up the JIT and the connections, which made a first step's p99 reach 1 s on
 * its own. Throws if it does not commit cleanly: the accounts' sequences would then be off.
 */
async function warm_up(net: Net, plan: Plan, accounts: LoadAccount[], target: LoadTarget, rate: number) {
  const p = get_provider('native');
  const count = Math.max(WARMUP_TXS_MIN, Math.round(rate * WARMUP_SECONDS));
  const r = await run_at(net, plan, accounts, prepare_txs(p, target, accounts, count, 'warm-up'), rate);
  check_interrupted();
  log(
    `  warm-up (not recorded): ${r.committed}/${count} committed at ${rate.toFixed(1)} tx/s, ` +
      `p99 ${percentile(r.latencies_ms, 0.99).toFixed(0)} ms`,
  );
  if (r.fault !== null || r.committed !== count) {
    throw new Error(`the warm-up did not commit cleanly (${r.committed}/${count}): ${r.fault ?? 'lost'}`);
  }
}

async function sweep(
  validators: number,
  engine: Engine,
  plan: Plan,
  single_core_tx_per_s: number,
  cometbft_bin: string | null,
): Promise<NetworkResult> {
  const p = get_provider('native');
  const bound = (single_core_tx_per_s * cores()) / validators;
  log(
    `${validators} validator(s) under ${engine}: starting a network on ports ${plan.port}.. (bound ${bound.toFixed(0)} tx/s)`,
  );
  const net = await start_network(engine, validators, plan.port, plan.workers, cometbft_bin);
  const steps: StepResult[] = [];
  let stopped_by = '';
  let idle: IdleResult | null = null;
  try {
    const target = await deploy_echo(net);
    log(`  echo instantiated at ${target.contract}`);
    if (plan.idle_seconds > 0) {
      idle = await measure_idle(net, plan.idle_seconds);
      log(
        `  idle ${idle.seconds} s: ${idle.blocks} empty blocks (${idle.blocks_per_s}/s), ` +
          `${idle.cpu_ms_per_block} ms of validator CPU per block, cores busy ${(idle.cpu_busy_share * 100).toFixed(0)} %` +
          (idle.cometbft_cpu_busy_share === null
            ? ''
            : ` (cometbft ${(idle.cometbft_cpu_busy_share * 100).toFixed(0)} %)`),
      );
    }
    const accounts = Array.from({ length: plan.accounts }, (_, i) => new LoadAccount(p, i % validators));
    const step_at = async (
      rate: number,
      what: string,
    ): Promise<{ step: StepResult; clean: boolean } | null> => {
      const count = Math.max(1, Math.round(rate * plan.step_seconds));
      if (count > RUN_TXS_MAX) {
        stopped_by = `a step at ${rate.toFixed(0)} tx/s would need ${count} transactions (over ${RUN_TXS_MAX})`;
        return null;
      }
      const pids = net.pids();
      let cpu_start: CpuReading | null = null;
      const r = await run_at(net, plan, accounts, prepare_txs(p, target, accounts, count, what), rate, () => {
        cpu_start = cpu_now(engine, pids);
      });
      const cpu = cpu_per_tx(cpu_start, cpu_now(engine, pids), r.committed);
      const p50 = percentile(r.latencies_ms, 0.5);
      const p99 = percentile(r.latencies_ms, 0.99);
      const step: StepResult = {
        offered_tx_per_s: round(rate, 1),
        tx_per_s: round(r.tx_per_s, 1),
        p50_ms: round(p50, 1),
        p99_ms: round(p99, 1),
        lost: r.lost,
        broken_reason: broken_reason({
          fault: r.fault,
          lost: r.lost,
          committed: r.committed,
          planned: count,
          tx_per_s: r.tx_per_s,
          rate,
          p99_ms: p99,
          p99_max_ms: plan.p99_max_ms,
        }),
        due: r.due,
        committed: r.committed,
        refused: r.refused,
        submit_delay_p99_ms: round(percentile(r.submit_delays_ms, 0.99), 1),
        ...cpu,
        blocks_per_s: r.span_s > 0 ? round(r.blocks / r.span_s, 2) : 0,
        txs_per_block: r.blocks > 0 ? round(r.committed / r.blocks, 1) : 0,
      };
      check_interrupted();
      steps.push(step);
      log(
        `  ${what}: offered ${step.offered_tx_per_s} tx/s × ${plan.step_seconds} s → ${step.tx_per_s} tx/s, ` +
          `p50 ${step.p50_ms} ms, p99 ${step.p99_ms} ms, committed ${r.committed}/${count}, lost ${r.lost}, ` +
          `refused ${r.refused}, submit delay p99 ${step.submit_delay_p99_ms} ms, ` +
          `CPU/tx: validators ${step.validators_cpu_ms_per_tx} ms` +
          (step.cometbft_cpu_ms_per_tx === null ? '' : ` (cometbft ${step.cometbft_cpu_ms_per_tx} ms)`) +
          `, load ${step.loadgen_cpu_ms_per_tx} ms, ` +
          `cores busy ${(step.cpu_busy_share * 100).toFixed(0)} %, ${step.blocks_per_s} blocks/s of ${step.txs_per_block} txs` +
          (step.broken_reason === null ? '' : ` — broken: ${step.broken_reason}`),
      );
      // Clean: every transaction committed, so the accounts' sequences and the chain agree again.
      return { step, clean: r.fault === null && r.lost === 0 && r.committed === count };
    };

    let rate = plan.start_rate ?? START_RATE_DEFAULT[validators] ?? 100;
    await warm_up(net, plan, accounts, target, rate);
    let last_ok: number | null = null;
    for (let s = 0; s < plan.max_steps; s++) {
      const done = await step_at(rate, `${validators}v ${engine} step ${s + 1}`);
      if (done === null) break;
      if (done.step.broken_reason === null) {
        last_ok = rate;
        rate *= plan.growth;
        continue;
      }
      // One more step halfway (geometrically) between the last good rate and the broken one
      // narrows the saturation point from a factor `growth` to its square root. Only after a
      // clean break (latency or rate): after refusals or losses the accounts' sequences may
      // no longer match the chain, and a leftover backlog would burden the extra step.
      if (plan.refine && last_ok !== null && done.clean) {
        await step_at(
          Math.sqrt(last_ok * rate),
          `${validators}v ${engine} step ${s + 2} (between ${last_ok.toFixed(0)} and ${rate.toFixed(0)})`,
        );
      }
      break;
    }
  } finally {
    await net.stop();
  }
  const ok = steps.filter((s) => s.broken_reason === null);
  const best = ok.reduce<StepResult | undefined>(
    (b, s) => (b === undefined || s.tx_per_s > b.tx_per_s ? s : b),
    undefined,
  );
  const row = best ?? steps[0];
  if (row === undefined) throw new Error(`${validators} validators: no step ran (${stopped_by})`);
  // The lowest broken rate above the best one: the saturation point lies between the two.
  const broke = steps
    .filter((s) => s.broken_reason !== null && s.offered_tx_per_s > (best?.offered_tx_per_s ?? 0))
    .sort((x, y) => x.offered_tx_per_s - y.offered_tx_per_s)[0];
  // The first reason only (the steps in the JSON list all of them): the table stays readable.
  const first_reason = (s: StepResult) => (s.broken_reason ?? '').split('; ')[0];
  const note =
    best === undefined
      ? `saturated at the first step: ${first_reason(steps[0]!)}`
      : broke !== undefined
        ? `${broke.offered_tx_per_s} tx/s offered broke: ${first_reason(broke)}`
        : `no step broke within ${steps.length} steps${stopped_by === '' ? '' : ` (${stopped_by})`}: a lower bound`;
  return {
    engine,
    validators,
    workers: plan.workers ?? workers_per_validator(validators),
    tx_per_s: row.tx_per_s,
    p50_ms: row.p50_ms,
    p99_ms: row.p99_ms,
    bound_tx_per_s: round(bound, 1),
    ratio: round(row.tx_per_s / bound, 3),
    offered_tx_per_s: row.offered_tx_per_s,
    saturated: best === undefined,
    broke_at_offered_tx_per_s: best === undefined ? row.offered_tx_per_s : (broke?.offered_tx_per_s ?? null),
    idle,
    note,
    steps,
  };
}

/**
 * The stdout table of a sweep; with `show_engine` (any run but the default Cloister-only one) a
 * first column names each row's engine.
 */
export function format_sweep_table(results: NetworkResult[], show_engine = false): string {
  const head = ['validators', 'offered', 'tx/s', 'p50_ms', 'p99_ms', 'bound', 'ratio', 'note'];
  const numeric = [true, true, true, true, true, true, true, false];
  const rows = results.map((r) => [
    String(r.validators),
    r.offered_tx_per_s.toFixed(1),
    r.tx_per_s.toFixed(1),
    r.p50_ms.toFixed(1),
    r.p99_ms.toFixed(1),
    r.bound_tx_per_s.toFixed(1),
    r.ratio.toFixed(3),
    r.note,
  ]);
  if (!show_engine) return text_table(head, rows, numeric);
  return text_table(
    ['engine', ...head],
    rows.map((row, i) => [results[i]!.engine, ...row]),
    [false, ...numeric],
  );
}

/** One engine's side of a {@link Comparison}. */
interface ComparisonSide {
  tx_per_s: number;
  p99_ms: number;
  saturated: boolean;
  broke_at_offered_tx_per_s: number | null;
  note: string;
}

/** One validator count under both engines, measured in the same run. */
export interface Comparison {
  validators: number;
  cloister: ComparisonSide;
  cometbft: ComparisonSide;
  /** cometbft ÷ cloister committed tx/s of the two rows (null if Cloister's is 0). */
  tx_per_s_ratio: number | null;
  /** cometbft ÷ cloister p99 of the two rows (null if Cloister's is 0). */
  p99_ratio: number | null;
}

/** The validator counts run under both engines, side by side. */
export function compare_engines(results: NetworkResult[]): Comparison[] {
  const side = (r: NetworkResult): ComparisonSide => ({
    tx_per_s: r.tx_per_s,
    p99_ms: r.p99_ms,
    saturated: r.saturated,
    broke_at_offered_tx_per_s: r.broke_at_offered_tx_per_s,
    note: r.note,
  });
  const out: Comparison[] = [];
  for (const a of results) {
    if (a.engine !== 'cloister') continue;
    const b = results.find((x) => x.engine === 'cometbft' && x.validators === a.validators);
    if (b === undefined) continue;
    out.push({
      validators: a.validators,
      cloister: side(a),
      cometbft: side(b),
      tx_per_s_ratio: a.tx_per_s > 0 ? round(b.tx_per_s / a.tx_per_s, 3) : null,
      p99_ratio: a.p99_ms > 0 ? round(b.p99_ms / a.p99_ms, 3) : null,
    });
  }
  return out;
}

/** Where a row broke, for the side-by-side table. */
function broke_cell(s: ComparisonSide): string {
  if (s.broke_at_offered_tx_per_s === null) return 'none (lower bound)';
  return `${s.broke_at_offered_tx_per_s.toFixed(1)}${s.saturated ? ' (1st step)' : ''}`;
}

/** The stdout table of `--engine both`: each validator count's two rows side by side. */
export function format_comparison_table(comparisons: Comparison[]): string {
  const head = [
    'validators',
    'cloister tx/s',
    'p99_ms',
    'broke at',
    'cometbft tx/s',
    'p99_ms',
    'broke at',
    'tx/s ratio',
    'p99 ratio',
  ];
  const ratio = (x: number | null) => (x === null ? '-' : x.toFixed(3));
  const rows = comparisons.map((c) => [
    String(c.validators),
    c.cloister.tx_per_s.toFixed(1),
    c.cloister.p99_ms.toFixed(1),
    broke_cell(c.cloister),
    c.cometbft.tx_per_s.toFixed(1),
    c.cometbft.p99_ms.toFixed(1),
    broke_cell(c.cometbft),
    ratio(c.tx_per_s_ratio),
    ratio(c.p99_ratio),
  ]);
  return text_table(head, rows, [true, true, true, true, true, true, true, true, true]);
}

/**
 * Issue #5's network targets against `engine`'s 4-validator row (null when it was not run); the
 * targets were set for Cloister's engine, which is the one judged when it ran.
 */
function network_targets(results: NetworkResult[], engine: Engine) {
  const r = results.find((x) => x.validators === TARGET_VALIDATORS && x.engine === engine);
  const checks =
    r === undefined
      ? null
      : {
          tx_per_s: r.tx_per_s >= TARGET_TX_PER_S && !r.saturated,
          p99_ms: r.p99_ms <= P99_MAX_MS,
          ratio: r.ratio >= TARGET_RATIO,
        };
  return {
    engine,
    validators: TARGET_VALIDATORS,
    tx_per_s_min: TARGET_TX_PER_S,
    p99_ms_max: P99_MAX_MS,
    ratio_min: TARGET_RATIO,
    tx_per_s: r?.tx_per_s ?? null,
    p99_ms: r?.p99_ms ?? null,
    ratio: r?.ratio ?? null,
    checks,
    met: checks === null ? null : checks.tx_per_s && checks.p99_ms && checks.ratio,
  };
}

function sweep_svg(
  results: NetworkResult[],
  single_core: number,
  show_engine: boolean,
  p99_max_ms: number,
): string {
  const name = (r: NetworkResult) => (show_engine ? ` ${r.engine}` : '');
  const series = (y: (s: StepResult) => number) =>
    results.map((r, i) => ({
      label: `${r.validators} validator${r.validators === 1 ? '' : 's'}${name(r)}`,
      color: SERIES_COLORS[i % SERIES_COLORS.length]!,
      points: r.steps
        .map((s) => ({ x: s.offered_tx_per_s, y: y(s), hollow: s.broken_reason !== null }))
        .sort((a, b) => a.x - b.x),
    }));
  const panels: ChartPanel[] = [
    {
      title: 'committed tx/s vs offered (open circle: broken step)',
      x_label: 'offered tx/s (log)',
      y_label: 'committed tx/s',
      x_log: true,
      y_log: false,
      series: series((s) => s.tx_per_s),
      diagonal: true,
    },
    {
      title: 'p99 commit latency vs offered',
      x_label: 'offered tx/s (log)',
      y_label: 'p99 ms (log)',
      x_log: true,
      y_log: true,
      series: series((s) => Math.max(1, s.p99_ms)),
      hlines: [{ y: p99_max_ms, label: `${p99_max_ms} ms` }],
    },
  ];
  const legend = [
    ...results.map(
      (r) =>
        `${r.validators}v${name(r)}: ${r.tx_per_s.toFixed(0)} tx/s at p99 ${r.p99_ms.toFixed(0)} ms; bound ${r.bound_tx_per_s.toFixed(0)} ` +
        `tx/s, ratio ${r.ratio.toFixed(2)}${r.saturated ? ' (saturated at the first step)' : ''}`,
    ),
    `bound = single-core enclave ${single_core.toFixed(0)} tx/s × ${cores()} cores ÷ validators`,
  ];
  const engines = [...new Set(results.map((r) => r.engine))];
  return render_chart(
    `Cloister network${show_engine ? ` (${engines.join(' and ')})` : ''}: committed tx/s and p99 commit latency by offered load`,
    panels,
    legend,
  );
}

// ---------------------------------------------------------------------------------------------
// Soak.

export interface SoakResult {
  /** The consensus engine the validators ran under. */
  engine: Engine;
  rate: number;
  seconds: number;
  validators: number;
  /**
   * VmRSS of each Cloister validator process (what the verdict judges), and under CometBFT of each
   * validator's `cometbft` process (`cometbft_rss_mb`, not part of the verdict).
   */
  samples: { t_s: number; rss_mb: number[]; cometbft_rss_mb?: number[] }[];
  growth_pct: number;
  growth_pct_by_validator: number[];
  /**
   * The same comparison from the soak's midpoint: the last W s vs [S/2, S/2 + W). Not part of
   * the verdict; it tells a heap still growing at the end (a leak) from one that grew early and
   * levelled off.
   */
  late_growth_pct_by_validator: number[];
  flat: boolean;
  rule: string;
  tx_per_s: number;
  p50_ms: number;
  p99_ms: number;
  committed: number;
  lost: number;
  refused: number;
  broken_reason: string | null;
}

/** Growth per validator by the module doc's rule; null where a window holds no sample. */
function rss_growth(
  samples: SoakResult['samples'],
  seconds: number,
  validators: number,
  from_s?: number,
): (number | null)[] {
  const w = Math.min(60, 0.2 * seconds);
  const start = from_s ?? w;
  const mean = (lo_s: number, hi_s: number, i: number) => {
    const xs = samples.filter((s) => s.t_s >= lo_s && s.t_s <= hi_s).map((s) => s.rss_mb[i]!);
    return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  return Array.from({ length: validators }, (_, i) => {
    const base = mean(start, start + w - 1e-9, i);
    const last = mean(seconds - w, seconds, i);
    return base === null || last === null ? null : (last / base - 1) * 100;
  });
}

async function soak(plan: Plan, cometbft_bin: string | null): Promise<SoakResult> {
  const { seconds, rate } = plan.soak!;
  const validators = plan.validators[0]!;
  const engine = plan.engines[0]!;
  const count = Math.round(rate * seconds);
  if (count > RUN_TXS_MAX)
    throw new UsageError(`--rate × --soak is ${count} transactions, over ${RUN_TXS_MAX}: lower one of them`);
  const p = get_provider('native');
  log(
    `soak: ${validators} validators under ${engine}, ${rate} tx/s for ${seconds} s; starting the network on ports ${plan.port}..`,
  );
  const net = await start_network(engine, validators, plan.port, plan.workers, cometbft_bin);
  try {
    const target = await deploy_echo(net);
    const accounts = Array.from({ length: plan.accounts }, (_, i) => new LoadAccount(p, i % validators));
    await warm_up(net, plan, accounts, target, rate);
    const txs = prepare_txs(p, target, accounts, count, 'soak');
    const pids = net.pids();
    const interval_ms = Math.max(1000, Math.min(5000, (seconds * 1000) / 20));
    const samples: SoakResult['samples'] = [];
    let started_ms = 0;
    let timer: NodeJS.Timeout | undefined;
    let sample_error: string | null = null;
    const sample = () => {
      const t_s = (performance.now() - started_ms) / 1000;
      if (t_s > seconds + 0.5 || sample_error !== null) return;
      try {
        const rss = pids.validators.map((pid) => round(rss_mb(pid), 1));
        samples.push(
          engine === 'cometbft'
            ? {
                t_s: round(t_s, 1),
                rss_mb: rss,
                cometbft_rss_mb: pids.cometbft.map((pid) => round(rss_mb(pid), 1)),
              }
            : { t_s: round(t_s, 1), rss_mb: rss },
        );
        if (samples.length % 12 === 1) log(`  soak t=${t_s.toFixed(0)} s: RSS ${rss.join(' / ')} MB`);
      } catch (error) {
        // A validator gone (crashed or stopped): its /proc entry vanished. Say so in the result.
        sample_error = `memory sampling stopped at ${t_s.toFixed(0)} s: ${(error as Error).message}`;
        log(`  ${sample_error}`);
      }
    };
    const r = await run_at(net, plan, accounts, txs, rate, () => {
      started_ms = performance.now();
      sample();
      timer = setInterval(sample, interval_ms);
    });
    clearInterval(timer);
    const by_validator = rss_growth(samples, seconds, validators);
    const known = by_validator.filter((g): g is number => g !== null);
    const growth = known.length === by_validator.length ? Math.max(...known) : Number.NaN;
    const p99 = percentile(r.latencies_ms, 0.99);
    return {
      engine,
      rate,
      seconds,
      validators,
      samples,
      growth_pct: round(growth, 2),
      growth_pct_by_validator: by_validator.map((g) => (g === null ? Number.NaN : round(g, 2))),
      late_growth_pct_by_validator: rss_growth(samples, seconds, validators, seconds / 2).map((g) =>
        g === null ? Number.NaN : round(g, 2),
      ),
      flat: Number.isFinite(growth) && growth <= TARGET_GROWTH_PCT,
      rule: 'per validator: mean VmRSS over the last W s vs mean over [W, 2W), W = min(60 s, 20 % of the soak); growth_pct = the largest',
      tx_per_s: round(r.tx_per_s, 1),
      p50_ms: round(percentile(r.latencies_ms, 0.5), 1),
      p99_ms: round(p99, 1),
      committed: r.committed,
      lost: r.lost,
      refused: r.refused,
      broken_reason: broken_reason({
        fault: r.fault ?? sample_error,
        lost: r.lost,
        committed: r.committed,
        planned: count,
        tx_per_s: r.tx_per_s,
        rate,
        p99_ms: p99,
        p99_max_ms: plan.p99_max_ms,
      }),
    };
  } finally {
    await net.stop();
  }
}

function soak_svg(s: SoakResult): string {
  const panel: ChartPanel = {
    title: `resident memory per validator at ${s.rate} tx/s`,
    x_label: 'seconds',
    y_label: 'VmRSS MB',
    x_log: false,
    y_log: false,
    series: Array.from({ length: s.validators }, (_, i) => ({
      label: `validator ${i}`,
      color: SERIES_COLORS[i % SERIES_COLORS.length]!,
      points: s.samples.map((x) => ({ x: x.t_s, y: x.rss_mb[i]! })),
    })),
  };
  return render_chart(
    `Cloister soak: ${s.validators} validators${s.engine === 'cloister' ? '' : ` under ${s.engine}`}, ${s.rate} tx/s for ${s.seconds} s`,
    [panel],
    [
      `growth ${s.growth_pct} % (${s.flat ? 'flat' : 'NOT flat'}, target ≤ ${TARGET_GROWTH_PCT} %); ${s.rule}`,
      `committed ${s.tx_per_s} tx/s, p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, lost ${s.lost}, refused ${s.refused}`,
    ],
  );
}

// ---------------------------------------------------------------------------------------------

function write_file(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  log(`wrote ${path}`);
}

async function main(argv: string[]): Promise<void> {
  const plan = parse_plan(argv);
  if (plan === null) {
    process.stdout.write(HELP);
    return;
  }
  process.on('SIGINT', on_signal);
  process.on('SIGTERM', on_signal);
  const started = performance.now();
  const machine = machine_info();
  // Before anything runs: the cometbft binary (its install command if missing) and free ports.
  let cometbft: { bin: string; version: string } | null = null;
  if (plan.engines.includes('cometbft')) {
    const check = check_cometbft();
    if (!check.ok) throw new SetupError(check.error);
    cometbft = { bin: check.bin, version: check.version };
    log(`cometbft: ${check.bin} (${check.version})`);
  }
  await check_ports(plan.engines, Math.max(...plan.validators), plan.port);
  const cometbft_bin = cometbft?.bin ?? null;

  if (plan.soak !== null) {
    const s = await soak(plan, cometbft_bin);
    check_interrupted();
    const last = s.samples[s.samples.length - 1];
    process.stdout.write(
      `${[
        `soak       ${s.validators} validators${s.engine === 'cloister' ? '' : ` under ${s.engine}`}, ${s.rate} tx/s offered for ${s.seconds} s`,
        `committed  ${s.committed} (${s.tx_per_s} tx/s), p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, lost ${s.lost}, refused ${s.refused}`,
        `rss        ${s.samples[0]?.rss_mb.join(' / ')} MB at start, ${last?.rss_mb.join(' / ')} MB at ${last?.t_s} s`,
        ...(last?.cometbft_rss_mb === undefined
          ? []
          : [
              `cometbft   ${s.samples[0]?.cometbft_rss_mb?.join(' / ')} MB at start, ${last.cometbft_rss_mb.join(' / ')} MB at ${last.t_s} s (not part of the verdict)`,
            ]),
        Number.isFinite(s.growth_pct)
          ? `growth     ${s.growth_pct_by_validator.join(' / ')} % → ${s.growth_pct} %: ${s.flat ? 'flat' : 'NOT flat'} (target ≤ ${TARGET_GROWTH_PCT} %)`
          : `growth     unknown: no memory sample in the soak's last ${Math.min(60, 0.2 * s.seconds)} s (sampling ended at ${last?.t_s ?? 0} s with the load; see below), so no verdict`,
        `late       ${s.late_growth_pct_by_validator.join(' / ')} % from the midpoint to the end (not part of the verdict)`,
        `load       ${s.broken_reason === null ? 'held' : `broken: ${s.broken_reason}`}`,
      ].join('\n')}\n`,
    );
    const targets = { memory: { growth_pct_max: TARGET_GROWTH_PCT, growth_pct: s.growth_pct, met: s.flat } };
    if (plan.out !== undefined)
      write_file(plan.out, `${JSON.stringify({ soak: s, targets, machine, cometbft }, null, 2)}\n`);
    write_file(plan.svg, soak_svg(s));
    log(`bench:network soak done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    return;
  }

  log(
    `bench:network: validators ${plan.validators.join(', ')} under ${plan.engines.join(' then ')}; ` +
      `${plan.step_seconds} s steps × ${plan.growth} up to ${plan.max_steps}`,
  );
  log('measuring the bound: single-core enclave tx/s (1-worker pool, echo 256 B, fresh key, gcm) …');
  const single_core = await measure_single_core();
  check_interrupted();
  log(`  single core: ${single_core.toFixed(0)} tx/s; ${cores()} cores`);
  const results: NetworkResult[] = [];
  // Each validator count under each engine, one right after the other: the two see the machine
  // in as nearly the same state as one run allows.
  for (const validators of plan.validators)
    for (const engine of plan.engines)
      results.push(await sweep(validators, engine, plan, single_core, cometbft_bin));
  const comparison = compare_engines(results);
  // The default run's table and chart are as before issue #17; any other names the engines.
  const show_engine = plan.engines.length > 1 || plan.engines[0] !== 'cloister';
  const judged: Engine = plan.engines.includes('cloister') ? 'cloister' : 'cometbft';

  const targets = {
    network: network_targets(results, judged),
    memory: {
      growth_pct_max: TARGET_GROWTH_PCT,
      growth_pct: null,
      met: null,
      note: 'measured by --soak 600 --rate (half the 4-validator saturation rate)',
    },
  };
  process.stdout.write(`${format_sweep_table(results, show_engine)}\n`);
  if (comparison.length > 0)
    process.stdout.write(
      `\nside by side, measured in this run (ratio = cometbft ÷ cloister; broke at = offered tx/s of the first broken step above the row):\n` +
        `${format_comparison_table(comparison)}\n`,
    );
  const t = targets.network;
  const under = show_engine ? ` under ${judged}` : '';
  process.stdout.write(
    t.met === null
      ? `\ntarget (${TARGET_VALIDATORS} validators${under}): not measured in this run\n`
      : `\ntarget (${TARGET_VALIDATORS} validators${under}: ≥ ${TARGET_TX_PER_S} tx/s, p99 ≤ ${P99_MAX_MS} ms, ratio ≥ ${TARGET_RATIO}): ` +
          `${t.met ? 'met' : 'not met'} (${t.tx_per_s} tx/s, p99 ${t.p99_ms} ms, ratio ${t.ratio})\n`,
  );
  const bound = { single_core_tx_per_s: round(single_core, 1), cores: cores() };
  if (plan.out !== undefined)
    write_file(
      plan.out,
      `${JSON.stringify(
        {
          results,
          bound,
          targets,
          machine,
          engines: plan.engines,
          cometbft,
          comparison,
          p99_max_ms: plan.p99_max_ms,
        },
        null,
        2,
      )}\n`,
    );
  write_file(plan.svg, sweep_svg(results, single_core, show_engine, plan.p99_max_ms));
  log(`bench:network done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

if (is_main(import.meta.url)) {
  main(process.argv.slice(2)).then(
    () => {
      // After a signal, its handler exits (130) once the networks are down.
      if (!interrupted) process.exit(0);
    },
    async (error: unknown) => {
      if (interrupted) return;
      await Promise.allSettled([...cleanups].map((fn) => fn()));
      if (error instanceof UsageError) {
        process.stderr.write(`bench:network: ${error.message} (see --help)\n`);
        process.exit(2);
      }
      if (error instanceof SetupError) {
        process.stderr.write(`bench:network: ${error.message}\n`);
        process.exit(2);
      }
      log(`bench:network failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      process.exit(1);
    },
  );
}
