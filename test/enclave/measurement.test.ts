/**
 * The enclave measurement covers the contract engine: two validators whose QuickJS builds differ
 * (and so could differ in a result) differ in measurement, so one of them cannot join or unseal.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
