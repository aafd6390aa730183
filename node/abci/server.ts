/**
 * An ABCI 2.0 ("ABCI++") socket server for CometBFT v0.38 (issue #17): CometBFT dials
 * `proxy_app` and opens four connections (consensus, mempool, query, snapshot); this server
 * answers each connection's `tendermint.abci.Request`s with `Response`s, framed as codec.ts says.
 *
 * Per connection, strictly in order: request k+1 is handled only once request k's response is
 * made, even when the app's handler is async (CometBFT's socket client matches responses to
 * requests by order, abci/client/socket_client.go `didRecvResponse`). Connections do not wait on
 * each other. Responses are batched and written when a `Flush` is answered, before the server
 * waits on an async handler, when the batch is large, and when no complete request is left to
 * read; CometBFT sends `Flush` after every synchronous call and after a run of `CheckTx`.
 *
 * The server answers `Echo` and `Flush` itself, vote extensions as absent (`ExtendVote` empty,
 * `VerifyVoteExtension` ACCEPT) and, unless the app serves them, state-sync snapshots as none
 * (`OfferSnapshot` and `ApplySnapshotChunk` ABORT). Everything else goes to the {@link AbciApp}.
 *
 * Nothing is thrown across ABCI: a handler that throws or rejects, a response that does not
 * encode, or a request of an unknown kind is answered `Response{exception}` and logged, and the
 * connection goes on (CometBFT's socket client stops on an exception, whatever the connection,
 * and the node halts; CometBFT's own Go server also closes the connection, abci/server/
 * socket_server.go). A bad frame (length no uvarint, over {@link AbciServerOptions.frame_bytes_max},
 * payload no Request) closes that connection only. Spec: CometBFT v0.38 spec/abci/abci++_basic_
 * concepts.md, spec/abci/abci++_methods.md; messages: proto/tendermint/abci/types.proto.
 * @module
 */

import { chmodSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { isAbsolute } from 'node:path';
import type * as abci from 'cosmjs-types/tendermint/abci/types';
// Named imports of CommonJS cosmjs-types work under Node's ESM loader; see codec.ts on the path.
import {
  ResponseApplySnapshotChunk_Result,
  ResponseOfferSnapshot_Result,
  ResponseVerifyVoteExtension_VerifyStatus,
} from 'cosmjs-types/tendermint/abci/types';
import { clear_stale_socket } from '../unix_socket.js';
import {
  ABCI_FRAME_BYTES_LIMIT,
  AbciFrameError,
  decode_request,
  encode_frame,
  encode_response,
  FrameReader,
  UVARINT_BYTES_MAX,
} from './codec.js';

type Maybe<T> = T | Promise<T>;

/**
 * The application behind ABCI. Every method returns a response; none may throw by design (the
 * server still guards: a throw is answered `exception`, which halts CometBFT). Responses are
 * complete cosmjs-types messages (`abci.ResponseInfo.fromPartial({...})` fills in defaults); int64
 * and uint64 fields are bigint. The snapshot methods are optional: without them the app has no
 * snapshots to offer and restores none.
 */
export interface AbciApp {
  info(req: abci.RequestInfo): Maybe<abci.ResponseInfo>;
  init_chain(req: abci.RequestInitChain): Maybe<abci.ResponseInitChain>;
  query(req: abci.RequestQuery): Maybe<abci.ResponseQuery>;
  check_tx(req: abci.RequestCheckTx): Maybe<abci.ResponseCheckTx>;
  prepare_proposal(req: abci.RequestPrepareProposal): Maybe<abci.ResponsePrepareProposal>;
  process_proposal(req: abci.RequestProcessProposal): Maybe<abci.ResponseProcessProposal>;
  finalize_block(req: abci.RequestFinalizeBlock): Maybe<abci.ResponseFinalizeBlock>;
  commit(req: abci.RequestCommit): Maybe<abci.ResponseCommit>;
  list_snapshots?(req: abci.RequestListSnapshots): Maybe<abci.ResponseListSnapshots>;
  offer_snapshot?(req: abci.RequestOfferSnapshot): Maybe<abci.ResponseOfferSnapshot>;
  load_snapshot_chunk?(req: abci.RequestLoadSnapshotChunk): Maybe<abci.ResponseLoadSnapshotChunk>;
  apply_snapshot_chunk?(req: abci.RequestApplySnapshotChunk): Maybe<abci.ResponseApplySnapshotChunk>;
}

/** Where and how much the server serves. */
export interface AbciServerOptions {
  /** 'tcp://127.0.0.1:26658' or 'unix:///abs/path.sock' (CometBFT's proxy_app syntax). */
  address: string;
  /** Largest frame accepted, bytes (default {@link ABCI_DEFAULTS}: a block of transactions travels in one). */
  frame_bytes_max?: number;
  /** Connections served at once (CometBFT needs 4; default {@link ABCI_DEFAULTS}). */
  connections_max?: number;
}

/** What the server is given: the app, and the node's structured log. */
export interface AbciServerModules {
  app: AbciApp;
  log: (event: string, fields: Record<string, unknown>) => void;
}

/** Defaults of {@link AbciServerOptions}. */
export const ABCI_DEFAULTS = Object.freeze({
  /** 64 MiB: CometBFT's default block max_bytes is 21 MiB (4 MiB before v0.38); room above it. */
  frame_bytes_max: 64 * 1024 * 1024,
  /** CometBFT opens 4; room for a restart's overlap and a debugging client. */
  connections_max: 16,
});

/** Fixed bounds of the server. */
export const ABCI_LIMITS = Object.freeze({
  /** Most connections {@link AbciServerOptions.connections_max} may allow. */
  connections_max: 1024,
  /** Responses waiting to be written are written once they pass this many bytes. */
  out_batch_bytes_max: 1024 * 1024,
  /** Longest exception text sent back, chars (the full error goes to the log). */
  exception_chars_max: 1024,
  /** Longest unix socket path, bytes: macOS holds 103 plus the NUL (Linux 107). */
  socket_path_bytes_max: 103,
});

/** A parsed proxy_app address. */
export type AbciAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/**
 * The address in CometBFT's proxy_app syntax: `tcp://HOST:PORT` (IPv6 in brackets) or
 * `unix:///ABSOLUTE/PATH`. Throws RangeError on anything else.
 */
export function parse_abci_address(address: string): AbciAddress {
  if (typeof address !== 'string') throw new RangeError('address must be a string');
  const tcp = /^tcp:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(address);
  if (tcp !== null) {
    const port = Number(tcp[2]);
    if (port > 65535) throw new RangeError(`port of ${address} must be 0 to 65535`);
    return { kind: 'tcp', host: tcp[1]!.replace(/^\[(.*)\]$/, '$1'), port };
  }
  if (address.startsWith('unix://')) {
    const path = address.slice('unix://'.length);
    if (!isAbsolute(path)) throw new RangeError(`unix socket path of ${address} must be absolute`);
    if (Buffer.byteLength(path) > ABCI_LIMITS.socket_path_bytes_max) {
      throw new RangeError(
        `unix socket path ${path} is longer than ${ABCI_LIMITS.socket_path_bytes_max} bytes`,
      );
    }
    return { kind: 'unix', path };
  }
  throw new RangeError(
    `address ${JSON.stringify(address.slice(0, 200))}: want tcp://HOST:PORT or unix:///PATH`,
  );
}

/** The oneof values of a Request, in field-number order (types.proto `Request.value`). */
const REQUEST_KINDS = [
  'echo',
  'flush',
  'info',
  'initChain',
  'query',
  'checkTx',
  'commit',
  'listSnapshots',
  'offerSnapshot',
  'loadSnapshotChunk',
  'applySnapshotChunk',
  'prepareProposal',
  'processProposal',
  'extendVote',
  'verifyVoteExtension',
  'finalizeBlock',
] as const satisfies readonly (keyof abci.Request)[];
type RequestKind = (typeof REQUEST_KINDS)[number];

/** The one value a request sets, or null when it sets none this version knows (or several). */
function request_kind(request: abci.Request): RequestKind | null {
  let found: RequestKind | null = null;
  for (const kind of REQUEST_KINDS) {
    if (request[kind] === undefined) continue;
    if (found !== null) return null;
    found = kind;
  }
  return found;
}

function is_thenable<T>(value: Maybe<T>): value is Promise<T> {
  return (
    typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}

/** `wrap(value)`, after `value` settles if it is a promise. */
function map<T>(value: Maybe<T>, wrap: (t: T) => abci.Response): Maybe<abci.Response> {
  return is_thenable(value) ? value.then(wrap) : wrap(value);
}

/** The response to a request of `kind`: the server's own, or the app's. May throw (the caller guards). */
function answer(app: AbciApp, r: abci.Request, kind: RequestKind): Maybe<abci.Response> {
  switch (kind) {
    case 'echo':
      return { echo: { message: r.echo!.message } };
    case 'flush':
      return { flush: {} };
    case 'info':
      return map(app.info(r.info!), (info) => ({ info }));
    case 'initChain':
      return map(app.init_chain(r.initChain!), (initChain) => ({ initChain }));
    case 'query':
      return map(app.query(r.query!), (query) => ({ query }));
    case 'checkTx':
      return map(app.check_tx(r.checkTx!), (checkTx) => ({ checkTx }));
    case 'commit':
      return map(app.commit(r.commit!), (commit) => ({ commit }));
    case 'prepareProposal':
      return map(app.prepare_proposal(r.prepareProposal!), (prepareProposal) => ({ prepareProposal }));
    case 'processProposal':
      return map(app.process_proposal(r.processProposal!), (processProposal) => ({ processProposal }));
    case 'finalizeBlock':
      return map(app.finalize_block(r.finalizeBlock!), (finalizeBlock) => ({ finalizeBlock }));
    case 'extendVote':
      return { extendVote: { voteExtension: new Uint8Array(0) } };
    case 'verifyVoteExtension':
      return { verifyVoteExtension: { status: ResponseVerifyVoteExtension_VerifyStatus.ACCEPT } };
    default:
      return answer_snapshot(app, r, kind);
  }
}

/** The state-sync requests: the app's answer where it has the method, else "no snapshots". */
function answer_snapshot(app: AbciApp, r: abci.Request, kind: RequestKind): Maybe<abci.Response> {
  switch (kind) {
    case 'listSnapshots':
      if (app.list_snapshots)
        return map(app.list_snapshots(r.listSnapshots!), (listSnapshots) => ({ listSnapshots }));
      return { listSnapshots: { snapshots: [] } };
    case 'offerSnapshot':
      if (app.offer_snapshot)
        return map(app.offer_snapshot(r.offerSnapshot!), (offerSnapshot) => ({ offerSnapshot }));
      // ABORT, not REJECT: no other snapshot would do either (CometBFT's BaseApplication
      // answers UNKNOWN, which it treats as ABORT too).
      return { offerSnapshot: { result: ResponseOfferSnapshot_Result.ABORT } };
    case 'loadSnapshotChunk':
      if (app.load_snapshot_chunk) {
        return map(app.load_snapshot_chunk(r.loadSnapshotChunk!), (loadSnapshotChunk) => ({
          loadSnapshotChunk,
        }));
      }
      return { loadSnapshotChunk: { chunk: new Uint8Array(0) } };
    case 'applySnapshotChunk':
      if (app.apply_snapshot_chunk) {
        return map(app.apply_snapshot_chunk(r.applySnapshotChunk!), (applySnapshotChunk) => ({
          applySnapshotChunk,
        }));
      }
      return {
        applySnapshotChunk: {
          result: ResponseApplySnapshotChunk_Result.ABORT,
          refetchChunks: [],
          rejectSenders: [],
        },
      };
    default:
      throw new Error(`abci invariant: ${kind} is no snapshot request`);
  }
}

/** An error's message for the log and the exception, bounded. */
function describe_error(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.slice(0, ABCI_LIMITS.exception_chars_max);
}

/** One CometBFT connection: reads frames, answers them in order, batches the writes. */
class AbciConnection {
  readonly #socket: Socket;
  readonly #reader: FrameReader;
  readonly #modules: AbciServerModules;
  readonly #id: number;
  /** Above this many buffered bytes reading pauses: a whole frame is then always in. */
  readonly #pause_bytes: number;
  #out: Buffer[] = [];
  #out_bytes = 0;
  #pumping = false;
  #closed = false;
  #requests = 0;

  constructor(socket: Socket, id: number, frame_bytes_max: number, modules: AbciServerModules) {
    this.#socket = socket;
    this.#id = id;
    this.#modules = modules;
    this.#reader = new FrameReader(frame_bytes_max);
    this.#pause_bytes = frame_bytes_max + UVARINT_BYTES_MAX;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#on_data(chunk));
    socket.on('drain', () => void this.#pump());
    socket.on('error', (error: NodeJS.ErrnoException) =>
      modules.log('abci_connection_error', { connection: id, error: error.code ?? describe_error(error) }),
    );
    socket.once('close', () => {
      this.#closed = true;
      this.#out = [];
      modules.log('abci_connection_closed', { connection: id, requests: this.#requests });
    });
  }

  #on_data(chunk: Buffer): void {
    if (this.#closed) return;
    this.#reader.push(chunk);
    if (this.#reader.buffered_bytes > this.#pause_bytes) this.#socket.pause();
    void this.#pump();
  }

  /** Serves every complete request in turn; one pump at a time per connection keeps the order. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (!this.#closed && !this.#socket.writableNeedDrain) {
        if (this.#socket.isPaused() && this.#reader.buffered_bytes <= this.#pause_bytes)
          this.#socket.resume();
        const request = this.#next_request();
        if (request === null) break;
        await this.#serve(request);
      }
      this.#write_out();
    } finally {
      this.#pumping = false;
    }
  }

  /** The next complete request, or null: none yet, or a bad frame (which closes the connection). */
  #next_request(): abci.Request | null {
    try {
      const frame = this.#reader.next();
      return frame === null ? null : decode_request(frame);
    } catch (error) {
      const code = error instanceof AbciFrameError ? error.code : 'internal';
      this.#modules.log('abci_frame_error', { connection: this.#id, code, error: describe_error(error) });
      this.#write_out();
      this.#closed = true;
      this.#socket.destroySoon();
      return null;
    }
  }

  /** Answers one request and queues the answer; an answer of Flush writes the batch. */
  async #serve(request: abci.Request): Promise<void> {
    this.#requests++;
    const kind = request_kind(request);
    let bytes: Uint8Array;
    try {
      if (kind === null)
        throw new Error('unknown request: it sets no ABCI method this server knows, or several');
      const pending = answer(this.#modules.app, request, kind);
      // Earlier answers go out now rather than wait on this one.
      if (is_thenable(pending)) this.#write_out();
      bytes = encode_response(await pending);
    } catch (error) {
      const text = describe_error(error);
      this.#modules.log('abci_exception', { connection: this.#id, request: kind ?? 'unknown', error: text });
      bytes = encode_response({ exception: { error: text } });
    }
    if (this.#closed) return;
    const frame = encode_frame(bytes);
    this.#out.push(frame);
    this.#out_bytes += frame.length;
    if (kind === 'flush' || this.#out_bytes >= ABCI_LIMITS.out_batch_bytes_max) this.#write_out();
  }

  /** Writes the queued answers in one write. */
  #write_out(): void {
    if (this.#out.length === 0 || this.#closed) return;
    const batch = this.#out.length === 1 ? this.#out[0]! : Buffer.concat(this.#out, this.#out_bytes);
    this.#out = [];
    this.#out_bytes = 0;
    this.#socket.write(batch);
  }
}

function check_int(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`AbciServerOptions.${name} must be an integer ${min} to ${max}`);
  }
  return value;
}

/**
 * The ABCI socket server. Construct (options are checked here), {@link listen}, and
 * {@link close} when done; a closed server does not listen again.
 */
export class AbciServer {
  readonly #address: AbciAddress;
  readonly #frame_bytes_max: number;
  readonly #connections_max: number;
  readonly #modules: AbciServerModules;
  readonly #sockets = new Set<Socket>();
  #server: Server | null = null;
  #connections_seen = 0;
  #closing: Promise<void> | null = null;

  /** Checks the options; throws RangeError on a bad address or limit. */
  constructor(opts: AbciServerOptions, modules: AbciServerModules) {
    this.#address = parse_abci_address(opts.address);
    this.#frame_bytes_max = check_int(
      'frame_bytes_max',
      opts.frame_bytes_max ?? ABCI_DEFAULTS.frame_bytes_max,
      1,
      ABCI_FRAME_BYTES_LIMIT,
    );
    this.#connections_max = check_int(
      'connections_max',
      opts.connections_max ?? ABCI_DEFAULTS.connections_max,
      1,
      ABCI_LIMITS.connections_max,
    );
    this.#modules = modules;
  }

  /**
   * Starts listening; resolves once bound. For a unix address, removes a stale socket file first
   * (refusing a served one or a file that is no socket) and makes the socket mode 0600.
   */
  async listen(): Promise<void> {
    if (this.#server !== null || this.#closing !== null) throw new Error('AbciServer listens once');
    const address = this.#address;
    if (address.kind === 'unix') await clear_stale_socket(address.path, 'the ABCI socket');
    const server = createServer((socket) => this.#on_connection(socket));
    this.#server = server;
    server.maxConnections = this.#connections_max;
    server.on('drop', (data) =>
      this.#modules.log('abci_connection_refused', {
        remote: data?.remoteAddress ?? 'unix',
        connections_max: this.#connections_max,
      }),
    );
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      const bound = () => {
        server.off('error', fail);
        done();
      };
      if (address.kind === 'unix') server.listen(address.path, bound);
      else server.listen(address.port, address.host, bound);
    });
    if (address.kind === 'unix') chmodSync(address.path, 0o600);
    server.on('error', (error) => this.#modules.log('abci_server_error', { error: describe_error(error) }));
    this.#modules.log('abci_listening', {
      address: address.kind === 'unix' ? `unix://${address.path}` : `tcp://${address.host}:${address.port}`,
      frame_bytes_max: this.#frame_bytes_max,
      connections_max: this.#connections_max,
    });
  }

  /** Stops accepting, closes every connection, resolves when closed (idempotent). */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const server = this.#server;
    if (server === null) return;
    const closed = new Promise<void>((done) => server.close(() => done()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
    this.#modules.log('abci_closed', { connections: this.#connections_seen });
  }

  #on_connection(socket: Socket): void {
    const id = ++this.#connections_seen;
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    this.#modules.log('abci_connection', { connection: id, remote: socket.remoteAddress ?? 'unix' });
    new AbciConnection(socket, id, this.#frame_bytes_max, this.#modules);
  }
}
