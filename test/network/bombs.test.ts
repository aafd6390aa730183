/**
 * No transaction can stop the chain (issue 11): against 4 real validator processes, contracts
 * that bomb memory (arrays, typed arrays, strings doubled, tens of millions of small objects, a
 * map), CPU (a loop of heavy built-ins) and the stack each commit with code 2 on every validator,
 * identically; heights keep advancing and the next ordinary transaction commits right after.
 * Ports: RPC 25700-25703, p2p 26700-26703.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TxRecord } from '../../node/records.js';
import { to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { rpc } from '../../protocol/rpc_client.js';
import { blocks_json, Client, expect_same_blocks, heights, p, reach, temp_network } from './helpers.js';

const BOMBS = `
export function instantiate(ctx, msg) { return null; }
export function execute(ctx, msg) {
  const keep = [];
  switch (msg.kind) {
    case 'arrays': for (;;) keep.push(new Array(100000).fill(msg.kind));
    case 'typed arrays': for (;;) keep.push(new Uint8Array(2 * 1024 * 1024));
    case 'strings': { let s = 'x'; for (;;) s = s + s; }
    case 'objects': for (let i = 0; ; i++) keep.push({ i });
    case 'map': { const m = new Map(); for (let i = 0; ; i++) m.set(i, [i]); }
    case 'sort': { const a = new Array(200000).fill(0).map((_, i) => -i); for (;;) a.sort(); }
    case 'recursion': { const f = (n) => f(n + 1) + 1; return f(0); }
    case 'nested json': { let a = []; for (let i = 0; i < 300000; i++) a = [a]; return JSON.stringify(a).length; }
  }
  return 'fine';
}
`;

let net: Awaited<ReturnType<typeof temp_network>>;
let urls: string[];

beforeAll(async () => {
  net = await temp_network(25700);
  urls = net.network.urls();
}, 120_000);
afterAll(async () => {
  await net?.down();
});

async function submit(url: string, tx: unknown): Promise<TxRecord> {
  return rpc<TxRecord>(url, '/v1/txs?wait=commit', { body: tx, timeout_ms: 120_000 });
}

describe('resource bombs on a 4-validator network', () => {
  it('each commits with code 2 everywhere; heights advance; the next transaction commits', async () => {
    const client = await Client.connect(urls[0]!);
    const code = utf8(BOMBS);
    const stored = await submit(urls[0]!, client.sign({ type: 'store_code', code: to_base64(code) }));
    expect(stored.code).toBe(0);
    const code_hash = to_hex(p.sha256(code));
    client.codes.push({ code_id: stored.code_id!, code_hash, name: 'bombs' });
    const bombs = await client.send(urls[1]!, { code: 'bombs', scheme: 'gcm' }, {});
    expect(bombs.code).toBe(0);
    const counter = await client.send(urls[2]!, { code: 'counter', scheme: 'siv' }, { count: 0 });
    expect(counter.code).toBe(0);

    const kinds = ['arrays', 'typed arrays', 'strings', 'objects', 'map', 'sort', 'recursion', 'nested json'];
    for (const [i, kind] of kinds.entries()) {
      const before = Math.max(...(await heights(urls)));
      const record = await client.send(
        urls[i % 4]!,
        { address: bombs.contract!, code: 'bombs', scheme: 'gcm' },
        { kind },
      );
      expect(record.code, kind).toBe(2);
      // The chain goes on, and an ordinary transaction right behind the bomb commits.
      const next = await client.send(
        urls[(i + 1) % 4]!,
        { address: counter.contract!, code: 'counter', scheme: 'siv' },
        { increment: {} },
      );
      expect(next.code, `${kind}: the next transaction`).toBe(0);
      expect(next.height).toBeGreaterThan(before);
      // Every validator recorded the same outcome (once it has committed that height too).
      await Promise.all(urls.map((u) => reach(u, record.height)));
      const records = await Promise.all(urls.map((u) => rpc<TxRecord>(u, `/v1/txs/${record.hash}`)));
      for (const r of records) expect(JSON.stringify(r), kind).toBe(JSON.stringify(records[0]));
    }
    const top = Math.max(...(await heights(urls)));
    await Promise.all(urls.map((u) => reach(u, top + 2)));
    const reference = await blocks_json(urls[0]!, top);
    for (const url of urls.slice(1)) await expect_same_blocks(url, reference);
  }, 300_000);
});
