/**
 * ChainStore fed by a real (in-process) enclave, on each of its backends: LevelDB in a folder and
 * the simulator's disk in memory (one code path, so the same behaviour). Everything committed
 * reads back, survives close and reopen, matches what a reference model prepares for the same
 * history, a refused commit writes nothing, and damaged data fails loudly with a typed error.
 */

import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { Level } from 'level';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockInput, BlockOutput, Enclave, PublicKeys, QueryInput } from '../../enclave/api.js';
import { InProcessEnclave } from '../../enclave/in_process.js';
import { unwrap } from '../../enclave/result.js';
import {
  type Block,
  block_hash,
  type Commit,
  commit_hash,
  GENESIS_PARENT_HASH,
  txs_hash,
  vote_sign_bytes,
} from '../../node/consensus/types.js';
import { reference_codes } from '../../node/reference_contracts.js';
import { ChainStore, type ChainStoreOptions, encode_value } from '../../node/store/chain_store.js';
import {
  CommitRejectedError,
  StoreClosedError,
  StoreCorruptError,
  StoreMismatchError,
  StoreOpenError,
} from '../../node/store/errors.js';
import { KEYS } from '../../node/store/keys.js';
import type { Kv } from '../../node/store/kv.js';
import { MemoryDisk } from '../../node/store/memory_disk.js';
import { to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { ResultCode } from '../../protocol/codes.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { get_provider } from '../../protocol/providers/index.js';
import {
  CHAIN_ID,
  encrypt,
  T0_MS,
  TestAccount,
  temp_home,
  test_attestation,
  test_bytes,
} from '../enclave/fixtures.js';
import { ReferenceChain } from './reference_chain.js';

const p: CryptoProvider = get_provider('native');

/** A contract that keeps several keys, so blocks put and delete state entries. */
const STATE_CONTRACT = `
export function instantiate(ctx, msg) {
  for (let i = 0; i < msg.keys.length; i++) ctx.storage.set(msg.keys[i], 'v-' + msg.keys[i]);
  return null;
}
export function execute(ctx, msg) {
  if (msg.remove !== undefined) ctx.storage.remove(msg.remove);
  if (msg.set !== undefined) ctx.storage.set(msg.set, msg.value);
  return { done: true };
}
export function query(ctx, msg) { return { value: ctx.storage.get(msg.get) }; }
`;

/** The model keeps state in insertion order, the store in key order; the enclave reads a set. */
function sorted_state<T extends { state: unknown }>(value: T): T {
  const copy = structuredClone(value) as T & { state: unknown };
  const sort = (entries: [string, string][]) =>
    [...entries].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  if (Array.isArray(copy.state)) copy.state = sort(copy.state as [string, string][]);
  else {
    const state = copy.state as Record<string, [string, string][]>;
    for (const address of Object.keys(state)) state[address] = sort(state[address]!);
  }
  return copy;
}

function is_sorted(entries: [string, string][]): boolean {
  return entries.every((e, i) => i === 0 || entries[i - 1]![0] < e[0]);
}

interface Prepared {
  input: BlockInput;
  output: BlockOutput;
  block: Block;
  commit: Commit;
  block_hash: string;
}

/** Drives one store and one reference model through the same blocks of a real enclave. */
class Harness {
  readonly validator_sk = test_bytes(p, 'validator/0');
  readonly validator = to_hex(p.ed25519_public(this.validator_sk));
  readonly committed: Prepared[] = [];

  constructor(
    public store: ChainStore,
    readonly chain: ReferenceChain,
    readonly enclave: Enclave,
  ) {}

  /** Block input from the store, checked equal (JSON) to the model's; executed; block built. */
  async prepare(txs: string[]): Promise<Prepared> {
    const height = this.store.height() + 1;
    const time_ms = T0_MS + height * 1000;
    const random_seed = this.store.last_block()?.block_hash ?? GENESIS_PARENT_HASH;
    const input = await this.store.block_input(
      txs,
      { chain_id: CHAIN_ID, height, time_ms, random_seed },
      { attestation: this.chain.attestation, min_gas_price: 0, dev: false },
    );
    for (const entries of Object.values(input.state)) expect(is_sorted(entries)).toBe(true);
    expect(JSON.stringify(input)).toBe(
      JSON.stringify(sorted_state(this.chain.block_input(txs, time_ms, random_seed))),
    );
    const output = unwrap(await this.enclave.execute_block(input));
    const last = this.store.last_block();
    const header = {
      chain_id: CHAIN_ID,
      height,
      round: 0,
      time_ms,
      proposer: this.validator,
      prev_block_hash: last?.block_hash ?? GENESIS_PARENT_HASH,
      txs_hash: txs_hash(p, txs),
      last_commit_hash: commit_hash(p, last?.commit ?? null),
      result_hash: output.result_hash,
      // Not checked here: the enclave's light client checks exec signatures.
      exec_signature: '0'.repeat(128),
    };
    const hash = block_hash(p, header);
    const vote = vote_sign_bytes(CHAIN_ID, { type: 'precommit', height, round: 0, block_hash: hash });
    const commit: Commit = {
      height,
      round: 0,
      block_hash: hash,
      signatures: [{ validator: this.validator, signature: to_hex(p.ed25519_sign(this.validator_sk, vote)) }],
    };
    const block: Block = { header, txs, last_commit: last === null ? null : structuredClone(last.commit) };
    return { input, output, block, commit, block_hash: hash };
  }

  async commit(prepared: Prepared): Promise<void> {
    await this.store.commit_block(prepared);
    this.chain.apply(prepared.input, prepared.output);
    this.committed.push(prepared);
  }

  async block(txs: string[]): Promise<Prepared> {
    const prepared = await this.prepare(txs);
    await this.commit(prepared);
    return prepared;
  }

  /** Everything the store serves equals what the model holds (and the committed blocks). */
  async expect_matches_chain(): Promise<void> {
    const { store, chain } = this;
    expect(store.height()).toBe(chain.height);
    expect(store.next_code_id()).toBe(chain.next_code_id);
    for (const [i, c] of this.committed.entries()) {
      const expected = {
        block: c.block,
        commit: c.commit,
        block_hash: c.block_hash,
        tx_hashes: c.output.results.map((r) => r.hash),
      };
      expect(await store.get_block(i + 1)).toEqual(expected);
    }
    expect(store.last_block()).toEqual(await store.get_block(store.height()));
    for (const [address, sequence] of chain.accounts)
      expect(await store.get_account_sequence(address)).toBe(sequence);
    for (const [address, info] of chain.contracts) {
      expect(await store.get_contract(address)).toEqual(info);
      const state = await store.contract_state(address);
      expect(is_sorted(state)).toBe(true);
      expect(state).toEqual(
        sorted_state({ state: [...(chain.state.get(address) ?? new Map()).entries()] }).state,
      );
      const q = await store.query_input(address, 'gcm', 'AAAA', T0_MS);
      expect(JSON.stringify(q)).toBe(
        JSON.stringify(sorted_state(chain.query_input(address, 'gcm', 'AAAA', T0_MS) as QueryInput)),
      );
      // A node's query sees consensus time: the committed block's, read with its height.
      const at_block = await store.query_input(address, 'gcm', 'AAAA', T0_MS - 1, { block_time: true });
      expect(at_block?.height).toBe(store.height());
      expect(at_block?.time_ms).toBe(store.last_block()?.block.header.time_ms ?? T0_MS - 1);
    }
    const codes = await store.list_codes();
    expect(codes.map((c) => c.code_id)).toEqual([...chain.codes.keys()]);
    for (const code of codes) {
      const stored = chain.codes.get(code.code_id)!;
      expect(code).toEqual({
        code_id: stored.code_id,
        code_hash: stored.code_hash,
        code: stored.code_b64,
        ...(stored.name === undefined ? {} : { name: stored.name }),
      });
      expect(await store.get_code(code.code_id)).toEqual(code);
    }
  }
}

/** Where one store lives: a LevelDB folder, or a simulated disk. */
interface Place {
  /** The store here, opened as a node opens it. */
  open(opts?: ChainStoreOptions): Promise<ChainStore>;
  /** A copy of what is here now (the store closed, for a folder). */
  copy(): Place;
  /** A raw key-value handle here, open, for tampering: close it before opening the store. */
  raw(): Promise<Kv>;
}

/** A backend of the store: where a new one goes. */
interface Backend {
  name: string;
  /** An empty place; `root` is a temporary folder for this backend's suite. */
  fresh(root: string, name: string): Place;
}

let copies = 0;

function level_place(dir: string): Place {
  return {
    open: (opts) => ChainStore.open(dir, opts),
    copy: () => {
      const to = `${dir}-copy-${copies++}`;
      cpSync(dir, to, { recursive: true });
      return level_place(to);
    },
    raw: async () => {
      const db = new Level<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
      await db.open();
      return db;
    },
  };
}

function memory_place(disk: MemoryDisk): Place {
  return {
    open: (opts) => ChainStore.open_kv(disk.open(), opts),
    copy: () => memory_place(disk.clone()),
    raw: async () => {
      const kv = disk.open();
      await kv.open();
      return kv;
    },
  };
}

const BACKENDS: Backend[] = [
  { name: 'LevelDB', fresh: (root, name) => level_place(join(root, name)) },
  { name: 'MemoryDisk', fresh: () => memory_place(new MemoryDisk()) },
];

describe.each(BACKENDS)('ChainStore on $name', (backend) => {
  const home = temp_home('cloister-store-');
  let enclave: Enclave;
  let keys: PublicKeys;
  let measurement: string;
  let h: Harness;
  /** Where the history is, closed after the first tests; later tests work on copies. */
  const history = backend.fresh(home.dir, 'history');
  const alice = new TestAccount(p, 'store-alice');
  const bob = new TestAccount(p, 'store-bob');
  const carol = new TestAccount(p, 'store-carol');
  const dave = new TestAccount(p, 'store-dave');
  let counter_address = '';
  let state_address = '';
  let replayed = '';

  beforeAll(async () => {
    enclave = new InProcessEnclave({ provider: 'native', platform_secret_file: home.secret });
    measurement = unwrap(await enclave.measurement());
    keys = unwrap(await enclave.create_seed()).keys;
    const store = await history.open({ chain_id: CHAIN_ID });
    await store.init_genesis(reference_codes());
    const model = new ReferenceChain(p, {
      chain_id: CHAIN_ID,
      attestation: { roots: [test_attestation(p).root_pubkey], measurements: [measurement] },
      codes: reference_codes(),
    });
    h = new Harness(store, model, enclave);
  });

  afterAll(async () => {
    await h.store.close();
    await enclave.close();
    home.remove();
  });

  it('starts empty with the genesis codes', async () => {
    const { store } = h;
    expect(store.height()).toBe(0);
    expect(store.last_block()).toBeNull();
    expect(store.chain_id()).toBe(CHAIN_ID);
    expect(store.next_code_id()).toBe(3);
    expect((await store.list_codes()).map((c) => c.name)).toEqual(['echo', 'counter']);
    // Missing keys: level 10 answers undefined, the store null (or 0 for a sequence).
    expect(await store.get_block(1)).toBeNull();
    expect(await store.get_tx('ab'.repeat(32))).toBeNull();
    expect(await store.get_contract('cd'.repeat(20))).toBeNull();
    expect(await store.get_code(3)).toBeNull();
    expect(await store.get_account_sequence(alice.address)).toBe(0);
    expect(await store.contract_state('cd'.repeat(20))).toEqual([]);
    expect(await store.query_input('cd'.repeat(20), 'gcm', 'AAAA', T0_MS)).toBeNull();
    expect(await store.get_consensus_state()).toBeNull();
    expect(await store.get_sealed('seed')).toBeNull();
    // Calling init_genesis again with the same codes is a check, not a write.
    await store.init_genesis(reference_codes());
  });

  it('serves the genesis balance of an address whose balance it read (and cached) before genesis', async () => {
    const place = backend.fresh(home.dir, 'genesis-balances');
    const store = await place.open({ chain_id: CHAIN_ID });
    expect(await store.get_balance(carol.address)).toBe(0);
    const early = store.get_balance(dave.address);
    await store.init_genesis(reference_codes(), { [carol.address]: 700, [dave.address]: 5 });
    // A read that overlapped the genesis write may answer either value, but is not kept.
    expect([0, 5]).toContain(await early);
    expect(await store.get_balance(carol.address)).toBe(700);
    expect(await store.get_balance(dave.address)).toBe(5);
    await store.close();
    const again = await place.open({ chain_id: CHAIN_ID });
    expect(await again.get_balance(carol.address)).toBe(700);
    await again.close();
  });

  it('refuses bad arguments at the boundary', async () => {
    const { store } = h;
    await expect(store.get_tx('xyz')).rejects.toThrow(TypeError);
    await expect(store.get_block(-1)).rejects.toThrow(RangeError);
    await expect(store.get_block(1.5)).rejects.toThrow(RangeError);
    await expect(store.get_account_sequence('ABCD')).rejects.toThrow(TypeError);
    await expect(store.put_sealed('../x', 'AAAA')).rejects.toThrow(TypeError);
    await expect(store.put_sealed('seed', 'not base64!')).rejects.toThrow(TypeError);
    await expect(store.list_codes({ limit: 0 })).rejects.toThrow(RangeError);
    await expect(
      store.block_input(
        [],
        { chain_id: CHAIN_ID, height: 5, time_ms: T0_MS, random_seed: '00'.repeat(32) },
        { attestation: h.chain.attestation, min_gas_price: 0, dev: false },
      ),
    ).rejects.toThrow(RangeError);
    await expect(
      store.block_input(
        [],
        { chain_id: 'other', height: 1, time_ms: T0_MS, random_seed: '00'.repeat(32) },
        { attestation: h.chain.attestation, min_gas_price: 0, dev: false },
      ),
    ).rejects.toThrow(RangeError);
    await expect(store.init_genesis([{ name: 'echo', code: utf8('other') }])).rejects.toThrow(
      StoreMismatchError,
    );
    // A second opener is refused while the store is open (LevelDB's lock; the disk's one handle).
    await expect(history.open({ chain_id: CHAIN_ID })).rejects.toThrow(StoreOpenError);
  });

  it('commits enclave blocks and serves what the reference model holds', async () => {
    const counter_hash = h.chain.codes.get(2)!.code_hash;
    const echo_hash = h.chain.codes.get(1)!.code_hash;
    const b1 = await h.block([
      alice.tx({
        type: 'instantiate',
        code_id: 2,
        label: 'counter',
        scheme: 'gcm',
        payload: encrypt(p, keys, counter_hash, { count: 5 }).payload,
      }),
      bob.tx({ type: 'store_code', code: to_base64(utf8(STATE_CONTRACT)) }),
      'not a transaction',
    ]);
    expect(b1.output.results.map((r) => r.code)).toEqual([
      ResultCode.OK,
      ResultCode.OK,
      ResultCode.MALFORMED_TX,
    ]);
    counter_address = b1.output.results[0]!.contract!;
    expect(b1.output.results[1]!.code_id).toBe(3);
    const state_hash = b1.output.results[1]!.code_hash!;

    const forged = JSON.parse(carol.tx({ type: 'store_code', code: to_base64(utf8(STATE_CONTRACT)) })) as {
      signature: string;
    };
    forged.signature = `${forged.signature.slice(0, 127)}${forged.signature.endsWith('0') ? '1' : '0'}`;
    replayed = alice.tx({
      type: 'execute',
      contract: counter_address,
      scheme: 'gcm',
      payload: encrypt(p, keys, counter_hash, { increment: {} }).payload,
    });
    const b2 = await h.block([
      replayed,
      bob.tx({
        type: 'instantiate',
        code_id: 3,
        label: 'state',
        scheme: 'siv',
        payload: encrypt(p, keys, state_hash, { keys: ['m', 'b', 'x', 'a'] }, { scheme: 'siv' }).payload,
      }),
      JSON.stringify(forged),
      alice.tx({ type: 'store_code', code: to_base64(utf8(STATE_CONTRACT)) }, { sequence: 9 }),
    ]);
    expect(b2.output.results.map((r) => r.code)).toEqual([
      ResultCode.OK,
      ResultCode.OK,
      ResultCode.BAD_SIGNATURE,
      ResultCode.WRONG_SEQUENCE,
    ]);
    state_address = b2.output.results[1]!.contract!;
    expect((await h.store.contract_state(state_address)).length).toBe(4);

    const b3 = await h.block([
      bob.tx({
        type: 'execute',
        contract: state_address,
        scheme: 'gcm',
        payload: encrypt(p, keys, state_hash, { remove: 'b', set: 'c', value: 'new' }).payload,
      }),
      alice.tx({
        type: 'execute',
        contract: counter_address,
        scheme: 'gcm',
        payload: encrypt(p, keys, counter_hash, { increment: {} }).payload,
      }),
      dave.tx({
        type: 'instantiate',
        code_id: 1,
        label: 'echo',
        scheme: 'gcm',
        payload: encrypt(p, keys, echo_hash, {}).payload,
      }),
    ]);
    expect(b3.output.results.map((r) => r.code)).toEqual([ResultCode.OK, ResultCode.OK, ResultCode.OK]);
    expect((await h.store.contract_state(state_address)).length).toBe(4);

    // A replay of a committed transaction is refused (5); its original record must stay.
    const b4 = await h.block([
      replayed,
      alice.tx({ type: 'execute', contract: 'ee'.repeat(20), scheme: 'gcm', payload: 'AAAA' }),
    ]);
    expect(b4.output.results.map((r) => r.code)).toEqual([
      ResultCode.WRONG_SEQUENCE,
      ResultCode.UNKNOWN_CODE_OR_CONTRACT,
    ]);

    await h.expect_matches_chain();
    for (const [i, c] of h.committed.entries()) {
      for (const [index, r] of c.output.results.entries()) {
        const record = await h.store.get_tx(r.hash);
        if (i === 3 && index === 0) continue;
        const { code_hash: _, ...rest } = r;
        expect(record).toEqual({ ...rest, height: i + 1, index });
      }
    }
    expect(await h.store.get_tx(b4.output.results[0]!.hash)).toMatchObject({
      height: 2,
      index: 0,
      code: ResultCode.OK,
    });
    expect(Object.isFrozen(h.store.last_block()!.block.header)).toBe(true);
    expect(await h.store.verify_all()).toMatchObject({ blocks: 4, codes: 3, contracts: 3, accounts: 3 });
  });

  it('keeps sealed blobs and the consensus state', async () => {
    const { store } = h;
    await store.put_sealed('seed', 'c2VhbGVk');
    await store.put_sealed('registration', 'cmVn');
    await store.put_consensus_state({ height: 5, round: 1, step: 'precommit', locked: null });
    expect(await store.get_sealed('seed')).toBe('c2VhbGVk');
    expect(await store.get_consensus_state()).toEqual({
      height: 5,
      round: 1,
      step: 'precommit',
      locked: null,
    });
    await expect(store.put_sealed('seed', 'A'.repeat(64 * 1024 + 4))).rejects.toThrow(RangeError);
    await expect(store.put_consensus_state(undefined)).rejects.toThrow(TypeError);
  });

  it('serializes block inputs behind a commit in progress', async () => {
    const prepared = await h.prepare([]);
    const committing = h.commit(prepared);
    // Asked while the commit runs: it must describe the block after it, not the one being written.
    const next = h.store.block_input(
      [],
      { chain_id: CHAIN_ID, height: 6, time_ms: T0_MS + 6000, random_seed: '00'.repeat(32) },
      { attestation: h.chain.attestation, min_gas_price: 0, dev: false },
    );
    await committing;
    expect((await next).height).toBe(6);
    expect(h.store.height()).toBe(5);
  });

  it('keeps everything across close and reopen, and goes on committing', async () => {
    await h.store.close();
    await expect(h.store.get_tx('ab'.repeat(32))).rejects.toThrow(StoreClosedError);
    h.store = await history.open({ chain_id: CHAIN_ID });
    await h.store.init_genesis(reference_codes());
    await h.expect_matches_chain();
    expect(await h.store.get_sealed('seed')).toBe('c2VhbGVk');
    expect(await h.store.get_consensus_state()).toMatchObject({ height: 5 });
    await h.block([
      bob.tx({
        type: 'execute',
        contract: state_address,
        scheme: 'gcm',
        payload: encrypt(p, keys, h.chain.codes.get(3)!.code_hash, { set: '0', value: 'first' }).payload,
      }),
    ]);
    await h.expect_matches_chain();
    await h.store.close();
    await expect(history.open({ chain_id: 'another-chain' })).rejects.toThrow(StoreMismatchError);
    // Opening without a chain id takes the stored one.
    h.store = await history.open();
    expect(h.store.chain_id()).toBe(CHAIN_ID);
    expect(h.store.height()).toBe(6);
    await h.store.close();
  });

  it('writes nothing when a commit is refused', async () => {
    h.store = await history.copy().open({ chain_id: CHAIN_ID });
    const before = await h.store.verify_all();
    const good = await h.prepare([
      alice.tx({
        type: 'execute',
        contract: counter_address,
        scheme: 'gcm',
        payload: encrypt(p, keys, h.chain.codes.get(2)!.code_hash, { increment: {} }).payload,
      }),
    ]);
    const alice_before = await h.store.get_account_sequence(alice.address);
    const variants: [string, RegExp, (x: Prepared) => void][] = [
      ['height', /not for the parent height/, (x) => (x.block.header.height += 1)],
      ['result hash', /result_hash is not the header/, (x) => (x.output.result_hash = 'ff'.repeat(32))],
      ['results count', /one result per tx/, (x) => x.output.results.pop()],
      ['input txs', /input.txs differ/, (x) => (x.input.txs = ['other'])],
      ['block hash', /block_hash is not the hash/, (x) => (x.block_hash = 'ee'.repeat(32))],
      ['commit', /commit is not for this block/, (x) => (x.commit.block_hash = 'ee'.repeat(32))],
      ['parent', /prev_block_hash/, (x) => (x.block.header.prev_block_hash = 'dd'.repeat(32))],
      ['txs', /txs_hash/, (x) => x.block.txs.push('extra')],
      ['last commit', /last_commit may be null only at height 1/, (x) => (x.block.last_commit = null)],
      // Fails late, after accounts and tx records were already checked: still nothing written.
      [
        'state of a non-contract',
        /not a contract/,
        (x) => (x.output.state_writes['ab'.repeat(20)] = [['AAAA', 'AAAA']]),
      ],
      ['sequence going back', /would go back/, (x) => (x.output.accounts[alice.address] = 0)],
    ];
    for (const [name, why, mutate] of variants) {
      const bad = structuredClone(good);
      mutate(bad);
      if (name !== 'height' && name !== 'block hash' && name !== 'commit') {
        // Keep the header hash consistent so the check under test is the one that fires.
        bad.block_hash = block_hash(p, bad.block.header);
        bad.commit.block_hash = bad.block_hash;
      }
      const refused = h.store.commit_block(bad);
      await expect(refused, name).rejects.toThrow(CommitRejectedError);
      await expect(refused, name).rejects.toThrow(why);
      expect(h.store.height()).toBe(6);
    }
    expect(await h.store.verify_all()).toEqual(before);
    expect(await h.store.get_account_sequence(alice.address)).toBe(alice_before);
    await h.commit(good);
    expect(h.store.height()).toBe(7);
    await h.store.close();
  });

  describe('corruption', () => {
    /** A copy of the closed history, changed by `fn` on a raw handle. */
    async function tamper(fn: (db: Kv) => Promise<void>): Promise<Place> {
      const place = history.copy();
      const db = await place.raw();
      await fn(db);
      await db.close();
      return place;
    }

    const del = (db: Kv, key: string) => db.batch([{ type: 'del', key }]);

    it('refuses to open when the height is damaged or rolled back', async () => {
      const flipped = await tamper(async (db) => {
        const raw = (await db.get(KEYS.height))!;
        await db.put(KEYS.height, raw.replace(/6$/, '7'));
      });
      await expect(flipped.open()).rejects.toThrow(StoreCorruptError);
      const rolled_back = await tamper((db) => db.put(KEYS.height, encode_value(KEYS.height, 5)));
      await expect(rolled_back.open()).rejects.toThrow(/above the committed height/);
    });

    it('refuses to open when the last block is missing or altered', async () => {
      const missing = await tamper((db) => del(db, 'block/0000000000000006'));
      await expect(missing.open()).rejects.toThrow(StoreCorruptError);
      const altered = await tamper(async (db) => {
        const raw = (await db.get('block/0000000000000006'))!;
        const record = JSON.parse(raw.slice(64)) as { block: Block };
        record.block.header.time_ms += 1;
        // A correct checksum: only the header-hash check can tell.
        await db.put('block/0000000000000006', encode_value('block/0000000000000006', record));
      });
      await expect(altered.open()).rejects.toThrow(/block_hash is not the hash of the header/);
      const format = await tamper((db) => del(db, KEYS.format));
      await expect(format.open()).rejects.toThrow(/no format marker/);
    });

    it('fails reads of damaged, reshaped or moved records', async () => {
      const tx_hash = h.committed[0]!.output.results[0]!.hash;
      const other = h.committed[0]!.output.results[1]!.hash;
      const place = await tamper(async (db) => {
        const raw = (await db.get(`tx/${tx_hash}`))!;
        await db.put(`tx/${tx_hash}`, raw.replace('"gas_used":', '"gas_used":1'));
        await db.put(
          `tx/${other}`,
          encode_value(`tx/${other}`, {
            hash: other,
            height: 1,
            index: 1,
            code: 99,
            gas_used: 0,
            output: '',
          }),
        );
        const entries: [string, string][] = [];
        for await (const entry of db.iterator({
          gte: `state/${state_address}/`,
          lt: `state/${state_address}/\u00ff`,
        }))
          entries.push(entry);
        // A value moved to another key keeps a valid checksum for its old key only.
        await db.put(entries[0]![0], entries[1]![1]);
      });
      const store = await place.open();
      await expect(store.get_tx(tx_hash)).rejects.toThrow(/checksum does not match/);
      await expect(store.get_tx(other)).rejects.toThrow(/code is not a result code/);
      await expect(store.contract_state(state_address)).rejects.toThrow(StoreCorruptError);
      await expect(store.query_input(state_address, 'gcm', 'AAAA', T0_MS)).rejects.toThrow(StoreCorruptError);
      await expect(
        store.block_input(
          [
            bob.tx(
              { type: 'execute', contract: state_address, scheme: 'gcm', payload: 'AAAA' },
              { sequence: 99 },
            ),
          ],
          { chain_id: CHAIN_ID, height: 7, time_ms: T0_MS, random_seed: '00'.repeat(32) },
          { attestation: h.chain.attestation, min_gas_price: 0, dev: false },
        ),
      ).rejects.toThrow(StoreCorruptError);
      await expect(store.verify_all()).rejects.toThrow(StoreCorruptError);
      // Undamaged records still read.
      expect(await store.get_contract(counter_address)).not.toBeNull();
      await store.close();
    });

    it('fails on a code that does not match its hash', async () => {
      const place = await tamper((db) =>
        db.put(
          'code/0000000000000003',
          encode_value('code/0000000000000003', { code_id: 3, code_hash: 'ab'.repeat(32), code: 'AAAA' }),
        ),
      );
      await expect(place.open()).rejects.toThrow(/code_hash is not the hash of the code/);
    });
  });
});
