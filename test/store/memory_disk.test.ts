/**
 * The simulator's disk: its sorted map agrees with a naive model, its crash model keeps exactly
 * what was durable (synced writes, and unsynced ones a later sync or flush covered), a dead
 * handle rejects every call, and it runs with no timers at all. Then ChainStore on it: a crash at
 * any point of commit_block leaves the old block or the new one, never part, and every committed
 * block is there after a crash and a reopen. (The ChainStore behaviours on both backends are in
 * ./chain_store.test.ts.)
 */

import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BlockInput, BlockOutput } from '../../enclave/api.js';
import { reference_codes } from '../../node/reference_contracts.js';
import { ChainStore } from '../../node/store/chain_store.js';
import { StoreOpenError } from '../../node/store/errors.js';
import type { Kv, KvRange } from '../../node/store/kv.js';
import { LocalChain } from '../../node/store/local_chain.js';
import { DiskCrashedError, DiskHandleError, MemoryDisk } from '../../node/store/memory_disk.js';
import { CHUNK_KEYS_MAX, SortedMap } from '../../node/store/sorted_map.js';
import { to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { CHAIN_ID, T0_MS, test_attestation } from '../enclave/fixtures.js';

const p = get_provider('native');

/** What a naive sorted map answers for `range` over `model`. */
function model_entries(model: Map<string, string>, range: KvRange): [string, string][] {
  const keys = [...model.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: [string, string][] = [];
  for (const key of keys) {
    if (range.gt !== undefined && !(key > range.gt)) continue;
    if (range.gte !== undefined && !(key >= range.gte)) continue;
    if (range.lt !== undefined && !(key < range.lt)) continue;
    if (range.lte !== undefined && !(key <= range.lte)) continue;
    out.push([key, model.get(key)!]);
  }
  return range.limit === undefined ? out : out.slice(0, range.limit);
}

/** Lets `n` microtasks run. */
async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

async function open_kv(disk: MemoryDisk): Promise<Kv> {
  const kv = disk.open();
  await kv.open();
  return kv;
}

async function all<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe('SortedMap', () => {
  it('agrees with a naive model on any sequence of writes and ranges', () => {
    const key = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '/', '\u00ff'), maxLength: 4 });
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key, value: fc.string({ maxLength: 3 }) }),
      fc.record({ kind: fc.constant('del' as const), key }),
      fc.record({
        kind: fc.constant('range' as const),
        gt: fc.option(key, { nil: undefined }),
        gte: fc.option(key, { nil: undefined }),
        lt: fc.option(key, { nil: undefined }),
        lte: fc.option(key, { nil: undefined }),
        limit: fc.option(fc.nat(5), { nil: undefined }),
      }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const map = new SortedMap();
        const model = new Map<string, string>();
        for (const o of ops) {
          if (o.kind === 'set') {
            map.set(o.key, o.value);
            model.set(o.key, o.value);
          } else if (o.kind === 'del') {
            expect(map.delete(o.key)).toBe(model.delete(o.key));
          } else {
            // Both lower bounds at once: the model applies both, which is the tighter one.
            const range: KvRange = {};
            for (const b of ['gt', 'gte', 'lt', 'lte', 'limit'] as const)
              if (o[b] !== undefined) (range as Record<string, unknown>)[b] = o[b];
            expect(map.entries(range)).toEqual(model_entries(model, range));
          }
          expect(map.size).toBe(model.size);
        }
        expect(map.entries()).toEqual(model_entries(model, {}));
      }),
      { numRuns: 300 },
    );
  });

  it('stays sorted across many chunks as keys come and go', () => {
    const map = new SortedMap();
    const model = new Map<string, string>();
    // A fixed pseudo-random walk (xorshift), so the test is the same every run.
    let x = 0x9e3779b9;
    const next = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    const count = CHUNK_KEYS_MAX * 12;
    for (let i = 0; i < count; i++) {
      const key = `k/${(next() % (count * 2)).toString(16).padStart(8, '0')}`;
      if (next() % 4 === 0) {
        map.delete(key);
        model.delete(key);
      } else {
        map.set(key, String(i));
        model.set(key, String(i));
      }
    }
    expect(map.size).toBe(model.size);
    expect(map.size).toBeGreaterThan(CHUNK_KEYS_MAX * 4);
    expect(map.entries()).toEqual(model_entries(model, {}));
    const range = { gte: 'k/00001000', lt: 'k/00002000' };
    expect(map.entries(range)).toEqual(model_entries(model, range));
    expect(map.entries({ gt: 'k/00000800', limit: 700 })).toEqual(
      model_entries(model, { gt: 'k/00000800', limit: 700 }),
    );
    // A copy is independent of the original.
    const copy = map.clone();
    map.set('k/zzz', 'late');
    expect(copy.get('k/zzz')).toBeUndefined();
    expect(copy.entries()).toEqual(model_entries(model, {}));
  });
});

describe('MemoryDisk', () => {
  it('keeps synced writes across a crash, and unsynced ones only once a sync or flush covered them', async () => {
    const disk = new MemoryDisk();
    const kv = await open_kv(disk);
    await kv.put('a', '1', { sync: true });
    await kv.put('b', '1');
    await kv.batch([
      { type: 'put', key: 'c', value: '1' },
      { type: 'del', key: 'a' },
    ]);
    // The node sees its own unsynced writes at once.
    expect(await kv.get('b')).toBe('1');
    expect(await kv.get('a')).toBeUndefined();
    expect(disk.unsynced_writes()).toBe(3);
    disk.crash();
    let again = await open_kv(disk);
    // The unsynced batch went whole, its delete too.
    expect(await all(again.iterator())).toEqual([['a', '1']]);

    // An unsynced write, then a synced one: the sync covers both (LevelDB's log is in order).
    await again.put('a', '2');
    await again.put('d', '1', { sync: true });
    expect(disk.unsynced_writes()).toBe(0);
    // Overwrites and deletes not yet durable are undone to what was there, newest first.
    await again.put('a', '3');
    await again.put('a', '4');
    await again.batch([{ type: 'del', key: 'd' }]);
    disk.crash();
    again = await open_kv(disk);
    expect(await all(again.iterator())).toEqual([
      ['a', '2'],
      ['d', '1'],
    ]);

    // flush(): the operating system wrote everything back.
    await again.put('e', '1');
    disk.flush();
    disk.crash();
    again = await open_kv(disk);
    expect(await again.get('e')).toBe('1');
    await again.close();
  });

  it('loses a write the crash overtook, whole, and rejects it', async () => {
    const disk = new MemoryDisk();
    const kv = await open_kv(disk);
    await kv.put('a', 'old', { sync: true });
    const write = kv.batch(
      [
        { type: 'put', key: 'a', value: 'new' },
        { type: 'put', key: 'b', value: 'new' },
      ],
      { sync: true },
    );
    // Called, not yet taken effect: an operation takes effect a microtask after its call.
    disk.crash();
    await expect(write).rejects.toThrow(DiskCrashedError);
    const again = await open_kv(disk);
    expect(await all(again.iterator())).toEqual([['a', 'old']]);
    // Once taken effect, a synced write stays even if the crash comes before the caller hears back.
    const done = again.put('b', 'kept', { sync: true });
    await ticks(1);
    disk.crash();
    await done;
    expect(await (await open_kv(disk)).get('b')).toBe('kept');
  });

  it('rejects every call on a dead handle, and on a closed one', async () => {
    const disk = new MemoryDisk();
    const kv = await open_kv(disk);
    await kv.put('a', '1', { sync: true });
    const iterator = kv.iterator()[Symbol.asyncIterator]();
    disk.crash();
    expect(kv.status).toBe('closed');
    await expect(kv.get('a')).rejects.toThrow(DiskCrashedError);
    await expect(kv.put('a', '2', { sync: true })).rejects.toThrow(DiskCrashedError);
    await expect(kv.batch([])).rejects.toThrow(DiskCrashedError);
    await expect(all(kv.keys())).rejects.toThrow(DiskCrashedError);
    await expect(iterator.next()).rejects.toThrow(DiskCrashedError);
    await expect(kv.close()).rejects.toThrow(DiskCrashedError);
    await expect(kv.open()).rejects.toThrow(DiskCrashedError);
    const file = disk.open_file('f');
    disk.crash();
    await expect(file.read()).rejects.toThrow(DiskCrashedError);
    await expect(file.write('x')).rejects.toThrow(DiskCrashedError);

    const live = await open_kv(disk);
    await live.close();
    await expect(live.get('a')).rejects.toThrow(DiskHandleError);
    await expect(live.open()).rejects.toThrow(DiskHandleError);
  });

  it('lets one handle hold the disk at a time, as LevelDB lets one process', async () => {
    const disk = new MemoryDisk();
    const first = await open_kv(disk);
    await expect(open_kv(disk)).rejects.toThrow(DiskHandleError);
    await first.close();
    const second = await open_kv(disk);
    // A crash frees the disk for the restarted node.
    disk.crash();
    expect(second.status).toBe('closed');
    await open_kv(disk);
  });

  it('serves ranges from a snapshot taken when the iterator is made', async () => {
    const disk = new MemoryDisk();
    const kv = await open_kv(disk);
    await kv.batch(
      ['s/a/1', 's/a/2', 's/b/1', 't/1'].map((key) => ({ type: 'put' as const, key, value: key })),
      { sync: true },
    );
    const state_a = kv.iterator({ gte: 's/a/', lt: 's/a/\u00ff' });
    await kv.put('s/a/3', 'late', { sync: true });
    expect(await all(state_a)).toEqual([
      ['s/a/1', 's/a/1'],
      ['s/a/2', 's/a/2'],
    ]);
    expect(await all(kv.keys({ gt: 's/a/1', lte: 's/b/1', limit: 3 }))).toEqual(['s/a/2', 's/a/3', 's/b/1']);
    expect(await all(kv.keys({ limit: 1 }))).toEqual(['s/a/1']);
  });

  it('keeps files across a crash, each write atomic, and copies a disk exactly', async () => {
    const disk = new MemoryDisk();
    const file = disk.open_file('record');
    expect(await file.read()).toBeNull();
    await file.write('one');
    const lost = file.write('two');
    disk.crash();
    await expect(lost).rejects.toThrow(DiskCrashedError);
    expect(await disk.open_file('record').read()).toBe('one');

    const kv = await open_kv(disk);
    await kv.put('k', 'synced', { sync: true });
    await kv.put('u', 'unsynced');
    const copy = disk.clone();
    await kv.put('k', 'after', { sync: true });
    // The copy has what the disk had, the unsynced write still unsynced there.
    const on_copy = await open_kv(copy);
    expect(await all(on_copy.iterator())).toEqual([
      ['k', 'synced'],
      ['u', 'unsynced'],
    ]);
    copy.crash();
    expect(await all((await open_kv(copy)).iterator())).toEqual([['k', 'synced']]);
    expect(await copy.open_file('record').read()).toBe('one');
  });
});

/** An enclave-free output for `input`: every tx counted, with account, contract and state writes. */
function fake_output(input: BlockInput, echo_hash: string): BlockOutput {
  const height = input.height;
  const address = to_hex(p.sha256(utf8(`contract/${height}`))).slice(0, 40);
  const creator = 'cc'.repeat(20);
  return {
    results: input.txs.map((tx) => ({
      hash: to_hex(p.sha256(utf8(tx))),
      code: 0,
      gas_used: 10,
      output: '',
    })),
    accounts: { [creator]: height },
    balances: {},
    contracts: [
      { address, code_id: 1, code_hash: echo_hash, label: `c${height}`, creator, binding: 'b'.repeat(64) },
    ],
    codes: [],
    state_writes: {
      [address]: [0, 1, 2].map((i) => [to_base64(utf8(`k${i}`)), to_base64(utf8(`v${height}-${i}`))]),
    },
    gas_used: 10 * input.txs.length,
    result_hash: to_hex(p.sha256(utf8(`result/${height}`))),
  };
}

const ATTESTATION = { roots: [test_attestation(p).root_pubkey], measurements: ['ab'.repeat(32)] };

async function open_chain(disk: MemoryDisk): Promise<LocalChain> {
  return LocalChain.open(p, { chain_id: CHAIN_ID, attestation: ATTESTATION, codes: reference_codes() }, disk);
}

/** Commits one enclave-free block of `txs` on `chain`. */
async function commit(chain: LocalChain, txs: string[]): Promise<void> {
  const input = await chain.block_input(txs, T0_MS + chain.height() * 1000);
  await chain.apply(input, fake_output(input, (await chain.code(1)).code_hash));
}

describe('ChainStore on a MemoryDisk', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs with every timer frozen: nothing waits on a clock or on I/O', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval', 'setImmediate'] });
    const disk = new MemoryDisk();
    const chain = await open_chain(disk);
    await commit(chain, ['tx-1', 'tx-2']);
    await commit(chain, ['tx-3']);
    expect(chain.height()).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
    await chain.close();
  });

  it('has every committed block after a crash and a reopen', async () => {
    const disk = new MemoryDisk();
    const chain = await open_chain(disk);
    for (let b = 1; b <= 5; b++) await commit(chain, [`tx-${b}-a`, `tx-${b}-b`]);
    const blocks = await Promise.all([1, 2, 3, 4, 5].map((h) => chain.store.get_block(h)));
    disk.crash();
    // The dead node's store cannot read or write any more.
    await expect(chain.store.get_block(1)).rejects.toThrow(DiskCrashedError);
    await expect(commit(chain, ['late'])).rejects.toThrow(DiskCrashedError);
    const store = await ChainStore.open_kv(disk.open(), { chain_id: CHAIN_ID });
    expect(store.height()).toBe(5);
    for (let h = 1; h <= 5; h++) expect(await store.get_block(h)).toEqual(blocks[h - 1]);
    expect(await store.verify_all()).toMatchObject({ blocks: 5, contracts: 5, state_entries: 15 });
    // One store at a time, as on LevelDB.
    await expect(ChainStore.open_kv(disk.open())).rejects.toThrow(StoreOpenError);
    await store.close();
  });

  it('leaves the old block or the new one after a crash at any point of commit_block, never part', async () => {
    const base = new MemoryDisk();
    const chain = await open_chain(base);
    for (let b = 1; b <= 3; b++) await commit(chain, [`tx-${b}`]);
    await chain.close();
    const outcomes = new Set<string>();
    // Crash after k microtasks of the commit, for every k until the commit finishes first.
    for (let k = 0; ; k++) {
      const disk = base.clone();
      const node = await open_chain(disk);
      const input = await node.block_input(['tx-4-a', 'tx-4-b'], T0_MS + 4000);
      const output = fake_output(input, (await node.code(1)).code_hash);
      let finished = false;
      const committing = node.apply(input, output).then(
        () => {
          finished = true;
        },
        (error: unknown) => {
          // Anything but the crash itself would be a bug.
          expect(error).toBeInstanceOf(DiskCrashedError);
        },
      );
      await ticks(k);
      disk.crash();
      await committing;
      const store = await ChainStore.open_kv(disk.open(), { chain_id: CHAIN_ID });
      const height = store.height();
      expect([3, 4]).toContain(height);
      // Every record agrees with the height: no part of block 4 without all of it.
      const report = await store.verify_all();
      expect(report).toMatchObject({ blocks: height, contracts: height, state_entries: 3 * height });
      expect(report.txs).toBe(height === 4 ? 5 : 3);
      if (height === 4) expect((await store.get_block(4))?.block.txs).toEqual(['tx-4-a', 'tx-4-b']);
      outcomes.add(finished ? 'finished' : `crashed at ${height}`);
      await store.close();
      if (finished) break;
      expect(k, 'commit_block should finish within a bounded number of microtasks').toBeLessThan(10_000);
    }
    // The sweep crossed the batch: crashes before it kept block 3, crashes after it block 4.
    expect(outcomes).toEqual(new Set(['crashed at 3', 'crashed at 4', 'finished']));
  });
});
