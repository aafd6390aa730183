/**
 * The RPC server's side of the node's metrics (node/rpc/server.ts): `GET /metrics` exists only
 * when the server has the node's metrics, every request is counted by route template and status,
 * and a request left without an answer is counted with status `none`.
 */

import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type RpcBackend, type RpcMetrics, RpcServer, route_template } from '../../node/rpc/server.js';

/** A backend that takes any transaction and never commits it; nothing else is called here. */
const backend = {
  halted: () => null,
  submit: async () => ({ ok: true, hash: 'ab'.repeat(32) }),
  wait_tx: () => new Promise(() => {}),
  subscribe: () => () => {},
} as unknown as RpcBackend;

const TX = JSON.stringify({
  body: {
    chain_id: 'test-1',
    sender: '11'.repeat(32),
    sequence: 0,
    gas_limit: 100_000,
    msg: { type: 'send', to: 'f0'.repeat(20), amount: 1 },
  },
  signature: '22'.repeat(64),
});

/** Metrics that record what the server reports. */
function recording(): RpcMetrics & { counted: string[] } {
  const counted: string[] = [];
  return {
    counted,
    rpc_request: (route, status) => counted.push(`${route} ${status}`),
    exposition: async () => ({ content_type: 'text/plain; version=0.0.4; charset=utf-8', body: 'x 1\n' }),
  };
}

const servers: RpcServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function serve(metrics?: RpcMetrics): Promise<string> {
  const opts = {
    host: '127.0.0.1',
    port: 0,
    body_bytes_max: 65_536,
    wait_timeout_ms: 10_000,
    sse_clients_max: 2,
    cors_origin: '*',
  };
  const server = new RpcServer(opts, metrics === undefined ? { backend } : { backend, metrics });
  servers.push(server);
  return (await server.start()).url;
}

/** Waits until `metrics` counted `n` requests. */
async function counted(metrics: { counted: string[] }, n: number): Promise<string[]> {
  for (let i = 0; i < 100 && metrics.counted.length < n; i++) await new Promise((r) => setTimeout(r, 20));
  return metrics.counted;
}

describe('RPC metrics', () => {
  it('names routes by template', () => {
    expect(route_template(['v1', 'txs', ':hash'])).toBe('/v1/txs/{hash}');
    expect(route_template(['v1', 'contracts', ':address', 'query'])).toBe('/v1/contracts/{address}/query');
    expect(route_template(['metrics'])).toBe('/metrics');
  });

  it('serves GET /metrics as text only with metrics; without them it is an unknown route', async () => {
    const metrics = recording();
    const res = await fetch(`${await serve(metrics)}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await res.text()).toBe('x 1\n');
    expect((await fetch(`${await serve()}/metrics`)).status).toBe(404);
    expect((await fetch(`${await serve(metrics)}/metrics`, { method: 'POST' })).status).toBe(405);
    expect(await counted(metrics, 2)).toEqual(['/metrics 200', '/metrics 405']);
  });

  it('counts by template, unknown paths under one label, and a request left unanswered as none', async () => {
    const metrics = recording();
    const url = await serve(metrics);
    expect((await fetch(`${url}/v1/txs/zz`)).status).toBe(400);
    expect((await fetch(`${url}/v1/${'a'.repeat(3000)}`)).status).toBe(414);
    expect((await fetch(`${url}/wp-admin/x.php?y=1`)).status).toBe(404);
    expect(
      (
        await fetch(`${url}/v1/txs`, {
          method: 'POST',
          body: TX,
          headers: { 'content-type': 'application/json' },
        })
      ).status,
    ).toBe(202);
    // A commit wait the client leaves: no answer is ever sent.
    const req = http.request(`${url}/v1/txs?wait=commit`, { method: 'POST', agent: false });
    req.on('error', () => {});
    req.end(TX);
    await new Promise((r) => setTimeout(r, 100));
    req.destroy();
    expect(await counted(metrics, 5)).toEqual([
      '/v1/txs/{hash} 400',
      'unknown 414',
      'unknown 404',
      '/v1/txs 202',
      '/v1/txs none',
    ]);
  });
});
