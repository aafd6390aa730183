/**
 * The enclave on the caller's thread: the same EnclaveCore a worker runs, for simulations and fast
 * tests. Tasks and answers are structured-cloned as a worker boundary would, so nothing can be
 * shared by reference and both implementations pass the same compliance suite.
 * @module
 */

import { EnclaveCore, type EnclaveModules } from './core.js';
import { plan_stages, TaskEnclave } from './host.js';
import { EnclaveErrorCode, fail, type Result } from './result.js';
import type { EnclaveOptions, EnclaveTask } from './tasks.js';

/** An enclave running in-process. */
export class InProcessEnclave extends TaskEnclave {
  #core: EnclaveCore | null;
  readonly #stage: { chunks_max: number; chunk_txs_min: number } | null;

  /**
   * `stage`, for tests of parallel execution: stage blocks in up to `chunks_max` ranges of at least
   * `chunk_txs_min` transactions, one after another on this thread, as a pool would over its workers.
   */
  constructor(
    opts: EnclaveOptions,
    modules: EnclaveModules = {},
    stage: { chunks_max: number; chunk_txs_min: number } | null = null,
  ) {
    super();
    this.#core = new EnclaveCore(structuredClone(opts), modules);
    this.#stage = stage;
  }

  protected override stage_plan(txs: number): [number, number][] | null {
    if (this.#stage === null) return null;
    return plan_stages(txs, this.#stage.chunks_max, this.#stage.chunk_txs_min);
  }

  protected run<T>(task: EnclaveTask): Promise<Result<T>> {
    if (this.#core === null) return Promise.resolve(fail(EnclaveErrorCode.CLOSED, 'enclave is closed'));
    const answer = this.#core.dispatch(structuredClone(task));
    return Promise.resolve(structuredClone(answer) as Result<T>);
  }

  async close(): Promise<void> {
    this.#core = null;
  }
}
