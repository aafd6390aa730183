/**
 * The SDK and a halted node, with real sockets: the status says so, and a transaction refused as
 * halted (503 code 108), like one that cannot be delivered, goes to the next node URL. A node
 * that refuses a live stream (halted, or 429 code 110 for too many from this client) is skipped
 * for the next too.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BadAnswerError,
  ClientErrorCode,
  CloisterClient,
  generate_key,
  RpcRefusedError,
} from '../../client/sdk/index.js';
import { utf8 } from '../../protocol/bytes.js';
import { noble_provider as p } from '../../protocol/providers/noble.js';
import { sign_tx, type Tx, tx_hash } from '../../protocol/tx.js';

const CHAIN_ID = 'halt-test-1';
const HALT = { height: 9, reason: 'own results differ from the committed block at height 9' };
const key = generate_key('alice', (n) => p.sha256(utf8('alice')).slice(0, n));

/** A signed transaction; the fake nodes never check it, the client checks its hash. */
function signed_tx(sequence: number): Tx {
  return sign_tx(p, key.account_sk, {
    chain_id: CHAIN_ID,
    sender: Buffer.from(p.ed25519_public(key.account_sk)).toString('hex'),
    sequence,
    gas_limit: 100_000,
    msg: { type: 'store_code', code: 'AAAA' },
  });
}

function status_body(halted?: unknown): unknown {
  return {
    chain_id: CHAIN_ID,
    height: 8,
    io_pubkey: '00'.repeat(32),
    seed_exchange_pubkey: '00'.repeat(32),
    validator: '01'.repeat(32),
    validators: [],
    ...(halted === undefined ? {} : { halted }),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Every request each fake node got, as "name METHOD path". */
const hits: string[] = [];
/** Committed records the live node serves and streams. */
const committed = new Map<string, unknown>();

/**
 * A node that halted: it answers status (with `halted`); it refuses transactions and streams, and
 * answers what it has not committed with 503 code 108 (node/rpc/server.ts).
 */
function halted_node(req: IncomingMessage, res: ServerResponse, halted: unknown = HALT): void {
  if (req.url === '/v1/status') send(res, 200, status_body(halted));
  else send(res, 503, { error: { code: 108, message: 'this node halted at height 9: use another node' } });
}

/** How often the live node was asked for each transaction. */
const asked = new Map<string, number>();
/** Hashes the live node answers 404 the first time it is asked, as if not committed yet. */
const late = new Set<string>();

/** A healthy node: takes transactions and streams their commit. */
function live_node(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/v1/status') {
    send(res, 200, status_body());
    return;
  }
  if (req.method === 'POST' && req.url === '/v1/txs') {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('end', () => send(res, 202, { hash: tx_hash(p, JSON.parse(text) as Tx) }));
    return;
  }
  if (req.url === '/v1/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(': live\n\n');
    for (const record of committed.values()) res.write(`event: tx\ndata: ${JSON.stringify(record)}\n\n`);
    res.end();
    return;
  }
  const hash = req.url?.startsWith('/v1/txs/') ? req.url.slice('/v1/txs/'.length) : '';
  asked.set(hash, (asked.get(hash) ?? 0) + 1);
  const record = committed.get(hash);
  if (record !== undefined && !(late.has(hash) && asked.get(hash) === 1)) send(res, 200, record);
  else send(res, 404, { error: { code: 100, message: 'not committed' } });
}

const servers: Server[] = [];
const url: Record<'halted' | 'halting' | 'live' | 'crowded' | 'odd' | 'dead', string> = {
  halted: '',
  halting: '',
  live: '',
  crowded: '',
  odd: '',
  dead: '',
};

async function listen(name: string, handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const server = createServer((req, res) => {
    hits.push(`${name} ${req.method} ${req.url}`);
    handler(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  url.halted = await listen('halted', (req, res) => halted_node(req, res));
  url.live = await listen('live', live_node);
  url.crowded = await listen('crowded', (req, res) => {
    if (req.url === '/v1/events') {
      res.setHeader('retry-after', '5');
      send(res, 429, { error: { code: 110, message: 'this address holds 8 live event streams' } });
    } else live_node(req, res);
  });
  url.odd = await listen('odd', (req, res) => halted_node(req, res, { height: 'nine' }));
  // A node that halts while a client waits on its stream: the stream ends, then it is halted.
  url.halting = await listen('halting', (req, res) => {
    if (req.url !== '/v1/events') halted_node(req, res);
    else {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(': live\n\n');
    }
  });
  const gone = await listen('gone', () => {});
  const closing = servers.pop()!;
  await new Promise<void>((resolve) => closing.close(() => resolve()));
  url.dead = gone;
});

afterAll(async () => {
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

describe('a halted node, to the SDK', () => {
  it('status() shows halted {height, reason}; a healthy node has none', async () => {
    const client = new CloisterClient({ nodes: [url.halted] });
    const status = await client.status();
    expect(status.halted).toEqual(HALT);
    expect(client.node).toBe(url.halted);
    expect((await new CloisterClient({ nodes: [url.live] }).status()).halted).toBeUndefined();
  });

  it('status() refuses a halted field of the wrong shape', async () => {
    await expect(new CloisterClient({ nodes: [url.odd] }).status()).rejects.toBeInstanceOf(BadAnswerError);
  });

  it('sends a transaction refused as halted to the next node, and keeps using that one', async () => {
    hits.length = 0;
    const client = new CloisterClient({ nodes: [url.halted, url.live] });
    const tx = signed_tx(0);
    await expect(client.submit(tx)).resolves.toEqual({ hash: tx_hash(p, tx), record: null });
    await client.submit(signed_tx(1));
    expect(hits).toEqual(['halted POST /v1/txs', 'live POST /v1/txs', 'live POST /v1/txs']);
    expect(client.node).toBe(url.live);
  });

  it('moves past a node it cannot reach and a halted one', async () => {
    hits.length = 0;
    const client = new CloisterClient({ nodes: [url.dead, url.halted, url.live] });
    const tx = signed_tx(0);
    await expect(client.submit(tx)).resolves.toMatchObject({ hash: tx_hash(p, tx) });
    expect(hits).toEqual(['halted POST /v1/txs', 'live POST /v1/txs']);
  });

  it('throws a typed code-108 error naming what to do when every node is halted', async () => {
    const error = await new CloisterClient({ nodes: [url.halted] })
      .submit(signed_tx(0))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RpcRefusedError);
    expect((error as RpcRefusedError).code).toBe(ClientErrorCode.HALTED);
    expect((error as RpcRefusedError).status).toBe(503);
    expect((error as Error).message).toBe(
      'node halted: this node halted at height 9: use another node; name another node (--node URL, repeatable)',
    );
  });

  it('waits on the live stream of the next node when one refuses streams (halted, 429 code 110)', async () => {
    const tx = signed_tx(7);
    const hash = tx_hash(p, tx);
    const record = { hash, height: 10, index: 0, code: 0, gas_used: 5, output: '', code_id: 5 };
    committed.set(hash, record);
    hits.length = 0;
    const client = new CloisterClient({ nodes: [url.halted, url.crowded, url.live] });
    // An old node's record without `events` reads as none (protocol.md §9).
    await expect(client.wait_for(hash, { timeout_ms: 10_000 })).resolves.toEqual({ ...record, events: [] });
    // Streams were asked of each node in turn; no polling was needed.
    expect(hits.filter((h) => h.endsWith('/v1/events'))).toEqual([
      'halted GET /v1/events',
      'crowded GET /v1/events',
      'live GET /v1/events',
    ]);
    committed.delete(hash);
  });

  it('finishes a wait on another node when the node it watched halts', async () => {
    const tx = signed_tx(8);
    const hash = tx_hash(p, tx);
    const record = { hash, height: 11, index: 0, code: 0, gas_used: 5, output: '', code_id: 6 };
    committed.set(hash, record);
    late.add(hash);
    hits.length = 0;
    const client = new CloisterClient({ nodes: [url.halting, url.live] });
    // An old node's record without `events` reads as none (protocol.md §9).
    await expect(client.wait_for(hash, { timeout_ms: 10_000 })).resolves.toEqual({ ...record, events: [] });
    // The stream ended; the halted node's 503 code 108 sent each lookup on to the live node.
    expect(hits).toEqual([
      'halting GET /v1/events',
      `halting GET /v1/txs/${hash}`,
      `live GET /v1/txs/${hash}`,
      `live GET /v1/txs/${hash}`,
    ]);
    committed.delete(hash);
  });
});
