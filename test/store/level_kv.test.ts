/**
 * LevelDB as the chain store's key-value seam (node/store/level_kv.ts): its chained-batch `batch`
 * leaves the database exactly as `level`'s own array batch does (puts, deletes, order within one
 * batch), writes nothing of a batch with a bad operation, and fails like it once closed.
 */

import { join } from 'node:path';
import fc from 'fast-check';
import { Level } from 'level';
import { afterAll, describe, expect, it } from 'vitest';
import type { KvBatchOp } from '../../node/store/kv.js';
import { LevelKv } from '../../node/store/level_kv.js';
import { temp_home } from '../enclave/fixtures.js';
import { fc_options } from '../protocol/helpers.js';

const home = temp_home('cloister-level-kv-');
let dirs = 0;
const next_dir = () => join(home.dir, `db-${dirs++}`);

afterAll(() => home.remove());

async function entries(db: { iterator(): AsyncIterable<[string, string]> }): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const entry of db.iterator()) out.push(entry);
  return out;
}

describe('LevelKv', () => {
  it("batch leaves the database as level's array batch does", async () => {
    const key = fc.constantFrom('a', 'b', 'c', 'tx/1', 'tx/2', 'idx/é');
    const op: fc.Arbitrary<KvBatchOp> = fc.oneof(
      fc.record({ type: fc.constant('put' as const), key, value: fc.string({ maxLength: 8 }) }),
      fc.record({ type: fc.constant('del' as const), key }),
    );
    const kv = new LevelKv(next_dir());
    const level = new Level<string, string>(next_dir(), { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await kv.open();
    await level.open();
    expect(kv.status).toBe('open');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { maxLength: 6 }), { maxLength: 4 }), async (batches) => {
        for (const ops of batches) {
          await kv.batch(ops, { sync: false });
          await level.batch(ops, { sync: false });
        }
        expect(await entries(kv)).toEqual(await entries(level));
      }),
      fc_options(60),
    );
    await kv.batch([{ type: 'put', key: 'z', value: '1' }], { sync: true });
    expect(await kv.get('z')).toBe('1');
    expect(await kv.get('missing')).toBeUndefined();
    const keys: string[] = [];
    for await (const k of kv.keys({ gte: 'tx/', lt: 'tx0', limit: 1 })) keys.push(k);
    expect(keys.length).toBeLessThanOrEqual(1);
    await kv.close();
    await level.close();
    expect(kv.status).toBe('closed');
  });

  it('writes nothing of a batch with a bad operation, and refuses once closed', async () => {
    const kv = new LevelKv(next_dir());
    await kv.open();
    const bad = [
      { type: 'put', key: 'a', value: '1' },
      { type: 'nope', key: 'b' },
    ] as unknown as KvBatchOp[];
    await expect(kv.batch(bad)).rejects.toThrow(TypeError);
    expect(await kv.get('a')).toBeUndefined();
    await kv.batch([]);
    await kv.close();
    await expect(kv.batch([{ type: 'put', key: 'a', value: '1' }])).rejects.toThrow(/not open/);
  });
});
