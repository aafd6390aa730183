/**
 * The last-signed record: its file format (round trip, and every kind of damage as a typed
 * error), the start-up rule against the store, the guard's write order (record file before the
 * store's copy, both before `save` resolves), and the sit-out after a reset.
 */

import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type SignedState, signed_state_sign_bytes } from '../../node/consensus/signed_state.js';
import { home_paths, read_secret_file } from '../../node/home.js';
import { init_network } from '../../node/init.js';
import {
  others_can_decide,
  reset_signing,
  SigningGuard,
  SigningHoldTimeoutError,
} from '../../node/signing_guard.js';
import {
  check_signing_start,
  decode_signing_record,
  encode_signing_record,
  read_signing_record,
  type SigningRecord,
  SigningRecordCorruptError,
  SigningRecordVersionError,
  type SigningStartInput,
  SigningStartRefusedError,
  signing_record_path,
  write_signing_record,
} from '../../node/signing_record.js';
import { ChainStore } from '../../node/store/chain_store.js';
import { StoreOpenError } from '../../node/store/errors.js';
import { to_hex } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';

const LIMITS = { block_txs_max: 10, tx_chars_max: 100, commit_signatures_max: 4 };
const CHAIN = 'cloister-test-1';
const ME = 'aa'.repeat(32);
const OTHERS = ['bb', 'cc', 'dd'].map((b) => b.repeat(32));
const root = mkdtempSync(join(tmpdir(), 'cloister-signing-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let homes = 0;
const new_home = () => mkdtempSync(join(root, `h${homes++}-`));

function state(height: number, round = 0, step: SignedState['step'] = 'prevote'): SignedState {
  return {
    height,
    round,
    step,
    block_hash: 'ab'.repeat(32),
    pol_round: -1,
    signature: 'cd'.repeat(64),
    proposal_block: null,
    locked_round: -1,
    locked_block: null,
  };
}

function record(over: Partial<SigningRecord> = {}): SigningRecord {
  return {
    chain_id: CHAIN,
    validator: ME,
    store_height_min: 4,
    state: state(5),
    sync_before_signing: false,
    floor_height: 0,
    ...over,
  };
}

describe('the record file', () => {
  it('reads back exactly what was written, atomically (no temporary file left)', async () => {
    const home = new_home();
    const path = signing_record_path(home);
    expect(await read_signing_record(path, LIMITS)).toBeNull();
    await write_signing_record(path, record());
    await write_signing_record(path, record({ store_height_min: 5, state: state(6, 1, 'precommit') }));
    expect(await read_signing_record(path, LIMITS)).toEqual(
      record({ store_height_min: 5, state: state(6, 1, 'precommit') }),
    );
    expect(readdirSync(home)).toEqual(['signing_record.json']);
  });

  it('refuses a changed value: the checksum covers the whole record', () => {
    const text = encode_signing_record(record());
    const changed = text.replace('"store_height_min":4', '"store_height_min":3');
    // Precondition: the edit hit, and the result is still well-formed JSON of the right shape.
    expect(changed).not.toBe(text);
    expect(() => decode_signing_record(changed, LIMITS)).toThrow(SigningRecordCorruptError);
    expect(() => decode_signing_record(changed, LIMITS)).toThrow(/checksum/);
  });

  it('refuses a truncated file, at any length', () => {
    const text = encode_signing_record(record());
    for (const keep of [0, 1, 20, Math.floor(text.length / 2), text.length - 3]) {
      expect(() => decode_signing_record(text.slice(0, keep), LIMITS)).toThrow(SigningRecordCorruptError);
    }
  });

  it('refuses another version with its own error, and a file of another format as corrupt', () => {
    const file = JSON.parse(encode_signing_record(record())) as Record<string, unknown>;
    const v2 = JSON.stringify({ ...file, version: 2 });
    expect(() => decode_signing_record(v2, LIMITS)).toThrow(SigningRecordVersionError);
    try {
      decode_signing_record(v2, LIMITS, 'the/file');
    } catch (error) {
      expect((error as SigningRecordVersionError).version).toBe(2);
      expect((error as SigningRecordVersionError).path).toBe('the/file');
    }
    const other = JSON.stringify({ ...file, format: 'something-else' });
    expect(() => decode_signing_record(other, LIMITS)).toThrow(SigningRecordCorruptError);
  });

  it('refuses a malformed record even with a matching checksum', () => {
    // A record whose state is no signed state, checksummed as the writer would: the shape check catches it.
    const bad = { ...record(), state: { height: 1 } } as unknown as SigningRecord;
    expect(() => decode_signing_record(encode_signing_record(bad), LIMITS)).toThrow(
      /malformed record \(state/,
    );
    const negative = record({ floor_height: -1 });
    expect(() => decode_signing_record(encode_signing_record(negative), LIMITS)).toThrow(/floor_height/);
  });

  it('reads a damaged file on disk as corrupt, with its path', async () => {
    const home = new_home();
    const path = signing_record_path(home);
    await write_signing_record(path, record());
    writeFileSync(path, readFileSync(path, 'utf8').slice(0, 40));
    await expect(read_signing_record(path, LIMITS)).rejects.toThrow(SigningRecordCorruptError);
    await expect(read_signing_record(path, LIMITS)).rejects.toThrow(path);
  });
});

describe('the start-up rule', () => {
  const input = (over: Partial<SigningStartInput>): SigningStartInput => ({
    home: '/h',
    chain_id: CHAIN,
    validator: ME,
    record: record(),
    store_height: 4,
    store_state: state(5),
    limits: LIMITS,
    ...over,
  });
  const refusal = (over: Partial<SigningStartInput>) => {
    try {
      check_signing_start(input(over));
    } catch (error) {
      expect(error).toBeInstanceOf(SigningStartRefusedError);
      expect((error as Error).message).toContain('cloister node reset-signing --home /h --i-know');
      return (error as SigningStartRefusedError).reason;
    }
    throw new Error('expected a refusal');
  };

  it('starts from a record that matches its store, or one the store is ahead of', () => {
    expect(check_signing_start(input({}))).toEqual(record());
    // The store may be ahead of the record (it synced blocks after the last signature) and its
    // copy behind it (a crash between the file write and the store's copy).
    expect(check_signing_start(input({ store_height: 9, store_state: state(4) }))).toEqual(record());
    expect(check_signing_start(input({ store_state: null }))).toEqual(record());
  });

  it('creates an empty record for a brand-new home only', () => {
    const fresh = check_signing_start(input({ record: null, store_height: 0, store_state: null }));
    expect(fresh).toEqual(record({ store_height_min: 0, state: null }));
    expect(refusal({ record: null, store_height: 3, store_state: null })).toBe('record_missing');
    expect(refusal({ record: null, store_height: 0, store_state: state(1) })).toBe('record_missing');
  });

  it('refuses a rolled-back store, an unreadable or foreign record, and a record behind the store copy', () => {
    expect(refusal({ store_height: 3 })).toBe('store_rolled_back');
    expect(refusal({ record: new SigningRecordCorruptError('/h/f', 'checksum') })).toBe('record_unreadable');
    expect(refusal({ record: record({ validator: OTHERS[0]! }) })).toBe('record_foreign');
    expect(refusal({ record: record({ chain_id: 'other-1' }) })).toBe('record_foreign');
    expect(refusal({ store_state: state(5, 0, 'precommit') })).toBe('record_behind_store');
    expect(refusal({ record: record({ state: null }), store_state: state(1) })).toBe('record_behind_store');
  });
});

/** A chain store stand-in that records the order of writes. */
class FakeStore {
  height_now = 0;
  state: unknown = null;
  readonly events: string[] = [];
  constructor(readonly home: string) {}
  height() {
    return this.height_now;
  }
  async get_consensus_state() {
    return this.state;
  }
  async put_consensus_state(value: unknown) {
    // The record file must already hold what the store's copy is about to: the file is the authority.
    const file = await read_signing_record(signing_record_path(this.home), LIMITS);
    this.events.push(`store copy (file at ${JSON.stringify(file?.state?.height)})`);
    this.state = structuredClone(value);
  }
}

const VALIDATORS = [ME, ...OTHERS].map((pubkey) => ({ pubkey, power: 1 }));

describe('the signing guard', () => {
  it('writes a new home its record, saves the file before the store copy, and refuses a rollback', async () => {
    const home = new_home();
    const store = new FakeStore(home);
    const opts = { home, chain_id: CHAIN, validators: VALIDATORS, validator: ME };
    const guard = await SigningGuard.open(opts, store);
    expect(await guard.load()).toBeNull();
    expect(await read_signing_record(signing_record_path(home), LIMITS)).toEqual(guard.record());
    store.height_now = 6;
    await guard.save(state(7));
    expect(store.events).toEqual(['store copy (file at 7)']);
    expect(await guard.load()).toEqual(state(7));
    expect(guard.record().store_height_min).toBe(6);
    // Reopened on the same store: starts from the record.
    expect(await (await SigningGuard.open(opts, store)).load()).toEqual(state(7));
    // The store went back to height 5: refused, whatever its copy says.
    store.height_now = 5;
    await expect(SigningGuard.open(opts, store)).rejects.toThrow(SigningStartRefusedError);
    await expect(SigningGuard.open(opts, store)).rejects.toThrow(/rolled back/);
  });

  it('without a reset, lets the node sign at once', async () => {
    const home = new_home();
    const store = new FakeStore(home);
    const guard = await SigningGuard.open(
      { home, chain_id: CHAIN, validators: VALIDATORS, validator: ME },
      store,
    );
    let syncs = 0;
    await guard.before_signing({
      peers: () => [],
      on_peer: () => {},
      sync: async () => {
        syncs++;
      },
      log: () => {},
    });
    expect(syncs).toBe(0);
  });

  it('after a reset, syncs from the first peer and sits out the height the network is deciding', async () => {
    const home = new_home();
    const store = new FakeStore(home);
    store.height_now = 3;
    store.state = state(4);
    await write_signing_record(
      signing_record_path(home),
      record({ store_height_min: 3, state: state(4), sync_before_signing: true }),
    );
    const guard = await SigningGuard.open(
      { home, chain_id: CHAIN, validators: VALIDATORS, validator: ME },
      store,
    );
    let connect: (() => void) | null = null;
    const network_height = 10;
    const events: string[] = [];
    const holding = guard.before_signing(
      {
        peers: () => (connect === null ? [] : ['peer']),
        on_peer: (fn) => {
          connect = fn;
        },
        // Each sync fetches what the peer has: the network's height, which moves on by one per call.
        sync: async () => {
          events.push(`sync at ${store.height_now}`);
          store.height_now = Math.max(store.height_now, network_height + events.length - 1);
        },
        log: (event, fields) => events.push(`${event} ${JSON.stringify(fields)}`),
      },
      { peer_wait_ms: 10_000, hold_ms_max: 10_000, poll_ms: 1 },
    );
    // Nothing happens before a peer connects.
    await Promise.resolve();
    expect(events).toEqual([]);
    expect(connect).not.toBeNull();
    connect!();
    await holding;
    // The first sync reached 10, so the floor is 11: the node signs from 12 on.
    expect(guard.record()).toMatchObject({ sync_before_signing: false, floor_height: 11 });
    expect(store.height_now).toBeGreaterThanOrEqual(11);
    expect(events[0]).toBe('sync at 3');
    expect(events).toContain('sit_out {"floor_height":11,"height":10}');
    expect((await read_signing_record(signing_record_path(home), LIMITS))?.floor_height).toBe(11);
  });

  it('skips the sit-out when the others cannot commit without it, and times out without a peer', async () => {
    expect(others_can_decide(VALIDATORS, ME)).toBe(true);
    expect(others_can_decide([{ pubkey: ME, power: 1 }], ME)).toBe(false);
    expect(others_can_decide([{ pubkey: ME, power: 2 }, ...VALIDATORS.slice(1)], ME)).toBe(false);
    const reset = record({ store_height_min: 3, state: state(4), sync_before_signing: true });
    const modules = (log: string[]) => ({
      peers: () => [],
      on_peer: () => {},
      sync: async () => {
        throw new Error('must not sync');
      },
      log: (event: string) => log.push(event),
    });

    const solo_home = new_home();
    const solo_store = new FakeStore(solo_home);
    solo_store.height_now = 3;
    await write_signing_record(signing_record_path(solo_home), reset);
    const solo = await SigningGuard.open(
      { home: solo_home, chain_id: CHAIN, validators: [{ pubkey: ME, power: 1 }], validator: ME },
      solo_store,
    );
    const log: string[] = [];
    await solo.before_signing(modules(log));
    expect(log).toEqual(['sit_out_skipped']);
    expect(solo.record().sync_before_signing).toBe(false);

    const home = new_home();
    const store = new FakeStore(home);
    store.height_now = 3;
    await write_signing_record(signing_record_path(home), reset);
    const guard = await SigningGuard.open(
      { home, chain_id: CHAIN, validators: VALIDATORS, validator: ME },
      store,
    );
    await expect(
      guard.before_signing(modules([]), { peer_wait_ms: 20, hold_ms_max: 1000, poll_ms: 1 }),
    ).rejects.toThrow(SigningHoldTimeoutError);
    // Nothing decided: the next start tries again.
    expect(guard.record().sync_before_signing).toBe(true);
  });
});

describe('reset-signing', () => {
  const p = get_provider('native');
  /** A 1-validator home (`cloister init`), its key, and helpers to sign states and put one in its store. */
  async function home_with(chain_id: string) {
    const dir = join(new_home(), 'net');
    const { homes } = await init_network({
      dir,
      validators: 1,
      chain_id,
      base_port: 24390,
      host: '127.0.0.1',
      provider: 'native',
      workers: 1,
    });
    const home = homes[0]!;
    const sk = read_secret_file(home_paths(home).validator_key);
    const pubkey = to_hex(p.ed25519_public(sk));
    const signed = (height: number, round: number, step: SignedState['step'], key = sk): SignedState => {
      const s = state(height, round, step);
      return { ...s, signature: to_hex(p.ed25519_sign(key, signed_state_sign_bytes(chain_id, s))) };
    };
    const put_store_state = async (value: SignedState) => {
      const store = await ChainStore.open(home_paths(home).data, { chain_id });
      await store.put_consensus_state(value);
      await store.close();
    };
    return { home, pubkey, signed, put_store_state };
  }

  it("rewrites an unreadable record from the store's copy, and keeps a readable record that is ahead", async () => {
    const h = await home_with(CHAIN);
    await h.put_store_state(h.signed(1, 0, 'prevote'));
    writeFileSync(signing_record_path(h.home), '{"format":"cloister/signing-record","ver');
    const first = await reset_signing(h.home, { sit_out: true });
    expect(first.previous).toMatch(/not JSON/);
    expect(first).toMatchObject({ kept: 'store', signed: '1/0/prevote', store_height: 0, sit_out: true });
    const limits = { ...LIMITS, commit_signatures_max: 1 };
    expect(await read_signing_record(signing_record_path(h.home), limits)).toEqual({
      chain_id: CHAIN,
      validator: h.pubkey,
      store_height_min: 0,
      state: h.signed(1, 0, 'prevote'),
      sync_before_signing: true,
      floor_height: 0,
    });

    // The record is ahead of the store's copy: it stays the guard (a reset never moves it back).
    const ahead = h.signed(3, 1, 'precommit');
    await write_signing_record(
      signing_record_path(h.home),
      record({ validator: h.pubkey, state: ahead, floor_height: 7 }),
    );
    const second = await reset_signing(h.home, { sit_out: false });
    expect(second).toMatchObject({ previous: 'ok', kept: 'record', signed: '3/1/precommit', sit_out: false });
    expect(await read_signing_record(signing_record_path(h.home), limits)).toMatchObject({
      state: ahead,
      store_height_min: 0,
      sync_before_signing: false,
      floor_height: 0,
    });
  });

  it('keeps no state signed by another key, and refuses while the store is open elsewhere', async () => {
    const h = await home_with(CHAIN);
    const stranger = new Uint8Array(32).fill(7);
    await h.put_store_state(h.signed(2, 0, 'prevote', stranger));
    const report = await reset_signing(h.home, { sit_out: true });
    expect(report).toMatchObject({ previous: 'missing', kept: 'none', signed: null });

    const running = await ChainStore.open(home_paths(h.home).data, { chain_id: CHAIN });
    try {
      await expect(reset_signing(h.home, { sit_out: true })).rejects.toThrow(StoreOpenError);
    } finally {
      await running.close();
    }
  });
});
