/**
 * One hardened `node:vm` context per compiled program, with the realm script installed and the
 * contract's factory loaded into it.
 *
 * Creating a context costs milliseconds, so it is made once per program and reused; every call
 * still gets a fresh module instance because the realm script calls the factory anew. Only
 * primitives cross between this realm and the context; the host callbacks given to the realm
 * script stay in its closure.
 * @module
 */

import vm from 'node:vm';
import { is_well_formed } from '../../protocol/jcs.js';
import * as limits from './limits.js';
import { realm_script_source } from './realm_script.js';

/** Host side of storage and randomness for the call in progress (program.ts points them at its env). */
export interface HostCallbacks {
  /** The value, `null` if absent, or `undefined` if the host failed. Never throws. */
  storage_get(key: string): string | null | undefined;
  /** `true` when done, `false` if the host failed. Never throws. */
  storage_set(key: string, value: string): boolean;
  /** `true` when done, `false` if the host failed. Never throws. */
  storage_remove(key: string): boolean;
  /** 64 lowercase hex characters, or `undefined` if the host failed. Never throws. */
  random_hex(): string | undefined;
}

/**
 * UTF-8 length of `s`, or -1 if it has a lone surrogate: what the realm script's own loop
 * computes for short strings, measured natively for long ones. Pure, the same on every validator.
 */
export function utf8_length(s: string): number {
  if (typeof s !== 'string' || !is_well_formed(s)) return -1;
  return Buffer.byteLength(s, 'utf8');
}

/** The realm script's call driver, as seen from the host. */
export interface Sandbox {
  /**
   * Runs one call; returns the realm script's JSON result text. Throws only if the host stack is
   * exhausted before the context is entered.
   */
  run(
    entry: string,
    msg_json: string,
    gas_limit: number,
    msg_bytes: number,
    sender: string | null,
    contract: string,
    chain_id: string,
    height: number,
    time_ms: number,
    funds: number,
    balance: number,
  ): string;
}

type RealmScript = (
  host_get: HostCallbacks['storage_get'],
  host_set: HostCallbacks['storage_set'],
  host_remove: HostCallbacks['storage_remove'],
  host_random: HostCallbacks['random_hex'],
  host_utf8: (s: string) => number,
  cfg: Readonly<Record<string, number>>,
) => { install(outer: unknown): void; run: Sandbox['run'] };

// Compiled once per process: the same script text runs in every context.
let realm_script: vm.Script | null = null;

/**
 * Creates the context for one program and loads `factory_source` (from `instrument_module`).
 * Throws SyntaxError if the engine rejects the factory source.
 */
export function create_sandbox(factory_source: string, callbacks: HostCallbacks): Sandbox {
  if (typeof factory_source !== 'string') throw new TypeError('factory_source must be a string');
  // A null-prototype sandbox: global lookups that miss the context's own globals fall through
  // to the sandbox object's prototype chain, which must not be the host's Object.prototype.
  const context = vm.createContext(Object.create(null), {
    name: 'cloister-contract',
    codeGeneration: { strings: false, wasm: false },
  });
  realm_script ??= new vm.Script(realm_script_source, { filename: 'cloister-realm.js' });
  const init = realm_script.runInContext(context) as RealmScript;
  const bridge = init(
    callbacks.storage_get,
    callbacks.storage_set,
    callbacks.storage_remove,
    callbacks.random_hex,
    utf8_length,
    limits.realm_config,
  );
  const outer = new vm.Script(factory_source, { filename: 'contract.js' }).runInContext(context);
  bridge.install(outer);
  return { run: bridge.run };
}
