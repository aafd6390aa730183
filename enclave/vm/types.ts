/**
 * The interface between the enclave's block executor and the deterministic contract VM.
 * Everything that crosses it is a primitive or a plain object built on this side, so no object of
 * the contract's realm leaks out and none of ours leaks in.
 * @module
 */

/**
 * Entry points a contract module exports. `reply` runs when a message the contract sent with
 * `reply: true` finished (protocol.md §9); its msg is `{"ok": {"data", "events"}}` or
 * `{"error": message}`.
 */
export type EntryPoint = 'instantiate' | 'execute' | 'query' | 'reply';

/**
 * A contract event (protocol.md §4, §9): a type and ordered string attributes; `public: true`
 * (present only when true) lists it in plaintext beside the transaction.
 */
export interface ContractEvent {
  type: string;
  attributes: { key: string; value: string }[];
  public?: true;
}

/**
 * A message a call asks the enclave to run after it (protocol.md §9), in the order the contract
 * made them: `ctx.send(to, amount)` and `ctx.execute(contract, msg, { funds, reply })`.
 */
export type ContractMessage =
  | { kind: 'send'; to: string; amount: number }
  | { kind: 'execute'; contract: string; msg_json: string; funds: number; reply: boolean };

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
  /** ucst this call received with it (protocol.md §9 `funds`), already in the contract's balance. */
  funds: number;
  /** The contract's balance in ucst when the call starts, `funds` included. */
  balance: number;
  storage: VmStorage;
  /** 32 fresh deterministic random bytes per invocation, derived inside the enclave from `random`. */
  random(): Uint8Array;
}

/** How a call ended. Never thrown: the VM catches everything the contract does. */
export type CallOutcome =
  | {
      kind: 'ok';
      gas_used: number;
      data_json: string;
      events: ContractEvent[];
      messages: ContractMessage[];
      debug: string[];
    }
  /** `message` ends with ` (at line L, column C)` when the contract's source position is known. */
  | { kind: 'error'; gas_used: number; message: string; debug: string[] }
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
