/**
 * The one RPC client (protocol/rpc_client.ts) with its default errors, on a fake fetch: error
 * answers become RpcError with protocol.md §6's code, answers without that shape code -1, no
 * answer RpcUnreachableError; busy and halted nodes are skipped; a string body goes out as it is;
 * a stale kept-alive connection is retried at most twice; `subscribe` parses the live stream.
 * (Real sockets: test/client/transport.test.ts and test/rpc/keep_alive_race.test.ts.)
 */

import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  fetch_fresh,
  RPC_BAD_ANSWER_CODE,
  RpcError,
  RpcTransport,
  RpcUnreachableError,
  read_events,
  rpc,
  subscribe,
  type TransportModules,
  timer_sleep,
} from '../../protocol/rpc_client.js';

type Handler = (url: string, init: RequestInit) => Response | Promise<Response>;

/** Modules whose fetch records each call and answers with `handler`. */
function fake(handler: Handler): { modules: TransportModules; calls: { url: string; init: RequestInit }[] } {
  const calls: { url: string; init: RequestInit }[] = [];
  const modules: TransportModules = {
    fetch: async (input, init = {}) => {
      calls.push({ url: String(input), init });
      return handler(String(input), init);
    },
    now: Date.now,
    sleep: timer_sleep,
  };
  return { modules, calls };
}

const json = (value: unknown, status = 200) => Response.json(value, { status });
const stale = () =>
  new TypeError('fetch failed', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) });
const refused = () =>
  new TypeError('fetch failed', { cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) });

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('RpcTransport with the default errors', () => {
  it('gives an error answer as RpcError with its status, §6 code, message and node', async () => {
    const { modules } = fake(() => json({ error: { code: 7, message: 'body.sender must be 64 hex' } }, 400));
    const error = await new RpcTransport({ nodes: ['http://a'] }, modules)
      .request('POST', '/v1/txs', { body: {}, timeout_ms: 1000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RpcError);
    expect(error).toMatchObject({
      status: 400,
      code: 7,
      message: 'body.sender must be 64 hex',
      node: 'http://a',
    });
  });

  it('gives an answer without the §6 shape as RpcError code -1', async () => {
    for (const answer of [new Response('<html>', { status: 502 }), json({ error: 'no' }, 500)]) {
      const { modules } = fake(() => answer);
      const error = await new RpcTransport({ nodes: ['http://a'] }, modules)
        .request('GET', '/v1/status', { timeout_ms: 1000 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RpcError);
      expect((error as RpcError).code).toBe(RPC_BAD_ANSWER_CODE);
    }
  });

  it('skips a busy and a halted node for the next, and prefers the one that answered', async () => {
    const { modules, calls } = fake((url) => {
      if (url.startsWith('http://busy')) return json({ error: { code: 102, message: 'busy' } }, 503);
      if (url.startsWith('http://halted')) return json({ error: { code: 108, message: 'halted' } }, 503);
      return json({ height: 3 });
    });
    const t = new RpcTransport({ nodes: ['http://busy', 'http://halted', 'http://live'] }, modules);
    expect(await t.request('GET', '/v1/status', { timeout_ms: 1000 })).toEqual({ height: 3 });
    expect(t.current).toBe('http://live');
    expect(calls.map((c) => c.url)).toEqual([
      'http://busy/v1/status',
      'http://halted/v1/status',
      'http://live/v1/status',
    ]);
  });

  it('throws the last refusal when every node refuses, RpcUnreachableError when none answers', async () => {
    const busy = fake(() => json({ error: { code: 108, message: 'halted' } }, 503));
    await expect(
      new RpcTransport({ nodes: ['http://a', 'http://b'] }, busy.modules).request('GET', '/x', {
        timeout_ms: 1000,
      }),
    ).rejects.toMatchObject({ name: 'RpcError', code: 108, node: 'http://b' });
    const down = fake(() => {
      throw refused();
    });
    const error = await new RpcTransport({ nodes: ['http://a', 'http://b'] }, down.modules)
      .request('GET', '/x', { timeout_ms: 1000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RpcUnreachableError);
    expect((error as RpcUnreachableError).tried).toEqual(['http://a', 'http://b']);
    // Not a stale connection: one attempt per node.
    expect(down.calls).toHaveLength(2);
  });

  it('does not send a POST that timed out to another node', async () => {
    const { modules, calls } = fake(
      (_url, init) =>
        new Promise((_resolve, reject) =>
          init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
        ),
    );
    const error = await new RpcTransport({ nodes: ['http://a', 'http://b'] }, modules)
      .request('POST', '/v1/txs', { body: {}, timeout_ms: 20 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RpcUnreachableError);
    expect((error as RpcUnreachableError).tried).toEqual(['http://a']);
    expect(calls).toHaveLength(1);
  });

  it('sends a request again when its kept-alive connection closed under it, at most twice', async () => {
    let failures = 2;
    const twice = fake(() => {
      if (failures-- > 0) throw stale();
      return json({ ok: true });
    });
    const t = new RpcTransport({ nodes: ['http://a'] }, twice.modules);
    expect(await t.request('GET', '/x', { timeout_ms: 1000 })).toEqual({ ok: true });
    expect(twice.calls).toHaveLength(3);
    const always = fake(() => {
      throw stale();
    });
    await expect(fetch_fresh('http://a/x', {}, always.modules.fetch)).rejects.toThrow('fetch failed');
    expect(always.calls).toHaveLength(3);
  });
});

describe('rpc and subscribe (one node)', () => {
  it('sends a string body as it is and anything else as JSON, POST when there is a body', async () => {
    const { modules, calls } = fake(() => json({ hash: 'h' }, 202));
    vi.stubGlobal('fetch', modules.fetch);
    const text = '{"body":{},"signature":"00"}';
    await rpc('http://a', '/v1/txs', { body: text });
    await rpc('http://a', '/v1/contracts/x/query', { body: { scheme: 'gcm', payload: '' } });
    await rpc('http://a', '/v1/status');
    expect(calls.map((c) => [c.init.method, c.init.body])).toEqual([
      ['POST', text],
      ['POST', '{"scheme":"gcm","payload":""}'],
      ['GET', undefined],
    ]);
    expect(new Headers(calls[0]!.init.headers).get('content-type')).toBe('application/json');
  });

  it('follows the live stream until the signal aborts', async () => {
    const encoder = new TextEncoder();
    const abort = new AbortController();
    const frames = [
      ': live\n\n',
      'event: block\ndata: {"height":1}\n\n',
      'event: tx\ndata: {"hash":',
      '"h"}\n\n',
    ];
    const { modules } = fake((url, init) => {
      expect(url).toBe('http://a/v1/events');
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const frame of frames) controller.enqueue(encoder.encode(frame));
          init.signal?.addEventListener('abort', () => controller.error(new Error('aborted')));
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    });
    vi.stubGlobal('fetch', modules.fetch);
    const seen: [string, unknown][] = [];
    await subscribe(
      'http://a',
      (type, data) => {
        seen.push([type, data]);
        if (seen.length === 2) abort.abort();
      },
      abort.signal,
    );
    expect(seen).toEqual([
      ['block', { height: 1 }],
      ['tx', { hash: 'h' }],
    ]);
  });

  it('read_events joins data lines and skips comments', async () => {
    const body = new Response('event: a\ndata: 1\ndata: 2\n\n: ping\n\ndata: x\n\n').body!;
    const events = [];
    for await (const event of read_events(body)) events.push(event);
    expect(events).toEqual([
      { type: 'a', data: '1\n2' },
      { type: 'message', data: 'x' },
    ]);
  });
});
