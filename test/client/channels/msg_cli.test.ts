/**
 * `cloister msg seal|open` on a live 1-validator development network (RPC 26610): dev0, dev1 and
 * dev2 publish directory keys with `cloister directory publish`; dev0 seals for dev1, dev1 opens
 * it (a fresh process each time, so the seen-id store's persistence is what refuses the second
 * open: exit 1 with "replay"); a tampered envelope and the envelope opened by dev2 both exit 1 with
 * one identical message. Needs `npx tsc -p tsconfig.build.json` first.
 */

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CANNOT_OPEN_MESSAGE } from '../../../client/sdk/channels/kilt.js';
import { dev_keys, key_info } from '../../../client/sdk/index.js';
import { find_code_root } from '../../../enclave/measurement.js';
import { LocalNetwork } from '../../../sim/network.js';

const PORT = 26610;
const root = find_code_root();
let dir = '';
let net: LocalNetwork;
let node = '';
let keyring = '';
const address: Record<string, string> = {};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cloister ARGS --node NODE` with the test's key file, `stdin` piped in; never throws. */
function cloister(args: string[], stdin = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(root, 'bin', 'cloister.js'), ...args, ...(args[0] === 'keys' ? [] : ['--node', node])],
      { env: { ...process.env, CLOISTER_KEYRING: keyring, CLOISTER_PASSPHRASE: '' }, timeout: 120_000 },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

async function ok(args: string[], stdin = ''): Promise<string> {
  const run = await cloister(args, stdin);
  if (run.code !== 0)
    throw new Error(`cloister ${args.join(' ')} exited ${run.code}: ${run.stderr}${run.stdout}`);
  return run.stdout;
}

/** Seals `text` from dev0 for `to` and answers the envelope line. */
async function seal(text: string, to = `cloister:${address['dev1']}#kx1`): Promise<string> {
  const out = await ok(['msg', 'seal', '--key', 'dev0', '--to', to, text]);
  expect(out.endsWith('\n')).toBe(true);
  expect(out.trimEnd().split('\n')).toHaveLength(1);
  return out.trim();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cloister-msg-'));
  net = await LocalNetwork.up({ validators: 1, dir: join(dir, 'net'), port: PORT, dev: true });
  node = net.urls()[0]!;
  keyring = join(dir, 'keys.json');
  for (const k of dev_keys()) address[k.name] = key_info(k).address;
  await ok(['keys', 'import-dev']);
  for (const name of ['dev0', 'dev1', 'dev2']) await ok(['directory', 'publish', '--key', name]);
}, 180_000);

afterAll(async () => {
  await net?.down();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('cloister msg, live', () => {
  it('seal prints one line of envelope JSON; open prints the text, once; the second open exits 1 with "replay"', async () => {
    const line = await seal('hello dev1, from dev0');
    const envelope = JSON.parse(line) as Record<string, string>;
    expect(Object.keys(envelope).sort()).toEqual(['ciphertext', 'nonce', 'receiverKeyUri', 'senderKeyUri']);
    expect(envelope['senderKeyUri']).toBe(`cloister:${address['dev0']}#kx1`);
    expect(envelope['receiverKeyUri']).toBe(`cloister:${address['dev1']}#kx1`);

    expect(await ok(['msg', 'open', '--key', 'dev1'], line)).toBe('hello dev1, from dev0\n');
    // The default seen store: beside the key file.
    expect(existsSync(join(dir, 'channels', 'dev1', 'kilt-seen-ids.json'))).toBe(true);

    const again = await cloister(['msg', 'open', '--key', 'dev1'], line);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/replay/);
    expect(again.stdout).toBe('');
    const json = await cloister(['msg', 'open', '--key', 'dev1', '--json'], line);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { code: 311, name: 'ReplayError' } });
  });

  it('a tampered envelope and an envelope opened by another key exit 1 with one identical message', async () => {
    const line = await seal('for dev1 only');
    const envelope = JSON.parse(line) as Record<string, string>;
    const c = envelope['ciphertext']!;
    const tampered = JSON.stringify({
      ...envelope,
      ciphertext: `${c.slice(0, 40)}${c[40] === '0' ? '1' : '0'}${c.slice(41)}`,
    });

    const changed = await cloister(['msg', 'open', '--key', 'dev1'], tampered);
    const wrong_receiver = await cloister(['msg', 'open', '--key', 'dev2'], line);
    const wrong_sender_uri = await cloister(
      ['msg', 'open', '--key', 'dev1'],
      JSON.stringify({ ...envelope, senderKeyUri: `cloister:${address['dev2']}#kx1` }),
    );
    for (const run of [changed, wrong_receiver, wrong_sender_uri]) {
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
    expect(changed.stderr).toContain(CANNOT_OPEN_MESSAGE);
    expect(wrong_receiver.stderr).toBe(changed.stderr);
    expect(wrong_sender_uri.stderr).toBe(changed.stderr);

    // The same with --json: one error object.
    const a = await cloister(['msg', 'open', '--key', 'dev1', '--json'], tampered);
    const b = await cloister(['msg', 'open', '--key', 'dev2', '--json'], line);
    expect(a.stdout).toBe(b.stdout);
    expect(JSON.parse(a.stdout)).toEqual({
      ok: false,
      error: { code: 310, name: 'CannotOpenError', message: CANNOT_OPEN_MESSAGE },
    });

    // None of those attempts used up the genuine envelope.
    expect(await ok(['msg', 'open', '--key', 'dev1'], line)).toBe('for dev1 only\n');
  });

  it('--seen FILE keeps its own store; --json prints the whole message; --to takes a key name', async () => {
    const line = await seal('with a seen file', 'dev1');
    const seen = join(dir, 'elsewhere', 'seen.txt');
    const message = JSON.parse(await ok(['msg', 'open', '--key', 'dev1', '--seen', seen, '--json'], line));
    expect(message).toEqual({
      body: { type: 'text', content: 'with a seen file' },
      createdAt: expect.any(Number),
      sender: `cloister:${address['dev0']}`,
      receiver: `cloister:${address['dev1']}`,
      messageId: expect.stringMatching(/^0x[0-9a-f]{64}$/),
    });
    expect(readFileSync(seen, 'utf8')).toContain(message.messageId);
    const again = await cloister(['msg', 'open', '--key', 'dev1', '--seen', seen], line);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/replay/);
  });

  it('sealing to a key the directory does not hold, or with nothing on stdin, fails clearly', async () => {
    const unknown = await cloister([
      'msg',
      'seal',
      '--key',
      'dev0',
      '--to',
      `cloister:${address['dev3']}#kx1`,
      'x',
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown key .*#kx1/);
    const empty = await cloister(['msg', 'open', '--key', 'dev1'], '');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/stdin is empty/);
  });
});
