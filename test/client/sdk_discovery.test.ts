/**
 * The SDK's discovery calls against a fake node (docs/client.md "Discovery"): `contracts()` and
 * `txs()` send exactly the filters and page given, return `{items, cursor}` checked field by
 * field, refuse bad arguments before any request and bad answers after one; `status()` carries
 * the node's peers, mempool and last block time.
 */

import { describe, expect, it } from 'vitest';
import { BadAnswerError, CloisterClient } from '../../client/sdk/index.js';

const NODE = 'http://node.test:26657';
const ADDR = 'a1'.repeat(20);
const CONTRACT = 'c0'.repeat(20);

const CONTRACT_INFO = {
  address: CONTRACT,
  code_id: 4,
  code_hash: '04'.repeat(32),
  label: 'one',
  creator: ADDR,
  balance: 0,
};
const TX = {
  hash: 'ab'.repeat(32),
  height: 9,
  index: 1,
  code: 0,
  gas_used: 100,
  output: '',
  contract: CONTRACT,
  events: [],
};

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** A client whose node answers `answer(path)` and records each path asked. */
function client_of(answer: (path: string) => unknown) {
  const asked: string[] = [];
  const client = new CloisterClient(
    { nodes: [NODE] },
    {
      fetch: async (input) => {
        const path = String(input).slice(NODE.length);
        asked.push(path);
        const body = answer(path);
        return body instanceof Response ? body : json(200, body);
      },
    },
  );
  return { client, asked };
}

describe('CloisterClient.contracts', () => {
  it('sends the filters and page and returns {items, cursor}', async () => {
    const { client, asked } = client_of(() => ({
      contracts: [{ ...CONTRACT_INFO, binding: 'x' }],
      cursor: 'YWJj',
    }));
    const page = await client.contracts({
      code_id: 4,
      creator: ADDR,
      label: 'a b&c',
      limit: 5,
      cursor: 'Y3Vy',
    });
    expect(page).toEqual({ items: [CONTRACT_INFO], cursor: 'YWJj' });
    expect(asked).toEqual([`/v1/contracts?code_id=4&creator=${ADDR}&label=a+b%26c&limit=5&cursor=Y3Vy`]);
    await client.contracts();
    expect(asked[1]).toBe('/v1/contracts');
  });

  it('refuses bad arguments before asking', async () => {
    const { client, asked } = client_of(() => ({ contracts: [], cursor: null }));
    await expect(client.contracts({ code_id: 0 })).rejects.toThrow(RangeError);
    await expect(client.contracts({ creator: 'ABC' })).rejects.toThrow(RangeError);
    await expect(client.contracts({ label: '' })).rejects.toThrow(TypeError);
    await expect(client.contracts({ limit: 101 })).rejects.toThrow(RangeError);
    await expect(client.contracts({ limit: 0 })).rejects.toThrow(RangeError);
    await expect(client.contracts({ cursor: 'not a cursor' })).rejects.toThrow(TypeError);
    expect(asked).toEqual([]);
  });

  it('refuses an answer without the listing fields', async () => {
    for (const body of [
      { cursor: null },
      { contracts: [{ ...CONTRACT_INFO, code_hash: 'x' }], cursor: null },
      { contracts: [], cursor: 5 },
      { contracts: [], cursor: '' },
    ]) {
      const { client } = client_of(() => body);
      await expect(client.contracts()).rejects.toThrow(BadAnswerError);
    }
  });

  it('surfaces the node refusing a cursor (400 code 106)', async () => {
    const { client } = client_of(() =>
      json(400, {
        error: { code: 106, message: 'cursor is not from this listing (other filters, or not a cursor)' },
      }),
    );
    await expect(client.contracts({ cursor: 'YWJj' })).rejects.toMatchObject({ code: 106 });
  });
});

describe('CloisterClient.txs', () => {
  it('sends sender and contract and returns checked records', async () => {
    const { client, asked } = client_of(() => ({ txs: [TX], cursor: null }));
    expect(await client.txs({ sender: ADDR, contract: CONTRACT, limit: 1 })).toEqual({
      items: [TX],
      cursor: null,
    });
    expect(asked).toEqual([`/v1/txs?sender=${ADDR}&contract=${CONTRACT}&limit=1`]);
  });

  it('needs a sender or a contract, and refuses a record without its fields', async () => {
    const { client, asked } = client_of(() => ({ txs: [{ ...TX, hash: 'nope' }], cursor: null }));
    await expect(client.txs({})).rejects.toThrow(/sender or a contract/);
    expect(asked).toEqual([]);
    await expect(client.txs({ contract: CONTRACT })).rejects.toThrow(BadAnswerError);
  });
});

describe('CloisterClient.status additions', () => {
  const STATUS = {
    chain_id: 'c-1',
    height: 3,
    io_pubkey: '0f'.repeat(32),
    seed_exchange_pubkey: '0e'.repeat(32),
    validator: '01'.repeat(32),
    validators: [],
    min_gas_price: 0,
    dev: true,
    contracts: {},
  };

  it('carries peers, mempool and the last block time', async () => {
    const extra = { peers: ['02'.repeat(32)], mempool: 4, last_block_time_ms: 1_700_000_000_000 };
    const { client } = client_of(() => ({ ...STATUS, ...extra }));
    expect(await client.status()).toMatchObject(extra);
  });

  it('refuses malformed additions, and accepts an older node without them', async () => {
    for (const extra of [{ peers: 'x' }, { mempool: -1 }, { last_block_time_ms: 'now' }]) {
      const { client } = client_of(() => ({ ...STATUS, ...extra }));
      await expect(client.status()).rejects.toThrow(BadAnswerError);
    }
    const { client } = client_of(() => STATUS);
    expect((await client.status()).peers).toBeUndefined();
  });
});
