/**
 * Entry point of an enclave worker thread (piscina). Builds one EnclaveCore from the pool's
 * options and answers every task with a Result; nothing is thrown back across the thread.
 * @module
 */

import { workerData } from 'piscina';
import { EnclaveCore } from './core.js';
import type { Result } from './result.js';
import type { EnclaveOptions, EnclaveTask } from './tasks.js';

const core = new EnclaveCore(workerData as EnclaveOptions);

/** Answers one task. */
export default function handle(task: EnclaveTask): Result<unknown> {
  return core.dispatch(task);
}
