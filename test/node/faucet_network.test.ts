/**
 * The faucet on a running development network of four real validator processes (protocol.md §9):
 * it moves funds, every validator serves it at once from the same faucet account, a validator
 * whose faucet signed a sequence that another validator's faucet took signs again, and it
 * rate-limits an address. Also what such a network's status, accounts and transactions answer.
 * Ports 26100-26103 (p2p 27100-27103); needs `npm run build` first, like test/network/.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin_call, admin_socket_path } from '../../node/admin.js';
import {
  DEV_ACCOUNT_BALANCE,
  dev_accounts,
  FAUCET_AMOUNT_DEFAULT,
  faucet_account,
} from '../../protocol/bank.js';
import { RpcError, rpc } from '../../protocol/rpc_client.js';
import { p, reach, temp_network } from '../network/helpers.js';

const PORT = 26100;

interface Account {
  address: string;
  sequence: number;
  balance: number;
}

interface Record {
  hash: string;
  height: number;
  code: number;
  events: unknown[];
}

let net: Awaited<ReturnType<typeof temp_network>>;
let urls: string[];

beforeAll(async () => {
  net = await temp_network(PORT);
  urls = net.network.urls();
}, 120_000);

afterAll(async () => {
  await net?.down();
}, 60_000);

function faucet(url: string, body: unknown): Promise<Record> {
  return rpc<Record>(url, '/v1/faucet', { body, timeout_ms: 60_000 });
}

function account(url: string, address: string): Promise<Account> {
  return rpc<Account>(url, `/v1/accounts/${address}`);
}

/** The sequence of the faucet transaction to `to` committed at `height`. */
async function faucet_sequence(url: string, height: number, to: string): Promise<number> {
  const block = await rpc<{ txs: string[] }>(url, `/v1/blocks/${height}/txs`);
  const txs = block.txs.map((t) => JSON.parse(t) as { body: { sequence: number; msg: { to?: string } } });
  const tx = txs.find((t) => t.body.msg.to === to);
  if (tx === undefined) throw new Error(`no send to ${to} at height ${height}`);
  return tx.body.sequence;
}

/** A fresh address nobody funded. */
function address(i: number): string {
  return (0xd00 + i).toString(16).padStart(40, '0');
}

describe('a development network (cloister sim up / npm start)', () => {
  it('says so in status, and funds the development accounts at genesis', async () => {
    for (const url of urls) {
      const status = await rpc<{ min_gas_price: number; dev: boolean }>(url, '/v1/status');
      expect(status).toMatchObject({ min_gas_price: 0, dev: true });
    }
    for (const dev of dev_accounts(p))
      expect(await account(urls[0]!, dev.address)).toEqual({
        address: dev.address,
        sequence: 0,
        balance: DEV_ACCOUNT_BALANCE,
      });
    expect(await account(urls[0]!, address(99))).toEqual({ address: address(99), sequence: 0, balance: 0 });
  });

  it('the faucet moves funds and answers like POST /v1/txs?wait=commit', async () => {
    const to = address(1);
    const faucet_before = (await account(urls[0]!, faucet_account(p).address)).balance;
    const record = await faucet(urls[0]!, { address: to });
    expect(record.code).toBe(0);
    expect(record.events).toEqual([]);
    expect(await rpc<Record>(urls[0]!, `/v1/txs/${record.hash}`)).toEqual(record);
    expect((await account(urls[0]!, to)).balance).toBe(FAUCET_AMOUNT_DEFAULT);
    // Fees are 0 on a development network: the faucet lost exactly what it sent.
    expect((await account(urls[0]!, faucet_account(p).address)).balance).toBe(
      faucet_before - FAUCET_AMOUNT_DEFAULT,
    );
    // The other validator committed the same block.
    await reach(urls[1]!, record.height);
    expect((await account(urls[1]!, to)).balance).toBe(FAUCET_AMOUNT_DEFAULT);
  }, 120_000);

  it('every validator serves the same faucet account at once: each request commits once', async () => {
    const asks = Array.from({ length: 8 }, (_, i) => ({
      url: urls[i % urls.length]!,
      to: address(10 + i),
      amount: 1000 + i,
    }));
    const records = await Promise.all(asks.map((a) => faucet(a.url, { address: a.to, amount: a.amount })));
    for (const record of records) expect(record.code).toBe(0);
    expect(new Set(records.map((r) => r.hash)).size).toBe(asks.length);
    const top = Math.max(...records.map((r) => r.height));
    for (const url of urls) {
      await reach(url, top);
      for (const a of asks) expect((await account(url, a.to)).balance).toBe(a.amount);
    }
  }, 180_000);

  it("a validator cut off while its faucet signs loses that sequence to another validator's faucet, and signs again", async () => {
    const keys = net.network.genesis().validators.map((v) => v.pubkey);
    const admin = (i: number, allow: number[] | null) =>
      admin_call(
        admin_socket_path(net.network.homes[i]!),
        allow === null ? { cmd: 'heal' } : { cmd: 'partition', allow: allow.map((j) => keys[j]!) },
        10_000,
      );
    const [mine, theirs] = [address(20), address(21)];
    // Validator 0 alone; 1, 2 and 3 (3/4 of the power) go on committing.
    await admin(0, []);
    await Promise.all([admin(1, [2, 3]), admin(2, [1, 3]), admin(3, [1, 2])]);
    let cut_off: Promise<Record>;
    let other: Record;
    try {
      // Validator 0 signs the faucet account's next sequence as it last saw it …
      cut_off = faucet(urls[0]!, { address: mine, amount: 20 });
      cut_off.catch(() => {});
      // … which validator 1's faucet takes first, in a block validator 0 does not see.
      other = await faucet(urls[1]!, { address: theirs, amount: 21 });
      expect(other.code).toBe(0);
    } finally {
      await Promise.all([0, 1, 2, 3].map((i) => admin(i, null)));
    }
    // Once validator 0 catches up, its own transaction is gone: it signs the next sequence.
    const record = await cut_off;
    expect(record.code).toBe(0);
    expect(record.height).toBeGreaterThan(other.height);
    // Validator 0 answered once it committed; validator 2 may apply that block a moment later
    // (no later block comes by itself: blocks are made on demand, issue #15).
    await reach(urls[2]!, record.height);
    expect(await faucet_sequence(urls[2]!, record.height, mine)).toBeGreaterThan(
      await faucet_sequence(urls[2]!, other.height, theirs),
    );
    for (const url of urls) {
      await reach(url, record.height);
      expect((await account(url, mine)).balance).toBe(20);
      expect((await account(url, theirs)).balance).toBe(21);
    }
  }, 180_000);

  it('refuses an address past its limit with 429 code 112 and Retry-After, and bad input with 400 code 106', async () => {
    const to = address(30);
    for (let i = 0; i < 5; i++) expect((await faucet(urls[1]!, { address: to, amount: 1 })).code).toBe(0);
    const limited = await faucet(urls[1]!, { address: to, amount: 1 }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(limited).toBeInstanceOf(RpcError);
    expect((limited as RpcError).status).toBe(429);
    expect((limited as RpcError).code).toBe(112);
    const over = await faucet(urls[0]!, { address: to, amount: 10 ** 9 + 1 }).catch(
      (error: unknown) => error,
    );
    expect((over as RpcError).status).toBe(400);
    expect((over as RpcError).code).toBe(106);
  }, 120_000);
});
