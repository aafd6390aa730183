/**
 * Node failover with real sockets: a URL where nothing listens is skipped for the next, a busy
 * node (503 code 102) too, and when none answers the error lists every URL tried.
 */

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientErrorCode, CloisterClient, ConnectionError } from '../../client/sdk/index.js';

let live: Server;
let busy: Server;
let live_url = '';
let busy_url = '';
let dead_url = '';
const hits: string[] = [];

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

beforeAll(async () => {
  live = createServer((req, res) => {
    hits.push(`live ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        chain_id: 'tiny-1',
        height: 3,
        io_pubkey: '00'.repeat(32),
        seed_exchange_pubkey: '00'.repeat(32),
        validator: null,
        validators: [],
      }),
    );
  });
  busy = createServer((req, res) => {
    hits.push(`busy ${req.url}`);
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
    res.end(JSON.stringify({ error: { code: 102, message: 'node is stopping' } }));
  });
  live_url = await listen(live);
  busy_url = await listen(busy);
  // A port that was just free: nothing listens there, so connecting is refused.
  const gone = createServer();
  dead_url = await listen(gone);
  await close(gone);
});

afterAll(async () => {
  await close(live);
  await close(busy);
});

describe('node failover', () => {
  it('uses the second URL when the first refuses the connection, and keeps using it', async () => {
    hits.length = 0;
    const client = new CloisterClient({ nodes: [dead_url, live_url] });
    await expect(client.status()).resolves.toMatchObject({ chain_id: 'tiny-1', height: 3 });
    await expect(client.status()).resolves.toMatchObject({ chain_id: 'tiny-1' });
    expect(hits).toEqual(['live /v1/status', 'live /v1/status']);
  });

  it('skips a busy node (503 code 102)', async () => {
    hits.length = 0;
    const client = new CloisterClient({ nodes: [busy_url, live_url] });
    await expect(client.status()).resolves.toMatchObject({ chain_id: 'tiny-1' });
    expect(hits).toEqual(['busy /v1/status', 'live /v1/status']);
  });

  it('names every URL tried when none can be reached', async () => {
    const other = dead_url.replace('127.0.0.1', 'localhost');
    const error = await new CloisterClient({ nodes: [dead_url, other] }).status().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).code).toBe(ClientErrorCode.UNREACHABLE);
    expect((error as Error).message).toBe(
      `cannot reach any node (tried ${dead_url}, ${other}): is the network running? Name another with --node URL`,
    );
  });

  it('reports the busy answer, not "unreachable", when every node is busy', async () => {
    await expect(new CloisterClient({ nodes: [busy_url] }).status()).rejects.toMatchObject({
      code: ClientErrorCode.BUSY,
      message: expect.stringContaining('retry shortly'),
    });
  });
});
