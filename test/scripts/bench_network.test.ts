import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

// Runs the built script (npm test builds first) against a real 1-validator network on ports
// 24100-24199; never asserts speed, only the shape of the output and its invariants.
const SCRIPT = join(process.cwd(), 'dist', 'scripts', 'bench_network.js');
const run = promisify(execFile);

describe('bench:network', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-bench-net-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('measures a 1-validator network: JSON, an SVG and a table row per validator count', async () => {
    expect(existsSync(SCRIPT), 'build first: npx tsc -p tsconfig.build.json').toBe(true);
    const out = join(dir, 'net.json');
    const svg = join(dir, 'net.svg');
    const { stdout } = await run(
      process.execPath,
      [
        SCRIPT,
        '--validators',
        '1',
        '--port',
        '24100',
        '--step-seconds',
        '1.5',
        '--max-steps',
        '2',
        '--start-rate',
        '40',
        '--accounts',
        '8',
        '--workers',
        '2',
        '--no-refine',
        '--idle-seconds',
        '1',
        '--out',
        out,
        '--svg',
        svg,
      ],
      { timeout: 110_000 },
    );
    const json = JSON.parse(readFileSync(out, 'utf8')) as {
      results: Record<string, unknown>[];
      bound: Record<string, unknown>;
      targets: { network: Record<string, unknown> };
      machine: Record<string, unknown>;
    };
    expect(json.results.length).toBe(1);
    const r = json.results[0]!;
    expect(r['validators']).toBe(1);
    expect(r['workers']).toBe(2);
    const tx = r['tx_per_s'] as number;
    const bound = r['bound_tx_per_s'] as number;
    const ratio = r['ratio'] as number;
    const p50 = r['p50_ms'] as number;
    const p99 = r['p99_ms'] as number;
    for (const v of [tx, bound, ratio, p50, p99]) expect(typeof v === 'number' && v > 0).toBe(true);
    expect(p50).toBeLessThanOrEqual(p99);
    // tx and bound are rounded to 0.1, ratio to 0.001.
    expect(Math.abs(ratio - tx / bound)).toBeLessThan(0.0006 + ratio * 0.01);
    expect(typeof r['saturated']).toBe('boolean');
    expect(typeof r['note']).toBe('string');
    // The bound: single-core tx/s × cores ÷ validators (1 here).
    const single = json.bound['single_core_tx_per_s'] as number;
    const cores = json.bound['cores'] as number;
    expect(single).toBeGreaterThan(0);
    expect(cores).toBeGreaterThanOrEqual(1);
    expect(Math.abs(bound - single * cores)).toBeLessThan(0.2);

    const steps = r['steps'] as Record<string, unknown>[];
    expect(steps.length).toBeGreaterThanOrEqual(1);
    expect(steps.length).toBeLessThanOrEqual(2);
    expect(steps[0]!['offered_tx_per_s']).toBe(40);
    if (steps.length === 2) expect(steps[1]!['offered_tx_per_s']).toBe(60);
    for (const s of steps) {
      expect(s['p50_ms'] as number).toBeLessThanOrEqual(s['p99_ms'] as number);
      expect(Number.isInteger(s['lost'])).toBe(true);
      expect(s['broken_reason'] === null || typeof s['broken_reason'] === 'string').toBe(true);
      expect(s['committed'] as number).toBeLessThanOrEqual(s['due'] as number);
      // CPU per committed transaction: the validator process did work for every one of them.
      if ((s['committed'] as number) > 0) {
        expect(s['validators_cpu_ms_per_tx'] as number).toBeGreaterThan(0);
        expect(s['loadgen_cpu_ms_per_tx'] as number).toBeGreaterThan(0);
        const busy = s['cpu_busy_share'] as number;
        expect(busy > 0 && busy <= 1.05).toBe(true);
        // Blocks held the step's transactions: at least one, at most one per transaction.
        const per_block = s['txs_per_block'] as number;
        expect(per_block >= 1 && per_block <= (s['committed'] as number)).toBe(true);
        expect(s['blocks_per_s'] as number).toBeGreaterThan(0);
      }
    }
    // The idle window: blocks come on demand (docs/consensus.md "Block pacing"), so an idle
    // network commits none, and no CPU is charged to blocks.
    const idle = r['idle'] as Record<string, number>;
    expect(idle['seconds']).toBe(1);
    expect(idle['blocks']).toBe(0);
    expect(idle['blocks_per_s']).toBe(0);
    expect(idle['cpu_ms_per_block']).toBe(0);
    expect(idle['cpu_busy_share']).toBeGreaterThanOrEqual(0);
    // The row is the best unbroken step (or, if none, the first one).
    const unbroken = steps.filter((s) => s['broken_reason'] === null);
    const expected =
      unbroken.length > 0 ? Math.max(...unbroken.map((s) => s['tx_per_s'] as number)) : steps[0]!['tx_per_s'];
    expect(tx).toBe(expected);
    expect(r['saturated']).toBe(unbroken.length === 0);

    // 4 validators did not run, so the network target is not measured.
    expect(json.targets.network['met']).toBeNull();
    const m = json.machine;
    expect(m['cpus']).toBeGreaterThan(0);
    expect(m['node']).toBe(process.version);
    expect(m['total_mem_bytes']).toBeGreaterThan(0);

    const chart = readFileSync(svg, 'utf8');
    expect(chart.startsWith('<svg')).toBe(true);
    expect(chart.trimEnd().endsWith('</svg>')).toBe(true);

    // A header, a rule, then one row per validator count.
    const lines = stdout.split('\n');
    expect(lines[0]!.split(/\s+/).slice(0, 7)).toEqual([
      'validators',
      'offered',
      'tx/s',
      'p50_ms',
      'p99_ms',
      'bound',
      'ratio',
    ]);
    expect(lines[1]).toMatch(/^-+( +-+)+$/);
    const cells = lines[2]!.trim().split(/\s+/);
    expect(cells.slice(0, 7)).toEqual([
      '1',
      (r['offered_tx_per_s'] as number).toFixed(1),
      tx.toFixed(1),
      p50.toFixed(1),
      p99.toFixed(1),
      bound.toFixed(1),
      ratio.toFixed(3),
    ]);
  }, 120_000);

  it('refuses a bad flag with one line and exit code 2', async () => {
    const result = await run(process.execPath, [SCRIPT, '--validators', '1', '--no-such-flag']).then(
      () => null,
      (error: { code?: number; stderr?: string; stdout?: string }) => error,
    );
    expect(result).not.toBeNull();
    expect(result!.code).toBe(2);
    expect(result!.stdout).toBe('');
    expect(result!.stderr!.trim().split('\n')).toHaveLength(1);
    expect(result!.stderr).toContain('--no-such-flag');
  });

  it('refuses a bad value with one line naming the flag, and --soak without --rate', async () => {
    for (const args of [
      ['--port', '80'],
      ['--workers', '0'],
      ['--validators', '1,x'],
      ['--soak', '60'],
    ]) {
      const result = await run(process.execPath, [SCRIPT, ...args]).then(
        () => null,
        (error: { code?: number; stderr?: string }) => error,
      );
      expect(result, args.join(' ')).not.toBeNull();
      expect(result!.code).toBe(2);
      expect(result!.stderr!.trim().split('\n')).toHaveLength(1);
      expect(result!.stderr).toContain(args[0]!);
    }
  });
});
