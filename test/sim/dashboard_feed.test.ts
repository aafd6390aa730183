/**
 * The dashboard's picture of a network (sim/dashboard/feed.ts) from made-up events: validator
 * rows, the consensus timeline with round changes, blocks and transactions without their
 * ciphertext, the per-second charts, faults, and its bounds.
 */

import { describe, expect, it } from 'vitest';
import { DashboardFeed, FEED_LIMITS, quantile } from '../../sim/dashboard/feed.js';

const T0 = 1_700_000_000_000;
const feed4 = () =>
  new DashboardFeed({ chain_id: 'c-1', behaviours: ['honest', 'honest', 'equivocate', 'honest'] });
const up = { running: true, paused: false, pid: 1, rpc: 'http://127.0.0.1:1', group: null };

describe('validator rows', () => {
  it('follow each validator: state, behaviour, height, round and step, status numbers', () => {
    const feed = feed4();
    expect(feed.state(T0).validators.map((v) => v.state)).toEqual(['down', 'down', 'down', 'down']);
    feed.process_state(0, up);
    feed.process_state(1, { ...up, paused: true });
    feed.process_state(3, { ...up, group: [3] });
    feed.node_event({ index: 0, event: 'started', height: 4 }, T0);
    feed.node_event({ index: 0, event: 'round', height: 5, round: 1 }, T0);
    feed.node_event(
      { index: 0, event: 'vote_sent', type: 'prevote', height: 5, round: 1, hash: 'ab'.repeat(8) },
      T0,
    );
    feed.status(0, { height: 4, peers: ['a', 'b', 'c'], mempool: 7 });
    const [v0, v1, v2, v3] = feed.state(T0).validators;
    expect(v0).toMatchObject({ state: 'up', height: 4, round: 1, step: 'prevote', peers: 3, mempool: 7 });
    expect(v1!.state).toBe('paused');
    expect(v2).toMatchObject({ state: 'down', behaviour: 'equivocate' });
    expect(v3!.state).toBe('partitioned');
    feed.node_event({ index: 0, event: 'committed', height: 5 }, T0);
    expect(feed.state(T0).validators[0]!.height).toBe(5);
  });

  it('a halted node shows halted with its reason; a crash clears round, step and status', () => {
    const feed = feed4();
    feed.process_state(1, up);
    feed.status(1, { height: 9, peers: [], mempool: 0, halted: { height: 10, reason: 'results differ' } });
    feed.process_state(1, up);
    expect(feed.state(T0).validators[1]).toMatchObject({ state: 'halted', halted: 'results differ' });
    feed.node_event({ index: 1, event: 'crashed', code: null, signal: 'SIGKILL' }, T0);
    feed.process_state(1, { running: false, paused: false, pid: null, rpc: null, group: null });
    expect(feed.state(T0).validators[1]).toMatchObject({
      state: 'down',
      round: null,
      step: null,
      peers: null,
    });
  });

  it('counts a change only when something changed', () => {
    const feed = feed4();
    feed.process_state(0, up);
    const v = feed.version;
    feed.process_state(0, up);
    feed.status(0, null);
    expect(feed.version).toBe(v);
    feed.status(0, { height: 1 });
    expect(feed.version).toBeGreaterThan(v);
  });
});

describe('consensus timeline', () => {
  it('records per validator per round what it signed, nil votes and timeouts, and the commit', () => {
    const feed = feed4();
    const h = 'cd'.repeat(16);
    feed.node_event({ index: 1, event: 'round', height: 3, round: 0 }, T0);
    feed.node_event({ index: 1, event: 'timeout', kind: 'propose', height: 3, round: 0 }, T0);
    feed.node_event({ index: 1, event: 'vote_sent', type: 'prevote', height: 3, round: 0, hash: null }, T0);
    feed.node_event({ index: 0, event: 'proposal_sent', height: 3, round: 1, hash: h }, T0);
    feed.node_event({ index: 1, event: 'vote_sent', type: 'prevote', height: 3, round: 1, hash: h }, T0);
    feed.node_event({ index: 1, event: 'vote_sent', type: 'precommit', height: 3, round: 1, hash: h }, T0);
    feed.node_event({ index: 1, event: 'commit', height: 3, round: 1, hash: h.slice(0, 16) }, T0);
    const [height] = feed.state(T0).timeline;
    expect(height!.height).toBe(3);
    expect(height!.committed).toBe(h.slice(0, 16));
    expect(height!.rounds.map((r) => r.round)).toEqual([0, 1]);
    expect(height!.rounds[0]!.cells[1]).toEqual({ timeouts: ['propose'], prevote: 'nil' });
    expect(height!.rounds[1]!.cells[0]).toEqual({ proposal: h.slice(0, 16) });
    expect(height!.rounds[1]!.cells[1]).toEqual({
      prevote: h.slice(0, 16),
      precommit: h.slice(0, 16),
      commit: h.slice(0, 16),
    });
  });

  it('keeps the newest heights and rounds only, newest height first', () => {
    const feed = feed4();
    for (let height = 1; height <= 20; height++)
      for (let round = 0; round < 9; round++)
        feed.node_event({ index: 0, event: 'round', height, round }, T0);
    // An old height arriving late is not brought back.
    feed.node_event({ index: 2, event: 'round', height: 2, round: 0 }, T0);
    const { timeline } = feed.state(T0);
    expect(timeline.map((h) => h.height)).toEqual(
      Array.from({ length: FEED_LIMITS.timeline_heights_max }, (_, k) => 20 - k),
    );
    expect(timeline[0]!.rounds.map((r) => r.round)).toEqual([3, 4, 5, 6, 7, 8]);
  });
});

describe('blocks, transactions and charts', () => {
  it('keeps blocks newest first and transactions without their output', () => {
    const feed = feed4();
    feed.block({ height: 2, hash: 'aa', time_ms: T0, txs: 3 }, T0 + 100);
    feed.block({ height: 1, hash: 'bb', time_ms: T0, txs: 0 }, T0 + 200);
    feed.block({ height: 2, hash: 'aa', time_ms: T0, txs: 3 }, T0 + 300);
    const secret = { output: 'Y2lwaGVydGV4dA==' };
    feed.tx({
      hash: 'ee',
      height: 2,
      index: 0,
      code: 0,
      gas_used: 10,
      contract: null,
      events: [],
      ...secret,
    });
    const state = feed.state(T0 + 2000);
    expect(state.blocks.map((b) => b.height)).toEqual([2, 1]);
    expect(state.txs).toHaveLength(1);
    expect(JSON.stringify(state)).not.toContain(secret.output);
  });

  it('counts committed transactions and load latencies per second, the current second left out', () => {
    const feed = feed4();
    feed.block({ height: 1, hash: 'a', time_ms: T0, txs: 4 }, T0 + 10);
    feed.block({ height: 2, hash: 'b', time_ms: T0, txs: 6 }, T0 + 900);
    feed.block({ height: 3, hash: 'c', time_ms: T0, txs: 5 }, T0 + 2500);
    for (const latency_ms of [100, 300, 200])
      feed.load_commit({ hash: 'x', code: 0, latency_ms, at_ms: T0 + 50 });
    const { series } = feed.state(T0 + 2600);
    const s0 = Math.floor(T0 / 1000);
    expect(series.t_s).toEqual([s0, s0 + 1]);
    expect(series.tps).toEqual([10, 0]);
    expect(series.latency_p50_ms).toEqual([200, null]);
    expect(series.latency_p99_ms).toEqual([300, null]);
    // The series never grows past its window.
    expect(feed.state(T0 + 10_000_000).series.t_s.length).toBeLessThanOrEqual(FEED_LIMITS.series_seconds_max);
  });

  it('lists faults and actions newest first, bounded', () => {
    const feed = feed4();
    feed.node_event({ index: 2, event: 'evidence', kind: 'duplicate_vote', height: 7 }, T0);
    feed.action('v1 killed (SIGKILL)', T0 + 1, 1);
    feed.node_event({ index: 1, event: 'crashed', code: null, signal: 'SIGKILL' }, T0 + 2);
    const { faults } = feed.state(T0);
    expect(faults.map((f) => [f.validator, f.kind])).toEqual([
      [1, 'crashed'],
      [1, 'action'],
      [2, 'evidence'],
    ]);
    expect(faults[2]!.text).toContain('duplicate_vote');
    for (let k = 0; k < 500; k++) feed.action(`note ${k}`, T0);
    expect(feed.state(T0).faults).toHaveLength(FEED_LIMITS.faults_max);
  });

  it('quantile is nearest-rank', () => {
    expect(quantile([], 0.5)).toBeNull();
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(quantile([1, 2, 3, 4], 0.99)).toBe(4);
  });

  it('refuses a network it cannot show', () => {
    expect(() => new DashboardFeed({ chain_id: 'c', behaviours: [] })).toThrow(RangeError);
  });
});
