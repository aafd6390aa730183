/**
 * client/sdk/channels/kilt.ts with an in-memory directory: the honest flow (and tweetnacl opening
 * the envelope's box), then the attacks: a replayed envelope (also after a restart), old and
 * future messages, tampered ciphertext, nonce and key URIs, the wrong receiver, a sender URI that
 * names another account's key, a sender or receiver inside that does not match its key, malformed
 * envelopes (all one identical CannotOpenError), revoked and unknown keys (typed), and the seen-id
 * store's bound.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { ChannelErrorCode, RevokedKeyError, UnknownKeyError } from '../../../client/sdk/channels/errors.js';
import {
  account_uri,
  CANNOT_OPEN_MESSAGE,
  CannotOpenError,
  KILT_ENVELOPE_CHARS_MAX,
  KILT_PLAINTEXT_BYTES_MAX,
  type KiltEnvelope,
  type KiltMessage,
  NotOwnKeyError,
  open,
  seal,
} from '../../../client/sdk/channels/kilt.js';
import { kx_key_pair } from '../../../client/sdk/channels/kx_keys.js';
import { box } from '../../../client/sdk/channels/nacl_box.js';
import { ReplayError, ReplayGuard, SeenStoreFullError } from '../../../client/sdk/channels/replay_guard.js';
import { MemoryStorage } from '../../../client/sdk/channels/storage.js';
import { FileStorage } from '../../../client/sdk/channels/storage_file_node.js';
import { from_hex, from_utf8, to_hex, utf8 } from '../../../protocol/bytes.js';
import { address, FakeDirectory, fixed_key } from './kilt_fakes.js';

const NOW = 1_700_000_000_000;
const alice = fixed_key('alice');
const bob = fixed_key('bob');
const carol = fixed_key('carol');
const dir = mkdtempSync(join(tmpdir(), 'cloister-kilt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let directory: FakeDirectory;
let bob_guard: ReplayGuard;
let uris: { alice: string; bob: string; bob2: string; carol: string };

beforeEach(() => {
  directory = new FakeDirectory();
  bob_guard = new ReplayGuard(new MemoryStorage());
  uris = {
    alice: directory.publish(alice),
    bob: directory.publish(bob),
    bob2: directory.publish(bob, 'kx2'),
    carol: directory.publish(carol),
  };
});

async function sealed(text = 'hello bob', now_ms = NOW, to = uris.bob) {
  return seal({ key: alice, to, body: { type: 'text', content: text }, resolver: directory, now_ms });
}

function bob_opens(envelope: unknown, now_ms = NOW, guard = bob_guard) {
  return open(envelope, { key: bob, resolver: directory, guard, now_ms });
}

/** The error `work` rejects with. */
async function error_of(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

/** Expects the one CannotOpenError: same class, code and message whatever the cause. */
async function expect_cannot_open(work: Promise<unknown>): Promise<void> {
  const error = await error_of(work);
  expect(error).toBeInstanceOf(CannotOpenError);
  expect((error as CannotOpenError).code).toBe(ChannelErrorCode.CANNOT_OPEN);
  expect((error as CannotOpenError).message).toBe(CANNOT_OPEN_MESSAGE);
}

/** An envelope from `sender` (key kx1) to Bob's kx1 whose plaintext is `message`, made by hand. */
function forged(sender: typeof alice, message: unknown, receiver_uri = uris.bob): KiltEnvelope {
  const nonce = new Uint8Array(24).fill(7);
  const ciphertext = box(
    utf8(JSON.stringify(message)),
    nonce,
    kx_key_pair(bob, 'kx1').public_key,
    kx_key_pair(sender, 'kx1').secret_key,
  );
  return {
    ciphertext: `0x${to_hex(ciphertext)}`,
    nonce: `0x${to_hex(nonce)}`,
    senderKeyUri: `cloister:${address(sender)}#kx1`,
    receiverKeyUri: receiver_uri,
  };
}

function honest_message(overrides: Partial<KiltMessage> = {}): KiltMessage {
  return {
    body: { type: 'text', content: 'hi' },
    createdAt: NOW,
    sender: account_uri(address(carol)),
    receiver: account_uri(address(bob)),
    messageId: `0x${'ab'.repeat(32)}`,
    ...overrides,
  };
}

describe('the honest flow', () => {
  it('Alice seals for Bob, Bob opens it once', async () => {
    const { envelope, message } = await sealed();
    expect(Object.keys(envelope).sort()).toEqual(['ciphertext', 'nonce', 'receiverKeyUri', 'senderKeyUri']);
    expect(envelope.senderKeyUri).toBe(uris.alice);
    expect(envelope.receiverKeyUri).toBe(uris.bob);
    expect(envelope.nonce).toMatch(/^0x[0-9a-f]{48}$/);
    expect(envelope.ciphertext).toMatch(/^0x([0-9a-f]{2})+$/);
    expect(message).toEqual({
      body: { type: 'text', content: 'hello bob' },
      createdAt: NOW,
      sender: `cloister:${address(alice)}`,
      receiver: `cloister:${address(bob)}`,
      messageId: expect.stringMatching(/^0x[0-9a-f]{64}$/),
    });
    expect(await bob_opens(envelope, NOW + 500)).toEqual(message);
  });

  it('opens the JSON text as well, any JSON content, and to a second key of Bob', async () => {
    const { envelope, message } = await seal({
      key: alice,
      to: uris.bob2,
      body: { type: 'request-credential', content: { cTypes: [{ cTypeHash: '0x00' }], challenge: 'c' } },
      resolver: directory,
      now_ms: NOW,
    });
    expect(await bob_opens(JSON.stringify(envelope))).toEqual(message);
  });

  it("is tweetnacl's box: tweetnacl opens the ciphertext with the two key-agreement keys", async () => {
    const { envelope, message } = await sealed();
    const opened = nacl.box.open(
      from_hex(envelope.ciphertext.slice(2)),
      from_hex(envelope.nonce.slice(2)),
      kx_key_pair(alice, 'kx1').public_key,
      kx_key_pair(bob, 'kx1').secret_key,
    );
    expect(JSON.parse(from_utf8(opened!))).toEqual(message);
  });

  it('uses the random source given, and the sender key id given', async () => {
    directory.publish(alice, 'kx7');
    const { envelope, message } = await seal({
      key: alice,
      sender_key_id: 'kx7',
      to: uris.bob,
      body: { type: 'text', content: 'x' },
      resolver: directory,
      now_ms: NOW,
      random: (n) => new Uint8Array(n).fill(1),
    });
    expect(envelope.senderKeyUri).toBe(`cloister:${address(alice)}#kx7`);
    expect(envelope.nonce).toBe(`0x${'01'.repeat(24)}`);
    expect(message.messageId).toBe(`0x${'01'.repeat(32)}`);
    expect(await bob_opens(envelope)).toEqual(message);
  });

  it('keeps envelopes inside one mail, and refuses a message too large for one', async () => {
    // The largest plaintext with the longest URIs still fits the mailbox's 16,384 characters.
    const long = fixed_key('long');
    const long_uri = directory.publish(long, 'k'.repeat(32));
    directory.publish(alice, 'a'.repeat(32));
    const base = JSON.stringify({
      body: { type: 'text', content: '' },
      createdAt: NOW,
      sender: account_uri(address(alice)),
      receiver: account_uri(address(long)),
      messageId: `0x${'00'.repeat(32)}`,
    }).length;
    const biggest = await seal({
      key: alice,
      sender_key_id: 'a'.repeat(32),
      to: long_uri,
      body: { type: 'text', content: 'x'.repeat(KILT_PLAINTEXT_BYTES_MAX - base) },
      resolver: directory,
      now_ms: NOW,
    });
    expect(JSON.stringify(biggest.envelope).length).toBeLessThanOrEqual(KILT_ENVELOPE_CHARS_MAX);
    await expect(
      seal({
        key: alice,
        to: uris.bob,
        body: { type: 'text', content: 'x'.repeat(KILT_PLAINTEXT_BYTES_MAX) },
        resolver: directory,
        now_ms: NOW,
      }),
    ).rejects.toThrow(RangeError);
  });

  it('refuses to seal with a bad body, to a malformed URI, or from a key the directory does not hold', async () => {
    const to = uris.bob;
    const base = { key: alice, to, resolver: directory, now_ms: NOW };
    await expect(seal({ ...base, body: { type: 'Text!', content: 'x' } })).rejects.toThrow(TypeError);
    await expect(seal({ ...base, body: { type: 'text', content: undefined } })).rejects.toThrow(TypeError);
    await expect(seal({ ...base, to: 'did:kilt:x#1', body: { type: 'text', content: 'x' } })).rejects.toThrow(
      TypeError,
    );
    await expect(
      seal({ ...base, sender_key_id: 'kx9', body: { type: 'text', content: 'x' } }),
    ).rejects.toThrow(UnknownKeyError);
    // Someone published under Alice's address a key that is not hers (here: Carol's): refuse.
    directory.publish(alice, 'kx3', kx_key_pair(carol, 'kx1').public_key);
    await expect(
      seal({ ...base, sender_key_id: 'kx3', body: { type: 'text', content: 'x' } }),
    ).rejects.toThrow(NotOwnKeyError);
  });
});

describe('replays', () => {
  it('the same envelope twice: ReplayError naming replay', async () => {
    const { envelope } = await sealed();
    await bob_opens(envelope);
    const error = await error_of(bob_opens(envelope, NOW + 1_000));
    expect(error).toBeInstanceOf(ReplayError);
    expect((error as ReplayError).code).toBe(ChannelErrorCode.REPLAY);
    expect((error as ReplayError).reason).toBe('seen');
    expect((error as Error).message).toMatch(/replay/);
  });

  it('after a restart: a new guard over the same store (files) still refuses it', async () => {
    const { envelope } = await sealed();
    const store = join(dir, 'bob-restart');
    await bob_opens(envelope, NOW, new ReplayGuard(new FileStorage(store)));
    const error = await error_of(bob_opens(envelope, NOW + 10, new ReplayGuard(new FileStorage(store))));
    expect(error).toBeInstanceOf(ReplayError);
    expect((error as ReplayError).reason).toBe('seen');
  });

  it('an old or a future envelope: ReplayError, and it says why', async () => {
    const { envelope } = await sealed('old', NOW - 60_001);
    const old = await error_of(bob_opens(envelope));
    expect(old).toBeInstanceOf(ReplayError);
    expect((old as ReplayError).reason).toBe('too_old');
    expect((old as Error).message).toMatch(/replay.*ago/);
    const future = await error_of(bob_opens((await sealed('future', NOW + 1_001)).envelope));
    expect((future as ReplayError).reason).toBe('in_future');
    // The edges of the window open.
    await bob_opens((await sealed('edge', NOW - 60_000)).envelope);
    await bob_opens((await sealed('edge', NOW + 1_000)).envelope);
  });

  it('two opens of one envelope at once: exactly one succeeds', async () => {
    const { envelope } = await sealed();
    const results = await Promise.allSettled([bob_opens(envelope), bob_opens(envelope), bob_opens(envelope)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((r) => r.status === 'rejected'))
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ReplayError);
  });

  it('a failed open records nothing: the genuine envelope opens after a tampered copy was refused', async () => {
    const { envelope } = await sealed();
    // Its last byte with one bit flipped: a change whatever that byte was.
    const last = (Number.parseInt(envelope.ciphertext.slice(-2), 16) ^ 1).toString(16).padStart(2, '0');
    const bad = { ...envelope, ciphertext: `${envelope.ciphertext.slice(0, -2)}${last}` };
    await expect_cannot_open(bob_opens(bad));
    expect(await bob_guard.size(NOW)).toBe(0);
    await bob_opens(envelope);
  });

  it('the store bound: full of live ids, opening fails closed; a minute later new envelopes open again', async () => {
    const guard = new ReplayGuard(new MemoryStorage(), { max_ids: 2 });
    await bob_opens((await sealed('1')).envelope, NOW, guard);
    await bob_opens((await sealed('2')).envelope, NOW, guard);
    const third = (await sealed('3')).envelope;
    const error = await error_of(bob_opens(third, NOW, guard));
    expect(error).toBeInstanceOf(SeenStoreFullError);
    expect((error as SeenStoreFullError).code).toBe(ChannelErrorCode.SEEN_STORE_FULL);
    const later = NOW + 61_000;
    await bob_opens((await sealed('4', later)).envelope, later, guard);
  });
});

describe('attacks that must all read the same: CannotOpenError', () => {
  it('tampered ciphertext (every byte of the tag, some of the body), nonce', async () => {
    const { envelope } = await sealed();
    const bytes = from_hex(envelope.ciphertext.slice(2));
    for (const at of [0, 5, 15, 16, 17, bytes.length - 1]) {
      const changed = Uint8Array.from(bytes);
      changed[at]! ^= 0x80;
      await expect_cannot_open(bob_opens({ ...envelope, ciphertext: `0x${to_hex(changed)}` }));
    }
    await expect_cannot_open(bob_opens({ ...envelope, ciphertext: `0x${to_hex(bytes.subarray(0, 40))}` }));
    const nonce = from_hex(envelope.nonce.slice(2));
    nonce[0]! ^= 1;
    await expect_cannot_open(bob_opens({ ...envelope, nonce: `0x${to_hex(nonce)}` }));
    // And the genuine one still opens.
    await bob_opens(envelope);
  });

  it('tampered key URIs: another published key of the sender or receiver, another account', async () => {
    const { envelope } = await sealed();
    directory.publish(alice, 'kx2');
    await expect_cannot_open(bob_opens({ ...envelope, senderKeyUri: `cloister:${address(alice)}#kx2` }));
    await expect_cannot_open(bob_opens({ ...envelope, receiverKeyUri: uris.bob2 }));
    // Wrong key URI: the sender URI names another account's key (Carol's).
    await expect_cannot_open(bob_opens({ ...envelope, senderKeyUri: uris.carol }));
    // The receiver URI names Carol: not for Bob.
    await expect_cannot_open(bob_opens({ ...envelope, receiverKeyUri: uris.carol }));
  });

  it('the wrong receiver: Carol opens an envelope for Bob', async () => {
    const { envelope } = await sealed();
    const carol_guard = new ReplayGuard(new MemoryStorage());
    await expect_cannot_open(
      open(envelope, { key: carol, resolver: directory, guard: carol_guard, now_ms: NOW }),
    );
    // Even with the receiver URI changed to her own key, it does not open for her.
    await expect_cannot_open(
      open(
        { ...envelope, receiverKeyUri: uris.carol },
        { key: carol, resolver: directory, guard: carol_guard, now_ms: NOW },
      ),
    );
  });

  it("the sender inside does not match the sender key (KILT's sender check)", async () => {
    // Carol seals with her own key but claims to be Alice inside.
    const lie = forged(carol, honest_message({ sender: account_uri(address(alice)) }));
    await expect_cannot_open(bob_opens(lie));
    // The control: the same forged envelope, honest about its sender, opens.
    expect((await bob_opens(forged(carol, honest_message()))).sender).toBe(account_uri(address(carol)));
  });

  it('the receiver inside is not this account (the check KILT forgot)', async () => {
    // Carol wrote a message to Dave, then boxed it for Bob's key: Bob must not take it as his.
    const dave = fixed_key('dave');
    await expect_cannot_open(
      bob_opens(forged(carol, honest_message({ receiver: account_uri(address(dave)) }))),
    );
    await expect_cannot_open(
      bob_opens(forged(carol, honest_message({ receiver: `cloister:${address(bob)}#kx1` }))),
    );
  });

  it('a plaintext that is not exactly a message', async () => {
    const m = honest_message();
    const bad: unknown[] = [
      { ...m, extra: 1 },
      { ...m, messageId: 'not-hex' },
      { ...m, messageId: `0x${'AB'.repeat(32)}` },
      { ...m, createdAt: '1' },
      { ...m, createdAt: 1.5 },
      { ...m, body: { type: 'text' } },
      { ...m, body: { type: 'text', content: 1, x: 2 } },
      { body: m.body, createdAt: m.createdAt, sender: m.sender, receiver: m.receiver },
      [m],
      'text',
    ];
    for (const message of bad) await expect_cannot_open(bob_opens(forged(carol, message)));
    // Not JSON, and JSON with a duplicated key.
    const raw = (text: string) => {
      const nonce = new Uint8Array(24);
      const c = box(
        utf8(text),
        nonce,
        kx_key_pair(bob, 'kx1').public_key,
        kx_key_pair(carol, 'kx1').secret_key,
      );
      return {
        ciphertext: `0x${to_hex(c)}`,
        nonce: `0x${to_hex(nonce)}`,
        senderKeyUri: uris.carol,
        receiverKeyUri: uris.bob,
      };
    };
    await expect_cannot_open(bob_opens(raw('{not json')));
    const dup = JSON.stringify(m).replace('"createdAt"', '"createdAt":1,"createdAt"');
    await expect_cannot_open(bob_opens(raw(dup)));
  });

  it('malformed envelopes: unknown or missing fields, bad hex, wrong nonce length, not JSON', async () => {
    const { envelope } = await sealed();
    const variants: unknown[] = [
      { ...envelope, receivedAt: NOW },
      { ciphertext: envelope.ciphertext, nonce: envelope.nonce, senderKeyUri: envelope.senderKeyUri },
      { ...envelope, ciphertext: envelope.ciphertext.slice(2) },
      { ...envelope, ciphertext: envelope.ciphertext.toUpperCase().replace('0X', '0x') },
      { ...envelope, ciphertext: `${envelope.ciphertext}0` },
      { ...envelope, ciphertext: '0x' },
      { ...envelope, nonce: envelope.nonce.slice(0, -2) },
      { ...envelope, nonce: `${envelope.nonce}00` },
      { ...envelope, nonce: 7 },
      { ...envelope, senderKeyUri: envelope.senderKeyUri.replace('cloister:', 'did:kilt:') },
      { ...envelope, receiverKeyUri: envelope.receiverKeyUri.split('#')[0] },
      { ...envelope, senderKeyId: envelope.senderKeyUri },
      null,
      [envelope],
      'not json',
      `${JSON.stringify(envelope).slice(0, -1)},"nonce":"${envelope.nonce}"}`,
      JSON.stringify(envelope).padEnd(KILT_ENVELOPE_CHARS_MAX + 1, ' '),
    ];
    for (const v of variants) await expect_cannot_open(bob_opens(v));
    await bob_opens(envelope);
  });
});

describe('keys the directory does not list as live: the one error when opening, typed when sealing', () => {
  it('a revoked receiver key', async () => {
    const { envelope } = await sealed();
    directory.revoke(uris.bob);
    await expect_cannot_open(bob_opens(envelope));
    // And nobody can seal to it any more: the sender is told why.
    await expect(sealed()).rejects.toBeInstanceOf(RevokedKeyError);
    // Bob's other key still works.
    await bob_opens((await sealed('to kx2', NOW, uris.bob2)).envelope);
  });

  it('a revoked or unknown sender key', async () => {
    const { envelope } = await sealed();
    await expect_cannot_open(bob_opens({ ...envelope, senderKeyUri: `cloister:${address(alice)}#kx9` }));
    directory.revoke(uris.alice);
    await expect_cannot_open(bob_opens(envelope));
    expect(await bob_guard.size(NOW)).toBe(0);
  });

  it('an unknown receiver key id of this account', async () => {
    const { envelope } = await sealed();
    await expect_cannot_open(bob_opens({ ...envelope, receiverKeyUri: `cloister:${address(bob)}#kx9` }));
  });

  it('a directory that cannot be reached is its own error, not a failure to open', async () => {
    const { envelope } = await sealed();
    const down = {
      resolve: async () => {
        throw new Error('connect ECONNREFUSED');
      },
    };
    await expect(open(envelope, { key: bob, resolver: down, guard: bob_guard, now_ms: NOW })).rejects.toThrow(
      'ECONNREFUSED',
    );
    await bob_opens(envelope);
  });
});
