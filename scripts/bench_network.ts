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
 * when its p99 commit latency is over 1000 ms, it committed fewer than 90 % of its transactions
 * or at under 90 % of the offered rate, anything was refused at submission, failed to submit,
 * committed with a non-zero code or was not committed within `--drain-seconds` after the last was
 * due, or the in-flight bound was reached. The sweep stops at the first broken step (the network
 * is saturated there) or after `--max-steps`; after a break by latency or rate alone it runs one
 * more step at the geometric mean of the last unbroken and the broken rate (`--no-refine` skips
 * it), which narrows the saturation point from a factor 1.5 to about 1.22. Steps never overlap:
 * each waits for its own transactions to commit (the drain) before the next is signed.
 *
 * The row of a validator count is its **best unbroken step**: the highest committed tx/s with
 * p99 ≤ 1 s, i.e. the saturation point to within the last step's factor. If even the first
 * step broke, the row is that step with `saturated: true`. If no step broke, the row is a lower
 * bound (its note says so).
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
import { from_hex, to_base64 } from '../protocol/bytes.js';
import { encrypt_message } from '../protocol/envelope.js';
import { get_provider } from '../protocol/providers/index.js';
import { tx_hash } from '../protocol/tx.js';
import { LocalNetwork, workers_per_validator } from '../sim/network.js';
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
1000 ms, under 90 % committed, refusals or losses). Reports per validator count the best
unbroken step's committed tx/s and p50/p99 commit latency, beside the bound: single-core enclave
tx/s (measured first, in the same run) × cores ÷ validators.

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
  --idle-seconds S     before the load, S s with none: blocks committed and validator CPU
                       per block, the fixed cost of a block (default 5; --quick 3; 0 skips)
Soak options (memory: is a validator's resident memory flat under constant load?):
  --soak SECONDS       one network, constant load for SECONDS, RSS of each validator sampled
  --rate R             the soak's offered tx/s (required with --soak)
Common options:
  --workers N          enclave worker threads per validator (default: the cores this process
                       may use, shared out between the validators, at least 1; with 2 or more a
                       validator stages each block over them)
  --port P             RPC port of validator 0; validator i uses P+i, p2p P+1000+i (default 24400)
  --accounts N         signing accounts, round-robin over the validators (default 64)
  --in-flight-max N    most transactions due but not committed; reaching it stops and
                       breaks the step (default 2000)
  --out FILE           write the results as JSON to FILE
  --svg FILE           write an SVG chart to FILE (default: --out with .svg, else
                       bench-network.svg)
  --help               this text

Progress goes to stderr, the table to stdout. Bad options exit with code 2.
`;

/** A bad command line: one line on stderr and exit code 2. */
class UsageError extends Error {}

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
  const port = int_option(str('port'), 'port', 24400, 1024, 65535 - 1000 - Math.max(...validators));
  const out = str('out');
  const svg =
    str('svg') ??
    (out !== undefined ? `${out.slice(0, out.length - extname(out).length)}.svg` : 'bench-network.svg');
  if (out !== undefined && out === svg) throw new UsageError('--out and --svg must be different files');
  return {
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
  network: LocalNetwork;
  urls: string[];
  agents: Agent[];
  stop(): Promise<void>;
}

/** A fresh network of `validators` in a temporary folder; stop() shuts it down and removes it. */
async function start_network(validators: number, port: number, workers: number | null): Promise<Net> {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-bench-net-'));
  let network: LocalNetwork | null = null;
  const agents: Agent[] = [];
  let stopping: Promise<void> | null = null;
  // Idempotent: a signal's cleanup and the main path's `finally` both wait for the one shutdown.
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      for (const a of agents) a.destroy();
      try {
        if (network !== null) await network.down();
        // Interrupted while starting: LocalNetwork.up has not handed the processes over yet.
        else for (const c of child_processes(dir)) process.kill(c.pid, 'SIGTERM');
      } finally {
        rmSync(dir, { recursive: true, force: true });
        cleanups.delete(stop);
      }
    })());
  cleanups.add(stop);
  try {
    network = await LocalNetwork.up({
      validators,
      dir: join(dir, 'net'),
      port,
      workers: workers ?? workers_per_validator(validators),
    });
  } catch (error) {
    await stop();
    throw error;
  }
  const urls = network.urls();
  // Keep-alive connections, at most one per account and validator in use at once (accounts send
  // one transaction at a time), well under a node's 256 concurrent requests.
  for (let i = 0; i < validators; i++) agents.push(new Agent({ keepAlive: true, maxSockets: 128 }));
  return { network, urls, agents, stop };
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
    const record = await request_json<{ code: number; contract?: string }>(
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
   * ms: all validator processes together (host and enclave threads), and this load generator.
   */
  validators_cpu_ms_per_tx: number;
  loadgen_cpu_ms_per_tx: number;
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
  /** CPU time of all validator processes together per committed (empty) block, ms. */
  cpu_ms_per_block: number;
  /** Share of the machine's cores the validators kept busy. */
  cpu_busy_share: number;
}

/** One validator count's row. */
export interface NetworkResult {
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
}): string | null {
  const reasons: string[] = [];
  if (r.fault !== null) reasons.push(r.fault);
  if (r.lost > 0) reasons.push(`${r.lost} not committed within the drain`);
  if (r.committed < COMMITTED_SHARE_MIN * r.planned) reasons.push(`committed ${r.committed} of ${r.planned}`);
  if (r.p99_ms > P99_MAX_MS) reasons.push(`p99 ${r.p99_ms.toFixed(0)} ms > ${P99_MAX_MS} ms`);
  if (r.tx_per_s < COMMITTED_SHARE_MIN * r.rate)
    reasons.push(`committed ${r.tx_per_s.toFixed(0)} tx/s of ${r.rate.toFixed(0)} offered`);
  return reasons.length === 0 ? null : reasons.join('; ');
}

/** CPU used so far by the validators (ms) and by this process (µs), at wall time `wall_ms`. */
function cpu_now(pids: readonly number[]): { wall_ms: number; nodes_ms: number; self_us: number } {
  const self = process.cpuUsage();
  return {
    wall_ms: performance.now(),
    nodes_ms: pids.reduce((sum, pid) => sum + cpu_ms(pid), 0),
    self_us: self.user + self.system,
  };
}

/** CPU per committed transaction between two {@link cpu_now} readings (zeros if none committed). */
function cpu_per_tx(
  start: ReturnType<typeof cpu_now> | null,
  end: ReturnType<typeof cpu_now>,
  committed: number,
): Pick<StepResult, 'validators_cpu_ms_per_tx' | 'loadgen_cpu_ms_per_tx' | 'cpu_busy_share'> {
  if (start === null || committed === 0 || end.wall_ms <= start.wall_ms)
    return { validators_cpu_ms_per_tx: 0, loadgen_cpu_ms_per_tx: 0, cpu_busy_share: 0 };
  const nodes_ms = end.nodes_ms - start.nodes_ms;
  const self_ms = (end.self_us - start.self_us) / 1000;
  return {
    validators_cpu_ms_per_tx: round(nodes_ms / committed, 3),
    loadgen_cpu_ms_per_tx: round(self_ms / committed, 3),
    cpu_busy_share: round((nodes_ms + self_ms) / (end.wall_ms - start.wall_ms) / cores(), 3),
  };
}

/**
 * The network with no load for `seconds`: committed heights and validator CPU at both ends of the
 * window. A measurement window, not a wait for an event: nothing is expected to happen.
 */
async function measure_idle(net: Net, seconds: number): Promise<IdleResult> {
  const pids = validator_pids(net.network.homes);
  const height = async () =>
    (
      await request_json<{ height: number }>(net.agents[0]!, net.urls[0]!, '/v1/status', {
        method: 'GET',
        timeout_ms: STREAM_TIMEOUT_MS,
      })
    ).height;
  const h0 = await height();
  const c0 = cpu_now(pids);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const h1 = await height();
  const c1 = cpu_now(pids);
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

async function sweep(validators: number, plan: Plan, single_core_tx_per_s: number): Promise<NetworkResult> {
  const p = get_provider('native');
  const bound = (single_core_tx_per_s * cores()) / validators;
  log(
    `${validators} validator(s): starting a network on ports ${plan.port}.. (bound ${bound.toFixed(0)} tx/s)`,
  );
  const net = await start_network(validators, plan.port, plan.workers);
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
          `${idle.cpu_ms_per_block} ms of validator CPU per block, cores busy ${(idle.cpu_busy_share * 100).toFixed(0)} %`,
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
      const pids = validator_pids(net.network.homes);
      let cpu_start: { wall_ms: number; nodes_ms: number; self_us: number } | null = null;
      const r = await run_at(net, plan, accounts, prepare_txs(p, target, accounts, count, what), rate, () => {
        cpu_start = cpu_now(pids);
      });
      const cpu = cpu_per_tx(cpu_start, cpu_now(pids), r.committed);
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
          `CPU/tx: validators ${step.validators_cpu_ms_per_tx} ms, load ${step.loadgen_cpu_ms_per_tx} ms, ` +
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
      const done = await step_at(rate, `${validators}v step ${s + 1}`);
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
          `${validators}v step ${s + 2} (between ${last_ok.toFixed(0)} and ${rate.toFixed(0)})`,
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
    validators,
    workers: plan.workers ?? workers_per_validator(validators),
    tx_per_s: row.tx_per_s,
    p50_ms: row.p50_ms,
    p99_ms: row.p99_ms,
    bound_tx_per_s: round(bound, 1),
    ratio: round(row.tx_per_s / bound, 3),
    offered_tx_per_s: row.offered_tx_per_s,
    saturated: best === undefined,
    idle,
    note,
    steps,
  };
}

/** The stdout table of a sweep. */
export function format_sweep_table(results: NetworkResult[]): string {
  const head = ['validators', 'offered', 'tx/s', 'p50_ms', 'p99_ms', 'bound', 'ratio', 'note'];
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
  return text_table(head, rows, [true, true, true, true, true, true, true, false]);
}

/** Issue #5's network targets against the 4-validator row (null when it was not run). */
function network_targets(results: NetworkResult[]) {
  const r = results.find((x) => x.validators === TARGET_VALIDATORS);
  const checks =
    r === undefined
      ? null
      : {
          tx_per_s: r.tx_per_s >= TARGET_TX_PER_S && !r.saturated,
          p99_ms: r.p99_ms <= P99_MAX_MS,
          ratio: r.ratio >= TARGET_RATIO,
        };
  return {
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

function sweep_svg(results: NetworkResult[], single_core: number): string {
  const series = (y: (s: StepResult) => number) =>
    results.map((r, i) => ({
      label: `${r.validators} validator${r.validators === 1 ? '' : 's'}`,
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
      hlines: [{ y: P99_MAX_MS, label: `${P99_MAX_MS} ms` }],
    },
  ];
  const legend = [
    ...results.map(
      (r) =>
        `${r.validators}v: ${r.tx_per_s.toFixed(0)} tx/s at p99 ${r.p99_ms.toFixed(0)} ms; bound ${r.bound_tx_per_s.toFixed(0)} ` +
        `tx/s, ratio ${r.ratio.toFixed(2)}${r.saturated ? ' (saturated at the first step)' : ''}`,
    ),
    `bound = single-core enclave ${single_core.toFixed(0)} tx/s × ${cores()} cores ÷ validators`,
  ];
  return render_chart(
    'Cloister network: committed tx/s and p99 commit latency by offered load',
    panels,
    legend,
  );
}

// ---------------------------------------------------------------------------------------------
// Soak.

export interface SoakResult {
  rate: number;
  seconds: number;
  validators: number;
  samples: { t_s: number; rss_mb: number[] }[];
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

async function soak(plan: Plan): Promise<SoakResult> {
  const { seconds, rate } = plan.soak!;
  const validators = plan.validators[0]!;
  const count = Math.round(rate * seconds);
  if (count > RUN_TXS_MAX)
    throw new UsageError(`--rate × --soak is ${count} transactions, over ${RUN_TXS_MAX}: lower one of them`);
  const p = get_provider('native');
  log(
    `soak: ${validators} validators, ${rate} tx/s for ${seconds} s; starting the network on ports ${plan.port}..`,
  );
  const net = await start_network(validators, plan.port, plan.workers);
  try {
    const target = await deploy_echo(net);
    const accounts = Array.from({ length: plan.accounts }, (_, i) => new LoadAccount(p, i % validators));
    await warm_up(net, plan, accounts, target, rate);
    const txs = prepare_txs(p, target, accounts, count, 'soak');
    const pids = validator_pids(net.network.homes);
    const interval_ms = Math.max(1000, Math.min(5000, (seconds * 1000) / 20));
    const samples: SoakResult['samples'] = [];
    let started_ms = 0;
    let timer: NodeJS.Timeout | undefined;
    let sample_error: string | null = null;
    const sample = () => {
      const t_s = (performance.now() - started_ms) / 1000;
      if (t_s > seconds + 0.5 || sample_error !== null) return;
      try {
        const rss = pids.map((pid) => round(rss_mb(pid), 1));
        samples.push({ t_s: round(t_s, 1), rss_mb: rss });
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
    `Cloister soak: ${s.validators} validators, ${s.rate} tx/s for ${s.seconds} s`,
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

  if (plan.soak !== null) {
    const s = await soak(plan);
    check_interrupted();
    const last = s.samples[s.samples.length - 1];
    process.stdout.write(
      `${[
        `soak       ${s.validators} validators, ${s.rate} tx/s offered for ${s.seconds} s`,
        `committed  ${s.committed} (${s.tx_per_s} tx/s), p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, lost ${s.lost}, refused ${s.refused}`,
        `rss        ${s.samples[0]?.rss_mb.join(' / ')} MB at start, ${last?.rss_mb.join(' / ')} MB at ${last?.t_s} s`,
        Number.isFinite(s.growth_pct)
          ? `growth     ${s.growth_pct_by_validator.join(' / ')} % → ${s.growth_pct} %: ${s.flat ? 'flat' : 'NOT flat'} (target ≤ ${TARGET_GROWTH_PCT} %)`
          : `growth     unknown: no memory sample in the soak's last ${Math.min(60, 0.2 * s.seconds)} s (sampling ended at ${last?.t_s ?? 0} s with the load; see below), so no verdict`,
        `late       ${s.late_growth_pct_by_validator.join(' / ')} % from the midpoint to the end (not part of the verdict)`,
        `load       ${s.broken_reason === null ? 'held' : `broken: ${s.broken_reason}`}`,
      ].join('\n')}\n`,
    );
    const targets = { memory: { growth_pct_max: TARGET_GROWTH_PCT, growth_pct: s.growth_pct, met: s.flat } };
    if (plan.out !== undefined)
      write_file(plan.out, `${JSON.stringify({ soak: s, targets, machine }, null, 2)}\n`);
    write_file(plan.svg, soak_svg(s));
    log(`bench:network soak done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    return;
  }

  log(
    `bench:network: validators ${plan.validators.join(', ')}; ${plan.step_seconds} s steps × ${plan.growth} up to ${plan.max_steps}`,
  );
  log('measuring the bound: single-core enclave tx/s (1-worker pool, echo 256 B, fresh key, gcm) …');
  const single_core = await measure_single_core();
  check_interrupted();
  log(`  single core: ${single_core.toFixed(0)} tx/s; ${cores()} cores`);
  const results: NetworkResult[] = [];
  for (const validators of plan.validators) results.push(await sweep(validators, plan, single_core));

  const targets = {
    network: network_targets(results),
    memory: {
      growth_pct_max: TARGET_GROWTH_PCT,
      growth_pct: null,
      met: null,
      note: 'measured by --soak 600 --rate (half the 4-validator saturation rate)',
    },
  };
  process.stdout.write(`${format_sweep_table(results)}\n`);
  const t = targets.network;
  process.stdout.write(
    t.met === null
      ? `\ntarget (${TARGET_VALIDATORS} validators): not measured in this run\n`
      : `\ntarget (${TARGET_VALIDATORS} validators: ≥ ${TARGET_TX_PER_S} tx/s, p99 ≤ ${P99_MAX_MS} ms, ratio ≥ ${TARGET_RATIO}): ` +
          `${t.met ? 'met' : 'not met'} (${t.tx_per_s} tx/s, p99 ${t.p99_ms} ms, ratio ${t.ratio})\n`,
  );
  const bound = { single_core_tx_per_s: round(single_core, 1), cores: cores() };
  if (plan.out !== undefined)
    write_file(plan.out, `${JSON.stringify({ results, bound, targets, machine }, null, 2)}\n`);
  write_file(plan.svg, sweep_svg(results, single_core));
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
      log(`bench:network failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      process.exit(1);
    },
  );
}
