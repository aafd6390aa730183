/**
 * The QuickJS engine's WebAssembly memory, made deterministic: one fixed-size linear memory per
 * thread, and a snapshot of the allocator-visible part of it that is put back before every call.
 *
 * Why: QuickJS's own memory accounting undercounts in this build (`malloc_usable_size` is
 * unavailable, so a block counts 8 bytes whatever its size), so the only reliable memory bound is
 * the end of the linear memory itself. Where a call hits that end depends on the allocator's
 * state when the call starts (free lists, fragmentation). Restoring the same state before every
 * call makes the bound a function of the call alone: the same on every validator, whatever calls
 * a worker ran before.
 *
 * Layout of the emscripten build (pinned by the wasm's hash in `quickjs_engine.ts`): static data
 * and BSS at the bottom (`[0, data_end)`, holding the allocator's state and the `sbrk` break), a
 * 5 MiB C stack above it, then the heap from `heap_base` up to the break. Only the data and the
 * heap are saved; the stack holds no live frames between calls. Memory above the break is left as
 * it is: the allocator never reads it before writing (`calloc` clears what it hands out).
 * @module
 */

/** The part of `WasmMemory` used here (the project's TypeScript libs do not declare it). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

/** A linear memory of exactly `pages` pages that can never grow. */
export function new_wasm_memory(pages: number): WasmMemory {
  const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: object) => WasmMemory } })
    .WebAssembly;
  return new wasm.Memory({ initial: pages, maximum: pages });
}

/** One WebAssembly page. */
export const wasm_page_bytes = 65_536;

/** The C stack's size in this build (emscripten's STACK_SIZE, checked at start-up). */
export const c_stack_bytes = 5 * 1024 * 1024;

/** Where the allocator's state lives, found once per thread by `locate_heap`. */
export interface HeapLayout {
  /** End of static data and BSS; start of the C stack. */
  data_end: number;
  /** Start of the heap (the C stack's top). */
  heap_base: number;
  /** Address of the 32-bit `sbrk` break. */
  brk_address: number;
}

/** A saved state: static data and the heap up to the break. */
export interface HeapSnapshot {
  readonly data: Uint8Array;
  readonly heap_from: number;
  readonly heap: Uint8Array;
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`wasm heap: ${message}`);
}

/**
 * Finds the `sbrk` break by watching which words of static data move when the allocator takes
 * `probe_bytes` more: two do, the allocator's top pointer (by the chunk's size) and the break
 * itself (by the page-aligned growth). The break is the higher of the two; the top's value before
 * the probe, on a heap with nothing allocated yet, is where the heap starts.
 */
export function locate_heap(
  memory: WasmMemory,
  malloc: (bytes: number) => number,
  free: (pointer: number) => void,
): HeapLayout {
  const probe_bytes = 8 * 1024 * 1024;
  const window_bytes = 1024 * 1024;
  // Everything below where the heap can have reached yet, to undo the probe afterwards.
  const untouched_bytes = 16 * 1024 * 1024;
  const whole_before = new Uint8Array(memory.buffer.slice(0, untouched_bytes));
  const before = new Uint32Array(memory.buffer.slice(0, window_bytes));
  const pointer = malloc(probe_bytes);
  assert(pointer !== 0, 'the probe allocation failed');
  const after = new Uint32Array(memory.buffer.slice(0, window_bytes));
  free(pointer);
  const moved: { address: number; from: number; to: number }[] = [];
  for (let i = 0; i < before.length; i++) {
    const from = before[i]!;
    const to = after[i]!;
    const grew = to - from;
    // Addresses (not sizes) that now cover the probe.
    if (from >= window_bytes && grew > probe_bytes - window_bytes && grew < probe_bytes + window_bytes) {
      if (to >= pointer + probe_bytes) moved.push({ address: i * 4, from, to });
    }
  }
  // Exactly the top pointer and the break: anything else means the build is not the one pinned.
  assert(moved.length === 2, `expected the top pointer and the break to move, found ${moved.length} words`);
  moved.sort((a, b) => a.to - b.to);
  const top = moved[0]!;
  const brk = moved[1]!;
  const heap_base = top.from;
  const data_end = heap_base - c_stack_bytes;
  assert(brk.from >= top.from && brk.to % 4096 === 0, `unexpected break ${brk.from} -> ${brk.to}`);
  assert(brk.address < data_end && top.address < data_end, 'the break is not in static data');
  assert(data_end > 0 && heap_base % 8 === 0, `unexpected heap base ${heap_base}`);
  // Undo the probe: the allocator never gives the grown heap back, and every snapshot (and so
  // every call's restore) copies the heap up to the break.
  assert(brk.from < untouched_bytes, `the heap had already grown to ${brk.from}`);
  new Uint8Array(memory.buffer).set(whole_before.subarray(0, brk.from));
  const layout = { data_end, heap_base, brk_address: brk.address };
  assert(heap_break(memory, layout) === brk.from, 'the probe was not undone');
  return layout;
}

/** The current break: the end of the allocator's heap. */
export function heap_break(memory: WasmMemory, layout: HeapLayout): number {
  return new Uint32Array(memory.buffer, layout.brk_address, 1)[0]!;
}

/** Copies what `restore` needs to put the allocator back exactly as it is now. */
export function take_snapshot(memory: WasmMemory, layout: HeapLayout): HeapSnapshot {
  const brk = heap_break(memory, layout);
  assert(brk >= layout.heap_base && brk <= memory.buffer.byteLength, 'break out of range');
  const bytes = new Uint8Array(memory.buffer);
  // The C stack is not saved: between calls no engine frame is live on it.
  const heap_from = layout.heap_base;
  return { data: bytes.slice(0, layout.data_end), heap_from, heap: bytes.slice(heap_from, brk) };
}

/** Puts a snapshot back: afterwards the allocator and the engine are as they were when it was taken. */
export function restore_snapshot(memory: WasmMemory, snapshot: HeapSnapshot): void {
  const bytes = new Uint8Array(memory.buffer);
  bytes.set(snapshot.data, 0);
  bytes.set(snapshot.heap, snapshot.heap_from);
}
