/**
 * The stream ACL system contract (contracts/stream_acl.js): streams owned by their creator,
 * grants with expiry, the keeper told of every grant and revoke, and messages as public events;
 * from empty state as at genesis (no instantiate).
 */

import { describe, expect, it } from 'vitest';
import { address, ContractHarness, contract_source, data_of, error_of } from '../vm/harness.js';

const alice = address('alice');
const bob = address('bob');
const carol = address('carol');
const keeper = address('keeper');
const stream = `${alice}/news`;

function acl(with_keeper = false) {
  const h = new ContractHarness(contract_source('stream_acl'));
  expect(data_of(h.execute({ create: { name: 'news', ...(with_keeper ? { keeper } : {}) } }, alice))).toEqual(
    {
      stream,
    },
  );
  return h;
}

function grant(h: ContractHarness, account: string, extra: Record<string, unknown> = {}, sender = alice) {
  return h.execute({ grant: { stream, account, ...extra } }, sender);
}

function publish(h: ContractHarness, sender: string, message = 'ciphertext', kind?: string) {
  return h.execute({ publish: { stream, message, ...(kind === undefined ? {} : { kind }) } }, sender);
}

const NONE = { publish: false, subscribe: false, expires_ms: null, granted_height: null };

describe('stream_acl', () => {
  it('creates streams named by their owner, once', () => {
    const h = acl();
    expect(data_of(h.query({ stream: { stream } }))).toEqual({
      owner: alice,
      keeper: null,
      seq: 0,
      created_height: 10,
      removed_height: null,
    });
    expect(error_of(h.execute({ create: { name: 'news' } }, alice))).toContain('exists');
    // The same name is another stream for another owner.
    expect(data_of(h.execute({ create: { name: 'news', keeper } }, bob))).toEqual({ stream: `${bob}/news` });
    expect(data_of(h.query({ stream: { stream: `${bob}/news` } }))).toMatchObject({ owner: bob, keeper });
    expect(error_of(h.query({ stream: { stream: `${carol}/news` } }))).toContain('unknown stream');
  });

  it('grants, lists and revokes permissions; only the owner may', () => {
    const h = acl();
    h.height = 12;
    expect(data_of(grant(h, bob, { publish: true, subscribe: true, expires_ms: 1_800_000_000_000 }))).toEqual(
      {
        status: 'ok',
      },
    );
    h.height = 13;
    grant(h, carol, { subscribe: true });
    expect(data_of(h.query({ permissions: { stream, account: bob } }))).toEqual({
      publish: true,
      subscribe: true,
      expires_ms: 1_800_000_000_000,
      granted_height: 12,
    });
    expect(data_of(h.query({ permissions: { stream, account: alice } }))).toEqual({
      publish: true,
      subscribe: true,
      expires_ms: null,
      granted_height: 10,
    });
    expect(data_of(h.query({ permissions: { stream, account: address('dave') } }))).toEqual(NONE);
    expect(data_of(h.query({ members: { stream } }))).toEqual({
      members: [
        { account: bob, publish: true, subscribe: true, expires_ms: 1_800_000_000_000, granted_height: 12 },
        { account: carol, publish: false, subscribe: true, expires_ms: null, granted_height: 13 },
      ],
      removed_height: null,
    });
    // A grant replaces the permissions; the member keeps its place.
    grant(h, bob, { subscribe: true });
    expect(data_of(h.query({ permissions: { stream, account: bob } }))).toEqual({
      publish: false,
      subscribe: true,
      expires_ms: null,
      granted_height: 13,
    });
    expect(error_of(grant(h, address('dave'), { subscribe: true }, bob))).toContain('only the stream owner');
    expect(error_of(h.execute({ revoke: { stream, account: carol } }, bob))).toContain(
      'only the stream owner',
    );
    expect(error_of(grant(h, alice, { publish: true }))).toContain('every permission already');
    expect(data_of(h.execute({ revoke: { stream, account: bob } }, alice))).toEqual({ status: 'ok' });
    expect(data_of(h.query({ permissions: { stream, account: bob } }))).toEqual(NONE);
    expect(data_of(h.query({ members: { stream } }))).toMatchObject({ members: [{ account: carol }] });
    expect(error_of(h.execute({ revoke: { stream, account: bob } }, alice))).toContain('is not a member');
  });

  it('records the height of the latest removal of a subscriber', () => {
    const h = acl();
    const removed = () =>
      (data_of(h.query({ stream: { stream } })) as { removed_height: number | null }).removed_height;
    const listed = () =>
      (data_of(h.query({ members: { stream } })) as { removed_height: number | null }).removed_height;
    h.height = 11;
    grant(h, bob, { subscribe: true });
    grant(h, carol, { publish: true });
    // Renewing a subscriber, or changing a publisher, removes no one.
    h.height = 12;
    grant(h, bob, { subscribe: true, publish: true, expires_ms: h.time_ms + 60_000 });
    grant(h, carol, { publish: false });
    expect(removed()).toBeNull();
    // A grant that takes subscribe away is a removal (what `stream grant --publish` does to a subscriber).
    h.height = 13;
    grant(h, bob, { publish: true });
    expect(removed()).toBe(13);
    expect(listed()).toBe(13);
    // A grant already lapsed at the block time is one too.
    h.height = 14;
    grant(h, bob, { subscribe: true });
    h.height = 15;
    grant(h, bob, { subscribe: true, expires_ms: h.time_ms });
    expect(removed()).toBe(15);
    // So is a grant that takes subscribe from a member whose subscription had lapsed (it may hold a key).
    h.height = 16;
    h.time_ms += 1;
    grant(h, bob, { publish: true });
    expect(removed()).toBe(16);
    // A revoke of a publisher removes no subscriber; a revoke of a subscriber does.
    h.height = 17;
    h.execute({ revoke: { stream, account: carol } }, alice);
    h.execute({ revoke: { stream, account: bob } }, alice);
    expect(removed()).toBe(16);
    grant(h, carol, { subscribe: true });
    h.height = 18;
    h.execute({ revoke: { stream, account: carol } }, alice);
    expect(removed()).toBe(18);
    expect(listed()).toBe(18);
  });

  it('tells the keeper of every grant and revoke', () => {
    const h = acl(true);
    const granted = grant(h, bob, { subscribe: true, expires_ms: 5 });
    expect(granted).toMatchObject({
      kind: 'ok',
      messages: [
        {
          kind: 'execute',
          contract: keeper,
          funds: 0,
          reply: false,
          msg_json: JSON.stringify({ acl_update: { stream, account: bob, subscribe: true, expires_ms: 5 } }),
        },
      ],
    });
    expect(h.execute({ revoke: { stream, account: bob } }, alice)).toMatchObject({
      messages: [
        {
          kind: 'execute',
          contract: keeper,
          msg_json: JSON.stringify({
            acl_update: { stream, account: bob, subscribe: false, expires_ms: null },
          }),
        },
      ],
    });
    // Without a keeper, nothing is sent.
    const plain = acl();
    expect(grant(plain, bob, { subscribe: true })).toMatchObject({ kind: 'ok', messages: [] });
  });

  it('publishes messages as public events with a per-stream seq, for permitted senders only', () => {
    const h = acl();
    grant(h, bob, { publish: true, expires_ms: h.time_ms + 1_000 });
    grant(h, carol, { subscribe: true });
    const first = publish(h, alice, 'by the owner');
    expect(data_of(first)).toEqual({ seq: 1 });
    expect(first).toMatchObject({
      events: [
        {
          type: 'stream_message',
          public: true,
          attributes: [
            { key: 'stream', value: stream },
            { key: 'seq', value: '1' },
            { key: 'sender', value: alice },
            { key: 'message', value: 'by the owner' },
          ],
        },
      ],
    });
    expect(data_of(publish(h, bob, 'by bob'))).toEqual({ seq: 2 });
    expect(error_of(publish(h, carol, 'no'))).toContain('may not publish');
    expect(error_of(publish(h, carol, 'no', 'key_response'))).toContain('may not publish');
    // Anyone may ask for the key; every kind takes a seq.
    const request = publish(h, address('stranger'), 'temp public key', 'key_request');
    expect(data_of(request)).toEqual({ seq: 3 });
    expect(request).toMatchObject({ events: [{ type: 'stream_key_request' }] });
    expect(publish(h, bob, 'wrapped key', 'key_response')).toMatchObject({
      data_json: '{"seq":4}',
      events: [{ type: 'stream_key_response' }],
    });
    // Bob's permission expires at the block time.
    h.time_ms += 1_000;
    expect(error_of(publish(h, bob, 'late'))).toContain('may not publish');
    expect(data_of(h.query({ stream: { stream } }))).toMatchObject({ seq: 4 });
  });

  it('bounds messages to what one event holds, in UTF-8 bytes', () => {
    const h = acl();
    expect(data_of(publish(h, alice, 'x'.repeat(8_000)))).toEqual({ seq: 1 });
    expect(error_of(publish(h, alice, 'x'.repeat(8_001)))).toContain('at most 8000 UTF-8 bytes');
    expect(data_of(publish(h, alice, '€'.repeat(2_666)))).toEqual({ seq: 2 });
    expect(error_of(publish(h, alice, '€'.repeat(2_667)))).toContain('at most 8000 UTF-8 bytes');
    expect(data_of(publish(h, alice, '😀'.repeat(2_000), 'key_response'))).toEqual({ seq: 3 });
    expect(error_of(publish(h, alice, '😀'.repeat(2_001)))).toContain('at most 8000 UTF-8 bytes');
  });

  it('holds at most 256 members', () => {
    const h = acl();
    h.gas_limit = 100_000_000;
    for (let i = 0; i < 256; i++) expect(grant(h, address(`m${i}`), { subscribe: true }).kind).toBe('ok');
    expect(error_of(grant(h, bob, { subscribe: true }))).toContain('at most 256 members');
    // Re-granting a member is not a new member.
    expect(grant(h, address('m7'), { publish: true }).kind).toBe('ok');
    h.execute({ revoke: { stream, account: address('m7') } }, alice);
    expect(grant(h, bob, { subscribe: true }).kind).toBe('ok');
    const { members } = data_of(h.query({ members: { stream } })) as { members: { account: string }[] };
    expect(members).toHaveLength(256);
    expect(members[255]!.account).toBe(bob);
  });

  it('refuses bad input without changing state', () => {
    const h = acl();
    const before = h.storage.snapshot();
    const cases: [unknown, string][] = [
      [{ create: { name: '' } }, 'name must be'],
      [{ create: { name: 'News' } }, 'name must be'],
      [{ create: { name: 'n'.repeat(33) } }, 'name must be'],
      [{ create: { name: 'x', keeper: 'nope' } }, 'keeper must be'],
      [{ grant: { stream: 'news', account: bob } }, 'stream must be'],
      [{ grant: { stream: `${alice}/`, account: bob } }, 'stream must be'],
      [{ grant: { stream: `${alice}/${'n'.repeat(33)}`, account: bob } }, 'stream must be'],
      [{ grant: { stream: `${alice.toUpperCase()}/news`, account: bob } }, 'stream must be'],
      [{ grant: { stream, account: 'bob' } }, 'account must be'],
      [{ grant: { stream, account: bob, publish: 'yes' } }, 'publish must be a boolean'],
      [{ grant: { stream, account: bob, subscribe: 1 } }, 'subscribe must be a boolean'],
      [{ grant: { stream, account: bob, expires_ms: -1 } }, 'expires_ms must be'],
      [{ grant: { stream, account: bob, expires_ms: '5' } }, 'expires_ms must be'],
      [{ publish: { stream, kind: 'other', message: 'x' } }, 'kind must be'],
      [{ publish: { stream, message: 5 } }, 'message must be a string'],
      [{ publish: { stream: `${alice}/other`, message: 'x' } }, 'unknown stream'],
      [{ rename: {} }, 'unknown execute message'],
    ];
    for (const [msg, message] of cases) expect(error_of(h.execute(msg, alice))).toContain(message);
    expect(error_of(h.execute({ create: { name: 'y' } }, alice, 3))).toContain('takes no funds');
    expect(error_of(h.query({ members: { stream: 'x' } }))).toContain('stream must be');
    expect(error_of(h.query({ seq: {} }))).toContain('unknown query message');
    expect(h.storage.snapshot()).toEqual(before);
  });

  it('costs little gas to publish', () => {
    const h = acl();
    grant(h, bob, { publish: true });
    const outcome = publish(h, bob, 'x'.repeat(1_000));
    if (outcome.kind !== 'ok') throw new Error('publish failed');
    expect(outcome.gas_used).toBeLessThan(100_000);
  });
});
