/**
 * Simulator benchmark (issue #12): how fast `cloister sim run` goes on this machine. For 4, 16 and
 * 64 validators (`--only` picks some), one fault-free run each under a light load (20 simulated
 * transactions per simulated second), with the production consensus timeouts (node/init.ts
 * LOCAL_TIMEOUTS) and the default simulated network (sim/run/net.ts DEFAULT_NET), both written
 * into the output. Per row: committed heights, wall time (the whole `run_simulation` call, the
 * genesis ceremony and validator setup included), simulated time, committed heights per wall
 * second and the time compression (simulated ÷ wall).
 *
 * Targets (issue #12, on 2 cores): 4 validators commit 10,000 heights in under two minutes (at
 * least 83.3 heights per wall second) and run at least 20× faster than real time; 64 validators
 * run at all. The 4-validator row gives each measured value's ratio to its target and `meets`
 * booleans; nothing is adjusted when a target is missed.
 *
 * Output: one JSON object on stdout (and into `--out FILE`), progress on stderr. Flags:
 * `--heights-4 N` (default 10000), `--heights-16 N` (500), `--heights-64 N` (50), `--only 4,16`,
 * `--seed S` (1), `--out FILE`, `--help`. Wall time uses performance.now() in this process.
 * @module
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LOCAL_TIMEOUTS } from '../node/init.js';
import { parse_manifest } from '../sim/manifest.js';
import { DEFAULT_NET } from '../sim/run/net.js';
import { run_simulation } from '../sim/run/world.js';
import { is_main } from './bench/report.js';

/** Validator counts the benchmark knows, in order. */
export const BENCH_VALIDATORS = [4, 16, 64] as const;
/** Default heights per validator count. */
export const BENCH_HEIGHTS_DEFAULT: Readonly<Record<number, number>> = Object.freeze({
  4: 10_000,
  16: 500,
  64: 50,
});
/** Simulated client load of every row. */
export const BENCH_LOAD_TX_PER_S = 20;
/** Issue #12's targets for 4 validators on 2 cores. */
export const TARGETS_4 = Object.freeze({
  heights: 10_000,
  wall_ms_max: 120_000,
  /** 10,000 heights in 120 s. */
  heights_per_wall_s: 10_000 / 120,
  compression: 20,
});

/** What to run. */
export interface BenchSimPlan {
  rows: { validators: number; heights: number }[];
  seed: number;
  out?: string;
}

/** One measured row. */
export interface BenchSimRow {
  validators: number;
  /** Heights asked for. */
  heights: number;
  heights_committed: number;
  /** The whole run_simulation call, setup included. */
  wall_ms: number;
  /** Of which setup (genesis ceremony, validators) before the first simulated event. */
  setup_wall_ms: number;
  sim_ms: number;
  heights_per_wall_s: number;
  /** Simulated time ÷ wall time. */
  compression: number;
  events: number;
  txs_committed: number;
  violations: number;
  /** The first violation's text, when there was one (the numbers then say little). */
  first_violation?: string;
  /** 4 validators: measured ÷ target (above 1 is better than the target). */
  ratio?: { heights_per_wall_s: number; compression: number };
  /** 4 validators: each target met or not (`ten_thousand_in_two_minutes` is null for a shorter run). */
  meets?: {
    heights_per_wall_s: boolean;
    compression: boolean;
    ten_thousand_in_two_minutes: boolean | null;
  };
  /** 64 validators: the run reached its heights without a violation. */
  runs?: boolean;
}

/** A flag's value is out of range or not understood (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const HELP = `npm run bench:sim -- [flags]

Measures the simulator: committed heights per wall second and simulated ÷ wall time for 4, 16
and 64 validators, fault-free, ${BENCH_LOAD_TX_PER_S} tx/s, production timeouts, default network.

  --heights-4 N    heights of the 4-validator row (default ${BENCH_HEIGHTS_DEFAULT[4]})
  --heights-16 N   heights of the 16-validator row (default ${BENCH_HEIGHTS_DEFAULT[16]})
  --heights-64 N   heights of the 64-validator row (default ${BENCH_HEIGHTS_DEFAULT[64]})
  --only LIST      the rows to run, e.g. 4,16 (default 4,16,64)
  --seed S         the run seed (default 1)
  --out FILE       also write the JSON into FILE
  --help           this text
`;

/** Parses the flags; null for --help; UsageError on a bad one. */
export function parse_bench_sim_args(argv: string[]): BenchSimPlan | null {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'heights-4': { type: 'string', default: String(BENCH_HEIGHTS_DEFAULT[4]) },
        'heights-16': { type: 'string', default: String(BENCH_HEIGHTS_DEFAULT[16]) },
        'heights-64': { type: 'string', default: String(BENCH_HEIGHTS_DEFAULT[64]) },
        only: { type: 'string', default: BENCH_VALIDATORS.join(',') },
        seed: { type: 'string', default: '1' },
        out: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values['help'] === true) return null;
  const int = (name: string, lo: number, hi: number): number => {
    const text = String(values[name]);
    const v = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(v) || v < lo || v > hi) {
      throw new UsageError(`--${name} must be an integer from ${lo} to ${hi}, got ${text}`);
    }
    return v;
  };
  const only = String(values['only'])
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const wanted = new Set<number>();
  for (const s of only) {
    const n = Number(s);
    if (!BENCH_VALIDATORS.includes(n as (typeof BENCH_VALIDATORS)[number])) {
      throw new UsageError(`--only takes validator counts among ${BENCH_VALIDATORS.join(',')}, got ${s}`);
    }
    wanted.add(n);
  }
  if (wanted.size === 0) throw new UsageError('--only names no row');
  const rows = BENCH_VALIDATORS.filter((n) => wanted.has(n)).map((validators) => ({
    validators,
    heights: int(`heights-${validators}`, 1, 10_000_000),
  }));
  const seed = int('seed', 0, Number.MAX_SAFE_INTEGER);
  const out = values['out'];
  return { rows, seed, ...(typeof out === 'string' ? { out } : {}) };
}

/** Rounded to `digits` decimals. */
function round(v: number, digits: number): number {
  const k = 10 ** digits;
  return Math.round(v * k) / k;
}

/** Runs one row: a fault-free simulation of `validators` to `heights`. */
export async function measure_row(
  validators: number,
  heights: number,
  seed: number,
  progress: (text: string) => void = () => {},
): Promise<BenchSimRow> {
  const manifest = parse_manifest({ validators, faults: [] }, { validators });
  const started = performance.now();
  const report = await run_simulation({
    seed,
    validators,
    heights,
    manifest,
    load_tx_per_s: BENCH_LOAD_TX_PER_S,
    timeouts: { ...LOCAL_TIMEOUTS },
    net: { ...DEFAULT_NET },
    on_progress: ({ height, sim_ms }) => {
      const wall_s = (performance.now() - started) / 1000;
      progress(
        `  ${validators} validators: height ${height}/${heights}, ${(sim_ms / 1000).toFixed(0)} s simulated` +
          ` in ${wall_s.toFixed(0)} s wall (${(height / wall_s).toFixed(1)} heights/s)`,
      );
    },
  });
  const wall_ms = Math.max(1, Math.round(performance.now() - started));
  const row: BenchSimRow = {
    validators,
    heights,
    heights_committed: report.heights_committed,
    wall_ms,
    setup_wall_ms: Math.max(0, wall_ms - report.wall_ms),
    sim_ms: report.sim_ms,
    heights_per_wall_s: round(report.heights_committed / (wall_ms / 1000), 2),
    compression: round(report.sim_ms / wall_ms, 2),
    events: report.events,
    txs_committed: report.txs_committed,
    violations: report.violations.length,
  };
  const v = report.violations[0];
  if (v !== undefined) row.first_violation = `${v.kind} at height ${v.height ?? '-'}: ${v.message}`;
  return judge(row);
}

/** Adds the targets' verdicts to a row (4 validators: ratios and `meets`; 64: `runs`). */
export function judge(row: BenchSimRow): BenchSimRow {
  const ok = row.violations === 0 && row.heights_committed >= row.heights;
  if (row.validators === 4) {
    row.ratio = {
      heights_per_wall_s: round(row.heights_per_wall_s / TARGETS_4.heights_per_wall_s, 3),
      compression: round(row.compression / TARGETS_4.compression, 3),
    };
    row.meets = {
      heights_per_wall_s: ok && row.heights_per_wall_s >= TARGETS_4.heights_per_wall_s,
      compression: ok && row.compression >= TARGETS_4.compression,
      ten_thousand_in_two_minutes:
        row.heights < TARGETS_4.heights ? null : ok && row.wall_ms < TARGETS_4.wall_ms_max,
    };
  }
  if (row.validators === 64) row.runs = ok;
  return row;
}

/** The benchmark's JSON: the machine, the fixed settings, the targets and the rows. */
export function bench_sim_report(rows: BenchSimRow[], seed: number): Record<string, unknown> {
  const cpu = cpus();
  return {
    benchmark: 'sim',
    date: new Date().toISOString(),
    node: process.version,
    cpus: availableParallelism(),
    cpu_model: cpu[0]?.model ?? 'unknown',
    platform: `${process.platform} ${process.arch}`,
    seed,
    load_tx_per_s: BENCH_LOAD_TX_PER_S,
    faults: 'none',
    timeouts: { source: 'node/init.ts LOCAL_TIMEOUTS', ...LOCAL_TIMEOUTS },
    net: { source: 'sim/run/net.ts DEFAULT_NET', ...DEFAULT_NET },
    targets: {
      validators_4: {
        heights: TARGETS_4.heights,
        wall_ms_max: TARGETS_4.wall_ms_max,
        heights_per_wall_s: round(TARGETS_4.heights_per_wall_s, 1),
        compression: TARGETS_4.compression,
      },
      validators_64: 'runs to its heights without a violation',
    },
    rows,
  };
}

/** The command line: parse, run each row, print the JSON; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let plan: BenchSimPlan | null;
  try {
    plan = parse_bench_sim_args(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench:sim: ${error.message} (see --help)\n`);
    return 2;
  }
  if (plan === null) {
    process.stdout.write(HELP);
    return 0;
  }
  const log = (text: string) => process.stderr.write(`${text}\n`);
  log(
    `bench:sim: ${plan.rows.map((r) => `${r.validators} validators × ${r.heights} heights`).join(', ')};` +
      ` ${BENCH_LOAD_TX_PER_S} tx/s, no faults, seed ${plan.seed}`,
  );
  log(`  timeouts (node/init.ts LOCAL_TIMEOUTS): ${JSON.stringify(LOCAL_TIMEOUTS)}`);
  log(`  network (sim/run/net.ts DEFAULT_NET): ${JSON.stringify(DEFAULT_NET)}`);
  const rows: BenchSimRow[] = [];
  for (const { validators, heights } of plan.rows) {
    log(`bench:sim: ${validators} validators, ${heights} heights …`);
    const row = await measure_row(validators, heights, plan.seed, log);
    log(
      `  ${validators} validators: ${row.heights_committed} heights in ${(row.wall_ms / 1000).toFixed(1)} s wall` +
        ` (${row.heights_per_wall_s} heights/s), ${(row.sim_ms / 1000).toFixed(1)} s simulated` +
        ` (${row.compression}× real time)${row.violations > 0 ? `, ${row.violations} violation(s): ${row.first_violation}` : ''}`,
    );
    rows.push(row);
  }
  const text = `${JSON.stringify(bench_sim_report(rows, plan.seed), null, 2)}\n`;
  process.stdout.write(text);
  if (plan.out !== undefined) {
    mkdirSync(dirname(plan.out), { recursive: true });
    writeFileSync(plan.out, text);
  }
  return 0;
}

if (is_main(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(
        `bench:sim failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
