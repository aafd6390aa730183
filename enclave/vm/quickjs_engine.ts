/**
 * The QuickJS contract engine: quickjs-ng compiled to WebAssembly (quickjs-emscripten), one
 * runtime and context per thread, over a fixed-size linear memory whose allocator state is
 * restored before every call (`wasm_heap.ts`).
 *
 * What it gives that `node:vm` cannot:
 * - **Deterministic memory.** The linear memory has a fixed size (`engine_memory_bytes`); a call
 *   that needs more gets QuickJS's `out of memory` at the same allocation on every validator.
 * - **Deterministic stack.** QuickJS checks its own C stack against `engine_stack_bytes`.
 * - **No host objects by construction.** Contract code lives in another heap; only primitives
 *   cross, through the five host functions the realm script receives.
 * - **The engine is measured.** Its wasm bytes are pinned by hash here and hashed into the
 *   enclave measurement, so error texts, `Math` and Unicode tables are the same on every
 *   validator whatever Node version runs it.
 *
 * The module loads the engine with top-level await: importing it is enough to use it.
 * @module
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import variant_export from '@jitl/quickjs-ng-wasmfile-release-sync';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSRuntime,
  type QuickJSSyncVariant,
} from 'quickjs-emscripten-core';
import { to_hex } from '../../protocol/bytes.js';
import { engine_memory_bytes, engine_stack_bytes } from './limits.js';
import {
  type HeapLayout,
  type HeapSnapshot,
  locate_heap,
  new_wasm_memory,
  restore_snapshot,
  take_snapshot,
  type WasmMemory,
  wasm_page_bytes,
} from './wasm_heap.js';

/** SHA-256 of the engine's wasm (quickjs-ng 0.12.1 via @jitl/quickjs-ng-wasmfile-release-sync 0.32.0). */
export const engine_wasm_sha256 = 'b56fe5094b8751c47b8c32fb5ed4d75afe2dbb43412d3d983ac5d1156af456da';

/** Path of the engine's wasm file (hashed into the enclave measurement). */
export function engine_wasm_path(): string {
  return createRequire(import.meta.url).resolve('@jitl/quickjs-ng-wasmfile-release-sync/wasm');
}

// The package's ESM entry default-exports the variant; its CommonJS typings describe the namespace.
const variant = variant_export as unknown as QuickJSSyncVariant;

interface EmscriptenInternals {
  _malloc(bytes: number): number;
  _free(pointer: number): void;
}

/** A thread's engine: its memory, runtime, context, and the state every program starts from. */
export interface Engine {
  readonly memory: WasmMemory;
  readonly layout: HeapLayout;
  readonly runtime: QuickJSRuntime;
  readonly context: QuickJSContext;
  /** Restores `snapshot` (the engine as a program's load left it). */
  restore(snapshot: HeapSnapshot): void;
  /** Saves the engine's state now. */
  snapshot(): HeapSnapshot;
  /**
   * Whether the heap ran out since the last call of this function (and clears it). Exact: the
   * allocator asks to grow the fixed memory only when nothing in it fits.
   */
  take_exhausted(): boolean;
}

type WasmImports = Record<string, Record<string, unknown>>;
interface WasmApi {
  compile(bytes: ArrayBuffer): Promise<unknown>;
  instantiate(module: unknown, imports: WasmImports): Promise<unknown>;
}

/**
 * Wraps emscripten's `emscripten_resize_heap` import (the one that grows the memory: its glue
 * calls `.grow(`) so that every attempt is seen. With a memory that is already at its maximum,
 * an attempt means an allocation failed.
 */
function watch_heap_growth(imports: WasmImports, on_attempt: () => void): void {
  const env = imports.a;
  const names = env === undefined ? [] : Object.keys(env).filter((k) => String(env[k]).includes('.grow('));
  // Exactly one import can grow the memory: anything else means the build is not the one pinned.
  if (env === undefined || names.length !== 1)
    throw new Error('contract engine: heap growth import not found');
  const grow = env[names[0]!] as (...args: unknown[]) => unknown;
  env[names[0]!] = (...args: unknown[]) => {
    on_attempt();
    return grow(...args);
  };
}

async function load_engine(): Promise<Engine> {
  const wasm = readFileSync(engine_wasm_path());
  const digest = to_hex(sha256(wasm));
  // The heap layout and every result depend on these exact bytes.
  if (digest !== engine_wasm_sha256) {
    throw new Error(`contract engine: wasm hash ${digest} is not the pinned ${engine_wasm_sha256}`);
  }
  const pages = engine_memory_bytes / wasm_page_bytes;
  // initial === maximum: the heap never grows, so where it runs out never depends on how far an
  // earlier call happened to grow it.
  const memory = new_wasm_memory(pages);
  const wasm_api = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  const compiled = await wasm_api.compile(
    wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength) as ArrayBuffer,
  );
  let exhausted = false;
  const instantiateWasm = (imports: WasmImports, done: (instance: unknown, module: unknown) => void) => {
    watch_heap_growth(imports, () => {
      exhausted = true;
    });
    void wasm_api.instantiate(compiled, imports).then((instance) => done(instance, compiled));
    return {};
  };
  const module = await newQuickJSWASMModuleFromVariant(
    newVariant(variant, { wasmMemory: memory as never, emscriptenModule: { instantiateWasm } as never }),
  );
  const internals = (module as unknown as { module: EmscriptenInternals }).module;
  if (typeof internals?._malloc !== 'function' || typeof internals._free !== 'function') {
    throw new Error('contract engine: emscripten malloc/free not found');
  }
  const layout = locate_heap(memory, internals._malloc, internals._free);
  const runtime = module.newRuntime();
  runtime.setMaxStackSize(engine_stack_bytes);
  const context = runtime.newContext();
  return {
    memory,
    layout,
    runtime,
    context,
    restore: (snapshot) => restore_snapshot(memory, snapshot),
    snapshot: () => take_snapshot(memory, layout),
    take_exhausted: () => {
      const was = exhausted;
      exhausted = false;
      return was;
    },
  };
}

/** This thread's engine. */
export const engine: Engine = await load_engine();

/** Reads a handle as a string, or null if it is not one. Never throws. */
export function handle_string(context: QuickJSContext, handle: QuickJSHandle): string | null {
  return context.typeof(handle) === 'string' ? context.getString(handle) : null;
}
