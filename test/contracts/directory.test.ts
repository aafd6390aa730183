/**
 * The directory system contract (contracts/directory.js): publishing X25519 keys under ids that
 * are never reused, revoking from a height, and the public queries, starting from empty state
 * as at genesis (no instantiate).
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
    });
    expect(data_of(h.query({ resolve: { account: alice, key_id: 'kx_2' } }))).toEqual({
      key_id: 'kx_2',
      public_key: pk(2),
      published_height: 12,
      revoked_height: null,
    });
    expect(data_of(h.query({ keys: { account: bob } }))).toEqual({ keys: [] });
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

  it('holds at most 32 ids per account', () => {
    const h = directory();
    for (let i = 0; i < 32; i++) expect(publish(h, `k${i}`).kind).toBe('ok');
    expect(error_of(publish(h, 'k32'))).toContain('at most 32 key ids');
    expect((data_of(h.query({ keys: { account: alice } })) as { keys: unknown[] }).keys).toHaveLength(32);
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
