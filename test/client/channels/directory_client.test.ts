/**
 * DirectoryClient.keys (client/sdk/channels/directory.ts) against a fake client: it reads an
 * account's keys page by page on `next_start` (an account may have published up to 1024 ids, more
 * than one answer holds), takes an older directory's single answer without `next_start`, and
 * refuses an answer whose `next_start` does not move forward.
 */

import { describe, expect, it } from 'vitest';
import { DirectoryClient } from '../../../client/sdk/channels/directory.js';
import type { CloisterClient } from '../../../client/sdk/client.js';
import { BadAnswerError } from '../../../client/sdk/index.js';

const DIRECTORY = 'cd'.repeat(20);
const A = 'ab'.repeat(20);

function entry(i: number) {
  return { key_id: `kx${i}`, public_key: '11'.repeat(32), published_height: i, revoked_height: i + 1 };
}

function fake(n: number, opts: { old?: boolean; stuck?: boolean } = {}) {
  const starts: unknown[] = [];
  const client = {
    async query(address: string, msg: { keys: { account: string; start?: number } }) {
      expect(address).toBe(DIRECTORY);
      starts.push(msg.keys.start);
      const all = Array.from({ length: n }, (_, i) => entry(i + 1));
      if (opts.old) return { keys: all };
      const start = msg.keys.start ?? 0;
      const end = Math.min(n, start + 64);
      return { keys: all.slice(start, end), next_start: end < n ? (opts.stuck ? start : end) : null };
    },
  };
  return { client: client as unknown as CloisterClient, starts };
}

describe('DirectoryClient.keys', () => {
  it('reads every page, in publication order', async () => {
    const { client, starts } = fake(150);
    const keys = await new DirectoryClient(client, DIRECTORY).keys(A);
    expect(keys.map((k) => k.key_id)).toEqual(Array.from({ length: 150 }, (_, i) => `kx${i + 1}`));
    expect(starts).toEqual([0, 64, 128]);
  });

  it("takes an older directory's one answer without next_start", async () => {
    const keys = await new DirectoryClient(fake(3, { old: true }).client, DIRECTORY).keys(A);
    expect(keys.map((k) => k.uri)).toEqual([1, 2, 3].map((i) => `cloister:${A}#kx${i}`));
  });

  it('refuses a next_start that does not move forward', async () => {
    await expect(
      new DirectoryClient(fake(100, { stuck: true }).client, DIRECTORY).keys(A),
    ).rejects.toBeInstanceOf(BadAnswerError);
  });
});
