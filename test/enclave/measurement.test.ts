/**
 * The enclave measurement covers the contract engine: two validators whose QuickJS builds differ
 * (and so could differ in a result) differ in measurement, so one of them cannot join or unseal.
 * It covers exactly the enclave's own code: every source the enclave imports lies in a measured
 * folder, and no host source is measured.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import {
  compute_measurement,
  find_code_root,
  MEASURED_DIRS,
  MEASURED_FILES,
} from '../../enclave/measurement.js';
import { engine_wasm_path, engine_wasm_sha256 } from '../../enclave/vm/quickjs_engine.js';
import { to_hex } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';

const p = get_provider('native');

describe('the measurement covers the contract engine', () => {
  const root = find_code_root();
  const copy = mkdtempSync(join(tmpdir(), 'cloister-measure-'));
  afterAll(() => rmSync(copy, { recursive: true, force: true }));

  it('lists the engine wasm, whose bytes are the pinned ones', () => {
    const wasm = MEASURED_FILES.find((f) => f.endsWith('.wasm'));
    expect(wasm).toBeDefined();
    expect(join(root, wasm!)).toBe(engine_wasm_path());
    expect(to_hex(p.sha256(readFileSync(engine_wasm_path())))).toBe(engine_wasm_sha256);
  });

  it('changes when one byte of the engine changes', () => {
    for (const dir of MEASURED_DIRS) cpSync(join(root, dir), join(copy, dir), { recursive: true });
    for (const file of MEASURED_FILES) {
      cpSync(join(root, file), join(copy, file), { recursive: true });
    }
    const same = to_hex(compute_measurement(p, copy));
    expect(same).toBe(to_hex(compute_measurement(p, root)));
    const wasm_file = join(copy, MEASURED_FILES.find((f) => f.endsWith('.wasm'))!);
    const bytes = readFileSync(wasm_file);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 1, bytes.length - 1);
    writeFileSync(wasm_file, bytes);
    expect(to_hex(compute_measurement(p, copy))).not.toBe(same);
    expect(dirname(wasm_file).startsWith(copy)).toBe(true);
  });
});

/** Every .ts file under `dir`, absolute. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

describe('the measurement covers exactly the enclave code', () => {
  const root = find_code_root();

  it('measures no TypeScript outside enclave/ and protocol/', () => {
    expect([...MEASURED_DIRS].sort()).toEqual(['enclave', 'protocol']);
    expect(MEASURED_FILES.filter((f) => f.endsWith('.ts'))).toEqual([]);
  });

  it('the enclave imports only measured sources, transitively', () => {
    const outside: string[] = [];
    const queue = sources(join(root, 'enclave'));
    const seen = new Set<string>();
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const { fileName: spec } of ts.preProcessFile(text, true, true).importedFiles) {
        if (!spec.startsWith('.')) continue;
        const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
        const top = relative(root, target).split(sep)[0]!;
        if (!MEASURED_DIRS.includes(top)) outside.push(`${relative(root, file)} imports ${spec}`);
        else queue.push(target);
      }
    }
    expect(outside).toEqual([]);
    // The walk reached the shared chain code the light client runs.
    expect(seen.has(join(root, 'protocol', 'chain.ts'))).toBe(true);
  });
});
