/**
 * `POST /v1/txs` with a transaction text that repeats a JSON key (docs/protocol-notes.md): the RPC
 * server, in front of a real mempool, answers 400 code 7 and the mempool holds nothing; the same
 * transaction written without the repeat is taken.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { Mempool } from '../../node/mempool.js';
import { type RpcBackend, RpcServer } from '../../node/rpc/server.js';
import { ResultCode } from '../../protocol/codes.js';
import { get_provider } from '../../protocol/providers/index.js';
import type { Tx } from '../../protocol/tx.js';
import { CHAIN_ID, TestAccount } from '../enclave/fixtures.js';

const p = get_provider('native');
const EXEC = { type: 'execute', contract: 'ab'.repeat(20), scheme: 'gcm', payload: 'AAAA' } as const;
const servers: RpcServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

/** An RPC server whose submissions go to a real mempool; the route under test needs nothing else. */
async function serve() {
  const mempool = new Mempool(
    {
      chain_id: CHAIN_ID,
      limits: {
        txs_max: 100,
        bytes_max: 1 << 20,
        per_account_max: 10,
        tx_bytes_max: 64 * 1024,
        gas_limit_max: 10_000_000,
      },
    },
    { p, committed_sequence: async () => 0 },
  );
  const backend = {
    submit: (raw: string, tx: Tx) => mempool.add(raw, 'client', tx),
    halted: () => null,
  } as unknown as RpcBackend;
  const server = new RpcServer(
    {
      host: '127.0.0.1',
      port: 0,
      body_bytes_max: 64 * 1024,
      wait_timeout_ms: 1000,
      sse_clients_max: 1,
      cors_origin: '',
    },
    { backend },
  );
  servers.push(server);
  const { url } = await server.start();
  return { mempool, url };
}

async function post(url: string, text: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/v1/txs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: text,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('POST /v1/txs with a duplicate key', () => {
  it('answers 400 code 7 and holds nothing, wherever the key repeats', async () => {
    const { mempool, url } = await serve();
    const honest = new TestAccount(p, 'rpc-dup').tx(EXEC, { sequence: 0 });
    const forged_signature = `{"signature":"${'0'.repeat(128)}",${honest.slice(1)}`;
    const texts = [
      // The case: JSON.parse keeps the real signature, the stored text leads with a bogus one.
      forged_signature,
      honest.replace('"sequence":0,', '"sequence":0,"sequence":0,'),
      honest.replace('"msg":{', '"msg":{"\\u0074ype":"execute",'),
    ];
    for (const text of texts) {
      expect(JSON.parse(text)).toEqual(JSON.parse(honest));
      const answer = await post(url, text);
      expect(answer.status).toBe(400);
      expect(answer.body['error']).toMatchObject({
        code: ResultCode.MALFORMED_TX,
        message: expect.stringContaining('duplicate key'),
      });
      expect(mempool.size()).toBe(0);
    }
    // Nothing of the refused texts was held: the honest text is new to the mempool.
    const taken = await post(url, honest);
    expect(taken.status).toBe(202);
    expect(mempool.size()).toBe(1);
    expect(mempool.reap({ txs_max: 10, bytes_max: 1 << 20, gas_max: 1e9 })).toEqual([honest]);
  });
});
