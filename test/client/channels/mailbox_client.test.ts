/**
 * MailboxClient (client/sdk/channels/mailbox.ts) against a fake client: it sets its viewing key
 * the first time the mailbox refuses it, pages on `next_after` (a page bounded by bytes can be
 * short and still have more after it), refuses answers that do not move forward, answers the
 * inbox's count and how many mails a delete removed, and checks its input before sending anything.
 */

import { describe, expect, test } from 'vitest';
import { MailboxClient } from '../../../client/sdk/channels/mailbox.js';
import type { CloisterClient } from '../../../client/sdk/client.js';
import { BadAnswerError, ContractError, dev_keys, key_info } from '../../../client/sdk/index.js';

const [alice] = dev_keys() as [ReturnType<typeof dev_keys>[0]];
const A = key_info(alice).address;
const MAILBOX = 'ab'.repeat(20);

function mail(id: number) {
  return { id, from: 'cd'.repeat(20), kind: 'mail', body: `body ${id}`, height: id, time_ms: 1000 * id };
}

/** A fake client whose mailbox holds mails 1..n and answers pages of at most `page_size`. */
function fake(n: number, page_size: number, opts: { stuck?: boolean; old?: boolean } = {}) {
  const calls: { kind: 'query' | 'execute'; msg: Record<string, Record<string, unknown>> }[] = [];
  let viewing_key: string | null = null;
  const client = {
    async system_contracts() {
      return { mailbox: MAILBOX };
    },
    async query(address: string, msg: Record<string, Record<string, unknown>>) {
      expect(address).toBe(MAILBOX);
      calls.push({ kind: 'query', msg });
      const q = msg['inbox']!;
      if (q['key'] !== viewing_key || q['address'] !== A) throw new ContractError('unauthorized');
      const after = q['after'] as number;
      const ids = Array.from({ length: n }, (_, i) => i + 1).filter((id) => id > after);
      const listed = ids.slice(0, Math.min(page_size, q['limit'] as number));
      const more = listed.length < ids.length;
      return {
        mails: listed.map(mail),
        next_after: more ? (opts.stuck ? after : listed.at(-1)!) : null,
        ...(opts.old ? {} : { count: n }),
      };
    },
    async execute(_key: unknown, address: string, msg: Record<string, Record<string, unknown>>) {
      expect(address).toBe(MAILBOX);
      calls.push({ kind: 'execute', msg });
      if (msg['set_viewing_key'] !== undefined) viewing_key = msg['set_viewing_key']['key'] as string;
      if (msg['send'] !== undefined) return { data: { id: 7 } };
      if (msg['delete'] !== undefined) {
        const ids = msg['delete']['ids'] as number[];
        return { data: { deleted: ids.filter((id) => id >= 1 && id <= n).length } };
      }
      return { data: null };
    },
  };
  return { client: client as unknown as CloisterClient, calls };
}

describe('MailboxClient', () => {
  test('sets its viewing key once, when first refused, then lists', async () => {
    const { client, calls } = fake(3, 64);
    const box = new MailboxClient(client, alice);
    expect((await box.inbox()).map((m) => m.id)).toEqual([1, 2, 3]);
    expect(calls.map((c) => c.kind)).toEqual(['query', 'execute', 'query']);
    await box.inbox({ after: 2 });
    expect(calls.filter((c) => c.kind === 'execute')).toHaveLength(1);
  });

  test('all() pages on next_after, also past short pages', async () => {
    const { client, calls } = fake(10, 3);
    const box = new MailboxClient(client, alice);
    expect((await box.all()).map((m) => m.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(calls.filter((c) => c.kind === 'query').map((c) => c.msg['inbox']!['after'])).toEqual([
      0, 0, 3, 6, 9,
    ]);
    expect((await box.page({ after: 3 })).next_after).toBe(6);
  });

  test('count() says how many mails the inbox holds, with one listing past the last id; null from an older mailbox', async () => {
    const { client, calls } = fake(200, 64);
    const box = new MailboxClient(client, alice);
    expect(await box.count()).toBe(200);
    expect(calls.filter((c) => c.kind === 'query').at(-1)!.msg['inbox']).toMatchObject({
      after: Number.MAX_SAFE_INTEGER,
      limit: 1,
    });
    expect((await box.page()).count).toBe(200);
    expect(await new MailboxClient(fake(3, 64, { old: true }).client, alice).count()).toBeNull();
  });

  test('remove() answers how many mails it deleted (ids the inbox does not hold are ignored)', async () => {
    const { client } = fake(5, 64);
    expect(await new MailboxClient(client, alice).remove([1, 2, 99])).toBe(2);
    await expect(new MailboxClient(client, alice).remove([])).rejects.toThrow(RangeError);
  });

  test('an answer whose next_after does not move forward is a BadAnswerError', async () => {
    const { client } = fake(10, 3, { stuck: true });
    await expect(new MailboxClient(client, alice).all()).rejects.toBeInstanceOf(BadAnswerError);
  });

  test('checks its input before anything is sent', async () => {
    const { client, calls } = fake(0, 64);
    const box = new MailboxClient(client, alice);
    await expect(box.send('AB'.repeat(20), 'mail', 'x')).rejects.toThrow(TypeError);
    await expect(box.send('ab'.repeat(20), 'Mail!', 'x')).rejects.toThrow(TypeError);
    await expect(box.send('ab'.repeat(20), 'mail', 'x'.repeat(16_385))).rejects.toThrow(RangeError);
    await expect(box.inbox({ limit: 65 })).rejects.toThrow(RangeError);
    await expect(box.delete([])).rejects.toThrow(RangeError);
    await expect(box.delete([0])).rejects.toThrow(RangeError);
    expect(calls).toEqual([]);
    expect((await box.send('ab'.repeat(20), 'mail', 'hello')).id).toBe(7);
  });
});
