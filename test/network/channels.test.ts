/**
 * The system contracts on a live development network (docs/channels.md, docs/protocol-notes.md
 * "System contracts"): genesis made them at the addresses their code hashes name, `status` and
 * `codes` list them; the key directory through the CLI (`directory publish`, `--rotate`, `revoke`,
 * `show`) and the SDK (key URIs resolve; unknown and revoked keys are typed errors); the mailbox
 * lists mail only to its recipient. Needs `npm run build`.
 */

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryClient } from '../../client/sdk/channels/directory.js';
import { RevokedKeyError, UnknownKeyError } from '../../client/sdk/channels/errors.js';
import { kx_key_pair } from '../../client/sdk/channels/kx_keys.js';
import { MailboxClient } from '../../client/sdk/channels/mailbox.js';
import { CloisterClient, ContractError, dev_keys, key_info } from '../../client/sdk/index.js';
import { find_code_root } from '../../enclave/measurement.js';
import { to_hex } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { SYSTEM_CONTRACTS, system_contract_address } from '../../protocol/system.js';
import { LocalNetwork } from '../../sim/network.js';

const p = get_provider('native');
const root = find_code_root();
const [dev0, dev1, dev2] = dev_keys() as [
  ReturnType<typeof dev_keys>[0],
  ReturnType<typeof dev_keys>[0],
  ReturnType<typeof dev_keys>[0],
];
const D0 = key_info(dev0).address;
const D1 = key_info(dev1).address;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('system contracts on a 1-validator development network', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-channels-'));
  const keyring = join(dir, 'keys.json');
  let net: LocalNetwork;
  let client: CloisterClient;

  function cloister(...args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [
          join(root, 'bin', 'cloister.js'),
          ...args,
          ...(args[0] === 'keys' ? [] : ['--node', net.urls()[0]!]),
        ],
        { env: { ...process.env, CLOISTER_KEYRING: keyring, CLOISTER_PASSPHRASE: '' }, timeout: 120_000 },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  async function json(...args: string[]): Promise<Record<string, unknown>> {
    const run = await cloister(...args, '--json');
    if (run.code !== 0)
      throw new Error(`cloister ${args.join(' ')} exited ${run.code}: ${run.stderr}${run.stdout}`);
    return JSON.parse(run.stdout) as Record<string, unknown>;
  }

  beforeAll(async () => {
    net = await LocalNetwork.up({ validators: 1, dir: join(dir, 'net'), port: 26650, dev: true });
    client = new CloisterClient({ nodes: net.urls(), keys: [dev0, dev1, dev2] });
    const imported = await cloister('keys', 'import-dev');
    if (imported.code !== 0) throw new Error(imported.stderr);
  }, 240_000);

  afterAll(async () => {
    await net?.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('genesis made every system contract at the address its code hash names; status and codes list them', async () => {
    const contracts = await client.system_contracts();
    expect(Object.keys(contracts)).toEqual([...SYSTEM_CONTRACTS]);
    const codes = await client.codes();
    for (const name of SYSTEM_CONTRACTS) {
      const code = codes.find((c) => c.name === name)!;
      expect(code.contract).toBe(contracts[name]);
      expect(contracts[name]).toBe(system_contract_address(p, code.code_hash));
      const info = await client.contract(contracts[name]);
      expect(info).toMatchObject({ code_id: code.code_id, label: name, creator: '0'.repeat(40) });
    }
    expect(codes.filter((c) => c.contract !== undefined).map((c) => c.name)).toEqual([...SYSTEM_CONTRACTS]);
    const status = await cloister('status');
    expect(status.stdout).toContain(`directory          ${contracts.directory} (system contract)`);
  }, 60_000);

  it('directory publish, show, --rotate and revoke through the CLI; URIs resolve, revoked and unknown keys are typed errors', async () => {
    const first = await json('directory', 'publish', '--key', 'dev0');
    expect(first).toMatchObject({ uri: `cloister:${D0}#kx1`, status: 'active', revoked: [] });
    expect(first['public_key']).toBe(to_hex(kx_key_pair(dev0, 'kx1').public_key));

    const again = await cloister('directory', 'publish', '--key', 'dev0', '--key-id', 'kx1');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('ids are never reused');

    const rotated = await json('directory', 'publish', '--key', 'dev0', '--rotate');
    expect(rotated).toMatchObject({ uri: `cloister:${D0}#kx2`, revoked: [`cloister:${D0}#kx1`] });

    const shown = (await json('directory', 'show', 'dev0')) as { keys: { uri: string; status: string }[] };
    expect(shown.keys.map((k) => [k.uri, k.status.split(' ')[0]])).toEqual([
      [`cloister:${D0}#kx1`, 'revoked'],
      [`cloister:${D0}#kx2`, 'active'],
    ]);
    const human = await cloister('directory', 'show', D0);
    expect(human.stdout).toMatch(new RegExp(`cloister:${D0}#kx2\\s+\\d+\\s+active`));

    const directory = new DirectoryClient(client);
    const resolved = await directory.resolve(`cloister:${D0}#kx2`);
    expect(to_hex(resolved.public_key)).toBe(to_hex(kx_key_pair(dev0, 'kx2').public_key));
    expect((await directory.current(D0)).key_id).toBe('kx2');
    await expect(directory.resolve(`cloister:${D0}#kx1`)).rejects.toBeInstanceOf(RevokedKeyError);
    await expect(directory.resolve(`cloister:${D0}#kx9`)).rejects.toBeInstanceOf(UnknownKeyError);
    await expect(directory.resolve(`cloister:${D1}#kx1`)).rejects.toBeInstanceOf(UnknownKeyError);
    // Before its revocation height, kx1 still resolves: what was sealed to it then stays openable.
    const kx1 = (await directory.keys(D0))[0]!;
    expect((await directory.resolve(kx1.uri, { at_height: kx1.published_height })).key_id).toBe('kx1');
    await expect(directory.resolve('cloister:nothex#kx1')).rejects.toBeInstanceOf(TypeError);

    const revoked = await json('directory', 'revoke', '--key', 'dev0', 'kx2');
    expect(revoked['key_id']).toBe('kx2');
    await expect(directory.current(D0)).rejects.toBeInstanceOf(UnknownKeyError);
    const none = await cloister('directory', 'show', 'dev3');
    expect(none.stdout).toContain('has published no keys');
  }, 180_000);

  it('the mailbox lists mail only to its recipient, with the chain-given sender', async () => {
    const to_bob = new MailboxClient(client, dev0);
    const bob = new MailboxClient(client, dev1);
    const sent = await to_bob.send(D1, 'mail', 'CANARY-for-bob-only');
    const inbox = await bob.inbox();
    expect(inbox.map((m) => [m.id, m.from, m.kind, m.body])).toContainEqual([
      sent.id,
      D0,
      'mail',
      'CANARY-for-bob-only',
    ]);
    // Carol, with her own viewing key set, asks for Bob's inbox: refused, and she learns nothing.
    const carol = new MailboxClient(client, dev2);
    await carol.inbox();
    const mailbox = await carol.contract();
    const refused = await client
      .query(mailbox, { inbox: { address: D1, key: 'guessing-bobs-key' } })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ContractError);
    expect((refused as ContractError).contract_message).toMatch(/^unauthorized/);
    await bob.delete([sent.id]);
    expect((await bob.inbox()).map((m) => m.id)).not.toContain(sent.id);
  }, 180_000);
});
