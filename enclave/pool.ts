/**
 * The enclave as a pool of worker threads (piscina). Each worker holds its own copy of the enclave
 * state; the host sends the sealed seed with each call, so a worker killed mid-call is replaced and
 * the next call works on the new one. Every call has a deadline and the queue has a depth limit.
 * @module
 */

import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { plan_stages, TaskEnclave } from './host.js';
import { find_code_root } from './measurement.js';
import { EnclaveErrorCode, fail, type Result } from './result.js';
import type { EnclaveOptions, EnclaveTask } from './tasks.js';

/** How the pool runs. */
export interface PoolOptions extends EnclaveOptions {
  /** Worker threads; defaults to the number of cores. */
  workers?: number;
  /** Calls waiting for a worker before new ones are refused with BUSY. */
  queue_depth_max?: number;
  /** Deadline of one call, after which the worker running it is stopped and the call answers TIMEOUT. */
  call_timeout_ms?: number;
  /** Heap limit of each worker; a worker over it dies and the call answers WORKER_DIED. */
  worker_heap_mb_max?: number;
  /**
   * Stage a block's transactions over all workers before one executes it (enclave/speculate.ts).
   * Default true; off, every block runs on one worker as it did before issue #16.
   */
  stage?: boolean;
  /** Fewest transactions per staged range (default {@link POOL_DEFAULTS}.stage_chunk_txs_min). */
  stage_chunk_txs_min?: number;
}

export const POOL_DEFAULTS = Object.freeze({
  queue_depth_max: 1024,
  call_timeout_ms: 60_000,
  worker_heap_mb_max: 512,
  worker_stack_mb: 4,
  workers_max: 64,
  /** Fewest transactions per staged range: below it, the hops cost more than the work they spread. */
  stage_chunk_txs_min: 8,
});

/** The compiled worker file: next to this module when compiled, else in dist/ (tests run sources). */
export function resolve_worker_file(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, 'worker.js');
  if (existsSync(beside)) return beside;
  const built = join(find_code_root(here), 'dist', 'enclave', 'worker.js');
  if (existsSync(built)) return built;
  throw new Error('enclave worker not built: run `npm run build` first');
}

/** An enclave served by a pool of worker threads. */
export class PoolEnclave extends TaskEnclave {
  readonly #pool: Piscina;
  readonly #call_timeout_ms: number;
  readonly #workers: number;
  readonly #stage: boolean;
  readonly #stage_chunk_txs_min: number;
  #closed = false;

  constructor(opts: PoolOptions) {
    super();
    const workers = opts.workers ?? cpus().length;
    if (!Number.isInteger(workers) || workers < 1 || workers > POOL_DEFAULTS.workers_max) {
      throw new RangeError(`workers must be 1..${POOL_DEFAULTS.workers_max}`);
    }
    this.#workers = workers;
    this.#stage = opts.stage ?? true;
    this.#stage_chunk_txs_min = opts.stage_chunk_txs_min ?? POOL_DEFAULTS.stage_chunk_txs_min;
    if (!Number.isSafeInteger(this.#stage_chunk_txs_min) || this.#stage_chunk_txs_min < 1)
      throw new RangeError('stage_chunk_txs_min must be a positive integer');
    const call_timeout_ms = opts.call_timeout_ms ?? POOL_DEFAULTS.call_timeout_ms;
    if (!Number.isInteger(call_timeout_ms) || call_timeout_ms < 1)
      throw new RangeError('call_timeout_ms must be positive');
    this.#call_timeout_ms = call_timeout_ms;
    const enclave_opts: EnclaveOptions = {
      provider: opts.provider,
      platform_secret_file: opts.platform_secret_file,
    };
    if (opts.code_root !== undefined) enclave_opts.code_root = opts.code_root;
    if (opts.vm_engine !== undefined) enclave_opts.vm_engine = opts.vm_engine;
    this.#pool = new Piscina({
      filename: pathToFileURL(resolve_worker_file()).href,
      minThreads: workers,
      maxThreads: workers,
      maxQueue: opts.queue_depth_max ?? POOL_DEFAULTS.queue_depth_max,
      idleTimeout: 2 ** 31 - 1,
      workerData: enclave_opts,
      resourceLimits: {
        maxOldGenerationSizeMb: opts.worker_heap_mb_max ?? POOL_DEFAULTS.worker_heap_mb_max,
        // The VM's call-depth budget (vm/limits.ts) is sized to stay far inside a 4 MiB stack; pin
        // it rather than rely on the default, so every validator's workers have the same stack.
        stackSizeMb: POOL_DEFAULTS.worker_stack_mb,
      },
    });
    // A worker that dies is replaced by piscina; the pool itself must never crash the host.
    this.#pool.on('error', () => {});
  }

  /** Number of worker threads alive now. */
  get threads(): number {
    return this.#pool.threads.length;
  }

  /** Calls waiting for a worker. */
  get queue_size(): number {
    return this.#pool.queueSize;
  }

  /**
   * Perturbation for simulations and tests: terminates every worker thread now, as a crash would.
   * Calls in flight answer WORKER_DIED; the pool starts new workers for later calls.
   */
  async kill_workers(): Promise<void> {
    await Promise.all(this.#pool.threads.map((thread) => thread.terminate()));
  }

  protected override stage_plan(txs: number): [number, number][] | null {
    if (!this.#stage) return null;
    return plan_stages(txs, this.#workers, this.#stage_chunk_txs_min);
  }

  protected async run<T>(task: EnclaveTask): Promise<Result<T>> {
    if (this.#closed) return fail(EnclaveErrorCode.CLOSED, 'enclave is closed');
    const signal = AbortSignal.timeout(this.#call_timeout_ms);
    try {
      return (await this.#pool.run(task, { signal })) as Result<T>;
    } catch (error) {
      if (this.#closed) return fail(EnclaveErrorCode.CLOSED, 'enclave is closed');
      if (signal.aborted)
        return fail(
          EnclaveErrorCode.TIMEOUT,
          `enclave call ${task.call} took over ${this.#call_timeout_ms} ms`,
        );
      const message = error instanceof Error ? error.message : String(error);
      if (message.includes('queue is at limit'))
        return fail(EnclaveErrorCode.BUSY, 'enclave call queue is full');
      return fail(EnclaveErrorCode.WORKER_DIED, `enclave worker died during ${task.call}`);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.destroy();
  }
}
