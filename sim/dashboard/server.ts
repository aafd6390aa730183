/**
 * The live dashboard of `cloister sim up` (and `npm start`): one web page on loopback that shows
 * the running network and steers it. It keeps a {@link DashboardFeed} up to date from the
 * validators' events, their `GET /v1/status` (polled), one validator's live stream of committed
 * blocks and transactions, and the load generator, and serves:
 *
 *   GET  /                       the page (sim/dashboard/web: Preact + htm views and uPlot charts,
 *                                as ES modules from node_modules through an import map: no build)
 *   GET  /app.js, /style.css, /vendor/…   its files
 *   GET  /api/state              the feed's state (JSON, {@link FeedState})
 *   GET  /api/events             the same as server-sent events, sent again whenever it changed
 *   GET  /api/blocks/{height}    a block (header, hash, transaction hashes, commit), from a validator that is up
 *   GET  /api/txs/{hash}         a transaction, from a validator that is up
 *   *    /control/{path}         the control plane (sim/control_server.ts) behind the same bearer token
 *
 * What it shows is what any node's RPC shows (public data; outputs stay ciphertext), so reading
 * needs no token; every `/control/` call needs `Authorization: Bearer <token>`, the control
 * server's token, which `sim up` prints in the dashboard URL's fragment (`#token=…`: a fragment is
 * never sent to a server, nor kept in its logs). Requests whose `Host` is not this loopback
 * address are refused (a web page elsewhere cannot reach it by DNS rebinding).
 * @module
 */

import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { find_code_root } from '../../enclave/measurement.js';
import { subscribe } from '../../protocol/rpc_client.js';
import { type ControlledNetwork, rpc_status } from '../control_server.js';
import type { LoadCommit, LoadStats } from '../load_generator.js';
import {
  BODY_BYTES_MAX,
  check_loopback,
  error_body,
  listen_loopback,
  read_body,
  send_json,
} from '../loopback_http.js';
import type { NodeEvent } from '../network.js';
import { DashboardFeed, type FeedState, type StatusView } from './feed.js';

/**
 * What the dashboard reads of a running network (LocalNetwork has it all): what the control
 * server reads of it, and its events. It steers nothing itself: actions go through the control server.
 */
export interface DashboardNetwork
  extends Pick<
    ControlledNetwork,
    'homes' | 'urls' | 'pid' | 'is_running' | 'is_paused' | 'partition_groups'
  > {
  on_event(fn: (e: NodeEvent) => void): () => void;
}

/** What the dashboard reads of the load generator. */
export interface DashboardLoad {
  stats(): LoadStats;
  on_commit(listener: (c: LoadCommit) => void): () => void;
}

export interface DashboardOptions {
  network: DashboardNetwork;
  chain_id: string;
  /** Each validator's behaviour, `honest` or byzantine, by index. */
  behaviours: readonly string[];
  /** The control server the page steers through (`/control/…` goes there with its token). */
  control: { url: string; token: string };
  load?: DashboardLoad;
  /** Loopback only: 127.0.0.1 (default) or ::1. */
  host?: string;
  /** 0 (default): the system chooses. */
  port?: number;
  /** How often each validator's status is asked for, ms (default 1000). */
  poll_ms?: number;
  /** The least time between two states sent to a page, ms (default 500). */
  push_ms?: number;
}

export interface Dashboard {
  /** `http://127.0.0.1:PORT/`. */
  readonly url: string;
  readonly feed: DashboardFeed;
  /** Adds a line to the page's faults list (sim up passes the control plane's actions). */
  action(text: string): void;
  /** Feeds validator events it missed, heard before it started (oldest first). */
  replay(events: readonly NodeEvent[]): void;
  close(): Promise<void>;
}

/** Pages that may follow `/api/events` at once. */
const EVENT_CLIENTS_MAX = 32;
/** How long a proxied read may take, ms. */
const PROXY_TIMEOUT_MS = 5000;

/** The page's own files, by URL path: [file under sim/dashboard/web, content type]. */
const WEB_FILES: Record<string, [string, string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/views.js': ['views.js', 'text/javascript; charset=utf-8'],
  '/charts.js': ['charts.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
};

/** The libraries the page imports (its import map names them), by URL path: [package, file in it]. */
const VENDOR_FILES: Record<string, [string, string, string]> = {
  '/vendor/preact.mjs': ['preact', 'dist/preact.mjs', 'text/javascript; charset=utf-8'],
  '/vendor/preact-hooks.mjs': ['preact', 'hooks/dist/hooks.mjs', 'text/javascript; charset=utf-8'],
  '/vendor/htm.mjs': ['htm', 'dist/htm.module.js', 'text/javascript; charset=utf-8'],
  '/vendor/htm-preact.mjs': ['htm', 'preact/index.module.js', 'text/javascript; charset=utf-8'],
  '/vendor/uplot.mjs': ['uplot', 'dist/uPlot.esm.js', 'text/javascript; charset=utf-8'],
  '/vendor/uplot.css': ['uplot', 'dist/uPlot.min.css', 'text/css; charset=utf-8'],
};

/** The folder of installed package `name` (found from its entry point, as Node resolves it). */
export function package_dir(name: string): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve(name));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === name) return dir;
    } catch {
      // No package.json here (or a nested one without a name): keep walking up.
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the folder of package ${name}`);
    dir = parent;
  }
}

/** Reads every file the page needs once, so a missing one fails at start, not in a browser. */
function load_files(): Map<string, { body: Buffer; type: string }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  const web = join(find_code_root(), 'sim', 'dashboard', 'web');
  for (const [path, [file, type]] of Object.entries(WEB_FILES))
    files.set(path, { body: readFileSync(join(web, file)), type });
  const dirs = new Map<string, string>();
  for (const [path, [name, file, type]] of Object.entries(VENDOR_FILES)) {
    if (!dirs.has(name)) dirs.set(name, package_dir(name));
    files.set(path, { body: readFileSync(join(dirs.get(name)!, file)), type });
  }
  return files;
}

/** Starts the dashboard on loopback; resolves once it listens and has its first picture. */
export async function start_dashboard(opts: DashboardOptions): Promise<Dashboard> {
  const host = check_loopback(opts.host ?? '127.0.0.1', 'dashboard');
  const files = load_files();
  const feed = new DashboardFeed({ chain_id: opts.chain_id, behaviours: opts.behaviours });
  const sources = watch_network(feed, opts);
  const clients = new Set<ServerResponse>();
  let port = 0;

  const server = createServer((req, res) => {
    if (!host_allowed(req.headers.host, host, port)) {
      req.resume();
      send_json(res, 403, error_body('forbidden', 'this dashboard answers on its loopback address only'));
      return;
    }
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send_json(res, 500, error_body('failed', (error as Error).message));
      else res.destroy();
    });
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path.startsWith('/control/'))
      return forward_control(req, res, path.slice('/control'.length), opts.control);
    if (method !== 'GET' && method !== 'HEAD') {
      req.resume();
      return send_json(res, 405, error_body('method_not_allowed', `${path} takes GET`));
    }
    // The page has no icon; a browser asks anyway.
    if (path === '/favicon.ico') {
      res.writeHead(204, { 'cache-control': 'max-age=86400' });
      return void res.end();
    }
    const file = files.get(path);
    if (file !== undefined) return send_file(res, file.body, file.type);
    if (path === '/api/state') return send_json(res, 200, feed.state(Date.now()));
    if (path === '/api/events') return follow(req, res);
    const block = /^\/api\/blocks\/(\d{1,12})$/.exec(path);
    if (block !== null)
      return send_json(res, ...(await read_up(opts.network, `/v1/blocks/${Number(block[1])}`)));
    const tx = /^\/api\/txs\/([0-9a-fA-F]{64})$/.exec(path);
    if (tx !== null)
      return send_json(res, ...(await read_up(opts.network, `/v1/txs/${tx[1]!.toLowerCase()}`)));
    send_json(res, 404, error_body('not_found', `no ${path} here`));
  };

  /** `GET /api/events`: the state now, then again after each change (at most every push_ms). */
  const follow = (req: IncomingMessage, res: ServerResponse): void => {
    if (clients.size >= EVENT_CLIENTS_MAX) {
      send_json(res, 503, error_body('busy', `${EVENT_CLIENTS_MAX} pages follow already`));
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    clients.add(res);
    res.write(`data: ${JSON.stringify(feed.state(Date.now()))}\n\n`);
    req.once('close', () => clients.delete(res));
  };

  let sent_version = -1;
  let sent_second = 0;
  const push = setInterval(() => {
    const second = Math.floor(Date.now() / 1000);
    // A new second moves the charts even when nothing else changed.
    if (feed.version === sent_version && second === sent_second) return;
    sent_version = feed.version;
    sent_second = second;
    if (clients.size === 0) return;
    const line = `data: ${JSON.stringify(feed.state(Date.now()))}\n\n`;
    for (const res of clients) res.write(line);
  }, opts.push_ms ?? 500);

  const listening = await listen_loopback(server, host, opts.port ?? 0);
  port = listening.port;
  return {
    url: `${listening.url}/`,
    feed,
    action: (text) => feed.action(text, Date.now(), validator_named(text)),
    replay: (events) => {
      for (const e of events) feed.node_event(e, event_time(e));
    },
    close: async () => {
      clearInterval(push);
      sources.stop();
      for (const res of clients) res.end();
      clients.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** When a validator logged event `e` (its `t`, ms since the epoch), else now. */
function event_time(e: NodeEvent): number {
  return typeof e['t'] === 'number' ? e['t'] : Date.now();
}

/** The validator an action names (`v2 killed …` → 2), or null. */
function validator_named(text: string): number | null {
  const m = /^v(\d+)\b/.exec(text);
  return m === null ? null : Number(m[1]);
}

/**
 * Keeps `feed` fed: the network's events, each validator's process state and status (every
 * poll_ms), the load generator, and the live stream of one validator that is up (another when it
 * goes down).
 */
function watch_network(feed: DashboardFeed, opts: DashboardOptions): { stop(): void } {
  const { network } = opts;
  const off_events = network.on_event((e) => feed.node_event(e, event_time(e)));
  const off_load = opts.load?.on_commit((c) => feed.load_commit(c)) ?? (() => {});
  const stream = new AbortController();
  let polling = false;
  const poll = async () => {
    if (polling) return;
    polling = true;
    try {
      const urls = network.urls();
      const groups = network.partition_groups();
      feed.partition(groups);
      feed.load(opts.load?.stats() ?? null);
      await Promise.all(
        network.homes.map(async (_, i) => {
          const running = network.is_running(i);
          const paused = running && network.is_paused(i);
          const rpc = running && urls[i] !== undefined && urls[i] !== '' ? urls[i]! : null;
          const group = groups === null || !running ? null : (groups.find((g) => g.includes(i)) ?? [i]);
          feed.process_state(i, {
            running,
            paused,
            pid: running ? (network.pid(i) ?? null) : null,
            rpc,
            group,
          });
          if (rpc !== null && !paused) feed.status(i, (await rpc_status(rpc)) as StatusView | null);
        }),
      );
    } finally {
      polling = false;
    }
  };
  void poll();
  const poller = setInterval(() => void poll(), opts.poll_ms ?? 1000);
  void follow_blocks(feed, network, stream.signal);
  return {
    stop() {
      clearInterval(poller);
      off_events();
      off_load();
      stream.abort();
    },
  };
}

/** A live stream lagging this many blocks behind the highest height a validator reports is left. */
const STREAM_LAG_BLOCKS_MAX = 2;
/** Blocks missed between two streams that are fetched to fill the gap (the list shows no more). */
const GAP_BLOCKS_MAX = 40;

/**
 * Follows the live stream of some validator that is up, until aborted. It moves on to the next
 * when the stream ends (the validator stopped), when the validator is paused or down, or when it
 * falls more than {@link STREAM_LAG_BLOCKS_MAX} blocks behind the others (cut off by a partition).
 * Blocks committed while it had no stream are fetched from the new one, so the list has no gap.
 */
async function follow_blocks(
  feed: DashboardFeed,
  network: DashboardNetwork,
  signal: AbortSignal,
): Promise<void> {
  const usable = (i: number, urls: string[]) =>
    network.is_running(i) && !network.is_paused(i) && urls[i] !== '' && urls[i] !== undefined;
  let next = 0;
  let last_height = 0;
  while (!signal.aborted) {
    const urls = network.urls();
    const n = urls.length;
    const i = Array.from({ length: n }, (_, k) => (next + k) % n).find((j) => usable(j, urls));
    if (i !== undefined) {
      next = i;
      const url = urls[i]!;
      const one = new AbortController();
      const abort = () => one.abort();
      signal.addEventListener('abort', abort, { once: true });
      let seen = feed.heights()[i] ?? 0;
      const watch = setInterval(() => {
        const highest = Math.max(0, ...feed.heights().map((h) => h ?? 0));
        if (!usable(i, network.urls()) || highest > seen + STREAM_LAG_BLOCKS_MAX) one.abort();
      }, 1000);
      const on_height = (h: number) => {
        seen = Math.max(seen, h);
        if (last_height > 0 && h > last_height + 1) void fill_gap(feed, url, last_height + 1, h - 1);
        last_height = Math.max(last_height, h);
      };
      await subscribe(url, (type, data) => stream_event(feed, type, data, on_height), one.signal).catch(
        () => {},
      );
      clearInterval(watch);
      signal.removeEventListener('abort', abort);
      next++;
    }
    if (!signal.aborted) await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Fetches blocks `from..to` from `url` into the feed (the last {@link GAP_BLOCKS_MAX} of them). */
async function fill_gap(feed: DashboardFeed, url: string, from: number, to: number): Promise<void> {
  for (let h = Math.max(from, to - GAP_BLOCKS_MAX + 1); h <= to; h++) {
    try {
      const answer = await fetch(`${url}/v1/blocks/${h}`, { signal: AbortSignal.timeout(PROXY_TIMEOUT_MS) });
      if (!answer.ok) return;
      const b = (await answer.json()) as {
        header: { time_ms: number };
        block_hash: string;
        tx_hashes: string[];
      };
      // Counted in the tx/s chart at the second it was made, not now.
      feed.block(
        { height: h, hash: b.block_hash, time_ms: b.header.time_ms, txs: b.tx_hashes.length },
        b.header.time_ms,
      );
    } catch {
      return;
    }
  }
}

/** One event of a validator's live stream into the feed; `on_height` hears each block's height. */
function stream_event(
  feed: DashboardFeed,
  type: string,
  data: unknown,
  on_height: (h: number) => void,
): void {
  const now_ms = Date.now();
  if (type === 'block') {
    const b = data as { height: number; block_hash: string; time_ms: number; txs: number };
    feed.block({ height: b.height, hash: b.block_hash, time_ms: b.time_ms, txs: b.txs }, now_ms);
    on_height(b.height);
  } else if (type === 'tx') {
    const t = data as { hash: string; height: number; index: number; code: number; gas_used: number };
    const x = data as { contract?: string; events?: unknown[] };
    feed.tx({ ...t, contract: x.contract ?? null, events: x.events ?? [] });
  }
}

/** `path` from the first validator that is up and answers: [HTTP status, body]. */
async function read_up(network: DashboardNetwork, path: string): Promise<[number, unknown]> {
  const urls = network.urls();
  let last: [number, unknown] = [503, error_body('unavailable', 'no validator is up to ask')];
  for (let i = 0; i < urls.length; i++) {
    if (!network.is_running(i) || network.is_paused(i) || urls[i] === '' || urls[i] === undefined) continue;
    try {
      const answer = await fetch(`${urls[i]}${path}`, { signal: AbortSignal.timeout(PROXY_TIMEOUT_MS) });
      last = [answer.status, await answer.json()];
      if (answer.status < 500) return last;
    } catch (error) {
      last = [502, error_body('unavailable', `v${i}: ${(error as Error).message}`)];
    }
  }
  return last;
}

/** Whether a request's Host header names this server's loopback address and port. */
function host_allowed(given: string | undefined, host: string, port: number): boolean {
  if (given === undefined) return false;
  const names = host === '::1' ? ['[::1]', 'localhost'] : ['127.0.0.1', 'localhost'];
  return names.some((name) => given === `${name}:${port}`);
}

/** Passes a `/control/…` request to the control server, with the caller's Authorization header. */
async function forward_control(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  control: { url: string },
): Promise<void> {
  const body = await read_body(req);
  if (body === null) {
    send_json(res, 413, error_body('too_large', `the body is larger than ${BODY_BYTES_MAX} bytes`));
    return;
  }
  const method = req.method ?? 'GET';
  const answer = await fetch(`${control.url}${path}`, {
    method,
    headers: {
      authorization: req.headers.authorization ?? '',
      'content-type': 'application/json',
    },
    ...(method === 'GET' || method === 'HEAD' ? {} : { body }),
  });
  const text = await answer.text();
  res.writeHead(answer.status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}

function send_file(res: ServerResponse, body: Buffer, type: string): void {
  res.writeHead(200, {
    'content-type': type,
    'content-length': body.length,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

export type { FeedState };
