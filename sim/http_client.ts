/**
 * A small HTTP client for protocol.md §6, for the simulator's workload and tests: JSON requests
 * with a deadline, and the live event stream (`GET /v1/events`, server-sent events).
 * @module
 */

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
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let type = 'message';
        const data: string[] = [];
        for (const line of frame.split('\n')) {
          if (line.startsWith('event:')) type = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
        }
        if (data.length > 0) fn(type, JSON.parse(data.join('\n')));
        end = buffer.indexOf('\n\n');
      }
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}
