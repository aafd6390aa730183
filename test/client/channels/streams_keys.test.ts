/**
 * The stream client's key store and its rule for stale group keys, without a network (a stand-in
 * client answers the few ACL and keeper calls a re-key makes): concurrent updates of one key store
 * from two clients, as two `cloister` processes make them, lose nothing when the store has an
 * `exclusive` lock (an interleaving store in memory, and files); {@link stale_reason} names keys a
 * removed or lapsed subscriber may hold. test/client/channels/streams_live.test.ts runs streams on
 * a live network.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ChannelStorage, MemoryStorage } from '../../../client/sdk/channels/storage.js';
import { FileStorage } from '../../../client/sdk/channels/storage_file_node.js';
import { StreamClient, type StreamMember, stale_reason } from '../../../client/sdk/channels/streams.js';
import { type CloisterClient, ContractError, dev_keys, key_info } from '../../../client/sdk/index.js';

const owner_key = dev_keys().find((k) => k.name === 'dev0')!;
const owner = key_info(owner_key).address;
const stream = `${owner}/news`;
const contracts = { stream_acl: 'a'.repeat(40), key_keeper: 'b'.repeat(40) };
const yield_turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * What the stream client asks of the network here: the stream's record and members (an ACL that
 * reports no removal, so only the client's own pending mark can make it re-key), set_key (each its
 * own block; it throws while `fail_set_key` says so), revoke and publish.
 */
function stand_in_client(
  fail_set_key: () => boolean = () => false,
  fail_revoke: () => Error | null = () => null,
): CloisterClient {
  let height = 100;
  let seq = 0;
  const outcome = (data: unknown) => ({
    hash: '',
    record: { height },
    sequence: 0,
    gas_price: 0,
    fee: 0,
    data,
  });
  return {
    async query(_contract: string, msg: Record<string, unknown>) {
      await yield_turn();
      if ('stream' in msg)
        return { owner, keeper: contracts.key_keeper, seq, created_height: 1, removed_height: null };
      if ('members' in msg) return { members: [], removed_height: null };
      throw new Error(`unexpected query ${JSON.stringify(msg)}`);
    },
    async execute(_key: unknown, _contract: string, msg: { set_key?: { key_id: string } }) {
      await yield_turn();
      if (msg.set_key !== undefined) {
        if (fail_set_key()) throw new Error('injected failure');
        height++;
        return outcome({ key_id: msg.set_key.key_id, height, time_ms: 1_700_000_000_000 + height });
      }
      const revoke_error = 'revoke' in msg ? fail_revoke() : null;
      if (revoke_error !== null) throw revoke_error;
      height++;
      if ('revoke' in msg) return outcome({ status: 'ok' });
      if ('publish' in msg) return outcome({ seq: ++seq });
      throw new Error(`unexpected execute ${JSON.stringify(msg)}`);
    },
  } as unknown as CloisterClient;
}

/** Documents in memory whose reads and writes each take a turn of the event loop, with or without `exclusive`. */
class InterleavingStorage implements ChannelStorage {
  readonly #inner = new MemoryStorage();
  readonly #queues = new Map<string, Promise<unknown>>();
  exclusive?: <T>(name: string, work: () => Promise<T>) => Promise<T>;

  constructor(lock: boolean) {
    if (lock)
      this.exclusive = <T>(name: string, work: () => Promise<T>): Promise<T> => {
        const run = (this.#queues.get(name) ?? Promise.resolve()).then(work, work);
        this.#queues.set(
          name,
          run.catch(() => undefined),
        );
        return run;
      };
  }
  async get(name: string): Promise<string | null> {
    await yield_turn();
    return this.#inner.get(name);
  }
  async set(name: string, text: string): Promise<void> {
    await yield_turn();
    await this.#inner.set(name, text);
  }
  remove(name: string): Promise<void> {
    return this.#inner.remove(name);
  }
}

/** Two clients of one account over `stores` (the same store twice, or two views of one folder), three re-keys each at once. */
async function rekey_from_two(
  stores: [ChannelStorage, ChannelStorage],
): Promise<{ made: string[]; kept: string[] }> {
  const [a, b] = stores.map(
    (storage) => new StreamClient(stand_in_client(), owner_key, { storage, contracts }),
  ) as [StreamClient, StreamClient];
  const made = await Promise.all([a, b, a, b, a, b].map((c) => c.rekey(stream)));
  return { made, kept: (await a.local_keys(stream)).ids };
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the stream key store', () => {
  it('loses no key when two clients update it at once, under the store lock', async () => {
    const store = new InterleavingStorage(true);
    const { made, kept } = await rekey_from_two([store, store]);
    expect(new Set(made).size).toBe(6);
    expect([...kept].sort()).toEqual([...made].sort());
  });

  it('loses keys without a lock: why the lock is taken when the store has one', async () => {
    const store = new InterleavingStorage(false);
    const { made, kept } = await rekey_from_two([store, store]);
    expect(kept.length).toBeLessThan(made.length);
  });

  it('loses no key when two processes share a folder (FileStorage, lock files)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cloister-stream-store-'));
    dirs.push(dir);
    const { made, kept } = await rekey_from_two([new FileStorage(dir), new FileStorage(dir)]);
    expect([...kept].sort()).toEqual([...made].sort());
  });
});

describe('a re-key left pending', () => {
  const removed = 'c'.repeat(40);

  /** A stream with a first key, and a revoke whose re-key failed; the store, the first key, a new client on that store. */
  async function failed_revoke(): Promise<{ first: string; restarted: StreamClient }> {
    const storage = new MemoryStorage();
    let failing = false;
    const s = new StreamClient(
      stand_in_client(() => failing),
      owner_key,
      { storage, contracts },
    );
    const first = (await s.publish(stream, 'one')).key_id;
    failing = true;
    await expect(s.revoke(stream, removed)).rejects.toThrow('injected failure');
    expect(await s.local_keys(stream)).toMatchObject({ current: first, rekey_pending: true });
    return { first, restarted: new StreamClient(stand_in_client(), owner_key, { storage, contracts }) };
  }

  it('is made by the next publish, first, from the key store alone (a restart)', async () => {
    const { first, restarted } = await failed_revoke();
    const two = await restarted.publish(stream, 'two');
    expect(two.key_id).not.toBe(first);
    expect((await restarted.publish(stream, 'three')).key_id).toBe(two.key_id);
  });

  it('is unmarked when the ACL refused the removal (nothing changed), kept when the outcome is unknown', async () => {
    let failure: Error | null = null;
    const s = new StreamClient(
      stand_in_client(
        () => false,
        () => failure,
      ),
      owner_key,
      { storage: new MemoryStorage(), contracts },
    );
    const first = (await s.publish(stream, 'one')).key_id;
    failure = new ContractError('not a member');
    await expect(s.revoke(stream, removed)).rejects.toThrow(ContractError);
    expect(await s.local_keys(stream)).toMatchObject({ current: first, rekey_pending: false });
    // A timeout may have committed: the removal may have happened, so the re-key stays due.
    failure = new Error('timed out waiting for the commit');
    await expect(s.revoke(stream, removed)).rejects.toThrow('timed out');
    expect(await s.local_keys(stream)).toMatchObject({ current: first, rekey_pending: true });
    // And a refusal does not unmark a re-key that was already pending.
    failure = new ContractError('not a member');
    await expect(s.revoke(stream, removed)).rejects.toThrow(ContractError);
    expect((await s.local_keys(stream)).rekey_pending).toBe(true);
  });

  it('is made by rotate, first: the queued key follows a fresh current key', async () => {
    const { first, restarted } = await failed_revoke();
    const next = await restarted.rotate(stream);
    const local = await restarted.local_keys(stream);
    expect(local.next).toBe(next);
    expect(local.current).not.toBe(first);
    expect(local.current).not.toBeNull();
  });
});

describe('stale_reason', () => {
  const member = (expires_ms: number | null, subscribe = true): StreamMember => ({
    account: 'c'.repeat(40),
    publish: false,
    subscribe,
    expires_ms,
    granted_height: 5,
  });
  const now_ms = 1_700_000_100_000;

  it('names a key set below the latest removal, or with no known height; not one set in its block', () => {
    const acl = { members: [], removed_height: 20 };
    expect(stale_reason({ height: 19, time_ms: 0 }, acl, now_ms)).toContain('removed at height 20');
    expect(stale_reason({ height: 20, time_ms: 0 }, acl, now_ms)).toBeNull();
    expect(stale_reason({ height: null }, acl, now_ms)).toContain('removed at height 20');
    expect(stale_reason({ height: 21, time_ms: 0 }, acl, now_ms)).toBeNull();
    expect(stale_reason({ height: null }, { members: [], removed_height: null }, now_ms)).toBeNull();
  });

  it('names a key set before a subscription lapsed, not one set after it, nor one still running', () => {
    const set_ms = now_ms - 10_000;
    const acl = (m: StreamMember) => ({ members: [m], removed_height: null });
    expect(stale_reason({ height: 30, time_ms: set_ms }, acl(member(now_ms - 1)), now_ms)).toContain(
      'lapsed',
    );
    expect(stale_reason({ height: 30, time_ms: set_ms }, acl(member(set_ms)), now_ms)).toContain('lapsed');
    expect(stale_reason({ height: 30, time_ms: set_ms }, acl(member(set_ms - 1)), now_ms)).toBeNull();
    expect(stale_reason({ height: 30, time_ms: set_ms }, acl(member(now_ms + 1)), now_ms)).toBeNull();
    expect(stale_reason({ height: 30, time_ms: set_ms }, acl(member(null)), now_ms)).toBeNull();
    // A member that may not subscribe got no key from its lapse; one of unknown time counts as old.
    expect(stale_reason({ height: 30, time_ms: set_ms }, acl(member(now_ms - 1, false)), now_ms)).toBeNull();
    expect(stale_reason({ height: 30 }, acl(member(set_ms - 1)), now_ms)).toContain('lapsed');
  });
});
