/**
 * The dashboard server (sim/dashboard/server.ts) against a fake network and a real control server:
 * the page and its libraries are served, the state and its event stream follow the network, the
 * Host header is checked, and `/control/…` steers only with the token. The browser test
 * (dashboard_browser.test.ts) runs the page itself.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { type ControlledNetwork, start_control_server } from '../../sim/control_server.js';
import { type Dashboard, start_dashboard } from '../../sim/dashboard/server.js';
import type { NodeEvent } from '../../sim/network.js';

function fake_network(n = 4) {
  const running = new Set(Array.from({ length: n }, (_, i) => i));
  const listeners = new Set<(e: NodeEvent) => void>();
  const network: ControlledNetwork & { on_event(fn: (e: NodeEvent) => void): () => void } = {
    homes: Array.from({ length: n }, (_, i) => `/net/v${i}`),
    // Ports nothing listens on: status polls fail fast and the feed shows no numbers.
    urls: () => Array.from({ length: n }, (_, i) => (running.has(i) ? `http://127.0.0.1:${26790 + i}` : '')),
    pid: (i) => (running.has(i) ? 2000 + i : undefined),
    is_running: (i) => running.has(i),
    is_paused: () => false,
    partition_groups: () => null,
    kill: async (i) => {
      running.delete(i);
    },
    start: async (i) => {
      running.add(i);
      return `http://127.0.0.1:${26790 + i}`;
    },
    pause: () => {},
    resume: async () => {},
    partition: async () => {},
    heal: async () => {},
    on_event: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
  const emit = (e: NodeEvent) => {
    for (const fn of listeners) fn(e);
  };
  return { network, emit, running };
}

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
});

async function setup() {
  const fake = fake_network();
  const actions: string[] = [];
  let dashboard: Dashboard | null = null;
  const control = await start_control_server({
    network: fake.network,
    on_stop: () => {},
    on_action: (m) => {
      actions.push(m);
      dashboard?.action(m);
    },
  });
  open.push(control);
  dashboard = await start_dashboard({
    network: fake.network,
    chain_id: 'cloister-test-1',
    behaviours: ['honest', 'honest', 'honest', 'silent'],
    control: { url: control.url, token: control.token },
    poll_ms: 50,
    push_ms: 20,
  });
  open.push(dashboard);
  return { ...fake, control, dashboard, actions };
}

describe('dashboard server', () => {
  it('serves the page, its modules and the libraries its import map names', async () => {
    const { dashboard } = await setup();
    const page = await fetch(dashboard.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('type="importmap"');
    const mapped = [...html.matchAll(/"(\/vendor\/[^"]+)"/g)].map((m) => m[1]!);
    expect(mapped.length).toBeGreaterThanOrEqual(5);
    for (const path of [...mapped, '/vendor/uplot.css', '/app.js', '/views.js', '/charts.js', '/style.css']) {
      const answer = await fetch(new URL(path, dashboard.url));
      expect(answer.status, path).toBe(200);
      expect((await answer.text()).length, path).toBeGreaterThan(100);
    }
    expect((await fetch(new URL('/vendor/../package.json', dashboard.url))).status).toBe(404);
    expect((await fetch(new URL('/nothing', dashboard.url))).status).toBe(404);
  });

  it('serves the state, and streams it again when the network moves', async () => {
    const { dashboard, emit } = await setup();
    const state = (await (await fetch(new URL('/api/state', dashboard.url))).json()) as {
      chain_id: string;
      validators: { behaviour: string }[];
    };
    expect(state.chain_id).toBe('cloister-test-1');
    expect(state.validators.map((v) => v.behaviour)).toEqual(['honest', 'honest', 'honest', 'silent']);

    const abort = new AbortController();
    const answer = await fetch(new URL('/api/events', dashboard.url), { signal: abort.signal });
    expect(answer.headers.get('content-type')).toBe('text/event-stream');
    const reader = answer.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    emit({ index: 2, event: 'committed', height: 41 });
    // Read messages until one shows the height (the first is the state at connection).
    while (!/"height":41/.test(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the stream ended');
      text += decoder.decode(value);
    }
    abort.abort();
    expect(text.startsWith('data: {')).toBe(true);
  });

  it('lists the events it missed while it started, at the time they were logged', async () => {
    const { dashboard } = await setup();
    const t = Date.now() - 60_000;
    dashboard.replay([
      { index: 0, event: 'started', height: 0, t },
      { index: 1, event: 'synced', applied: 2, height: 2, t: t + 1 },
    ]);
    const { faults, validators } = dashboard.feed.state(Date.now());
    expect(faults.map((f) => [f.validator, f.kind, f.t_ms])).toEqual([
      [1, 'synced', t + 1],
      [0, 'started', t],
    ]);
    expect(validators[1]!.height).toBe(2);
  });

  it('refuses a request whose Host is not its loopback address', async () => {
    const { dashboard } = await setup();
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        new URL('/api/state', dashboard.url),
        { headers: { host: 'evil.example:80' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(403);
  });

  it('steers through /control/ with the token only, and lists the action as it happens', async () => {
    const { dashboard, control, running } = await setup();
    const kill = (token: string | null) =>
      fetch(new URL('/control/validators/1/kill', dashboard.url), {
        method: 'POST',
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
      });
    expect((await kill(null)).status).toBe(401);
    expect((await kill('00'.repeat(32))).status).toBe(401);
    expect(running.has(1)).toBe(true);
    const done = await kill(control.token);
    expect(done.status).toBe(200);
    expect(((await done.json()) as { message: string }).message).toContain('v1 killed');
    expect(running.has(1)).toBe(false);
    const again = await kill(control.token);
    expect(again.status).toBe(409);
    const faults = dashboard.feed.state(Date.now()).faults;
    expect(faults[0]).toMatchObject({ validator: 1, kind: 'action' });
    expect(faults[0]!.text).toContain('killed');
  });

  it('answers a block or transaction view with a clear error when no validator answers', async () => {
    const { dashboard } = await setup();
    const block = await fetch(new URL('/api/blocks/3', dashboard.url));
    expect(block.status).toBe(502);
    expect(((await block.json()) as { error: { code: string } }).error.code).toBe('unavailable');
    expect((await fetch(new URL('/api/txs/nothex', dashboard.url))).status).toBe(404);
  });

  it('listens on loopback only', async () => {
    const fake = fake_network();
    await expect(
      start_dashboard({
        network: fake.network,
        chain_id: 'c',
        behaviours: ['honest'],
        control: { url: 'http://127.0.0.1:1', token: 't' },
        host: '0.0.0.0',
      }),
    ).rejects.toThrow(RangeError);
  });
});
