/**
 * `cloister sim run` as a user runs it (needs `npm run build`, which `npm test` does first): exit
 * 0 with every invariant held, 1 with a violation reported as such, 2 with a clear message for
 * bad usage; --json and --out.
 */

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { find_code_root } from '../../enclave/measurement.js';

const root = find_code_root();
const dir = mkdtempSync(join(tmpdir(), 'cloister-sim-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cloister(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(root, 'bin', 'cloister.js'), ...args],
      { timeout: 300_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function manifest_file(name: string, value: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

describe('cloister sim run', () => {
  it('--json: one object with the fields the issue names; the same seed twice, the same trace hash', async () => {
    const args = ['sim', 'run', '--seed', '5', '--heights', '12', '--json'];
    const [a, b] = [await cloister(args), await cloister(args)];
    expect(a.code, a.stderr).toBe(0);
    const ra = JSON.parse(a.stdout) as Record<string, unknown>;
    const rb = JSON.parse(b.stdout) as Record<string, unknown>;
    for (const key of [
      'seed',
      'validators',
      'heights_committed',
      'sim_ms',
      'wall_ms',
      'txs_committed',
      'faults_applied',
      'violations',
      'trace_sha256',
    ]) {
      expect(ra, key).toHaveProperty(key);
    }
    expect(ra['seed']).toBe(5);
    expect(ra['heights_committed']).toBe(12);
    expect(ra['violations']).toEqual([]);
    expect(rb['trace_sha256']).toBe(ra['trace_sha256']);
  });

  it('--out writes the report, the trace, the manifest and the timeline', async () => {
    const out = join(dir, 'run');
    const r = await cloister(['sim', 'run', '--seed', '6', '--heights', '10', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('invariants: all held');
    expect(r.stdout).toContain('replay: cloister sim run --seed 6 --validators 4 --heights 10');
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { trace_sha256: string };
    const trace = readFileSync(join(out, 'trace.txt'), 'utf8');
    expect(trace.split('\n').filter((l) => l.startsWith('c ')).length).toBeGreaterThanOrEqual(10);
    expect(readFileSync(join(out, 'timeline.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    expect(existsSync(join(out, 'manifest.json'))).toBe(true);
    expect(report.trace_sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('two split-brain equivocators of four: refused without --allow-unsafe, a reported fork with it', async () => {
    const file = manifest_file('fork.json', {
      validators: 4,
      faults: [{ from_height: 1, byzantine: { '0': 'equivocate-split', '1': 'equivocate-split' } }],
    });
    const refused = await cloister(['sim', 'run', '--seed', '1', '--heights', '30', '--faults', file]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--allow-unsafe/);
    let forked: { code: number; stdout: string } | null = null;
    for (const seed of ['1', '2', '3', '4']) {
      const r = await cloister([
        'sim',
        'run',
        '--seed',
        seed,
        '--heights',
        '30',
        '--faults',
        file,
        '--allow-unsafe',
      ]);
      if (r.code === 1) {
        forked = r;
        break;
      }
      expect(r.code).toBe(0);
    }
    expect(forked, 'no seed of 1..4 forked').not.toBeNull();
    expect(forked?.stdout).toMatch(/VIOLATED/);
    expect(forked?.stdout).toMatch(/agreement at height \d+/);
    expect(forked?.stdout).toMatch(/replay: cloister sim run --seed \d+ .*--allow-unsafe/);
  });

  it('bad usage exits 2 with a clear message', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['--faults', manifest_file('bad.json', { validators: 4, faults: [{ at_height: 3, crash: 9 }] })],
        /faults\[0\]\.crash: validator 9 does not exist/,
      ],
      [['--faults', manifest_file('five.json', { validators: 5, faults: [] })], /5/],
      [['--faults', manifest_file('junk.json', '{"validators": 4, "faults": [')], /--faults/],
      [['--faults', join(dir, 'missing.json')], /no such file/],
      [['--validators', '0'], /--validators must be an integer from 1 to 100/],
      [['--heights', '-3'], /--heights/],
      [['--load', '-1'], /--load/],
    ];
    for (const [args, message] of cases) {
      const r = await cloister(['sim', 'run', '--seed', '1', ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });
});
