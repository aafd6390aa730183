/** The `npm start` summary (sim/job_summary.ts): a pure function of the numbers the job collected. */

import { describe, expect, it } from 'vitest';
import { RpcError, RpcUnreachableError } from '../../protocol/rpc_client.js';
import { type JobNumbers, load_rate, refusal_reason, summary_lines } from '../../sim/job_summary.js';

const numbers = (over: Partial<JobNumbers> = {}): JobNumbers => ({
  heights: [41, 41, 40, 41],
  submitted: 1000,
  refused: new Map(),
  load_ms: 10_000,
  committed_in_load: 950,
  committed: 1000,
  drain_ms: 2_500,
  pending: 0,
  failed: 0,
  latencies_ms: [300, 100, 200, 400],
  decrypted: 1000,
  logs: null,
  ...over,
});

const line = (lines: string[], head: string) => lines.find((l) => l.trimStart().startsWith(head)) ?? '';

describe('the npm start summary', () => {
  it('shows each validator height, and ? for one never heard from (never -1)', () => {
    expect(line(summary_lines(numbers()), 'validators')).toBe(
      '  validators     4 processes, heights 41 41 40 41',
    );
    expect(line(summary_lines(numbers({ heights: [7, null] })), 'validators')).toBe(
      '  validators     2 processes, heights 7 ?',
    );
  });

  it('counts the rate over the load alone, not the drain after it', () => {
    // 950 committed in 10 s of load: 95 tx/s, although 1000 committed in 12.5 s in all.
    expect(load_rate(numbers())).toBe(95);
    const committed = line(summary_lines(numbers()), 'committed');
    expect(committed).toContain('1000 in all, 0 with a non-zero code');
    expect(committed).toContain('950 in 10.0 s of load (95 tx/s)');
    expect(committed).toContain('50 more in 2.5 s of drain');
    expect(committed).toContain('0 never seen committed');
    expect(load_rate(numbers({ load_ms: 0 }))).toBe(0);
  });

  it('counts refusals by reason, most first', () => {
    const refused = new Map([
      ['wrong sequence (code 5)', 3],
      ['busy (code 102)', 9],
      ['unreachable', 1],
    ]);
    expect(line(summary_lines(numbers({ refused })), 'submitted')).toBe(
      '  submitted      1000 encrypted transactions, 987 taken, 13 refused at submission: 9 busy (code 102), 3 wrong sequence (code 5), 1 unreachable',
    );
    expect(line(summary_lines(numbers()), 'submitted')).toBe(
      '  submitted      1000 encrypted transactions, 1000 taken, 0 refused at submission',
    );
  });

  it('names a refusal by its code, or says no node answered', () => {
    expect(refusal_reason(new RpcError(503, 102, 'mempool full'))).toBe('busy (code 102)');
    expect(refusal_reason(new RpcError(503, 108, 'halted'))).toBe('halted (code 108)');
    expect(refusal_reason(new RpcError(400, 5, 'sequence'))).toBe('wrong sequence (code 5)');
    expect(refusal_reason(new RpcError(400, 4, 'sig'))).toBe('bad signature (code 4)');
    expect(refusal_reason(new RpcError(500, 999, '?'))).toBe('code 999');
    expect(refusal_reason(new RpcUnreachableError(['http://x']))).toBe('unreachable');
    expect(refusal_reason(new Error('boom'))).toBe('boom');
  });

  it('gives latency percentiles of the sorted latencies and where the logs are', () => {
    const lines = summary_lines(numbers({ logs: '/tmp/net' }));
    expect(line(lines, 'latency')).toBe('  latency        p50 300 ms, p99 400 ms (submission to commit)');
    expect(line(lines, 'decrypted')).toBe('  decrypted      1000 results by their clients');
    expect(line(lines, 'logs')).toBe('  logs           /tmp/net');
    expect(line(summary_lines(numbers()), 'logs')).toBe('  logs           (temporary folder removed)');
  });
});
