/**
 * The control plane of a running `cloister sim up`: a small HTTP server on loopback that steers
 * its {@link LocalNetwork} while it runs, with the same machinery fault manifests use (SIGKILL,
 * start again, SIGSTOP, SIGCONT, each validator's admin channel for partitions), and its load
 * generator (sim/load_generator.ts). The `cloister sim
 * status|stop|kill|restart|pause|resume|partition|heal|load` commands call it
 * (client/cli/sim_control.ts), and so can anything else that has the token: `sim up` writes
 * `{pid, url, token}` to `<dir>/control.json` (mode 0600) and removes it when it ends.
 *
 *   GET  /status                         → {validators: [ValidatorStatus…], partition: [[i…]…] | null, load: LoadStats | null}
 *   POST /stop                           → {ok, message}; then sim up stops its validators and exits 0
 *   POST /validators/{i}/kill            → SIGKILL (a crash)
 *   POST /validators/{i}/restart         → start again from its home; answers once it serves RPC
 *   POST /validators/{i}/pause           → SIGSTOP
 *   POST /validators/{i}/resume          → SIGCONT
 *   POST /partition  {"groups": [[0,1],[2,3]]}   a validator not listed is alone
 *   POST /heal
 *   GET  /load                           → LoadStats (404 when sim up runs no load generator)
 *   POST /load  {"rate": R}              → {ok, message: "load at R tx/s", load: LoadStats}
 *
 * Every request needs `Authorization: Bearer <token>` (compared in constant time; 401 otherwise).
 * Errors are `{"error": {"code", "message"}}`: 400 `bad_request`, 401 `unauthorized`, 404
 * `not_found` / `unknown_validator`, 405 `method_not_allowed`, 409 `conflict` (the validator is not
 * in a state the action applies to: down already, not paused, no partition…; a load generator
 * that has stopped), 413 `too_large`,
 * 503 `stopping`, 500 `failed` (the action itself failed, e.g. a restart that did not start).
 * Actions run one at a time, in the order they arrive.
 * @module
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { LoadStats } from './load_generator.js';
import {
  BODY_BYTES_MAX,
  check_loopback,
  error_body,
  listen_loopback,
  read_body,
  send_json,
} from './loopback_http.js';
import { partition_problem } from './network.js';

/** What the control server needs of a network: the part of LocalNetwork it steers. */
export interface ControlledNetwork {
  readonly homes: readonly string[];
  /** RPC URLs of the validators running now, by index ('' when down). */
  urls(): string[];
  pid(i: number): number | undefined;
  is_running(i: number): boolean;
  is_paused(i: number): boolean;
  partition_groups(): number[][] | null;
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  start(i: number): Promise<string>;
  pause(i: number): void;
  resume(i: number): Promise<void>;
  partition(groups: readonly (readonly number[])[]): Promise<void>;
  heal(): Promise<void>;
}

/** A validator's state as the control plane sees it. */
export type ValidatorState = 'up' | 'down' | 'paused' | 'partitioned';

/** One validator in `GET /status`. */
export interface ValidatorStatus {
  index: number;
  name: string;
  /** Its process id, null when down. */
  pid: number | null;
  /** Its RPC URL, null when down. */
  rpc: string | null;
  /** `partitioned`: running, not paused, while a partition is in force (see `group`). */
  state: ValidatorState;
  /** The indices it reaches while a partition is in force (itself included), else null. */
  group: number[] | null;
  /** Its committed height from its RPC (`GET /v1/status`); null when down, paused or not answering. */
  height: number | null;
}

/** `GET /status`. */
export interface ControlStatus {
  validators: ValidatorStatus[];
  partition: number[][] | null;
  /** The load generator's numbers; null when sim up runs none. */
  load: LoadStats | null;
}

/** What the control server needs of a load generator: the part of LoadGenerator it steers. */
export interface LoadControl {
  /** Transactions per second; a RangeError for a rate it does not take. */
  set_rate(rate: number): void;
  stats(): LoadStats;
}

/** `POST /load`. */
export interface LoadAnswer {
  ok: true;
  /** `load at R tx/s`. */
  message: string;
  load: LoadStats;
}

/** The actions on one validator. */
export const VALIDATOR_ACTIONS = ['kill', 'restart', 'pause', 'resume'] as const;
/** One of {@link VALIDATOR_ACTIONS}. */
export type ValidatorAction = (typeof VALIDATOR_ACTIONS)[number];

/** Options of {@link start_control_server}. */
export interface ControlServerOptions {
  network: ControlledNetwork;
  /** The load generator `GET|POST /load` steer (without one, `/load` answers 404). */
  load?: LoadControl;
  /** Loopback only: 127.0.0.1 (default) or ::1. */
  host?: string;
  /** 0 (default): the system chooses. */
  port?: number;
  /** The bearer token (default: 32 random bytes, hex). */
  token?: string;
  /** `POST /stop`: called once, after the answer is sent. */
  on_stop: () => void;
  /** Hears each action once done, in words (`v2 killed`). */
  on_action?: (message: string) => void;
  /** A validator's height from its RPC URL (default: `GET /v1/status`, 1 s), null if it does not answer. */
  height?: (url: string) => Promise<number | null>;
}

/** A running control server. */
export interface ControlServer {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly token: string;
  close(): Promise<void>;
}

/** How long `GET /status` waits for a validator's height, ms. */
const HEIGHT_TIMEOUT_MS = 1000;

/** An answer other than 200: an HTTP status and a code, with a message for people. */
export class ControlError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A validator's committed height by `GET {url}/v1/status`, null if it does not answer in time. */
export async function rpc_height(url: string): Promise<number | null> {
  const status = await rpc_status(url);
  return typeof status?.['height'] === 'number' ? status['height'] : null;
}

/** A validator's `GET {url}/v1/status` answer, null if it does not answer (200, JSON) within a second. */
export async function rpc_status(url: string): Promise<Record<string, unknown> | null> {
  try {
    const answer = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(HEIGHT_TIMEOUT_MS) });
    if (!answer.ok) return null;
    const body: unknown = await answer.json();
    return typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Whether `given` is the token, in time that does not depend on where they differ. */
export function token_matches(given: string, token: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(token));
}

/** Starts the control server on loopback; resolves once it listens. */
export async function start_control_server(opts: ControlServerOptions): Promise<ControlServer> {
  const host = check_loopback(opts.host ?? '127.0.0.1', 'control server');
  const token = opts.token ?? randomBytes(32).toString('hex');
  const network = opts.network;
  const height = opts.height ?? rpc_height;
  const n = network.homes.length;
  let stopping = false;
  // Actions one at a time: each waits for the one before it.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => {});
    return next;
  };

  const status = async (): Promise<ControlStatus> => {
    const groups = network.partition_groups();
    const urls = network.urls();
    const validators = await Promise.all(
      network.homes.map(async (_, i): Promise<ValidatorStatus> => {
        const running = network.is_running(i);
        const paused = running && network.is_paused(i);
        const group = groups === null ? null : (groups.find((g) => g.includes(i)) ?? [i]);
        const state: ValidatorState = !running
          ? 'down'
          : paused
            ? 'paused'
            : groups !== null
              ? 'partitioned'
              : 'up';
        const url = running && urls[i] !== '' && urls[i] !== undefined ? urls[i] : null;
        return {
          index: i,
          name: `v${i}`,
          pid: running ? (network.pid(i) ?? null) : null,
          rpc: url,
          state,
          group,
          height: url !== null && !paused ? await height(url) : null,
        };
      }),
    );
    return { validators, partition: groups, load: opts.load?.stats() ?? null };
  };

  const validator_action = async (i: number, action: ValidatorAction): Promise<string> => {
    const name = `v${i}`;
    switch (action) {
      case 'kill':
        if (!network.is_running(i)) throw new ControlError(409, 'conflict', `${name} is down already`);
        await network.kill(i, 'SIGKILL');
        return `${name} killed (SIGKILL)`;
      case 'restart': {
        if (network.is_running(i))
          throw new ControlError(
            409,
            'conflict',
            `${name} is running${network.is_paused(i) ? ' (paused)' : ''}: kill it first`,
          );
        const url = await network.start(i);
        return `${name} restarted: ${url} (pid ${network.pid(i)})`;
      }
      case 'pause':
        if (!network.is_running(i))
          throw new ControlError(409, 'conflict', `${name} is down: nothing to pause`);
        if (network.is_paused(i)) throw new ControlError(409, 'conflict', `${name} is paused already`);
        network.pause(i);
        return `${name} paused (SIGSTOP)`;
      case 'resume':
        if (!network.is_running(i))
          throw new ControlError(409, 'conflict', `${name} is down: nothing to resume`);
        if (!network.is_paused(i)) throw new ControlError(409, 'conflict', `${name} is not paused`);
        await network.resume(i);
        return `${name} resumed (SIGCONT)`;
    }
  };

  const route = async (req: IncomingMessage): Promise<unknown> => {
    const path = new URL(req.url ?? '/', 'http://control').pathname;
    const method = req.method ?? 'GET';
    const want = (m: string) => {
      if (method !== m)
        throw new ControlError(405, 'method_not_allowed', `${path} takes ${m}, not ${method}`);
    };
    if (path === '/status') {
      want('GET');
      return status();
    }
    if (stopping && method === 'POST') throw new ControlError(503, 'stopping', 'sim up is stopping');
    if (path === '/stop') {
      want('POST');
      stopping = true;
      return { ok: true, message: 'stopping every validator; sim up then exits' };
    }
    const m = /^\/validators\/([^/]+)\/([^/]+)$/.exec(path);
    if (m !== null) {
      want('POST');
      const action = m[2] as ValidatorAction;
      if (!VALIDATOR_ACTIONS.includes(action))
        throw new ControlError(
          404,
          'not_found',
          `no action ${m[2]} (one of ${VALIDATOR_ACTIONS.join(', ')})`,
        );
      const i = /^\d{1,4}$/.test(m[1]!) ? Number(m[1]) : -1;
      if (i < 0 || i >= n)
        throw new ControlError(404, 'unknown_validator', `no validator ${m[1]} (validators 0..${n - 1})`);
      const message = await serial(() => validator_action(i, action));
      return { ok: true, message };
    }
    if (path === '/partition') {
      want('POST');
      const body = (await read_json(req)) as { groups?: unknown } | null;
      const groups = body?.groups;
      const problem = partition_problem(groups, n);
      if (problem !== null) throw new ControlError(400, 'bad_request', problem);
      const g = groups as number[][];
      await serial(() => network.partition(g));
      return { ok: true, message: `partitioned: ${describe_groups(g, n)}` };
    }
    if (path === '/load') return load_route(req, method, opts.load);
    if (path === '/heal') {
      want('POST');
      await serial(async () => {
        if (network.partition_groups() === null)
          throw new ControlError(409, 'conflict', 'no partition is in force');
        await network.heal();
      });
      return { ok: true, message: 'healed: every validator reaches every other' };
    }
    throw new ControlError(
      404,
      'not_found',
      `no ${method} ${path} (GET /status, /load; POST /stop, /validators/{i}/{${VALIDATOR_ACTIONS.join('|')}}, /partition, /heal, /load)`,
    );
  };

  const server = createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : '';
    if (!token_matches(given, token)) {
      req.resume();
      send_json(
        res,
        401,
        error_body(
          'unauthorized',
          given === ''
            ? 'missing Authorization: Bearer <token> (the token is in <dir>/control.json)'
            : 'wrong token (the token is in <dir>/control.json)',
        ),
      );
      return;
    }
    route(req).then(
      (answer) => {
        send_json(res, 200, answer);
        const message = (answer as { message?: unknown }).message;
        if (typeof message === 'string') opts.on_action?.(message);
        if (req.url !== undefined && new URL(req.url, 'http://control').pathname === '/stop')
          res.once('finish', () => opts.on_stop());
      },
      (error: unknown) => {
        if (error instanceof ControlError)
          send_json(res, error.status, error_body(error.code, error.message));
        else send_json(res, 500, error_body('failed', (error as Error).message));
      },
    );
  });
  server.keepAliveTimeout = 1000;
  const { url } = await listen_loopback(server, host, opts.port ?? 0);
  return {
    url,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * `GET /load`: the generator's numbers; `POST /load {"rate": R}`: sets its rate. 404 without a
 * generator, 400 for a body or rate it does not take, 409 when it refuses otherwise (stopped).
 */
async function load_route(
  req: IncomingMessage,
  method: string,
  load: LoadControl | undefined,
): Promise<LoadStats | LoadAnswer> {
  if (method !== 'GET' && method !== 'POST')
    throw new ControlError(405, 'method_not_allowed', `/load takes GET or POST, not ${method}`);
  if (load === undefined) throw new ControlError(404, 'not_found', 'this sim up runs no load generator');
  if (method === 'GET') return load.stats();
  const body = (await read_json(req)) as { rate?: unknown } | null;
  const rate = typeof body === 'object' && body !== null && !Array.isArray(body) ? body.rate : undefined;
  if (typeof rate !== 'number')
    throw new ControlError(
      400,
      'bad_request',
      'the body must be {"rate": R}, R transactions per second (e.g. {"rate": 50}; 0 pauses)',
    );
  try {
    load.set_rate(rate);
  } catch (error) {
    if (error instanceof RangeError) throw new ControlError(400, 'bad_request', error.message);
    throw new ControlError(409, 'conflict', (error as Error).message);
  }
  return { ok: true, message: `load at ${rate} tx/s`, load: load.stats() };
}

/** A partition in words: `[0,1] [2,3]`, isolated validators each alone. */
export function describe_groups(groups: readonly (readonly number[])[], validators: number): string {
  const listed = new Set(groups.flat());
  const alone = Array.from({ length: validators }, (_, i) => i).filter((i) => !listed.has(i));
  return [...groups.map((g) => `[${g.join(',')}]`), ...alone.map((i) => `[${i}]`)].join(' ');
}

/** The request's JSON body (null when empty); a ControlError for one too large or not JSON. */
async function read_json(req: IncomingMessage): Promise<unknown> {
  const body = await read_body(req);
  if (body === null)
    throw new ControlError(413, 'too_large', `the body is larger than ${BODY_BYTES_MAX} bytes`);
  const text = body.toString('utf8').trim();
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new ControlError(
      400,
      'bad_request',
      'the body is not JSON (e.g. {"groups": [[0,1],[2,3]]} or {"rate": 50})',
    );
  }
}

/** What `<dir>/control.json` holds while `sim up` runs. */
export interface ControlFile {
  pid: number;
  url: string;
  token: string;
}

/** The control file of network folder `dir`. */
export function control_file_path(dir: string): string {
  return join(dir, 'control.json');
}

/**
 * Writes `<dir>/control.json` readable by its owner only (mode 0600 from creation: a file left by
 * an earlier run is removed first, never rewritten in place).
 */
export function write_control_file(dir: string, info: ControlFile): string {
  const path = control_file_path(dir);
  rmSync(path, { force: true });
  writeFileSync(path, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return path;
}

/** Removes `<dir>/control.json` if it is still the one holding `token` (another run may own it now). */
export function remove_control_file(dir: string, token: string): void {
  const path = control_file_path(dir);
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as Partial<ControlFile>;
    if (info.token === token) unlinkSync(path);
  } catch {
    // Gone already, or not ours.
  }
}

/** Whether a process with this id runs now (one of another user counts). */
export function pid_alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
