/**
 * The admin channel of a node (node/admin.ts): status, partition and heal over a unix socket,
 * typed refusals, the size cap, stale and foreign socket files, the socket's mode, the fallback
 * path for a long home, and the client's timeout.
 */

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ADMIN_LIMITS,
  AdminError,
  type AdminHandlers,
  admin_call,
  admin_socket_path,
  start_admin,
} from '../../node/admin.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

type Filter = ((to: string, body: unknown) => boolean) | null;

let home: string;
let closers: (() => Promise<void> | void)[];
let events: { event: string; fields: Record<string, unknown> }[];
const log = (event: string, fields: Record<string, unknown>) => events.push({ event, fields });

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'cloister-admin-test-'));
  closers = [];
  events = [];
});
afterEach(async () => {
  for (const close of closers.reverse()) await close();
  rmSync(home, { recursive: true, force: true });
});

/** A node's handlers: a height and the filter last set. */
function fake_node(height = 7): { height: number; filter: Filter; handlers: AdminHandlers } {
  const node: { height: number; filter: Filter; handlers: AdminHandlers } = {
    height,
    filter: null as Filter,
    handlers: {
      height: () => node.height,
      set_outgoing_filter: (fn: Filter) => {
        node.filter = fn;
      },
    },
  };
  return node;
}

async function started(handlers: AdminHandlers, path = admin_socket_path(home)) {
  const server = await start_admin(path, handlers, log);
  closers.push(() => server.close());
  return server;
}

/** The AdminError `promise` rejects with. */
async function refusal(promise: Promise<unknown>): Promise<AdminError> {
  const error = await promise.then(
    () => {
      throw new Error('the call succeeded');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AdminError);
  return error as AdminError;
}

/** Writes raw bytes to the socket and collects everything it answers until it closes or `lines` arrive. */
function raw(path: string, data: string, lines: number): Promise<{ answers: unknown[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let text = '';
    const answers = () => text.split('\n').filter((l) => l !== '');
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (answers().length >= lines) {
        socket.destroy();
        resolve({ answers: answers().map((l) => JSON.parse(l)), closed: false });
      }
    });
    socket.on('end', () => resolve({ answers: answers().map((l) => JSON.parse(l)), closed: true }));
    socket.write(data);
  });
}

describe('admin channel', () => {
  it('answers status with the height, partitions and heals the outgoing filter', async () => {
    const node = fake_node(7);
    const server = await started(node.handlers);
    expect(server.path).toBe(join(home, 'admin.sock'));
    expect(events).toContainEqual({ event: 'admin', fields: { socket: server.path } });
    expect(await admin_call(server.path, { cmd: 'status' })).toEqual({
      ok: true,
      height: 7,
      partition: null,
    });
    node.height = 12;
    expect((await admin_call(server.path, { cmd: 'status' })).height).toBe(12);

    expect(await admin_call(server.path, { cmd: 'partition', allow: [B, A] })).toEqual({ ok: true });
    expect(node.filter).not.toBeNull();
    expect(node.filter!(A, {})).toBe(true);
    expect(node.filter!(B, { any: 'body' })).toBe(true);
    expect(node.filter!(C, {})).toBe(false);
    expect(await admin_call(server.path, { cmd: 'status' })).toEqual({
      ok: true,
      height: 12,
      partition: [A, B],
    });

    // A partition that allows nobody isolates the node.
    await admin_call(server.path, { cmd: 'partition', allow: [] });
    expect(node.filter!(A, {})).toBe(false);

    expect(await admin_call(server.path, { cmd: 'heal' })).toEqual({ ok: true });
    expect(node.filter).toBeNull();
    expect((await admin_call(server.path, { cmd: 'status' })).partition).toBeNull();
  });

  it('makes the socket mode 0600 and removes it on close', async () => {
    const server = await started(fake_node().handlers);
    expect(statSync(server.path).mode & 0o777).toBe(0o600);
    await server.close();
    await server.close();
    expect(existsSync(server.path)).toBe(false);
    expect((await refusal(admin_call(server.path, { cmd: 'status' }))).code).toBe('unreachable');
  });

  it('refuses unknown commands and bad requests with typed errors', async () => {
    const server = await started(fake_node().handlers);
    const cases: [unknown, string, string][] = [
      [{ cmd: 'crash' }, 'unknown_command', 'unknown command "crash" (status, partition or heal)'],
      [{ cmd: 7 }, 'bad_request', 'a request names its cmd (a string)'],
      [{}, 'bad_request', 'a request names its cmd (a string)'],
      [[], 'bad_request', 'a request is a JSON object'],
      [{ cmd: 'status', height: 3 }, 'bad_request', 'status takes no "height"'],
      [{ cmd: 'partition' }, 'bad_request', 'partition takes allow: an array of peer keys'],
      [
        { cmd: 'partition', allow: ['AB'] },
        'bad_request',
        'each allowed peer is a public key of 64 lowercase hex',
      ],
      [
        { cmd: 'partition', allow: [A.toUpperCase()] },
        'bad_request',
        'each allowed peer is a public key of 64 lowercase hex',
      ],
      [{ cmd: 'partition', allow: [A, A] }, 'bad_request', 'peer aaaaaaaaaaaaaaaa… is allowed twice'],
      [
        { cmd: 'partition', allow: Array.from({ length: 1025 }, (_, i) => i.toString(16).padStart(64, '0')) },
        'bad_request',
        'partition allows at most 1024 peers',
      ],
    ];
    for (const [request, code, message] of cases) {
      const error = await refusal(admin_call(server.path, request as never));
      expect([error.code, error.message]).toEqual([code, message]);
    }
    // Text that is not JSON, or JSON with a repeated key, on one connection: answered in order.
    const { answers } = await raw(
      server.path,
      '{"cmd":\n{"cmd":"status","cmd":"heal"}\n\n{"cmd":"status"}\n',
      3,
    );
    expect(answers).toEqual([
      { ok: false, error: { code: 'bad_request', message: expect.stringMatching(/^not JSON: /) } },
      {
        ok: false,
        error: { code: 'bad_request', message: 'not JSON: duplicate key "cmd" in a JSON object' },
      },
      { ok: true, height: 7, partition: null },
    ]);
  });

  it('answers a handler that throws as internal', async () => {
    const server = await started({
      height: () => {
        throw new Error('store closed');
      },
      set_outgoing_filter: () => {},
    });
    const error = await refusal(admin_call(server.path, { cmd: 'status' }));
    expect([error.code, error.message]).toEqual(['internal', 'store closed']);
  });

  it('refuses a line over the cap and closes the connection; a line at the cap is read', async () => {
    const node = fake_node();
    const server = await started(node.handlers);
    // Split across writes, the cap counts the whole line.
    const at_cap = `{"cmd":"status"}${' '.repeat(ADMIN_LIMITS.line_bytes_max - 16)}\n`;
    expect(await raw(server.path, at_cap, 1)).toEqual({
      answers: [{ ok: true, height: 7, partition: null }],
      closed: false,
    });
    const over = `{"cmd":"status"}${' '.repeat(ADMIN_LIMITS.line_bytes_max - 15)}\n{"cmd":"heal"}\n`;
    node.filter = () => false;
    const { answers, closed } = await raw(server.path, over, 2);
    expect(closed).toBe(true);
    expect(answers).toEqual([
      { ok: false, error: { code: 'too_large', message: 'a request line is longer than 131072 bytes' } },
    ]);
    // The request after the refused line was not run.
    expect(node.filter).not.toBeNull();
  });

  it('replaces a stale socket file, refuses a served one and a file that is not a socket', async () => {
    const path = admin_socket_path(home);
    // A process that held the socket and died by SIGKILL leaves the file behind.
    const child = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
    ]);
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await gone;
    expect(statSync(path).isSocket()).toBe(true);
    const server = await started(fake_node(3).handlers, path);
    expect((await admin_call(path, { cmd: 'status' })).height).toBe(3);

    await expect(start_admin(path, fake_node().handlers, log)).rejects.toThrow(
      `another process serves the admin socket ${path} (is this node running already?)`,
    );
    await server.close();
    writeFileSync(path, 'not a socket');
    await expect(start_admin(path, fake_node().handlers, log)).rejects.toThrow(
      `${path} exists and is not a socket; refusing to replace it`,
    );
  });

  it('falls back to a private folder under the temporary folder for a long home', async () => {
    const long_home = join(home, 'x'.repeat(120));
    const path = admin_socket_path(long_home, log);
    expect(path).toMatch(/cloister-admin-[0-9a-f]{16}[/\\]admin\.sock$/);
    expect(path.startsWith(tmpdir())).toBe(true);
    expect(admin_socket_path(long_home)).toBe(path);
    expect(admin_socket_path(`${long_home}y`)).not.toBe(path);
    expect(events).toEqual([{ event: 'admin_socket_fallback', fields: { home: long_home, socket: path } }]);
    closers.push(() => rmSync(dirname(path), { recursive: true, force: true }));
    const server = await started(fake_node(5).handlers, path);
    expect(statSync(dirname(path)).mode & 0o777).toBe(0o700);
    expect((await admin_call(path, { cmd: 'status' })).height).toBe(5);
    await server.close();
    await expect(start_admin(join(long_home, 'admin.sock'), fake_node().handlers, log)).rejects.toThrow(
      RangeError,
    );
  });

  it('times out on a server that never answers', async () => {
    const path = join(home, 'mute.sock');
    // It reads what it is sent (so it sees the client leave) and never answers.
    const mute = createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => mute.listen(path, resolve));
    closers.push(() => new Promise<void>((resolve) => mute.close(() => resolve())));
    const error = await refusal(admin_call(path, { cmd: 'status' }, 200));
    expect([error.code, error.message]).toEqual(['timeout', `no answer from ${path} within 200 ms`]);
  });
});
