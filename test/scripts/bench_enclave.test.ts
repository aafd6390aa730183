import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

// Runs the built script (npm test builds first); never asserts speed, only the shape of the output.
const SCRIPT = join(process.cwd(), 'dist', 'scripts', 'bench_enclave.js');

describe('bench:enclave', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-bench-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes JSON, an SVG and a table row per result', async () => {
    expect(existsSync(SCRIPT), 'build first: npx tsc -p tsconfig.build.json').toBe(true);
    const out = join(dir, 'x.json');
    const svg = join(dir, 'x.svg');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [SCRIPT, '--quick', '--tiny', '--out', out, '--svg', svg],
      { timeout: 60_000 },
    );
    const json = JSON.parse(readFileSync(out, 'utf8')) as {
      results: Record<string, unknown>[];
      costs: Record<string, unknown>[];
      staging: Record<string, unknown>[];
      machine: Record<string, unknown>;
    };
    expect(json.results.length).toBeGreaterThan(0);
    for (const r of json.results) {
      expect(Number.isInteger(r['workers']) && (r['workers'] as number) >= 1).toBe(true);
      expect(['native', 'noble']).toContain(r['provider']);
      expect(r['payload_bytes']).toBeGreaterThan(0);
      expect(['echo', 'counter', 'storage_heavy', 'compute_heavy']).toContain(r['contract']);
      expect(typeof r['fresh_key']).toBe('boolean');
      const tx = r['tx_per_s'] as number;
      const bound = r['bound_tx_per_s'] as number;
      const ratio = r['ratio'] as number;
      for (const v of [tx, bound, ratio]) expect(typeof v === 'number' && v > 0).toBe(true);
      // tx and bound are rounded to 0.1, ratio to 0.001.
      expect(Math.abs(ratio - tx / bound)).toBeLessThan(0.002 + ratio * 0.01);
    }
    const m = json.machine;
    expect(m['cpus']).toBeGreaterThan(0);
    expect(typeof m['cpu_model']).toBe('string');
    expect(m['node']).toBe(process.version);
    expect(typeof m['platform']).toBe('string');
    expect(m['total_mem_bytes']).toBeGreaterThan(0);
    const chart = readFileSync(svg, 'utf8');
    expect(chart.startsWith('<svg')).toBe(true);
    expect(chart).toContain('<title>Cloister enclave throughput');
    // The cost breakdown: every stage positive, and the parts add up to the whole.
    expect(json.costs.length).toBeGreaterThan(0);
    for (const c of json.costs) {
      expect(['native', 'noble']).toContain(c['provider']);
      const stages = ['parse_us', 'hash_us', 'verify_us', 'open_us', 'seal_us'].map((k) => c[k] as number);
      for (const v of [...stages, c['execute_us'] as number, c['pool_us'] as number])
        expect(typeof v === 'number' && v > 0).toBe(true);
      const sum = stages.reduce((a, b) => a + b, 0) + (c['other_us'] as number);
      expect(Math.abs(sum - (c['execute_us'] as number))).toBeLessThan(0.5);
      expect(
        Math.abs((c['execute_us'] as number) + (c['hop_us'] as number) - (c['pool_us'] as number)),
      ).toBeLessThan(0.2);
    }
    // The matrix table (a header, a rule, one row per result), a blank line, then the breakdown
    // (a caption, a header, a rule, one row per cost row).
    // One block at a time, one worker against staged over all of them (issue #16), and the same
    // block on one thread: every time is positive, and the speedup is their ratio.
    expect(json.staging.length).toBeGreaterThan(0);
    for (const row of json.staging) {
      const serial = row['serial_ms'] as number;
      const staged = row['staged_ms'] as number;
      expect(serial > 0 && staged > 0).toBe(true);
      expect(Math.abs((row['speedup'] as number) - serial / staged)).toBeLessThan(0.01);
      const one = row['in_process'] as Record<string, number>;
      for (const k of ['serial_ms', 'stage_ms', 'execute_staged_ms']) expect(one[k]).toBeGreaterThan(0);
    }
    const [matrix, breakdown, staging] = stdout.trim().split('\n\n') as [string, string, string];
    expect(staging.split('\n')).toHaveLength(json.staging.length + 2);
    const lines = matrix.split('\n');
    expect(lines.length).toBe(json.results.length + 2);
    const cost_lines = breakdown.split('\n');
    expect(cost_lines.length).toBe(json.costs.length + 3);
    expect(cost_lines[3]!.trim().split(/\s+/).slice(0, 3)).toEqual([
      json.costs[0]!['provider'],
      json.costs[0]!['contract'],
      String(json.costs[0]!['payload_bytes']),
    ]);
    json.results.forEach((r, i) => {
      const cells = lines[i + 2]!.trim().split(/\s+/);
      expect(cells.slice(0, 4)).toEqual([
        String(r['workers']),
        r['provider'],
        String(r['payload_bytes']),
        r['contract'],
      ]);
    });
  });
});
