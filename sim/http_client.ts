/**
 * A small HTTP client for protocol.md §6, for the simulator's workload and tests: JSON requests
 * with a deadline, and the live event stream (`GET /v1/events`, server-sent events).
 * @module
 */

import { is_stale_connection, read_events } from '../client/sdk/rpc.js';

/** An RPC error answer: the HTTP status and protocol.md's `{"error": {"code", "message"}}`. */
export class RpcError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/** More attempts of one request whose kept-alive connection closed under it before any answer. */
const STALE_RETRIES = 2;

/**
 * `fetch`, sent again (at most {@link STALE_RETRIES} times) when the kept-alive connection it
 * went out on closed before any answer came (see the SDK's `is_stale_connection`): the server
 * closed the idle socket just as the request was written, or stalled past its keep-alive timeout
 * with the request unread; another attempt opens a fresh connection. A failure once the answer has
 * begun is never retried.
 */
export async function fetch_fresh(url: string, init: RequestInit): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetch(url, init);
    } catch (error) {
      if (attempt >= STALE_RETRIES || init.signal?.aborted === true || !is_stale_connection(error))
        throw error;
    }
  }
}

/**
 * Sends one request; resolves with the JSON answer or rejects with RpcError. A request whose
 * kept-alive connection closed under it is sent again ({@link fetch_fresh}); a transaction is never
 * applied twice (a node answers one it holds with its hash, and refuses a committed one's sequence).
 */
export async function rpc<T>(
  url: string,
  path: string,
  init: { method?: string; body?: unknown; timeout_ms?: number } = {},
): Promise<T> {
  const response = await fetch_fresh(`${url}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
    body:
      init.body === undefined
        ? undefined
        : typeof init.body === 'string'
          ? init.body
          : JSON.stringify(init.body),
    signal: AbortSignal.timeout(init.timeout_ms ?? 30_000),
  });
  const text = await response.text();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new RpcError(response.status, -1, `not JSON: ${text.slice(0, 200)}`);
  }
  if (!response.ok) {
    const e = (value as { error?: { code?: number; message?: string } }).error;
    throw new RpcError(response.status, e?.code ?? -1, e?.message ?? `HTTP ${response.status}`);
  }
  return value as T;
}

/** Subscribes to the live stream; calls `fn(type, data)` per event until the signal aborts. */
export async function subscribe(
  url: string,
  fn: (type: string, data: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  const response = await fetch_fresh(`${url}/v1/events`, {
    signal,
    headers: { accept: 'text/event-stream' },
  });
  if (!response.ok || response.body === null)
    throw new RpcError(response.status, -1, 'cannot open the event stream');
  try {
    // The SDK's parser of the stream's frames (client/sdk/rpc.ts): one reading of the format.
    for await (const event of read_events(response.body)) fn(event.type, JSON.parse(event.data));
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}
