/**
 * The system contracts on a live development network (docs/channels.md, docs/protocol-notes.md
 * "System contracts"): genesis made them at the addresses their code hashes name, `status` and
 * `codes` list them; the key directory through the CLI (`directory publish`, `--rotate`, `revoke`,
 * `show`) and the SDK (key URIs resolve; unknown and revoked keys are typed errors); the mailbox
 * lists mail only to its recipient; a stream's messages, published through one validator, are read
 * and decrypted through another. Needs `npm run build`.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryClient } from '../../client/sdk/channels/directory.js';
import { RevokedKeyError, UnknownKeyError } from '../../client/sdk/channels/errors.js';
import { kx_key_pair } from '../../client/sdk/channels/kx_keys.js';
import { MailboxClient } from '../../client/sdk/channels/mailbox.js';
import { MemoryStorage } from '../../client/sdk/channels/storage.js';
import { StreamClient, type StreamReadItem } from '../../client/sdk/channels/streams.js';
import { CloisterClient, ContractError, dev_keys, key_info } from '../../client/sdk/index.js';
import { to_hex } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { SYSTEM_CONTRACTS, system_contract_address } from '../../protocol/system.js';
import { LiveNetwork } from '../client/channels/live_network.js';

const p = get_provider('native');
const [dev0, dev1, dev2] = dev_keys() as [
  ReturnType<typeof dev_keys>[0],
  ReturnType<typeof dev_keys>[0],
  ReturnType<typeof dev_keys>[0],
];
const D0 = key_info(dev0).address;
const D1 = key_info(dev1).address;

describe('system contracts on a 4-validator development network', () => {
  let net: LiveNetwork;
  let client: CloisterClient;

  beforeAll(async () => {
    net = await LiveNetwork.up(26650, 'cloister-channels-', { validators: 4 });
    client = new CloisterClient({ nodes: net.urls(), keys: [dev0, dev1, dev2] });
  }, 240_000);

  afterAll(async () => {
    await net?.down();
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
    const status = await net.cloister(['status']);
    expect(status.stdout).toContain(`directory          ${contracts.directory} (system contract)`);
  }, 60_000);

  it('directory publish, show, --rotate and revoke through the CLI; URIs resolve, revoked and unknown keys are typed errors', async () => {
    const first = await net.json(['directory', 'publish', '--key', 'dev0']);
    expect(first).toMatchObject({ uri: `cloister:${D0}#kx1`, status: 'active', revoked: [] });
    expect(first['public_key']).toBe(to_hex(kx_key_pair(dev0, 'kx1').public_key));

    const again = await net.cloister(['directory', 'publish', '--key', 'dev0', '--key-id', 'kx1']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('ids are never reused');

    const rotated = await net.json(['directory', 'publish', '--key', 'dev0', '--rotate']);
    expect(rotated).toMatchObject({ uri: `cloister:${D0}#kx2`, revoked: [`cloister:${D0}#kx1`] });

    const shown = await net.json<{ keys: { uri: string; status: string }[] }>(['directory', 'show', 'dev0']);
    expect(shown.keys.map((k) => [k.uri, k.status.split(' ')[0]])).toEqual([
      [`cloister:${D0}#kx1`, 'revoked'],
      [`cloister:${D0}#kx2`, 'active'],
    ]);
    const human = await net.cloister(['directory', 'show', D0]);
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

    const revoked = await net.json(['directory', 'revoke', '--key', 'dev0', 'kx2']);
    expect(revoked['key_id']).toBe('kx2');
    await expect(directory.current(D0)).rejects.toBeInstanceOf(UnknownKeyError);
    const none = await net.cloister(['directory', 'show', 'dev3']);
    expect(none.stdout).toContain('has published no keys');
  }, 180_000);

  it("a stream's messages are public events any validator serves: published through one, read through another", async () => {
    const [first, last] = [net.urls()[0]!, net.urls().at(-1)!];
    expect(first).not.toBe(last);
    const publisher = new StreamClient(new CloisterClient({ nodes: [first] }), dev0, {
      storage: new MemoryStorage(),
    });
    const reader = new StreamClient(new CloisterClient({ nodes: [last] }), dev1, {
      storage: new MemoryStorage(),
    });
    const { stream } = await publisher.create('any-validator');
    await publisher.grant(stream, D1, { subscribe: true, expires_ms: null });
    const sent = await publisher.publish(stream, 'CANARY-stream-text');
    const read: StreamReadItem[] = [];
    for await (const item of reader.read(stream, {})) read.push(item);
    expect(read).toEqual([expect.objectContaining({ seq: sent.seq, text: 'CANARY-stream-text' })]);
    // On chain the message is ciphertext: the public event, as the last validator lists it, has no plaintext.
    const record = await new CloisterClient({ nodes: [last] }).get_tx(sent.outcome.hash);
    expect(record.events.map((e) => e.type)).toEqual(['stream_message']);
    expect(JSON.stringify(record.events)).not.toContain('CANARY');
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
