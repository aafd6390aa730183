/**
 * Result unions for the host/enclave boundary. Nothing is thrown across it: every call answers
 * `{ ok: true, value }` or `{ ok: false, error }` with a coded, structured-clone-safe error, so a
 * worker thread and the in-process enclave behave identically.
 * @module
 */

/** Why an enclave call failed. Codes are stable; messages never carry secrets or plaintext. */
export const EnclaveErrorCode = {
  /** The call or its input does not have the shape the call set defines. */
  BAD_INPUT: 'BAD_INPUT',
  /** An input is over a limit (block size, state size, …). */
  LIMIT: 'LIMIT',
  /** The enclave holds no seed yet: create or load one first. */
  NO_SEED: 'NO_SEED',
  /** A seed already exists (create_seed twice). */
  SEED_EXISTS: 'SEED_EXISTS',
  /** A sealed blob does not open under this node's platform secret and enclave measurement. */
  UNSEAL_FAILED: 'UNSEAL_FAILED',
  /** Sealed contract state handed in by the host does not authenticate. */
  STATE_CORRUPT: 'STATE_CORRUPT',
  /** A seed share or registration key does not open or does not match the network. */
  BAD_SEED_SHARE: 'BAD_SEED_SHARE',
  /** The worker thread died during the call (killed, crashed, out of memory). */
  WORKER_DIED: 'WORKER_DIED',
  /** The call took longer than the host's deadline; the worker running it was stopped. */
  TIMEOUT: 'TIMEOUT',
  /**
   * The contract engine gave up on a call for a reason that could differ between machines (the
   * native stack ran out inside it): no result, like TIMEOUT and WORKER_DIED.
   */
  ABORTED: 'ABORTED',
  /** The enclave was closed. */
  CLOSED: 'CLOSED',
  /** The call queue is full. */
  BUSY: 'BUSY',
  /** An invariant broke inside the enclave: a bug. */
  INTERNAL: 'INTERNAL',
} as const;

export type EnclaveErrorCode = (typeof EnclaveErrorCode)[keyof typeof EnclaveErrorCode];

/** A coded, serializable error. */
export interface EnclaveError {
  code: EnclaveErrorCode;
  message: string;
}

/** What every enclave call returns. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: EnclaveError };

/** Builds a success result. */
export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

/** Builds a failure result. */
export function fail<T = never>(code: EnclaveErrorCode, message: string): Result<T> {
  return { ok: false, error: { code, message } };
}

/**
 * Thrown inside the enclave to abandon a whole call with a coded error; converted to a failed
 * Result at the boundary and never crosses it.
 */
export class EnclaveFault extends Error {
  readonly code: EnclaveErrorCode;
  constructor(code: EnclaveErrorCode, message: string) {
    super(message);
    this.name = 'EnclaveFault';
    this.code = code;
  }
}

/** Unwraps a result or throws an Error carrying the code: for host code that treats failure as fatal. */
export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  const error = new Error(`enclave ${result.error.code}: ${result.error.message}`) as Error & {
    code: string;
  };
  error.code = result.error.code;
  throw error;
}
