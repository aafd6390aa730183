/**
 * The SDK's HTTP transport for protocol.md §6: JSON requests to a list of nodes, moving on to the
 * next URL when one cannot be reached, typed errors for error answers
 * (`{"error": {"code", "message"}}`), and the live event stream `GET /v1/events`
 * (docs/protocol-notes.md). Browser-safe: only `fetch`, `AbortController`, `TextDecoder` and
 * `ReadableStream`, all injectable or standard.
 * @module
 */

import {
  BadAnswerError,
  ClientErrorCode,
  type CloisterError,
  ConnectionError,
  error_from_code,
} from './errors.js';

/** The clock and network an {@link RpcTransport} uses; tests inject their own. */
export interface TransportModules {
  /** WHATWG fetch (default `globalThis.fetch`). */
  fetch: typeof fetch;
  /** Milliseconds since some fixed origin (default `Date.now`). */
  now: () => number;
  /** Resolves after `ms` milliseconds, or at once when `signal` aborts; never rejects. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** `setTimeout`-based {@link TransportModules.sleep}. */
export function timer_sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Normalizes and checks one node URL: `http://` or `https://`, no trailing slash, no query. */
export function check_node_url(url: unknown): string {
  if (typeof url !== 'string') throw new TypeError('a node URL must be a string');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`node URL ${JSON.stringify(url)} is not a URL (e.g. http://127.0.0.1:26657)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new RangeError(`node URL ${JSON.stringify(url)} must start with http:// or https://`);
  if (parsed.search !== '' || parsed.hash !== '')
    throw new RangeError(`node URL ${JSON.stringify(url)} must not have a query or fragment`);
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
}

/** Options of one request. */
export interface RequestOptions {
  /** JSON body (POST). */
  body?: unknown;
  /** Deadline of the whole request, answer included. */
  timeout_ms: number;
  /** What was asked for, named in code-6 errors ("contract 1a2b…"). */
  context?: string;
}

/** Error codes of a connection closed under a request before any answer (Node's fetch, undici). */
const STALE_CONNECTION_CODES: ReadonlySet<unknown> = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/**
 * Whether a rejection of `fetch` is a connection that closed under the request before any answer
 * came: the kept-alive socket the request went out on had just been closed by the server (it
 * closes idle ones) or the server stalled past its keep-alive timeout with the request unread. In
 * that race the request was never read, so it is worth one more attempt, which goes out on a fresh
 * connection. (A node that failed while handling it looks the same; a transaction sent again is then
 * answered with its hash or refused by its sequence, never applied twice.) Node's fetch rejects with
 * a TypeError whose `cause.code` names it; browsers retry such requests themselves.
 */
export function is_stale_connection(error: unknown): boolean {
  if (!(error instanceof TypeError)) return false;
  const cause: unknown = error.cause;
  return (
    typeof cause === 'object' &&
    cause !== null &&
    STALE_CONNECTION_CODES.has((cause as { code?: unknown }).code)
  );
}

/** Why one attempt did not give an answer. */
class AttemptFailed extends Error {
  constructor(
    readonly timed_out: boolean,
    cause: unknown,
    /** Whether the answer's status and headers had come. */
    readonly answered = false,
  ) {
    super('attempt failed', { cause });
  }
}

/**
 * Error codes with which a node took nothing and another node may answer: 102 busy or stopping,
 * 108 halted. A request so refused goes to the next node.
 */
const SKIP_CODES: ReadonlySet<number> = new Set([ClientErrorCode.BUSY, ClientErrorCode.HALTED]);

/**
 * JSON requests to any of several nodes (protocol.md §6). A node that cannot be reached
 * (connection refused or reset, DNS failure, no answer in time) or answers 503 code 102 (busy,
 * stopping) or 108 (halted) is skipped for the next; the first that answers is preferred from
 * then on. A POST that timed out is not sent elsewhere: the node may have received it. A request
 * whose kept-alive connection closed under it before any answer ({@link is_stale_connection}) is
 * sent to the same node once more first.
 */
export class RpcTransport {
  readonly nodes: readonly string[];
  readonly #m: TransportModules;
  #preferred = 0;

  /**
   * @param opts.nodes node URLs, tried in order (at least one).
   * @param modules fetch, clock and timer.
   */
  constructor(opts: { nodes: readonly string[] }, modules: TransportModules) {
    if (!Array.isArray(opts.nodes)) throw new TypeError('nodes must be an array of URLs');
    if (opts.nodes.length === 0) throw new RangeError('name at least one node URL');
    this.nodes = Object.freeze(opts.nodes.map(check_node_url));
    this.#m = modules;
  }

  /** The URL requests go to first. */
  get current(): string {
    return this.nodes[this.#preferred]!;
  }

  async #attempt(
    url: string,
    init: RequestInit,
    timeout_ms: number,
  ): Promise<{ status: number; text: string }> {
    const abort = new AbortController();
    const stop_timer = new AbortController();
    let timed_out = false;
    void this.#m.sleep(timeout_ms, stop_timer.signal).then(() => {
      if (stop_timer.signal.aborted) return;
      timed_out = true;
      abort.abort();
    });
    let response: Response | undefined;
    try {
      response = await this.#m.fetch(url, { ...init, signal: abort.signal });
      return { status: response.status, text: await response.text() };
    } catch (error) {
      throw new AttemptFailed(timed_out, error, response !== undefined);
    } finally {
      stop_timer.abort();
    }
  }

  /** {@link RpcTransport.#attempt}, once more if a kept-alive connection closed under the first. */
  async #attempt_twice(
    url: string,
    init: RequestInit,
    timeout_ms: number,
  ): Promise<{ status: number; text: string }> {
    try {
      return await this.#attempt(url, init, timeout_ms);
    } catch (error) {
      const failed = error as AttemptFailed;
      if (failed.timed_out || failed.answered || !is_stale_connection(failed.cause)) throw error;
      return this.#attempt(url, init, timeout_ms);
    }
  }

  /**
   * Sends one request and returns the parsed JSON answer. Throws the typed error of the node's
   * error answer (see {@link error_from_code}), {@link ConnectionError} if no node answers, or
   * {@link BadAnswerError} if an answer is not JSON.
   */
  async request<T>(method: 'GET' | 'POST', path: string, opts: RequestOptions): Promise<T> {
    const init: RequestInit =
      opts.body === undefined
        ? { method }
        : { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(opts.body) };
    const tried: string[] = [];
    let last_cause: unknown;
    let refused: CloisterError | undefined;
    for (let i = 0; i < this.nodes.length; i++) {
      const index = (this.#preferred + i) % this.nodes.length;
      const node = this.nodes[index]!;
      tried.push(node);
      let answer: { status: number; text: string };
      try {
        answer = await this.#attempt_twice(`${node}${path}`, init, opts.timeout_ms);
      } catch (error) {
        const failed = error as AttemptFailed;
        if (method === 'POST' && failed.timed_out) {
          throw new ConnectionError([node], {
            node,
            cause: new Error(`no answer within ${opts.timeout_ms} ms; the request may have been received`),
          });
        }
        last_cause = failed.cause;
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(answer.text);
      } catch {
        throw new BadAnswerError(`HTTP ${answer.status} with a body that is not JSON`, {
          node,
          status: answer.status,
        });
      }
      if (answer.status >= 200 && answer.status < 300) {
        this.#preferred = index;
        return value as T;
      }
      const error = parse_error(value, answer.status, node, opts.context);
      if (SKIP_CODES.has(error.code)) {
        // Busy, stopping or halted: this node took nothing; another may.
        refused = error;
        continue;
      }
      this.#preferred = index;
      throw error;
    }
    if (refused !== undefined) throw refused;
    throw new ConnectionError(tried, { cause: last_cause });
  }

  /**
   * Opens the live stream `GET /v1/events` on the first node that answers and returns its body.
   * A node that refuses it as busy (503 code 102), halted (503 code 108) or because this client
   * holds too many streams there (429 code 110) is skipped for the next. Throws ConnectionError
   * if none can be reached, else the last such refusal or the node's other typed error. The
   * stream ends when `signal` aborts.
   */
  async open_stream(signal: AbortSignal): Promise<{ node: string; body: ReadableStream<Uint8Array> }> {
    const tried: string[] = [];
    let last_cause: unknown;
    let refused: CloisterError | undefined;
    for (let i = 0; i < this.nodes.length; i++) {
      const index = (this.#preferred + i) % this.nodes.length;
      const node = this.nodes[index]!;
      tried.push(node);
      let response: Response;
      try {
        response = await this.#m.fetch(`${node}/v1/events`, {
          headers: { accept: 'text/event-stream' },
          signal,
        });
      } catch (error) {
        if (signal.aborted) throw error;
        last_cause = error;
        continue;
      }
      if (!response.ok || response.body === null) {
        const text = await response.text().catch(() => '');
        let value: unknown = null;
        try {
          value = JSON.parse(text);
        } catch {
          // handled by parse_error
        }
        const error = parse_error(value, response.status, node, undefined);
        if (!SKIP_CODES.has(error.code) && error.code !== ClientErrorCode.TOO_MANY_STREAMS) throw error;
        refused = error;
        continue;
      }
      return { node, body: response.body };
    }
    if (refused !== undefined) throw refused;
    throw new ConnectionError(tried, { cause: last_cause });
  }
}

/** The typed error of an error answer `{"error": {"code", "message"}}` (protocol.md §6). */
function parse_error(
  value: unknown,
  status: number,
  node: string,
  context: string | undefined,
): CloisterError {
  const e = typeof value === 'object' && value !== null ? (value as { error?: unknown }).error : undefined;
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  const message = typeof e === 'object' && e !== null ? (e as { message?: unknown }).message : undefined;
  if (typeof code !== 'number' || typeof message !== 'string') {
    return new BadAnswerError(`HTTP ${status} without an {"error": {"code", "message"}} body`, {
      node,
      status,
    });
  }
  return error_from_code(code, message, context === undefined ? { status, node } : { status, node, context });
}

/** One server-sent event (docs/protocol-notes.md, "Live events"). */
export interface StreamEvent {
  type: string;
  data: string;
}

/**
 * Reads server-sent events (WHATWG HTML §9.2) from `body` until it ends: yields each event's type
 * (default `message`) and data lines joined by newlines; comments (`: live`, `: ping`) are skipped.
 */
export async function* read_events(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      // The node ends lines with \n alone (node/rpc/events.ts).
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let type = 'message';
        const data: string[] = [];
        for (const line of frame.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let rest = colon < 0 ? '' : line.slice(colon + 1);
          if (rest.startsWith(' ')) rest = rest.slice(1);
          if (field === 'event') type = rest;
          else if (field === 'data') data.push(rest);
        }
        if (data.length > 0) yield { type, data: data.join('\n') };
        end = buffer.indexOf('\n\n');
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
