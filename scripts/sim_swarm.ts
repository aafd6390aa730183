/**
 * Swarm testing of the simulator (issue #12): `npm run sim:swarm -- --seeds 1000` runs seeds
 * `--first-seed` … `--first-seed + --seeds − 1`, each one `cloister sim run` with the fault
 * schedule the seed draws (sim/run/random_faults.ts `draw_faults`, f < n/3 unless
 * `--allow-unsafe`), in `--jobs` worker processes (default: one per CPU; each simulation is
 * single-threaded). Progress goes to stderr (redrawn in place on a terminal, else a line about
 * every 5 %); the end prints the counts and, for every failing seed, its first violation and the
 * exact command that replays it (the seed reproduces the drawn faults). `--json` prints one JSON
 * object instead. Exit 0 when every seed passed, 1 when any failed, 2 on bad usage.
 *
 * Workers are this script forked with CLOISTER_SIM_SWARM_WORKER=1: each asks for a seed, runs it
 * and answers with its outcome, until told to stop; seeds go to whichever worker is free, so the
 * output (sorted by seed) does not depend on `--jobs`.
 * @module
 */

import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { draw_faults } from '../sim/run/random_faults.js';
import { run_simulation } from '../sim/run/world.js';
import { is_main } from './bench/report.js';

/** What a swarm runs. */
export interface SwarmOptions {
  /** How many seeds. */
  seeds: number;
  first_seed: number;
  validators: number;
  heights: number;
  load_tx_per_s: number;
  /** Worker processes. */
  jobs: number;
  allow_unsafe: boolean;
}

/** A violation as a swarm reports it: the simulator's, or `error` when the run itself threw. */
export interface SwarmViolation {
  kind: string;
  height: number | null;
  sim_ms: number;
  validators: number[];
  message: string;
}

/** How one seed went. */
export interface SeedOutcome {
  seed: number;
  passed: boolean;
  violations: SwarmViolation[];
  heights_committed: number;
  sim_ms: number;
  wall_ms: number;
}

/** A failing seed in the summary. */
export interface SwarmFailure {
  seed: number;
  violations: SwarmViolation[];
  /** The command that replays it. */
  replay: string;
}

/** The end of a swarm (`--json`). */
export interface SwarmSummary {
  /** Seeds run (fewer than asked when interrupted). */
  seeds: number;
  passed: number;
  failed: number;
  /** Sorted by seed. */
  failures: SwarmFailure[];
  wall_ms: number;
  first_seed: number;
  validators: number;
  heights: number;
  load_tx_per_s: number;
  jobs: number;
  allow_unsafe: boolean;
  /** Whether the swarm was stopped (SIGINT/SIGTERM) before every seed ran. */
  interrupted: boolean;
}

/** Progress after each seed. */
export interface SwarmProgress {
  done: number;
  total: number;
  passed: number;
  failed: number;
  elapsed_ms: number;
}

/** A flag's value is out of range or not understood (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Default simulated client load, as `cloister sim run`'s `--load` default. */
export const LOAD_TX_PER_S_DEFAULT = 20;
/** Environment variable that makes this script a worker. */
export const WORKER_ENV = 'CLOISTER_SIM_SWARM_WORKER';

const HELP = `npm run sim:swarm -- --seeds N [flags]

Runs N seeds of \`cloister sim run\`, each with the faults its seed draws, in worker processes.

  --seeds N          how many seeds (required)
  --first-seed S     the first seed (default 1)
  --validators N     validators per run, 1..100 (default 4)
  --heights H        heights per run (default 100)
  --load R           simulated client transactions per simulated second (default 20)
  --jobs J           worker processes (default: one per CPU)
  --allow-unsafe     drawn byzantine power may reach half (safety may fail)
  --json             print one JSON object {seeds, passed, failed, failures, wall_ms, …}
  --help             this text

Exit 0: every seed passed; 1: a seed failed (each printed with its replay command); 2: bad usage.
`;

/** Parses the flags; null for --help; UsageError on a bad one. */
export function parse_swarm_args(argv: string[]): (SwarmOptions & { json: boolean }) | null {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        seeds: { type: 'string' },
        'first-seed': { type: 'string', default: '1' },
        validators: { type: 'string', default: '4' },
        heights: { type: 'string', default: '100' },
        load: { type: 'string', default: String(LOAD_TX_PER_S_DEFAULT) },
        jobs: { type: 'string', default: String(availableParallelism()) },
        'allow-unsafe': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values['help'] === true) return null;
  if (values['seeds'] === undefined) throw new UsageError('--seeds N is required');
  const int = (name: string, lo: number, hi: number): number => {
    const text = String(values[name]);
    const v = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(v) || v < lo || v > hi) {
      throw new UsageError(`--${name} must be an integer from ${lo} to ${hi}, got ${text}`);
    }
    return v;
  };
  const seeds = int('seeds', 1, 100_000_000);
  const first_seed = int('first-seed', 0, Number.MAX_SAFE_INTEGER - seeds);
  const validators = int('validators', 1, 100);
  const heights = int('heights', 1, 10_000_000);
  const jobs = int('jobs', 1, 1024);
  const load = Number(values['load']);
  if (!(load >= 0 && load <= 10_000)) {
    throw new UsageError(`--load must be 0..10000 transactions per second, got ${String(values['load'])}`);
  }
  return {
    seeds,
    first_seed,
    validators,
    heights,
    load_tx_per_s: load,
    jobs,
    allow_unsafe: values['allow-unsafe'] === true,
    json: values['json'] === true,
  };
}

/** The `cloister sim run` command that replays `seed` of a swarm run with `o`. */
export function replay_command(o: Omit<SwarmOptions, 'seeds' | 'first_seed' | 'jobs'>, seed: number): string {
  const parts = [`cloister sim run --seed ${seed} --validators ${o.validators} --heights ${o.heights}`];
  if (o.load_tx_per_s !== LOAD_TX_PER_S_DEFAULT) parts.push(`--load ${o.load_tx_per_s}`);
  if (o.allow_unsafe) parts.push('--allow-unsafe');
  return parts.join(' ');
}

/** Runs one seed in this process with the faults it draws; never throws (an error is a failure). */
export async function run_seed(
  o: Omit<SwarmOptions, 'seeds' | 'first_seed' | 'jobs'>,
  seed: number,
): Promise<SeedOutcome> {
  const started = performance.now();
  try {
    const { manifest } = draw_faults(seed, o.validators, o.heights, o.allow_unsafe);
    const r = await run_simulation({
      seed,
      validators: o.validators,
      heights: o.heights,
      manifest,
      load_tx_per_s: o.load_tx_per_s,
    });
    return {
      seed,
      passed: r.violations.length === 0,
      violations: r.violations.map((v) => ({ ...v, validators: [...v.validators] })),
      heights_committed: r.heights_committed,
      sim_ms: r.sim_ms,
      wall_ms: r.wall_ms,
    };
  } catch (error) {
    return error_outcome(seed, `the run threw: ${describe_error(error)}`, performance.now() - started);
  }
}

function error_outcome(seed: number, message: string, wall_ms: number): SeedOutcome {
  return {
    seed,
    passed: false,
    violations: [{ kind: 'error', height: null, sim_ms: 0, validators: [], message }],
    heights_committed: 0,
    sim_ms: 0,
    wall_ms: Math.round(wall_ms),
  };
}

function describe_error(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

/** Messages between the swarm and its workers. */
type ToWorker = { type: 'run'; seed: number } | { type: 'stop' };
type FromWorker = { type: 'ready' } | { type: 'outcome'; outcome: SeedOutcome };

/**
 * Runs the swarm in `o.jobs` worker processes forked from `worker_script` (this script, built);
 * `on_outcome` sees every seed's outcome as it arrives. Resolves with the summary once every seed
 * ran, or once `signal` aborts (the seeds in flight are dropped, and `interrupted` is set).
 */
export async function run_swarm(
  o: SwarmOptions,
  on_outcome: (outcome: SeedOutcome, progress: SwarmProgress) => void = () => {},
  worker_script: string = fileURLToPath(import.meta.url),
  signal?: AbortSignal,
): Promise<SwarmSummary> {
  const started = performance.now();
  const outcomes: SeedOutcome[] = [];
  let next = 0;
  let passed = 0;
  let failed = 0;
  const config = JSON.stringify({
    validators: o.validators,
    heights: o.heights,
    load_tx_per_s: o.load_tx_per_s,
    allow_unsafe: o.allow_unsafe,
  });
  const jobs = Math.max(1, Math.min(o.jobs, o.seeds));
  const workers = new Set<ChildProcess>();
  const interrupted = await new Promise<boolean>((resolve, reject) => {
    let finished = false;
    const finish = (was_interrupted: boolean) => {
      if (finished) return;
      finished = true;
      for (const w of workers) if (w.connected) send(w, { type: 'stop' });
      resolve(was_interrupted);
    };
    const record = (outcome: SeedOutcome) => {
      outcomes.push(outcome);
      if (outcome.passed) passed++;
      else failed++;
      on_outcome(outcome, {
        done: outcomes.length,
        total: o.seeds,
        passed,
        failed,
        elapsed_ms: performance.now() - started,
      });
      if (outcomes.length === o.seeds) finish(false);
    };
    const start_worker = () => {
      const w = fork(worker_script, [], {
        env: { ...process.env, [WORKER_ENV]: config },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        serialization: 'advanced',
      });
      workers.add(w);
      let in_flight: number | null = null;
      let w_started = performance.now();
      const give = () => {
        if (finished || next >= o.seeds) {
          in_flight = null;
          send(w, { type: 'stop' });
          return;
        }
        in_flight = o.first_seed + next++;
        w_started = performance.now();
        send(w, { type: 'run', seed: in_flight });
      };
      w.on('message', (m: FromWorker) => {
        if (m.type === 'ready') give();
        else if (m.type === 'outcome' && !finished) {
          in_flight = null;
          record(m.outcome);
          give();
        }
      });
      w.on('exit', (code, sig) => {
        workers.delete(w);
        if (in_flight !== null && !finished) {
          // The worker died under a seed: that seed failed; a fresh worker takes the rest.
          const seed = in_flight;
          in_flight = null;
          record(
            error_outcome(
              seed,
              `the worker process exited (${sig ?? `code ${code}`}) while running this seed`,
              performance.now() - w_started,
            ),
          );
          if (!finished && next < o.seeds) start_worker();
        }
        if (workers.size === 0 && !finished) {
          finished = true;
          reject(new Error(`every worker process exited after ${outcomes.length} of ${o.seeds} seeds`));
        }
      });
    };
    if (signal?.aborted === true) return finish(true);
    signal?.addEventListener('abort', () => {
      for (const w of workers) w.kill('SIGTERM');
      finish(true);
    });
    for (let j = 0; j < jobs; j++) start_worker();
  });
  outcomes.sort((a, b) => a.seed - b.seed);
  return {
    seeds: outcomes.length,
    passed,
    failed,
    failures: outcomes
      .filter((x) => !x.passed)
      .map((x) => ({ seed: x.seed, violations: x.violations, replay: replay_command(o, x.seed) })),
    wall_ms: Math.round(performance.now() - started),
    first_seed: o.first_seed,
    validators: o.validators,
    heights: o.heights,
    load_tx_per_s: o.load_tx_per_s,
    jobs,
    allow_unsafe: o.allow_unsafe,
    interrupted,
  };
}

function send(w: ChildProcess, m: ToWorker): void {
  if (w.connected) w.send(m, (error) => error && w.kill('SIGTERM'));
}

/** "1m05s", "3h02m", "42s". */
export function fmt_duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** One progress line: a bar, seeds done of total, passed, failed, seeds per second and ETA. */
export function progress_line(p: SwarmProgress, bar_chars = 24): string {
  const fraction = p.total === 0 ? 1 : p.done / p.total;
  const filled = Math.round(fraction * bar_chars);
  const rate_per_s = p.elapsed_ms > 0 ? p.done / (p.elapsed_ms / 1000) : 0;
  const eta = rate_per_s > 0 ? fmt_duration(((p.total - p.done) / rate_per_s) * 1000) : '?';
  return (
    `[${'#'.repeat(filled)}${'.'.repeat(bar_chars - filled)}] ${p.done}/${p.total} seeds` +
    `  passed ${p.passed}  failed ${p.failed}  ${rate_per_s.toFixed(2)} seeds/s` +
    `  elapsed ${fmt_duration(p.elapsed_ms)}  ETA ${eta}`
  );
}

/**
 * A progress reporter for a stream: on a terminal it redraws one line in place; elsewhere it
 * writes a line each time another 5 % of the seeds is done (and at the end).
 */
export function progress_reporter(
  stream: { write(text: string): unknown; isTTY?: boolean },
  total: number,
): { update(p: SwarmProgress): void; done(): void } {
  const tty = stream.isTTY === true;
  let last_step = 0;
  let drawn = false;
  return {
    update(p) {
      if (tty) {
        stream.write(`\r${progress_line(p)}\x1b[K`);
        drawn = true;
        return;
      }
      const step = Math.floor((p.done * 20) / Math.max(1, total));
      if (step > last_step || p.done === total) {
        last_step = step;
        stream.write(`${progress_line(p)}\n`);
      }
    },
    done() {
      if (tty && drawn) stream.write('\n');
    },
  };
}

/** The human summary: counts, then each failing seed's first violation and replay command. */
export function format_summary(s: SwarmSummary): string {
  const lines: string[] = [];
  const last = s.first_seed + Math.max(0, s.seeds - 1);
  lines.push(
    `sim:swarm: ${s.seeds} seed${s.seeds === 1 ? '' : 's'} (${s.first_seed}..${last}), ${s.validators} validators,` +
      ` ${s.heights} heights, ${s.load_tx_per_s} tx/s, ${s.jobs} job${s.jobs === 1 ? '' : 's'}` +
      `${s.allow_unsafe ? ', unsafe allowed' : ''}: ${s.passed} passed, ${s.failed} failed` +
      ` in ${(s.wall_ms / 1000).toFixed(1)} s wall${s.interrupted ? ' (interrupted)' : ''}`,
  );
  if (s.failures.length > 0) {
    lines.push('failing seeds:');
    for (const f of s.failures) {
      const v = f.violations[0];
      const what =
        v === undefined
          ? 'failed'
          : `${v.kind}${v.height === null ? '' : ` at height ${v.height}`} (${(v.sim_ms / 1000).toFixed(1)} s simulated): ${first_line(v.message)}`;
      const more = f.violations.length > 1 ? ` (+${f.violations.length - 1} more)` : '';
      lines.push(`  seed ${f.seed}: ${what}${more}`);
      lines.push(`    replay: ${f.replay}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function first_line(text: string): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

/** The worker's loop: runs the seeds it is sent with the configuration in its environment. */
async function worker_main(config_text: string): Promise<void> {
  const config = JSON.parse(config_text) as Omit<SwarmOptions, 'seeds' | 'first_seed' | 'jobs'>;
  let queue = Promise.resolve();
  process.on('message', (m: ToWorker) => {
    if (m.type === 'stop') {
      queue = queue.then(() => process.exit(0));
      return;
    }
    queue = queue.then(async () => {
      const outcome = await run_seed(config, m.seed);
      process.send?.({ type: 'outcome', outcome } satisfies FromWorker);
    });
  });
  // The parent going away ends the worker too.
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready' } satisfies FromWorker);
}

/** The command line: parse, run, report; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let o: ReturnType<typeof parse_swarm_args>;
  try {
    o = parse_swarm_args(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`sim:swarm: ${error.message} (see --help)\n`);
    return 2;
  }
  if (o === null) {
    process.stdout.write(HELP);
    return 0;
  }
  const options = o;
  process.stderr.write(
    `sim:swarm: ${options.seeds} seeds from ${options.first_seed}, ${options.validators} validators,` +
      ` ${options.heights} heights, ${options.load_tx_per_s} tx/s, ${Math.min(options.jobs, options.seeds)} jobs\n`,
  );
  const progress = progress_reporter(process.stderr, options.seeds);
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const summary = await run_swarm(options, (_, p) => progress.update(p), undefined, abort.signal);
  progress.done();
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  if (options.json) {
    const { seeds, passed, failed, failures, wall_ms, ...rest } = summary;
    process.stdout.write(`${JSON.stringify({ seeds, passed, failed, failures, wall_ms, ...rest })}\n`);
  } else process.stdout.write(format_summary(summary));
  if (summary.interrupted) return 130;
  return summary.failed > 0 ? 1 : 0;
}

const worker_config = process.env[WORKER_ENV];
if (worker_config !== undefined && process.send !== undefined) {
  worker_main(worker_config).catch((error: unknown) => {
    process.stderr.write(`sim:swarm worker: ${describe_error(error)}\n`);
    process.exit(1);
  });
} else if (is_main(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`sim:swarm failed: ${describe_error(error)}\n`);
      process.exit(1);
    },
  );
}
