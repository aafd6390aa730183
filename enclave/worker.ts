/**
 * Entry point of an enclave worker thread (piscina). Builds one EnclaveCore from the pool's
 * options and answers every task with a Result; nothing is thrown back across the thread.
 * @module
 */

import { workerData } from 'piscina';
import { EnclaveCore } from './core.js';
import type { Result } from './result.js';
import type { EnclaveOptions, EnclaveTask } from './tasks.js';
import { engine_poisoned } from './vm/quickjs_sandbox.js';

const core = new EnclaveCore(workerData as EnclaveOptions);

/** Answers one task. */
export default function handle(task: EnclaveTask): Result<unknown> {
  const result = core.dispatch(task);
  // A contract engine left unusable by an aborted call (ABORTED, no result) cannot serve the
  // next one: end this thread once the answer is out, and the pool starts a fresh worker.
  if (engine_poisoned()) setImmediate(() => process.exit(70));
  return result;
}
