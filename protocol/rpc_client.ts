/**
 * The one client of protocol.md §6 (HTTP/1.1, JSON bodies): JSON requests to a list of nodes,
 * moving on to the next when one cannot be reached or refuses as busy or halted, error answers
 * `{"error": {"code", "message"}}` as typed errors carrying that code, and the live event stream
 * `GET /v1/events` (docs/protocol-notes.md "Live events"). The SDK (client/sdk/rpc.ts, which maps
 * errors to its own classes), followers and joining nodes (node/), the simulator's workload and the
 * benchmarks all use it. Browser-safe: only `fetch`, `AbortController`, `TextDecoder` and
 * `ReadableStream`, all standard or injected.
 * @module
 */

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

/** The standard modules: the platform's fetch, `Date.now` and {@link timer_sleep}. */
export function default_modules(): TransportModules {
  return { fetch: (input, init) => globalThis.fetch(input, init), now: () => Date.now(), sleep: timer_sleep };
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

// ---- errors ---------------------------------------------------------------------------------

/** RPC codes (docs/protocol-notes.md "Error codes") with which a node took nothing and another may answer. */
export const RpcCode = {
  /** 503: mempool full, too many requests or streams, node stopping. */
  BUSY: 102,
  /** 503: the node halted; another node may take the request. */
  HALTED: 108,
  /** 429: this address holds as many live streams on the node as it may. */
  TOO_MANY_STREAMS: 110,
} as const;

/** The `code` of an {@link RpcError} for an answer that does not have protocol.md §6's shape. */
export const RPC_BAD_ANSWER_CODE = -1;

/**
 * A node's error answer (protocol.md §6 `{"error": {"code", "message"}}`): the HTTP status, the
 * code (a §5 result code, or the RPC's own ≥ 100) and the node's message; or an answer without
 * that shape, with code {@link RPC_BAD_ANSWER_CODE}.
 */
export class RpcError extends Error {
  override name = 'RpcError';
  /**
   * @param status the answer's HTTP status.
   * @param code the §6 error code, or {@link RPC_BAD_ANSWER_CODE}.
   * @param message the node's message, or what was wrong with the answer.
   * @param node the node that answered.
   */
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly node?: string,
  ) {
    super(message);
  }
}

/** No node answered: `tried` lists the URLs in order; `cause` is the last failure. */
export class RpcUnreachableError extends Error {
  override name = 'RpcUnreachableError';
  /**
   * @param tried the node URLs tried, in order.
   * @param cause the last failure (a fetch rejection, or a deadline that passed).
   */
  constructor(
    readonly tried: readonly string[],
    cause?: unknown,
  ) {
    super(`no node answered (tried ${tried.join(', ')})`, cause === undefined ? undefined : { cause });
  }
}

/** What an error answer came with, for an {@link RpcErrorFactory}. */
export interface AnswerInfo {
  /** HTTP status of the answer. */
  status: number;
  /** The node that answered. */
  node: string;
  /** What was asked for, as the caller named it (the SDK names it in code-6 errors). */
  context?: string;
  /** Seconds the node asks the client to wait, from its `Retry-After` header (429, 503), if any. */
  retry_after_s?: number;
}

/**
 * How a transport reports failures. The default ({@link RPC_ERRORS}) gives {@link RpcError} and
 * {@link RpcUnreachableError}; the SDK passes its own typed errors (client/sdk/errors.ts).
 */
export interface RpcErrorFactory {
  /** A node's error answer with its §6 code and message. */
  answer(code: number, message: string, info: AnswerInfo): Error & { readonly code: number };
  /** An answer that is not JSON, or an error answer without the §6 body. */
  bad_answer(what: string, info: { status: number; node: string }): Error;
  /** No node answered; `info.node` is set when one node received the request and did not answer in time. */
  unreachable(tried: readonly string[], info: { node?: string; cause?: unknown }): Error;
}

/** The default {@link RpcErrorFactory}: {@link RpcError} and {@link RpcUnreachableError}. */
export const RPC_ERRORS: RpcErrorFactory = Object.freeze({
  answer: (code: number, message: string, info: AnswerInfo) =>
    new RpcError(info.status, code, message, info.node),
  bad_answer: (what: string, info: { status: number; node: string }) =>
    new RpcError(info.status, RPC_BAD_ANSWER_CODE, what, info.node),
  unreachable: (tried: readonly string[], info: { cause?: unknown }) =>
    new RpcUnreachableError(tried, info.cause),
});

/**
 * The seconds of a `Retry-After` header (RFC 9110 §10.2.3): delay-seconds, or an HTTP date counted
 * from `now_ms`; undefined when absent or not either form.
 */
export function parse_retry_after(value: string | null | undefined, now_ms: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^[0-9]{1,10}$/.test(text)) return Number(text);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now_ms) / 1000));
}

// ---- stale kept-alive connections -----------------------------------------------------------

/** Error codes of a connection closed under a request before any answer (Node's fetch, undici). */
const STALE_CONNECTION_CODES: ReadonlySet<unknown> = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);
/** More attempts of one request whose kept-alive connection closed under it before any answer. */
const STALE_RETRIES = 2;

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

/**
 * `fetch`, sent again (at most twice) when the kept-alive connection it went out on closed before
 * any answer came ({@link is_stale_connection}); another attempt opens a fresh connection. Any
 * other failure, an aborted signal, or a failure once the answer has begun is never retried.
 */
export async function fetch_fresh(
  url: string,
  init: RequestInit,
  fetch_fn: typeof fetch = (input, options) => globalThis.fetch(input, options),
): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetch_fn(url, init);
    } catch (error) {
      if (attempt >= STALE_RETRIES || init.signal?.aborted === true || !is_stale_connection(error))
        throw error;
    }
  }
}

// ---- the transport --------------------------------------------------------------------------

/** Options of one request. */
export interface RequestOptions {
  /** JSON body (POST), sent as `JSON.stringify(body)`. */
  body?: unknown;
  /** A body already JSON text (POST), sent exactly as given: a transaction's signed text. */
  text?: string;
  /** Deadline of the whole request, answer included. */
  timeout_ms: number;
  /** What was asked for, handed to the error factory ("contract 1a2b…"). */
  context?: string;
}

/** Why one attempt did not give an answer. */
class AttemptFailed extends Error {
  constructor(
    readonly timed_out: boolean,
    cause: unknown,
  ) {
    super('attempt failed', { cause });
  }
}

/** Codes with which a node took nothing and another node may answer: the request goes to the next. */
const SKIP_CODES: ReadonlySet<number> = new Set([RpcCode.BUSY, RpcCode.HALTED]);

/**
 * JSON requests to any of several nodes (protocol.md §6). A node that cannot be reached
 * (connection refused or reset, DNS failure, no answer in time) or answers 503 code 102 (busy,
 * stopping) or 108 (halted) is skipped for the next; the first that answers is preferred from
 * then on. A POST that timed out is not sent elsewhere: the node may have received it. A request
 * whose kept-alive connection closed under it before any answer is sent to the same node again
 * first ({@link fetch_fresh}).
 */
export class RpcTransport {
  readonly nodes: readonly string[];
  readonly #m: TransportModules;
  readonly #errors: RpcErrorFactory;
  #preferred = 0;

  /**
   * @param opts.nodes node URLs, tried in order (at least one).
   * @param modules fetch, clock and timer (default {@link default_modules}).
   * @param errors how failures are reported (default {@link RPC_ERRORS}).
   */
  constructor(
    opts: { nodes: readonly string[] },
    modules: TransportModules = default_modules(),
    errors: RpcErrorFactory = RPC_ERRORS,
  ) {
    if (!Array.isArray(opts.nodes)) throw new TypeError('nodes must be an array of URLs');
    if (opts.nodes.length === 0) throw new RangeError('name at least one node URL');
    this.nodes = Object.freeze(opts.nodes.map(check_node_url));
    this.#m = modules;
    this.#errors = errors;
  }

  /** The URL requests go to first. */
  get current(): string {
    return this.nodes[this.#preferred]!;
  }

  async #attempt(
    url: string,
    init: RequestInit,
    timeout_ms: number,
  ): Promise<{ status: number; text: string; retry_after_s: number | undefined }> {
    const abort = new AbortController();
    const stop_timer = new AbortController();
    let timed_out = false;
    void this.#m.sleep(timeout_ms, stop_timer.signal).then(() => {
      if (stop_timer.signal.aborted) return;
      timed_out = true;
      abort.abort();
    });
    try {
      const response = await fetch_fresh(url, { ...init, signal: abort.signal }, this.#m.fetch);
      return {
        status: response.status,
        text: await response.text(),
        retry_after_s: parse_retry_after(response.headers.get('retry-after'), this.#m.now()),
      };
    } catch (error) {
      throw new AttemptFailed(timed_out, error);
    } finally {
      stop_timer.abort();
    }
  }

  /**
   * Sends one request and returns the parsed JSON answer. Throws the factory's error for the
   * node's error answer, for no node answering, or for an answer that is not JSON.
   */
  async request<T>(method: 'GET' | 'POST', path: string, opts: RequestOptions): Promise<T> {
    const body = opts.text ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
    const init: RequestInit =
      body === undefined ? { method } : { method, headers: { 'content-type': 'application/json' }, body };
    const tried: string[] = [];
    let last_cause: unknown;
    let refused: Error | undefined;
    for (let i = 0; i < this.nodes.length; i++) {
      const index = (this.#preferred + i) % this.nodes.length;
      const node = this.nodes[index]!;
      tried.push(node);
      let answer: { status: number; text: string; retry_after_s: number | undefined };
      try {
        answer = await this.#attempt(`${node}${path}`, init, opts.timeout_ms);
      } catch (error) {
        const failed = error as AttemptFailed;
        if (method === 'POST' && failed.timed_out) {
          throw this.#errors.unreachable([node], {
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
        throw this.#errors.bad_answer(`HTTP ${answer.status} with a body that is not JSON`, {
          node,
          status: answer.status,
        });
      }
      if (answer.status >= 200 && answer.status < 300) {
        this.#preferred = index;
        return value as T;
      }
      const error = this.#parse_error(value, answer.status, node, opts.context, answer.retry_after_s);
      if ('code' in error && SKIP_CODES.has(error.code as number)) {
        // Busy, stopping or halted: this node took nothing; another may.
        refused = error;
        continue;
      }
      this.#preferred = index;
      throw error;
    }
    if (refused !== undefined) throw refused;
    throw this.#errors.unreachable(tried, { cause: last_cause });
  }

  /**
   * Opens the live stream `GET /v1/events` on the first node that answers and returns its body.
   * A node that refuses it as busy (503 code 102), halted (503 code 108) or because this client
   * holds too many streams there (429 code 110) is skipped for the next. Throws the factory's
   * unreachable error if none can be reached, else the last such refusal or the node's other
   * error. The stream ends when `signal` aborts.
   */
  async open_stream(signal: AbortSignal): Promise<{ node: string; body: ReadableStream<Uint8Array> }> {
    const tried: string[] = [];
    let last_cause: unknown;
    let refused: Error | undefined;
    for (let i = 0; i < this.nodes.length; i++) {
      const index = (this.#preferred + i) % this.nodes.length;
      const node = this.nodes[index]!;
      tried.push(node);
      let response: Response;
      try {
        response = await fetch_fresh(
          `${node}/v1/events`,
          { headers: { accept: 'text/event-stream' }, signal },
          this.#m.fetch,
        );
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
          // handled by #parse_error
        }
        const error = this.#parse_error(
          value,
          response.status,
          node,
          undefined,
          parse_retry_after(response.headers.get('retry-after'), this.#m.now()),
        );
        const code = 'code' in error ? (error.code as number) : undefined;
        if (code === undefined || (!SKIP_CODES.has(code) && code !== RpcCode.TOO_MANY_STREAMS)) throw error;
        refused = error;
        continue;
      }
      return { node, body: response.body };
    }
    if (refused !== undefined) throw refused;
    throw this.#errors.unreachable(tried, { cause: last_cause });
  }

  /** The factory's error for an error answer `{"error": {"code", "message"}}` (protocol.md §6). */
  #parse_error(
    value: unknown,
    status: number,
    node: string,
    context: string | undefined,
    retry_after_s?: number,
  ): Error {
    const e = typeof value === 'object' && value !== null ? (value as { error?: unknown }).error : undefined;
    const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
    const message = typeof e === 'object' && e !== null ? (e as { message?: unknown }).message : undefined;
    if (typeof code !== 'number' || typeof message !== 'string') {
      return this.#errors.bad_answer(`HTTP ${status} without an {"error": {"code", "message"}} body`, {
        node,
        status,
      });
    }
    const info: AnswerInfo = { status, node };
    if (context !== undefined) info.context = context;
    if (retry_after_s !== undefined) info.retry_after_s = retry_after_s;
    return this.#errors.answer(code, message, info);
  }
}

// ---- the live stream ------------------------------------------------------------------------

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

// ---- one node, one call ---------------------------------------------------------------------

/** Options of {@link rpc}. */
export interface RpcOptions {
  /** GET without a body, POST with one (the default follows `body`). */
  method?: 'GET' | 'POST';
  /** The body: a string is sent as it is (JSON text, e.g. a signed transaction), anything else as JSON. */
  body?: unknown;
  /** Deadline of the whole request (default 30 s). */
  timeout_ms?: number;
}

/** Default deadline of {@link rpc}. */
export const RPC_TIMEOUT_MS_DEFAULT = 30_000;

/**
 * One request to one node: resolves with the JSON answer, rejects with {@link RpcError} (an error
 * answer, with its §6 code) or {@link RpcUnreachableError}. A request whose kept-alive connection
 * closed under it is sent again ({@link fetch_fresh}); a transaction is never applied twice (a
 * node answers one it holds with its hash, and refuses a committed one's sequence).
 */
export function rpc<T>(url: string, path: string, init: RpcOptions = {}): Promise<T> {
  const { body } = init;
  const opts: RequestOptions = { timeout_ms: init.timeout_ms ?? RPC_TIMEOUT_MS_DEFAULT };
  if (typeof body === 'string') opts.text = body;
  else if (body !== undefined) opts.body = body;
  return new RpcTransport({ nodes: [url] }).request<T>(
    init.method ?? (body === undefined ? 'GET' : 'POST'),
    path,
    opts,
  );
}

/**
 * Follows one node's live stream: calls `fn(type, data)` with each event's parsed JSON data until
 * `signal` aborts (then resolves) or the stream fails or ends (then rejects, or resolves at its end).
 */
export async function subscribe(
  url: string,
  fn: (type: string, data: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  try {
    const { body } = await new RpcTransport({ nodes: [url] }).open_stream(signal);
    for await (const event of read_events(body)) fn(event.type, JSON.parse(event.data));
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}
