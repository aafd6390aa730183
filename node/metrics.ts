/**
 * A node's metrics, served by its RPC as `GET /metrics` in the Prometheus text format, with names
 * in the style of CometBFT's (`cloister_consensus_height`, …). A seam like the others of
 * ./modules.ts: `node/node.ts` passes a {@link NodeMetrics} (a prom-client `Registry` of its own,
 * never prom-client's global one, since a process may hold many nodes), the simulator passes
 * nothing and gets {@link NO_METRICS}. Durations come from the node's clock, never the wall clock.
 * docs/protocol-notes.md "RPC details" lists the metrics.
 * @module
 */

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { BlockInput, BlockOutput, Enclave } from '../enclave/api.js';
import type { Block } from './consensus/types.js';
import type { Clock } from './modules.js';
import type { ChainStore } from './store/chain_store.js';

/** The state a node's gauges read when scraped. */
export interface MetricsSources {
  /** The last committed height. */
  height(): number;
  /** The consensus round of the height being decided. */
  round(): number;
  /** Transactions in the mempool. */
  mempool_size(): number;
  /** Peers connected now. */
  peers(): number;
}

/** One answer of `GET /metrics`: its content type and the exposition text. */
export interface MetricsExposition {
  content_type: string;
  body: string;
}

/** What a node reports to its metrics; every method is cheap and never throws on a valid call. */
export interface Metrics {
  /** Sets where the gauges read the node's state from (the last call wins). */
  watch(sources: MetricsSources): void;
  /**
   * A block committed: its result codes count into `cloister_txs_committed_total`, and the time
   * since the previous block's header (when known) into `cloister_consensus_block_interval_seconds`.
   */
  block_committed(
    block: { time_ms: number; codes: readonly number[] },
    previous_time_ms: number | null,
  ): void;
  /** One `execute_block` call of the enclave took `seconds`. */
  enclave_executed(seconds: number): void;
  /** The RPC answered a request of `route` (a template, e.g. `/v1/txs/{hash}`) with `status`. */
  rpc_request(route: string, status: string): void;
  /** The exposition text, for `GET /metrics`. */
  exposition(): Promise<MetricsExposition>;
}

/** Upper bounds of the enclave execution histogram, in seconds. */
export const ENCLAVE_EXECUTE_BUCKETS_SECONDS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Upper bounds of the block interval histogram, in seconds. */
export const BLOCK_INTERVAL_BUCKETS_SECONDS: readonly number[] = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120];

/** Metrics that record nothing: the simulator's and tests' default. */
export const NO_METRICS: Metrics = Object.freeze({
  watch: () => {},
  block_committed: () => {},
  enclave_executed: () => {},
  rpc_request: () => {},
  exposition: async () => ({ content_type: 'text/plain; version=0.0.4; charset=utf-8', body: '' }),
});

/** A node's metrics in a prom-client registry of their own. */
export class NodeMetrics implements Metrics {
  /** The registry of this node alone. */
  readonly registry = new Registry();
  #sources: MetricsSources | null = null;
  readonly #txs: Counter<'code'>;
  readonly #interval: Histogram;
  readonly #execute: Histogram;
  readonly #rpc: Counter<'route' | 'status'>;

  /** @param opts.process also the Node.js process metrics (CPU, memory, event loop): real-world nodes only. */
  constructor(opts: { process?: boolean } = {}) {
    const registers = [this.registry];
    this.#gauges();
    this.#txs = new Counter({
      name: 'cloister_txs_committed_total',
      help: 'Transactions committed, by result code (protocol.md §5).',
      labelNames: ['code'],
      registers,
    });
    this.#interval = new Histogram({
      name: 'cloister_consensus_block_interval_seconds',
      help: 'Time between this block and the previous one, by their header times.',
      buckets: [...BLOCK_INTERVAL_BUCKETS_SECONDS],
      registers,
    });
    this.#execute = new Histogram({
      name: 'cloister_enclave_execute_seconds',
      help: 'Time of one execute_block call of the enclave, on the node clock.',
      buckets: [...ENCLAVE_EXECUTE_BUCKETS_SECONDS],
      registers,
    });
    this.#rpc = new Counter({
      name: 'cloister_rpc_requests_total',
      help: 'RPC requests, by route template and HTTP status ("none": no answer was sent).',
      labelNames: ['route', 'status'],
      registers,
    });
    if (opts.process === true)
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
  }

  /** The gauges, read from the sources at each scrape. */
  #gauges(): void {
    const current = () => this.#sources;
    const gauge = (name: string, help: string, read: (s: MetricsSources) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect(this: Gauge) {
          const sources = current();
          if (sources !== null) this.set(read(sources));
        },
      });
    gauge('cloister_consensus_height', 'Last committed height.', (s) => s.height());
    gauge('cloister_consensus_rounds', 'Consensus round of the height being decided.', (s) => s.round());
    gauge('cloister_mempool_size', 'Transactions in the mempool.', (s) => s.mempool_size());
    gauge('cloister_p2p_peers', 'Peers connected.', (s) => s.peers());
  }

  watch(sources: MetricsSources): void {
    this.#sources = sources;
  }

  block_committed(
    block: { time_ms: number; codes: readonly number[] },
    previous_time_ms: number | null,
  ): void {
    for (const code of block.codes) this.#txs.inc({ code: String(code) });
    if (previous_time_ms !== null)
      this.#interval.observe(Math.max(0, block.time_ms - previous_time_ms) / 1000);
  }

  enclave_executed(seconds: number): void {
    this.#execute.observe(Math.max(0, seconds));
  }

  rpc_request(route: string, status: string): void {
    this.#rpc.inc({ route, status });
  }

  async exposition(): Promise<MetricsExposition> {
    return { content_type: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * `enclave` whose `execute_block` calls are timed on `clock` into `metrics`. A plain decorator:
 * each call runs with `enclave` itself as `this` (a class with private fields refuses any other).
 */
export function metered_enclave(enclave: Enclave, clock: Pick<Clock, 'now_ms'>, metrics: Metrics): Enclave {
  return {
    measurement: () => enclave.measurement(),
    create_seed: () => enclave.create_seed(),
    load_seed: (sealed_seed) => enclave.load_seed(sealed_seed),
    public_keys: () => enclave.public_keys(),
    attestation_report: () => enclave.attestation_report(),
    accept_seed_share: (args) => enclave.accept_seed_share(args),
    check_registration: (args) => enclave.check_registration(args),
    light_init: (args) => enclave.light_init(args),
    query: (input) => enclave.query(input),
    close: () => enclave.close(),
    execute_block: async (input) => {
      const start_ms = clock.now_ms();
      try {
        return await enclave.execute_block(input);
      } finally {
        metrics.enclave_executed((clock.now_ms() - start_ms) / 1000);
      }
    },
  };
}

/** What a node does after each durable commit (`ValidatorApp`'s `on_committed`). */
export type OnCommitted = (block: Block, hash: string, input: BlockInput, output: BlockOutput) => void;

/**
 * `on_committed` that first reports the block to `metrics`: its result codes, and its interval
 * from the previous block's header time (at first, the store's last block when this is called).
 */
export function metered_commits(
  store: Pick<ChainStore, 'last_block'>,
  metrics: Metrics,
  on_committed: OnCommitted,
): OnCommitted {
  let previous_ms = store.last_block()?.block.header.time_ms ?? null;
  return (block, hash, input, output) => {
    const time_ms = block.header.time_ms;
    metrics.block_committed({ time_ms, codes: output.results.map((r) => r.code) }, previous_ms);
    previous_ms = time_ms;
    on_committed(block, hash, input, output);
  };
}
