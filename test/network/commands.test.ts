/** The network commands as a user runs them: `cloister sim up` and the `npm start` job. */

import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { find_code_root } from '../../enclave/measurement.js';
import { rpc } from '../../protocol/rpc_client.js';
import { BYZANTINE_BEHAVIOURS } from '../../sim/byzantine.js';

const root = find_code_root();
const dir = mkdtempSync(join(tmpdir(), 'cloister-cmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('cloister sim up', () => {
  it('prints one ready line with every RPC URL once all serve, and stops them all on SIGINT', async () => {
    const child = spawn(
      process.execPath,
      [
        join(root, 'bin', 'cloister.js'),
        'sim',
        'up',
        '--validators',
        '2',
        '--dir',
        join(dir, 'sim'),
        '--port',
        '22600',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    const ready = await new Promise<string>((resolve, reject) => {
      void exited.then((code) => reject(new Error(`sim up exited with ${code}`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.startsWith('ready ')) resolve(line);
      });
    });
    const urls = ready.split(' ').slice(1);
    expect(urls).toEqual(['http://127.0.0.1:22600', 'http://127.0.0.1:22601']);
    for (const url of urls)
      expect((await rpc<{ chain_id: string }>(url, '/v1/status')).chain_id).toBe('cloister-local-1');
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    // Every validator is down: nothing answers any more.
    for (const url of urls) await expect(rpc(url, '/v1/status', { timeout_ms: 2000 })).rejects.toThrow();
  }, 120_000);

  it('refuses a bad --byzantine value with a clear message and exit 1', async () => {
    const run = (value: string) =>
      promisify(execFile)(process.execPath, [
        join(root, 'bin', 'cloister.js'),
        'sim',
        'up',
        '--validators',
        '4',
        '--dir',
        join(dir, 'bad'),
        '--byzantine',
        value,
      ]).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
    const wrong_index = await run('7:silent');
    expect(wrong_index.code).toBe(1);
    expect(wrong_index.stderr).toContain('count from 0 to 3');
    const wrong_kind = await run('1:lazy');
    expect(wrong_kind.code).toBe(1);
    // Every behaviour sim/byzantine.ts implements is named.
    for (const name of BYZANTINE_BEHAVIOURS) expect(wrong_kind.stderr).toContain(name);
  }, 60_000);
});

describe('npm start (the main job)', () => {
  it('runs a network with encrypted traffic, serves its dashboard, and prints a summary of decrypted results', async () => {
    const child = spawn(
      process.execPath,
      [
        join(root, 'dist', 'sim', 'main_job.js'),
        '--validators',
        '2',
        '--seconds',
        '3',
        '--rate',
        '20',
        '--port',
        '22700',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    // The dashboard is printed once the network is up, before the workload: it answers meanwhile.
    const dashboard = await new Promise<string>((resolve, reject) => {
      void exited.then((code) =>
        reject(new Error(`npm start exited with ${code} before its dashboard line`)),
      );
      createInterface({ input: child.stderr! }).on('line', (line) => {
        const m = /^dashboard (http:\/\/127\.0\.0\.1:\d+\/)#token=[0-9a-f]{64}$/.exec(line);
        if (m !== null) resolve(m[1]!);
      });
    });
    const state = (await (await fetch(new URL('/api/state', dashboard))).json()) as {
      validators: { name: string }[];
    };
    expect(state.validators.map((v) => v.name)).toEqual(['v0', 'v1']);
    expect(await exited).toBe(0);
    const committed = Number(/committed\s+(\d+) in/.exec(stdout)?.[1]);
    const decrypted = Number(/decrypted\s+(\d+) results/.exec(stdout)?.[1]);
    expect(committed).toBeGreaterThan(0);
    expect(decrypted).toBe(committed);
    expect(stdout).toMatch(/0 with a non-zero code/);
  }, 180_000);
});
