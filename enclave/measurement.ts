/**
 * SIMULATION of SGX's MRENCLAVE: the enclave's measurement is a hash of the enclave's own code,
 * here the TypeScript sources of `enclave/` and `protocol/` (what an auditor reads and what the
 * compiled workers are built from) and the contract engine's WebAssembly. Sealing keys and attestation quotes are bound to it, so a
 * changed enclave cannot unseal a seed and is not on the genesis allow-list. It is not security:
 * a real CPU measures the loaded pages itself, here the enclave reads files from disk.
 * @module
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { concat, u32_be, utf8 } from '../protocol/bytes.js';
import type { CryptoProvider } from '../protocol/provider.js';

/** Folders, relative to the code root, whose sources make up the measured enclave. */
export const MEASURED_DIRS: readonly string[] = ['enclave', 'protocol'];
/**
 * Single files outside those folders that the enclave runs: the contract engine's WebAssembly, so
 * that two validators whose engines differ (and so could differ in a result) also differ in
 * measurement. `enclave/vm/quickjs_engine.ts` also pins its hash. No TypeScript source lies outside
 * {@link MEASURED_DIRS}: the enclave imports only `enclave/` and `protocol/` (test/layering.test.ts).
 */
export const MEASURED_FILES: readonly string[] = [
  'node_modules/@jitl/quickjs-ng-wasmfile-release-sync/dist/emscripten-module.wasm',
];
const MEASUREMENT_DOMAIN = 'cloister/measurement/v1\n';
/** Upper bound on measured files: a sanity limit, far above what the project holds. */
const MEASURED_FILES_MAX = 4096;

/** The checkout's root: the nearest folder above this module that holds `package.json`. */
export function find_code_root(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    try {
      if (statSync(join(dir, 'package.json')).isFile() && statSync(join(dir, 'enclave')).isDirectory())
        return dir;
    } catch {
      // Not here; keep walking up.
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the cloister code root above ${from}`);
    dir = parent;
  }
}

function list_sources(root: string, dir: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) list_sources(root, path, out);
    else if (entry.isFile() && entry.name.endsWith('.ts'))
      out.push(relative(root, path).split(sep).join('/'));
    if (out.length > MEASURED_FILES_MAX) throw new RangeError('too many files to measure');
  }
}

/**
 * `H("cloister/measurement/v1\n" ‖ for each source file, sorted by path:
 *    utf8(path) ‖ 0x00 ‖ u32_be(size) ‖ bytes)`.
 */
export function compute_measurement(p: CryptoProvider, code_root: string): Uint8Array {
  const files: string[] = [];
  for (const dir of MEASURED_DIRS) list_sources(code_root, join(code_root, dir), files);
  files.push(...MEASURED_FILES);
  files.sort();
  const parts: Uint8Array[] = [utf8(MEASUREMENT_DOMAIN)];
  for (const file of files) {
    const bytes = readFileSync(join(code_root, file));
    parts.push(utf8(file), new Uint8Array([0]), u32_be(bytes.length), bytes);
  }
  return p.sha256(concat(...parts));
}
