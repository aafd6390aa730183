/** The `cloister` binary as a user runs it (needs `npm run build`, which `npm test` does first). */

import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { compute_measurement, find_code_root } from '../../enclave/measurement.js';
import { to_hex } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { temp_home } from '../enclave/fixtures.js';

const root = find_code_root();
const home = temp_home();
afterAll(() => home.remove());

async function cloister(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [
      join(root, 'bin', 'cloister.js'),
      ...args,
    ]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('cloister CLI', () => {
  it('prints the enclave measurement', async () => {
    const { code, stdout } = await cloister('enclave', 'measure', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      measurement: to_hex(compute_measurement(get_provider('native'), root)),
    });
  });

  it('checks a contract and prints its code hash', async () => {
    const { code, stdout } = await cloister(
      'contract',
      'check',
      join(root, 'contracts', 'counter.js'),
      '--json',
    );
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      ok: true,
      code_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('explains why a contract is refused, with a non-zero exit and no stack trace', async () => {
    const bad = join(home.dir, 'bad.js');
    writeFileSync(bad, "import fs from 'fs';\nexport function execute() {}\n");
    const { code, stderr } = await cloister('contract', 'check', bad);
    expect(code).toBe(1);
    expect(stderr).toMatch(/does not compile: .*import/);
    expect(stderr).not.toMatch(/\n\s+at /);
    const missing = await cloister('contract', 'check', join(home.dir, 'nope.js'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read');
  });

  it('answers usage errors with exit 2 and help with exit 0', async () => {
    const unknown = await cloister('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('cloister --help');
    const help = await cloister('--help');
    expect(help.code).toBe(0);
    for (const command of ['init', 'node', 'sim', 'enclave', 'contract'])
      expect(help.stdout).toContain(`cloister ${command}`);
    const contract_help = await cloister('contract', '--help');
    expect(contract_help.stdout).toContain('check <file>');
    // A subcommand that does not exist is a usage error, not a silent run of another command.
    expect((await cloister('enclave', 'frobnicate')).code).toBe(2);
  });

  it('lists the client commands in its help, and their subcommands', async () => {
    const help = await cloister('--help');
    for (const command of ['keys', 'tx', 'query <contract> <msg_json>', 'status', 'codes', 'contracts'])
      expect(help.stdout).toContain(`cloister ${command}`);
    const tx = await cloister('tx', '--help');
    for (const sub of ['store <file>', 'instantiate <code_id>', 'execute <contract>', 'get <hash>'])
      expect(tx.stdout).toContain(`tx ${sub}`);
    expect((await cloister('keys', '--help')).stdout).toContain('keys add <name>');
    expect((await cloister('keys')).code).toBe(2);
  });

  it('status names the node that answered and shows that it halted', async () => {
    const halted = { height: 9, reason: 'own results differ from the committed block at height 9' };
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          chain_id: 'halt-cli-1',
          height: 8,
          io_pubkey: '00'.repeat(32),
          seed_exchange_pubkey: '00'.repeat(32),
          validator: '01'.repeat(32),
          validators: [],
          halted,
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const text = await cloister('status', '--node', url);
      expect(text.code).toBe(0);
      expect(text.stdout).toContain(`node               ${url}`);
      expect(text.stdout).toContain(`halted             yes, at height 9: ${halted.reason}`);
      const json = await cloister('status', '--node', url, '--json');
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout).halted).toEqual(halted);
    } finally {
      server.close();
    }
  });
});
