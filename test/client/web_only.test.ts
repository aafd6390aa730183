/**
 * The SDK runs with the web platform alone: the built SDK is loaded in a child Node process where
 * a loader hook refuses every Node built-in module (`node:*`, `fs`, …) and `Buffer` throws
 * for the SDK's own code, then it makes keys, encrypts with both schemes to a node it reaches through an injected `fetch`
 * (standard `Response` objects), signs a transaction and decrypts a sealed result.
 */

import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { find_code_root } from '../../enclave/measurement.js';
import { temp_home } from '../enclave/fixtures.js';

const root = find_code_root();
const home = temp_home('cloister-webonly-');
afterAll(() => home.remove());

const HOOKS = `
import { builtinModules } from 'node:module';
const builtins = new Set(builtinModules);
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('node:') || builtins.has(specifier) || builtins.has(specifier.split('/')[0])) {
    throw new Error('web-only: ' + specifier + ' imported by ' + context.parentURL);
  }
  return next(specifier, context);
}
`;

const REGISTER = `
import { register } from 'node:module';
register('./hooks.mjs', import.meta.url);
`;

function runner(sdk_url: string, noble_url: string, result_url: string, bytes_url: string): string {
  return `
// Node's own fetch (undici) uses the Buffer global internally, so it stays for the platform, but
// any use from the SDK's code (its files, protocol/, @noble) throws.
const NodeBuffer = globalThis.Buffer;
const sdk_paths = ['/dist/client/', '/dist/protocol/', '/@noble/'];
let sdk_used_buffer = false;
Object.defineProperty(globalThis, 'Buffer', {
  configurable: true,
  get() {
    const stack = new Error().stack ?? '';
    // The frame that touched Buffer (frame 0 is this getter): the platform's own frames are allowed.
    const caller = stack.split('\\n')[2];
    if (caller !== undefined && sdk_paths.some((path) => caller.includes(path))) {
      sdk_used_buffer = true;
      throw new ReferenceError('web-only: Buffer used by ' + caller.trim());
    }
    return NodeBuffer;
  },
});
const sdk = await import(${JSON.stringify(sdk_url)});
const { noble_provider: p } = await import(${JSON.stringify(noble_url)});
const { seal_result } = await import(${JSON.stringify(result_url)});
const { to_hex, to_base64 } = await import(${JSON.stringify(bytes_url)});
const random = (n) => crypto.getRandomValues(new Uint8Array(n));
const io = p.x25519_secret(random(32));
const answers = {
  '/v1/status': { chain_id: 'web-only-1', height: 0, io_pubkey: to_hex(io.public_key), seed_exchange_pubkey: '00'.repeat(32), validator: '11'.repeat(32), validators: [] },
  '/registration/v1beta1/tx-key': { key: to_base64(io.public_key) },
};
const fake_fetch = async (input) => {
  const path = new URL(String(input)).pathname;
  if (path.startsWith('/v1/accounts/')) return Response.json({ address: path.slice(13), sequence: 0 });
  const body = answers[path];
  return body === undefined ? Response.json({ error: { code: 100, message: 'no' } }, { status: 404 }) : Response.json(body);
};
const key = sdk.generate_key('web', random);
const client = new sdk.CloisterClient({ nodes: ['http://node.invalid'] }, { fetch: fake_fetch, random });
const out = [];
for (const scheme of ['gcm', 'siv']) {
  const e = await client.encrypt('ab'.repeat(32), { echo: { value: 'web' } }, scheme, { key });
  const tx = await client.sign(key, { type: 'execute', contract: 'cd'.repeat(20), scheme, payload: e.payload });
  const sealed = seal_result(p, scheme, e.tx_key, { data: 'web', events: [] });
  const opened = client.decrypt({ hash: '00'.repeat(32), height: 1, index: 0, code: 0, gas_used: 1, output: to_base64(sealed) }, e.tx_key, scheme);
  out.push({ scheme, sequence: tx.body.sequence, signature: tx.signature.length, opened });
}
console.log(JSON.stringify({ sdk_used_buffer, out }));
`;
}

describe('the SDK with web APIs only', () => {
  it('encrypts, signs and decrypts with every Node built-in refused and Buffer forbidden', async () => {
    const dist = (path: string) => pathToFileURL(join(root, 'dist', path)).href;
    writeFileSync(join(home.dir, 'hooks.mjs'), HOOKS);
    writeFileSync(join(home.dir, 'register.mjs'), REGISTER);
    writeFileSync(
      join(home.dir, 'run.mjs'),
      runner(
        dist('client/sdk/index.js'),
        dist('protocol/providers/noble.js'),
        dist('protocol/result.js'),
        dist('protocol/bytes.js'),
      ),
    );
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', join(home.dir, 'register.mjs'), join(home.dir, 'run.mjs')],
      {
        cwd: root,
      },
    );
    const result = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(result.sdk_used_buffer).toBe(false);
    expect(result.out).toEqual([
      { scheme: 'gcm', sequence: 0, signature: 128, opened: { data: 'web', events: [] } },
      { scheme: 'siv', sequence: 1, signature: 128, opened: { data: 'web', events: [] } },
    ]);
  });

  it('the loader hook does refuse a Node built-in (the check can fail)', async () => {
    writeFileSync(join(home.dir, 'bad.mjs'), "await import('node:fs');\n");
    const failed = await promisify(execFile)(process.execPath, [
      '--import',
      join(home.dir, 'register.mjs'),
      join(home.dir, 'bad.mjs'),
    ]).then(
      () => null,
      (e: { stderr: string }) => e.stderr,
    );
    expect(failed).toContain('web-only: node:fs');
  });
});
