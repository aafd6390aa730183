/**
 * `cloister sim run`: argument checks, the run, and its output (a human summary, or `--json`,
 * and `--out DIR` with the report, the trace, the manifest and an SVG timeline). Exit codes: 0
 * when every invariant held, 1 on a violation, 2 on bad usage (a clear message for a bad
 * manifest). docs/simulator.md.
 * @module
 */

import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST_LIMITS, type Manifest, ManifestError, parse_manifest, unsafe_reason } from '../manifest.js';
import { draw_faults } from './random_faults.js';
import { render_timeline } from './timeline_svg.js';
import { run_simulation, type SimReport } from './world.js';

/** What `cloister sim run` was given (yargs' parsed flags). */
export interface SimRunArgs {
  seed?: number;
  validators: number;
  heights: number;
  faults?: string;
  load: number;
  /** Share (0..1) of client transactions that are contract-call chains (protocol.md §9). */
  calls?: number;
  json: boolean;
  out?: string;
  allow_unsafe: boolean;
  liveness_ms?: number;
}

/** A usage error: exit code 2 with this message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Reads and checks the manifest file, or draws a schedule from the seed. */
export function load_faults(
  args: SimRunArgs,
  seed: number,
): { manifest: Manifest; json: unknown; drawn: boolean } {
  if (args.faults === undefined) {
    const drawn = draw_faults(seed, args.validators, args.heights, args.allow_unsafe);
    return { manifest: drawn.manifest, json: drawn.json, drawn: true };
  }
  const file = args.faults;
  if (!existsSync(file)) throw new UsageError(`--faults ${file}: no such file`);
  if (statSync(file).size > MANIFEST_LIMITS.bytes_max) {
    throw new UsageError(`--faults ${file}: larger than ${MANIFEST_LIMITS.bytes_max} bytes`);
  }
  const text = readFileSync(file, 'utf8');
  try {
    const manifest = parse_manifest(text, { validators: args.validators });
    return { manifest, json: JSON.parse(text) as unknown, drawn: false };
  } catch (error) {
    if (error instanceof ManifestError) throw new UsageError(`--faults ${file}: ${error.message}`);
    throw error;
  }
}

/** Checks the flags; UsageError on a bad one. */
export function check_args(args: SimRunArgs): number {
  const int = (v: unknown, name: string, lo: number, hi: number) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      throw new UsageError(`--${name} must be an integer from ${lo} to ${hi}, got ${String(v)}`);
    }
  };
  int(args.validators, 'validators', 1, 100);
  int(args.heights, 'heights', 1, 10_000_000);
  if (typeof args.load !== 'number' || !(args.load >= 0 && args.load <= 10_000)) {
    throw new UsageError(`--load must be 0..10000 transactions per second, got ${String(args.load)}`);
  }
  if (args.liveness_ms !== undefined) int(args.liveness_ms, 'liveness-ms', 1_000, 3_600_000);
  if (args.calls !== undefined && !(typeof args.calls === 'number' && args.calls >= 0 && args.calls <= 1)) {
    throw new UsageError(`--calls must be a share from 0 to 1, got ${String(args.calls)}`);
  }
  if (args.seed !== undefined) {
    int(args.seed, 'seed', 0, Number.MAX_SAFE_INTEGER);
    return args.seed;
  }
  return randomInt(2 ** 31);
}

/** Runs `cloister sim run`; returns the exit code. Writes to stdout/stderr. */
export async function sim_run(args: SimRunArgs): Promise<number> {
  let seed: number;
  let faults: ReturnType<typeof load_faults>;
  try {
    seed = check_args(args);
    faults = load_faults(args, seed);
    const unsafe = unsafe_reason(
      faults.manifest,
      Array.from({ length: args.validators }, () => 10),
    );
    if (unsafe !== null && !args.allow_unsafe) {
      throw new UsageError(
        `${unsafe}; pass --allow-unsafe to run it anyway (safety may then fail, and is reported)`,
      );
    }
  } catch (error) {
    if (error instanceof UsageError || error instanceof RangeError) {
      process.stderr.write(`cloister sim run: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const tty = process.stderr.isTTY === true && !args.json;
  const report = await run_simulation({
    seed,
    validators: args.validators,
    heights: args.heights,
    manifest: faults.manifest,
    load_tx_per_s: args.load,
    ...(args.calls === undefined ? {} : { calls_share: args.calls }),
    keep_trace: args.out !== undefined,
    ...(args.liveness_ms === undefined ? {} : { liveness_bound_ms: args.liveness_ms }),
    on_progress: tty
      ? ({ height, sim_ms }) =>
          process.stderr.write(
            `\r  height ${height}/${args.heights}  simulated ${(sim_ms / 1000).toFixed(1)} s`,
          )
      : undefined,
  });
  if (tty) process.stderr.write('\r\x1b[K');
  if (args.out !== undefined) write_out(args.out, report, faults.json);
  const { trace: _trace, timeline: _timeline, ...summary } = report;
  if (args.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else process.stdout.write(human(report, args, faults.drawn));
  return report.violations.length === 0 ? 0 : 1;
}

/** Writes report.json, trace.txt, manifest.json and timeline.svg into `dir`. */
function write_out(dir: string, report: SimReport, manifest_json: unknown): void {
  mkdirSync(dir, { recursive: true });
  const { trace, ...rest } = report;
  writeFileSync(join(dir, 'report.json'), `${JSON.stringify(rest, null, 2)}\n`);
  writeFileSync(join(dir, 'trace.txt'), `${(trace ?? []).join('\n')}\n`);
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest_json, null, 2)}\n`);
  writeFileSync(join(dir, 'timeline.svg'), render_timeline(report));
}

/** The human summary. */
function human(r: SimReport, args: SimRunArgs, drawn: boolean): string {
  const lines: string[] = [];
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  lines.push(
    `cloister sim run: seed ${r.seed}, ${r.validators} validators, ${args.heights} heights, ${args.load} tx/s`,
  );
  lines.push(
    `  committed ${r.heights_committed} heights and ${r.txs_committed} transactions in ${s(r.sim_ms)} simulated` +
      ` (${s(r.wall_ms)} wall, ${r.compression}× real time, ${r.events} events)`,
  );
  const byz = Object.entries(r.byzantine).map(([i, b]) => `${i}:${b}`);
  lines.push(
    `  byzantine: ${byz.length === 0 ? 'none' : byz.join(', ')}${drawn ? ' (drawn from the seed)' : ''}`,
  );
  lines.push(
    `  faults applied: ${r.faults_applied.length}${drawn && args.faults === undefined ? ' (drawn from the seed)' : ''}`,
  );
  for (const f of r.faults_applied)
    lines.push(`    ${s(f.sim_ms).padStart(8)}  height ${String(f.height).padStart(6)}  ${f.fault}`);
  if (r.violations.length === 0) {
    lines.push(
      '  invariants: all held (agreement, validity, durability, light client, signing, no halt, liveness)',
    );
  } else {
    lines.push(`  VIOLATED: ${r.violations.length} invariant violation(s); seed ${r.seed}`);
    for (const v of r.violations) {
      lines.push(`    ${v.kind} at height ${v.height ?? '-'} (${s(v.sim_ms)} simulated): ${v.message}`);
    }
    lines.push('  last trace lines before it:');
    for (const t of r.trace_tail.slice(-16)) lines.push(`    ${t.length > 160 ? `${t.slice(0, 160)}…` : t}`);
  }
  lines.push(`  trace sha256 ${r.trace_sha256}`);
  const replay = [`cloister sim run --seed ${r.seed} --validators ${r.validators} --heights ${args.heights}`];
  if (args.load !== 20) replay.push(`--load ${args.load}`);
  if (args.calls !== undefined && args.calls > 0) replay.push(`--calls ${args.calls}`);
  if (args.faults !== undefined) replay.push(`--faults ${args.faults}`);
  if (args.allow_unsafe) replay.push('--allow-unsafe');
  lines.push(`  replay: ${replay.join(' ')}`);
  return `${lines.join('\n')}\n`;
}
