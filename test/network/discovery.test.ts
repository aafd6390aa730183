/**
 * Discovery on a real validator process (`cloister node start` under `LocalNetwork`): one dev
 * validator on RPC port 26720 (p2p 27720). A dev account instantiates two echo contracts; the SDK
 * lists them by code id and creator, pages with limit 1 and the cursor, lists the account's
 * transactions newest first, and the status carries the last block time. Runs the built code
 * (`npm run build` first, as every network test).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CloisterClient, dev_keys, key_info } from '../../client/sdk/index.js';
import { LocalNetwork } from '../../sim/network.js';

const dir = mkdtempSync(join(tmpdir(), 'cloister-discovery-'));
let network: LocalNetwork | null = null;

afterAll(async () => {
  await network?.down();
  rmSync(dir, { recursive: true, force: true });
});

describe('discovery on a 1-validator dev network', () => {
  it('lists contracts by code id and creator, pages with the cursor, and lists txs by sender', async () => {
    network = await LocalNetwork.up({ validators: 1, dir: join(dir, 'net'), port: 26720, dev: true });
    const [key] = dev_keys();
    const me = key_info(key!).address;
    const client = new CloisterClient({ nodes: network.urls(), keys: [key!] });
    const echo = (await client.codes()).find((c) => c.name === 'echo')!;
    const one = await client.instantiate(key!, echo.code_id, 'discovery one', {});
    const two = await client.instantiate(key!, echo.code_id, 'discovery two', {});
    const made = [one.contract!, two.contract!].sort();

    const by_code = await client.contracts({ code_id: echo.code_id });
    expect(by_code.items.map((c) => c.address)).toEqual(made);
    expect(by_code.cursor).toBeNull();
    const by_creator = await client.contracts({ creator: me });
    expect(by_creator.items.map((c) => c.address)).toEqual(made);
    expect(by_creator.items.map((c) => c.label).sort()).toEqual(['discovery one', 'discovery two']);
    const by_label = await client.contracts({ label: 'discovery two' });
    expect(by_label.items.map((c) => c.address)).toEqual([two.contract]);

    const first = await client.contracts({ code_id: echo.code_id, limit: 1 });
    expect(first.items.length).toBe(1);
    expect(first.cursor).not.toBeNull();
    const second = await client.contracts({ code_id: echo.code_id, limit: 1, cursor: first.cursor });
    expect(second.items.length).toBe(1);
    expect([first.items[0]!.address, second.items[0]!.address]).toEqual(made);
    expect(second.cursor).toBeNull();

    const txs = await client.txs({ sender: me });
    expect(txs.items.map((t) => t.hash)).toEqual([two.hash, one.hash]);
    expect(txs.items[0]).toEqual(await client.get_tx(two.hash));
    const on_one = await client.txs({ contract: one.contract! });
    expect(on_one.items.map((t) => t.hash)).toEqual([one.hash]);
    const paged = await client.txs({ sender: me, limit: 1 });
    expect(paged.items.map((t) => t.hash)).toEqual([two.hash]);
    const rest = await client.txs({ sender: me, limit: 1, cursor: paged.cursor });
    expect(rest).toEqual({ items: [await client.get_tx(one.hash)], cursor: null });

    const status = await client.status();
    expect(status.peers).toEqual([]);
    expect(status.mempool).toBeGreaterThanOrEqual(0);
    expect(status.last_block_time_ms).toBeGreaterThan(0);
    expect(status.halted).toBeUndefined();
  }, 120_000);
});
