/**
 * client/sdk/channels/replay_guard.ts: KILT's window (−1 s … 60 s), the seen-id store persisted
 * across restarts (memory and files), purged on every check, bounded and failing closed when full,
 * refusing a corrupt store, and serialising concurrent checks.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChannelErrorCode } from '../../../client/sdk/channels/errors.js';
import {
  REPLAY_MAX_AGE_MS,
  REPLAY_MAX_FUTURE_MS,
  ReplayError,
  ReplayGuard,
  SEEN_DOCUMENT_DEFAULT,
  SEEN_FORMAT,
  SEEN_IDS_MAX,
  SeenStoreCorruptError,
  SeenStoreFullError,
} from '../../../client/sdk/channels/replay_guard.js';
import { DOCUMENT_CHARS_MAX, MemoryStorage } from '../../../client/sdk/channels/storage.js';
import { FileStorage } from '../../../client/sdk/channels/storage_file_node.js';

const NOW = 1_700_000_000_000;
const dir = mkdtempSync(join(tmpdir(), 'cloister-seen-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function replay_reason(work: Promise<unknown>): Promise<string> {
  const error = await work.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ReplayError);
  expect((error as ReplayError).code).toBe(ChannelErrorCode.REPLAY);
  expect((error as ReplayError).message).toMatch(/replay/);
  return (error as ReplayError).reason;
}

describe('the window', () => {
  it('accepts createdAt from now − 60 s to now + 1 s, and refuses just outside, saying why', async () => {
    const guard = new ReplayGuard(new MemoryStorage());
    await guard.accept('a', NOW - REPLAY_MAX_AGE_MS, NOW);
    await guard.accept('b', NOW + REPLAY_MAX_FUTURE_MS, NOW);
    await guard.accept('c', NOW, NOW);
    expect(await replay_reason(guard.accept('d', NOW - REPLAY_MAX_AGE_MS - 1, NOW))).toBe('too_old');
    expect(await replay_reason(guard.accept('e', NOW + REPLAY_MAX_FUTURE_MS + 1, NOW))).toBe('in_future');
    // Refused messages are not recorded: d was refused for its age, then is accepted in the window.
    expect(await guard.has('e', NOW)).toBe(false);
    await guard.accept('d', NOW - 1, NOW);
    expect(await guard.has('d', NOW)).toBe(true);
  });

  it('refuses an id seen before, with a message naming replay', async () => {
    const guard = new ReplayGuard(new MemoryStorage());
    await guard.accept('x', NOW, NOW);
    const reason = await replay_reason(guard.accept('x', NOW, NOW + 10));
    expect(reason).toBe('seen');
    await expect(guard.accept('x', NOW, NOW)).rejects.toThrow(
      'replay: this message was already accepted once',
    );
  });

  it('a clock that went back cannot bring back an id the store dropped by its latest time', async () => {
    const storage = new MemoryStorage();
    const guard = new ReplayGuard(storage);
    await guard.accept('old', NOW, NOW);
    // Two minutes on, a check drops 'old' (out of the window there) ...
    const later = NOW + 2 * REPLAY_MAX_AGE_MS;
    await guard.accept('new', later, later);
    expect(await guard.has('old', NOW)).toBe(false);
    // ... then the clock is set back to NOW: 'old' is inside the window again, and no longer seen.
    expect(await replay_reason(guard.accept('old', NOW, NOW))).toBe('clock_behind');
    await expect(new ReplayGuard(storage).accept('old', NOW, NOW + 1)).rejects.toThrow(/clock went back/);
    // Set back by less than the window: what the store still holds is judged as usual.
    await guard.accept('mid', later - 40_000, later);
    const behind = later - 30_000;
    expect(await replay_reason(guard.accept('mid', later - 40_000, behind))).toBe('seen');
    await guard.accept('fresh', later - 35_000, behind);
    // A document from before this check (no latest_ms) still opens.
    await storage.set(SEEN_DOCUMENT_DEFAULT, JSON.stringify({ format: SEEN_FORMAT, seen: [['a', NOW]] }));
    expect(await guard.has('a', NOW)).toBe(true);
    await storage.set(
      SEEN_DOCUMENT_DEFAULT,
      JSON.stringify({ format: SEEN_FORMAT, latest_ms: -1, seen: [] }),
    );
    await expect(guard.has('a', NOW)).rejects.toThrow(/bad latest_ms/);
  });

  it('takes the bounds as options and checks its arguments', async () => {
    const guard = new ReplayGuard(new MemoryStorage(), { max_age_ms: 10, max_future_ms: 0 });
    expect(await replay_reason(guard.accept('a', NOW - 11, NOW))).toBe('too_old');
    expect(await replay_reason(guard.accept('a', NOW + 1, NOW))).toBe('in_future');
    await expect(guard.accept('', NOW, NOW)).rejects.toThrow(TypeError);
    await expect(guard.accept('a'.repeat(161), NOW, NOW)).rejects.toThrow(TypeError);
    await expect(guard.accept('a', 1.5, NOW)).rejects.toThrow(TypeError);
    expect(() => new ReplayGuard(new MemoryStorage(), { max_ids: 0 })).toThrow(RangeError);
    expect(() => new ReplayGuard(new MemoryStorage(), { document: 'a/b' })).toThrow(TypeError);
  });
});

describe('the seen-id store', () => {
  it('persists across restarts: a new guard over the same storage (memory, then files) refuses old ids', async () => {
    const memory = new MemoryStorage();
    await new ReplayGuard(memory).accept('m1', NOW, NOW);
    expect(await replay_reason(new ReplayGuard(memory).accept('m1', NOW, NOW + 1000))).toBe('seen');

    const files = join(dir, 'restart');
    await new ReplayGuard(new FileStorage(files)).accept('f1', NOW, NOW);
    expect(await replay_reason(new ReplayGuard(new FileStorage(files)).accept('f1', NOW, NOW + 1))).toBe(
      'seen',
    );
    expect(await new ReplayGuard(new FileStorage(files)).has('f1', NOW)).toBe(true);
  });

  it('is bounded: full of ids inside the window it refuses everything (fail closed); time passing frees it', async () => {
    const storage = new MemoryStorage();
    const guard = new ReplayGuard(storage, { max_ids: 3 });
    await guard.accept('a', NOW, NOW);
    await guard.accept('b', NOW + 10, NOW + 10);
    await guard.accept('c', NOW + 20, NOW + 20);
    const full = await guard.accept('d', NOW + 30, NOW + 30).then(
      () => null,
      (e: unknown) => e,
    );
    expect(full).toBeInstanceOf(SeenStoreFullError);
    expect((full as SeenStoreFullError).code).toBe(ChannelErrorCode.SEEN_STORE_FULL);
    // A seen id still reads as a replay, not as "full".
    expect(await replay_reason(guard.accept('a', NOW, NOW + 30))).toBe('seen');
    // Once `a` is older than the window it is purged, and one new id fits.
    const later = NOW + REPLAY_MAX_AGE_MS + 1;
    await guard.accept('d', later, later);
    expect(await guard.size(later)).toBe(3);
    await expect(guard.accept('e', later, later)).rejects.toBeInstanceOf(SeenStoreFullError);
    // The purge is written with the next record: the stored document no longer lists `a`.
    expect(await storage.get(SEEN_DOCUMENT_DEFAULT)).not.toContain('"a"');
    // Far later every id has aged out.
    expect(await guard.size(later + REPLAY_MAX_AGE_MS + 100)).toBe(0);
  });

  it('keeps 10,000 ids by default, in one document', async () => {
    const storage = new MemoryStorage();
    const seen = Array.from({ length: 9_999 }, (_, i) => [`id-${i}`, NOW]);
    await storage.set(SEEN_DOCUMENT_DEFAULT, JSON.stringify({ format: SEEN_FORMAT, seen }));
    const guard = new ReplayGuard(storage);
    await guard.accept('last', NOW, NOW);
    await expect(guard.accept('one-more', NOW, NOW)).rejects.toBeInstanceOf(SeenStoreFullError);
    expect(await replay_reason(guard.accept('id-5', NOW, NOW))).toBe('seen');
    expect(await guard.size(NOW)).toBe(SEEN_IDS_MAX);
    // About 1 MB of JSON, well inside a document's 4 MiB.
    expect((await storage.get(SEEN_DOCUMENT_DEFAULT))!.length).toBeLessThan(DOCUMENT_CHARS_MAX / 2);
  });

  it('refuses every message over a corrupt store rather than forget what it held', async () => {
    const files = join(dir, 'corrupt');
    const storage = new FileStorage(files);
    await new ReplayGuard(storage).accept('a', NOW, NOW);
    for (const text of [
      'not json',
      '[]',
      '{"format":"other","seen":[]}',
      '{"format":"cloister-seen-ids/v1","seen":[[1,2]]}',
    ]) {
      writeFileSync(join(files, `${SEEN_DOCUMENT_DEFAULT}.json`), text);
      await expect(new ReplayGuard(storage).accept('b', NOW, NOW)).rejects.toBeInstanceOf(
        SeenStoreCorruptError,
      );
    }
  });

  it('serialises concurrent checks: of two accepts of one id at once, exactly one passes', async () => {
    const storage = new MemoryStorage();
    // A slow store makes the race wide open if the guard did not serialise.
    const slow = {
      get: async (name: string) => {
        await new Promise((r) => setTimeout(r, 5));
        return storage.get(name);
      },
      set: async (name: string, text: string) => {
        await new Promise((r) => setTimeout(r, 5));
        return storage.set(name, text);
      },
      remove: (name: string) => storage.remove(name),
    };
    const one = new ReplayGuard(slow);
    const two = new ReplayGuard(slow);
    const results = await Promise.allSettled([
      one.accept('same', NOW, NOW),
      two.accept('same', NOW, NOW),
      one.accept('same', NOW, NOW),
      one.accept('other', NOW, NOW),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect(await one.size(NOW)).toBe(2);
  });
});
