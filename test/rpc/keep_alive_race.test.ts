/**
 * The keep-alive race, reproduced without timing luck: an HTTP server closes an idle kept-alive
 * connection just as the client sends its next request on it, or stalls past its keep-alive
 * timeout with that request unread. Node's fetch then rejects ("other side closed", ECONNRESET),
 * as `byzantine.test.ts` once did on busy machines. The server runs in a worker thread; the two
 * sides hand each other the moment through a shared Int32Array (Atomics), never a sleep. Node's
 * bare fetch fails (the control: the race is real); the one RPC client (`protocol/rpc_client.ts`),
 * called as `rpc` and as the SDK's transport (`client/sdk/rpc.ts`), sends the request again on a
 * fresh connection.
 */

import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { is_stale_connection, RpcTransport, timer_sleep } from '../../client/sdk/rpc.js';
import { type RpcBackend, RpcServer } from '../../node/rpc/server.js';
import { fetch_fresh, rpc } from '../../protocol/rpc_client.js';

// Flags in the shared array: the server closed a kept-alive socket; the client has sent its request.
const SERVER_CLOSED = 0;
const CLIENT_SENT = 1;

/**
 * The server. It advertises `Keep-Alive: timeout=30`, so the client keeps its socket for about 28 s,
 * but closes idle sockets after 200 ms (Node adds 1 s): a server that closes sooner than its
 * clients expect, which a busy server stalling past its own timeout amounts to. `/stall` answers,
 * then blocks the server's thread until the client says it has sent its next request and the
 * keep-alive timeout has passed. Each answer counts the connections opened so far and how many
 * times that path has been handled.
 */
const SERVER = `
const http = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const flags = new Int32Array(workerData.shared);
const handled = new Map();
let connections = 0;
const server = http.createServer({ keepAliveTimeout: 200 }, (req, res) => {
  req.resume();
  req.on('end', () => {
    handled.set(req.url, (handled.get(req.url) ?? 0) + 1);
    if (req.url === '/stall') {
      res.on('finish', () => {
        Atomics.wait(flags, ${CLIENT_SENT}, 0, 10000);
        const until = Date.now() + 1500;
        while (Date.now() < until) {}
      });
    }
    const body = JSON.stringify({ path: req.url, connections, handled: handled.get(req.url) });
    res.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive', 'keep-alive': 'timeout=30' });
    res.end(body);
  });
});
server.on('connection', (socket) => {
  connections++;
  socket.on('close', () => {
    Atomics.store(flags, ${SERVER_CLOSED}, 1);
    Atomics.notify(flags, ${SERVER_CLOSED});
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
`;

const workers: Worker[] = [];

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

async function start_server(): Promise<{ url: string; flags: Int32Array }> {
  const shared = new SharedArrayBuffer(8);
  const worker = new Worker(SERVER, { eval: true, workerData: { shared } });
  workers.push(worker);
  const [listening] = (await once(worker, 'message')) as [{ port: number }];
  return { url: `http://127.0.0.1:${listening.port}`, flags: new Int32Array(shared) };
}

/** Lets fetch put the answered socket back in its pool (it does so a turn of the loop later). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

type Send = (url: string) => Promise<unknown>;

const bare_fetch: Send = async (url) => (await fetch(`${url}/next`)).json();
const test_client: Send = (url) => rpc(url, '/next');
const sdk: Send = (url) =>
  new RpcTransport({ nodes: [url] }, { fetch, now: Date.now, sleep: timer_sleep }).request('GET', '/next', {
    timeout_ms: 10_000,
  });

/**
 * The server closes the idle socket; the client, its thread held until then (as a busy machine
 * holds it), sends at once on the socket it still believes open.
 */
async function closed_under(send: Send): Promise<unknown> {
  const { url, flags } = await start_server();
  await (await fetch(`${url}/first`)).json();
  await settle();
  expect(Atomics.wait(flags, SERVER_CLOSED, 0, 10_000)).not.toBe('timed-out');
  return send(url);
}

/** The server stalls right after an answer; the client's next request waits unread past the timeout. */
async function unread_past_timeout(send: Send): Promise<unknown> {
  const { url, flags } = await start_server();
  await (await fetch(`${url}/stall`)).json();
  await settle();
  const result = send(url);
  result.catch(() => {});
  await settle();
  Atomics.store(flags, CLIENT_SENT, 1);
  Atomics.notify(flags, CLIENT_SENT);
  return result;
}

describe.each([
  ['the server closes the idle socket as the client reuses it', closed_under],
  ['the server stalls past its keep-alive timeout with the request unread', unread_past_timeout],
])('keep-alive race: %s', (_name, race) => {
  it("fails Node's bare fetch (the control)", async () => {
    const error = await race(bare_fetch).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).not.toBeNull();
    expect(is_stale_connection(error)).toBe(true);
  });

  it.each([
    ['the test client', test_client],
    ['the SDK transport', sdk],
  ])('%s sends it again on a fresh connection, and it is handled once', async (_client, send) => {
    // Handled once, on the second connection the client opened.
    expect(await race(send)).toEqual({ path: '/next', connections: 2, handled: 1 });
  });
});

describe('is_stale_connection', () => {
  it('is true only for a fetch rejection caused by a connection closed under the request', () => {
    const cause = (code: string) =>
      new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });
    expect(is_stale_connection(cause('UND_ERR_SOCKET'))).toBe(true);
    expect(is_stale_connection(cause('ECONNRESET'))).toBe(true);
    expect(is_stale_connection(cause('EPIPE'))).toBe(true);
    expect(is_stale_connection(cause('ECONNREFUSED'))).toBe(false);
    expect(is_stale_connection(new TypeError('fetch failed'))).toBe(false);
    expect(is_stale_connection(Object.assign(new Error('x'), { cause: { code: 'ECONNRESET' } }))).toBe(false);
  });

  it('fetch_fresh does not retry a refused connection', async () => {
    const { url } = await start_server();
    await workers.splice(0)[0]!.terminate();
    await expect(fetch_fresh(`${url}/next`, {})).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
  });
});

describe('the RPC server', () => {
  it('keeps an idle connection for a minute, so the race needs a minute of idleness', async () => {
    const server = new RpcServer(
      {
        host: '127.0.0.1',
        port: 0,
        body_bytes_max: 1024,
        wait_timeout_ms: 1000,
        sse_clients_max: 1,
        cors_origin: '',
      },
      // No route below reaches the backend.
      { backend: {} as RpcBackend },
    );
    const { url } = await server.start();
    try {
      const response = await fetch(`${url}/no/such/route`);
      await response.text();
      expect(response.status).toBe(404);
      const seconds = Number(/^timeout=(\d+)/.exec(response.headers.get('keep-alive') ?? '')?.[1]);
      expect(seconds).toBeGreaterThanOrEqual(60);
    } finally {
      await server.stop();
    }
  });
});
