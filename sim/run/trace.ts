/**
 * The trace of a run: one line per committed block (per validator), per applied fault, per halt
 * and per violation, in the order they happened, and a SHA-256 over all of them. Two runs with the
 * same seed and inputs have the same trace, so the same `trace_sha256`; the first differing line
 * of two kept traces is where they diverged. Line forms (docs/simulator.md "Trace"):
 *   c <sim_ms> <validator> <height> <block_hash> <result_hash>
 *   f <sim_ms> <height> <fault>
 *   h <sim_ms> <validator> <reason>
 *   v <sim_ms> <kind> <height> <message>
 * @module
 */

import { createHash, type Hash } from 'node:crypto';

/** Lines kept for a failure's minimal trace even when the full trace is not kept. */
const RECENT_LINES_MAX = 40;

/** An append-only trace with a running hash. */
export class Trace {
  readonly #hash: Hash = createHash('sha256');
  readonly #keep: boolean;
  readonly #lines: string[] = [];
  readonly #recent: string[] = [];
  #count = 0;

  constructor(keep: boolean) {
    this.#keep = keep;
  }

  /** Appends one line (no newline inside). */
  line(text: string): void {
    const line = text.replace(/\n/g, ' ');
    this.#hash.update(line).update('\n');
    this.#count++;
    if (this.#keep) this.#lines.push(line);
    this.#recent.push(line);
    if (this.#recent.length > RECENT_LINES_MAX) this.#recent.shift();
  }

  /** Lines appended so far. */
  count(): number {
    return this.#count;
  }

  /** Every line (only when kept). */
  lines(): string[] {
    return [...this.#lines];
  }

  /** The last lines, for a violation's report. */
  recent(): string[] {
    return [...this.#recent];
  }

  /** SHA-256 of every line so far, each followed by a newline (hex). */
  sha256(): string {
    return this.#hash.copy().digest('hex');
  }
}
