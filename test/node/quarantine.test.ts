/**
 * The liveness guard's parts on their own: the quarantine (bounded in count and in time, on an
 * injected clock), the prefix bisection that finds a failing transaction (within its bound of
 * trial executions, blaming nobody when a failure does not come back), and the mempool's side
 * (a quarantined transaction is dropped with its account's later ones and refused at `add`; a
 * block's store_code bytes are capped at reap).
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { find_code_root } from '../../enclave/measurement.js';
import { isolate_failing_tx, isolation_calls_needed, type Trial } from '../../node/isolate.js';
import { Mempool } from '../../node/mempool.js';
import { QUARANTINE_MS, QUARANTINE_TXS_MAX, Quarantine } from '../../node/quarantine.js';
import { to_base64 } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { parse_tx_json, tx_hash } from '../../protocol/tx.js';
import { CHAIN_ID, TestAccount } from '../enclave/fixtures.js';

const p = get_provider('native');
const EXEC = { type: 'execute', contract: 'ab'.repeat(20), scheme: 'gcm', payload: 'AAAA' } as const;

function hash_of(raw: string): string {
  return tx_hash(p, parse_tx_json(raw));
}

/** A clock the test moves by hand. */
function fake_clock(start_ms = 1_000) {
  let now = start_ms;
  return { now_ms: () => now, advance: (ms: number) => (now += ms) };
}

describe('Quarantine', () => {
  it('holds a hash for its duration, then lets it go', () => {
    const clock = fake_clock();
    const q = new Quarantine({ txs_max: 4, duration_ms: 1_000 }, clock.now_ms);
    q.add('aa', 'worker died');
    expect(q.get('aa')).toEqual({ reason: 'worker died', until_ms: 2_000, left_ms: 1_000 });
    clock.advance(999);
    expect(q.get('aa')?.left_ms).toBe(1);
    clock.advance(1);
    // Exactly at until_ms it is free: the duration is a half-open interval.
    expect(q.get('aa')).toBeNull();
    expect(q.size()).toBe(0);
  });

  it('evicts the oldest hash when full, and a re-quarantined hash is the youngest', () => {
    const clock = fake_clock();
    const q = new Quarantine({ txs_max: 3, duration_ms: 60_000 }, clock.now_ms);
    for (const h of ['a', 'b', 'c']) q.add(h, 'x');
    // 'a' again: refreshed, so 'b' is now the oldest.
    clock.advance(10);
    expect(q.add('a', 'y').until_ms).toBe(1_000 + 10 + 60_000);
    q.add('d', 'x');
    expect(q.size()).toBe(3);
    expect(q.get('b')).toBeNull();
    for (const h of ['a', 'c', 'd']) expect(q.get(h), h).not.toBeNull();
  });

  it('prunes expired hashes before counting', () => {
    const clock = fake_clock();
    const q = new Quarantine({ txs_max: 2, duration_ms: 100 }, clock.now_ms);
    q.add('a', 'x');
    clock.advance(50);
    q.add('b', 'x');
    clock.advance(50);
    // 'a' expired: adding 'c' evicts nothing that is still held.
    q.add('c', 'x');
    expect(q.get('b')).not.toBeNull();
    expect(q.get('c')).not.toBeNull();
    expect(q.size()).toBe(2);
  });

  it('has bounded defaults and refuses bad limits', () => {
    expect(QUARANTINE_TXS_MAX).toBe(1_024);
    expect(QUARANTINE_MS).toBe(600_000);
    expect(() => new Quarantine({ txs_max: 0, duration_ms: 1 })).toThrow(RangeError);
    expect(() => new Quarantine({ txs_max: 1, duration_ms: 1.5 })).toThrow(RangeError);
    expect(() => new Quarantine().add('', 'x')).toThrow(TypeError);
  });
});

/** A trial over `count` transactions where every prefix longer than `bad` fails (`bad` < 0: none). */
function trials(bad: number) {
  const asked: number[] = [];
  const trial = async (k: number): Promise<Trial<number>> => {
    asked.push(k);
    return k > bad && bad >= 0 ? { kind: 'failed' } : { kind: 'ok', value: k };
  };
  return { asked, trial };
}

describe('isolate_failing_tx', () => {
  it('finds the failing transaction at every position within its bound of calls', async () => {
    for (const count of [1, 2, 3, 7, 8, 100, 500]) {
      for (const bad of new Set(
        [0, 1, Math.floor(count / 2), count - 2, count - 1].filter((b) => b >= 0 && b < count),
      )) {
        const { asked, trial } = trials(bad);
        const found = await isolate_failing_tx(count, trial, 16);
        expect(found, `${count}/${bad}`).toEqual({
          kind: 'found',
          index: bad,
          prefix: bad,
          calls: asked.length,
        });
        expect(asked.length, `${count}/${bad}`).toBeLessThanOrEqual(isolation_calls_needed(count));
        // Never the whole block twice, never the empty prefix unless it is the block to propose.
        expect(asked.filter((k) => k === 0).length).toBe(bad === 0 ? 1 : 0);
      }
    }
  });

  it('blames nobody when the failure does not come back', async () => {
    const { asked, trial } = trials(-1);
    expect(await isolate_failing_tx(10, trial, 16)).toEqual({ kind: 'not_reproduced', whole: 10, calls: 5 });
    // The search climbed to 9 (each prefix passed), then the whole block passed as well.
    expect(asked).toEqual([5, 7, 8, 9, 10]);
  });

  it('stops at an inconclusive trial and at its bound of calls', async () => {
    const stale = async (): Promise<Trial<number>> => ({ kind: 'inconclusive', reason: 'height committed' });
    expect(await isolate_failing_tx(10, stale, 16)).toEqual({
      kind: 'inconclusive',
      reason: 'height committed',
      calls: 1,
    });
    const { asked, trial } = trials(300);
    const found = await isolate_failing_tx(500, trial, 3);
    expect(found).toEqual({ kind: 'inconclusive', reason: 'enclave calls exhausted', calls: 3 });
    expect(asked).toHaveLength(3);
    await expect(isolate_failing_tx(0, trial, 3)).rejects.toThrow(RangeError);
    await expect(isolate_failing_tx(3, trial, 0)).rejects.toThrow(RangeError);
  });
});

describe('Mempool quarantine and store_code limit', () => {
  function make(now_ms: () => number, txs_max = 8) {
    const quarantine = new Quarantine({ txs_max, duration_ms: QUARANTINE_MS }, now_ms);
    return new Mempool(
      {
        chain_id: CHAIN_ID,
        limits: {
          txs_max: 100,
          bytes_max: 4 * 1024 * 1024,
          per_account_max: 10,
          tx_bytes_max: 512 * 1024,
          gas_limit_max: 10_000_000,
        },
      },
      { p, committed_sequence: async () => 0, quarantine },
    );
  }

  it('drops a quarantined tx with its account’s later ones and refuses it until it expires', async () => {
    const clock = fake_clock();
    const mempool = make(clock.now_ms);
    const a = new TestAccount(p, 'q-a');
    const b = new TestAccount(p, 'q-b');
    const [a0, a1, a2, b0] = [a.tx(EXEC), a.tx(EXEC), a.tx(EXEC), b.tx(EXEC)];
    for (const raw of [a0, a1, a2, b0]) expect(await mempool.add(raw!)).toMatchObject({ ok: true });
    expect(mempool.quarantine(a1!, 'its execution killed the worker')).toBe(hash_of(a1!));
    // a2 can never apply without a1: it goes too. a0 and b0 stay.
    expect(mempool.size()).toBe(2);
    expect(mempool.reap({ txs_max: 10, bytes_max: 1e9, gas_max: 1e9 })).toEqual([a0, b0]);
    for (const origin of ['client', 'peer'] as const) {
      const again = await mempool.add(a1!, origin);
      expect(again).toMatchObject({ ok: false, code: 'quarantined' });
      expect(again.ok ? '' : again.message).toMatch(/quarantined for about 600 s more: its execution killed/);
    }
    // The forged-transaction count is for forgeries only.
    expect(mempool.forged()).toBe(0);
    clock.advance(QUARANTINE_MS);
    expect(await mempool.add(a1!)).toEqual({ ok: true, hash: hash_of(a1!) });
    // A text that is not a transaction cannot be held, so there is nothing to quarantine.
    expect(mempool.quarantine('{"not":"a tx"}', 'x')).toBeNull();
  });

  it('forgets the oldest quarantined tx beyond its count', async () => {
    const mempool = make(fake_clock().now_ms, 2);
    const txs = [1, 2, 3].map((i) => new TestAccount(p, `q-count-${i}`).tx(EXEC));
    for (const raw of txs) mempool.quarantine(raw, 'x');
    expect(await mempool.add(txs[0]!)).toMatchObject({ ok: true });
    expect(await mempool.add(txs[1]!)).toMatchObject({ ok: false, code: 'quarantined' });
    expect(await mempool.add(txs[2]!)).toMatchObject({ ok: false, code: 'quarantined' });
  });

  it('caps the store_code bytes of a reaped block, holding back only the accounts over it', async () => {
    const mempool = make(fake_clock().now_ms);
    const echo = to_base64(readFileSync(`${find_code_root()}/contracts/echo.js`));
    const [s0, s1] = [1, 2].map((i) =>
      new TestAccount(p, `q-store-${i}`).tx({ type: 'store_code', code: echo }),
    );
    const e = new TestAccount(p, 'q-exec');
    const [e0, e1] = [e.tx(EXEC), e.tx(EXEC)];
    for (const raw of [s0, e0, s1, e1]) expect(await mempool.add(raw!)).toMatchObject({ ok: true });
    const one_code = Buffer.byteLength(s0!);
    const unlimited = { txs_max: 10, bytes_max: 1e9, gas_max: 1e9 };
    expect(mempool.reap(unlimited)).toEqual([s0, e0, s1, e1]);
    // Room for one store_code: the second waits, the execute transactions still go.
    expect(mempool.reap({ ...unlimited, store_code_bytes_max: one_code + 10 })).toEqual([s0, e0, e1]);
    expect(mempool.reap({ ...unlimited, store_code_bytes_max: 0 })).toEqual([e0, e1]);
    expect(() => mempool.reap({ ...unlimited, store_code_bytes_max: -1 })).toThrow(RangeError);
  });
});
