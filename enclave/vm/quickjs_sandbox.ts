/**
 * The QuickJS implementation of `Sandbox` (see `sandbox.ts` for the `node:vm` one): the same realm
 * script and instrumented factory, run in the thread's QuickJS engine.
 *
 * The realm script and its five host functions are loaded once per thread; that state is the
 * baseline. Loading a program restores the baseline, evaluates the program's factory and saves
 * the result as the program's snapshot; every call restores that snapshot first. So a call starts
 * from a state that depends only on the program: memory runs out at the same point on every
 * validator, whatever ran on the thread before, and nothing one call leaves in the heap (module
 * state, garbage, a half-built object) reaches the next.
 * @module
 */

import type { QuickJSHandle } from 'quickjs-emscripten-core';
import * as limits from './limits.js';
import { engine, handle_string } from './quickjs_engine.js';
import { realm_script_source } from './realm_script.js';
import { type HostCallbacks, type Sandbox, utf8_length } from './sandbox.js';
import type { HeapSnapshot } from './wasm_heap.js';

/**
 * Thrown by `run` when the engine stopped for a reason that is not part of the call's result
 * (the host's native stack ran out inside the engine): no validator may turn it into a result.
 */
export class EngineAborted extends Error {
  override readonly name = 'EngineAborted';
}

/** The callbacks of the program whose call is running; the host functions dispatch to them. */
let current: HostCallbacks | null = null;
/** Set once the engine was left mid-call by a host exception: its C stack pointer is lost. */
let poisoned = false;

interface Baseline {
  snapshot: HeapSnapshot;
  install: QuickJSHandle;
  run: QuickJSHandle;
}

function load_baseline(): Baseline {
  const c = engine.context;
  const host_get = c.newFunction('host_get', (key) => {
    const value = current?.storage_get(c.getString(key));
    if (value === null) return c.null;
    return value === undefined ? c.undefined : c.newString(value);
  });
  const host_set = c.newFunction('host_set', (key, value) =>
    current?.storage_set(c.getString(key), c.getString(value)) === true ? c.true : c.false,
  );
  const host_remove = c.newFunction('host_remove', (key) =>
    current?.storage_remove(c.getString(key)) === true ? c.true : c.false,
  );
  const host_random = c.newFunction('host_random', () => {
    const hex = current?.random_hex();
    return hex === undefined ? c.undefined : c.newString(hex);
  });
  const host_utf8 = c.newFunction('host_utf8', (text) => c.newNumber(utf8_length(c.getString(text))));
  const cfg = c.unwrapResult(c.evalCode(`(${JSON.stringify(limits.realm_config)})`, 'cloister-cfg.js'));
  const init = c.unwrapResult(c.evalCode(realm_script_source, 'cloister-realm.js'));
  const bridge = c.unwrapResult(
    c.callFunction(init, c.undefined, host_get, host_set, host_remove, host_random, host_utf8, cfg),
  );
  const install = c.getProp(bridge, 'install');
  const run = c.getProp(bridge, 'run');
  return { snapshot: engine.snapshot(), install, run };
}

let baseline: Baseline | null = null;

/** The answer of a call that ran out of engine memory or stack outside contract code. */
function exhausted_answer(gas_limit: number): string {
  return JSON.stringify(['out_of_gas', gas_limit, '', [], [], [], -1]);
}

/**
 * Loads `factory_source` (from `instrument_module`) into the thread's QuickJS engine.
 * Throws SyntaxError if the engine rejects it.
 */
export function create_quickjs_sandbox(factory_source: string, callbacks: HostCallbacks): Sandbox {
  if (typeof factory_source !== 'string') throw new TypeError('factory_source must be a string');
  if (poisoned) throw new EngineAborted('the contract engine was aborted earlier on this thread');
  baseline ??= load_baseline();
  const c = engine.context;
  engine.restore(baseline.snapshot);
  const loaded = c.evalCode(factory_source, 'contract.js');
  if (loaded.error) {
    const error = c.dump(loaded.error) as { message?: unknown } | null;
    const message = typeof error?.message === 'string' ? error.message : 'the engine refused the contract';
    throw new SyntaxError(message);
  }
  const installed = c.callFunction(baseline.install, c.undefined, loaded.value);
  if (installed.error) throw new SyntaxError('the engine could not install the contract');
  const snapshot = engine.snapshot();
  const run = baseline.run;
  return {
    run(entry, msg_json, gas_limit, msg_bytes, sender, contract, chain_id, height, time_ms, funds, balance) {
      if (poisoned) throw new EngineAborted('the contract engine was aborted earlier on this thread');
      engine.restore(snapshot);
      engine.take_exhausted();
      current = callbacks;
      try {
        const args = [
          c.newString(entry),
          c.newString(msg_json),
          c.newNumber(gas_limit),
          c.newNumber(msg_bytes),
          sender === null ? c.null : c.newString(sender),
          c.newString(contract),
          c.newString(chain_id),
          c.newNumber(height),
          c.newNumber(time_ms),
          c.newNumber(funds),
          c.newNumber(balance),
        ];
        const result = c.callFunction(run, c.undefined, ...args);
        // The heap ran out somewhere in the call (the engine may then throw null, or a contract
        // may catch the error): the call ends out of memory, code 2, at the same allocation on
        // every validator.
        if (engine.take_exhausted()) return exhausted_answer(gas_limit);
        // The realm's own bookkeeping ran out of stack: deterministic, like out of gas.
        if (result.error) return exhausted_answer(gas_limit);
        return handle_string(c, result.value) ?? exhausted_answer(gas_limit);
      } catch (error) {
        // A host exception unwound the engine mid-call (the native stack ran out inside wasm):
        // where that happens depends on the machine, so it is no result, and the engine's C stack
        // pointer is lost with it.
        poisoned = true;
        throw new EngineAborted(
          `the contract engine was aborted: ${(error as Error)?.message ?? String(error)}`,
        );
      } finally {
        current = null;
        // Nothing of this call stays in the heap (handles included): the next call restores first.
      }
    },
  };
}

/** True once an abort left this thread's engine unusable (the enclave worker should be replaced). */
export function engine_poisoned(): boolean {
  return poisoned;
}
