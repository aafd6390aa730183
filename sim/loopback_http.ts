/**
 * What the HTTP servers of `sim up` share (the control server, sim/control_server.ts, and the
 * dashboard, sim/dashboard/server.ts): they listen on loopback only, and answer JSON.
 * @module
 */

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The loopback addresses a `sim up` server may listen on. */
export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', '::1'];

/** `host` if it is a loopback address; a RangeError naming `what` otherwise. */
export function check_loopback(host: string, what: string): string {
  if (!LOOPBACK_HOSTS.includes(host))
    throw new RangeError(`the ${what} listens on loopback only (127.0.0.1 or ::1), not ${host}`);
  return host;
}

/**
 * Listens on `host:port` (port 0: the system chooses); resolves with its base URL
 * (`http://127.0.0.1:PORT`, IPv6 in brackets, no trailing slash) and port, once it listens.
 */
export async function listen_loopback(
  server: Server,
  host: string,
  port: number,
): Promise<{ url: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { url: `http://${shown}:${address.port}`, port: address.port };
}

/** Answers `body` as JSON with `status`, never cached. */
export function send_json(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** The error body of every `sim up` server: `{"error": {"code", "message"}}`. */
export function error_body(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

/** Largest request body a `sim up` server reads, bytes. */
export const BODY_BYTES_MAX = 64 * 1024;

/** A request's whole body, or null once it passes `bytes_max` (the rest is not read). */
export async function read_body(req: IncomingMessage, bytes_max = BODY_BYTES_MAX): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req) {
    bytes += (chunk as Buffer).length;
    if (bytes > bytes_max) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
