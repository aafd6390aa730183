import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  format_summary,
  parse_swarm_args,
  progress_line,
  progress_reporter,
  replay_command,
  run_swarm,
  type SwarmOptions,
  type SwarmSummary,
  UsageError,
} from '../../scripts/sim_swarm.js';

// The real swarm runs the built script (npm test builds first); the pool's failure paths run
// against a fake worker speaking the same protocol, so they do not depend on a simulator bug.
const SCRIPT = join(process.cwd(), 'dist', 'scripts', 'sim_swarm.js');

function run_script(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, ...args], { timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const base: SwarmOptions = {
  seeds: 3,
  first_seed: 1,
  validators: 4,
  heights: 15,
  load_tx_per_s: 20,
  jobs: 2,
  allow_unsafe: false,
};

describe('sim:swarm', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-swarm-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs three seeds of 15 heights in two worker processes (built script, --json)', async () => {
    expect(existsSync(SCRIPT), 'build first: npx tsc -p tsconfig.build.json').toBe(true);
    const { code, stdout, stderr } = await run_script([
      '--seeds',
      '3',
      '--first-seed',
      '1',
      '--heights',
      '15',
      '--jobs',
      '2',
      '--json',
    ]);
    const s = JSON.parse(stdout) as SwarmSummary;
    expect(Object.keys(s).slice(0, 5)).toEqual(['seeds', 'passed', 'failed', 'failures', 'wall_ms']);
    expect(s.seeds).toBe(3);
    expect(s.passed + s.failed).toBe(3);
    expect(s.failures.length).toBe(s.failed);
    expect(s.jobs).toBe(2);
    expect(s.interrupted).toBe(false);
    expect(s.wall_ms).toBeGreaterThan(0);
    for (const f of s.failures) {
      expect([1, 2, 3]).toContain(f.seed);
      expect(f.violations.length).toBeGreaterThan(0);
      expect(f.replay).toBe(`cloister sim run --seed ${f.seed} --validators 4 --heights 15`);
    }
    expect(code).toBe(s.failed > 0 ? 1 : 0);
    // Not a terminal: progress lines, the last one complete.
    expect(stderr).toContain('3/3 seeds');
    expect(stderr).not.toContain('\r');
  }, 120_000);

  it('reports failing seeds, replaces a worker that died, and keeps the order of seeds', async () => {
    // Seed 2 fails its invariants; seed 4 kills its worker; seed 1 takes longer than the rest.
    const fake = join(dir, 'fake_worker.mjs');
    writeFileSync(
      fake,
      `process.on('message', (m) => {
        if (m.type === 'stop') process.exit(0);
        if (m.seed === 4) process.exit(3);
        const violations = m.seed === 2
          ? [{ kind: 'agreement', height: 7, sim_ms: 1234, validators: [0, 1], message: 'two blocks <&> at 7' }]
          : [];
        setTimeout(() => process.send({ type: 'outcome', outcome: { seed: m.seed, passed: violations.length === 0,
          violations, heights_committed: 15, sim_ms: 5000, wall_ms: 5 } }), m.seed === 1 ? 200 : 5);
      });
      process.send({ type: 'ready' });`,
    );
    const seen: number[] = [];
    const s = await run_swarm(
      { ...base, seeds: 6, jobs: 3, load_tx_per_s: 50 },
      (o, p) => {
        seen.push(o.seed);
        expect(p.done).toBe(seen.length);
        expect(p.total).toBe(6);
      },
      fake,
    );
    expect(seen.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(s.seeds).toBe(6);
    expect(s.passed).toBe(4);
    expect(s.failed).toBe(2);
    expect(s.failures.map((f) => f.seed)).toEqual([2, 4]);
    expect(s.failures[0]?.violations[0]?.kind).toBe('agreement');
    expect(s.failures[0]?.replay).toBe('cloister sim run --seed 2 --validators 4 --heights 15 --load 50');
    expect(s.failures[1]?.violations[0]?.kind).toBe('error');
    expect(s.failures[1]?.violations[0]?.message).toMatch(/worker process exited \(code 3\)/);
    const text = format_summary(s);
    expect(text).toContain('6 seeds (1..6), 4 validators, 15 heights, 50 tx/s, 3 jobs: 4 passed, 2 failed');
    expect(text).toContain('seed 2: agreement at height 7 (1.2 s simulated): two blocks <&> at 7');
    expect(text).toContain('replay: cloister sim run --seed 2 --validators 4 --heights 15 --load 50');
    expect(text).toContain('seed 4: error');
  });

  it('stops when aborted and says so', async () => {
    const fake = join(dir, 'slow_worker.mjs');
    writeFileSync(
      fake,
      `process.on('message', (m) => { if (m.type === 'stop') process.exit(0);
        setTimeout(() => process.send({ type: 'outcome', outcome: { seed: m.seed, passed: true, violations: [],
          heights_committed: 1, sim_ms: 1, wall_ms: 1 } }), m.seed === 1 ? 10 : 60_000); });
      process.send({ type: 'ready' });`,
    );
    const abort = new AbortController();
    const s = await run_swarm({ ...base, seeds: 100, jobs: 2 }, () => abort.abort(), fake, abort.signal);
    expect(s.interrupted).toBe(true);
    expect(s.seeds).toBe(1);
    expect(format_summary(s)).toContain('(interrupted)');
  });

  it('parses flags, refuses bad ones, and writes the replay command', () => {
    const o = parse_swarm_args(['--seeds', '10', '--first-seed', '5', '--validators', '7', '--allow-unsafe']);
    expect(o).toMatchObject({ seeds: 10, first_seed: 5, validators: 7, heights: 100, load_tx_per_s: 20 });
    expect(o?.allow_unsafe).toBe(true);
    expect(o?.jobs).toBeGreaterThanOrEqual(1);
    expect(parse_swarm_args(['--help'])).toBeNull();
    for (const bad of [
      [],
      ['--seeds', '0'],
      ['--seeds', '2', '--jobs', '0'],
      ['--seeds', '1.5'],
      ['--seeds', '3', '--load', '-1'],
      ['--seeds', '3', '--nope'],
    ]) {
      expect(() => parse_swarm_args(bad), bad.join(' ')).toThrow(UsageError);
    }
    expect(replay_command({ validators: 7, heights: 30, load_tx_per_s: 20, allow_unsafe: true }, 12)).toBe(
      'cloister sim run --seed 12 --validators 7 --heights 30 --allow-unsafe',
    );
  });

  it('draws progress in place on a terminal, and a line per 5 % elsewhere', () => {
    const line = progress_line({ done: 50, total: 200, passed: 49, failed: 1, elapsed_ms: 25_000 }, 8);
    expect(line).toBe('[##......] 50/200 seeds  passed 49  failed 1  2.00 seeds/s  elapsed 25s  ETA 1m15s');
    const lines: string[] = [];
    const plain = progress_reporter({ write: (t: string) => lines.push(t) }, 200);
    for (let done = 1; done <= 200; done++)
      plain.update({ done, total: 200, passed: done, failed: 0, elapsed_ms: done * 10 });
    plain.done();
    expect(lines.length).toBe(20);
    expect(lines.every((l) => l.endsWith('\n') && !l.includes('\r'))).toBe(true);
    const tty: string[] = [];
    const term = progress_reporter({ write: (t: string) => tty.push(t), isTTY: true }, 3);
    for (let done = 1; done <= 3; done++)
      term.update({ done, total: 3, passed: done, failed: 0, elapsed_ms: 1 });
    term.done();
    expect(tty.length).toBe(4);
    expect(tty.slice(0, 3).every((t) => t.startsWith('\r') && t.endsWith('\x1b[K'))).toBe(true);
    expect(tty[3]).toBe('\n');
  });

  it('exits 2 on bad usage', async () => {
    const { code, stderr } = await run_script(['--seeds', 'x']);
    expect(code).toBe(2);
    expect(stderr).toContain('--seeds must be an integer');
  });
});
