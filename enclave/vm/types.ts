/**
 * The interface between the enclave's block executor and the deterministic contract VM.
 * Everything that crosses it is a primitive or a plain object built on this side, so no object of
 * the contract's realm leaks out and none of ours leaks in.
 * @module
 */

/** Entry points a contract module exports. */
export type EntryPoint = 'instantiate' | 'execute' | 'query';

/** A contract event (protocol.md §4): a type and ordered string attributes. */
export interface ContractEvent {
  type: string;
  attributes: { key: string; value: string }[];
}

/**
 * Contract storage as the VM sees it: plaintext string keys and values. The enclave implements it
 * over sealed, hidden entries and buffers writes so a failed call changes nothing.
 */
export interface VmStorage {
  get(key: string): string | null;
  set(key: string, value: string): void;
  remove(key: string): void;
}

/** What one call gets. Every field is deterministic: the same on every validator. */
export interface CallEnv {
  entry: EntryPoint;
  /** The decrypted message as JSON text (the part after the code hash prefix). */
  msg_json: string;
  /** Address (40 hex) of the transaction's signer; `null` for queries. */
  sender: string | null;
  /** This contract's address (40 hex). */
  contract: string;
  chain_id: string;
  height: number;
  /** Block time in ms since the Unix epoch, agreed by consensus: never the wall clock. */
  time_ms: number;
  /** Gas this call may use. */
  gas_limit: number;
  storage: VmStorage;
  /** 32 fresh deterministic random bytes per invocation, derived inside the enclave from `random`. */
  random(): Uint8Array;
}

/** How a call ended. Never thrown: the VM catches everything the contract does. */
export type CallOutcome =
  | { kind: 'ok'; gas_used: number; data_json: string; events: ContractEvent[] }
  | { kind: 'error'; gas_used: number; message: string }
  | { kind: 'out_of_gas'; gas_used: number }
  /**
   * No result: the engine gave up for a reason that could differ between machines (the host's
   * native stack ran out inside it). The executor must not turn this into a result.
   */
  | { kind: 'aborted'; message: string };

/** The contract engines (see docs/contracts.md, "Engines"): QuickJS in WebAssembly, or `node:vm`. */
export type EngineName = 'quickjs' | 'v8';

/** A contract compiled (parsed, checked, instrumented) once and callable many times. */
export interface Program {
  /** Runs one entry point in a fresh module instance: nothing survives between calls. */
  call(env: CallEnv): CallOutcome;
}

/** Result of compiling contract source. */
export type CompileResult = { ok: true; program: Program } | { ok: false; message: string };
