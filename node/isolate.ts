/**
 * Finding the transaction that makes a block unexecutable, by bisecting its prefixes.
 *
 * A block executes its transactions in order and deterministically, so if the enclave fails
 * while executing transaction k, every prefix that contains k fails too and every prefix that
 * does not succeeds: failure is monotone in the prefix length. A binary search over prefix
 * lengths then finds the first failing transaction in about log2(n) trial executions, and it
 * does so even when the transaction only fails after earlier ones in the block (it fails in
 * every prefix that contains them both). Each trial is a real execution of a real candidate
 * block (the prefix), so the longest prefix that succeeded is a block the proposer can propose.
 * @module
 */

/** What one trial execution of a prefix answered. */
export type Trial<T> =
  /** The prefix executed; `value` is its execution. */
  | { kind: 'ok'; value: T }
  /** The prefix failed in a way a transaction can cause (worker died, timeout, …). */
  | { kind: 'failed' }
  /** The trial says nothing about the transactions (the height moved on, the host refused it). */
  | { kind: 'inconclusive'; reason: string };

/** What {@link isolate_failing_tx} found. */
export type Isolation<T> =
  /** Transaction `index` fails; the prefix before it (`index` transactions) executed as `prefix`. */
  | { kind: 'found'; index: number; prefix: T; calls: number }
  /** The whole block executed this time: the first failure did not come back (`whole`). */
  | { kind: 'not_reproduced'; whole: T; calls: number }
  /** No answer within the calls allowed, or a trial was inconclusive. */
  | { kind: 'inconclusive'; reason: string; calls: number };

/** Trial executions needed for `count` transactions: the search, one confirmation, one empty prefix. */
export function isolation_calls_needed(count: number): number {
  return Math.ceil(Math.log2(Math.max(count, 1))) + 2;
}

/**
 * Bisects the prefixes of a block of `count` transactions whose full execution failed once, with
 * at most `calls_max` calls of `trial(k)` (execute the first k transactions). Assumes the empty
 * prefix executes; the failure must be seen again in a trial before any transaction is blamed,
 * so a failure that does not come back (a worker killed for another reason) blames nobody.
 * Trials run one at a time.
 */
export async function isolate_failing_tx<T>(
  count: number,
  trial: (prefix_length: number) => Promise<Trial<T>>,
  calls_max: number,
): Promise<Isolation<T>> {
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError('count must be a positive integer');
  if (!Number.isSafeInteger(calls_max) || calls_max < 1)
    throw new RangeError('calls_max must be a positive integer');
  let calls = 0;
  const run = async (k: number): Promise<Trial<T>> => {
    calls++;
    return trial(k);
  };
  // Invariant: the prefix of length `lo` executes (or is the empty one), the prefix of length
  // `hi` fails; `hi_seen` once a trial (not only the first execution) saw `hi` fail.
  let lo = 0;
  let lo_value: T | null = null;
  let hi = count;
  let hi_seen = false;
  while (hi - lo > 1) {
    if (calls >= calls_max) return { kind: 'inconclusive', reason: 'enclave calls exhausted', calls };
    const mid = lo + Math.floor((hi - lo) / 2);
    const answer = await run(mid);
    if (answer.kind === 'inconclusive') return { kind: 'inconclusive', reason: answer.reason, calls };
    if (answer.kind === 'ok') {
      lo = mid;
      lo_value = answer.value;
    } else {
      hi = mid;
      hi_seen = true;
    }
  }
  if (!hi_seen) {
    // Only the first execution failed at `hi` (= count): see it fail again before blaming a tx.
    if (calls >= calls_max) return { kind: 'inconclusive', reason: 'enclave calls exhausted', calls };
    const answer = await run(hi);
    if (answer.kind === 'inconclusive') return { kind: 'inconclusive', reason: answer.reason, calls };
    if (answer.kind === 'ok') return { kind: 'not_reproduced', whole: answer.value, calls };
  }
  if (lo_value === null) {
    // The first transaction fails: the block to propose instead is the empty one.
    if (lo !== 0) throw new Error('invariant: a non-empty prefix succeeded without a value');
    if (calls >= calls_max) return { kind: 'inconclusive', reason: 'enclave calls exhausted', calls };
    const answer = await run(0);
    if (answer.kind !== 'ok')
      return { kind: 'inconclusive', reason: 'the empty block did not execute', calls };
    lo_value = answer.value;
  }
  return { kind: 'found', index: lo, prefix: lo_value, calls };
}
