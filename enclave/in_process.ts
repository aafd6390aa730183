/**
 * The enclave on the caller's thread: the same EnclaveCore a worker runs, for simulations and fast
 * tests. Tasks and answers are structured-cloned as a worker boundary would, so nothing can be
 * shared by reference and both implementations pass the same compliance suite.
 * @module
 */

import { EnclaveCore, type EnclaveModules } from './core.js';
import { TaskEnclave } from './host.js';
import { EnclaveErrorCode, fail, type Result } from './result.js';
import type { EnclaveOptions, EnclaveTask } from './tasks.js';

/** An enclave running in-process. */
export class InProcessEnclave extends TaskEnclave {
  #core: EnclaveCore | null;

  constructor(opts: EnclaveOptions, modules: EnclaveModules = {}) {
    super();
    this.#core = new EnclaveCore(structuredClone(opts), modules);
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
