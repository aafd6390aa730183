/**
 * The numbers `npm start` (sim/main_job.ts) collects and the summary it prints from them: a pure
 * function of what was counted, so that what it says can be checked without a network.
 * @module
 */

import { RESULT_CODE_NAMES } from '../protocol/codes.js';
import { RPC_BAD_ANSWER_CODE, RpcError, RpcUnreachableError } from '../protocol/rpc_client.js';

/** What the main job counted. */
export interface JobNumbers {
  /** Each validator's height: the last it logged committing (or started at); null if none heard. */
  heights: readonly (number | null)[];
  /** Transactions sent to a validator's RPC. */
  submitted: number;
  /** Those a validator did not take, by reason ({@link refusal_reason}). */
  refused: ReadonlyMap<string, number>;
  /** How long the workload ran: from its first submission until it stopped submitting, ms. */
  load_ms: number;
  /** Of the submitted transactions, those committed while the workload ran. */
  committed_in_load: number;
  /** Those committed in all, the drain after the workload included. */
  committed: number;
  /** How long the job waited after the workload for what was in flight to commit, ms. */
  drain_ms: number;
  /** Taken by a validator, never seen committed. */
  pending: number;
  /** Committed with a non-zero code. */
  failed: number;
  /** Submission to commit of each committed transaction, ms. */
  latencies_ms: readonly number[];
  /** Results their clients opened (and, for echo, found what they sent). */
  decrypted: number;
  /** Where the network and its logs are, or null for a temporary folder removed at exit. */
  logs: string | null;
}

/** RPC error codes (docs/protocol-notes.md "Error codes") as words. */
const RPC_CODE_NAMES: Readonly<Record<number, string>> = {
  100: 'not found',
  101: 'body too large',
  102: 'busy',
  103: 'timed out',
  104: 'node failed',
  105: 'wrong method',
  106: 'bad request',
  107: 'wrong content type',
  108: 'halted',
  109: 'enclave unavailable',
  110: 'too many streams',
  111: 'held back by the liveness guard',
  [RPC_BAD_ANSWER_CODE]: 'bad answer',
};

/**
 * Why a submission was refused, as the summary groups them: `<name> (code N)` for a node's error
 * answer, `unreachable` when no answer came, otherwise the error's message.
 */
export function refusal_reason(error: unknown): string {
  if (error instanceof RpcError) {
    const name = RPC_CODE_NAMES[error.code] ?? (RESULT_CODE_NAMES as Record<number, string>)[error.code];
    return name === undefined ? `code ${error.code}` : `${name} (code ${error.code})`;
  }
  if (error instanceof RpcUnreachableError) return 'unreachable';
  return error instanceof Error ? error.message : String(error);
}

/** The `q` quantile of ascending `sorted` (0 when empty). */
export function percentile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Committed per second over the workload alone: what committed while it ran, over how long it ran. */
export function load_rate(n: Pick<JobNumbers, 'committed_in_load' | 'load_ms'>): number {
  return n.load_ms <= 0 ? 0 : (n.committed_in_load * 1000) / n.load_ms;
}

/** The summary's lines. */
export function summary_lines(n: JobNumbers): string[] {
  const sorted = [...n.latencies_ms].sort((a, b) => a - b);
  const refused = [...n.refused.values()].reduce((a, b) => a + b, 0);
  const reasons = [...n.refused].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const drained = n.committed - n.committed_in_load;
  const secs = (ms: number) => (ms / 1000).toFixed(1);
  return [
    'summary',
    `  validators     ${n.heights.length} processes, heights ${n.heights.map((h) => h ?? '?').join(' ')}`,
    `  submitted      ${n.submitted} encrypted transactions, ${n.submitted - refused} taken, ${refused} refused at submission${
      reasons.length === 0 ? '' : `: ${reasons.map(([why, count]) => `${count} ${why}`).join(', ')}`
    }`,
    `  committed      ${n.committed} in all, ${n.failed} with a non-zero code: ${n.committed_in_load} in ${secs(n.load_ms)} s of load (${load_rate(n).toFixed(0)} tx/s), ${drained} more in ${secs(n.drain_ms)} s of drain; ${n.pending} never seen committed`,
    `  latency        p50 ${percentile(sorted, 0.5)} ms, p99 ${percentile(sorted, 0.99)} ms (submission to commit)`,
    `  decrypted      ${n.decrypted} results by their clients`,
    `  logs           ${n.logs ?? '(temporary folder removed)'}`,
  ];
}
