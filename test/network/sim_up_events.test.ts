/**
 * Log lines as users see them: `cloister node start` (JSON when piped, human when asked,
 * `--supervised`), and `cloister sim up` printing its validators' events, a killed one's crash
 * included. Ports 26710-26713 (p2p 27710-27713).
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { find_code_root } from '../../enclave/measurement.js';
import { rpc } from '../../protocol/rpc_client.js';
import { nudge_tx } from './helpers.js';

const cloister = join(find_code_root(), 'bin', 'cloister.js');
const dir = mkdtempSync(join(tmpdir(), 'cloister-logs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The lines a process prints on stdout, and a way to wait for the next one that matches. */
function lines_of(child: ChildProcess) {
  const seen: string[] = [];
  const waiting = new Set<{ pred: (l: string) => boolean; resolve: (l: string) => void }>();
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code, signal) => {
      if (signal !== null) seen.push(`(signal ${signal})`);
      r(code);
    }),
  );
  createInterface({ input: child.stdout! }).on('line', (line) => {
    seen.push(line);
    for (const w of waiting) {
      if (!w.pred(line)) continue;
      waiting.delete(w);
      w.resolve(line);
    }
  });
  return {
    seen,
    exited,
    /** The next line (from now on) for which `pred` holds; rejects if the process exits first. */
    next(pred: (l: string) => boolean, what: string): Promise<string> {
      return new Promise((resolve, reject) => {
        waiting.add({ pred, resolve });
        void exited.then((code) =>
          reject(new Error(`exited with ${code} before ${what}; printed:\n${seen.join('\n')}`)),
        );
      });
    },
  };
}

const running: ChildProcess[] = [];
afterEach(() => {
  for (const c of running.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function start(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [cloister, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  running.push(child);
  return child;
}

describe('cloister node start log lines', () => {
  const net = join(dir, 'one');
  const home = join(net, 'v0');

  beforeAll(async () => {
    await promisify(execFile)(process.execPath, [
      cloister,
      'init',
      '--dir',
      net,
      '--validators',
      '1',
      '--port',
      '26710',
    ]);
  }, 60_000);

  it('are JSON when piped (no flag) and with --log-format json, human with --log-format human', async () => {
    for (const flags of [[], ['--log-format', 'json']]) {
      const child = start(['node', 'start', '--home', home, ...flags]);
      const out = lines_of(child);
      const started = await out.next((l) => l.includes('"started"'), 'started');
      expect(JSON.parse(started)).toMatchObject({
        level: 'info',
        event: 'started',
        rpc: 'http://127.0.0.1:26710',
      });
      // Every line is a JSON object with a time, a level and an event.
      for (const line of out.seen)
        expect(Object.keys(JSON.parse(line)).slice(0, 3)).toEqual(['t', 'level', 'event']);
      child.kill('SIGTERM');
      expect(await out.exited).toBe(0);
      expect(out.seen.map((l) => JSON.parse(l).event)).toContain('stopping');
    }
    const child = start(['node', 'start', '--home', home, '--log-format', 'human']);
    const out = lines_of(child);
    const started = await out.next((l) => l.includes(' started '), 'started');
    expect(started).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} v0 INFO {2}started rpc=http:\/\/127\.0\.0\.1:26710 height=\d+ /,
    );
    // No colour codes: stdout is not a terminal.
    expect(out.seen.join('\n')).not.toContain('\u001b[');
    child.kill('SIGTERM');
    expect(await out.exited).toBe(0);
  }, 60_000);

  it('--log-level leaves out what is below it', async () => {
    const child = start(['node', 'start', '--home', home, '--log-level', 'debug']);
    const out = lines_of(child);
    // SIGTERM stops it cleanly once started; a debug line follows with every consensus step.
    await out.next((l) => JSON.parse(l).event === 'started', 'started');
    await out.next((l) => JSON.parse(l).level === 'debug', 'a debug line');
    child.kill('SIGTERM');
    expect(await out.exited).toBe(0);
    const quiet = start(['node', 'start', '--home', home, '--log-level', 'warn']);
    const q = lines_of(quiet);
    // Nothing at info: started is not printed; the node runs (its RPC answers: asked again until
    // it listens) and stops cleanly.
    let status: { height: number } | null = null;
    while (status === null)
      status = await rpc<{ height: number }>('http://127.0.0.1:26710', '/v1/status', {
        timeout_ms: 1000,
      }).catch(() => new Promise<null>((r) => setTimeout(() => r(null), 50)));
    quiet.kill('SIGTERM');
    expect(await q.exited).toBe(0);
    expect(q.seen.map((l) => JSON.parse(l).level).filter((l) => l === 'info' || l === 'debug')).toEqual([]);
  }, 60_000);

  it('--supervised: SIGINT is left to the supervisor; a closed stdin stops the node', async () => {
    const child = start(['node', 'start', '--home', home, '--supervised']);
    const out = lines_of(child);
    await out.next((l) => JSON.parse(l).event === 'started', 'started');
    child.kill('SIGINT');
    // It commits on after the SIGINT (next() rejects if it exits instead). Blocks come on demand:
    // each transaction sent makes one.
    const url = 'http://127.0.0.1:26710';
    const { chain_id } = await rpc<{ chain_id: string }>(url, '/v1/status');
    for (let k = 0; k < 3; k++) {
      const committed = out.next((l) => JSON.parse(l).event === 'committed', 'a commit after SIGINT');
      await rpc(url, '/v1/txs', { body: nudge_tx(chain_id) });
      await committed;
    }
    expect(out.seen.some((l) => JSON.parse(l).event === 'stopping')).toBe(false);
    child.stdin!.end();
    expect(await out.exited).toBe(0);
    expect(out.seen.map((l) => JSON.parse(l).event)).toContain('stopping');
  }, 60_000);
});

describe('cloister sim up', () => {
  it('prints each validator starting, a killed one crashing, and the others stopping on SIGINT', async () => {
    const child = start(['sim', 'up', '--validators', '4', '--dir', join(dir, 'four'), '--port', '26710']);
    const out = lines_of(child);
    const ready = out.next((l) => l.startsWith('ready '), 'ready');
    await ready;
    // One started line per validator, before ready, each with its process id.
    const pids = new Map<string, number>();
    for (const line of out.seen) {
      const m = /^\d\d:\d\d:\d\d\.\d{3} (v\d) INFO {2}started .*pid=(\d+)/.exec(line);
      if (m !== null) pids.set(m[1]!, Number(m[2]));
    }
    expect([...pids.keys()].sort()).toEqual(['v0', 'v1', 'v2', 'v3']);
    // Killed from outside sim up: a crash, named with its signal and log.
    const crashed = out.next((l) => / v2 ERROR crashed /.test(l), 'v2 crashed');
    process.kill(pids.get('v2')!, 'SIGKILL');
    const line = await crashed;
    expect(line).toContain('signal=SIGKILL');
    expect(line).toContain(`log=${join(dir, 'four', 'v2', 'node.log')}`);
    child.kill('SIGINT');
    expect(await out.exited).toBe(0);
    // The three still running were stopped by sim up: stopped, not crashed.
    const stopped = out.seen.filter((l) => / INFO {2}stopped /.test(l)).map((l) => l.split(' ')[1]);
    expect(stopped.sort()).toEqual(['v0', 'v1', 'v3']);
    expect(out.seen.filter((l) => / crashed /.test(l))).toHaveLength(1);
  }, 120_000);
});
