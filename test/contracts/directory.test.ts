/**
 * The directory system contract (contracts/directory.js): publishing X25519 keys under ids that
 * are never reused, at most 32 unrevoked keys and 1024 ids in all per account, revoking from a
 * height, and the public queries (the key list page by page), starting from empty state as at
 * genesis (no instantiate).
 */

import { describe, expect, it } from 'vitest';
import { address, ContractHarness, contract_source, data_of, error_of } from '../vm/harness.js';

const alice = address('alice');
const bob = address('bob');
const pk = (n: number) => n.toString(16).padStart(2, '0').repeat(32);

function directory() {
  // System contracts start with empty state: no instantiate call.
  return new ContractHarness(contract_source('directory'));
}

function publish(h: ContractHarness, key_id: string, public_key = pk(1), sender = alice) {
  return h.execute({ publish: { key_id, public_key } }, sender);
}

describe('directory', () => {
  it('publishes keys with public events and lists them', () => {
    const h = directory();
    const outcome = publish(h, 'kx-1');
    expect(data_of(outcome)).toEqual({ uri: `cloister:${alice}#kx-1` });
    expect(outcome).toMatchObject({
      kind: 'ok',
      events: [
        {
          type: 'key_published',
          public: true,
          attributes: [
            { key: 'account', value: alice },
            { key: 'key_id', value: 'kx-1' },
            { key: 'public_key', value: pk(1) },
          ],
        },
      ],
    });
    h.height = 12;
    publish(h, 'kx_2', pk(2));
    expect(data_of(h.query({ keys: { account: alice } }))).toEqual({
      keys: [
        { key_id: 'kx-1', public_key: pk(1), published_height: 10, revoked_height: null },
        { key_id: 'kx_2', public_key: pk(2), published_height: 12, revoked_height: null },
      ],
      next_start: null,
    });
    expect(data_of(h.query({ resolve: { account: alice, key_id: 'kx_2' } }))).toEqual({
      key_id: 'kx_2',
      public_key: pk(2),
      published_height: 12,
      revoked_height: null,
    });
    expect(data_of(h.query({ keys: { account: bob } }))).toEqual({ keys: [], next_start: null });
    expect(error_of(h.query({ resolve: { account: bob, key_id: 'kx-1' } }))).toContain('unknown key');
    expect(error_of(h.query({ resolve: { account: alice, key_id: 'kx-3' } }))).toContain('unknown key');
  });

  it('never reuses a key id, also after a revoke, and keeps accounts apart', () => {
    const h = directory();
    publish(h, 'a');
    expect(error_of(publish(h, 'a', pk(9)))).toContain('key id a exists');
    h.execute({ revoke: { key_id: 'a' } }, alice);
    expect(error_of(publish(h, 'a', pk(9)))).toContain('key id a exists');
    // Another account may use the same id.
    expect(data_of(publish(h, 'a', pk(3), bob))).toEqual({ uri: `cloister:${bob}#a` });
    expect(data_of(h.query({ resolve: { account: alice, key_id: 'a' } }))).toMatchObject({
      public_key: pk(1),
    });
  });

  it('holds at most 32 unrevoked keys; a revoke frees a place, so rotating never runs out early', () => {
    const h = directory();
    for (let i = 0; i < 32; i++) expect(publish(h, `k${i}`).kind).toBe('ok');
    expect(error_of(publish(h, 'k32'))).toContain('at most 32 unrevoked keys per account: revoke one first');
    // A revoke from a future height frees the place too: the cap counts keys no revoke has named.
    expect(h.execute({ revoke: { key_id: 'k0', from_height: 1_000 } }, alice).kind).toBe('ok');
    expect(publish(h, 'k32').kind).toBe('ok');
    expect(error_of(publish(h, 'k33'))).toContain('at most 32 unrevoked keys');
    // Revoking again (moving the height earlier) frees nothing more.
    expect(h.execute({ revoke: { key_id: 'k0', from_height: 500 } }, alice).kind).toBe('ok');
    expect(error_of(publish(h, 'k33'))).toContain('at most 32 unrevoked keys');
    // Rotation, one active key at a time, goes far past 32 ids.
    const r = directory();
    publish(r, 'kx1');
    for (let i = 2; i <= 40; i++) {
      expect(publish(r, `kx${i}`).kind).toBe('ok');
      expect(r.execute({ revoke: { key_id: `kx${i - 1}` } }, alice).kind).toBe('ok');
    }
    // Every id stays resolvable, revoked ones included.
    expect(data_of(r.query({ resolve: { account: alice, key_id: 'kx1' } }))).toMatchObject({
      revoked_height: 10,
    });
  });

  it('publishes at most 1024 ids per account in all, with a clear error, and lists them page by page', {
    timeout: 60_000,
  }, () => {
    const h = directory();
    // Rotate through every id an account may publish: one key active at a time.
    publish(h, 'k0');
    for (let i = 1; i < 1024; i++) {
      if (publish(h, `k${i}`).kind !== 'ok') throw new Error(`publish k${i} failed`);
      if (h.execute({ revoke: { key_id: `k${i - 1}` } }, alice).kind !== 'ok')
        throw new Error('revoke failed');
    }
    expect(h.execute({ revoke: { key_id: 'k1023' } }, alice).kind).toBe('ok');
    expect(error_of(publish(h, 'one-more'))).toContain(
      'this account has published all 1024 key ids it may: ids are never reused',
    );
    expect(data_of(publish(h, 'k0', pk(2), bob))).toEqual({ uri: `cloister:${bob}#k0` });
    // Pages of at most 64, in publication order, linked by next_start.
    const ids: string[] = [];
    let start: number | null = 0;
    let pages = 0;
    while (start !== null) {
      const page = data_of(h.query({ keys: { account: alice, start } })) as {
        keys: { key_id: string }[];
        next_start: number | null;
      };
      expect(page.keys.length).toBeLessThanOrEqual(64);
      ids.push(...page.keys.map((k) => k.key_id));
      start = page.next_start;
      pages++;
    }
    expect(pages).toBe(16);
    expect(ids).toEqual(Array.from({ length: 1024 }, (_, i) => `k${i}`));
    expect(data_of(h.query({ keys: { account: alice, start: 1020, limit: 2 } }))).toMatchObject({
      keys: [{ key_id: 'k1020' }, { key_id: 'k1021' }],
      next_start: 1022,
    });
    expect(error_of(h.query({ keys: { account: alice, limit: 65 } }))).toContain('limit must be');
    expect(error_of(h.query({ keys: { account: alice, start: -1 } }))).toContain('start must be');
  });

  it('revokes from a height, which a second revoke may only move earlier', () => {
    const h = directory();
    h.height = 20;
    publish(h, 'k');
    h.height = 30;
    const revoked = h.execute({ revoke: { key_id: 'k' } }, alice);
    expect(data_of(revoked)).toEqual({ revoked_height: 30 });
    expect(revoked).toMatchObject({
      events: [
        {
          type: 'key_revoked',
          public: true,
          attributes: [
            { key: 'account', value: alice },
            { key: 'key_id', value: 'k' },
            { key: 'revoked_height', value: '30' },
          ],
        },
      ],
    });
    expect(error_of(h.execute({ revoke: { key_id: 'k', from_height: 31 } }, alice))).toContain(
      'may only move it earlier',
    );
    expect(error_of(h.execute({ revoke: { key_id: 'k', from_height: 19 } }, alice))).toContain(
      "at or after the key's published height 20",
    );
    expect(data_of(h.execute({ revoke: { key_id: 'k', from_height: 25 } }, alice))).toEqual({
      revoked_height: 25,
    });
    expect(data_of(h.execute({ revoke: { key_id: 'k', from_height: 25 } }, alice))).toEqual({
      revoked_height: 25,
    });
    expect(data_of(h.query({ resolve: { account: alice, key_id: 'k' } }))).toMatchObject({
      revoked_height: 25,
    });
    // A future height is allowed (a planned revoke); only the owner revokes its own keys.
    publish(h, 'later');
    expect(data_of(h.execute({ revoke: { key_id: 'later', from_height: 100 } }, alice))).toEqual({
      revoked_height: 100,
    });
    expect(error_of(h.execute({ revoke: { key_id: 'later' } }, bob))).toContain('unknown key');
  });

  it('refuses bad input without changing state', () => {
    const h = directory();
    publish(h, 'k');
    const before = h.storage.snapshot();
    const cases: [unknown, string][] = [
      [{ publish: { key_id: '', public_key: pk(1) } }, 'key_id must be'],
      [{ publish: { key_id: 'A', public_key: pk(1) } }, 'key_id must be'],
      [{ publish: { key_id: 'a'.repeat(33), public_key: pk(1) } }, 'key_id must be'],
      [{ publish: { key_id: 'a#b', public_key: pk(1) } }, 'key_id must be'],
      [
        { publish: { key_id: 'x', public_key: pk(1).toUpperCase().replace('01', 'AB') } },
        'public_key must be',
      ],
      [{ publish: { key_id: 'x', public_key: pk(1).slice(2) } }, 'public_key must be'],
      [{ publish: { key_id: 'x' } }, 'public_key must be'],
      [{ publish: null }, 'publish must be an object'],
      [{ revoke: { key_id: 'k', from_height: -1 } }, 'from_height must be'],
      [{ revoke: { key_id: 'k', from_height: 1.5 } }, 'from_height must be'],
      [{ revoke: { key_id: 'k', from_height: '12' } }, 'from_height must be'],
      [{ rotate: {} }, 'unknown execute message'],
    ];
    for (const [msg, message] of cases) expect(error_of(h.execute(msg, alice))).toContain(message);
    expect(error_of(h.execute({ publish: { key_id: 'y', public_key: pk(1) } }, alice, 5))).toContain(
      'takes no funds',
    );
    expect(h.storage.snapshot()).toEqual(before);
    expect(error_of(h.query({ keys: { account: 'xyz' } }))).toContain('account must be');
    expect(error_of(h.query({ resolve: { account: alice, key_id: 'K' } }))).toContain('key_id must be');
    expect(error_of(h.query({ list: {} }))).toContain('unknown query message');
  });

  it('costs little gas to publish', () => {
    const h = directory();
    const outcome = publish(h, 'kx-1');
    if (outcome.kind !== 'ok') throw new Error('publish failed');
    expect(outcome.gas_used).toBeLessThan(100_000);
  });
});
