import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

// Runs the built script (npm test builds first); never asserts speed, only the shape of the output.
const SCRIPT = join(process.cwd(), 'dist', 'scripts', 'bench_gas.js');

describe('bench:gas', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-bench-gas-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs each bomb out of gas and reports ms per million gas against the bound, as JSON and a table', async () => {
    expect(existsSync(SCRIPT), 'build first: npx tsc -p tsconfig.build.json').toBe(true);
    const out = join(dir, 'gas.json');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [SCRIPT, '--gas', '200000', '--only', 'huge string', '--out', out],
      { timeout: 120_000 },
    );
    const json = JSON.parse(readFileSync(out, 'utf8')) as {
      engine: string;
      gas: number;
      bound_ms_per_mgas: number;
      met: boolean;
      results: { name: string; outcome: string; ms_per_mgas: number; ratio_to_bound: number }[];
    };
    expect(json.engine).toBe('quickjs');
    expect(json.gas).toBe(200_000);
    expect(json.bound_ms_per_mgas).toBe(1000);
    expect(typeof json.met).toBe('boolean');
    expect(json.results.map((r) => r.name)).toEqual([
      'concatenate a huge string',
      'compare huge strings',
      'huge string as a property key',
      'huge string in a template',
      'split a huge string',
    ]);
    for (const r of json.results) {
      // Every bomb is metered: it ends out of gas, never by the wall-clock cap.
      expect(r.outcome).toBe('out_of_gas');
      expect(r.ms_per_mgas).toBeGreaterThanOrEqual(0);
      expect(r.ratio_to_bound).toBeCloseTo(r.ms_per_mgas / 1000, 5);
      expect(stdout).toContain(r.name);
    }
    expect(stdout).toMatch(/worst: \d+ ms per million gas; bound 1000: (met|NOT met)/);
    // No reference loop among the cases chosen: the relative bound cannot be judged.
    expect(stdout).toMatch(/worst: \? × the plain loop; bound 4: NOT met/);
  });
});
