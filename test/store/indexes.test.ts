/**
 * The chain store's discovery indexes (docs/storage.md "Indexes") on a chain driven by a real
 * in-process enclave: contracts by code id, creator and label (genesis system contracts too),
 * counted transactions by sender and target contract newest first, paging with an opaque cursor
 * that refuses what it did not give, `verify_all` catching an index that disagrees with the
 * records, and the upgrade of a format-2 store on open.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BoundContract, PublicKeys } from '../../enclave/api.js';
import { InProcessEnclave } from '../../enclave/in_process.js';
import { unwrap } from '../../enclave/result.js';
import { GENESIS_CONTRACTS } from '../../node/ceremony.js';
import type { TxRecord } from '../../node/records.js';
import { read_shipped_contract } from '../../node/reference_contracts.js';
import { ChainStore, encode_value, type ListPage } from '../../node/store/chain_store.js';
import { StoreCorruptError, StoreCursorError } from '../../node/store/errors.js';
import { tx_parties, tx_parties_of } from '../../node/store/indexes.js';
import { KEYS, prefix_range } from '../../node/store/keys.js';
import { LocalChain } from '../../node/store/local_chain.js';
import type { MemoryDisk } from '../../node/store/memory_disk.js';
import { to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { ResultCode } from '../../protocol/codes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { SYSTEM_CONTRACTS, SYSTEM_CREATOR, system_contract_address } from '../../protocol/system.js';
import { contract_address, parse_tx_json } from '../../protocol/tx.js';
import { CHAIN_ID, encrypt, T0_MS, TestAccount, temp_home, test_attestation } from '../enclave/fixtures.js';

const p = get_provider('native');
const home = temp_home('cloister-indexes-');
const enclave = new InProcessEnclave({ provider: 'native', platform_secret_file: home.secret });
const codes = GENESIS_CONTRACTS.map((name) => read_shipped_contract(name));
const alice = new TestAccount(p, 'idx-alice');
const bob = new TestAccount(p, 'idx-bob');
const PLAIN = `
export function instantiate(ctx, msg) { return null; }
export function execute(ctx, msg) { return null; }
export function query(ctx, msg) { return null; }
`;
const PLAIN_HASH = to_hex(p.sha256(utf8(PLAIN)));
let keys: PublicKeys;
let chain: LocalChain;
let code_id = 0;
/** alice: a1 ('a'), a2 ('b'), a3 ('a'); bob: b1 ('a'). */
const made: Record<string, string> = {};
const tx_hash: Record<string, string> = {};

async function block(txs: string[]) {
  return chain.execute(enclave, txs, T0_MS + (chain.height() + 1) * 1000);
}

function instantiate(who: TestAccount, label: string, opts: { sequence?: number } = {}): string {
  const e = encrypt(p, keys, PLAIN_HASH, {});
  return who.tx({ type: 'instantiate', code_id, label, scheme: 'gcm', payload: e.payload }, opts);
}

function execute(who: TestAccount, contract: string, opts: { sequence?: number } = {}): string {
  const e = encrypt(p, keys, PLAIN_HASH, {});
  return who.tx({ type: 'execute', contract, scheme: 'gcm', payload: e.payload }, opts);
}

/** Every page of a listing, following its cursor. */
async function all_pages<T>(
  list: (page: ListPage) => Promise<{ items: T[]; cursor: string | null }>,
  limit: number,
): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await list({ limit, cursor });
    expect(page.items.length).toBeLessThanOrEqual(limit);
    items.push(...page.items);
    cursor = page.cursor;
    pages++;
  } while (cursor !== null && pages < 100);
  return { items, pages };
}

const addresses = (list: BoundContract[]) => list.map((c) => c.address).sort();
const contracts_of = (store: ChainStore) => (filter: Parameters<ChainStore['list_contracts']>[0]) =>
  store.list_contracts(filter).then((r) => addresses(r.contracts));

beforeAll(async () => {
  keys = unwrap(await enclave.create_seed()).keys;
  chain = await LocalChain.open(p, {
    chain_id: CHAIN_ID,
    attestation: { roots: [test_attestation(p).root_pubkey], measurements: [keys.measurement] },
    codes,
  });
  const stored = await block([alice.tx({ type: 'store_code', code: to_base64(utf8(PLAIN)) })]);
  code_id = stored.output.results[0]!.code_id!;
  const first = await block([instantiate(alice, 'a'), instantiate(alice, 'b'), instantiate(bob, 'a')]);
  for (const [i, name] of ['a1', 'a2', 'b1'].entries()) made[name] = first.output.results[i]!.contract!;
  const second = await block([instantiate(alice, 'a')]);
  made['a3'] = second.output.results[0]!.contract!;
  tx_hash['a1'] = first.output.results[0]!.hash;
  for (const [name, address] of Object.entries(made)) expect(address, name).toMatch(/^[0-9a-f]{40}$/);
});

afterAll(async () => {
  await chain.store.close();
  await enclave.close();
  home.remove();
});

describe('contracts', () => {
  it('lists by code id, creator and label, alone and together', async () => {
    const list = contracts_of(chain.store);
    const { a1, a2, a3, b1 } = made as Record<string, string>;
    expect(await list({ code_id })).toEqual([a1, a2, a3, b1].sort());
    expect(await list({ creator: alice.address })).toEqual([a1, a2, a3].sort());
    expect(await list({ label: 'a' })).toEqual([a1, a3, b1].sort());
    expect(await list({ label: 'a', creator: alice.address })).toEqual([a1, a3].sort());
    expect(await list({ code_id, creator: bob.address })).toEqual([b1]);
    expect(await list({ code_id: 1, creator: bob.address })).toEqual([]);
    expect(await list({ label: 'no such label' })).toEqual([]);
    const answer = await chain.store.list_contracts({ code_id, creator: bob.address });
    expect(answer).toEqual({ contracts: [await chain.store.get_contract(b1!)], cursor: null });
  });

  it('serves contract and code records (kept after the first read) as copies that callers may change', async () => {
    const first = (await chain.store.get_contract(made['a1']!))!;
    const code = (await chain.store.get_code(code_id))!;
    const [contract_before, code_before] = [{ ...first }, { ...code }];
    first.label = 'changed by a caller';
    code.code = 'AAAA';
    expect(await chain.store.get_contract(made['a1']!)).toEqual(contract_before);
    expect(await chain.store.get_code(code_id)).toEqual(code_before);
    expect(await chain.store.get_contract('ee'.repeat(20))).toBeNull();
  });

  it('lists the system contracts genesis made', async () => {
    const system = SYSTEM_CONTRACTS.map((name) =>
      system_contract_address(p, to_hex(p.sha256(codes.find((c) => c.name === name)!.code))),
    );
    expect(await contracts_of(chain.store)({ creator: SYSTEM_CREATOR })).toEqual([...system].sort());
    expect(await contracts_of(chain.store)({ label: 'directory' })).toEqual([system[0]]);
    const all = await contracts_of(chain.store)({});
    expect(all).toEqual([...system, ...Object.values(made)].sort());
  });

  it('pages with limit and cursor: every contract once, and a null cursor at the end', async () => {
    const { items, pages } = await all_pages(
      (page) =>
        chain.store.list_contracts({ code_id }, page).then((r) => ({ items: r.contracts, cursor: r.cursor })),
      1,
    );
    expect(addresses(items)).toEqual(Object.values(made).sort());
    expect(pages).toBe(4);
    const two = await all_pages(
      (page) => chain.store.list_contracts({}, page).then((r) => ({ items: r.contracts, cursor: r.cursor })),
      3,
    );
    expect(two.items.length).toBe(SYSTEM_CONTRACTS.length + 4);
    expect(new Set(addresses(two.items)).size).toBe(two.items.length);
  });

  it('refuses a cursor it did not give for this listing, and a bad limit', async () => {
    const page = await chain.store.list_contracts({ creator: alice.address }, { limit: 1 });
    expect(page.cursor).not.toBeNull();
    await expect(chain.store.list_contracts({ code_id }, { cursor: page.cursor })).rejects.toThrow(
      StoreCursorError,
    );
    await expect(
      chain.store.list_contracts({ creator: bob.address }, { cursor: page.cursor }),
    ).rejects.toThrow(/not from this listing/);
    for (const cursor of ['', 'not a cursor!', 'aWR4L2NvbnRyYWN0L2NyZWF0b3IvenovenoK', 'x'.repeat(300)])
      await expect(chain.store.list_contracts({}, { cursor })).rejects.toThrow(StoreCursorError);
    for (const limit of [0, 101, 1.5, -1])
      await expect(chain.store.list_contracts({}, { limit })).rejects.toThrow(RangeError);
    // The right cursor goes on after the first page.
    const next = await chain.store.list_contracts(
      { creator: alice.address },
      { limit: 5, cursor: page.cursor },
    );
    expect(next.contracts.length).toBe(2);
    expect(next.cursor).toBeNull();
  });
});

describe('transactions', () => {
  it('lists counted txs by sender and by target contract, newest first; refused ones are not listed', async () => {
    const { a1, b1 } = made as Record<string, string>;
    const run1 = await block([execute(alice, a1!), execute(bob, a1!)]);
    // A wrong sequence (code 5) and a replay of a committed tx: refused, not counted.
    const replay = run1.input.txs[0]!;
    const run2 = await block([execute(bob, b1!, { sequence: 99 }), replay, execute(alice, b1!)]);
    expect(run2.output.results.map((r) => r.code)).toEqual([
      ResultCode.WRONG_SEQUENCE,
      ResultCode.WRONG_SEQUENCE,
      ResultCode.OK,
    ]);
    const by_alice = (await chain.store.list_txs({ sender: alice.address })).txs;
    // store_code, 2 instantiates at height 2, 1 at 3, execute at 4, execute at 5: newest first.
    expect(by_alice.map((t) => [t.height, t.index])).toEqual([
      [5, 2],
      [4, 0],
      [3, 0],
      [2, 1],
      [2, 0],
      [1, 0],
    ]);
    expect(by_alice[0]!.hash).toBe(run2.output.results[2]!.hash);
    expect(by_alice[0]).toEqual(await chain.store.get_tx(by_alice[0]!.hash));
    const on_a1 = (await chain.store.list_txs({ contract: a1! })).txs;
    expect(on_a1.map((t) => t.hash)).toEqual([
      run1.output.results[1]!.hash,
      run1.output.results[0]!.hash,
      tx_hash['a1'],
    ]);
    expect(
      (await chain.store.list_txs({ sender: bob.address, contract: a1! })).txs.map((t) => t.hash),
    ).toEqual([run1.output.results[1]!.hash]);
    // bob's code-5 execute of b1 is not there: only his instantiate of it.
    expect(
      (await chain.store.list_txs({ sender: bob.address, contract: b1! })).txs.map((t) => t.height),
    ).toEqual([2]);
    await expect(chain.store.list_txs({})).rejects.toThrow(TypeError);
  });

  it('tx_parties_of a parsed tx (what block_input keeps for the commit) is tx_parties of its text', () => {
    const texts = [
      execute(bob, made['a1']!, { sequence: 7 }),
      instantiate(alice, 'c', { sequence: 9 }),
      alice.tx({ type: 'send', to: bob.address, amount: 5 }, { sequence: 3 }),
      alice.tx({ type: 'store_code', code: to_base64(utf8(PLAIN)) }, { sequence: 4 }),
    ];
    const parties = texts.map((raw) => tx_parties(p, raw));
    expect(parties).toEqual([
      { sender: bob.address, contract: made['a1'] },
      { sender: alice.address, contract: contract_address(p, alice.pubkey, 9) },
      { sender: alice.address, contract: null },
      { sender: alice.address, contract: null },
    ]);
    const addresses = new Map<string, string>();
    for (const [i, raw] of texts.entries()) {
      expect(tx_parties_of(p, parse_tx_json(raw))).toEqual(parties[i]);
      // Remembering addresses by sender key answers the same, the first time and after.
      expect(tx_parties_of(p, parse_tx_json(raw), addresses)).toEqual(parties[i]);
      expect(tx_parties_of(p, parse_tx_json(raw), addresses)).toEqual(parties[i]);
    }
    expect(addresses).toEqual(
      new Map([
        [bob.pubkey, bob.address],
        [alice.pubkey, alice.address],
      ]),
    );
    expect(tx_parties(p, '{"body":')).toBeNull();
  });

  it('pages newest first with limit 1, every tx once', async () => {
    const all = (await chain.store.list_txs({ sender: alice.address }, { limit: 100 })).txs;
    const { items, pages } = await all_pages(
      (page) =>
        chain.store
          .list_txs({ sender: alice.address }, page)
          .then((r) => ({ items: r.txs, cursor: r.cursor })),
      1,
    );
    expect(items.map((t: TxRecord) => t.hash)).toEqual(all.map((t) => t.hash));
    expect(pages).toBe(all.length);
    const first = await chain.store.list_txs({ sender: alice.address }, { limit: 1 });
    await expect(chain.store.list_txs({ sender: bob.address }, { cursor: first.cursor })).rejects.toThrow(
      StoreCursorError,
    );
  });
});

describe('integrity and format', () => {
  let old_disk: MemoryDisk | null = null;
  /** A store on a copy of the chain's disk, after `edit` changed the raw copy. */
  async function copy_with(edit: (kv: ReturnType<MemoryDisk['open']>) => Promise<void>): Promise<ChainStore> {
    const disk = chain.disk.clone();
    old_disk = disk;
    const kv = disk.open();
    await kv.open();
    await edit(kv);
    await kv.close();
    return ChainStore.open_kv(disk.open(), { chain_id: CHAIN_ID }, { p });
  }

  async function index_keys(kv: ReturnType<MemoryDisk['open']>): Promise<string[]> {
    const out: string[] = [];
    for await (const key of kv.keys(prefix_range('idx/'))) out.push(key);
    return out;
  }

  it('verify_all checks the indexes against the records', async () => {
    const report = await chain.store.verify_all();
    expect(report.index_entries).toBeGreaterThan(0);
    const missing = await copy_with(async (kv) => {
      const [first] = await index_keys(kv);
      await kv.batch([{ type: 'del', key: first! }]);
    });
    await expect(missing.verify_all()).rejects.toThrow(/index entry missing/);
    await missing.close();
    const stray_key = `idx/tx/sender/${'1'.repeat(40)}/${'0'.repeat(32)}`;
    const stray = await copy_with(async (kv) => {
      await kv.put(stray_key, encode_value(stray_key, tx_hash['a1']));
    });
    await expect(stray.verify_all()).rejects.toThrow(StoreCorruptError);
    await stray.close();
    const moved = await copy_with(async (kv) => {
      const key = (await index_keys(kv)).find((k) => k.startsWith('idx/tx/contract/'))!;
      await kv.put(key, encode_value(key, '0'.repeat(64)));
    });
    await expect(moved.verify_all()).rejects.toThrow(/names another record/);
    await moved.close();
  });

  it('upgrades a format-2 store on open: builds the same indexes, then format 3', async () => {
    const before = await chain.store.list_txs({ sender: alice.address });
    const indexed = (await chain.store.verify_all()).index_entries;
    const old = await copy_with(async (kv) => {
      await kv.batch([
        ...(await index_keys(kv)).map((key) => ({ type: 'del' as const, key })),
        { type: 'put', key: KEYS.format, value: encode_value(KEYS.format, 2) },
      ]);
      expect(await index_keys(kv)).toEqual([]);
    });
    // alice: store_code, 3 instantiates, 2 executes; bob: an instantiate and an execute.
    expect(old.upgraded()).toEqual({ from: 2, contracts: SYSTEM_CONTRACTS.length + 4, txs: 8 });
    expect(await old.list_txs({ sender: alice.address })).toEqual(before);
    expect(await contracts_of(old)({ label: 'a' })).toEqual(await contracts_of(chain.store)({ label: 'a' }));
    expect((await old.verify_all()).index_entries).toBe(indexed);
    await old.close();
    const again = await ChainStore.open_kv(old_disk!.open(), { chain_id: CHAIN_ID }, { p });
    expect(again.upgraded()).toBeNull();
    await again.close();
  });

  it('refuses a format it cannot read, saying what to do', async () => {
    await expect(
      copy_with(async (kv) => {
        await kv.put(KEYS.format, encode_value(KEYS.format, 1));
      }),
    ).rejects.toThrow(/unknown store format 1 .*re-initialize/);
  });
});
