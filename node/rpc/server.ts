/**
 * The validator's HTTP RPC (protocol.md §6, and §9's balances, events and, on a development
 * network, `POST /v1/faucet`) on `node:http`, plus a live event stream. Every
 * answer is JSON (errors `{"error": {"code", "message"}}`, codes in errors.ts), carries the CORS
 * origin, and every resource a client can make the node spend is bounded: body bytes, request
 * target length, header and request time, concurrent requests, connections, live streams and
 * their buffers, and the commit wait. Given the node's metrics, it counts every request by route
 * template and status, and serves them as `GET /metrics` (Prometheus text, not JSON).
 * @module
 */

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { from_hex, to_base64 } from '../../protocol/bytes.js';
import { CANNOT_DECRYPT_MESSAGE, RESULT_CODE_NAMES, ResultCode } from '../../protocol/codes.js';
import type { TxRecord } from '../records.js';
import { busy, ClientGoneError, error_body, halted, not_found, RpcError, RpcErrorCode } from './errors.js';
import { EventStreams } from './events.js';
import {
  check_json_content_type,
  declared_length,
  raw_error_response,
  read_body,
  send_json,
  too_large,
} from './http.js';
import {
  account_json,
  block_json,
  check_address,
  check_hash,
  check_height,
  check_tx,
  codes_json,
  contract_json,
  contracts_page_json,
  parse_contracts_query,
  parse_faucet_body,
  parse_json_body,
  parse_query_body,
  parse_txs_query,
  status_json,
  tx_json,
  txs_page_json,
} from './shapes.js';
import type { QueryAnswer, Refusal, RpcBackend, RpcLimits, RpcLog, RpcMetrics, RpcOptions } from './types.js';
import { RPC_DEFAULTS } from './types.js';

export { RpcError, RpcErrorCode } from './errors.js';
export type { TxAnswer } from './shapes.js';
export type {
  AccountAnswer,
  ContractAnswer,
  ContractListFilter,
  FaucetAnswer,
  FaucetRefusal,
  HaltInfo,
  ListPage,
  LiveEvent,
  QueryAnswer,
  Refusal,
  RpcBackend,
  RpcLimits,
  RpcLog,
  RpcMetrics,
  RpcOptions,
  RpcStatus,
  StreamedEvent,
  SubmitRefusal,
  TxListFilter,
} from './types.js';
export { RPC_DEFAULTS } from './types.js';

/** What a route handler gets. */
interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  /** The route's path parameters, in order, not yet validated. */
  params: string[];
  query: URLSearchParams;
}

/** A JSON answer, or null when the handler answered itself (a live stream). */
type Reply = { status: number; body: unknown } | null;
type Handler = (call: Call) => Promise<Reply>;

/** The route label of requests no route matches (one label, so a scanner cannot grow the metrics). */
export const UNKNOWN_ROUTE = 'unknown';

/** A route's template as metrics name it: `['v1', 'txs', ':hash']` is `/v1/txs/{hash}`. */
export function route_template(segments: readonly string[]): string {
  return `/${segments.map((s) => (s.startsWith(':') ? `{${s.slice(1)}}` : s)).join('/')}`;
}

/** The path of a request target, without its query string. */
function path_of(url: string): string {
  const mark = url.indexOf('?');
  return mark < 0 ? url : url.slice(0, mark);
}

/** A route: its path segments (`:name` matches one segment) and a handler per method. */
interface Route {
  segments: string[];
  methods: Partial<Record<string, Handler>>;
}

function ok(body: unknown, status = 200): Reply {
  return { status, body };
}

/** The §5 and §9 codes a query or submission can answer with besides 0. */
function is_refusal_code(code: number): boolean {
  return Number.isInteger(code) && code >= ResultCode.CONTRACT_ERROR && code <= ResultCode.INSUFFICIENT_FUNDS;
}

function check_positive_int(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new RangeError(`RpcOptions.${name} must be a positive integer`);
}

/** Fills in defaults and checks every limit, so a bad config fails at construction, not at load. */
function resolve_limits(opts: RpcOptions): RpcLimits {
  // An option given as undefined (e.g. straight from an optional config field) keeps its default.
  const given = Object.fromEntries(Object.entries(opts).filter(([, value]) => value !== undefined));
  const limits = { ...RPC_DEFAULTS, ...given } as RpcLimits;
  if (typeof limits.host !== 'string' || limits.host === '')
    throw new RangeError('RpcOptions.host must be set');
  if (!Number.isInteger(limits.port) || limits.port < 0 || limits.port > 65535) {
    throw new RangeError('RpcOptions.port must be 0 to 65535');
  }
  // Header injection: the origin goes verbatim into a header line.
  if (typeof limits.cors_origin !== 'string' || /[\r\n]/.test(limits.cors_origin)) {
    throw new RangeError('RpcOptions.cors_origin must be a string on one line');
  }
  for (const name of [
    'body_bytes_max',
    'wait_timeout_ms',
    'sse_clients_max',
    'sse_clients_per_address_max',
    'requests_max',
    'connections_max',
    'headers_timeout_ms',
    'request_timeout_ms',
    'keep_alive_timeout_ms',
    'url_chars_max',
    'sse_heartbeat_ms',
    'sse_buffer_bytes_max',
    'stop_timeout_ms',
  ] as const) {
    check_positive_int(name, limits[name]);
  }
  if (limits.request_timeout_ms < limits.headers_timeout_ms) {
    throw new RangeError('RpcOptions.request_timeout_ms must be at least headers_timeout_ms');
  }
  return limits;
}

/** The RPC server of one validator. Start it once, stop it once. */
export class RpcServer {
  readonly #limits: RpcLimits;
  readonly #backend: RpcBackend;
  readonly #log: RpcLog;
  readonly #metrics: RpcMetrics | null;
  readonly #routes: Route[];
  readonly #events: EventStreams;
  /** Headers every answer carries. */
  readonly #base_headers: Readonly<Record<string, string>>;
  /**
   * The response in progress on each socket: whether Node's clientError may still answer, and
   * which connections stop() may close at once (those with none).
   */
  readonly #current = new WeakMap<Duplex, ServerResponse>();
  /**
   * Every open connection (at most connections_max), so stop() can close the ones Node's
   * closeIdleConnections() leaves open: a connection that has not sent a request yet.
   */
  readonly #sockets = new Set<Duplex>();
  /** Aborted by stop(): commit waits give up on it. */
  readonly #stopping = new AbortController();
  #server: Server | null = null;
  #stopped: Promise<void> | null = null;
  #in_flight = 0;
  #on_idle: (() => void)[] = [];

  /**
   * @param opts addresses and limits; optional limits default to {@link RPC_DEFAULTS}.
   * @param modules.backend the validator host; modules.log an optional structured log hook;
   * modules.metrics the node's metrics (without them there is no `GET /metrics` route).
   */
  constructor(opts: RpcOptions, modules: { backend: RpcBackend; log?: RpcLog; metrics?: RpcMetrics }) {
    this.#limits = resolve_limits(opts);
    this.#backend = modules.backend;
    this.#log = modules.log ?? (() => {});
    this.#metrics = modules.metrics ?? null;
    this.#events = new EventStreams(
      {
        clients_max: this.#limits.sse_clients_max,
        clients_per_address_max: this.#limits.sse_clients_per_address_max,
        heartbeat_ms: this.#limits.sse_heartbeat_ms,
        buffer_bytes_max: this.#limits.sse_buffer_bytes_max,
      },
      { backend: this.#backend, log: this.#log },
    );
    const cors = this.#limits.cors_origin;
    this.#base_headers = {
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...(cors === ''
        ? {}
        : { 'access-control-allow-origin': cors, ...(cors === '*' ? {} : { vary: 'Origin' }) }),
    };
    this.#routes = this.#make_routes();
  }

  /** Listens; resolves with the URL (e.g. http://127.0.0.1:26657) once listening. */
  async start(): Promise<{ url: string }> {
    if (this.#server !== null || this.#stopped !== null) throw new Error('an RpcServer starts only once');
    const limits = this.#limits;
    const server = createServer({
      headersTimeout: limits.headers_timeout_ms,
      requestTimeout: limits.request_timeout_ms,
      keepAliveTimeout: limits.keep_alive_timeout_ms,
      // Node checks the two timeouts above on this interval; keep it a fraction of the shorter.
      connectionsCheckingInterval: Math.max(25, Math.min(1_000, Math.floor(limits.headers_timeout_ms / 4))),
      maxHeaderSize: 16 * 1024,
      // Node's own answer to a missing Host is an empty 400; the node serves no virtual hosts.
      requireHostHeader: false,
    });
    this.#server = server;
    server.maxConnections = limits.connections_max;
    server.maxHeadersCount = 100;
    server.on('connection', (socket: Duplex) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#on_request(req, res));
    // `Expect: 100-continue`: refuse a too-large body before the client sends it.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      const declared = declared_length(req);
      if (declared === null || declared <= limits.body_bytes_max) res.writeContinue();
      this.#on_request(req, res);
    });
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) =>
      this.#on_client_error(error, socket),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(limits.port, limits.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error: Error) => this.#log('rpc_server_error', { error: String(error) }));
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;
    this.#log('rpc_listening', { url });
    return { url };
  }

  /**
   * Stops listening, ends live streams, and waits for in-flight requests; then closes every
   * connection with no response in progress, and waits for the rest (each answer given while
   * stopping closes its connection). Commit waits answer 503 at once. All of it takes at most
   * stop_timeout_ms: past that, every connection left is cut.
   *
   * Node's own closeIdleConnections() is not enough: it leaves open a connection that has not sent
   * a request yet (an HTTP client's spare kept-alive connection, opened for a request another
   * connection took), and server.close() also stops the check that would time such a connection
   * out, so the close waited on the client to hang up (undici: about a minute; others: never).
   * That is how a follower sent transactions while its stream was watched hung on SIGTERM
   * (test/network/follower.test.ts); a validator could too.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping.abort();
    const server = this.#server;
    const streams = this.#events.close();
    if (server === null) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // One deadline for the whole stop.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), this.#limits.stop_timeout_ms);
    });
    try {
      const drained = Promise.all([this.#idle(), streams]).then(() => 'drained' as const);
      if ((await Promise.race([drained, deadline])) === 'deadline') {
        this.#cut_connections();
      } else {
        // Between requests or before the first: no answer is owed on them.
        for (const socket of this.#sockets) if (!this.#current.has(socket)) socket.destroy();
        if ((await Promise.race([closed.then(() => 'closed' as const), deadline])) === 'deadline')
          this.#cut_connections();
      }
      await closed;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Past stop()'s deadline: cuts every connection left, answered or not. */
  #cut_connections(): void {
    this.#log('rpc_stop_timeout', { in_flight: this.#in_flight, connections: this.#sockets.size });
    for (const socket of this.#sockets) socket.destroy();
  }

  /** Resolves when no request is being handled. */
  #idle(): Promise<void> {
    if (this.#in_flight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#on_idle.push(resolve));
  }

  #on_request(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    this.#current.set(socket, res);
    res.once('finish', () => {
      if (this.#current.get(socket) === res) this.#current.delete(socket);
    });
    for (const [name, value] of Object.entries(this.#base_headers)) res.setHeader(name, value);
    this.#count(req, res);
    if (this.#in_flight >= this.#limits.requests_max) {
      this.#send_error(req, res, busy(`too many requests in flight (at most ${this.#limits.requests_max})`));
      return;
    }
    this.#in_flight++;
    this.#handle(req, res)
      .catch((error: unknown) => this.#fail(req, res, error))
      .finally(() => {
        this.#in_flight--;
        if (this.#in_flight === 0) for (const resolve of this.#on_idle.splice(0)) resolve();
      });
  }

  /** Counts the request by route template and status once its response is done or abandoned. */
  #count(req: IncomingMessage, res: ServerResponse): void {
    const metrics = this.#metrics;
    if (metrics === null) return;
    const url = req.url ?? '/';
    const match = url.length > this.#limits.url_chars_max ? null : this.#match(path_of(url));
    const route = match === null ? UNKNOWN_ROUTE : route_template(match.route.segments);
    res.once('close', () => metrics.rpc_request(route, res.headersSent ? String(res.statusCode) : 'none'));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.#stopping.signal.aborted) throw busy('node is stopping');
    const url = req.url ?? '/';
    if (url.length > this.#limits.url_chars_max) {
      throw new RpcError(
        414,
        RpcErrorCode.BAD_REQUEST,
        `request target is longer than ${this.#limits.url_chars_max} characters`,
      );
    }
    // Any route: a body announced over the limit is refused before anything else is looked at.
    const declared = declared_length(req);
    if (declared !== null && declared > this.#limits.body_bytes_max)
      throw too_large(this.#limits.body_bytes_max);
    const mark = url.indexOf('?');
    const query = new URLSearchParams(mark < 0 ? '' : url.slice(mark + 1));
    const match = this.#match(path_of(url));
    if (match === null) throw not_found('no such route');
    const method = req.method ?? 'GET';
    const allowed = [...Object.keys(match.route.methods), 'OPTIONS'].join(', ');
    if (method === 'OPTIONS') {
      this.#preflight(res, allowed);
      return;
    }
    const handler = match.route.methods[method];
    if (handler === undefined) {
      throw new RpcError(405, RpcErrorCode.METHOD_NOT_ALLOWED, `method ${method} is not allowed here`, {
        allow: allowed,
      });
    }
    const reply = await handler({ req, res, params: match.params, query });
    if (reply !== null) this.#send(req, res, reply.status, reply.body);
  }

  #match(path: string): { route: Route; params: string[] } | null {
    const segments = path.split('/');
    // A path starts with '/', so its first segment is empty; anything else (e.g. absolute-form) is no route.
    if (segments.shift() !== '') return null;
    for (const route of this.#routes) {
      if (route.segments.length !== segments.length) continue;
      const params: string[] = [];
      let matches = true;
      for (let i = 0; i < segments.length && matches; i++) {
        const want = route.segments[i]!;
        const got = segments[i]!;
        if (want.startsWith(':')) params.push(got);
        else matches = want === got;
      }
      if (matches) return { route, params };
    }
    return null;
  }

  #preflight(res: ServerResponse, allowed: string): void {
    const headers: Record<string, string> = { allow: allowed };
    if (this.#limits.cors_origin !== '') {
      headers['access-control-allow-methods'] = allowed;
      headers['access-control-allow-headers'] = 'Content-Type, Last-Event-ID';
      headers['access-control-max-age'] = '600';
    }
    res.writeHead(204, headers);
    res.end();
  }

  #send(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) {
    // Close the connection when the request's body was not read to its end (so the rest is never
    // read or drained) or the node is stopping (so no further request comes on it).
    if (!req.complete || this.#stopping.signal.aborted) headers = { ...headers, connection: 'close' };
    send_json(res, status, body, headers);
  }

  #send_error(req: IncomingMessage, res: ServerResponse, error: RpcError): void {
    this.#send(req, res, error.status, error_body(error.code, error.message), { ...error.headers });
  }

  #fail(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    if (error instanceof RpcError) {
      this.#send_error(req, res, error);
      return;
    }
    if (error instanceof ClientGoneError) {
      res.destroy();
      return;
    }
    // The backend's error may name files, keys or peers: log it, tell the client only that it failed.
    this.#log('rpc_internal_error', {
      method: req.method,
      url: req.url?.slice(0, 200),
      error: String(error),
    });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    this.#send_error(req, res, new RpcError(500, RpcErrorCode.INTERNAL, 'internal error'));
  }

  /** Errors Node finds before there is a request: bad HTTP, headers too large, too slow a client. */
  #on_client_error(error: NodeJS.ErrnoException, socket: Duplex): void {
    const current = this.#current.get(socket);
    // Once an answer has begun on this socket, any bytes now would corrupt it.
    if (error.code === 'ECONNRESET' || !socket.writable || current?.headersSent === true) {
      socket.destroy();
      return;
    }
    let status = 400;
    let code: number = RpcErrorCode.BAD_REQUEST;
    let message = 'malformed HTTP request';
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      code = RpcErrorCode.TIMEOUT;
      message = 'request was not received in time';
    } else if (error.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      message = 'request headers are too large';
    }
    this.#log('rpc_client_error', { code: error.code });
    socket.end(raw_error_response(status, code, message, this.#base_headers));
  }

  #make_routes(): Route[] {
    const b = this.#backend;
    const limits = this.#limits;
    const read_json = async (req: IncomingMessage): Promise<unknown> => {
      check_json_content_type(req);
      return parse_json_body(await read_body(req, limits.body_bytes_max));
    };
    return [
      {
        segments: ['v1', 'status'],
        methods: { GET: async () => ok(status_json(await b.status(), b.halted())) },
      },
      {
        segments: ['registration', 'v1beta1', 'tx-key'],
        methods: { GET: async () => ok({ key: to_base64(from_hex(await b.io_pubkey(), 32)) }) },
      },
      {
        segments: ['v1', 'txs'],
        methods: {
          POST: (call) => this.#submit(call),
          // Discovery: committed transactions by sender and/or contract, newest first.
          GET: async ({ query }) => {
            const { filter, page } = parse_txs_query(query);
            // A halted node's list stopped where it halted: it may lack what the network committed.
            check_running(b);
            return ok(txs_page_json(await b.list_txs(filter, page)));
          },
        },
      },
      {
        segments: ['v1', 'txs', ':hash'],
        methods: {
          GET: async ({ params }) => {
            const hash = check_hash(params[0]!);
            const record = await b.get_tx(hash);
            if (record === null) throw not_committed(b, `transaction ${hash} is not committed`);
            return ok(tx_json(record));
          },
        },
      },
      {
        // Discovery: contracts by code id, creator and label.
        segments: ['v1', 'contracts'],
        methods: {
          GET: async ({ query }) => {
            const { filter, page } = parse_contracts_query(query);
            check_running(b);
            return ok(contracts_page_json(await b.list_contracts(filter, page)));
          },
        },
      },
      {
        segments: ['v1', 'contracts', ':address', 'query'],
        methods: {
          POST: async ({ req, params }) => {
            const address = check_address(params[0]!);
            // A halted node's contract state stopped at its last height: it would answer stale.
            check_running(b);
            const body = parse_query_body(await read_json(req));
            const answer = await b.query(address, body);
            if (answer !== null && 'ok' in answer) throw this.#refusal(answer);
            return query_reply(address, answer);
          },
        },
      },
      {
        segments: ['v1', 'contracts', ':address'],
        methods: {
          GET: async ({ params }) => {
            const address = check_address(params[0]!);
            const info = await b.get_contract(address);
            if (info === null) {
              // A halted node may lack a contract made after it halted.
              check_running(b);
              throw unknown_contract(address);
            }
            return ok(contract_json(info));
          },
        },
      },
      {
        segments: ['v1', 'codes'],
        methods: {
          GET: async () => {
            check_running(b);
            return ok(codes_json(await b.codes()));
          },
        },
      },
      {
        segments: ['v1', 'accounts', ':address'],
        methods: {
          GET: async ({ params }) => {
            const address = check_address(params[0]!);
            check_running(b);
            return ok(account_json(await b.account(address)));
          },
        },
      },
      {
        segments: ['v1', 'blocks', ':height'],
        methods: {
          GET: async ({ params }) => {
            const height = check_height(params[0]!);
            const block = await b.block(height);
            if (block === null) throw not_committed(b, `block ${height} is not committed`);
            return ok(block_json(block));
          },
        },
      },
      {
        // Extension: the committed transaction texts of a block (see RpcBackend.block_txs).
        segments: ['v1', 'blocks', ':height', 'txs'],
        methods: {
          GET: async ({ params }) => {
            const height = check_height(params[0]!);
            const txs = await b.block_txs(height);
            if (txs === null) throw not_committed(b, `block ${height} is not committed`);
            return ok({ height, txs });
          },
        },
      },
      {
        // protocol.md §9: development networks only (404 code 100 elsewhere).
        segments: ['v1', 'faucet'],
        methods: { POST: (call) => this.#faucet(call) },
      },
      {
        segments: ['v1', 'events'],
        methods: {
          GET: async ({ req, res }) => {
            // A halted node commits nothing more: its stream would stay silent forever.
            check_running(b);
            this.#events.open(res, req.socket.remoteAddress ?? 'unknown');
            return null;
          },
        },
      },
      ...this.#metrics_routes(),
    ];
  }

  /** `GET /metrics` (Prometheus text format), when the server has the node's metrics. */
  #metrics_routes(): Route[] {
    const metrics = this.#metrics;
    if (metrics === null) return [];
    const serve: Handler = async ({ req, res }) => {
      const { content_type, body } = await metrics.exposition();
      const headers: Record<string, string | number> = {
        'content-type': content_type,
        'content-length': Buffer.byteLength(body),
      };
      if (!req.complete || this.#stopping.signal.aborted) headers['connection'] = 'close';
      res.writeHead(200, headers);
      res.end(body);
      return null;
    };
    return [{ segments: ['metrics'], methods: { GET: serve } }];
  }

  /** `POST /v1/txs[?wait=commit]`. */
  async #submit({ req, res, query }: Call): Promise<Reply> {
    const wait = query.get('wait');
    if (wait !== null && wait !== 'commit')
      throw new RpcError(400, RpcErrorCode.BAD_REQUEST, 'wait must be "commit"');
    // Refused before the body is read: a halted node commits nothing, so it must take nothing.
    check_running(this.#backend);
    check_json_content_type(req);
    const raw = await read_body(req, this.#limits.body_bytes_max);
    const tx = check_tx(parse_json_body(raw));
    const submitted = await this.#backend.submit(raw, tx);
    if (!submitted.ok) throw this.#refusal(submitted);
    if (wait === null) return ok({ hash: submitted.hash }, 202);
    const outcome = await this.#wait_commit(submitted.hash, res);
    const ms = this.#limits.wait_timeout_ms;
    switch (outcome) {
      case 'timeout':
        throw new RpcError(
          504,
          RpcErrorCode.TIMEOUT,
          `transaction ${submitted.hash} was accepted but not committed within ${ms} ms; it may still commit: GET /v1/txs/${submitted.hash}`,
        );
      case 'stopping':
        throw busy(`node is stopping; transaction ${submitted.hash} was accepted but is not committed yet`);
      case 'gone':
        throw new ClientGoneError('client left during the commit wait');
      default:
        return ok(tx_json(outcome));
    }
  }

  /**
   * `POST /v1/faucet` (protocol.md §9): 404 code 100 off a development network (before the body is
   * read), 400 code 106 for a bad body, 429 code 112 with Retry-After for an address that asked
   * too often, else like `POST /v1/txs?wait=commit`: 200 and the committed transaction.
   */
  async #faucet({ req, res }: Call): Promise<Reply> {
    const b = this.#backend;
    if (!b.has_faucet())
      throw not_found('this network has no faucet: only a development network (cloister init --dev) has one');
    check_running(b);
    check_json_content_type(req);
    const { address, amount } = parse_faucet_body(await read_body(req, this.#limits.body_bytes_max));
    const ms = this.#limits.wait_timeout_ms;
    const outcome = await this.#bounded(res, (signal) =>
      b.faucet(address, amount, { timeout_ms: ms, signal }),
    );
    if (outcome === 'stopping') throw busy('node is stopping; the faucet request may still commit');
    if (outcome === 'gone') throw new ClientGoneError('client left during the faucet request');
    const timed_out = `the faucet's transaction did not commit within ${ms} ms; it may still commit`;
    if (outcome === 'timeout') throw new RpcError(504, RpcErrorCode.TIMEOUT, timed_out);
    if (outcome.ok) return ok(tx_json(outcome.record));
    switch (outcome.code) {
      case 'rate_limited':
        throw new RpcError(429, RpcErrorCode.RATE_LIMITED, outcome.message, {
          'retry-after': String(outcome.retry_after_s),
        });
      case 'timeout':
        throw new RpcError(504, RpcErrorCode.TIMEOUT, outcome.message === '' ? timed_out : outcome.message);
      default:
        throw this.#refusal(outcome);
    }
  }

  #refusal(refusal: Refusal): RpcError {
    const { code, message } = refusal;
    if (code === 'full') return busy(message === '' ? 'mempool is full' : message);
    if (code === 'busy') return busy(message === '' ? 'node is busy' : message);
    if (code === 'halted') return halted(this.#backend.halted()?.height ?? 0);
    if (code === 'enclave_failed') return new RpcError(503, RpcErrorCode.ENCLAVE_FAILED, message);
    if (code === 'quarantined') return new RpcError(422, RpcErrorCode.QUARANTINED, message);
    if (code === ResultCode.UNKNOWN_CODE_OR_CONTRACT) return new RpcError(404, code, message);
    if (is_refusal_code(code)) return new RpcError(400, code, message);
    // Not a refusal the protocol knows: a backend bug, not the client's fault.
    this.#log('rpc_internal_error', {
      error: `backend refused with unknown code ${String(code)}: ${message}`,
    });
    return new RpcError(500, RpcErrorCode.INTERNAL, 'internal error');
  }

  /**
   * Waits for `hash` to commit, at most wait_timeout_ms by the server's own clock (whatever the
   * backend does), and no longer than the node runs or the client stays.
   */
  async #wait_commit(hash: string, res: ServerResponse): Promise<TxRecord | 'timeout' | 'stopping' | 'gone'> {
    const outcome = await this.#bounded(res, () => this.#backend.wait_tx(hash, this.#limits.wait_timeout_ms));
    return outcome ?? 'timeout';
  }

  /**
   * Runs a backend wait, for at most wait_timeout_ms by the server's own clock (whatever the
   * backend does) and no longer than the node runs or the client stays: the wait's answer, or
   * which of those ended it first. `run`'s signal aborts once the server no longer needs its
   * answer, so the backend can stop waiting too.
   */
  #bounded<T>(
    res: ServerResponse,
    run: (signal: AbortSignal) => Promise<T>,
  ): Promise<T | 'timeout' | 'stopping' | 'gone'> {
    const stopping = this.#stopping.signal;
    if (stopping.aborted) return Promise.resolve('stopping');
    const done = new AbortController();
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        stopping.removeEventListener('abort', on_stop);
        res.off('close', on_gone);
        done.abort();
        return true;
      };
      const on_stop = () => settle() && resolve('stopping');
      const on_gone = () => settle() && resolve('gone');
      const timer = setTimeout(() => settle() && resolve('timeout'), this.#limits.wait_timeout_ms);
      stopping.addEventListener('abort', on_stop, { once: true });
      res.once('close', on_gone);
      run(done.signal).then(
        (value) => settle() && resolve(value),
        (error: unknown) => settle() && reject(error),
      );
    });
  }
}

/**
 * Throws 503 code 108 on a halted node: for submissions and live streams (it commits nothing
 * more), for what changes with blocks (contract state, account sequences, the list of codes: its
 * copy stopped where it halted), and for what it has not committed (it never will).
 */
function check_running(backend: RpcBackend): void {
  const halt = backend.halted();
  if (halt !== null) throw halted(halt.height);
}

/**
 * 404 code 100 for what is not committed (yet); on a halted node 503 code 108 instead, since it
 * will never commit it: the client should ask another node.
 */
function not_committed(backend: RpcBackend, message: string): RpcError {
  check_running(backend);
  return not_found(message);
}

function unknown_contract(address: string): RpcError {
  return new RpcError(404, ResultCode.UNKNOWN_CODE_OR_CONTRACT, `unknown contract ${address}`);
}

/** Maps a query's §5 code to the answer: 0-2 are 200, 3 the one decrypt error, 6 a 404. */
function query_reply(address: string, answer: QueryAnswer | null): Reply {
  if (answer === null) throw unknown_contract(address);
  const { code, output } = answer;
  switch (code) {
    case ResultCode.OK:
    case ResultCode.CONTRACT_ERROR:
    case ResultCode.OUT_OF_GAS:
      return ok({ code, output });
    case ResultCode.CANNOT_DECRYPT:
      // protocol.md §3: one and the same answer for every envelope that cannot be opened.
      throw new RpcError(400, code, CANNOT_DECRYPT_MESSAGE);
    case ResultCode.UNKNOWN_CODE_OR_CONTRACT:
      throw unknown_contract(address);
    default:
      if (is_refusal_code(code)) throw new RpcError(400, code, RESULT_CODE_NAMES[code as ResultCode]);
      throw new Error(`query answered unknown code ${code}`);
  }
}
