/**
 * A small HTTP client for protocol.md §6, for the simulator's workload and tests: JSON requests
 * with a deadline, and the live event stream (`GET /v1/events`, server-sent events).
 * @module
 */

import { read_events } from '../client/sdk/rpc.js';

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

/** Sends one request; resolves with the JSON answer or rejects with RpcError. */
export async function rpc<T>(
  url: string,
  path: string,
  init: { method?: string; body?: unknown; timeout_ms?: number } = {},
): Promise<T> {
  const response = await fetch(`${url}${path}`, {
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
  const response = await fetch(`${url}/v1/events`, { signal, headers: { accept: 'text/event-stream' } });
  if (!response.ok || response.body === null)
    throw new RpcError(response.status, -1, 'cannot open the event stream');
  try {
    // The SDK's parser of the stream's frames (client/sdk/rpc.ts): one reading of the format.
    for await (const event of read_events(response.body)) fn(event.type, JSON.parse(event.data));
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}
