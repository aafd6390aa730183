/**
 * `cloister kx3` on a live 1-validator development network (RPC 26620): dev0 and dev1 run the
 * three-phase exchange over the mailbox system contract. First contact sends both keys and pins
 * them (trust on first use reported), the second run skips phase 2, a rotated key id on dev1's side
 * aborts with "fingerprint changed … possible man in the middle" (exit 1, code 341) until --repin,
 * and a peer in another key file (--peer-keyring) keeps its store beside that file. The session key
 * never reaches stdout; the stores hold it sealed; --check-directory refuses keys the directory does not list. Needs `npx tsc -p tsconfig.build.json` first.
 */

import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dev_keys, key_info } from '../../../client/sdk/index.js';
import { LiveNetwork } from './live_network.js';

let net: LiveNetwork;
const address: Record<string, string> = {};

interface SideJson {
  name: string;
  address: string;
  key_fingerprint: string;
  peer_fingerprint: string;
  pin_status: string;
  sent_keys: boolean;
  store: string;
}

beforeAll(async () => {
  // A kx3 run waits on the chain for both sides: up to 170 s a process.
  net = await LiveNetwork.up(26620, 'cloister-kx3-', { cli_timeout_ms: 170_000 });
  for (const k of dev_keys()) address[k.name] = key_info(k).address;
}, 180_000);

afterAll(async () => {
  await net?.down();
});

describe('cloister kx3, live', () => {
  it('--help explains the phases, the pinning and the stores', async () => {
    const run = await net.run_ok(['kx3', '--help']);
    for (const words of [
      '--peer-keyring',
      '--key-id',
      '--timeout',
      '--repin',
      'PING',
      'COMMIT',
      'possible man in the',
      'channels',
    ])
      expect(run.stdout).toContain(words);
  });

  it('first contact: both keys travel, both sides pin (trust on first use), the same key on both sides, stored sealed', async () => {
    const run = await net.run_ok(['kx3', '--key', 'dev0', '--peer', 'dev1']);
    expect(run.stdout).toMatch(/keys match\s+yes/);
    const fps = [...run.stdout.matchAll(/^dev[01] key\s+([0-9a-f ]+)$/gm)].map((m) => m[1]);
    expect(fps).toHaveLength(2);
    expect(fps[0]).toBe(fps[1]);
    for (const phase of [1, 2, 3]) expect(run.stderr).toContain(`phase ${phase}:`);
    expect(run.stderr).toMatch(/kx3 dev0: phase 2: warning: first contact/);
    expect(run.stderr).toMatch(/kx3 dev1: phase 2: warning: first contact/);
    for (const [me, peer] of [
      ['dev0', 'dev1'],
      ['dev1', 'dev0'],
    ] as const) {
      const store = join(net.dir, 'channels', me);
      const key_doc = readFileSync(join(store, `kx3-key-${address[peer]}.json`), 'utf8');
      const pin_doc = readFileSync(join(store, `kx3-pin-${address[peer]}.json`), 'utf8');
      expect(key_doc.startsWith('sealed1:')).toBe(true);
      expect(pin_doc.startsWith('sealed1:')).toBe(true);
    }
  }, 180_000);

  it('second run: phase 2 skipped (pinned fingerprints match), a new session key', async () => {
    const first = await net.json<{ session_id: string; match: boolean; sides: SideJson[] }>([
      'kx3',
      '--key',
      'dev0',
      '--peer',
      'dev1',
    ]);
    const run = await net.run_ok(['kx3', '--key', 'dev0', '--peer', 'dev1', '--json']);
    const out = JSON.parse(run.stdout) as typeof first;
    expect(out.match).toBe(true);
    expect(out.session_id).not.toBe(first.session_id);
    expect(out.sides.map((s) => s.pin_status)).toEqual(['pinned', 'pinned']);
    expect(out.sides.map((s) => s.sent_keys)).toEqual([false, false]);
    expect(out.sides[0]!.key_fingerprint).toBe(out.sides[1]!.key_fingerprint);
    expect(out.sides[0]!.key_fingerprint).not.toBe(first.sides[0]!.key_fingerprint);
    expect(run.stderr).toContain("skipped: both sides hold each other's keys");
  }, 180_000);

  it('a changed fingerprint (dev1 on key id kx2) aborts with exit 1 and "possible man in the middle" until --repin', async () => {
    const refused = await net.cloister([
      'kx3',
      '--key',
      'dev0',
      '--peer',
      'dev1',
      '--peer-key-id',
      'kx2',
      '--timeout',
      '60',
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/fingerprint changed for [0-9a-f]{40}: .*possible man in the middle/);
    expect(refused.stderr).toContain('[code 341]');
    expect(refused.stdout).toBe('');
    const json = await net.cloister([
      'kx3',
      '--key',
      'dev0',
      '--peer',
      'dev1',
      '--peer-key-id',
      'kx2',
      '--timeout',
      '60',
      '--json',
    ]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      error: { code: 341, name: 'FingerprintChangedError' },
    });

    const repinned = await net.run_ok([
      'kx3',
      '--key',
      'dev0',
      '--peer',
      'dev1',
      '--peer-key-id',
      'kx2',
      '--repin',
    ]);
    expect(repinned.stdout).toMatch(/keys match\s+yes/);
    expect(repinned.stdout).toContain('re-pinned');
    expect(repinned.stderr).toMatch(/warning: re-pinning the peer/);
  }, 240_000);

  it('--peer-keyring: the peer in another key file keeps its store beside that file', async () => {
    const other = join(net.dir, 'other');
    mkdirSync(other);
    const peer_file = join(other, 'keys.json');
    copyFileSync(net.keyring, peer_file);
    const run = await net.run_ok([
      'kx3',
      '--key',
      'dev0',
      '--peer',
      'dev2',
      '--peer-keyring',
      peer_file,
      '--json',
    ]);
    const out = JSON.parse(run.stdout) as { match: boolean; sides: SideJson[] };
    expect(out.match).toBe(true);
    expect(out.sides[1]!.store).toBe(join(other, 'channels', 'dev2'));
    expect(readFileSync(join(other, 'channels', 'dev2', `kx3-key-${address['dev0']}.json`), 'utf8')).toMatch(
      /^sealed1:/,
    );
  }, 180_000);

  it('--check-directory: the key-agreement keys must be the ones the directory lists', async () => {
    const unlisted = await net.cloister(['kx3', '--key', 'dev2', '--peer', 'dev3', '--check-directory']);
    expect(unlisted.code).toBe(1);
    expect(unlisted.stderr).toMatch(/unknown key cloister:[0-9a-f]{40}#kx1/);
    await net.ok(['directory', 'publish', '--key', 'dev2']);
    await net.ok(['directory', 'publish', '--key', 'dev3']);
    const run = await net.run_ok(['kx3', '--key', 'dev2', '--peer', 'dev3', '--check-directory']);
    expect(run.stdout).toMatch(/keys match\s+yes/);
  }, 240_000);
});
