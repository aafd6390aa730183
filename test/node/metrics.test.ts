/**
 * A node's metrics module (node/metrics.ts): every required name in the exposition, gauges read
 * from their sources at each scrape, counters and histograms that move, timing on the node's clock,
 * and one registry per node (never prom-client's global one).
 */

import { register as global_registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { BlockOutput, Enclave } from '../../enclave/api.js';
import type { Block } from '../../node/consensus/types.js';
import { metered_commits, metered_enclave, NO_METRICS, NodeMetrics } from '../../node/metrics.js';
import type { ChainStore } from '../../node/store/chain_store.js';
import { REQUIRED_METRICS, sample } from './metrics_helpers.js';

describe('NodeMetrics', () => {
  it('declares every required metric with its type', async () => {
    const { body, content_type } = await new NodeMetrics().exposition();
    expect(content_type).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const name of REQUIRED_METRICS) expect(body).toContain(`# TYPE ${name} `);
    expect(body).toContain('# TYPE cloister_enclave_execute_seconds histogram');
    expect(body).toContain('# TYPE cloister_consensus_block_interval_seconds histogram');
    expect(body).toContain('# TYPE cloister_txs_committed_total counter');
    expect(body).toContain('# TYPE cloister_consensus_height gauge');
  });

  it('reads the gauges from their sources at each scrape', async () => {
    const metrics = new NodeMetrics();
    const state = { height: 3, round: 1, mempool: 7, peers: 2 };
    metrics.watch({
      height: () => state.height,
      round: () => state.round,
      mempool_size: () => state.mempool,
      peers: () => state.peers,
    });
    let text = (await metrics.exposition()).body;
    expect(sample(text, 'cloister_consensus_height')).toBe(3);
    expect(sample(text, 'cloister_consensus_rounds')).toBe(1);
    expect(sample(text, 'cloister_mempool_size')).toBe(7);
    expect(sample(text, 'cloister_p2p_peers')).toBe(2);
    Object.assign(state, { height: 4, round: 0, mempool: 0, peers: 3 });
    text = (await metrics.exposition()).body;
    expect(sample(text, 'cloister_consensus_height')).toBe(4);
    expect(sample(text, 'cloister_consensus_rounds')).toBe(0);
    expect(sample(text, 'cloister_mempool_size')).toBe(0);
    expect(sample(text, 'cloister_p2p_peers')).toBe(3);
  });

  it('counts committed transactions by code and block intervals from header times', async () => {
    const metrics = new NodeMetrics();
    metrics.block_committed({ time_ms: 10_000, codes: [0, 0, 5] }, null);
    metrics.block_committed({ time_ms: 11_500, codes: [0] }, 10_000);
    const text = (await metrics.exposition()).body;
    expect(sample(text, 'cloister_txs_committed_total', 'code="0"')).toBe(3);
    expect(sample(text, 'cloister_txs_committed_total', 'code="5"')).toBe(1);
    // The first block had no previous one: one interval, of 1.5 s.
    expect(sample(text, 'cloister_consensus_block_interval_seconds_count')).toBe(1);
    expect(sample(text, 'cloister_consensus_block_interval_seconds_sum')).toBe(1.5);
    expect(sample(text, 'cloister_consensus_block_interval_seconds_bucket', 'le="1"')).toBe(0);
    expect(sample(text, 'cloister_consensus_block_interval_seconds_bucket', 'le="2"')).toBe(1);
  });

  it('counts RPC requests by route and status', async () => {
    const metrics = new NodeMetrics();
    metrics.rpc_request('/v1/txs/{hash}', '404');
    metrics.rpc_request('/v1/txs/{hash}', '404');
    metrics.rpc_request('/v1/status', '200');
    const text = (await metrics.exposition()).body;
    expect(sample(text, 'cloister_rpc_requests_total', 'route="/v1/txs/{hash}",status="404"')).toBe(2);
    expect(sample(text, 'cloister_rpc_requests_total', 'route="/v1/status",status="200"')).toBe(1);
  });

  it('keeps each node in a registry of its own, never the global one', async () => {
    const a = new NodeMetrics();
    const b = new NodeMetrics();
    a.rpc_request('/v1/status', '200');
    const text_b = (await b.exposition()).body;
    expect(sample(text_b, 'cloister_rpc_requests_total', 'route="/v1/status",status="200"')).toBeUndefined();
    expect(global_registry.getSingleMetric('cloister_consensus_height')).toBeUndefined();
  });

  it('adds the process metrics only when asked', async () => {
    expect((await new NodeMetrics().exposition()).body).not.toContain('process_cpu_seconds_total');
    const with_process = new NodeMetrics({ process: true });
    expect((await with_process.exposition()).body).toContain('process_cpu_seconds_total');
  });

  it('NO_METRICS records nothing and serves an empty text', async () => {
    NO_METRICS.rpc_request('/v1/status', '200');
    NO_METRICS.block_committed({ time_ms: 1, codes: [0] }, 0);
    expect((await NO_METRICS.exposition()).body).toBe('');
  });
});

describe('metered_enclave', () => {
  it("times execute_block on the node's clock, failures too, and forwards every other call", async () => {
    let now = 1_000;
    const calls: string[] = [];
    const inner = {
      execute_block: async () => {
        now += 250;
        calls.push('execute_block');
        return { ok: false, error: { code: 'BUSY', message: 'queue full' } };
      },
      query: async () => {
        now += 10_000;
        calls.push('query');
        return { ok: true, value: { code: 0, output: '' } };
      },
    } as unknown as Enclave;
    const metrics = new NodeMetrics();
    const enclave = metered_enclave(inner, { now_ms: () => now }, metrics);
    await enclave.execute_block({} as Parameters<Enclave['execute_block']>[0]);
    await enclave.query({} as Parameters<Enclave['query']>[0]);
    expect(calls).toEqual(['execute_block', 'query']);
    const text = (await metrics.exposition()).body;
    expect(sample(text, 'cloister_enclave_execute_seconds_count')).toBe(1);
    expect(sample(text, 'cloister_enclave_execute_seconds_sum')).toBe(0.25);
  });
});

describe('metered_commits', () => {
  it("measures the first interval from the store's last block, then block to block", async () => {
    const metrics = new NodeMetrics();
    const seen: number[] = [];
    const block = (height: number, time_ms: number) =>
      ({ header: { height, time_ms }, txs: [] }) as unknown as Block;
    const output = (codes: number[]) =>
      ({ results: codes.map((code) => ({ code })) }) as unknown as BlockOutput;
    const on_committed = metered_commits(
      { last_block: () => ({ block: block(4, 5_000) }) } as unknown as Pick<ChainStore, 'last_block'>,
      metrics,
      (b) => seen.push(b.header.height),
    );
    on_committed(block(5, 7_000), 'h5', {} as never, output([0, 2]));
    on_committed(block(6, 7_500), 'h6', {} as never, output([]));
    expect(seen).toEqual([5, 6]);
    const text = (await metrics.exposition()).body;
    expect(sample(text, 'cloister_consensus_block_interval_seconds_count')).toBe(2);
    expect(sample(text, 'cloister_consensus_block_interval_seconds_sum')).toBe(2.5);
    expect(sample(text, 'cloister_txs_committed_total', 'code="2"')).toBe(1);
  });
});
