/**
 * Steering a running `cloister sim up` as a user does, from another process: `sim status`,
 * `kill`, `restart`, `pause`, `resume`, `partition`, `heal` and `stop` through its control server
 * (sim/control_server.ts) and `<dir>/control.json`; a wrong token; and `sim up` refusing ports in
 * use before it starts anything. Ports: RPC 26740-26747 (p2p 27740-27747), control 26749.
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { find_code_root } from '../../enclave/measurement.js';
import type { ControlStatus } from '../../sim/control_server.js';

const cloister = join(find_code_root(), 'bin', 'cloister.js');
const dir = mkdtempSync(join(tmpdir(), 'cloister-control-net-'));
afterAll(() => {
  if (process.env['CLOISTER_KEEP_NET'] === '1') console.log(`network kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
});

const running: ChildProcess[] = [];
afterEach(() => {
  for (const c of running.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGINT');
});

/** Runs `cloister ARGS` to its end: exit code, stdout, stderr. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cloister, ...args], { timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function status(net: string): Promise<ControlStatus> {
  const r = await cli(['sim', 'status', '--dir', net, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as ControlStatus;
}

/** Polls `sim status` until `pred` holds; fails naming the last status after timeout_ms. */
async function until(net: string, pred: (s: ControlStatus) => boolean, what: string, timeout_ms = 60_000) {
  const end = Date.now() + timeout_ms;
  let last: ControlStatus | null = null;
  while (Date.now() < end) {
    last = await status(net);
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out waiting for ${what}; last status: ${JSON.stringify(last)}`);
}

/** Commits a block: a faucet transaction through validator `url` (the faucet answers once committed). */
async function load(url: string): Promise<number> {
  const address = Buffer.from(Array.from({ length: 20 }, () => Math.floor(Math.random() * 256))).toString(
    'hex',
  );
  const res = await fetch(`${url}/v1/faucet`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address, amount: 1 }),
    signal: AbortSignal.timeout(60_000),
  });
  const body = (await res.json()) as { height?: number };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.height!;
}

const heights = (s: ControlStatus) => s.validators.map((v) => v.height);
const states = (s: ControlStatus) => s.validators.map((v) => v.state);

describe('cloister sim status|kill|restart|pause|resume|partition|heal|stop', () => {
  it('steers a running sim up from other processes, and sim stop ends it with exit 0', async () => {
    const net = join(dir, 'net');
    const up = spawn(
      process.execPath,
      [
        cloister,
        'sim',
        'up',
        '--validators',
        '4',
        '--dir',
        net,
        '--port',
        '26740',
        '--control-port',
        '26749',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.push(up);
    const printed: string[] = [];
    const exited = new Promise<number | null>((r) => up.once('exit', r));
    let stderr = '';
    up.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const control_line = await new Promise<string>((resolve, reject) => {
      void exited.then((code) => reject(new Error(`sim up exited with ${code}: ${stderr}`)));
      createInterface({ input: up.stdout! }).on('line', (line) => {
        printed.push(line);
        if (line.startsWith('control ')) resolve(line);
      });
    });
    const control_path = join(net, 'control.json');
    expect(control_line).toBe(`control http://127.0.0.1:26749 (token in ${control_path})`);
    expect(printed.some((l) => l.startsWith('ready http://127.0.0.1:26740 '))).toBe(true);
    // The token is the owner's alone.
    expect(statSync(control_path).mode & 0o777).toBe(0o600);
    const info = JSON.parse(readFileSync(control_path, 'utf8')) as {
      pid: number;
      url: string;
      token: string;
    };
    expect(info).toEqual({
      pid: up.pid,
      url: 'http://127.0.0.1:26749',
      token: expect.stringMatching(/^[0-9a-f]{64}$/),
    });

    // status: all four up, as a table and as JSON.
    const first = await status(net);
    expect(states(first)).toEqual(['up', 'up', 'up', 'up']);
    expect(first.validators.map((v) => v.rpc)).toEqual(
      [0, 1, 2, 3].map((i) => `http://127.0.0.1:${26740 + i}`),
    );
    expect(first.validators.every((v) => typeof v.pid === 'number' && typeof v.height === 'number')).toBe(
      true,
    );
    const table = await cli(['sim', 'status', '--dir', net]);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^validator\s+state\s+height\s+pid\s+rpc\s+group$/);
    expect(table.stdout).toMatch(/^v2\s+up\s+\d+\s+\d+\s+http:\/\/127\.0\.0\.1:26742\s+-$/m);

    // A wrong token, or none: 401, and nothing happens.
    for (const headers of [{ authorization: 'Bearer 0000' }, {}] as Record<string, string>[]) {
      const res = await fetch(`${info.url}/validators/1/kill`, { method: 'POST', headers });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    }
    // The same call with the token works over plain HTTP (what a dashboard would do).
    const direct = await fetch(`${info.url}/status`, { headers: { authorization: `Bearer ${info.token}` } });
    expect(direct.status).toBe(200);
    expect(states((await direct.json()) as ControlStatus)).toEqual(['up', 'up', 'up', 'up']);

    // kill 2: v2 is down, its RPC gone; the three others still commit.
    const killed = await cli(['sim', 'kill', '--dir', net, '2']);
    expect(killed.code, killed.stderr).toBe(0);
    expect(killed.stdout).toBe('v2 killed (SIGKILL)\n');
    const after_kill = await status(net);
    expect(states(after_kill)).toEqual(['up', 'up', 'down', 'up']);
    expect(after_kill.validators[2]).toMatchObject({ pid: null, rpc: null, height: null });
    await expect(fetch('http://127.0.0.1:26742/v1/status')).rejects.toThrow();
    const again = await cli(['sim', 'kill', '--dir', net, '2']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('v2 is down already');
    const unknown = await cli(['sim', 'kill', '--dir', net, '9']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no validator 9 (validators 0..3)');
    const h1 = await load('http://127.0.0.1:26740');
    const h2 = await load('http://127.0.0.1:26741');
    expect(h2).toBeGreaterThan(h1);

    // restart 2: up again, and it catches up with the blocks it missed.
    const restarted = await cli(['sim', 'restart', '--dir', net, '2']);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(restarted.stdout).toMatch(/^v2 restarted: http:\/\/127\.0\.0\.1:26742 \(pid \d+\)\n$/);
    const h3 = await load('http://127.0.0.1:26740');
    await until(
      net,
      (s) => states(s).every((x) => x === 'up') && (s.validators[2]!.height ?? 0) >= h3,
      `v2 to catch up with height ${h3}`,
    );

    // pause 1 / resume 1.
    const paused = await cli(['sim', 'pause', '--dir', net, '1']);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toBe('v1 paused (SIGSTOP)\n');
    const while_paused = await status(net);
    expect(states(while_paused)).toEqual(['up', 'paused', 'up', 'up']);
    expect(while_paused.validators[1]!.height).toBeNull();
    const twice = await cli(['sim', 'pause', '--dir', net, '1']);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('v1 is paused already');
    const resumed = await cli(['sim', 'resume', '--dir', net, '1']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(states(await status(net))).toEqual(['up', 'up', 'up', 'up']);

    // partition 0,1/2,3: no side holds two thirds, so nothing commits until heal.
    const parted = await cli(['sim', 'partition', '--dir', net, '0,1/2,3']);
    expect(parted.code, parted.stderr).toBe(0);
    expect(parted.stdout).toBe('partitioned: [0,1] [2,3]\n');
    const split = await status(net);
    expect(split.partition).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect(states(split)).toEqual(['partitioned', 'partitioned', 'partitioned', 'partitioned']);
    expect(split.validators.map((v) => v.group)).toEqual([
      [0, 1],
      [0, 1],
      [2, 3],
      [2, 3],
    ]);
    const stuck_at = Math.max(...(heights(split) as number[]));
    const pending = load('http://127.0.0.1:26740');
    await new Promise((r) => setTimeout(r, 4000));
    expect(Math.max(...(heights(await status(net)) as number[]))).toBe(stuck_at);
    const bad_groups = await cli(['sim', 'partition', '--dir', net, '0,1/1']);
    expect(bad_groups.code).toBe(1);
    expect(bad_groups.stderr).toContain('validator 1 is already in group 0');
    const healed = await cli(['sim', 'heal', '--dir', net]);
    expect(healed.code, healed.stderr).toBe(0);
    expect(healed.stdout).toBe('healed: every validator reaches every other\n');
    // The transaction sent while split commits once healed, on every validator.
    const h4 = await pending;
    expect(h4).toBeGreaterThan(stuck_at);
    await until(
      net,
      (s) => s.partition === null && s.validators.every((v) => v.state === 'up' && (v.height ?? 0) >= h4),
      `every validator at ${h4}`,
    );
    const heal_twice = await cli(['sim', 'heal', '--dir', net]);
    expect(heal_twice.code).toBe(1);
    expect(heal_twice.stderr).toContain('no partition is in force');

    // A second sim up for the same folder is refused while this one runs.
    const second = await cli(['sim', 'up', '--validators', '4', '--dir', net]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`a \`sim up\` (pid ${up.pid}) runs for ${net} already`);

    // stop: sim up stops its validators, exits 0, and removes control.json.
    const stopped = await cli(['sim', 'stop', '--dir', net]);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stdout).toBe(`stopped (sim up pid ${up.pid} ended)\n`);
    expect(await exited).toBe(0);
    expect(existsSync(control_path)).toBe(false);
    expect(printed).toContain('control: v2 killed (SIGKILL)');
    for (const port of [26740, 26741, 26742, 26743, 26749])
      await expect(
        fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) }),
      ).rejects.toThrow();
    const gone = await cli(['sim', 'status', '--dir', net]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe(`cloister: no running \`sim up\` for ${net} (no control.json)\n`);
  }, 300_000);

  it('says so when control.json is stale (its sim up is gone)', async () => {
    const net = join(dir, 'stale');
    mkdirSync(net, { recursive: true });
    writeFileSync(
      join(net, 'control.json'),
      JSON.stringify({ pid: 2 ** 30, url: 'http://127.0.0.1:26749', token: 'x' }),
    );
    const r = await cli(['sim', 'kill', '--dir', net, '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `no running \`sim up\` for ${net}: ${join(net, 'control.json')} is stale (pid 1073741824 is gone)`,
    );
  });

  it('bad usage exits 2: an index or groups that are not numbers', async () => {
    const r = await cli(['sim', 'partition', '--dir', dir, '0,a/2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('like 0,1/2,3');
    const k = await cli(['sim', 'kill', '--dir', dir, 'two']);
    expect(k.code).toBe(2);
    expect(k.stderr).toContain('kill takes a validator index');
  });
});

describe('sim up: ports in use', () => {
  const listening: Server[] = [];
  afterEach(async () => {
    for (const s of listening.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  });
  const occupy = async (port: number) => {
    const s = createServer();
    await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', () => resolve()));
    listening.push(s);
  };

  it('refuses an RPC, p2p or control port in use with a clear message, before starting anything', async () => {
    await occupy(26745);
    const net = join(dir, 'busy');
    const rpc = await cli(['sim', 'up', '--validators', '4', '--dir', net, '--port', '26744']);
    expect(rpc.code).toBe(1);
    expect(rpc.stderr).toContain('port 26745 (v1 RPC) is in use');
    // Nothing was started or written: not even the genesis ceremony.
    expect(existsSync(net)).toBe(false);
    const p2p = await cli([
      'sim',
      'up',
      '--validators',
      '2',
      '--dir',
      net,
      '--port',
      '26746',
      '--p2p-port',
      '26744',
    ]);
    expect(p2p.code).toBe(1);
    expect(p2p.stderr).toContain('port 26745 (v1 p2p) is in use');
    const control = await cli([
      'sim',
      'up',
      '--validators',
      '2',
      '--dir',
      net,
      '--port',
      '26746',
      '--control-port',
      '26745',
    ]);
    expect(control.code).toBe(1);
    expect(control.stderr).toContain('port 26745 (control) is in use');
    expect(existsSync(net)).toBe(false);
  }, 60_000);
});
