/**
 * The mempool: every refusal code in its order, per-account sequence runs, limits, reaping in
 * arrival order without breaking an account's sequence order, and updates after commits. The
 * property test is seeded and prints its seed (FC_SEED=<seed> to replay).
 */

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { find_code_root } from '../../enclave/measurement.js';
import { Mempool, type MempoolLimits } from '../../node/mempool.js';
import { to_base64, utf8 } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { parse_tx_json, tx_hash } from '../../protocol/tx.js';
import { CHAIN_ID, TestAccount } from '../enclave/fixtures.js';

const p = get_provider('native');
const seed = Number(process.env['FC_SEED'] ?? Date.now() % 2 ** 31);

const LIMITS: MempoolLimits = {
  txs_max: 100,
  bytes_max: 1024 * 1024,
  per_account_max: 10,
  tx_bytes_max: 64 * 1024,
  gas_limit_max: 10_000_000,
};
const ECHO = readFileSync(`${find_code_root()}/contracts/echo.js`);
const EXEC = { type: 'execute', contract: 'ab'.repeat(20), scheme: 'gcm', payload: 'AAAA' } as const;

/** A mempool over an in-memory map of committed sequences. */
function make(limits: Partial<MempoolLimits> = {}) {
  const committed = new Map<string, number>();
  const mempool = new Mempool(
    { chain_id: CHAIN_ID, limits: { ...LIMITS, ...limits } },
    { p, committed_sequence: async (address) => committed.get(address) ?? 0 },
  );
  return { mempool, committed };
}

function hash_of(raw: string): string {
  return tx_hash(p, parse_tx_json(raw));
}

/** The tx text with one bit of its signature flipped: well-formed, but it does not verify. */
function forge(raw: string): string {
  const tx = JSON.parse(raw) as { signature: string };
  const last = tx.signature.at(-1) === '0' ? '1' : '0';
  tx.signature = `${tx.signature.slice(0, -1)}${last}`;
  return JSON.stringify(tx);
}

/** Sequence of a tx text. */
function seq_of(raw: string): number {
  return parse_tx_json(raw).body.sequence;
}

describe('Mempool', () => {
  it('refuses with each code, in order', async () => {
    const { mempool } = make();
    const a = new TestAccount(p, 'mp-a');
    // Size first: an oversized text is refused without being parsed.
    const big = await mempool.add('x'.repeat(LIMITS.tx_bytes_max + 1));
    expect(big).toMatchObject({ ok: false, code: 7, message: expect.stringMatching(/bytes/) });
    // Multi-byte characters count as their UTF-8 bytes.
    expect(await mempool.add('é'.repeat(LIMITS.tx_bytes_max / 2 + 1))).toMatchObject({ ok: false, code: 7 });
    expect(await mempool.add('{not json')).toMatchObject({ ok: false, code: 7 });
    expect(await mempool.add('{"body":{},"signature":"00"}')).toMatchObject({ ok: false, code: 7 });
    expect(await mempool.add(a.tx(EXEC, { chain_id: 'other-chain', sequence: 0 }))).toMatchObject({
      ok: false,
      code: 7,
      message: expect.stringMatching(/chain_id/),
    });
    expect(await mempool.add(a.tx(EXEC, { gas_limit: LIMITS.gas_limit_max + 1, sequence: 0 }))).toMatchObject(
      {
        ok: false,
        code: 7,
        message: expect.stringMatching(/gas_limit/),
      },
    );
    const bad_code = a.tx(
      { type: 'store_code', code: to_base64(utf8('export function (')) },
      { sequence: 0 },
    );
    expect(await mempool.add(bad_code)).toMatchObject({
      ok: false,
      code: 7,
      message: expect.stringMatching(/compile/),
    });
    const not_utf8 = a.tx(
      { type: 'store_code', code: to_base64(new Uint8Array([0xff, 0xfe])) },
      { sequence: 0 },
    );
    expect(await mempool.add(not_utf8)).toMatchObject({ ok: false, code: 7 });
    // A bad signature is found before the (also wrong) sequence.
    const forged = JSON.parse(a.tx(EXEC, { sequence: 5 })) as { signature: string };
    forged.signature = `${forged.signature.slice(0, 127)}${forged.signature.endsWith('0') ? '1' : '0'}`;
    expect(await mempool.add(JSON.stringify(forged))).toMatchObject({ ok: false, code: 4 });
    expect(await mempool.add(a.tx(EXEC, { sequence: 1 }))).toEqual({
      ok: false,
      code: 5,
      message: expect.stringMatching(/expected 0/),
    });
    expect(mempool.size()).toBe(0);
    expect(mempool.bytes()).toBe(0);
    const good = a.tx({ type: 'store_code', code: to_base64(ECHO) }, { sequence: 0 });
    expect(await mempool.add(good)).toEqual({ ok: true, hash: hash_of(good) });
    // The same transaction again: same answer, one copy.
    expect(await mempool.add(good)).toEqual({ ok: true, hash: hash_of(good) });
    expect(mempool.size()).toBe(1);
    expect(mempool.bytes()).toBe(Buffer.byteLength(good));
    expect(mempool.has(hash_of(good))).toBe(true);
  });

  it('refuses bad limits and arguments', async () => {
    expect(() => make({ tx_bytes_max: 2 * 1024 * 1024 })).toThrow(RangeError);
    expect(() => make({ gas_limit_max: 1e9 })).toThrow(RangeError);
    expect(() => make({ txs_max: 0 })).toThrow(RangeError);
    expect(() => make({ per_account_max: '1' as unknown as number })).toThrow(TypeError);
    const { mempool } = make();
    await expect(mempool.add(42 as unknown as string)).rejects.toThrow(TypeError);
    expect(() => mempool.reap({ txs_max: -1, bytes_max: 1, gas_max: 1 })).toThrow(RangeError);
  });

  it("takes an account's sequences one after another from the committed one", async () => {
    const { mempool, committed } = make();
    const a = new TestAccount(p, 'mp-seq');
    committed.set(a.address, 3);
    expect(await mempool.add(a.tx(EXEC, { sequence: 0 }))).toMatchObject({
      code: 5,
      message: expect.stringMatching(/expected 3/),
    });
    expect(await mempool.add(a.tx(EXEC, { sequence: 4 }))).toMatchObject({ code: 5 });
    for (const sequence of [3, 4, 5])
      expect(await mempool.add(a.tx(EXEC, { sequence }))).toMatchObject({ ok: true });
    expect(await mempool.add(a.tx(EXEC, { sequence: 7 }))).toMatchObject({
      code: 5,
      message: expect.stringMatching(/expected 6/),
    });
  });

  it('holds at most per_account_max, txs_max and bytes_max', async () => {
    const per = make({ per_account_max: 2 });
    const a = new TestAccount(p, 'mp-per');
    await per.mempool.add(a.tx(EXEC));
    await per.mempool.add(a.tx(EXEC));
    expect(await per.mempool.add(a.tx(EXEC))).toMatchObject({ ok: false, code: 'full' });
    // Another account still gets in.
    expect(await per.mempool.add(new TestAccount(p, 'mp-per-2').tx(EXEC))).toMatchObject({ ok: true });

    const total = make({ txs_max: 2 });
    for (const label of ['t1', 't2'])
      expect(await total.mempool.add(new TestAccount(p, label).tx(EXEC))).toMatchObject({ ok: true });
    expect(await total.mempool.add(new TestAccount(p, 't3').tx(EXEC))).toMatchObject({
      ok: false,
      code: 'full',
    });

    const one = new TestAccount(p, 'b1').tx(EXEC);
    const bytes = make({ bytes_max: Buffer.byteLength(one) + 10 });
    expect(await bytes.mempool.add(one)).toMatchObject({ ok: true });
    expect(await bytes.mempool.add(new TestAccount(p, 'b2').tx(EXEC))).toMatchObject({
      ok: false,
      code: 'full',
    });
    expect(bytes.mempool.size()).toBe(1);
  });

  it('reaps in arrival order within the limits, holding back an account after a skip', async () => {
    const { mempool } = make();
    const a = new TestAccount(p, 'reap-a');
    const b = new TestAccount(p, 'reap-b');
    const c = new TestAccount(p, 'reap-c');
    const a0 = a.tx(EXEC, { gas_limit: 100 });
    const b0 = b.tx(EXEC, { gas_limit: 5000 });
    const a1 = a.tx(EXEC, { gas_limit: 100 });
    const c0 = c.tx(EXEC, { gas_limit: 100 });
    const b1 = b.tx(EXEC, { gas_limit: 100 });
    for (const raw of [a0, b0, a1, c0, b1]) expect(await mempool.add(raw)).toMatchObject({ ok: true });
    const unlimited = { txs_max: 100, bytes_max: 1e9, gas_max: 1e9 };
    expect(mempool.reap(unlimited)).toEqual([a0, b0, a1, c0, b1]);
    expect(mempool.reap({ ...unlimited, txs_max: 2 })).toEqual([a0, b0]);
    // b0 does not fit the gas: b1 must wait for it, the others go on.
    expect(mempool.reap({ ...unlimited, gas_max: 1000 })).toEqual([a0, a1, c0]);
    const two = Buffer.byteLength(a0) + Buffer.byteLength(b0);
    expect(mempool.reap({ ...unlimited, bytes_max: two })).toEqual([a0, b0]);
    expect(mempool.reap({ ...unlimited, txs_max: 0 })).toEqual([]);
    expect(mempool.size()).toBe(5);
  });

  it("holds a peer's transaction unverified and drops it at reap if forged", async () => {
    const { mempool } = make();
    const a = new TestAccount(p, 'peer-a');
    const b = new TestAccount(p, 'peer-b');
    const a0 = forge(a.tx(EXEC));
    const b0 = b.tx(EXEC);
    const a1 = a.tx(EXEC);
    const b1 = b.tx(EXEC);
    // A client's forged transaction is refused at once; a peer's is held until it matters.
    expect(await mempool.add(a0)).toMatchObject({ ok: false, code: 4 });
    for (const raw of [a0, b0, a1, b1]) expect(await mempool.add(raw, 'peer')).toMatchObject({ ok: true });
    expect(mempool.size()).toBe(4);
    expect(mempool.forged()).toBe(0);
    // a1 can never apply without a0: both go, b's run is reaped whole.
    const unlimited = { txs_max: 100, bytes_max: 1e9, gas_max: 1e9 };
    expect(mempool.reap(unlimited)).toEqual([b0, b1]);
    expect(mempool.forged()).toBe(1);
    expect(mempool.size()).toBe(2);
    expect(mempool.bytes()).toBe(Buffer.byteLength(b0) + Buffer.byteLength(b1));
    expect(mempool.reap(unlimited)).toEqual([b0, b1]);
    await expect(mempool.add(a0, 'gossip' as never)).rejects.toThrow(TypeError);
  });

  it('lets an honest transaction take the sequence a forged unverified one held', async () => {
    const { mempool } = make();
    const a = new TestAccount(p, 'peer-claim');
    const honest0 = a.tx(EXEC, { sequence: 0 });
    const forged0 = forge(a.tx({ ...EXEC, payload: 'BBBB' }, { sequence: 0 }));
    const forged1 = a.tx(EXEC, { sequence: 1 });
    expect(await mempool.add(forged0, 'peer')).toMatchObject({ ok: true });
    expect(await mempool.add(forged1, 'peer')).toMatchObject({ ok: true });
    expect(await mempool.add(honest0, 'peer')).toEqual({ ok: true, hash: hash_of(honest0) });
    expect(mempool.has(hash_of(forged0))).toBe(false);
    expect(mempool.has(hash_of(forged1))).toBe(false);
    expect(mempool.forged()).toBe(1);
    // A genuine holder of the sequence keeps it: a rival is refused as before.
    const rival0 = a.tx({ ...EXEC, payload: 'CCCC' }, { sequence: 0 });
    expect(await mempool.add(rival0)).toMatchObject({ ok: false, code: 5 });
    expect(mempool.reap({ txs_max: 10, bytes_max: 1e9, gas_max: 1e9 })).toEqual([honest0]);
  });

  it('gives a client resubmitting a forged gossiped transaction code 4 and drops it', async () => {
    const { mempool } = make();
    const a = new TestAccount(p, 'peer-resubmit');
    const forged0 = forge(a.tx(EXEC));
    expect(await mempool.add(forged0, 'peer')).toMatchObject({ ok: true });
    expect(await mempool.add(forged0, 'peer')).toMatchObject({ ok: true });
    expect(await mempool.add(forged0)).toMatchObject({ ok: false, code: 4 });
    expect(mempool.size()).toBe(0);
    const good = a.tx(EXEC, { sequence: 0 });
    expect(await mempool.add(good, 'peer')).toMatchObject({ ok: true });
    expect(await mempool.add(good)).toEqual({ ok: true, hash: hash_of(good) });
    expect(mempool.size()).toBe(1);
  });

  it('drops committed and stale transactions after a commit, and keeps the rest in order', async () => {
    const { mempool, committed } = make();
    const a = new TestAccount(p, 'upd-a');
    const b = new TestAccount(p, 'upd-b');
    const a_txs = [0, 1, 2].map(() => a.tx(EXEC));
    const b_txs = [0, 1].map(() => b.tx(EXEC));
    for (const raw of [...a_txs, ...b_txs]) await mempool.add(raw);
    // The block committed a0 and a1, and another node's b0 (same sequence, another tx).
    committed.set(a.address, 2);
    committed.set(b.address, 1);
    const other_b0 = b.tx({ ...EXEC, payload: 'BBBB' }, { sequence: 0 });
    await mempool.update([a_txs[0]!, a_txs[1]!, other_b0]);
    expect(mempool.has(hash_of(a_txs[0]!))).toBe(false);
    // b0 held here is now stale; b1 follows the committed b0, so it stays.
    expect(mempool.has(hash_of(b_txs[0]!))).toBe(false);
    expect(mempool.reap({ txs_max: 10, bytes_max: 1e9, gas_max: 1e9 })).toEqual([a_txs[2], b_txs[1]]);
    expect(mempool.bytes()).toBe(Buffer.byteLength(a_txs[2]!) + Buffer.byteLength(b_txs[1]!));
    // a2 was in a block but refused without counting (a's sequence stays 2): a3 behind it can
    // never apply, so it goes too.
    const a3 = a.tx(EXEC);
    expect(await mempool.add(a3)).toMatchObject({ ok: true });
    await mempool.update([a_txs[2]!]);
    expect(mempool.has(hash_of(a3))).toBe(false);
    expect(mempool.size()).toBe(1);
    committed.set(a.address, 4);
    // New arrivals continue from the committed sequence.
    expect(await mempool.add(a.tx(EXEC, { sequence: 4 }))).toMatchObject({ ok: true });
    expect(await mempool.add(a_txs[0]!)).toMatchObject({ ok: false, code: 5 });
  });

  it('drops a committed transaction held in another spelling of the same JSON', async () => {
    const { mempool } = make();
    const a = new TestAccount(p, 'upd-spelling');
    const a0 = a.tx(EXEC);
    expect(await mempool.add(a0)).toMatchObject({ ok: true });
    const { body, signature } = JSON.parse(a0) as { body: unknown; signature: string };
    const respelled = JSON.stringify({ signature, body }, null, 1);
    expect(respelled).not.toBe(a0);
    expect(hash_of(respelled)).toBe(hash_of(a0));
    // Refused in its block without counting: the sequence stays, so only the hash can drop it.
    await mempool.update([respelled]);
    expect(mempool.size()).toBe(0);
    expect(mempool.bytes()).toBe(0);
  });

  it('keeps an add that races a commit consistent', async () => {
    const committed = new Map<string, number>();
    let release: () => void = () => undefined;
    let hold = false;
    const mempool = new Mempool(
      { chain_id: CHAIN_ID, limits: LIMITS },
      {
        p,
        committed_sequence: async (address) => {
          const answer = committed.get(address) ?? 0;
          if (hold) await new Promise<void>((resolve) => (release = resolve));
          return answer;
        },
      },
    );
    const a = new TestAccount(p, 'race-a');
    const a0 = a.tx(EXEC);
    const a1 = a.tx(EXEC);
    await mempool.add(a0);
    // a1's add reads the committed sequence (0) before the block with a0 commits.
    hold = true;
    const adding = mempool.add(a1);
    hold = false;
    committed.set(a.address, 1);
    await mempool.update([a0]);
    release();
    // It re-reads after the update and finds committed 1 with nothing pending: a1 fits.
    expect(await adding).toMatchObject({ ok: true });
    expect(mempool.reap({ txs_max: 10, bytes_max: 1e9, gas_max: 1e9 })).toEqual([a1]);
  });

  it("never reaps an account's higher sequence before its lower one (property)", async () => {
    console.log(`mempool property seed: FC_SEED=${seed}`);
    const accounts = ['p0', 'p1', 'p2', 'p3'].map((label) => new TestAccount(p, `prop-${label}`));
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('add' as const),
        who: fc.nat(3),
        skew: fc.integer({ min: -1, max: 1 }),
        gas: fc.integer({ min: 1, max: 500 }),
      }),
      fc.record({ kind: fc.constant('commit' as const), count: fc.nat(6) }),
      fc.record({
        kind: fc.constant('reap' as const),
        txs: fc.nat(12),
        bytes: fc.nat(20_000),
        gas: fc.nat(3000),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const { mempool, committed } = make({ per_account_max: 5, txs_max: 12 });
        const next = new Map<string, number>();
        const check_order = (reaped: string[]) => {
          const seen = new Map<string, number>();
          for (const raw of reaped) {
            const tx = parse_tx_json(raw);
            const who = accounts.find((x) => x.pubkey === tx.body.sender)!;
            const expected = seen.get(who.address) ?? committed.get(who.address) ?? 0;
            expect(tx.body.sequence).toBe(expected);
            seen.set(who.address, expected + 1);
          }
        };
        for (const o of ops) {
          if (o.kind === 'add') {
            const who = accounts[o.who]!;
            const sequence = Math.max(0, (next.get(who.address) ?? 0) + o.skew);
            const raw = who.tx(
              { ...EXEC, payload: to_base64(utf8(`${sequence}/${o.gas}`)) },
              { sequence, gas_limit: o.gas },
            );
            const added = await mempool.add(raw);
            if (added.ok) next.set(who.address, sequence + 1);
          } else if (o.kind === 'commit') {
            // Commit a block reaped now, as a proposer would, then update.
            const block = mempool.reap({ txs_max: o.count, bytes_max: 1e9, gas_max: 1e9 });
            check_order(block);
            for (const raw of block) {
              const who = accounts.find((x) => x.pubkey === parse_tx_json(raw).body.sender)!;
              committed.set(who.address, seq_of(raw) + 1);
            }
            await mempool.update(block);
            for (const raw of block) expect(mempool.has(hash_of(raw))).toBe(false);
          } else {
            const reaped = mempool.reap({ txs_max: o.txs, bytes_max: o.bytes, gas_max: o.gas });
            expect(reaped.length).toBeLessThanOrEqual(o.txs);
            expect(reaped.reduce((n, raw) => n + Buffer.byteLength(raw), 0)).toBeLessThanOrEqual(o.bytes);
            expect(reaped.reduce((n, raw) => n + parse_tx_json(raw).body.gas_limit, 0)).toBeLessThanOrEqual(
              o.gas,
            );
            check_order(reaped);
          }
          expect(mempool.size()).toBeLessThanOrEqual(12);
        }
      }),
      { seed, numRuns: 60 },
    );
  });
});

describe('mempool between a store commit and its update', () => {
  it('expects the next sequence after the committed one, not after stale pending entries', async () => {
    const p = get_provider('native');
    let committed = 0;
    const pool = new Mempool(
      {
        chain_id: CHAIN_ID,
        limits: {
          txs_max: 100,
          bytes_max: 1 << 20,
          per_account_max: 10,
          tx_bytes_max: 1 << 16,
          gas_limit_max: 100_000_000,
        },
      },
      { p, committed_sequence: async () => committed },
    );
    const alice = new TestAccount(p, 'stale-window');
    const tx = (seq: number) =>
      alice.tx(
        { type: 'execute', contract: 'cd'.repeat(20), scheme: 'gcm', payload: 'AAAA' },
        { sequence: seq },
      );
    expect((await pool.add(tx(0))).ok).toBe(true);
    // The block with sequence 0 is in the store, the mempool has not been updated yet.
    committed = 1;
    expect(await pool.add(tx(1))).toMatchObject({ ok: true });
    expect(await pool.add(tx(3))).toMatchObject({ ok: false, code: 5 });
  });
});
