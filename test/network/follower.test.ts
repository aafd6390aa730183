/**
 * A follower (a node that joined by registration, node/follower.ts) as a process. Blocks come on
 * demand, so a follower must reach the last block an idle network committed with no later block
 * to carry it there; it must forward transactions past a validator it cannot reach; and it must
 * stop on SIGTERM after transactions were sent through it.
 * Ports: the network's RPC 26780-26783 and p2p 27780-27783, the follower's RPC 26784, 26785
 * for a proxy in front of the validator it follows, which lets a test hold its live stream shut,
 * and 26786 for a second follower whose first validator is down.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyncLane } from '../../node/sync.js';
import { rpc } from '../../protocol/rpc_client.js';
import { CLOISTER_BIN as cloister, heights, join_node, nudge_tx, reach, temp_network } from './helpers.js';

const FOLLOWER_RPC_PORT = 26784;
const PROXY_PORT = 26785;
const SECOND_FOLLOWER_RPC_PORT = 26786;
/** A validator URL nothing listens on (port 9 is discard, never opened here). */
const DEAD_URL = 'http://127.0.0.1:9';
/** Longest a follower may take to apply a block the network committed, with no block after it. */
const FOLLOW_DEADLINE_MS = 20_000;
/** Longest a follower may take to exit after SIGTERM (its RPC's own stop limit is 10 s). */
const EXIT_DEADLINE_MS = 30_000;

describe('SyncLane', () => {
  it('runs once more when woken during a run, however many wakes came, and never two at once', async () => {
    let runs = 0;
    let running = 0;
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const lane = new SyncLane(async () => {
      runs++;
      running++;
      expect(running).toBe(1);
      if (runs === 1) await held;
      running--;
    });
    const first = lane.wake();
    // The first run is past its last fetch: these wakes stand for blocks announced meanwhile.
    const second = lane.wake();
    void lane.wake();
    release();
    await first;
    await second;
    expect(runs).toBe(2);
    await lane.wake();
    expect(runs).toBe(3);
  });
});

/**
 * A proxy in front of one validator's RPC: passes every request through, streams included, except
 * that once {@link hold_stream} is called it ends the live streams it carries and holds the next
 * one until released. The validator subscribes a stream before its headers go out, so a block it
 * commits while the stream is held is never announced on it.
 */
async function start_proxy(upstream: string, port: number) {
  const streams = new Set<ServerResponse>();
  /** Called when a live stream it carries has opened. */
  const on_stream: (() => void)[] = [];
  let hold: { requested: () => void; release: Promise<void> } | null = null;
  const pass = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const stream = req.url === '/v1/events';
    if (stream && hold !== null) {
      const h = hold;
      hold = null;
      h.requested();
      await h.release;
    }
    const abort = new AbortController();
    res.once('close', () => abort.abort());
    const init: RequestInit = { method: req.method ?? 'GET', signal: abort.signal };
    if (chunks.length > 0) {
      init.body = Buffer.concat(chunks);
      init.headers = { 'content-type': 'application/json' };
    }
    const up = await fetch(`${upstream}${req.url}`, init);
    res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' });
    res.flushHeaders();
    if (stream) {
      streams.add(res);
      res.once('close', () => streams.delete(res));
      for (const f of on_stream.splice(0)) f();
    }
    if (up.body === null) res.end();
    // Errors end both sides (a follower gone, a stream ended): nothing more to pass on.
    else pipeline(Readable.fromWeb(up.body as import('node:stream/web').ReadableStream), res, () => {});
  };
  const server: Server = createServer((req, res) => {
    pass(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    /**
     * Once a live stream is open, ends it and holds the next; `requested` resolves when the next is
     * asked for, and `release` lets it open.
     */
    async hold_stream() {
      if (streams.size === 0) await new Promise<void>((r) => on_stream.push(r));
      let requested: () => void = () => {};
      let release: () => void = () => {};
      const asked = new Promise<void>((r) => {
        requested = r;
      });
      hold = { requested, release: new Promise<void>((r) => (release = r)) };
      for (const res of streams) res.end();
      return { requested: asked, release };
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('a follower process', () => {
  let net: Awaited<ReturnType<typeof temp_network>>;
  let urls: string[];
  let chain_id: string;
  let proxy: Awaited<ReturnType<typeof start_proxy>>;
  let follower: ChildProcess | null = null;
  let follower_url: string;
  /** The follower's log events, in order (its stdout, one JSON object a line). */
  const events: { event: string; [field: string]: unknown }[] = [];

  beforeAll(async () => {
    net = await temp_network(26780);
    urls = net.network.urls();
    chain_id = (await rpc<{ chain_id: string }>(urls[0]!, '/v1/status')).chain_id;
    // A block before it joins, so it has something to sync.
    await rpc(urls[0]!, '/v1/txs?wait=commit', { body: nudge_tx(chain_id), timeout_ms: 60_000 });
    // It follows validator 1 through the proxy.
    proxy = await start_proxy(urls[1]!, PROXY_PORT);
    const started = await join_and_start('follower', FOLLOWER_RPC_PORT, [proxy.url], (e) => events.push(e));
    follower = started.child;
    follower_url = started.url;
  }, 180_000);

  afterAll(async () => {
    // A follower a test left running is killed outright, so the network can go down.
    if (follower !== null && follower.exitCode === null && follower.signalCode === null) {
      const exited = new Promise((r) => follower!.once('exit', r));
      follower.kill('SIGKILL');
      await exited;
    }
    await proxy?.close();
    await net?.down();
  }, 60_000);

  /**
   * Joins a new node `name` by registration (its RPC on `port`), makes it follow `follow`, starts
   * it, and resolves once it serves RPC; `on_event` hears its log events (stdout JSON lines).
   */
  async function join_and_start(
    name: string,
    port: number,
    follow: string[],
    on_event: (e: { event: string; [field: string]: unknown }) => void = () => {},
  ): Promise<{ child: ChildProcess; url: string }> {
    const home = join(net.dir, name);
    await join_node({ net_dir: net.dir, from: urls[1]!, home, port });
    const config_file = join(home, 'config.json');
    const config = JSON.parse(readFileSync(config_file, 'utf8')) as { follow: string[] };
    writeFileSync(config_file, JSON.stringify({ ...config, follow }, null, 2));
    const child = spawn(process.execPath, [cloister, 'node', 'start', '--json', '--home', home], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${name} exited with code ${code}`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const e = JSON.parse(line) as { event: string; rpc?: string };
        on_event(e);
        if (e.event === 'started') resolve(e.rpc!);
      });
    });
    return { child, url };
  }

  /** The follower's height, polled until it is at least `height` or the deadline passes: the last one seen. */
  async function follower_height_at_least(height: number): Promise<number> {
    const end = Date.now() + FOLLOW_DEADLINE_MS;
    let seen = -1;
    while (Date.now() < end) {
      seen = (await heights([follower_url]))[0]!;
      if (seen >= height) return seen;
      await new Promise((r) => setTimeout(r, 50));
    }
    return seen;
  }

  it('fetches the block an idle network committed while its live stream was closed', async () => {
    const held = await proxy.hold_stream();
    // It asks for its stream again (the proxy ended the one it had)...
    await held.requested;
    // ...and the network commits a block, on validator 1 too, before that stream opens.
    const record = await rpc<{ height: number }>(urls[1]!, '/v1/txs?wait=commit', {
      body: nudge_tx(chain_id),
      timeout_ms: 60_000,
    });
    held.release();
    // No block comes after it: only a sync when the stream opens fetches it.
    expect(await follower_height_at_least(record.height)).toBe(record.height);
  }, 120_000);

  it('applies the last block of each burst, with the network idle after it', async () => {
    // Two blocks in quick succession and then none: the second one's announcement may come while
    // the follower is still busy with the first, and then nothing wakes it again.
    for (let round = 0; round < 5; round++) {
      const first = await rpc<{ height: number }>(urls[0]!, '/v1/txs?wait=commit', {
        body: nudge_tx(chain_id),
        timeout_ms: 60_000,
      });
      const second = await rpc<{ height: number }>(urls[1]!, '/v1/txs?wait=commit', {
        body: nudge_tx(chain_id),
        timeout_ms: 60_000,
      });
      expect(second.height).toBeGreaterThan(first.height);
      expect(await follower_height_at_least(second.height), `round ${round}`).toBe(second.height);
    }
  }, 300_000);

  it('forwards to the next validator it follows when the first cannot be reached', async () => {
    // A second follower whose first validator is an address nothing listens on.
    const second = await join_and_start('follower-2', SECOND_FOLLOWER_RPC_PORT, [DEAD_URL, urls[2]!]);
    try {
      const url = second.url;
      // A nudge commits with a failure code (an empty account sends 1 ucst; see nudge_tx).
      const record = await rpc<{ hash: string; height: number }>(url, '/v1/txs?wait=commit', {
        body: nudge_tx(chain_id),
        timeout_ms: 60_000,
      });
      expect(record.height).toBeGreaterThan(0);
      // Committed by the network, which only validator 2 could have given it to.
      const there = await rpc<{ hash: string }>(urls[2]!, `/v1/txs/${record.hash}`);
      expect(there.hash).toBe(record.hash);
    } finally {
      const exited = new Promise((r) => second.child.once('exit', r));
      second.child.kill('SIGTERM');
      await exited;
    }
  }, 180_000);

  it('stops on SIGTERM after transactions were sent through it', async () => {
    // Transactions through the follower (forwarded to validator 1), one waited for to commit
    // there, while its live stream is watched: as a client does that, it may leave a spare kept-
    // alive connection on which it never sends a request. One such connection, held for certain:
    const spare = connect(FOLLOWER_RPC_PORT, '127.0.0.1');
    const spare_closed = new Promise<void>((r) => spare.once('close', () => r()));
    spare.on('error', () => {});
    await new Promise<void>((r) => spare.once('connect', () => r()));
    const record = await rpc<{ height: number }>(follower_url, '/v1/txs?wait=commit', {
      body: nudge_tx(chain_id),
      timeout_ms: 60_000,
    });
    await reach(follower_url, record.height + 2, 60_000);

    const child = follower!;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'still running'>((resolve) => {
      timer = setTimeout(() => resolve('still running'), EXIT_DEADLINE_MS);
    });
    child.kill('SIGTERM');
    const outcome = await Promise.race([exited, deadline]);
    clearTimeout(timer);
    spare.destroy();
    expect(outcome, `exit code, or still running ${EXIT_DEADLINE_MS} ms after SIGTERM`).toBe(0);
    await spare_closed;
    expect(events.some((e) => e.event === 'stopping')).toBe(true);
    expect(events.some((e) => e.event === 'rpc_stop_timeout')).toBe(false);
  }, 180_000);
});
