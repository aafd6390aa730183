/**
 * A validator's admin channel: a unix socket, by default `<home>/admin.sock`, through which the
 * local harness (`cloister sim up --faults`, sim/network.ts) asks a node for its height and
 * partitions it from its peers. Never the public RPC: only processes of the same user that can
 * reach the socket file (mode 0600, in a folder of this user) may talk to it.
 *
 * Protocol: newline-delimited JSON, one request per line, one answer line per request, in order.
 *
 *   {"cmd":"status"}                       → {"ok":true,"height":H,"partition":null | [PUBKEY…]}
 *   {"cmd":"partition","allow":[PUBKEY…]}  → {"ok":true}   outgoing messages reach only these peers
 *   {"cmd":"heal"}                         → {"ok":true}   outgoing messages reach every peer again
 *   anything else                          → {"ok":false,"error":{"code":CODE,"message":TEXT}}
 *
 * A line longer than {@link ADMIN_LIMITS}.line_bytes_max is answered `too_large` and the
 * connection closed. A socket path longer than a unix socket address holds (104 bytes on macOS,
 * 108 on Linux, the final NUL included) cannot be bound: {@link admin_socket_path} then names one
 * under the OS temporary folder, in a folder of this user named by a hash of the home.
 * @module
 */

import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse_json_strict } from '../protocol/strict_json.js';
import type { Log } from './modules.js';
import { clear_stale_socket } from './unix_socket.js';

/** Bounds of the admin channel. */
export const ADMIN_LIMITS = Object.freeze({
  /** Longest request or answer line, bytes (newline excluded): room for allow_max peer keys. */
  line_bytes_max: 128 * 1024,
  /** Most peers one `partition` may allow. */
  allow_max: 1024,
  /** A connection silent this long is closed, ms. */
  idle_timeout_ms: 60_000,
  /** Connections served at once. */
  connections_max: 8,
  /** Longest socket path, bytes: macOS holds 103 plus the NUL (Linux 107). */
  socket_path_bytes_max: 103,
});

/** What the admin channel needs of a node. */
export interface AdminHandlers {
  /** The node's committed height. */
  height(): number;
  /**
   * Sets the filter of outgoing p2p messages (PeerNetwork.set_outgoing_filter): bodies for which it
   * returns false are dropped. Null removes it.
   */
  set_outgoing_filter(fn: ((to: string, body: unknown) => boolean) | null): void;
}

/** A request to the admin channel. */
export type AdminRequest = { cmd: 'status' } | { cmd: 'partition'; allow: string[] } | { cmd: 'heal' };

/** A successful answer. `height` and `partition` come with `status` only. */
export interface AdminReply {
  ok: true;
  height?: number;
  /** The peers a `partition` allows now, sorted; null when none is in force. */
  partition?: string[] | null;
}

/**
 * Why an admin call failed. From the server: `unknown_command`, `bad_request`, `too_large`,
 * `internal` (a handler threw). From the client: `unreachable` (no server at the path),
 * `timeout`, `bad_answer` (not an answer this protocol gives).
 */
export type AdminErrorCode =
  | 'unknown_command'
  | 'bad_request'
  | 'too_large'
  | 'internal'
  | 'unreachable'
  | 'timeout'
  | 'bad_answer';

/** A refused or failed admin request. */
export class AdminError extends Error {
  override readonly name = 'AdminError';

  /**
   * @param code what kind of failure.
   * @param message what happened.
   */
  constructor(
    readonly code: AdminErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A running admin server. */
export interface AdminServer {
  /** The socket's path. */
  readonly path: string;
  /** Stops listening, closes every connection and removes the socket file (idempotent). */
  close(): Promise<void>;
}

const PUBKEY = /^[0-9a-f]{64}$/;

/**
 * The admin socket of the node whose home is `home`: `<home>/admin.sock` (absolute), or, when that
 * path is too long for a unix socket, `<tmpdir>/cloister-admin-<16 hex of sha256(home)>/admin.sock`.
 * Pure apart from `log`, so the node and its harness compute the same path from the home.
 * `log`, if given, hears of the fallback (`admin_socket_fallback`, with `home` and `socket`).
 */
export function admin_socket_path(home: string, log?: Log): string {
  const absolute = resolve(home);
  const own = join(absolute, 'admin.sock');
  if (Buffer.byteLength(own) <= ADMIN_LIMITS.socket_path_bytes_max) return own;
  const hash = createHash('sha256').update(absolute).digest('hex').slice(0, 16);
  const socket = join(tmpdir(), `cloister-admin-${hash}`, 'admin.sock');
  log?.('admin_socket_fallback', { home: absolute, socket });
  return socket;
}

/** The request in `line`, checked; throws AdminError. */
function parse_request(line: string): AdminRequest {
  let value: unknown;
  try {
    value = parse_json_strict(line);
  } catch (error) {
    throw new AdminError('bad_request', `not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AdminError('bad_request', 'a request is a JSON object');
  }
  const request = value as Record<string, unknown>;
  const cmd = request.cmd;
  if (typeof cmd !== 'string') throw new AdminError('bad_request', 'a request names its cmd (a string)');
  const only = (...keys: string[]) => {
    for (const key of Object.keys(request)) {
      if (key !== 'cmd' && !keys.includes(key)) {
        throw new AdminError('bad_request', `${cmd} takes no ${JSON.stringify(key.slice(0, 40))}`);
      }
    }
  };
  switch (cmd) {
    case 'status':
    case 'heal':
      only();
      return { cmd };
    case 'partition': {
      only('allow');
      const allow = request.allow;
      if (!Array.isArray(allow))
        throw new AdminError('bad_request', 'partition takes allow: an array of peer keys');
      if (allow.length > ADMIN_LIMITS.allow_max) {
        throw new AdminError('bad_request', `partition allows at most ${ADMIN_LIMITS.allow_max} peers`);
      }
      const seen = new Set<string>();
      for (const key of allow) {
        if (typeof key !== 'string' || !PUBKEY.test(key)) {
          throw new AdminError('bad_request', 'each allowed peer is a public key of 64 lowercase hex');
        }
        if (seen.has(key)) throw new AdminError('bad_request', `peer ${key.slice(0, 16)}… is allowed twice`);
        seen.add(key);
      }
      return { cmd, allow: allow as string[] };
    }
    default:
      throw new AdminError(
        'unknown_command',
        `unknown command ${JSON.stringify(cmd.slice(0, 40))} (status, partition or heal)`,
      );
  }
}

/**
 * Starts the admin server on the unix socket `socket_path` (see {@link admin_socket_path}): creates
 * its folder (mode 0700) if missing, refuses a folder of another user, removes a stale socket file
 * (one no process serves), listens, and makes the socket mode 0600. Logs `admin` with `socket`.
 * Requests are answered by `handlers`; see this module's comment for the protocol.
 */
export async function start_admin(
  socket_path: string,
  handlers: AdminHandlers,
  log: Log,
): Promise<AdminServer> {
  if (Buffer.byteLength(socket_path) > ADMIN_LIMITS.socket_path_bytes_max) {
    throw new RangeError(
      `admin socket path ${socket_path} is longer than ${ADMIN_LIMITS.socket_path_bytes_max} bytes; use admin_socket_path`,
    );
  }
  const dir = dirname(socket_path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const owner = lstatSync(dir);
  if (!owner.isDirectory()) throw new Error(`${dir} is not a folder`);
  if (typeof process.getuid === 'function' && owner.uid !== process.getuid()) {
    throw new Error(`${dir} belongs to another user; refusing to put the admin socket there`);
  }
  await clear_stale_socket(socket_path, 'the admin socket', ' (is this node running already?)');

  let partition: string[] | null = null;
  const answer = (request: AdminRequest): AdminReply => {
    switch (request.cmd) {
      case 'status':
        return { ok: true, height: handlers.height(), partition };
      case 'partition': {
        const allowed = new Set(request.allow);
        handlers.set_outgoing_filter((to) => allowed.has(to));
        partition = [...allowed].sort();
        log('admin_partition', { allow: partition.map((k) => k.slice(0, 16)) });
        return { ok: true };
      }
      case 'heal':
        handlers.set_outgoing_filter(null);
        partition = null;
        log('admin_heal', {});
        return { ok: true };
    }
  };
  const reply = (line: string): string => {
    try {
      return JSON.stringify(answer(parse_request(line)));
    } catch (error) {
      const e =
        error instanceof AdminError
          ? error
          : new AdminError('internal', (error as Error)?.message ?? String(error));
      return JSON.stringify({ ok: false, error: { code: e.code, message: e.message } });
    }
  };

  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setTimeout(ADMIN_LIMITS.idle_timeout_ms, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    let pending: Buffer[] = [];
    let pending_bytes = 0;
    let refused = false;
    socket.on('data', (chunk: Buffer) => {
      let start = 0;
      while (!refused) {
        const nl = chunk.indexOf(0x0a, start);
        const part = chunk.subarray(start, nl === -1 ? chunk.length : nl);
        if (pending_bytes + part.length > ADMIN_LIMITS.line_bytes_max) {
          // Answer, and read no more from this connection.
          refused = true;
          pending = [];
          const message = `a request line is longer than ${ADMIN_LIMITS.line_bytes_max} bytes`;
          socket.end(`${JSON.stringify({ ok: false, error: { code: 'too_large', message } })}\n`);
          return;
        }
        if (nl === -1) {
          pending.push(part);
          pending_bytes += part.length;
          return;
        }
        const line = Buffer.concat([...pending, part])
          .toString('utf8')
          .trim();
        pending = [];
        pending_bytes = 0;
        start = nl + 1;
        if (line !== '') socket.write(`${reply(line)}\n`);
      }
    });
  });
  server.maxConnections = ADMIN_LIMITS.connections_max;
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(socket_path, () => {
      server.off('error', fail);
      done();
    });
  });
  chmodSync(socket_path, 0o600);
  server.on('error', (error) => log('admin_error', { error: error.message }));
  log('admin', { socket: socket_path });

  let closing: Promise<void> | null = null;
  return {
    path: socket_path,
    close() {
      closing ??= new Promise<void>((done) => {
        server.close(() => done());
        for (const socket of sockets) socket.destroy();
      }).then(() => {
        try {
          unlinkSync(socket_path);
        } catch {
          // Already gone (node's server removes it on close on some platforms).
        }
      });
      return closing;
    },
  };
}

/**
 * Sends one request to the admin socket at `socket_path` and resolves with its answer; rejects with
 * an {@link AdminError}: the server's refusal, or `unreachable`, `timeout` (after `timeout_ms`),
 * `bad_answer`.
 */
export function admin_call(
  socket_path: string,
  request: AdminRequest,
  timeout_ms = 5_000,
): Promise<AdminReply> {
  return new Promise<AdminReply>((resolve_call, reject) => {
    const socket = connect(socket_path);
    let settled = false;
    const finish = (error: AdminError | null, reply?: AdminReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error !== null) reject(error);
      else resolve_call(reply!);
    };
    const timer = setTimeout(
      () => finish(new AdminError('timeout', `no answer from ${socket_path} within ${timeout_ms} ms`)),
      timeout_ms,
    );
    socket.once('error', (error) =>
      finish(new AdminError('unreachable', `cannot reach ${socket_path}: ${error.message}`)),
    );
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    const chunks: Buffer[] = [];
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => {
      const nl = chunk.indexOf(0x0a);
      chunks.push(nl === -1 ? chunk : chunk.subarray(0, nl));
      bytes += chunk.length;
      if (nl === -1) {
        if (bytes > ADMIN_LIMITS.line_bytes_max) finish(new AdminError('bad_answer', 'answer too long'));
        return;
      }
      let answer: unknown;
      try {
        answer = parse_json_strict(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return finish(new AdminError('bad_answer', 'the answer is not JSON'));
      }
      const a = answer as { ok?: unknown; error?: { code?: unknown; message?: unknown } };
      if (a?.ok === true) return finish(null, answer as AdminReply);
      if (a?.ok === false && typeof a.error?.code === 'string' && typeof a.error.message === 'string') {
        return finish(new AdminError(a.error.code as AdminErrorCode, a.error.message));
      }
      finish(new AdminError('bad_answer', 'the answer is neither ok nor a typed error'));
    });
    socket.once('end', () =>
      finish(new AdminError('bad_answer', 'the server closed the connection without answering')),
    );
  });
}
