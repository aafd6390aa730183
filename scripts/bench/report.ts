/**
 * Helpers shared by the benchmark scripts (`bench_enclave.ts`, `bench_network.ts`): progress
 * lines, rounding, aligned text tables, percentiles, the machine description written beside the
 * results, and the check that a module is the script being run (so one script may import another's
 * functions without running its main).
 * @module
 */

import { realpathSync } from 'node:fs';
import { availableParallelism, cpus, platform, totalmem } from 'node:os';
import { pathToFileURL } from 'node:url';

/** A progress line on stderr (stdout carries only the results). */
export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** `value` rounded to `digits` decimal places. */
export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Text safe inside SVG/XML character data and attribute values. */
export function escape_xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * The `q`-quantile (0..1) of an ascending array by the nearest-rank rule (the smallest value with
 * at least `q` of the values at or below it); 0 for an empty array.
 */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** An aligned text table: a header line, a rule, one line per row; `numeric` columns right-aligned. */
export function text_table(
  head: readonly string[],
  rows: readonly string[][],
  numeric: readonly boolean[],
): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The machine a benchmark ran on, as written to its JSON. */
export interface MachineInfo {
  cpus: number;
  cpu_model: string;
  node: string;
  platform: string;
  total_mem_bytes: number;
}

export function machine_info(): MachineInfo {
  return {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${platform()} ${process.arch}`,
    total_mem_bytes: totalmem(),
  };
}

/** Cores this process may use (what the bound multiplies by). */
export function cores(): number {
  return Math.max(1, availableParallelism());
}

/** Whether the module at `import_meta_url` is the script Node was started with. */
export function is_main(import_meta_url: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import_meta_url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}
