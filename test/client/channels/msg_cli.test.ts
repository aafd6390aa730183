/**
 * `cloister msg seal|open` on a live 1-validator development network (RPC 26610): dev0, dev1 and
 * dev2 publish directory keys with `cloister directory publish`; dev0 seals for dev1, dev1 opens
 * it (a fresh process each time, so the seen-id store's persistence is what refuses the second
 * open: exit 1 with "replay"); a tampered envelope and the envelope opened by dev2 both exit 1 with
 * one identical message. Needs `npx tsc -p tsconfig.build.json` first.
 */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CANNOT_OPEN_MESSAGE } from '../../../client/sdk/channels/kilt.js';
import { dev_keys, key_info } from '../../../client/sdk/index.js';
import { LiveNetwork } from './live_network.js';

let net: LiveNetwork;
const address: Record<string, string> = {};

/** Seals `text` from dev0 for `to` and answers the envelope line. */
async function seal(text: string, to = `cloister:${address['dev1']}#kx1`): Promise<string> {
  const out = await net.ok(['msg', 'seal', '--key', 'dev0', '--to', to, text]);
  expect(out.endsWith('\n')).toBe(true);
  expect(out.trimEnd().split('\n')).toHaveLength(1);
  return out.trim();
}

beforeAll(async () => {
  net = await LiveNetwork.up(26610, 'cloister-msg-');
  for (const k of dev_keys()) address[k.name] = key_info(k).address;
  for (const name of ['dev0', 'dev1', 'dev2']) await net.ok(['directory', 'publish', '--key', name]);
}, 180_000);

afterAll(async () => {
  await net?.down();
});

describe('cloister msg, live', () => {
  it('seal prints one line of envelope JSON; open prints the text, once; the second open exits 1 with "replay"', async () => {
    const line = await seal('hello dev1, from dev0');
    const envelope = JSON.parse(line) as Record<string, string>;
    expect(Object.keys(envelope).sort()).toEqual(['ciphertext', 'nonce', 'receiverKeyUri', 'senderKeyUri']);
    expect(envelope['senderKeyUri']).toBe(`cloister:${address['dev0']}#kx1`);
    expect(envelope['receiverKeyUri']).toBe(`cloister:${address['dev1']}#kx1`);

    expect(await net.ok(['msg', 'open', '--key', 'dev1'], { stdin: line })).toBe('hello dev1, from dev0\n');
    // The default seen store: beside the key file.
    expect(existsSync(join(net.dir, 'channels', 'dev1', 'kilt-seen-ids.json'))).toBe(true);

    const again = await net.cloister(['msg', 'open', '--key', 'dev1'], { stdin: line });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/replay/);
    expect(again.stdout).toBe('');
    const json = await net.cloister(['msg', 'open', '--key', 'dev1', '--json'], { stdin: line });
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

    const changed = await net.cloister(['msg', 'open', '--key', 'dev1'], { stdin: tampered });
    const wrong_receiver = await net.cloister(['msg', 'open', '--key', 'dev2'], { stdin: line });
    const wrong_sender_uri = await net.cloister(['msg', 'open', '--key', 'dev1'], {
      stdin: JSON.stringify({ ...envelope, senderKeyUri: `cloister:${address['dev2']}#kx1` }),
    });
    // A key URI the directory does not know (dev3 never published): the same error, not a typed one.
    const unknown_sender_uri = await net.cloister(['msg', 'open', '--key', 'dev1'], {
      stdin: JSON.stringify({ ...envelope, senderKeyUri: `cloister:${address['dev3']}#kx1` }),
    });
    for (const run of [changed, wrong_receiver, wrong_sender_uri, unknown_sender_uri]) {
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
    expect(changed.stderr).toContain(CANNOT_OPEN_MESSAGE);
    expect(wrong_receiver.stderr).toBe(changed.stderr);
    expect(wrong_sender_uri.stderr).toBe(changed.stderr);
    expect(unknown_sender_uri.stderr).toBe(changed.stderr);

    // The same with --json: one error object.
    const a = await net.cloister(['msg', 'open', '--key', 'dev1', '--json'], { stdin: tampered });
    const b = await net.cloister(['msg', 'open', '--key', 'dev2', '--json'], { stdin: line });
    expect(a.stdout).toBe(b.stdout);
    expect(JSON.parse(a.stdout)).toEqual({
      ok: false,
      error: { code: 310, name: 'CannotOpenError', message: CANNOT_OPEN_MESSAGE },
    });

    // None of those attempts used up the genuine envelope.
    expect(await net.ok(['msg', 'open', '--key', 'dev1'], { stdin: line })).toBe('for dev1 only\n');
  });

  it('--seen FILE keeps its own store; --json prints the whole message; --to takes a key name', async () => {
    const line = await seal('with a seen file', 'dev1');
    const seen = join(net.dir, 'elsewhere', 'seen.txt');
    const message = JSON.parse(
      await net.ok(['msg', 'open', '--key', 'dev1', '--seen', seen, '--json'], { stdin: line }),
    );
    expect(message).toEqual({
      body: { type: 'text', content: 'with a seen file' },
      createdAt: expect.any(Number),
      sender: `cloister:${address['dev0']}`,
      receiver: `cloister:${address['dev1']}`,
      messageId: expect.stringMatching(/^0x[0-9a-f]{64}$/),
    });
    expect(readFileSync(seen, 'utf8')).toContain(message.messageId);
    const again = await net.cloister(['msg', 'open', '--key', 'dev1', '--seen', seen], { stdin: line });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/replay/);
  });

  it('sealing to a key the directory does not hold, or with nothing on stdin, fails clearly', async () => {
    const unknown = await net.cloister([
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
    const empty = await net.cloister(['msg', 'open', '--key', 'dev1'], { stdin: '' });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/stdin is empty/);
  });
});
