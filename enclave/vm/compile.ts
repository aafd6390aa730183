/**
 * The VM's entry point: contract source in, callable `Program` (or the reason it was refused) out.
 * @module
 */

import { ContractRejected, instrument_module } from './instrument.js';
import { create_program } from './program.js';
import { EngineAborted } from './quickjs_sandbox.js';
import type { CompileResult, EngineName } from './types.js';

let default_engine_name: EngineName = 'quickjs';

/** The engine `compile_contract` uses when none is named: QuickJS unless a test or benchmark chose. */
export function default_engine(): EngineName {
  return default_engine_name;
}

/**
 * Makes `engine` this process's default. For tests and benchmarks that run one suite on both
 * engines; a validator never calls it (every validator must run the same engine).
 */
export function set_default_engine(engine: EngineName): void {
  if (engine !== 'quickjs' && engine !== 'v8') throw new TypeError('engine must be quickjs or v8');
  default_engine_name = engine;
}

/**
 * Parses, checks and instruments a contract (an ES module exporting `instantiate`, `execute`,
 * `query` and/or `reply`) and loads it into its own hardened context. Deterministic: the same source
 * gives the same result on every validator. `engine` picks the contract engine (both accept the
 * same sources). Throws TypeError if `source` is not a string, and EngineAborted if this thread's
 * engine was aborted (no verdict: the caller must not treat it as a refusal).
 */
export function compile_contract(source: string, engine: EngineName = default_engine_name): CompileResult {
  if (typeof source !== 'string') throw new TypeError('contract source must be a string');
  let factory_source: string;
  try {
    factory_source = instrument_module(source).factory_source;
  } catch (error) {
    if (error instanceof ContractRejected) return { ok: false, message: error.message };
    throw error;
  }
  try {
    return { ok: true, program: create_program(factory_source, engine, source) };
  } catch (error) {
    // An aborted engine is no verdict on the source: another validator would load it.
    if (error instanceof EngineAborted) throw error;
    // The engine refused code acorn accepted: an early error acorn does not check.
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, message: `contract failed to load: ${message}` };
  }
}
