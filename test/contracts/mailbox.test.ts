/**
 * The mailbox system contract (contracts/mailbox.js): private mail listed only by its recipient
 * with a viewing key, one generic refusal, per-recipient ids never reused, the inbox limit and the
 * count each listing answers, and paging within the 64 KiB result bound; from empty state as at
 * genesis (no instantiate).
 */

import { describe, expect, it } from 'vitest';
import { address, at, ContractHarness, contract_source, data_of, error_of } from '../vm/harness.js';

const alice = address('alice');
const bob = address('bob');
const carol = address('carol');
const source = contract_source('mailbox');
/** Every refused inbox query answers this, from one throw statement. */
const UNAUTHORIZED = `unauthorized${at(source, 'throw new Error(UNAUTHORIZED)')}`;

interface Mail {
  id: number;
  from: string;
  kind: string;
  body: string;
  height: number;
  time_ms: number;
}
interface Page {
  mails: Mail[];
  next_after: number | null;
  count: number;
}

function mailbox() {
  return new ContractHarness(source);
}

function send(h: ContractHarness, from: string, to: string, body = 'hello', kind = 'note') {
  return h.execute({ send: { to, kind, body } }, from);
}

function inbox(h: ContractHarness, who: string, key: string, extra: Record<string, unknown> = {}) {
  return h.query({ inbox: { address: who, key, ...extra } });
}

function page(h: ContractHarness, who: string, key: string, extra: Record<string, unknown> = {}): Page {
  return data_of(inbox(h, who, key, extra)) as Page;
}

describe('mailbox', () => {
  it('delivers mail that only the recipient lists, with per-recipient ids', () => {
    const h = mailbox();
    expect(data_of(h.execute({ set_viewing_key: { key: 'bob-key-1' } }, bob))).toEqual({ status: 'ok' });
    const first = send(h, alice, bob, 'hi bob', 'kx_invite');
    expect(data_of(first)).toEqual({ id: 1 });
    // No event: who writes to whom stays private.
    expect(first).toMatchObject({ kind: 'ok', events: [] });
    h.height = 11;
    expect(data_of(send(h, carol, bob, 'from carol'))).toEqual({ id: 2 });
    expect(data_of(send(h, bob, alice, 'to alice'))).toEqual({ id: 1 });
    expect(page(h, bob, 'bob-key-1')).toEqual({
      mails: [
        { id: 1, from: alice, kind: 'kx_invite', body: 'hi bob', height: 10, time_ms: 1_700_000_000_000 },
        { id: 2, from: carol, kind: 'note', body: 'from carol', height: 11, time_ms: 1_700_000_000_000 },
      ],
      next_after: null,
      count: 2,
    });
    expect(page(h, bob, 'bob-key-1', { after: 1 }).mails.map((m) => m.id)).toEqual([2]);
    // Past the last id: no mail, and still the count of what the inbox holds.
    expect(page(h, bob, 'bob-key-1', { after: 2 })).toEqual({ mails: [], next_after: null, count: 2 });
    expect(page(h, bob, 'bob-key-1', { limit: 1 })).toMatchObject({ mails: [{ id: 1 }], next_after: 1 });
  });

  it('answers every refused inbox query with one generic error', () => {
    const h = mailbox();
    h.execute({ set_viewing_key: { key: 'bob-key-1' } }, bob);
    h.execute({ set_viewing_key: { key: 'alice-key-1' } }, alice);
    send(h, alice, bob);
    send(h, alice, carol);
    const failures = [
      inbox(h, bob, 'wrong-key-1'), // wrong key
      inbox(h, bob, ''), // empty key
      inbox(h, bob, 'bob-key-'), // prefix
      inbox(h, bob, 'bob-key-12'), // key plus a character
      inbox(h, bob, 'alice-key-1'), // a third party's own key
      inbox(h, carol, 'bob-key-1'), // an inbox without a key
      inbox(h, address('nobody'), 'bob-key-1'), // an address that never had mail
      inbox(h, 'short', 'bob-key-1'), // not an address
      inbox(h, bob, 'k'.repeat(129)), // a key longer than any
    ];
    for (const f of failures) expect(error_of(f)).toBe(UNAUTHORIZED);
    // Malformed types are refused before any state is read.
    expect(error_of(h.query({ inbox: { address: bob } }))).toContain('needs an address and a key');
    expect(error_of(inbox(h, bob, 'bob-key-1', { limit: 0 }))).toContain('limit must be');
    expect(error_of(inbox(h, bob, 'bob-key-1', { limit: 65 }))).toContain('limit must be');
    expect(error_of(inbox(h, bob, 'bob-key-1', { after: -1 }))).toContain('after must be');
  });

  it('gives a refusal the same work whatever the inbox holds', () => {
    const h = mailbox();
    h.execute({ set_viewing_key: { key: 'bob-key-1' } }, bob);
    for (let i = 0; i < 5; i++) send(h, alice, bob);
    for (let i = 0; i < 3; i++) send(h, alice, carol);
    const gas = (who: string, key: string) => {
      const o = inbox(h, who, key);
      expect(o.kind).toBe('error');
      return o.kind === 'error' ? o.gas_used : 0;
    };
    // Wrong keys of any content cost the same for one address (the same length: the message's
    // bytes are charged)...
    const wrong = gas(bob, 'x'.repeat(9));
    expect(gas(bob, 'bob-key-2')).toBe(wrong);
    expect(gas(bob, 'aob-key-1')).toBe(wrong);
    // ...and an address without a key costs the same with or without mail.
    const no_key = gas(carol, 'x'.repeat(9));
    expect(gas(address('nobody'), 'x'.repeat(9))).toBe(no_key);
  });

  it('keeps at most 256 mails per inbox and never reuses ids after a delete', () => {
    const h = mailbox();
    h.execute({ set_viewing_key: { key: 'bob-key-1' } }, bob);
    for (let i = 1; i <= 256; i++) expect(data_of(send(h, alice, bob, `m${i}`))).toEqual({ id: i });
    expect(error_of(send(h, alice, bob))).toContain('inbox full');
    // Others' inboxes are not affected.
    expect(data_of(send(h, alice, carol))).toEqual({ id: 1 });
    // Paging: 64 at most per page, ascending, next_after links the pages.
    const seen: number[] = [];
    let after = 0;
    for (;;) {
      const p = page(h, bob, 'bob-key-1', { after });
      expect(p.mails.length).toBeLessThanOrEqual(64);
      seen.push(...p.mails.map((m) => m.id));
      if (p.next_after === null) break;
      after = p.next_after;
    }
    expect(seen).toEqual(Array.from({ length: 256 }, (_, i) => i + 1));

    // Only bob deletes from bob's inbox: alice's delete touches her own (empty) one.
    expect(data_of(h.execute({ delete: { ids: [1, 2, 3] } }, alice))).toEqual({ deleted: 0 });
    expect(page(h, bob, 'bob-key-1', { after: 256 }).count).toBe(256);
    expect(data_of(h.execute({ delete: { ids: [1, 2, 3, 999] } }, bob))).toEqual({ deleted: 3 });
    expect(page(h, bob, 'bob-key-1', { after: 256 }).count).toBe(253);
    expect(data_of(send(h, alice, bob, 'after delete'))).toEqual({ id: 257 });
    expect(data_of(send(h, alice, bob))).toEqual({ id: 258 });
    expect(data_of(send(h, alice, bob))).toEqual({ id: 259 });
    expect(error_of(send(h, alice, bob))).toContain('inbox full');
    const first = page(h, bob, 'bob-key-1', { limit: 2 });
    expect(first.mails.map((m) => m.id)).toEqual([4, 5]);
    expect(page(h, bob, 'bob-key-1', { after: 256 }).mails.map((m) => m.id)).toEqual([257, 258, 259]);
  });

  it('pages big mails within the 64 KiB result bound', () => {
    const h = mailbox();
    h.gas_limit = 100_000_000;
    h.execute({ set_viewing_key: { key: 'bob-key-1' } }, bob);
    // 16,384 characters of 3-byte UTF-8 each: 48 KiB of JSON per mail.
    const wide = '€'.repeat(16_384);
    for (let i = 0; i < 3; i++) expect(send(h, alice, bob, wide).kind).toBe('ok');
    send(h, alice, bob, 'small');
    const ids: number[][] = [];
    let after = 0;
    for (;;) {
      const o = inbox(h, bob, 'bob-key-1', { after });
      if (o.kind !== 'ok') throw new Error(JSON.stringify(o).slice(0, 300));
      expect(Buffer.byteLength(o.data_json)).toBeLessThanOrEqual(65_536);
      const p = JSON.parse(o.data_json) as Page;
      ids.push(p.mails.map((m) => m.id));
      if (p.next_after === null) break;
      after = p.next_after;
    }
    expect(ids).toEqual([[1], [2], [3, 4]]);
    // Control characters JSON escapes six-fold cannot make a mail too big to list.
    expect(error_of(send(h, alice, bob, '\u0001'.repeat(10_000)))).toContain("mail's JSON exceeds");
  });

  it('refuses bad input without changing state', () => {
    const h = mailbox();
    send(h, alice, bob);
    const before = h.storage.snapshot();
    const cases: [unknown, string][] = [
      [{ send: { to: 'bob', kind: 'note', body: 'x' } }, 'to must be'],
      [{ send: { to: bob.toUpperCase(), kind: 'note', body: 'x' } }, 'to must be'],
      [{ send: { to: bob, kind: '', body: 'x' } }, 'kind must be'],
      [{ send: { to: bob, kind: 'Note', body: 'x' } }, 'kind must be'],
      [{ send: { to: bob, kind: 'k'.repeat(33), body: 'x' } }, 'kind must be'],
      [{ send: { to: bob, kind: 'note', body: 'x'.repeat(16_385) } }, 'body must be'],
      [{ send: { to: bob, kind: 'note', body: 5 } }, 'body must be'],
      [{ set_viewing_key: { key: 'short' } }, 'viewing key must be'],
      [{ set_viewing_key: { key: 'k'.repeat(129) } }, 'viewing key must be'],
      [{ delete: { ids: Array.from({ length: 65 }, (_, i) => i) } }, 'at most 64 ids'],
      [{ delete: { ids: [1, -2] } }, 'each id must be'],
      [{ delete: { ids: '1' } }, 'ids must be an array'],
      [{ fetch: {} }, 'unknown execute message'],
    ];
    for (const [msg, message] of cases) expect(error_of(h.execute(msg, bob))).toContain(message);
    expect(error_of(h.execute({ send: { to: bob, kind: 'note', body: 'x' } }, alice, 1))).toContain(
      'takes no funds',
    );
    expect(h.storage.snapshot()).toEqual(before);
  });

  it('costs little gas to send', () => {
    const h = mailbox();
    const small = send(h, alice, bob, 'x'.repeat(1_000));
    const big = send(h, alice, bob, 'x'.repeat(16_384));
    if (small.kind !== 'ok' || big.kind !== 'ok') throw new Error('send failed');
    expect(big.gas_used).toBeLessThan(1_000_000);
  });
});
