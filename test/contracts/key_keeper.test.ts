/**
 * The key keeper system contract (contracts/key_keeper.js) at the VM level: ACL entries per
 * sending ACL, group keys set by the stream's owner only, and get_key's rules (viewing key,
 * subscription, expiry, grant height), every refusal one generic error; from empty state as at
 * genesis (no instantiate). test/contracts/stream_keeper_enclave.test.ts runs the ACL and the
 * keeper together through the enclave.
 */

import { describe, expect, it } from 'vitest';
import { address, at, ContractHarness, contract_source, data_of, error_of } from '../vm/harness.js';

const alice = address('alice');
const bob = address('bob');
const carol = address('carol');
const acl = address('acl');
const other_acl = address('other-acl');
const stream = `${alice}/news`;
const source = contract_source('key_keeper');
/** Every refused get_key answers this, from one throw statement. */
const UNAUTHORIZED = `unauthorized${at(source, 'throw new Error(UNAUTHORIZED)')}`;
/** base64 of 32 bytes, all `n`. */
const group_key = (n: number) => Buffer.alloc(32, n).toString('base64');

function keeper() {
  const h = new ContractHarness(source);
  for (const [who, key] of [
    [alice, 'alice-vk-1'],
    [bob, 'bob-vk-123'],
    [carol, 'carol-vk-1'],
  ] as const)
    expect(data_of(h.execute({ set_viewing_key: { key } }, who))).toEqual({ status: 'ok' });
  return h;
}

function update(
  h: ContractHarness,
  account: string,
  subscribe: boolean,
  expires_ms: number | null = null,
  from = acl,
) {
  return h.execute({ acl_update: { stream, account, subscribe, expires_ms } }, from);
}

function set_key(h: ContractHarness, key_id: string, n: number, sender = alice, on = acl) {
  return h.execute({ set_key: { acl: on, stream, key_id, key: group_key(n) } }, sender);
}

function get_key(
  h: ContractHarness,
  account: string,
  viewing_key: string,
  extra: Record<string, unknown> = {},
  on = acl,
) {
  return h.query({ get_key: { acl: on, stream, account, viewing_key, ...extra } });
}

describe('key_keeper', () => {
  it('gives the current key to the owner and to subscribers, not keys from before a grant', () => {
    const h = keeper();
    const t0 = h.time_ms;
    expect(data_of(set_key(h, 'k1', 1))).toEqual({ key_id: 'k1', height: 10, time_ms: t0 });
    // The owner gets its keys with its viewing key, no ACL entry needed; each with its height and
    // block time (a publisher compares the time with members' expiry).
    expect(data_of(get_key(h, alice, 'alice-vk-1'))).toEqual({
      key_id: 'k1',
      key: group_key(1),
      height: 10,
      time_ms: t0,
    });
    h.height = 11;
    expect(data_of(update(h, bob, true))).toEqual({ status: 'ok' });
    // k1 was set before bob's grant: not for bob.
    expect(error_of(get_key(h, bob, 'bob-vk-123'))).toBe(UNAUTHORIZED);
    h.height = 12;
    h.time_ms = t0 + 2_000;
    set_key(h, 'k2', 2);
    expect(data_of(get_key(h, bob, 'bob-vk-123'))).toEqual({
      key_id: 'k2',
      key: group_key(2),
      height: 12,
      time_ms: t0 + 2_000,
    });
    expect(data_of(get_key(h, bob, 'bob-vk-123', { key_id: 'k2' }))).toMatchObject({ key_id: 'k2' });
    expect(error_of(get_key(h, bob, 'bob-vk-123', { key_id: 'k1' }))).toBe(UNAUTHORIZED);
    expect(data_of(get_key(h, alice, 'alice-vk-1', { key_id: 'k1' }))).toMatchObject({ key: group_key(1) });
    // Authorized but no such key.
    expect(error_of(get_key(h, bob, 'bob-vk-123', { key_id: 'k9' }))).toContain('no key');
  });

  it('answers "no key" to an authorized query before any key is set', () => {
    const h = keeper();
    update(h, bob, true);
    expect(error_of(get_key(h, bob, 'bob-vk-123'))).toContain('no key');
    expect(error_of(get_key(h, alice, 'alice-vk-1'))).toContain('no key');
    expect(error_of(get_key(h, carol, 'carol-vk-1'))).toBe(UNAUTHORIZED);
  });

  it('refuses from the height of a revoke, and after expiry by the block time', () => {
    const h = keeper();
    update(h, bob, true, h.time_ms + 5_000);
    update(h, carol, true);
    h.height = 11;
    set_key(h, 'k1', 1);
    expect(get_key(h, bob, 'bob-vk-123').kind).toBe('ok');
    expect(get_key(h, carol, 'carol-vk-1').kind).toBe('ok');
    h.height = 12;
    update(h, carol, false);
    expect(error_of(get_key(h, carol, 'carol-vk-1'))).toBe(UNAUTHORIZED);
    h.time_ms += 4_999;
    expect(get_key(h, bob, 'bob-vk-123').kind).toBe('ok');
    h.time_ms += 1;
    expect(error_of(get_key(h, bob, 'bob-vk-123'))).toBe(UNAUTHORIZED);
    // A new grant after the revoke starts at its own height: older keys stay closed.
    h.height = 13;
    update(h, carol, true);
    expect(error_of(get_key(h, carol, 'carol-vk-1'))).toBe(UNAUTHORIZED);
    set_key(h, 'k2', 2);
    expect(data_of(get_key(h, carol, 'carol-vk-1'))).toMatchObject({ key_id: 'k2' });
    // A grant that extends a subscription still active keeps its height.
    h.height = 14;
    update(h, carol, true, h.time_ms + 60_000);
    expect(data_of(get_key(h, carol, 'carol-vk-1', { key_id: 'k2' }))).toMatchObject({ height: 13 });
  });

  it('keeps ACL entries apart per sending contract', () => {
    const h = keeper();
    set_key(h, 'k1', 1);
    h.height = 11;
    set_key(h, 'k2', 2);
    // An update from another address lands under that address, not under the real ACL.
    update(h, bob, true, null, other_acl);
    update(h, carol, true, null, bob);
    expect(error_of(get_key(h, bob, 'bob-vk-123'))).toBe(UNAUTHORIZED);
    expect(error_of(get_key(h, carol, 'carol-vk-1'))).toBe(UNAUTHORIZED);
    // Under its own namespace bob is "subscribed", but the owner set no keys there.
    expect(error_of(get_key(h, bob, 'bob-vk-123', {}, other_acl))).toContain('no key');
    // A revoke from another address does not touch the real ACL's entry.
    update(h, carol, true);
    h.height = 12;
    set_key(h, 'k3', 3);
    update(h, carol, false, null, other_acl);
    expect(data_of(get_key(h, carol, 'carol-vk-1'))).toMatchObject({ key_id: 'k3' });
  });

  it('takes keys only from the stream owner, never reuses ids, and keeps the last 64', () => {
    const h = keeper();
    expect(error_of(set_key(h, 'k1', 1, bob))).toContain("only the stream's owner");
    expect(error_of(set_key(h, 'k1', 1, acl))).toContain("only the stream's owner");
    set_key(h, 'k1', 1);
    expect(error_of(set_key(h, 'k1', 9))).toContain('never reused');
    for (let i = 2; i <= 64; i++) expect(set_key(h, `k${i}`, i).kind).toBe('ok');
    expect(data_of(get_key(h, alice, 'alice-vk-1', { key_id: 'k1' }))).toMatchObject({ key: group_key(1) });
    set_key(h, 'k65', 65);
    expect(error_of(get_key(h, alice, 'alice-vk-1', { key_id: 'k1' }))).toContain('no key');
    expect(data_of(get_key(h, alice, 'alice-vk-1', { key_id: 'k2' }))).toMatchObject({ key: group_key(2) });
    expect(data_of(get_key(h, alice, 'alice-vk-1'))).toMatchObject({ key_id: 'k65', key: group_key(65) });
    // Evicted ids stay used.
    expect(error_of(set_key(h, 'k1', 1))).toContain('never reused');
    // Keys are per (acl, stream): the same id under another ACL is another key.
    expect(set_key(h, 'k1', 7, alice, other_acl).kind).toBe('ok');
    expect(data_of(get_key(h, alice, 'alice-vk-1', { key_id: 'k1' }, other_acl))).toMatchObject({
      key: group_key(7),
    });
  });

  it('answers every refusal with one generic error', () => {
    const h = keeper();
    update(h, bob, true);
    set_key(h, 'k1', 1);
    const dave = address('dave');
    const failures = [
      get_key(h, bob, 'wrong-vk-1'), // wrong key
      get_key(h, bob, ''), // empty key
      get_key(h, bob, 'bob-vk-12'), // prefix
      get_key(h, bob, 'bob-vk-1234'), // key plus a character
      get_key(h, bob, 'carol-vk-1'), // another account's key
      get_key(h, bob, 'b'.repeat(129)), // longer than any key
      get_key(h, carol, 'carol-vk-1'), // right key, no entry
      get_key(h, dave, 'carol-vk-1'), // no viewing key set
      get_key(h, alice, 'bob-vk-123'), // the owner, wrong key
    ];
    for (const f of failures) expect(error_of(f)).toBe(UNAUTHORIZED);
  });

  it('refuses bad input without changing state', () => {
    const h = keeper();
    const before = h.storage.snapshot();
    const key = group_key(1);
    const cases: [unknown, string][] = [
      [{ acl_update: { stream: 'x', account: bob, subscribe: true } }, 'stream must be'],
      [{ acl_update: { stream, account: 'b', subscribe: true } }, 'account must be'],
      [{ acl_update: { stream, account: bob, subscribe: 'yes' } }, 'subscribe must be a boolean'],
      [{ acl_update: { stream, account: bob, subscribe: true, expires_ms: -5 } }, 'expires_ms must be'],
      [{ set_key: { acl: 'x', stream, key_id: 'k', key } }, 'acl must be'],
      [{ set_key: { acl, stream, key_id: '', key } }, 'key_id must be'],
      [{ set_key: { acl, stream, key_id: 'a b', key } }, 'key_id must be'],
      [{ set_key: { acl, stream, key_id: 'k'.repeat(65), key } }, 'key_id must be'],
      [{ set_key: { acl, stream, key_id: 'k', key: Buffer.alloc(31).toString('base64') } }, 'base64 of 32'],
      [{ set_key: { acl, stream, key_id: 'k', key: `${key.slice(0, 42)}B=` } }, 'base64 of 32'],
      [{ set_key: { acl, stream, key_id: 'k', key: `${key.slice(0, 42)}-=` } }, 'base64 of 32'],
      [{ set_key: { acl, stream, key_id: 'k', key: key.replace('A', '*') } }, 'base64 of 32'],
      [{ set_viewing_key: { key: 'short' } }, 'viewing key must be'],
      [{ get_key: {} }, 'unknown execute message'],
    ];
    for (const [msg, message] of cases) expect(error_of(h.execute(msg, alice))).toContain(message);
    expect(error_of(h.execute({ set_viewing_key: { key: 'alice-vk-2' } }, alice, 1))).toContain(
      'takes no funds',
    );
    expect(h.storage.snapshot()).toEqual(before);
    expect(error_of(h.query({ get_key: { acl, stream, account: bob } }))).toContain('viewing_key must be');
    expect(error_of(h.query({ get_key: { acl, stream: 'x', account: bob, viewing_key: 'v' } }))).toContain(
      'stream must be',
    );
    expect(error_of(h.query({ keys: {} }))).toContain('unknown query message');
  });

  it('costs little gas', () => {
    const h = keeper();
    update(h, bob, true);
    const set = set_key(h, 'k1', 1);
    const got = get_key(h, bob, 'bob-vk-123');
    if (set.kind !== 'ok' || got.kind !== 'ok') throw new Error('failed');
    expect(got.gas_used).toBeLessThan(100_000);
  });
});
