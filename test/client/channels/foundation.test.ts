/**
 * The pieces every channel shares (docs/channels.md): key URIs, key-agreement keys derived per
 * key id, framed encoding, sealed local storage (in memory and as files), and system contract
 * addresses.
 */

import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { framed } from '../../../client/sdk/channels/encoding.js';
import { key_uri, parse_key_uri } from '../../../client/sdk/channels/key_uri.js';
import { derived_secret, kx_key_pair, x25519_shared } from '../../../client/sdk/channels/kx_keys.js';
import { ReplayGuard } from '../../../client/sdk/channels/replay_guard.js';
import {
  type ChannelStorage,
  MemoryStorage,
  SealedDocumentError,
  sealed_storage,
} from '../../../client/sdk/channels/storage.js';
import { FileStorage, LOCK_STALE_MS } from '../../../client/sdk/channels/storage_file_node.js';
import { dev_keys, key_info } from '../../../client/sdk/keys.js';
import { from_hex, to_hex, utf8 } from '../../../protocol/bytes.js';
import { get_provider } from '../../../protocol/providers/index.js';
import { SYSTEM_CONTRACTS, system_contract_address, system_contracts_of } from '../../../protocol/system.js';

const p = get_provider('native');
const [alice, bob] = dev_keys() as [ReturnType<typeof dev_keys>[0], ReturnType<typeof dev_keys>[0]];
const A = key_info(alice).address;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('key URIs', () => {
  test('format and parse round-trip', () => {
    const uri = key_uri(A, 'kx1');
    expect(uri).toBe(`cloister:${A}#kx1`);
    expect(parse_key_uri(uri)).toEqual({ address: A, key_id: 'kx1' });
  });

  test.each([
    ['no scheme', `${A}#kx1`],
    ['another scheme', `did:kilt:${A}#kx1`],
    ['no fragment', `cloister:${A}`],
    ['empty key id', `cloister:${A}#`],
    ['upper-case address', `cloister:${A.toUpperCase()}#kx1`],
    ['short address', `cloister:${A.slice(2)}#kx1`],
    ['key id with a slash', `cloister:${A}#kx/1`],
    ['key id too long', `cloister:${A}#${'k'.repeat(33)}`],
    ['two fragments', `cloister:${A}#kx1#kx2`],
  ])('refuses %s with a TypeError', (_, uri) => {
    expect(() => parse_key_uri(uri)).toThrow(TypeError);
  });

  test('refuses what is not a string', () => {
    expect(() => parse_key_uri(42)).toThrow(TypeError);
    expect(() => key_uri(A, 'KX1')).toThrow(TypeError);
  });
});

describe('key-agreement keys', () => {
  test('are deterministic per key and key id, independent across ids and of the envelope key', () => {
    const a1 = kx_key_pair(alice, 'kx1');
    expect(to_hex(kx_key_pair(alice, 'kx1').public_key)).toBe(to_hex(a1.public_key));
    expect(to_hex(kx_key_pair(alice, 'kx2').public_key)).not.toBe(to_hex(a1.public_key));
    expect(to_hex(kx_key_pair(bob, 'kx1').public_key)).not.toBe(to_hex(a1.public_key));
    expect(to_hex(a1.public_key)).not.toBe(key_info(alice).encryption_pubkey);
    expect(to_hex(a1.secret_key)).not.toBe(to_hex(alice.encryption_sk));
  });

  test('agree: X25519 both ways gives one secret; a small-order point gives null', () => {
    const a = kx_key_pair(alice, 'kx1');
    const b = kx_key_pair(bob, 'kx1');
    expect(to_hex(x25519_shared(a.secret_key, b.public_key)!)).toBe(
      to_hex(x25519_shared(b.secret_key, a.public_key)!),
    );
    expect(x25519_shared(a.secret_key, new Uint8Array(32))).toBeNull();
  });

  test('derived secrets differ per purpose and per key', () => {
    const v = to_hex(derived_secret(alice, 'mailbox-viewing-key'));
    expect(to_hex(derived_secret(alice, 'channel-store'))).not.toBe(v);
    expect(to_hex(derived_secret(bob, 'mailbox-viewing-key'))).not.toBe(v);
    expect(() => derived_secret(alice, '')).toThrow(TypeError);
  });
});

describe('framed encoding', () => {
  test('moving bytes between neighbouring parts changes the encoding (a plain concatenation would not)', () => {
    expect(to_hex(framed('d', 'ab', 'c'))).not.toBe(to_hex(framed('d', 'a', 'bc')));
    expect(to_hex(framed('d1', 'x'))).not.toBe(to_hex(framed('d', '1x')));
  });

  test('lays out 4-byte lengths, UTF-8 strings, bytes and 8-byte numbers', () => {
    expect(to_hex(framed('d', utf8('é'), 258))).toBe(
      `00000001${to_hex(utf8('d'))}00000002c3a9000000080000000000000102`,
    );
    expect(() => framed('d', -1)).toThrow(RangeError);
  });
});

describe('channel storage', () => {
  test('memory storage keeps documents and checks names', async () => {
    const s = new MemoryStorage();
    expect(await s.get('contacts')).toBeNull();
    await s.set('contacts', '{}');
    expect(await s.get('contacts')).toBe('{}');
    await s.remove('contacts');
    expect(await s.get('contacts')).toBeNull();
    await expect(s.set('../escape', 'x')).rejects.toThrow(TypeError);
  });

  test('sealed storage hides the text, binds the name, and refuses another key or a change', async () => {
    const inner = new MemoryStorage();
    const key = derived_secret(alice, 'channel-store');
    const sealed = sealed_storage(inner, key);
    await sealed.set('contacts', 'CANARY-secret-communication-key');
    expect(await sealed.get('contacts')).toBe('CANARY-secret-communication-key');
    const raw = (await inner.get('contacts'))!;
    expect(raw).not.toContain('CANARY');
    await expect(sealed_storage(inner, derived_secret(bob, 'channel-store')).get('contacts')).rejects.toThrow(
      SealedDocumentError,
    );
    // The same sealed text under another name does not open: documents cannot be swapped.
    await inner.set('pins', raw);
    await expect(sealed.get('pins')).rejects.toThrow(SealedDocumentError);
    await inner.set('contacts', `${raw.slice(0, -4)}AAAA`);
    await expect(sealed.get('contacts')).rejects.toThrow(SealedDocumentError);
  });

  test('file storage writes atomically with mode 0600 and reads back after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cloister-channels-'));
    dirs.push(dir);
    const where = join(dir, 'channels', 'alice');
    await new FileStorage(where).set('seen', '["a"]');
    expect(statSync(join(where, 'seen.json')).mode & 0o777).toBe(0o600);
    expect(statSync(where).mode & 0o777).toBe(0o700);
    expect(await new FileStorage(where).get('seen')).toBe('["a"]');
    expect(await new FileStorage(where).get('absent')).toBeNull();
    // A leftover temporary file from a crash mid-write does not change what is read.
    writeFileSync(join(where, 'seen.json.999.tmp'), 'half');
    expect(await new FileStorage(where).get('seen')).toBe('["a"]');
    await new FileStorage(where).remove('seen');
    expect(await new FileStorage(where).get('seen')).toBeNull();
    expect(readFileSync(join(where, 'seen.json.999.tmp'), 'utf8')).toBe('half');
  });
});

/** `storage` with 5 ms before every read and write; its lock as it is. */
function slow(storage: FileStorage): ChannelStorage {
  const pause = () => new Promise((r) => setTimeout(r, 5));
  return {
    get: async (name) => {
      await pause();
      return storage.get(name);
    },
    set: async (name, text) => {
      await pause();
      return storage.set(name, text);
    },
    remove: (name) => storage.remove(name),
    exclusive: (name, work) => storage.exclusive(name, work),
  };
}

describe('file storage across processes', () => {
  function temp(): string {
    const dir = mkdtempSync(join(tmpdir(), 'cloister-lock-'));
    dirs.push(dir);
    return dir;
  }

  test('one file for every document (msg open --seen FILE)', async () => {
    const file = join(temp(), 'seen', 'my-seen.json');
    const single = FileStorage.single(file);
    await single.set('anything', 'one');
    expect(readFileSync(file, 'utf8')).toBe('one');
    expect(await single.get('other-name')).toBe('one');
  });

  test('two stores over one file (two processes) accept a message once: the lock file serialises them', async () => {
    const dir = temp();
    const NOW = 1_800_000_000_000;
    for (let round = 0; round < 5; round++) {
      // Separate FileStorage objects share no in-process lock, as two processes would not; slow
      // reads and writes hold the race open (without the lock file both would accept).
      const guards = [
        new ReplayGuard(slow(new FileStorage(dir))),
        new ReplayGuard(slow(new FileStorage(dir))),
      ];
      const results = await Promise.allSettled(guards.map((g) => g.accept(`id-${round}`, NOW, NOW)));
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    }
    expect(await new ReplayGuard(new FileStorage(dir)).size(NOW)).toBe(5);
  });

  test('a held lock makes the other wait; a stale one (its holder died) is taken over', async () => {
    const dir = temp();
    const a = new FileStorage(dir);
    const order: string[] = [];
    let release = () => {};
    let entered = () => {};
    const a_in = new Promise<void>((r) => {
      entered = r;
    });
    const held = a.exclusive('doc', async () => {
      order.push('a in');
      entered();
      await new Promise<void>((r) => {
        release = r;
      });
      order.push('a out');
    });
    await a_in;
    const b = new FileStorage(dir).exclusive('doc', async () => order.push('b in'));
    // b retries every 20 ms: after 100 ms it would have got in, were the lock not held.
    await new Promise((r) => setTimeout(r, 100));
    expect(order).toEqual(['a in']);
    release();
    await Promise.all([held, b]);
    expect(order).toEqual(['a in', 'a out', 'b in']);

    // A lock file left by a crash, older than LOCK_STALE_MS.
    const lock = join(dir, 'doc.json.lock');
    writeFileSync(lock, '999999');
    const old_s = (Date.now() - LOCK_STALE_MS - 5_000) / 1000;
    utimesSync(lock, old_s, old_s);
    expect(await new FileStorage(dir).exclusive('doc', async () => 'taken over')).toBe('taken over');
  });

  test('a holder whose work outlasts the stale age keeps its lock: it renews it', async () => {
    const dir = temp();
    const stale_ms = 150;
    const order: string[] = [];
    let entered = () => {};
    const a_in = new Promise<void>((r) => {
      entered = r;
    });
    const held = new FileStorage(dir, { lock_stale_ms: stale_ms }).exclusive('doc', async () => {
      order.push('a in');
      entered();
      // Four stale ages: a waiter that saw the lock's time stand still would take it over.
      await new Promise((r) => setTimeout(r, 4 * stale_ms));
      order.push('a out');
    });
    await a_in;
    const b = new FileStorage(dir, { lock_stale_ms: stale_ms }).exclusive('doc', async () =>
      order.push('b in'),
    );
    await Promise.all([held, b]);
    expect(order).toEqual(['a in', 'a out', 'b in']);
    expect(() => new FileStorage(dir, { lock_stale_ms: 2 })).toThrow(RangeError);
  });

  test('waiters that all find one stale lock take it over one at a time', async () => {
    const dir = temp();
    const lock = join(dir, 'doc.json.lock');
    for (let round = 0; round < 20; round++) {
      writeFileSync(lock, '999999');
      const old_s = (Date.now() - LOCK_STALE_MS - 5_000) / 1000;
      utimesSync(lock, old_s, old_s);
      let inside = 0;
      let most_inside = 0;
      // Started a little apart, so one may look at the stale lock just before another replaces it.
      const waiters = Array.from({ length: 8 }, async (_, i) => {
        for (let tick = 0; tick < i * (round % 4); tick++) await new Promise((r) => setImmediate(r));
        return new FileStorage(dir).exclusive('doc', async () => {
          inside += 1;
          most_inside = Math.max(most_inside, inside);
          // Long enough for every other waiter to look at the lock meanwhile.
          await new Promise((r) => setTimeout(r, 5));
          inside -= 1;
        });
      });
      await Promise.all(waiters);
      expect(most_inside).toBe(1);
    }
  });
});

describe('system contract addresses', () => {
  test('are a hash of the code hash, differ per code, and are found among genesis codes by name', () => {
    const h1 = to_hex(p.sha256(utf8('one')));
    const h2 = to_hex(p.sha256(utf8('two')));
    const a1 = system_contract_address(p, h1);
    expect(a1).toMatch(/^[0-9a-f]{40}$/);
    expect(a1).toBe(to_hex(p.sha256(utf8(`cloister/system-contract/v1\n${h1}`)).subarray(0, 20)));
    expect(system_contract_address(p, h2)).not.toBe(a1);
    expect(() => system_contract_address(p, 'AB')).toThrow(TypeError);
    const found = system_contracts_of(p, [
      { name: 'echo', code_hash: h2 },
      { name: 'directory', code_hash: h1 },
    ]);
    expect(found).toEqual({ directory: a1 });
    expect(SYSTEM_CONTRACTS).toEqual(['directory', 'mailbox', 'stream_acl', 'key_keeper']);
    expect(from_hex(a1).length).toBe(20);
  });
});
