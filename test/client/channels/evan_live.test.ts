/**
 * evan.network's mailbox key exchange on a live 1-validator development network (RPC 26640):
 * dev0 and dev1 publish directory keys, dev0 invites dev1, dev1 accepts with a confirmation, the
 * contact turns confirmed on dev0's side, and a mail sent with `cloister mail send` reads back
 * with `cloister mail inbox`, all through the CLI. dev2, a third party with a published key of
 * its own, cannot list dev1's inbox (the mailbox answers unauthorized) and, even handed the
 * invite's body, cannot open it. Then through the CLI: an invite survives the inviter's
 * `directory publish --rotate` before it is accepted; the invitee's re-key (`replaces`) is taken by
 * the inviter still `invited`; `kx accept` deletes what it takes; `mail delete` deletes by id and
 * `--read`, and `mail inbox --json` says how full the inbox is. Needs `npx tsc -p tsconfig.build.json`
 * first.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryClient } from '../../../client/sdk/channels/directory.js';
import {
  EvanChannel,
  InviteInvalidError,
  open_invite,
  parse_invite_body,
} from '../../../client/sdk/channels/evan.js';
import { kx_key_pair } from '../../../client/sdk/channels/kx_keys.js';
import { MailboxClient } from '../../../client/sdk/channels/mailbox.js';
import { MemoryStorage } from '../../../client/sdk/channels/storage.js';
import {
  type ClientKey,
  CloisterClient,
  ContractError,
  dev_keys,
  key_info,
} from '../../../client/sdk/index.js';
import { LiveNetwork } from './live_network.js';

let net: LiveNetwork;
let client: CloisterClient;
let dev: Record<'dev0' | 'dev1' | 'dev2', ClientKey>;
let address: Record<'dev0' | 'dev1' | 'dev2', string>;

beforeAll(async () => {
  net = await LiveNetwork.up(26640, 'cloister-evan-');
  client = new CloisterClient({ nodes: [net.node] });
  const keys = dev_keys();
  const pick = (name: string) => keys.find((k) => k.name === name)!;
  dev = { dev0: pick('dev0'), dev1: pick('dev1'), dev2: pick('dev2') };
  address = {
    dev0: key_info(dev.dev0).address,
    dev1: key_info(dev.dev1).address,
    dev2: key_info(dev.dev2).address,
  };
  for (const name of ['dev0', 'dev1', 'dev2']) await net.ok(['directory', 'publish', '--key', name]);
}, 180_000);

afterAll(async () => {
  await net?.down();
});

describe('evan key exchange through the mailbox, live', () => {
  it('invite, accept --confirm, status, mail send, mail inbox through the CLI; dev2 can neither list nor open', async () => {
    const invite = await net.json(['kx', 'invite', '--key', 'dev0', 'dev1', '--epoch-blocks', '500']);
    expect(invite).toMatchObject({
      peer: address.dev1,
      from_uri: `cloister:${address.dev0}#kx1`,
      to_uri: `cloister:${address.dev1}#kx1`,
      epoch_blocks: 500,
    });

    // dev1's inbox lists the invite, pointing at `kx accept`.
    expect(await net.ok(['mail', 'inbox', '--key', 'dev1'])).toContain(
      `invite from ${address.dev0} (dev0): run \`cloister kx accept --key dev1`,
    );

    // dev2 cannot list dev1's inbox: the mailbox wants dev1's viewing key.
    const mailbox = await client.system_contracts().then((c) => c.mailbox);
    const listing = await client
      .query(mailbox, { inbox: { address: address.dev1, key: 'not-dev1s-viewing-key' } })
      .catch((e: unknown) => e);
    expect(listing).toBeInstanceOf(ContractError);
    expect((listing as ContractError).contract_message).toMatch(/^unauthorized/);

    // Handed the invite's body (here read with dev1's own key), dev2 still cannot open it.
    const mail = (await new MailboxClient(client, dev.dev1).inbox()).find((m) => m.kind === 'kx-invite')!;
    const body = parse_invite_body(mail.body);
    const dev0_pk = kx_key_pair(dev.dev0, 'kx1').public_key;
    expect(() => open_invite(body, kx_key_pair(dev.dev2, 'kx1').secret_key, dev0_pk)).toThrow(
      InviteInvalidError,
    );
    const eve = new EvanChannel({
      key: dev.dev2,
      mailbox: new MailboxClient(client, dev.dev2),
      resolver: new DirectoryClient(client),
      store: new MemoryStorage(),
      height: async () => (await client.status()).height,
    });
    for (const b of [body, { ...body, to_uri: `cloister:${address.dev2}#kx1` }])
      await expect(eve.accept({ ...mail, body: JSON.stringify(b) })).rejects.toBeInstanceOf(
        InviteInvalidError,
      );
    // Nor can dev2 mail dev1 without a key exchange.
    const refused = await net.cloister(['mail', 'send', '--key', 'dev2', 'dev1', 'hi', '--json']);
    expect(refused.code).toBe(1);
    const error = (JSON.parse(refused.stdout) as { error: { code: number; message: string } }).error;
    expect(error.code).toBe(320);
    expect(error.message).toContain('cloister kx invite');

    const accepted = await net.json(['kx', 'accept', '--key', 'dev1', 'dev0', '--confirm']);
    expect(accepted['accepted']).toMatchObject([{ status: 'accepted', peer: address.dev0 }]);
    expect((accepted['accepted'] as { confirm_mail_id?: number }[])[0]?.confirm_mail_id).toBeGreaterThan(0);

    const status0 = await net.json(['kx', 'status', '--key', 'dev0']);
    expect(status0['confirmed_now']).toEqual([address.dev1]);
    expect(status0['contacts']).toMatchObject([{ peer: address.dev1, state: 'confirmed', inviter: true }]);
    const status1 = await net.json(['kx', 'status', '--key', 'dev1']);
    expect(status1['contacts']).toMatchObject([{ peer: address.dev0, state: 'accepted', inviter: false }]);
    expect(await net.ok(['kx', 'status', '--key', 'dev0'])).toContain('confirmed (you invited');

    expect(await net.ok(['mail', 'send', '--key', 'dev0', 'dev1', 'hello dev1, from dev0'])).toMatch(
      /^sent mail \d+ to /,
    );
    const inbox = await net.ok(['mail', 'inbox', '--key', 'dev1']);
    expect(inbox).toContain('mail from');
    expect(inbox).toContain('hello dev1, from dev0');
    // Only new mail the second time; the reply goes the other way.
    expect(await net.ok(['mail', 'inbox', '--key', 'dev1'])).toContain('no new mail');
    await net.ok(['mail', 'send', '--key', 'dev1', 'dev0', 'hello back']);
    const json = await net.json(['mail', 'inbox', '--key', 'dev0']);
    expect(json['mails']).toMatchObject([{ type: 'mail', from: address.dev1, text: 'hello back' }]);
    // dev2's own inbox has nothing of theirs.
    expect(await net.ok(['mail', 'inbox', '--key', 'dev2', '--all'])).toContain('your inbox is empty');
    // `kx accept` deleted the invite it took; the mail dev1 read stays until deleted.
    const kinds = (m: Record<string, unknown>) => (m['mails'] as { kind: string }[]).map((x) => x.kind);
    expect(kinds(await net.json(['mail', 'inbox', '--key', 'dev1', '--all']))).toEqual(['mail']);
  }, 240_000);

  it('an invite survives the inviter rotating its key; the invitee re-keys; mail delete by id and --read', async () => {
    // dev2 invites dev1, then rotates its directory key before dev1 accepts.
    const invite = await net.json(['kx', 'invite', '--key', 'dev2', 'dev1', '--epoch-blocks', '500']);
    expect(invite).toMatchObject({ from_uri: `cloister:${address.dev2}#kx1`, replaces: null });
    const rotated = await net.json(['directory', 'publish', '--key', 'dev2', '--rotate']);
    expect(rotated).toMatchObject({ revoked: [`cloister:${address.dev2}#kx1`] });
    const accepted = await net.json(['kx', 'accept', '--key', 'dev1', 'dev2']);
    expect(accepted['accepted']).toMatchObject([{ status: 'accepted', peer: address.dev2 }]);

    // dev1 (who accepted without --confirm, so dev2 is still `invited`) re-keys: the invite names
    // dev2's, so dev2 takes it rather than skipping it as a crossed invite.
    const rekey = await net.json(['kx', 'invite', '--key', 'dev1', 'dev2', '--epoch-blocks', '500']);
    expect(rekey).toMatchObject({ from_uri: `cloister:${address.dev1}#kx1`, replaces: invite['invite_id'] });
    expect(rekey['to_uri']).toBe(`cloister:${address.dev2}#kx2`);
    const taken = await net.json(['kx', 'accept', '--key', 'dev2', 'dev1']);
    expect(taken['accepted']).toMatchObject([{ status: 'accepted', invite_id: rekey['invite_id'] }]);
    await net.ok(['mail', 'send', '--key', 'dev2', 'dev1', 'after the re-key']);
    await net.ok(['mail', 'send', '--key', 'dev1', 'dev2', 'both ways']);
    expect(await net.ok(['mail', 'inbox', '--key', 'dev1'])).toContain('after the re-key');
    const dev2_inbox = await net.json(['mail', 'inbox', '--key', 'dev2']);
    expect(dev2_inbox).toMatchObject({ mails: [{ type: 'mail', text: 'both ways' }], inbox_max: 256 });
    expect(dev2_inbox['inbox_count']).toBe(1);

    // dev1 has read two mails (one from dev0, one from dev2): --read deletes both; an id deletes one.
    const unread = await net.json<{ id: number }>(['mail', 'send', '--key', 'dev2', 'dev1', 'unread']);
    const cleared = await net.json(['mail', 'delete', '--key', 'dev1', '--read']);
    expect(cleared).toMatchObject({ deleted: 2, inbox_count: 1 });
    expect(await net.ok(['mail', 'delete', '--key', 'dev1', String(unread.id)])).toContain(
      'deleted 1 of 1 mails',
    );
    expect(await net.ok(['mail', 'inbox', '--key', 'dev1', '--all'])).toContain('your inbox is empty');
    const usage = await net.cloister(['mail', 'delete', '--key', 'dev1']);
    expect(usage.code).toBe(2);
  }, 240_000);
});
