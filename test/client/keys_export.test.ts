/**
 * Moving keys between key files: `Keyring.export`/`import` (a sealed key stays sealed and still
 * opens with its passphrase; a taken name refuses the whole import), `cloister keys
 * export|import`, and the hidden passphrase prompt (what is typed is not echoed). Needs
 * `npm run build` for the CLI part.
 */

import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { prompt_hidden } from '../../client/cli/prompt.js';
import { ClientErrorCode, generate_key, Keyring, KeyringError, web_random } from '../../client/sdk/index.js';
import { find_code_root } from '../../enclave/measurement.js';
import { temp_home } from '../enclave/fixtures.js';

const FAST = { log_n: 4, r: 8, p: 1 };
const home = temp_home('cloister-keys-export-');
afterAll(() => home.remove());

describe('Keyring export and import', () => {
  it('round-trips a plain and a sealed key; the sealed one stays sealed and opens with its passphrase', async () => {
    const from = new Keyring();
    const plain = generate_key('plain', web_random);
    await from.add(plain);
    await from.add(generate_key('sealed', web_random), { passphrase: 'correct horse', scrypt: FAST });
    const to = new Keyring();
    expect(to.import(from.export('plain')).map((k) => k.name)).toEqual(['plain']);
    const sealed_text = from.export('sealed');
    expect(sealed_text).not.toContain('account_sk');
    expect(to.import(sealed_text)[0]).toMatchObject({ name: 'sealed', encrypted: true });
    expect((await to.unlock('plain')).account_sk).toEqual(plain.account_sk);
    await expect(to.unlock('sealed')).rejects.toMatchObject({ code: ClientErrorCode.PASSPHRASE_REQUIRED });
    expect((await to.unlock('sealed', 'correct horse')).name).toBe('sealed');
  });

  it('refuses the whole import when a name is taken, and text that is not a key file', async () => {
    const a = new Keyring();
    await a.add(generate_key('x', web_random));
    await a.add(generate_key('y', web_random));
    const b = new Keyring();
    await b.add(generate_key('y', web_random));
    const error = (() => {
      try {
        b.import(a.serialize());
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(KeyringError);
    expect((error as KeyringError).code).toBe(ClientErrorCode.KEY_EXISTS);
    expect(b.list().map((k) => k.name)).toEqual(['y']);
    expect(() => b.import('{"format": "other"}')).toThrow(KeyringError);
  });
});

describe('the hidden passphrase prompt', () => {
  it('asks, reads one line, and echoes nothing of it', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let shown = '';
    output.on('data', (d: Buffer) => {
      shown += d.toString('utf8');
    });
    const answer = prompt_hidden('passphrase: ', { input, output });
    input.write('s3cret words\n');
    expect(await answer).toBe('s3cret words');
    expect(shown).toBe('passphrase: \n');
  });

  it('rejects when the input ends before a line', async () => {
    const input = new PassThrough();
    const answer = prompt_hidden('passphrase: ', { input, output: new PassThrough() });
    input.end();
    await expect(answer).rejects.toThrow(/no passphrase/);
  });
});

describe('cloister keys export and import', () => {
  const root = find_code_root();
  const run = (keyring: string, ...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [join(root, 'bin', 'cloister.js'), 'keys', ...args],
        { env: { ...process.env, CLOISTER_KEYRING: keyring, CLOISTER_PASSPHRASE: '' } },
        (error, stdout, stderr) =>
          resolve({
            code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1,
            stdout,
            stderr,
          }),
      );
    });

  it('exports to a 0600 file with a warning for an unencrypted key, imports it elsewhere once', async () => {
    const a = join(home.dir, 'a.json');
    const b = join(home.dir, 'b.json');
    const out = join(home.dir, 'alice.export.json');
    expect((await run(a, 'add', 'alice')).code).toBe(0);
    const exported = await run(a, 'export', 'alice', '--out', out);
    expect(exported.code).toBe(0);
    expect(exported.stderr).toContain('stored unencrypted');
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect((await run(a, 'export', 'alice', '--out', out)).code).toBe(2);
    const imported = await run(b, 'import', out);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toContain('imported key alice');
    const address = (JSON.parse(readFileSync(a, 'utf8')) as { keys: { address: string }[] }).keys[0]!.address;
    expect(readFileSync(b, 'utf8')).toContain(address);
    const again = await run(b, 'import', out);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('[code 211]');
  });
});
