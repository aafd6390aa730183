/** Keys and the key file: round trip, passphrases, mode 0600, several keys, where the file lives. */

import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ClientErrorCode,
  generate_key,
  KEYFILE_FORMAT,
  Keyring,
  KeyringError,
  key_info,
  SCRYPT_LOG_N_DEFAULT,
  WrongPassphraseError,
} from '../../client/sdk/index.js';
import { keyring_path, load_keyring, save_keyring } from '../../client/sdk/keyfile_node.js';
import { to_hex } from '../../protocol/bytes.js';
import { noble_provider as p } from '../../protocol/providers/noble.js';
import { account_address } from '../../protocol/tx.js';

const dir = mkdtempSync(join(tmpdir(), 'cloister-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** Cheap scrypt for tests; one test below uses the default cost. */
const FAST = { log_n: 4, r: 8, p: 1 };
const random = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n));

describe('keys', () => {
  it('derive the address and public keys of protocol.md §3 and §5', () => {
    const key = generate_key('alice', random);
    const info = key_info(key);
    const account_pk = p.ed25519_public(key.account_sk);
    expect(info.account_pubkey).toBe(to_hex(account_pk));
    expect(info.address).toBe(account_address(p, account_pk));
    expect(info.encryption_pubkey).toBe(to_hex(p.x25519_secret(key.encryption_sk).public_key));
  });

  it('refuse bad names at the boundary', () => {
    expect(() => generate_key('', random)).toThrow(RangeError);
    expect(() => generate_key('a b', random)).toThrow(RangeError);
    expect(() => generate_key('x'.repeat(65), random)).toThrow(RangeError);
    expect(() => generate_key(7 as unknown as string, random)).toThrow(TypeError);
  });
});

describe('the key file', () => {
  it('round-trips several keys, plain and sealed, through a file of mode 0600', async () => {
    const path = join(dir, 'nested', 'keys.json');
    const keyring = new Keyring();
    const alice = generate_key('alice', random);
    const bob = generate_key('bob', random);
    const carol = generate_key('carol', random);
    await keyring.add(alice);
    await keyring.add(bob, { passphrase: 'correct horse', scrypt: FAST });
    await keyring.add(carol, { passphrase: 'another one', scrypt: FAST });
    await save_keyring(path, keyring);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'nested')).mode & 0o777).toBe(0o700);

    const loaded = await load_keyring(path);
    expect(loaded.exists).toBe(true);
    expect(loaded.loose_permissions).toBe(false);
    expect(loaded.keyring.list().map((k) => [k.name, k.encrypted])).toEqual([
      ['alice', false],
      ['bob', true],
      ['carol', true],
    ]);
    for (const [key, passphrase] of [
      [alice, undefined],
      [bob, 'correct horse'],
      [carol, 'another one'],
    ] as const) {
      const back = await loaded.keyring.unlock(key.name, passphrase);
      expect(to_hex(back.account_sk)).toBe(to_hex(key.account_sk));
      expect(to_hex(back.encryption_sk)).toBe(to_hex(key.encryption_sk));
      expect(loaded.keyring.info(key.name)).toMatchObject(key_info(key));
    }
    // The sealed keys' secrets are nowhere in the file.
    const text = readFileSync(path, 'utf8');
    expect(text).toContain(to_hex(alice.account_sk));
    expect(text).not.toContain(to_hex(bob.account_sk));
    expect(text).not.toContain(to_hex(carol.encryption_sk));
    expect(JSON.parse(text)).toMatchObject({ format: KEYFILE_FORMAT, version: 1 });
  });

  it('a wrong or missing passphrase is a typed error with a clear message', async () => {
    const keyring = new Keyring();
    await keyring.add(generate_key('bob', random), { passphrase: 'right', scrypt: FAST });
    const wrong = await keyring.unlock('bob', 'wrong').catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(WrongPassphraseError);
    expect((wrong as WrongPassphraseError).code).toBe(ClientErrorCode.WRONG_PASSPHRASE);
    expect((wrong as Error).message).toMatch(/^wrong passphrase for key "bob"/);
    await expect(keyring.unlock('bob')).rejects.toMatchObject({
      code: ClientErrorCode.PASSPHRASE_REQUIRED,
      message: expect.stringContaining('--passphrase-file'),
    });
    await expect(keyring.unlock('nobody')).rejects.toMatchObject({ code: ClientErrorCode.KEY_NOT_FOUND });
  });

  it('seals with scrypt N=2^15, r=8, p=1 by default', async () => {
    const keyring = new Keyring();
    const key = generate_key('k', random);
    await keyring.add(key, { passphrase: 'pass' });
    const entry = (JSON.parse(keyring.serialize()) as { keys: { secret: Record<string, unknown> }[] })
      .keys[0]!;
    expect(entry.secret).toMatchObject({
      type: 'scrypt-aes-256-gcm',
      log_n: SCRYPT_LOG_N_DEFAULT,
      r: 8,
      p: 1,
    });
    expect(to_hex((await keyring.unlock('k', 'pass')).account_sk)).toBe(to_hex(key.account_sk));
  });

  it('binds the public data: an entry whose public keys were swapped does not open', async () => {
    const keyring = new Keyring();
    await keyring.add(generate_key('a', random), { passphrase: 'x', scrypt: FAST });
    await keyring.add(generate_key('b', random), { passphrase: 'x', scrypt: FAST });
    const file = JSON.parse(keyring.serialize()) as { keys: Record<string, unknown>[] };
    const [a, b] = file.keys as [Record<string, unknown>, Record<string, unknown>];
    [a['secret'], b['secret']] = [b['secret'], a['secret']];
    const swapped = new Keyring({ json: JSON.stringify(file) });
    await expect(swapped.unlock('a', 'x')).rejects.toBeInstanceOf(WrongPassphraseError);
  });

  it('refuses duplicate names, and files that are not key files', async () => {
    const keyring = new Keyring();
    await keyring.add(generate_key('a', random));
    await expect(keyring.add(generate_key('a', random))).rejects.toMatchObject({
      code: ClientErrorCode.KEY_EXISTS,
    });
    for (const bad of ['nope', '{}', '{"format":"cloister-keyring","version":2,"keys":[]}']) {
      expect(() => new Keyring({ json: bad })).toThrow(KeyringError);
    }
    const file = JSON.parse(keyring.serialize()) as { keys: Record<string, unknown>[] };
    file.keys[0]!['address'] = '00'.repeat(20);
    expect(() => new Keyring({ json: JSON.stringify(file) })).toThrow(/does not belong/);
    const path = join(dir, 'garbage.json');
    writeFileSync(path, 'garbage');
    await expect(load_keyring(path)).rejects.toMatchObject({ code: ClientErrorCode.KEYRING_INVALID });
  });

  it('deletes a key and keeps the others', async () => {
    const path = join(dir, 'delete.json');
    const keyring = new Keyring();
    await keyring.add(generate_key('a', random));
    await keyring.add(generate_key('b', random));
    keyring.remove('a');
    await save_keyring(path, keyring);
    expect((await load_keyring(path)).keyring.list().map((k) => k.name)).toEqual(['b']);
  });

  it('is missing until the first key is saved, and warns about loose permissions', async () => {
    const path = join(dir, 'later.json');
    const missing = await load_keyring(path);
    expect(missing).toMatchObject({ exists: false });
    expect(missing.keyring.list()).toEqual([]);
    writeFileSync(path, new Keyring().serialize(), { mode: 0o644 });
    expect((await load_keyring(path)).loose_permissions).toBe(true);
  });

  it('lives at --keyring, else $CLOISTER_KEYRING, else ~/.cloister/keys.json', () => {
    expect(keyring_path({ flag: '/x/k.json', env: { CLOISTER_KEYRING: '/y/k.json' } })).toBe('/x/k.json');
    expect(keyring_path({ env: { CLOISTER_KEYRING: '/y/k.json' } })).toBe('/y/k.json');
    expect(keyring_path({ env: {}, home: '/home/u' })).toBe('/home/u/.cloister/keys.json');
  });
});
