/**
 * `submit_and_wait` (helpers.ts) against a scripted HTTP server: it keeps waiting past a node's 504
 * (accepted, not committed within the node's own wait), reads the record once the node refuses the
 * resubmitted text's sequence, and passes every other answer through.
 */

import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sign_tx, tx_hash } from '../../protocol/tx.js';
import { RpcError } from '../../sim/http_client.js';
import { p, submit_and_wait, type TxRecord } from './helpers.js';

const SK = new Uint8Array(32).fill(5);
const TX = sign_tx(p, SK, {
  chain_id: 'test-1',
  sender: Buffer.from(p.ed25519_public(SK)).toString('hex'),
  sequence: 0,
  gas_limit: 100_000,
  msg: { type: 'execute', contract: 'ab'.repeat(20), scheme: 'gcm', payload: 'AAAA' },
});
const HASH = tx_hash(p, TX);
const RECORD: TxRecord = { hash: HASH, height: 7, index: 0, code: 0, gas_used: 10, output: '' };

type Answer = [status: number, body: unknown];
const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** A server giving the scripted answers to POST /v1/txs in order (the last one from then on), and RECORD to GET /v1/txs/HASH. */
async function scripted(posts: Answer[]): Promise<{ url: string; posted: () => number }> {
  let posted = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      let answer: Answer = [404, { error: { code: 105, message: 'no such route' } }];
      if (req.method === 'POST' && req.url === '/v1/txs?wait=commit')
        answer = posts[Math.min(posted++, posts.length - 1)]!;
      if (req.method === 'GET' && req.url === `/v1/txs/${HASH}`) answer = [200, RECORD];
      res.writeHead(answer[0], { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer[1]));
    });
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, posted: () => posted };
}

const TIMEOUT: Answer = [
  504,
  { error: { code: 103, message: 'accepted but not committed within 30000 ms' } },
];
const SEQUENCE: Answer = [400, { error: { code: 5, message: 'sequence 0 was already committed' } }];

describe('submit_and_wait', () => {
  it('submits again after a 504 and answers the record', async () => {
    const { url, posted } = await scripted([TIMEOUT, TIMEOUT, [200, RECORD]]);
    expect(await submit_and_wait(url, TX)).toEqual(RECORD);
    expect(posted()).toBe(3);
  });

  it('reads the record when the resubmitted text was committed meanwhile', async () => {
    const { url, posted } = await scripted([TIMEOUT, SEQUENCE]);
    expect(await submit_and_wait(url, TX)).toEqual(RECORD);
    expect(posted()).toBe(2);
  });

  it('passes a first refusal through, and gives up at its deadline', async () => {
    const first = await scripted([SEQUENCE]);
    await expect(submit_and_wait(first.url, TX)).rejects.toMatchObject({ status: 400, code: 5 });
    expect(first.posted()).toBe(1);
    const stuck = await scripted([TIMEOUT]);
    const error = await submit_and_wait(stuck.url, TX, 200).catch((e: unknown) => e);
    expect(error instanceof RpcError ? String(error.status) : (error as Error).name).toMatch(
      /^(504|TimeoutError)$/,
    );
  });
});
