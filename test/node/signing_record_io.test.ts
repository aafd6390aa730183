/**
 * The signing record kept on the simulator's disk (memory_record_io over a MemoryDisk file): the
 * same text and checks as the file in a home, what resolved survives a crash and a write the
 * crash overtook is lost whole, and the guard runs on it without a home, with the store on the
 * same disk: a crash at any point of a save never leaves the store's copy ahead of the record.
 */

import { describe, expect, it } from 'vitest';
import type { SignedState } from '../../node/consensus/signed_state.js';
import { memory_record_io, SigningGuard } from '../../node/signing_guard.js';
import {
  encode_signing_record,
  type SigningRecord,
  SigningRecordCorruptError,
  SigningStartRefusedError,
} from '../../node/signing_record.js';
import { ChainStore } from '../../node/store/chain_store.js';
import { DiskCrashedError, MemoryDisk } from '../../node/store/memory_disk.js';

const LIMITS = { block_txs_max: 10, tx_chars_max: 100, commit_signatures_max: 4 };
const CHAIN = 'cloister-test-1';
const ME = 'aa'.repeat(32);
const VALIDATORS = [ME, 'bb'.repeat(32), 'cc'.repeat(32), 'dd'.repeat(32)].map((pubkey) => ({
  pubkey,
  power: 1,
}));
/** No home: the simulator has none. */
const OPTS = { chain_id: CHAIN, validators: VALIDATORS, validator: ME };
const FILE = 'signing_record.json';

function state(height: number): SignedState {
  return {
    height,
    round: 0,
    step: 'prevote',
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
    store_height_min: 0,
    state: state(5),
    sync_before_signing: false,
    floor_height: 0,
    ...over,
  };
}

async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

/** A node's life on `disk`: its store and its guard, both on the disk. */
async function boot(disk: MemoryDisk): Promise<{ store: ChainStore; guard: SigningGuard }> {
  const store = await ChainStore.open_kv(disk.open(), { chain_id: CHAIN });
  const guard = await SigningGuard.open(OPTS, store, { record_io: memory_record_io(disk.open_file(FILE)) });
  return { store, guard };
}

describe('memory_record_io', () => {
  it("keeps the record file's text, and what resolved across a crash", async () => {
    const disk = new MemoryDisk();
    const io = memory_record_io(disk.open_file(FILE));
    expect(await io.read(LIMITS)).toBeNull();
    await io.write(record());
    expect(await io.read(LIMITS)).toEqual(record());
    // The same bytes as the record file in a home.
    expect(await disk.open_file(FILE).read()).toBe(encode_signing_record(record()));

    const overtaken = io.write(record({ state: state(6) }));
    disk.crash();
    await expect(overtaken).rejects.toThrow(DiskCrashedError);
    await expect(io.read(LIMITS)).rejects.toThrow(DiskCrashedError);
    const after = memory_record_io(disk.open_file(FILE));
    expect(await after.read(LIMITS)).toEqual(record());
  });

  it('reads a damaged record as corrupt, naming where it is', async () => {
    const disk = new MemoryDisk();
    const text = encode_signing_record(record());
    await disk.open_file(FILE).write(text.slice(0, text.length - 9));
    const read = memory_record_io(disk.open_file(FILE), 'v3 record').read(LIMITS);
    await expect(read).rejects.toThrow(SigningRecordCorruptError);
    await expect(read).rejects.toThrow(/^v3 record is not JSON/);
  });
});

describe('the signing guard on a simulated disk', () => {
  it('needs a home or a record_io', async () => {
    const disk = new MemoryDisk();
    const store = await ChainStore.open_kv(disk.open(), { chain_id: CHAIN });
    await expect(SigningGuard.open(OPTS, store)).rejects.toThrow(TypeError);
    await store.close();
  });

  it('starts without a home, and keeps what it saved across a crash', async () => {
    const disk = new MemoryDisk();
    let { store, guard } = await boot(disk);
    expect(await guard.load()).toBeNull();
    // A brand-new validator gets its record at open.
    expect(await memory_record_io(disk.open_file(FILE)).read(LIMITS)).toEqual(guard.record());
    await guard.save(state(3));
    expect(await store.get_consensus_state()).toEqual(state(3));
    disk.crash();
    await expect(store.get_consensus_state()).rejects.toThrow(DiskCrashedError);
    ({ store, guard } = await boot(disk));
    expect(await guard.load()).toEqual(state(3));
    await store.close();
  });

  it('never leaves the store copy ahead of the record, wherever a crash falls in a save', async () => {
    const base = new MemoryDisk();
    const first = await boot(base);
    await first.guard.save(state(3));
    await first.store.close();
    const seen = new Set<string>();
    for (let k = 0; ; k++) {
      const disk = base.clone();
      const { guard } = await boot(disk);
      let finished = false;
      const saving = guard.save(state(4)).then(
        () => {
          finished = true;
        },
        (error: unknown) => expect(error).toBeInstanceOf(DiskCrashedError),
      );
      await ticks(k);
      disk.crash();
      await saving;
      // Start accepts whatever the crash left (a copy behind the record is fine, ahead never).
      const { store, guard: again } = await boot(disk);
      const held = (await again.load())?.height;
      const copy = ((await store.get_consensus_state()) as SignedState | null)?.height;
      expect([3, 4]).toContain(held);
      expect(copy).toBeLessThanOrEqual(held!);
      seen.add(`record ${held}, copy ${copy}`);
      await store.close();
      if (finished) break;
      expect(k, 'a save should finish within a bounded number of microtasks').toBeLessThan(1000);
    }
    expect(seen).toEqual(new Set(['record 3, copy 3', 'record 4, copy 3', 'record 4, copy 4']));
  });

  it('refuses a store that lost what the record saw, naming the record on the disk', async () => {
    const disk = new MemoryDisk();
    await memory_record_io(disk.open_file(FILE)).write(record({ store_height_min: 5 }));
    const store = await ChainStore.open_kv(disk.open(), { chain_id: CHAIN });
    const refused = SigningGuard.open(OPTS, store, { record_io: memory_record_io(disk.open_file(FILE)) });
    await expect(refused).rejects.toThrow(SigningStartRefusedError);
    await expect(refused).rejects.toThrow(/rolled back/);

    // A store with a signed state but no record: what was signed since is unknown.
    const bare = new MemoryDisk();
    const other = await ChainStore.open_kv(bare.open(), { chain_id: CHAIN });
    await other.put_consensus_state(state(1));
    const missing = await SigningGuard.open(OPTS, other, {
      record_io: memory_record_io(bare.open_file(FILE)),
    }).catch((error: unknown) => error as SigningStartRefusedError);
    expect(missing).toBeInstanceOf(SigningStartRefusedError);
    expect((missing as SigningStartRefusedError).reason).toBe('record_missing');
    expect((missing as Error).message).toContain(`the signing record ${FILE} (simulated disk) is missing`);
    // No home: the recovery names the command without one, never "undefined".
    expect((missing as Error).message).not.toContain('undefined');
    expect((missing as SigningStartRefusedError).recover).toBe('cloister node reset-signing --i-know');
    await store.close();
    await other.close();
  });
});
