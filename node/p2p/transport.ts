/**
 * The peer-to-peer transport of Cloister validators (docs/p2p.md): TCP connections between the
 * validators listed in configuration, mutually authenticated with their Ed25519 validator keys,
 * with every frame MAC'd under keys of its session and numbered, one connection per pair of
 * validators (the lower key dials), reconnection with exponential backoff, and a limit or a
 * deadline on everything.
 * Validators are separate processes, possibly on separate machines: only addresses are shared.
 * @module
 */

import { connect, createServer, type Server, type Socket } from 'node:net';
import type { CryptoProvider } from '../../protocol/provider.js';
import type { Rng } from '../modules.js';
import { system_rng } from '../real_world.js';
import { Connection, type ConnectionConfig, type ConnectionHooks } from './connection.js';
import {
  body_text,
  FRAME_OVERHEAD_BYTES_MAX,
  type Hello,
  is_chain_id,
  is_key_hex,
  type WireFrame,
} from './wire.js';

/** Where a validator listens: its public key and its TCP address. */
export interface PeerAddress {
  /** 64 lowercase hex: the validator's Ed25519 public key. */
  pubkey: string;
  host: string;
  port: number;
}

/** Configuration of a {@link Transport}. Every limit is required; the optional ones have defaults in {@link P2P_DEFAULTS}. */
export interface TransportOptions {
  chain_id: string;
  listen_host: string;
  /** 0: any free port ({@link Transport.start} says which). */
  listen_port: number;
  /** The validators to connect with. An entry with the node's own key is ignored. */
  peers: PeerAddress[];
  /** Largest session frame in either direction (payload bytes, after the 4-byte length). */
  frame_bytes_max: number;
  /** Frames waiting to be written to one peer; more are dropped. */
  send_queue_frames_max: number;
  /**
   * Bytes waiting to be written to one peer; a frame that would go past it is dropped (one frame
   * into an empty queue always fits). Default: max(64 MiB, 2 × frame_bytes_max).
   */
  send_queue_bytes_max?: number;
  /** Deadline of the handshake, from TCP connect to both keys proven. */
  handshake_timeout_ms: number;
  /** Deadline of the TCP connect when dialing. */
  connect_timeout_ms: number;
  /** Smallest wait before redialing a peer. */
  reconnect_min_ms: number;
  /** Largest wait before redialing a peer (the backoff doubles up to it). */
  reconnect_max_ms: number;
  /** Default deadline of {@link Transport.request}; also how long a request handler may take. */
  request_timeout_ms: number;
  /** A ping goes out when nothing was sent for about half of this. */
  ping_interval_ms?: number;
  /** A connection on which nothing arrived for this long is closed (a dead or stalled peer). */
  idle_timeout_ms?: number;
  /** Accepted connections still in their handshake; more are refused at once. */
  handshakes_max?: number;
  /** Requests one peer may have outstanding at our handler; more are answered with an error. */
  inbound_requests_max?: number;
  /** Our requests outstanding to one peer; more reject with BUSY. */
  outbound_requests_max?: number;
}

/** Defaults of the optional {@link TransportOptions}. */
export const P2P_DEFAULTS = Object.freeze({
  /** The default `send_queue_bytes_max` is this or two largest frames, whichever is more. */
  send_queue_bytes_min: 64 * 1024 * 1024,
  ping_interval_ms: 5_000,
  idle_timeout_ms: 20_000,
  handshakes_max: 64,
  inbound_requests_max: 64,
  outbound_requests_max: 256,
});

/** Bounds the options are checked against. */
export const P2P_LIMITS = Object.freeze({
  /** Room for a handshake frame and a small body. */
  frame_bytes_min: 1024,
  frame_bytes_max: 256 * 1024 * 1024,
  send_queue_frames_max: 1_000_000,
  send_queue_bytes_max: 2 ** 40,
  /** setTimeout's largest delay. */
  timeout_ms_max: 2 ** 31 - 1,
  peers_max: 10_000,
  handshakes_max: 10_000,
  requests_max: 1_000_000,
  /** Characters of a remote error message kept (error messages cross the wire; bodies never do in logs). */
  remote_error_chars_max: 200,
});

/**
 * Signs with the node's validator key; `pubkey` is its 64-hex Ed25519 public key. Used only in
 * handshakes: session frames are MAC'd.
 */
export interface TransportSigner {
  readonly pubkey: string;
  sign(message: Uint8Array): Uint8Array;
}

/** What {@link Transport} needs from its surroundings. */
export interface TransportModules {
  p: CryptoProvider;
  signer: TransportSigner;
  /** Structured log; bodies are never logged, only sizes, keys (shortened) and reasons. */
  log?: (event: string, fields: Record<string, unknown>) => void;
  /** Random source of the redial jitter (node/modules.ts); default: the operating system's. */
  rng?: Rng;
}

/**
 * Why a transport call failed:
 * - TIMEOUT: no answer within the deadline.
 * - NOT_CONNECTED: no open connection to the peer when called, or it closed before the answer.
 * - CLOSED: this transport is stopped (or stopping).
 * - REMOTE_ERROR: the peer's handler failed, or the peer refused the request (busy, no handler).
 * - TOO_LARGE: the body does not fit `frame_bytes_max`.
 * - BUSY: the peer's send queue is full or too many of our requests to it are outstanding.
 */
export type TransportErrorCode =
  | 'TIMEOUT'
  | 'NOT_CONNECTED'
  | 'CLOSED'
  | 'REMOTE_ERROR'
  | 'TOO_LARGE'
  | 'BUSY';

/** A transport call that failed for a reason the caller can act on; see {@link TransportErrorCode}. */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  /**
   * @param code why it failed.
   * @param message details (never a message body).
   */
  constructor(
    readonly code: TransportErrorCode,
    message: string,
  ) {
    super(message);
  }
}

type MessageListener = (from: string, body: unknown) => void;
type RequestHandler = (from: string, body: unknown) => Promise<unknown>;
type PeerListener = (pubkey: string, connected: boolean) => void;
type OutgoingFilter = (to: string, body: unknown) => boolean;

interface PeerEntry {
  address: PeerAddress;
  /** The authenticated connection, if any. */
  link: Connection | null;
  /** Our outgoing connection attempt (dialer side only). */
  dialing: Connection | null;
  redial_timer: ReturnType<typeof setTimeout> | null;
  /** Failed attempts since the last successful handshake: the backoff exponent. */
  attempts: number;
  /** Set by remove_peer, so closing its connections neither redials nor finds it gone too early. */
  removed: boolean;
}

interface PendingRequest {
  to: string;
  conn: Connection;
  timer: ReturnType<typeof setTimeout>;
  resolve: (value: unknown) => void;
  reject: (err: TransportError) => void;
}

type TransportState = 'new' | 'starting' | 'running' | 'stopped';

function short(pubkey: string | null): string {
  return pubkey === null ? '?' : pubkey.slice(0, 12);
}

function check_int(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer ${min}..${max}, got ${value}`);
  }
  return value;
}

function check_address(value: unknown, where: string): PeerAddress {
  if (typeof value !== 'object' || value === null)
    throw new TypeError(`${where} must be {pubkey, host, port}`);
  const { pubkey, host, port } = value as Record<string, unknown>;
  if (!is_key_hex(pubkey)) throw new TypeError(`${where}.pubkey must be 64 lowercase hex chars`);
  if (typeof host !== 'string' || host.length === 0 || host.length > 253) {
    throw new TypeError(`${where}.host must be a non-empty string of at most 253 chars`);
  }
  return { pubkey, host, port: check_int(`${where}.port`, port, 1, 65535) };
}

function describe_error(err: unknown): string {
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : 'handler failed';
  return message.slice(0, P2P_LIMITS.remote_error_chars_max);
}

/**
 * Authenticated, numbered messaging between the validators of one chain. Construct, {@link start},
 * then talk; {@link stop} ends it for good (a restarted node makes a new instance).
 */
export class Transport {
  readonly #opts: Required<Omit<TransportOptions, 'peers'>>;
  readonly #config: ConnectionConfig;
  readonly #p: CryptoProvider;
  readonly #signer: TransportSigner;
  readonly #log: (event: string, fields: Record<string, unknown>) => void;
  readonly #own: string;
  readonly #peers = new Map<string, PeerEntry>();
  /** Connections whose handshake has not completed, in both directions. */
  readonly #handshaking = new Set<Connection>();
  /** How many of {@link #handshaking} we accepted (the ones strangers can open, so the limited ones). */
  #accepting = 0;
  readonly #pending = new Map<number, PendingRequest>();
  readonly #message_listeners: MessageListener[] = [];
  readonly #rng: Rng;
  readonly #peer_listeners: PeerListener[] = [];
  readonly #hooks: ConnectionHooks;
  #request_handler: RequestHandler | null = null;
  #filter: OutgoingFilter | null = null;
  #server: Server | null = null;
  #state: TransportState = 'new';
  #next_request_id = 1;
  #cancel_start: (() => void) | null = null;

  /**
   * Checks every option (TypeError for a wrong type, RangeError for a value out of bounds).
   * Nothing happens on the network until {@link start}.
   */
  constructor(opts: TransportOptions, modules: TransportModules) {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('opts must be an object');
    if (typeof modules !== 'object' || modules === null) throw new TypeError('modules must be an object');
    const { p, signer, log } = modules;
    if (
      typeof p?.ed25519_verify !== 'function' ||
      typeof p.sha256 !== 'function' ||
      typeof p.hmac_sha256 !== 'function' ||
      typeof p.hkdf !== 'function' ||
      typeof p.x25519_secret !== 'function'
    ) {
      throw new TypeError('modules.p must be a CryptoProvider');
    }
    if (typeof signer?.sign !== 'function' || !is_key_hex(signer.pubkey)) {
      throw new TypeError('modules.signer must have a 64-hex pubkey and a sign function');
    }
    if (log !== undefined && typeof log !== 'function') throw new TypeError('modules.log must be a function');
    this.#rng = modules.rng ?? system_rng();
    if (!is_chain_id(opts.chain_id)) throw new TypeError('chain_id must be 1-64 chars of [A-Za-z0-9._-]');
    if (typeof opts.listen_host !== 'string' || opts.listen_host.length === 0) {
      throw new TypeError('listen_host must be a non-empty string');
    }
    const t_max = P2P_LIMITS.timeout_ms_max;
    const ping_interval_ms = check_int(
      'ping_interval_ms',
      opts.ping_interval_ms ?? P2P_DEFAULTS.ping_interval_ms,
      10,
      t_max,
    );
    const frame_bytes_max = check_int(
      'frame_bytes_max',
      opts.frame_bytes_max,
      P2P_LIMITS.frame_bytes_min,
      P2P_LIMITS.frame_bytes_max,
    );
    this.#opts = {
      chain_id: opts.chain_id,
      listen_host: opts.listen_host,
      listen_port: check_int('listen_port', opts.listen_port, 0, 65535),
      frame_bytes_max,
      send_queue_frames_max: check_int(
        'send_queue_frames_max',
        opts.send_queue_frames_max,
        1,
        P2P_LIMITS.send_queue_frames_max,
      ),
      handshake_timeout_ms: check_int('handshake_timeout_ms', opts.handshake_timeout_ms, 1, t_max),
      connect_timeout_ms: check_int('connect_timeout_ms', opts.connect_timeout_ms, 1, t_max),
      reconnect_min_ms: check_int('reconnect_min_ms', opts.reconnect_min_ms, 1, t_max),
      reconnect_max_ms: check_int('reconnect_max_ms', opts.reconnect_max_ms, 1, t_max),
      request_timeout_ms: check_int('request_timeout_ms', opts.request_timeout_ms, 1, t_max),
      send_queue_bytes_max: check_int(
        'send_queue_bytes_max',
        opts.send_queue_bytes_max ?? Math.max(P2P_DEFAULTS.send_queue_bytes_min, 2 * frame_bytes_max),
        1,
        P2P_LIMITS.send_queue_bytes_max,
      ),
      ping_interval_ms,
      // Two intervals at least, so one late ping never closes a healthy link.
      idle_timeout_ms: check_int(
        'idle_timeout_ms',
        opts.idle_timeout_ms ?? Math.max(P2P_DEFAULTS.idle_timeout_ms, 2 * ping_interval_ms),
        2 * ping_interval_ms,
        t_max,
      ),
      handshakes_max: check_int(
        'handshakes_max',
        opts.handshakes_max ?? P2P_DEFAULTS.handshakes_max,
        1,
        P2P_LIMITS.handshakes_max,
      ),
      inbound_requests_max: check_int(
        'inbound_requests_max',
        opts.inbound_requests_max ?? P2P_DEFAULTS.inbound_requests_max,
        1,
        P2P_LIMITS.requests_max,
      ),
      outbound_requests_max: check_int(
        'outbound_requests_max',
        opts.outbound_requests_max ?? P2P_DEFAULTS.outbound_requests_max,
        1,
        P2P_LIMITS.requests_max,
      ),
    };
    if (this.#opts.reconnect_min_ms > this.#opts.reconnect_max_ms) {
      throw new RangeError('reconnect_min_ms must not exceed reconnect_max_ms');
    }
    this.#config = {
      chain_id: this.#opts.chain_id,
      frame_bytes_max: this.#opts.frame_bytes_max,
      send_queue_frames_max: this.#opts.send_queue_frames_max,
      send_queue_bytes_max: this.#opts.send_queue_bytes_max,
      handshake_timeout_ms: this.#opts.handshake_timeout_ms,
      connect_timeout_ms: this.#opts.connect_timeout_ms,
      ping_interval_ms: this.#opts.ping_interval_ms,
      idle_timeout_ms: this.#opts.idle_timeout_ms,
    };
    this.#p = p;
    this.#signer = signer;
    this.#own = signer.pubkey;
    // A throwing log function must not break a connection (it runs inside socket callbacks).
    this.#log = (event, fields) => {
      try {
        log?.(event, fields);
      } catch {
        // Nothing sensible to do: the log itself is what failed.
      }
    };
    if (!Array.isArray(opts.peers)) throw new TypeError('peers must be an array');
    if (opts.peers.length > P2P_LIMITS.peers_max)
      throw new RangeError(`more than ${P2P_LIMITS.peers_max} peers`);
    opts.peers.forEach((peer, i) => {
      const address = check_address(peer, `peers[${i}]`);
      if (this.#peers.has(address.pubkey)) throw new RangeError(`peers[${i}] lists a key twice`);
      if (address.pubkey !== this.#own) this.#peers.set(address.pubkey, this.#new_entry(address));
    });
    this.#hooks = {
      check_hello: (conn, hello) => this.#check_hello(conn, hello),
      opened: (conn) => this.#opened(conn),
      frame: (conn, frame) => this.#on_frame(conn, frame),
      closed: (conn, reason, was_open) => this.#closed(conn, reason, was_open),
      queue_event: (conn, full, dropped) => {
        const peer = short(conn.peer_pubkey);
        if (full) {
          this.#log('p2p.queue_full', {
            peer,
            queue_frames: conn.queued_frames,
            queue_bytes: conn.queued_bytes,
          });
        } else this.#log('p2p.queue_drained', { peer, dropped_frames: dropped });
      },
    };
  }

  /** Starts listening and dialing; resolves with the bound port. Rejects if the port cannot be bound. */
  async start(): Promise<{ port: number }> {
    if (this.#state !== 'new') throw new Error(`transport cannot start: it is ${this.#state}`);
    this.#state = 'starting';
    const server = createServer((socket) => this.#accept(socket));
    this.#server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        // Closing a server whose listen() is still pending abandons the listen without a word, so
        // stop() rejects this wait itself instead of leaving start() pending forever.
        this.#cancel_start = () => reject(new TransportError('CLOSED', 'transport stopped while starting'));
        server.once('error', reject);
        server.listen({ host: this.#opts.listen_host, port: this.#opts.listen_port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.#state = 'stopped';
      this.#server = null;
      server.close();
      throw err;
    } finally {
      this.#cancel_start = null;
    }
    // stop() may also run in the moment between the bind and this line; it closed the server.
    if (this.#state !== 'starting') throw new TransportError('CLOSED', 'transport stopped while starting');
    server.on('error', (err) => this.#log('p2p.listener_error', { reason: describe_error(err) }));
    const address = server.address();
    if (address === null || typeof address === 'string')
      throw new Error('p2p invariant: a TCP listener has a port');
    this.#state = 'running';
    this.#log('p2p.start', {
      pubkey: short(this.#own),
      host: this.#opts.listen_host,
      port: address.port,
      peers: this.#peers.size,
    });
    for (const entry of this.#peers.values()) this.#dial(entry);
    return { port: address.port };
  }

  /** Closes every connection and the listener; pending requests reject with CLOSED. Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    const server = this.#server;
    this.#state = 'stopped';
    this.#server = null;
    this.#cancel_start?.();
    // Sockets are destroyed rather than ended: a dead peer must not hold up the stop.
    for (const entry of this.#peers.values()) {
      if (entry.redial_timer !== null) clearTimeout(entry.redial_timer);
      entry.redial_timer = null;
      entry.dialing?.close('transport stopped');
      entry.link?.close('transport stopped');
    }
    for (const conn of [...this.#handshaking]) conn.close('transport stopped');
    for (const [id, pending] of this.#pending) {
      this.#settle(id, pending);
      pending.reject(new TransportError('CLOSED', 'transport stopped'));
    }
    if (server !== null) {
      // close() waits for accepted sockets, all destroyed above, so this cannot hang.
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    this.#log('p2p.stop', { pubkey: short(this.#own) });
  }

  /**
   * Adds a validator to connect with, or moves a known one to a new address (used for the next
   * dial). Its own key is ignored. Lets a node start on port 0 and learn its peers' ports later.
   */
  add_peer(peer: PeerAddress): void {
    const address = check_address(peer, 'peer');
    if (address.pubkey === this.#own) return;
    const entry = this.#peers.get(address.pubkey);
    if (entry === undefined) {
      if (this.#peers.size >= P2P_LIMITS.peers_max)
        throw new RangeError(`more than ${P2P_LIMITS.peers_max} peers`);
      const added = this.#new_entry(address);
      this.#peers.set(address.pubkey, added);
      this.#dial(added);
      return;
    }
    if (entry.address.host === address.host && entry.address.port === address.port) return;
    entry.address = address;
    if (entry.link === null && entry.dialing === null) {
      // A new address deserves a prompt try, not the old address's backoff.
      if (entry.redial_timer !== null) clearTimeout(entry.redial_timer);
      entry.redial_timer = null;
      entry.attempts = 0;
      this.#dial(entry);
    }
  }

  /** Forgets a validator: closes its connection and stops dialing it. Unknown keys are ignored. */
  remove_peer(pubkey: string): void {
    if (!is_key_hex(pubkey)) throw new TypeError('pubkey must be 64 lowercase hex chars');
    const entry = this.#peers.get(pubkey);
    if (entry === undefined) return;
    // Close while still listed, so the link's close reports on_peer(false) like any other.
    entry.removed = true;
    if (entry.redial_timer !== null) clearTimeout(entry.redial_timer);
    entry.redial_timer = null;
    entry.dialing?.close('peer removed');
    entry.link?.close('peer removed');
    this.#peers.delete(pubkey);
  }

  /** Sends a JSON-serializable body to every connected peer (dropped for a peer whose queue is full). */
  broadcast(body: unknown): void {
    const text = this.#body_text(body);
    if (this.#state !== 'running') return;
    for (const [pubkey, entry] of this.#peers) {
      if (entry.link === null || !this.#passes_filter(pubkey, body)) continue;
      entry.link.send('msg', null, text);
    }
  }

  /**
   * Sends a JSON-serializable body to one peer. Returns false if not connected or its queue is
   * full; true once queued (or dropped by the outgoing filter, which simulates a silent node).
   * Throws TypeError for a body that is not JSON, TransportError TOO_LARGE for one over the limit.
   */
  send(to: string, body: unknown): boolean {
    if (!is_key_hex(to)) throw new TypeError('to must be a 64-hex public key');
    const text = this.#body_text(body);
    const link = this.#link(to);
    if (link === null) return false;
    if (!this.#passes_filter(to, body)) return true;
    return link.send('msg', null, text) === 'queued';
  }

  /**
   * Request/response with id; rejects with TransportError on timeout (TIMEOUT), disconnect
   * (NOT_CONNECTED), remote error (REMOTE_ERROR), stop (CLOSED), size (TOO_LARGE) or a full
   * queue (BUSY). Throws TypeError / RangeError at once for bad arguments.
   */
  request(to: string, body: unknown, timeout_ms?: number): Promise<unknown> {
    if (!is_key_hex(to)) throw new TypeError('to must be a 64-hex public key');
    const deadline_ms = check_int(
      'timeout_ms',
      timeout_ms ?? this.#opts.request_timeout_ms,
      1,
      P2P_LIMITS.timeout_ms_max,
    );
    let text: string;
    try {
      text = this.#body_text(body);
    } catch (err) {
      if (err instanceof TransportError) return Promise.reject(err);
      throw err;
    }
    if (this.#state !== 'running')
      return Promise.reject(new TransportError('CLOSED', 'transport is not running'));
    const link = this.#link(to);
    if (link === null)
      return Promise.reject(new TransportError('NOT_CONNECTED', `not connected to ${short(to)}`));
    if (link.outbound_requests.size >= this.#opts.outbound_requests_max) {
      return Promise.reject(new TransportError('BUSY', `too many requests outstanding to ${short(to)}`));
    }
    const id = this.#next_request_id++;
    if (!Number.isSafeInteger(id)) throw new Error('p2p invariant: request ids exhausted');
    // A filtered request is never sent, like one from a silent node: it runs into its deadline.
    if (this.#passes_filter(to, body)) {
      const sent = link.send('req', id, text);
      if (sent === 'full')
        return Promise.reject(new TransportError('BUSY', `send queue to ${short(to)} is full`));
      if (sent === 'closed')
        return Promise.reject(new TransportError('NOT_CONNECTED', `not connected to ${short(to)}`));
    }
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        const pending = this.#pending.get(id);
        if (pending === undefined) return;
        this.#settle(id, pending);
        reject(new TransportError('TIMEOUT', `no answer from ${short(to)} within ${deadline_ms} ms`));
      }, deadline_ms);
      this.#pending.set(id, { to, conn: link, timer, resolve, reject });
      link.outbound_requests.add(id);
    });
  }

  /** Adds a listener of messages (`send`/`broadcast` bodies) from peers. Listener errors are logged. */
  on_message(fn: (from: string, body: unknown) => void): void {
    if (typeof fn !== 'function') throw new TypeError('listener must be a function');
    this.#message_listeners.push(fn);
  }

  /**
   * Sets the handler of requests from peers (one handler; a later call replaces it). Its result
   * (undefined counts as null) is the response; a rejection becomes REMOTE_ERROR at the caller.
   * A handler slower than `request_timeout_ms` is not answered: the caller times out.
   */
  on_request(fn: (from: string, body: unknown) => Promise<unknown>): void {
    if (typeof fn !== 'function') throw new TypeError('handler must be a function');
    this.#request_handler = fn;
  }

  /** Adds a listener of peers connecting (true, handshake done) and disconnecting (false). */
  on_peer(fn: (pubkey: string, connected: boolean) => void): void {
    if (typeof fn !== 'function') throw new TypeError('listener must be a function');
    this.#peer_listeners.push(fn);
  }

  /** Keys of the peers with an authenticated connection, sorted. */
  connected_peers(): string[] {
    const out: string[] = [];
    for (const [pubkey, entry] of this.#peers) if (entry.link !== null) out.push(pubkey);
    return out.sort();
  }

  /** For simulations of byzantine 'silent' nodes: when set, outgoing frames for which it returns false are dropped. */
  set_outgoing_filter(fn: ((to: string, body: unknown) => boolean) | null): void {
    if (fn !== null && typeof fn !== 'function') throw new TypeError('filter must be a function or null');
    this.#filter = fn;
  }

  /** Frames waiting in the send queue of `to` (0 when not connected). */
  queue_depth(to: string): number {
    if (!is_key_hex(to)) throw new TypeError('to must be a 64-hex public key');
    return this.#link(to)?.queued_frames ?? 0;
  }

  /** Bytes of the frames waiting in the send queue of `to` (0 when not connected). */
  queue_bytes(to: string): number {
    if (!is_key_hex(to)) throw new TypeError('to must be a 64-hex public key');
    return this.#link(to)?.queued_bytes ?? 0;
  }

  /**
   * Resolves when every frame queued for `to` has been handed to the OS, or when its connection
   * closes (so a dead peer cannot hold it: the idle timeout closes its connection). At once when
   * not connected.
   */
  drained(to: string): Promise<void> {
    if (!is_key_hex(to)) throw new TypeError('to must be a 64-hex public key');
    return this.#link(to)?.drained() ?? Promise.resolve();
  }

  #new_entry(address: PeerAddress): PeerEntry {
    return { address, link: null, dialing: null, redial_timer: null, attempts: 0, removed: false };
  }

  #link(to: string): Connection | null {
    return this.#peers.get(to)?.link ?? null;
  }

  /**
   * `JSON.stringify(body)` once checked (wire.ts `body_text`), and checked against the frame limit
   * (TypeError for non-JSON, TOO_LARGE when over). Called once per send or broadcast, not per peer.
   */
  #body_text(body: unknown): string {
    const text = body_text(body);
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes + FRAME_OVERHEAD_BYTES_MAX > this.#opts.frame_bytes_max) {
      throw new TransportError(
        'TOO_LARGE',
        `body of ${bytes} bytes exceeds ${this.#opts.frame_bytes_max - FRAME_OVERHEAD_BYTES_MAX} bytes`,
      );
    }
    return text;
  }

  #passes_filter(to: string, body: unknown): boolean {
    const filter = this.#filter;
    if (filter === null) return true;
    try {
      return filter(to, body) === true;
    } catch (err) {
      // A broken filter drops: it exists to silence, so failing closed is the safe reading.
      this.#log('p2p.filter_error', { peer: short(to), reason: describe_error(err) });
      return false;
    }
  }

  /** True if `pubkey` dials us; we dial exactly the peers whose key is greater than ours. */
  #we_dial(pubkey: string): boolean {
    return this.#own < pubkey;
  }

  #dial(entry: PeerEntry): void {
    if (this.#state !== 'running' || !this.#we_dial(entry.address.pubkey)) return;
    if (entry.link !== null || entry.dialing !== null || entry.redial_timer !== null) return;
    const { host, port, pubkey } = entry.address;
    const socket = connect({ host, port });
    const conn = new Connection(
      { socket, role: 'dialer', expected_pubkey: pubkey, config: this.#config, remote: `${host}:${port}` },
      { p: this.#p, signer: this.#signer, hooks: this.#hooks },
    );
    entry.dialing = conn;
    this.#handshaking.add(conn);
  }

  #schedule_redial(entry: PeerEntry): number {
    if (entry.redial_timer !== null) clearTimeout(entry.redial_timer);
    const { reconnect_min_ms, reconnect_max_ms } = this.#opts;
    const base = Math.min(reconnect_max_ms, reconnect_min_ms * 2 ** Math.min(entry.attempts, 30));
    // ±25% jitter, so validators that lost a peer at the same moment do not redial in lockstep.
    const delay_ms = Math.round(
      Math.min(reconnect_max_ms, Math.max(reconnect_min_ms, base * (0.75 + 0.5 * this.#rng.next()))),
    );
    entry.attempts++;
    entry.redial_timer = setTimeout(() => {
      entry.redial_timer = null;
      if (this.#peers.get(entry.address.pubkey) === entry) this.#dial(entry);
    }, delay_ms);
    return delay_ms;
  }

  #accept(socket: Socket): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    if (this.#state !== 'running') {
      socket.destroy();
      return;
    }
    if (this.#accepting >= this.#opts.handshakes_max) {
      socket.destroy();
      this.#log('p2p.handshake_failed', {
        role: 'acceptor',
        remote,
        reason: 'too many handshakes in progress',
      });
      return;
    }
    const conn = new Connection(
      { socket, role: 'acceptor', expected_pubkey: null, config: this.#config },
      { p: this.#p, signer: this.#signer, hooks: this.#hooks },
    );
    // The constructor may already have closed it (a socket that errored at once).
    if (conn.state !== 'closed') {
      this.#handshaking.add(conn);
      this.#accepting++;
    }
  }

  #check_hello(conn: Connection, hello: Hello): string | null {
    if (this.#state !== 'running') return 'transport stopped';
    if (hello.chain_id !== this.#opts.chain_id) return 'wrong chain id';
    if (hello.pubkey === this.#own) return 'peer claims our own key';
    if (!this.#peers.has(hello.pubkey)) return 'unknown key';
    if (conn.role === 'dialer') {
      if (hello.pubkey !== conn.expected_pubkey) return 'a different key answered at the address';
    } else if (this.#we_dial(hello.pubkey)) {
      // One connection per pair: the lower key dials. Refusing the other direction also means a
      // relay cannot splice two of our own handshakes together (docs/p2p.md).
      return 'wrong direction: the lower key dials';
    }
    return null;
  }

  #opened(conn: Connection): void {
    this.#forget_handshake(conn);
    const pubkey = conn.peer_pubkey;
    if (pubkey === null) throw new Error('p2p invariant: an open connection knows its peer');
    const entry = this.#peers.get(pubkey);
    if (this.#state !== 'running' || entry === undefined) {
      conn.close('peer no longer listed');
      return;
    }
    if (conn.role === 'dialer') {
      if (entry.dialing !== conn) {
        conn.close('superseded dial');
        return;
      }
      entry.dialing = null;
      entry.attempts = 0;
    }
    // The acceptor keeps the newest connection: the dialer only dials when it has none, so an
    // older one is from before the dialer restarted and is dead even if no FIN reached us.
    entry.link?.close('replaced by a newer connection');
    if (entry.link !== null) throw new Error('p2p invariant: a replaced link is gone');
    entry.link = conn;
    this.#log('p2p.peer_up', { peer: short(pubkey), role: conn.role, remote: conn.remote });
    this.#emit_peer(pubkey, true);
  }

  #forget_handshake(conn: Connection): void {
    if (this.#handshaking.delete(conn) && conn.role === 'acceptor') this.#accepting--;
    if (this.#accepting < 0) throw new Error('p2p invariant: negative count of accepted handshakes');
  }

  #closed(conn: Connection, reason: string, was_open: boolean): void {
    this.#forget_handshake(conn);
    const pubkey = conn.role === 'dialer' ? conn.expected_pubkey : conn.peer_pubkey;
    const entry = pubkey === null ? undefined : this.#peers.get(pubkey);
    for (const id of conn.outbound_requests) {
      const pending = this.#pending.get(id);
      if (pending === undefined) continue;
      this.#settle(id, pending);
      pending.reject(
        this.#state === 'stopped'
          ? new TransportError('CLOSED', 'transport stopped')
          : new TransportError('NOT_CONNECTED', `connection to ${short(pubkey)} closed: ${reason}`),
      );
    }
    let retry_in_ms: number | null = null;
    if (entry !== undefined && conn.role === 'dialer' && (entry.dialing === conn || entry.link === conn)) {
      entry.dialing = null;
      if (this.#state === 'running' && !entry.removed) retry_in_ms = this.#schedule_redial(entry);
    }
    if (was_open && entry !== undefined && entry.link === conn) {
      entry.link = null;
      this.#log('p2p.peer_down', { peer: short(pubkey), reason, retry_in_ms });
      this.#emit_peer(pubkey!, false);
    } else {
      // Never open, or opened and at once refused by #opened (superseded, no longer listed).
      this.#log('p2p.handshake_failed', {
        role: conn.role,
        peer: short(pubkey),
        remote: conn.remote,
        reason,
        retry_in_ms,
      });
    }
  }

  #settle(id: number, pending: PendingRequest): void {
    clearTimeout(pending.timer);
    this.#pending.delete(id);
    pending.conn.outbound_requests.delete(id);
  }

  #emit_peer(pubkey: string, connected: boolean): void {
    for (const fn of this.#peer_listeners) {
      try {
        fn(pubkey, connected);
      } catch (err) {
        this.#log('p2p.listener_error', { peer: short(pubkey), reason: describe_error(err) });
      }
    }
  }

  #on_frame(conn: Connection, frame: WireFrame): void {
    const from = conn.peer_pubkey;
    if (from === null) throw new Error('p2p invariant: an open connection knows its peer');
    switch (frame.kind) {
      case 'msg':
        for (const fn of this.#message_listeners) {
          try {
            fn(from, frame.body);
          } catch (err) {
            this.#log('p2p.listener_error', { peer: short(from), reason: describe_error(err) });
          }
          if (conn.state !== 'open') return;
        }
        return;
      case 'req':
        this.#serve(conn, from, frame.id!, frame.body);
        return;
      case 'res':
      case 'err': {
        const pending = this.#pending.get(frame.id!);
        // Unknown ids are answers that arrived after their deadline: nothing waits for them.
        if (pending === undefined || pending.conn !== conn) return;
        this.#settle(frame.id!, pending);
        if (frame.kind === 'res') {
          pending.resolve(frame.body);
        } else {
          const message = (frame.body as { message?: unknown } | null)?.message;
          const text =
            typeof message === 'string' ? message.slice(0, P2P_LIMITS.remote_error_chars_max) : '?';
          pending.reject(
            new TransportError('REMOTE_ERROR', `${short(from)} answered with an error: ${text}`),
          );
        }
        return;
      }
      default:
        throw new Error(`p2p invariant: frame kind ${frame.kind} reached the transport`);
    }
  }

  /** Runs the request handler for one request, within the request deadline and the per-peer limit. */
  #serve(conn: Connection, from: string, id: number, body: unknown): void {
    const handler = this.#request_handler;
    if (handler === null) {
      this.#answer(conn, from, id, 'err', { message: 'no request handler' });
      return;
    }
    if (conn.inbound_timers.size >= this.#opts.inbound_requests_max) {
      this.#answer(conn, from, id, 'err', { message: 'busy: too many requests in progress' });
      return;
    }
    let done = false;
    const timer = setTimeout(() => {
      // The caller's own deadline has passed by now too: free the slot, drop the late answer.
      done = true;
      conn.inbound_timers.delete(timer);
      this.#log('p2p.handler_timeout', { peer: short(from), id });
    }, this.#opts.request_timeout_ms);
    conn.inbound_timers.add(timer);
    const finish = (kind: 'res' | 'err', answer: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      conn.inbound_timers.delete(timer);
      try {
        this.#answer(conn, from, id, kind, answer);
      } catch (err) {
        // Only the provider or a broken invariant can throw here; the connection cannot go on.
        conn.close(`cannot answer: ${describe_error(err)}`);
      }
    };
    Promise.resolve()
      .then(() => handler(from, body))
      .then(
        (result) => finish('res', result === undefined ? null : result),
        (err: unknown) => finish('err', { message: describe_error(err) }),
      );
  }

  #answer(conn: Connection, to: string, id: number, kind: 'res' | 'err', body: unknown): void {
    if (conn.state !== 'open') return;
    let text: string;
    let answer = body;
    let answer_kind = kind;
    try {
      text = this.#body_text(body);
    } catch (err) {
      // The handler's result cannot go out as it is: tell the caller why instead of letting it time out.
      const why = err instanceof TransportError ? 'response too large' : 'response is not JSON';
      this.#log('p2p.bad_response', { peer: short(to), id, reason: why });
      answer = { message: why };
      answer_kind = 'err';
      text = body_text(answer);
    }
    if (!this.#passes_filter(to, answer)) return;
    // A full queue drops the answer like any other frame; the caller then times out.
    conn.send(answer_kind, id, text);
  }
}
