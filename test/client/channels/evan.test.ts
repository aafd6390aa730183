/**
 * evan.network's mailbox key exchange (client/sdk/channels/evan.ts) over a fake mailbox and a
 * fake directory: the honest invite, accept, confirm and mail; a third party holding the invite
 * (and her own published key) cannot get the communication key; an invite forwarded by another
 * account, tampered, or naming unknown or revoked keys is refused; mail across epoch boundaries
 * opens, and older epoch keys are forgotten only once read past (sending moves nothing); a mail
 * replayed into another conversation fails on its associated data. Re-keys and crossed invites
 * end with one key in either order of the invite ids; a pending invite survives key rotation; a
 * refused invite is reported once; a lost confirmation is sent again; mail shown before its
 * sender was a contact shows again after; two channels over one store take turns through its
 * lock. Randomness comes from crypto.getRandomValues, except where a test orders invite ids.
 */

import { describe, expect, it } from 'vitest';
import { RevokedKeyError, UnknownKeyError } from '../../../client/sdk/channels/errors.js';
import {
  CONTACTS_DOCUMENT,
  ContactIdleError,
  EPOCH_STEPS_MAX,
  EpochExpiredError,
  EvanChannel,
  type EvanMail,
  type EvanMailbox,
  epoch_key_at,
  epoch_of,
  exchange_key,
  INVITE_INVALID_MESSAGE,
  InviteInvalidError,
  KIND_CONFIRM,
  KIND_INVITE,
  MailInvalidError,
  NoContactError,
  open_invite,
  parse_invite_body,
  REFUSED_DOCUMENT,
} from '../../../client/sdk/channels/evan.js';
import {
  type DirectoryKey,
  type KeyResolver,
  key_uri,
  parse_key_uri,
} from '../../../client/sdk/channels/key_uri.js';
import { derived_secret, kx_key_pair } from '../../../client/sdk/channels/kx_keys.js';
import { MemoryStorage, sealed_storage } from '../../../client/sdk/channels/storage.js';
import { type ClientKey, generate_key, key_info, web_random } from '../../../client/sdk/keys.js';
import { from_base64, to_base64, to_hex } from '../../../protocol/bytes.js';

/** The mailbox contract in memory: `from` is always the account that sent, as ctx.sender is. */
class FakeChain {
  height = 1;
  readonly inboxes = new Map<string, EvanMail[]>();
  readonly next_id = new Map<string, number>();

  /** Stores a mail as the contract would, committed one block after the current height. */
  deliver(from: string, to: string, kind: string, body: string): number {
    const id = (this.next_id.get(to) ?? 0) + 1;
    this.next_id.set(to, id);
    const list = this.inboxes.get(to) ?? [];
    list.push({ id, from, kind, body, height: this.height + 1, time_ms: 1_700_000_000_000 + id });
    this.inboxes.set(to, list);
    return id;
  }

  mailbox(address: string): EvanMailbox {
    return {
      send: async (to, kind, body) => ({ id: this.deliver(address, to, kind, body) }),
      inbox: async (opts = {}) =>
        (this.inboxes.get(address) ?? []).filter((m) => m.id > (opts.after ?? 0)).slice(0, opts.limit ?? 64),
      delete: async (ids) => {
        this.inboxes.set(
          address,
          (this.inboxes.get(address) ?? []).filter((m) => !ids.includes(m.id)),
        );
      },
    };
  }

  mails(address: string): EvanMail[] {
    return this.inboxes.get(address) ?? [];
  }
}

/** The directory contract in memory, resolving at the chain's height or at `at_height`. */
class FakeDirectory implements KeyResolver {
  readonly keys = new Map<string, DirectoryKey>();

  constructor(readonly height: () => number = () => 1) {}

  publish(key: ClientKey, key_id = 'kx1', height = 1): string {
    const address = key_info(key).address;
    const uri = key_uri(address, key_id);
    const public_key = kx_key_pair(key, key_id).public_key;
    this.keys.set(uri, { address, key_id, uri, public_key, published_height: height, revoked_height: null });
    return uri;
  }

  revoke(uri: string, height: number): void {
    const k = this.keys.get(uri);
    if (k !== undefined) this.keys.set(uri, { ...k, revoked_height: height });
  }

  async resolve(uri: string, opts: { at_height?: number } = {}): Promise<DirectoryKey> {
    parse_key_uri(uri);
    const height = opts.at_height ?? this.height();
    const k = this.keys.get(uri);
    if (k === undefined) throw new UnknownKeyError(uri);
    if (k.revoked_height !== null && k.revoked_height <= height)
      throw new RevokedKeyError(uri, k.revoked_height);
    if (k.published_height > height) throw new UnknownKeyError(uri);
    return k;
  }
}

/**
 * A store two channels share, as two processes share a FileStorage: reads take a while (so
 * read-modify-writes interleave), and `exclusive` runs one piece of work per document at a time.
 */
class LockedSlowStorage extends MemoryStorage {
  readonly locked: string[] = [];
  readonly #tails = new Map<string, Promise<unknown>>();

  override async get(name: string): Promise<string | null> {
    await new Promise((r) => setTimeout(r, 5));
    return super.get(name);
  }

  async exclusive<T>(name: string, work: () => Promise<T>): Promise<T> {
    this.locked.push(name);
    const run = (this.#tails.get(name) ?? Promise.resolve()).then(work, work);
    this.#tails.set(
      name,
      run.catch(() => undefined),
    );
    return run;
  }
}

interface Party {
  key: ClientKey;
  address: string;
  uri: string;
  store: MemoryStorage;
  ch: EvanChannel;
}

/**
 * Random bytes whose 16-byte draws (invite ids) start with `first` and then count up, so a test
 * orders two parties' invite ids; every other draw is random.
 */
function ordered_ids(first: number): (bytes: number) => Uint8Array {
  let n = 0;
  return (bytes) => {
    if (bytes !== 16) return web_random(bytes);
    const out = new Uint8Array(16);
    out[0] = first;
    out[15] = n++;
    return out;
  };
}

/** Both orders of Alice's and Bob's invite ids: which one is smaller must not matter. */
const ID_ORDERS = [
  [0x11, 0x22],
  [0x22, 0x11],
] as const;

/** A fresh world with Alice and Bob whose invite ids start with `a_first` and `b_first`. */
function parties_with_ids(a_first: number, b_first: number) {
  const w = world();
  const alice = w.party('alice', { random: ordered_ids(a_first) });
  const bob = w.party('bob', { random: ordered_ids(b_first) });
  return { w, alice, bob };
}

function world() {
  const chain = new FakeChain();
  const directory = new FakeDirectory(() => chain.height);
  const party = (
    name: string,
    opts: {
      random?: (bytes: number) => Uint8Array;
      store?: MemoryStorage;
      mailbox?: (inner: EvanMailbox) => EvanMailbox;
      /** The same account again (a new device, or one that lost its store). */
      key?: ClientKey;
    } = {},
  ): Party => {
    const key = opts.key ?? generate_key(name, web_random);
    const address = key_info(key).address;
    const uri = directory.publish(key);
    const store = opts.store ?? new MemoryStorage();
    const ch = new EvanChannel({
      key,
      mailbox: opts.mailbox === undefined ? chain.mailbox(address) : opts.mailbox(chain.mailbox(address)),
      resolver: directory,
      store,
      height: async () => chain.height,
      ...(opts.random === undefined ? {} : { random: opts.random }),
    });
    return { key, address, uri, store, ch };
  };
  return { chain, directory, party };
}

/** Alice invites Bob, Bob accepts and confirms, Alice reads the confirmation. */
async function exchanged(epoch_blocks?: number) {
  const w = world();
  const alice = w.party('alice');
  const bob = w.party('bob');
  await alice.ch.invite(bob.uri, epoch_blocks === undefined ? {} : { epoch_blocks });
  await bob.ch.accept_pending({ confirm: true });
  await alice.ch.inbox();
  return { ...w, alice, bob };
}

async function stored_key(p: Party, peer: string): Promise<string> {
  const text = await sealed_storage(p.store, derived_secret(p.key, 'channel-store')).get(CONTACTS_DOCUMENT);
  return (JSON.parse(text!) as { contacts: Record<string, { key: string }> }).contacts[peer]!.key;
}

describe('evan exchange: pure parts', () => {
  it('both sides derive the same exchange key, bound to both URIs and the invite id', () => {
    const a = generate_key('a', web_random);
    const b = generate_key('b', web_random);
    const pa = kx_key_pair(a, 'kx1');
    const pb = kx_key_pair(b, 'kx1');
    const ua = key_uri(key_info(a).address, 'kx1');
    const ub = key_uri(key_info(b).address, 'kx1');
    const id = to_hex(web_random(16));
    const k = exchange_key(pa.secret_key, pb.public_key, ua, ub, id);
    expect(exchange_key(pb.secret_key, pa.public_key, ua, ub, id)).toEqual(k);
    expect(exchange_key(pb.secret_key, pa.public_key, ub, ua, id)).not.toEqual(k);
    expect(exchange_key(pb.secret_key, pa.public_key, ua, ub, to_hex(web_random(16)))).not.toEqual(k);
    expect(() => exchange_key(pa.secret_key, new Uint8Array(32), ua, ub, id)).toThrow(InviteInvalidError);
  });

  it('epochs: floor(height / epoch_blocks), keys chain forward only', () => {
    expect(epoch_of(0, 1000)).toBe(0);
    expect(epoch_of(999, 1000)).toBe(0);
    expect(epoch_of(1000, 1000)).toBe(1);
    expect(() => epoch_of(5, 0)).toThrow(RangeError);
    const k0 = web_random(32);
    const k2 = epoch_key_at(k0, 0, 2);
    expect(epoch_key_at(epoch_key_at(k0, 0, 1), 1, 2)).toEqual(k2);
    expect(k2).not.toEqual(k0);
    expect(() => epoch_key_at(k2, 2, 1)).toThrow(RangeError);
  });
});

describe('evan exchange: honest flow', () => {
  it('invite, accept with confirmation, mail both ways', async () => {
    const { chain, alice, bob } = await exchanged();
    expect(await alice.ch.contact(bob.address)).toMatchObject({
      state: 'confirmed',
      my_uri: alice.uri,
      peer_uri: bob.uri,
      inviter: true,
    });
    expect(await bob.ch.contact(alice.address)).toMatchObject({
      state: 'accepted',
      my_uri: bob.uri,
      peer_uri: alice.uri,
      inviter: false,
    });
    // The accepted invite left Bob's inbox; the confirmation is in Alice's.
    expect(chain.mails(bob.address).filter((m) => m.kind === KIND_INVITE)).toHaveLength(0);

    await alice.ch.send(bob.address, 'hello bob');
    await bob.ch.send(alice.address, 'hello alice ✓');
    expect((await bob.ch.inbox()).map((e) => [e.type, e.text])).toEqual([['mail', 'hello bob']]);
    expect((await alice.ch.inbox()).map((e) => [e.type, e.text])).toEqual([['mail', 'hello alice ✓']]);
    // Only new mail by default; all of it with `all`.
    expect(await bob.ch.inbox()).toEqual([]);
    expect((await bob.ch.inbox({ all: true })).map((e) => e.text)).toEqual(['hello bob']);
  });

  it('the invitee sees the invite in its inbox before accepting; mail waits until then', async () => {
    const w = world();
    const alice = w.party('alice');
    const bob = w.party('bob');
    const { invite_id } = await alice.ch.invite(bob.uri);
    await alice.ch.send(bob.address, 'early');
    const before = await bob.ch.inbox();
    expect(before[0]).toMatchObject({
      type: 'invite',
      invite: { invite_id, from_uri: alice.uri, accepted: false },
    });
    expect(before[1]?.error).toBeInstanceOf(NoContactError);
    // Shown once while there is no contact...
    expect(await bob.ch.inbox()).toEqual([]);
    expect(await alice.ch.contact(bob.address)).toMatchObject({ state: 'invited' });
    const { accepted } = await bob.ch.accept_pending();
    expect(accepted).toMatchObject([{ status: 'accepted', peer: alice.address, invite_id }]);
    // ...then again, opened, by the first plain `inbox` after the invite is accepted, and only once.
    expect((await bob.ch.inbox()).map((e) => [e.type, e.text])).toEqual([['mail', 'early']]);
    expect(await bob.ch.inbox()).toEqual([]);
    expect((await bob.ch.inbox({ all: true })).map((e) => e.text)).toEqual(['early']);
    // Without a confirmation Alice's side stays invited.
    await alice.ch.inbox();
    expect(await alice.ch.contact(bob.address)).toMatchObject({ state: 'invited' });
  });

  it('crossed invites end with one key on both sides', async () => {
    const w = world();
    const alice = w.party('alice');
    const bob = w.party('bob');
    await alice.ch.invite(bob.uri);
    await bob.ch.invite(alice.uri);
    const a = await alice.ch.accept_pending();
    const b = await bob.ch.accept_pending();
    expect([...a.accepted, ...b.accepted].map((r) => r.status).sort()).toEqual(['accepted', 'skipped']);
    await alice.ch.send(bob.address, 'one key');
    expect((await bob.ch.inbox()).map((e) => e.text)).toEqual(['one key']);
    expect(await stored_key(alice, bob.address)).toBe(await stored_key(bob, alice.address));
    // Both invites left the inboxes: the one taken and the one skipped.
    for (const p of [alice, bob])
      expect(w.chain.mails(p.address).filter((m) => m.kind === KIND_INVITE)).toEqual([]);
  });

  it('sending without a contact says to run the key exchange', async () => {
    const w = world();
    const alice = w.party('alice');
    const bob = w.party('bob');
    const error = await alice.ch.send(bob.address, 'hi').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoContactError);
    expect((error as NoContactError).code).toBe(320);
    expect((error as Error).message).toContain('cloister kx invite');
  });

  it('keeps contacts and keys only in the sealed store', async () => {
    const { alice, bob } = await exchanged();
    const raw = await alice.store.get(CONTACTS_DOCUMENT);
    expect(raw).toMatch(/^sealed1:/);
    expect(raw).not.toContain(bob.address);
    expect(raw).not.toContain(await stored_key(alice, bob.address));
  });
});

describe('evan exchange: re-keys, key rotation, lost mail, shared stores', () => {
  it("an invitee's re-key replaces the inviter's pending invite, whichever invite id is smaller", async () => {
    for (const [a_first, b_first] of ID_ORDERS) {
      const { w, alice, bob } = parties_with_ids(a_first, b_first);
      const a = await alice.ch.invite(bob.uri);
      expect(a.replaces).toBeNull();
      // Bob accepts without --confirm (the CLI default): Alice stays `invited` with invite a.
      await bob.ch.accept_pending();
      expect(await alice.ch.contact(bob.address)).toMatchObject({ state: 'invited', invite_id: a.invite_id });
      // Later Bob re-keys: his invite names the invite he holds, a.
      w.chain.height = 20;
      const b = await bob.ch.invite(alice.uri);
      expect(b.replaces).toBe(a.invite_id);
      expect(parse_invite_body(w.chain.mails(alice.address).at(-1)!.body).replaces).toBe(a.invite_id);
      const taken = await alice.ch.accept_pending();
      expect(taken.accepted).toMatchObject([{ status: 'accepted', invite_id: b.invite_id }]);
      expect(await alice.ch.contact(bob.address)).toMatchObject({
        state: 'accepted',
        invite_id: b.invite_id,
      });
      expect(await stored_key(alice, bob.address)).toBe(await stored_key(bob, alice.address));
      // Mail opens both ways.
      await alice.ch.send(bob.address, 'to bob');
      await bob.ch.send(alice.address, 'to alice');
      expect((await bob.ch.inbox()).map((e) => [e.text, e.error])).toEqual([['to bob', undefined]]);
      expect((await alice.ch.inbox()).map((e) => [e.text, e.error])).toEqual([['to alice', undefined]]);
    }
  });

  it('genuinely crossed invites keep the smaller invite id on both sides, also when both re-key at once', async () => {
    for (const [a_first, b_first] of ID_ORDERS) {
      const { w, alice, bob } = parties_with_ids(a_first, b_first);
      const a = await alice.ch.invite(bob.uri);
      const b = await bob.ch.invite(alice.uri);
      expect([a.replaces, b.replaces]).toEqual([null, null]);
      await alice.ch.accept_pending();
      await bob.ch.accept_pending();
      const smaller = [a.invite_id, b.invite_id].sort()[0];
      expect((await alice.ch.contact(bob.address))?.invite_id).toBe(smaller);
      expect((await bob.ch.contact(alice.address))?.invite_id).toBe(smaller);
      expect(await stored_key(alice, bob.address)).toBe(await stored_key(bob, alice.address));
      // Both re-key without seeing the other's new invite: each names the old key, not the
      // other's new invite, so this is crossed again and again ends with one key.
      w.chain.height = 30;
      const a2 = await alice.ch.invite(bob.uri);
      const b2 = await bob.ch.invite(alice.uri);
      expect([a2.replaces, b2.replaces]).toEqual([smaller, smaller]);
      await alice.ch.accept_pending();
      await bob.ch.accept_pending();
      const smaller2 = [a2.invite_id, b2.invite_id].sort()[0];
      expect((await alice.ch.contact(bob.address))?.invite_id).toBe(smaller2);
      expect((await bob.ch.contact(alice.address))?.invite_id).toBe(smaller2);
      expect(await stored_key(alice, bob.address)).toBe(await stored_key(bob, alice.address));
    }
  });

  it('crossed invites where the peer confirmed mine first: its earlier invite is skipped, a later one taken', async () => {
    const { w, alice, bob } = parties_with_ids(0x11, 0x22);
    w.chain.height = 10;
    const x = await alice.ch.invite(bob.uri); // committed at 11
    w.chain.height = 11;
    const v = await bob.ch.invite(alice.uri); // committed at 12, not knowing x
    expect(v.replaces).toBeNull();
    // Bob takes x (the smaller id) and confirms it, before Alice has looked at her inbox.
    w.chain.height = 12;
    await bob.ch.accept_pending({ confirm: true });
    expect((await bob.ch.contact(alice.address))?.invite_id).toBe(x.invite_id);
    w.chain.height = 14;
    expect((await alice.ch.take_confirmations()).confirmed).toEqual([bob.address]);
    // Alice now holds a confirmed x; Bob's v was sent before that confirmation: skipped.
    const r = await alice.ch.accept_pending();
    expect(r.accepted).toMatchObject([{ status: 'skipped', invite_id: v.invite_id }]);
    expect((await alice.ch.contact(bob.address))?.invite_id).toBe(x.invite_id);
    expect(await stored_key(alice, bob.address)).toBe(await stored_key(bob, alice.address));
    await alice.ch.send(bob.address, 'still one key');
    expect((await bob.ch.inbox()).map((e) => e.text)).toEqual(['still one key']);
    // A Bob that lost his contacts invites again later, naming nothing: taken, one key again.
    const bob2 = w.party('bob', { key: bob.key, random: ordered_ids(0x33) });
    w.chain.height = 20;
    const fresh = await bob2.ch.invite(alice.uri);
    expect(fresh.replaces).toBeNull();
    const again = await alice.ch.accept_pending();
    expect(again.accepted).toMatchObject([{ status: 'accepted', invite_id: fresh.invite_id }]);
    expect(await stored_key(alice, bob.address)).toBe(await stored_key(bob2, alice.address));
  });

  it("a pending invite survives both parties' key rotation; a revocation back to its height refuses it", async () => {
    const w = world();
    const alice = w.party('alice');
    const bob = w.party('bob');
    await alice.ch.invite(bob.uri); // committed at height 2
    // `directory publish --rotate` on both sides at height 10: new keys, the old revoked from 10 on.
    w.chain.height = 10;
    w.directory.publish(alice.key, 'kx2', 10);
    w.directory.revoke(alice.uri, 10);
    w.directory.publish(bob.key, 'kx2', 10);
    w.directory.revoke(bob.uri, 10);
    w.chain.height = 20;
    const { accepted, failed } = await bob.ch.accept_pending();
    expect(failed).toEqual([]);
    expect(accepted).toMatchObject([{ status: 'accepted', peer: alice.address }]);
    expect(await stored_key(bob, alice.address)).toBe(await stored_key(alice, bob.address));

    // A key revoked from the invite's own height (a compromise) still refuses it.
    const w2 = world();
    const carol = w2.party('carol');
    const dave = w2.party('dave');
    await carol.ch.invite(dave.uri);
    const mail = w2.chain.mails(dave.address)[0]!;
    w2.chain.height = 20;
    w2.directory.revoke(carol.uri, mail.height);
    await expect(dave.ch.accept(mail)).rejects.toBeInstanceOf(RevokedKeyError);
  });

  it('a refused invite is reported once, stays in the inbox until deleted, and then is forgotten', async () => {
    const w = world();
    const alice = w.party('alice');
    const bob = w.party('bob');
    await alice.ch.invite(bob.uri);
    const mail = w.chain.mails(bob.address)[0]!;
    w.directory.revoke(alice.uri, 1); // compromised from before the invite: refused for good
    const first = await bob.ch.accept_pending();
    expect(first.failed).toMatchObject([{ mail_id: mail.id, peer: alice.address, reported: false }]);
    expect(first.failed[0]!.error).toBeInstanceOf(RevokedKeyError);
    const again = await bob.ch.accept_pending();
    expect(again.failed).toMatchObject([{ mail_id: mail.id, reported: true }]);
    expect(w.chain.mails(bob.address).map((m) => m.id)).toEqual([mail.id]);
    await bob.ch.delete([mail.id]);
    expect(w.chain.mails(bob.address)).toEqual([]);
    expect(await bob.ch.accept_pending()).toEqual({ accepted: [], failed: [] });
    // The record of refused invites kept only what is still in the inbox.
    const sealed = sealed_storage(bob.store, derived_secret(bob.key, 'channel-store'));
    expect(JSON.parse((await sealed.get(REFUSED_DOCUMENT))!)).toEqual({ v: 1, ids: [] });
  });

  it('a confirmation lost on the way is sent again by the next accept --confirm, before the invite is deleted', async () => {
    const w = world();
    const alice = w.party('alice');
    let lose_next_confirmation = true;
    const bob = w.party('bob', {
      mailbox: (inner) => ({
        ...inner,
        send: async (to, kind, body) => {
          if (kind === KIND_CONFIRM && lose_next_confirmation) {
            lose_next_confirmation = false;
            throw new Error('the node did not answer');
          }
          return inner.send(to, kind, body);
        },
      }),
    });
    const { invite_id } = await alice.ch.invite(bob.uri);
    await expect(bob.ch.accept_pending({ confirm: true })).rejects.toThrow('the node did not answer');
    expect(await bob.ch.contact(alice.address)).toMatchObject({ state: 'accepted', invite_id });
    expect(w.chain.mails(bob.address).filter((m) => m.kind === KIND_INVITE)).toHaveLength(1);
    const rerun = await bob.ch.accept_pending({ confirm: true });
    expect(rerun.accepted).toMatchObject([
      { status: 'skipped', reason: 'already accepted: confirmation sent again', invite_id },
    ]);
    expect(rerun.accepted[0]!.confirm_mail_id).toBeGreaterThan(0);
    expect(w.chain.mails(bob.address).filter((m) => m.kind === KIND_INVITE)).toEqual([]);
    expect((await alice.ch.take_confirmations()).confirmed).toEqual([bob.address]);
    expect(await alice.ch.contact(bob.address)).toMatchObject({ state: 'confirmed' });
  });

  it('read_ids names the mail inbox has shown and the channel is done with; delete removes them', async () => {
    const { chain, alice, bob, party } = await exchanged();
    const carol = party('carol');
    await alice.ch.send(bob.address, 'one');
    await alice.ch.send(bob.address, 'two');
    await carol.ch.invite(bob.uri); // an invite still to accept
    const kx3 = chain.deliver(carol.address, bob.address, 'kx3', 'another channel');
    const shown = (await bob.ch.inbox()).map((e) => e.id);
    const unread = (await alice.ch.send(bob.address, 'not shown yet')).id;
    const ids = await bob.ch.read_ids();
    const mail_ids = chain
      .mails(bob.address)
      .filter((m) => m.kind === 'mail' && m.id !== unread)
      .map((m) => m.id);
    expect(ids).toEqual(mail_ids);
    expect(shown).toContain(kx3);
    await bob.ch.delete(ids);
    expect(chain.mails(bob.address).map((m) => m.kind)).toEqual(['kx-invite', 'kx3', 'mail']);
    expect(chain.mails(bob.address).at(-1)!.id).toBe(unread);
  });

  it('two channels over one store (two processes) take turns through its lock: no contact is lost', async () => {
    const w = world();
    const shared = new LockedSlowStorage();
    const bob = w.party('bob', { store: shared });
    const alice = w.party('alice');
    const carol = w.party('carol');
    await alice.ch.invite(bob.uri);
    await carol.ch.invite(bob.uri);
    const [from_alice, from_carol] = w.chain.mails(bob.address);
    const other = new EvanChannel({
      key: bob.key,
      mailbox: w.chain.mailbox(bob.address),
      resolver: w.directory,
      store: shared,
      height: async () => w.chain.height,
    });
    await Promise.all([bob.ch.accept(from_alice!), other.accept(from_carol!)]);
    expect((await bob.ch.contacts()).map((c) => c.peer).sort()).toEqual(
      [alice.address, carol.address].sort(),
    );
    expect(shared.locked).toContain(CONTACTS_DOCUMENT);
  });
});

describe('evan exchange: attacks', () => {
  it('a third party with the invite body and her own published key cannot get the communication key', async () => {
    const w = world();
    const alice = w.party('alice');
    const bob = w.party('bob');
    const eve = w.party('eve');
    await alice.ch.invite(bob.uri);
    const mail = w.chain.mails(bob.address)[0]!;
    const body = parse_invite_body(mail.body);
    const alice_pk = kx_key_pair(alice.key, 'kx1').public_key;
    const eve_sk = kx_key_pair(eve.key, 'kx1').secret_key;
    // Her key with Alice's public key gives another exchange key.
    expect(() => open_invite(body, eve_sk, alice_pk)).toThrow(InviteInvalidError);
    // Nor does it help to name her own key in the invite (AAD and exchange-key info change).
    expect(() => open_invite({ ...body, to_uri: eve.uri }, eve_sk, alice_pk)).toThrow(InviteInvalidError);
    // Her channel refuses it as it is, and as rewritten to her (even if it had come from Alice).
    for (const b of [body, { ...body, to_uri: eve.uri }]) {
      const error = await eve.ch.accept({ ...mail, body: JSON.stringify(b) }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InviteInvalidError);
      expect((error as InviteInvalidError).code).toBe(322);
      expect((error as Error).message).toBe(INVITE_INVALID_MESSAGE);
    }
    expect(await eve.ch.contacts()).toEqual([]);
    // And Alice's mail to Bob does not open for her either.
    await alice.ch.send(bob.address, 'for bob only');
    const sent = w.chain.mails(bob.address).at(-1)!;
    await expect(eve.ch.open(sent)).rejects.toBeInstanceOf(NoContactError);
  });

  it('an invite whose mailbox sender is not the account of its from_uri is refused', async () => {
    const w = world();
    const alice = w.party('alice');
    const bob = w.party('bob');
    const mallory = w.party('mallory');
    // Alice invites Mallory; Mallory forwards Alice's real invite body, rewritten for Bob,
    // from her own account: the mailbox records her as the sender.
    await alice.ch.invite(mallory.uri);
    const body = parse_invite_body(w.chain.mails(mallory.address)[0]!.body);
    await mallory.ch.invite(bob.uri); // a real invite from Mallory, to use her channel's mailbox
    w.chain.deliver(mallory.address, bob.address, KIND_INVITE, JSON.stringify({ ...body, to_uri: bob.uri }));
    const { accepted, failed } = await bob.ch.accept_pending();
    expect(accepted.map((a) => a.peer)).toEqual([mallory.address]);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.error).toBeInstanceOf(InviteInvalidError);
    expect(await bob.ch.contact(alice.address)).toBeNull();
    // The refused invite stays in the inbox, marked.
    const entries = await bob.ch.inbox({ all: true });
    expect(entries.find((e) => e.type === 'invite')?.error).toBeInstanceOf(InviteInvalidError);
  });

  it('tampered invites are refused with one message', async () => {
    const w = world();
    const alice = w.party('alice');
    const bob = w.party('bob');
    await alice.ch.invite(bob.uri);
    const mail = w.chain.mails(bob.address)[0]!;
    const body = parse_invite_body(mail.body);
    const ct = from_base64(body.ct);
    ct[0]! ^= 1;
    const variants: unknown[] = [
      { ...body, ct: to_base64(ct) },
      { ...body, epoch_blocks: body.epoch_blocks + 1 },
      { ...body, start_epoch: 0, epoch_blocks: 1 },
      { ...body, invite_id: to_hex(web_random(16)) },
      // `replaces` is bound too: nobody can turn a crossed invite into a re-key, or back.
      { ...body, replaces: to_hex(web_random(16)) },
      { ...body, replaces: undefined },
      { ...body, replaces: 'not an invite id' },
      { ...body, nonce: to_base64(web_random(24)) },
      { ...body, v: 2 },
      'not json',
    ];
    for (const v of variants) {
      const tampered = { ...mail, body: typeof v === 'string' ? v : JSON.stringify(v) };
      const error = await bob.ch.accept(tampered).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InviteInvalidError);
      expect((error as Error).message).toBe(INVITE_INVALID_MESSAGE);
    }
    expect(await bob.ch.contacts()).toEqual([]);
    expect((await bob.ch.accept(mail)).status).toBe('accepted');
  });

  it('unknown and revoked inviter keys are typed errors', async () => {
    const w = world();
    const alice = w.party('alice');
    const bob = w.party('bob');
    await alice.ch.invite(bob.uri);
    const mail = w.chain.mails(bob.address)[0]!;
    const body = parse_invite_body(mail.body);
    const unknown = { ...mail, body: JSON.stringify({ ...body, from_uri: key_uri(alice.address, 'kx9') }) };
    await expect(bob.ch.accept(unknown)).rejects.toBeInstanceOf(UnknownKeyError);
    w.directory.revoke(alice.uri, 1);
    await expect(bob.ch.accept(mail)).rejects.toBeInstanceOf(RevokedKeyError);
  });

  it('a confirmation under another key, or from an account that was not invited, is refused', async () => {
    const w = world();
    const alice = w.party('alice');
    const bob = w.party('bob');
    const eve = w.party('eve');
    const { invite_id } = await alice.ch.invite(bob.uri);
    const forged = { v: 1, invite_id, mac: to_base64(web_random(32)) };
    w.chain.deliver(bob.address, alice.address, 'kx-confirm', JSON.stringify(forged));
    w.chain.deliver(eve.address, alice.address, 'kx-confirm', JSON.stringify(forged));
    const entries = await alice.ch.inbox();
    expect(entries.map((e) => e.error?.code)).toEqual([322, 322]);
    expect(await alice.ch.contact(bob.address)).toMatchObject({ state: 'invited' });
    await bob.ch.accept_pending({ confirm: true });
    await alice.ch.inbox();
    expect(await alice.ch.contact(bob.address)).toMatchObject({ state: 'confirmed' });
  });

  it('a mail replayed into another conversation does not open (AAD binds sender and receiver)', async () => {
    const { chain, directory, alice, bob } = await exchanged();
    await alice.ch.send(bob.address, 'secret for bob');
    const original = chain.mails(bob.address).at(-1)!;
    // Bob reflects Alice's mail back to her: same pair, same key, but from and to are swapped.
    chain.deliver(bob.address, alice.address, 'mail', original.body);
    const reflected = (await alice.ch.inbox()).at(-1)!;
    expect(reflected.error).toBeInstanceOf(MailInvalidError);
    // Bob forwards it to Carol, with whom he has a key of his own.
    const carol_key = generate_key('carol', web_random);
    const carol_address = key_info(carol_key).address;
    const carol_uri = directory.publish(carol_key);
    const carol = new EvanChannel({
      key: carol_key,
      mailbox: chain.mailbox(carol_address),
      resolver: directory,
      store: new MemoryStorage(),
      height: async () => chain.height,
    });
    await bob.ch.invite(carol_uri);
    await carol.accept_pending();
    chain.deliver(bob.address, carol_address, 'mail', original.body);
    expect((await carol.inbox()).at(-1)?.error).toBeInstanceOf(MailInvalidError);
    // The original still opens for Bob.
    expect((await bob.ch.open(original)).text).toBe('secret for bob');
  });
});

describe('evan exchange: epochs', () => {
  it('mail across epoch boundaries opens; older keys are forgotten', async () => {
    const { chain, alice, bob } = await exchanged(10);
    chain.height = 5; // epoch 0
    await alice.ch.send(bob.address, 'epoch 0');
    chain.height = 15; // epoch 1
    await alice.ch.send(bob.address, 'epoch 1');
    chain.height = 37; // epoch 3
    await alice.ch.send(bob.address, 'epoch 3');
    const key_before = await stored_key(bob, alice.address);
    const entries = await bob.ch.inbox();
    expect(entries.map((e) => [e.text, e.epoch])).toEqual([
      ['epoch 0', 0],
      ['epoch 1', 1],
      ['epoch 3', 3],
    ]);
    expect(await bob.ch.contact(alice.address)).toMatchObject({ base_epoch: 3 });
    // Sending moves nothing: the sender's base moves only when it reads.
    expect(await alice.ch.contact(bob.address)).toMatchObject({ base_epoch: 0 });
    expect(await stored_key(bob, alice.address)).not.toBe(key_before);
    // Rereading: the epoch 0 and 1 keys are gone.
    const again = await bob.ch.inbox({ all: true });
    expect(again[0]?.error).toBeInstanceOf(EpochExpiredError);
    expect(again[0]?.error?.code).toBe(321);
    expect(again[1]?.error).toBeInstanceOf(EpochExpiredError);
    expect(again[2]?.text).toBe('epoch 3');
    // Bob's reply in a later epoch moves both forward again.
    chain.height = 41;
    await bob.ch.send(alice.address, 'epoch 4');
    expect((await alice.ch.inbox()).map((e) => [e.text, e.epoch])).toEqual([['epoch 4', 4]]);
  });

  it("sending in a new epoch moves no key forward: the peer's unread older mail still opens", async () => {
    const { chain, alice, bob } = await exchanged(10);
    chain.height = 15; // epoch 1
    await bob.ch.send(alice.address, 'sent in epoch 1');
    chain.height = 25; // epoch 2
    await bob.ch.send(alice.address, 'sent in epoch 2');
    chain.height = 55; // epoch 5: Alice writes before reading
    expect((await alice.ch.send(bob.address, 'epoch 5')).epoch).toBe(5);
    expect(await alice.ch.contact(bob.address)).toMatchObject({ base_epoch: 0 });
    const entries = await alice.ch.inbox();
    expect(entries.map((e) => [e.text, e.epoch])).toEqual([
      ['sent in epoch 1', 1],
      ['sent in epoch 2', 2],
    ]);
    // Reading moved her base to epoch 2; Bob reads her epoch 5 mail as usual.
    expect(await alice.ch.contact(bob.address)).toMatchObject({ base_epoch: 2 });
    expect((await bob.ch.inbox()).map((e) => [e.text, e.epoch])).toEqual([['epoch 5', 5]]);
  });

  it('a contact idle for too many epochs must exchange keys again', async () => {
    const { chain, alice, bob } = await exchanged(1);
    chain.height = EPOCH_STEPS_MAX + 10;
    const error = await alice.ch.send(bob.address, 'too late').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ContactIdleError);
    expect((error as ContactIdleError).code).toBe(321);
  });

  it('a new invite re-keys a contact; a replayed older invite does not', async () => {
    const { chain, alice, bob } = await exchanged();
    chain.height = 50;
    await alice.ch.invite(bob.uri);
    const fresh = chain.mails(bob.address).at(-1)!;
    expect((await bob.ch.accept(fresh)).status).toBe('accepted');
    expect((await bob.ch.accept(fresh)).reason).toBe('already accepted');
    await alice.ch.send(bob.address, 'under the new key');
    expect((await bob.ch.inbox()).map((e) => e.text)).toContain('under the new key');
    // The first exchange's invite, replayed into Bob's inbox, would roll the key back: skipped.
    const w2 = world();
    const a2 = w2.party('a2');
    const b2 = w2.party('b2');
    await a2.ch.invite(b2.uri);
    const first = w2.chain.mails(b2.address)[0]!;
    await b2.ch.accept(first);
    w2.chain.height = 60;
    await a2.ch.invite(b2.uri);
    await b2.ch.accept(w2.chain.mails(b2.address).at(-1)!);
    expect((await b2.ch.accept(first)).reason).toBe('older than the key this contact holds');
  });

  it('a mail claiming an epoch later than its block is refused (cannot push the base forward)', async () => {
    const { chain, alice, bob } = await exchanged(10);
    chain.height = 37;
    await alice.ch.send(bob.address, 'epoch 3');
    const mail = chain.mails(bob.address).at(-1)!;
    // Delivered as if committed in epoch 1: the body's epoch 3 is in the future.
    await expect(bob.ch.open({ ...mail, height: 12 })).rejects.toBeInstanceOf(MailInvalidError);
    expect(await bob.ch.contact(alice.address)).toMatchObject({ base_epoch: 0 });
  });
});
