/**
 * One TCP connection of the peer-to-peer transport: the mutually authenticated handshake with an
 * ephemeral X25519 exchange, then MAC'd, sequence-numbered frames in both directions, a bounded
 * send queue and a keepalive.
 * It knows nothing of other connections; {@link ConnectionHooks} let the transport decide who is
 * acceptable and what frames mean. Internal to node/p2p (docs/p2p.md describes the protocol).
 * @module
 */

import type { Socket } from 'node:net';
import { from_hex, from_utf8, to_hex } from '../../protocol/bytes.js';
import { jcs } from '../../protocol/jcs.js';
import type { CryptoProvider, X25519Secret } from '../../protocol/provider.js';
import { encode_frame, FRAME_HEADER_BYTES, FrameDecoder, FrameTooLargeError } from './framing.js';
import {
  body_fault,
  EPHEMERAL_BYTES,
  encode_session_frame,
  FRAME_OVERHEAD_BYTES_MAX,
  type FrameKind,
  frame_text,
  HANDSHAKE_FRAME_BYTES_MAX,
  type Hello,
  hello_sign_bytes,
  NONCE_BYTES,
  open_session_frame,
  parse_frame,
  parse_hello,
  parse_hello_auth,
  session_id,
  session_keys,
  verify_signature_hex,
  type WireFrame,
} from './wire.js';

/** Who opened the TCP connection. */
export type ConnectionRole = 'dialer' | 'acceptor';

/** Where a connection is in its life. */
export type ConnectionState = 'connecting' | 'handshake' | 'open' | 'closed';

/** What enqueuing a frame did. */
export type SendResult = 'queued' | 'full' | 'closed';

/** Signs with the node's validator key (the transport's `TransportSigner`); used only in the handshake. */
export interface ConnectionSigner {
  readonly pubkey: string;
  sign(message: Uint8Array): Uint8Array;
}

/** Limits and identity shared by every connection of one transport. */
export interface ConnectionConfig {
  chain_id: string;
  frame_bytes_max: number;
  send_queue_frames_max: number;
  send_queue_bytes_max: number;
  handshake_timeout_ms: number;
  connect_timeout_ms: number;
  ping_interval_ms: number;
  idle_timeout_ms: number;
}

/** How a connection reports to its transport. Hooks are called synchronously and must not throw. */
export interface ConnectionHooks {
  /** The peer's hello arrived: a refusal reason (the connection then closes), or null to go on. */
  check_hello(conn: Connection, hello: Hello): string | null;
  /** The handshake completed: the peer proved its key and the session is open. */
  opened(conn: Connection): void;
  /** A session frame passed every check (tag, shape, order, body) and is not a ping. */
  frame(conn: Connection, frame: WireFrame): void;
  /** The connection closed; `was_open` tells whether its handshake had completed. */
  closed(conn: Connection, reason: string, was_open: boolean): void;
  /** Its send queue refused a frame (once per episode) or drained after refusing some. */
  queue_event(conn: Connection, full: boolean, dropped_frames: number): void;
}

function random_bytes(n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  globalThis.crypto.getRandomValues(bytes);
  return bytes;
}

function error_reason(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? code : err.message.slice(0, 120);
  }
  return 'unknown error';
}

/** A TCP connection to one peer, from handshake to close. */
export class Connection {
  /** Public key the dialer expects to reach (null for an accepted connection until its hello). */
  readonly expected_pubkey: string | null;
  /** `host:port` of the other end, for logs. */
  readonly remote: string;
  /** Requests this side sent on this connection that await an answer (managed by the transport). */
  readonly outbound_requests = new Set<number>();
  /** Timers of requests the peer sent that our handler has not answered yet (managed by the transport). */
  readonly inbound_timers = new Set<ReturnType<typeof setTimeout>>();

  readonly #socket: Socket;
  readonly #role: ConnectionRole;
  readonly #config: ConnectionConfig;
  readonly #p: CryptoProvider;
  readonly #signer: ConnectionSigner;
  readonly #hooks: ConnectionHooks;
  readonly #decoder = new FrameDecoder(HANDSHAKE_FRAME_BYTES_MAX);
  readonly #nonce = to_hex(random_bytes(NONCE_BYTES));
  /** This connection's X25519 key pair; the secret is dropped once the shared secret is computed. */
  #ephemeral: X25519Secret | null;
  readonly #ephemeral_hex: string;
  /** `X25519(own ephemeral, peer ephemeral)`, held from the peer's hello until its signature verifies. */
  #shared: Uint8Array | null = null;
  #state: ConnectionState;
  #peer_hello: Hello | null = null;
  /** MAC key of the frames we send, and of the frames we accept, once open. */
  #send_key: Uint8Array | null = null;
  #recv_key: Uint8Array | null = null;
  #send_seq = 0;
  #recv_seq = 0;
  #queued_frames = 0;
  #queued_bytes = 0;
  #dropped_frames = 0;
  #last_rx_ms = Date.now();
  #last_tx_ms = Date.now();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #keepalive: ReturnType<typeof setInterval> | null = null;
  readonly #drain_waiters: (() => void)[] = [];

  /**
   * @param socket a socket already connected (acceptor) or connecting (dialer).
   * @param role who opened it.
   * @param expected_pubkey for a dialer, the key listed at the address it dialed.
   */
  constructor(
    opts: {
      socket: Socket;
      role: ConnectionRole;
      expected_pubkey: string | null;
      config: ConnectionConfig;
      /** `host:port` for logs; by default the socket's remote address. */
      remote?: string;
    },
    modules: { p: CryptoProvider; signer: ConnectionSigner; hooks: ConnectionHooks },
  ) {
    const { socket, role, expected_pubkey, config } = opts;
    if (role === 'dialer' && expected_pubkey === null) throw new TypeError('a dialer needs an expected key');
    this.#socket = socket;
    this.#role = role;
    this.expected_pubkey = expected_pubkey;
    this.#config = config;
    this.#p = modules.p;
    this.#signer = modules.signer;
    this.#hooks = modules.hooks;
    this.#ephemeral = this.#p.x25519_secret(random_bytes(EPHEMERAL_BYTES));
    this.#ephemeral_hex = to_hex(this.#ephemeral.public_key);
    this.remote = opts.remote ?? `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#on_data(chunk));
    socket.on('error', (err) => this.close(`socket error: ${error_reason(err)}`));
    socket.on('close', () => this.close('connection closed by the other end'));
    if (role === 'dialer' && socket.connecting) {
      this.#state = 'connecting';
      this.#timer = setTimeout(() => this.close('connect timeout'), config.connect_timeout_ms);
      socket.once('connect', () => this.#begin_handshake());
    } else {
      this.#state = 'handshake';
      this.#begin_handshake();
    }
  }

  /** Who opened the connection. */
  get role(): ConnectionRole {
    return this.#role;
  }

  /** Where the connection is in its life. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The peer's proven key once open; before that the key its hello claimed, or null. */
  get peer_pubkey(): string | null {
    return this.#peer_hello?.pubkey ?? null;
  }

  /** Frames handed to the socket that it has not yet passed to the OS. */
  get queued_frames(): number {
    return this.#queued_frames;
  }

  /** Bytes of the frames counted by {@link queued_frames}. */
  get queued_bytes(): number {
    return this.#queued_bytes;
  }

  /** Resolves when the send queue is empty or the connection closes. */
  drained(): Promise<void> {
    if (this.#queued_frames === 0 || this.#state === 'closed') return Promise.resolve();
    return new Promise((resolve) => this.#drain_waiters.push(resolve));
  }

  /**
   * MACs and queues one frame. `body_text` must be `body_text(body)` (wire.ts) and the frame must fit
   * `frame_bytes_max` (the transport checks sizes before it calls). Drops the frame and answers
   * 'full' when `send_queue_frames_max` frames are already waiting, or when the frame would take
   * the queue past `send_queue_bytes_max` bytes (a frame into an empty queue always fits), rather
   * than buffer more.
   */
  send(kind: FrameKind, id: number | null, body_text: string): SendResult {
    if (this.#state !== 'open') return 'closed';
    // Bound the frame before building it, so a dropped frame costs no MAC.
    const bytes_bound = FRAME_HEADER_BYTES + Buffer.byteLength(body_text, 'utf8') + FRAME_OVERHEAD_BYTES_MAX;
    if (
      this.#queued_frames >= this.#config.send_queue_frames_max ||
      (this.#queued_frames > 0 && this.#queued_bytes + bytes_bound > this.#config.send_queue_bytes_max)
    ) {
      if (this.#dropped_frames === 0) this.#hooks.queue_event(this, true, 1);
      this.#dropped_frames++;
      return 'full';
    }
    const key = this.#send_key;
    if (key === null) throw new Error('p2p invariant: an open connection has session keys');
    const seq = this.#send_seq + 1;
    const buf = encode_session_frame(this.#p, key, frame_text(seq, kind, id, body_text));
    if (buf.length - FRAME_HEADER_BYTES > this.#config.frame_bytes_max || buf.length > bytes_bound) {
      throw new Error('p2p invariant: a frame is over frame_bytes_max or its size bound');
    }
    this.#send_seq = seq;
    this.#queued_frames++;
    this.#queued_bytes += buf.length;
    this.#last_tx_ms = Date.now();
    // The callback runs once the socket has handed the bytes to the OS (or failed): only then does
    // the frame leave the queue, so a peer that stops reading fills the queue instead of memory.
    this.#socket.write(buf, (err) => {
      this.#queued_frames--;
      this.#queued_bytes -= buf.length;
      if (err) {
        this.close(`write failed: ${error_reason(err)}`);
      } else if (this.#queued_frames === 0 && this.#dropped_frames > 0 && this.#state === 'open') {
        const dropped = this.#dropped_frames;
        this.#dropped_frames = 0;
        this.#hooks.queue_event(this, false, dropped);
      }
      if (this.#queued_frames === 0) this.#resolve_drain_waiters();
    });
    return 'queued';
  }

  /** Closes the connection (idempotent); the transport hears of it through `closed`. */
  close(reason: string): void {
    if (this.#state === 'closed') return;
    const was_open = this.#state === 'open';
    this.#state = 'closed';
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#keepalive !== null) clearInterval(this.#keepalive);
    this.#timer = null;
    this.#keepalive = null;
    this.#ephemeral = null;
    this.#shared = null;
    this.#send_key = null;
    this.#recv_key = null;
    for (const timer of this.inbound_timers) clearTimeout(timer);
    this.inbound_timers.clear();
    this.#socket.destroy();
    this.#resolve_drain_waiters();
    this.#hooks.closed(this, reason, was_open);
  }

  #resolve_drain_waiters(): void {
    for (const resolve of this.#drain_waiters.splice(0)) resolve();
  }

  #begin_handshake(): void {
    if (this.#state === 'closed') return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#state = 'handshake';
    this.#timer = setTimeout(() => this.close('handshake timeout'), this.#config.handshake_timeout_ms);
    this.#write_handshake({
      chain_id: this.#config.chain_id,
      pubkey: this.#signer.pubkey,
      nonce: this.#nonce,
      ephemeral: this.#ephemeral_hex,
    });
  }

  #write_handshake(message: unknown): void {
    this.#last_tx_ms = Date.now();
    this.#socket.write(encode_frame(jcs(message)));
  }

  #on_data(chunk: Buffer): void {
    if (this.#state === 'closed') return;
    this.#last_rx_ms = Date.now();
    this.#decoder.push(chunk);
    // A frame can close the connection (or a handler can stop the transport): check every time.
    while (this.#state === 'handshake' || this.#state === 'open') {
      let payload: Buffer | null;
      try {
        payload = this.#decoder.next();
      } catch (err) {
        if (err instanceof FrameTooLargeError) {
          this.close(`frame of ${err.length_bytes} bytes exceeds the limit of ${err.limit_bytes} bytes`);
          return;
        }
        throw err;
      }
      if (payload === null) return;
      try {
        if (this.#state === 'handshake') {
          // Handshake frames are plain JSON; session frames carry a tag that is checked first.
          const value = parse_json(payload);
          if (value === undefined) {
            this.close('frame is not UTF-8 JSON');
            return;
          }
          this.#on_handshake(value);
        } else {
          this.#on_frame(payload);
        }
      } catch (err) {
        // A throw here would escape a socket callback and end the process; it can only come from
        // the signer, the provider or a broken invariant, and either way this connection cannot
        // go on.
        this.close(`internal error: ${error_reason(err)}`);
        return;
      }
    }
  }

  #on_handshake(value: unknown): void {
    const own = this.#signer.pubkey;
    if (this.#peer_hello === null) {
      const hello = parse_hello(value);
      if (typeof hello === 'string') {
        this.close(hello);
        return;
      }
      // A nonce equal to ours can only be our own hello reflected back at us.
      if (hello.nonce === this.#nonce) {
        this.close('hello reflects our nonce');
        return;
      }
      const refusal = this.#hooks.check_hello(this, hello);
      if (refusal !== null) {
        this.close(refusal);
        return;
      }
      const ephemeral = this.#ephemeral;
      if (ephemeral === null) throw new Error('p2p invariant: a handshake has its ephemeral key');
      // Computed before signing, so a handshake that could never yield session keys costs no
      // signature: a small-order point (RFC 7748 §6.1) gives an all-zero secret, refused as null.
      const shared = ephemeral.shared(from_hex(hello.ephemeral, EPHEMERAL_BYTES));
      if (shared === null) {
        this.close('hello has a small-order ephemeral key');
        return;
      }
      this.#ephemeral = null;
      this.#shared = shared;
      this.#peer_hello = hello;
      // Only now, with the peer's key and chain id acceptable, do we sign its challenge.
      const signature = this.#signer.sign(
        hello_sign_bytes(this.#config.chain_id, own, hello.pubkey, hello.nonce, this.#ephemeral_hex),
      );
      if (!(signature instanceof Uint8Array) || signature.length !== 64) {
        throw new TypeError('signer must return a 64-byte Ed25519 signature');
      }
      this.#write_handshake({ signature: to_hex(signature) });
      return;
    }
    const auth = parse_hello_auth(value);
    if (typeof auth === 'string') {
      this.close(auth);
      return;
    }
    const peer_hello = this.#peer_hello;
    const peer = peer_hello.pubkey;
    const signed = hello_sign_bytes(this.#config.chain_id, peer, own, this.#nonce, peer_hello.ephemeral);
    if (!verify_signature_hex(this.#p, auth.signature, signed, peer)) {
      this.close('bad handshake signature');
      return;
    }
    const shared = this.#shared;
    if (shared === null) throw new Error('p2p invariant: a signed handshake has its shared secret');
    const dialer_is_us = this.#role === 'dialer';
    const session = session_id(this.#p, {
      chain_id: this.#config.chain_id,
      dialer: dialer_is_us ? own : peer,
      acceptor: dialer_is_us ? peer : own,
      dialer_nonce: dialer_is_us ? this.#nonce : peer_hello.nonce,
      acceptor_nonce: dialer_is_us ? peer_hello.nonce : this.#nonce,
      dialer_ephemeral: dialer_is_us ? this.#ephemeral_hex : peer_hello.ephemeral,
      acceptor_ephemeral: dialer_is_us ? peer_hello.ephemeral : this.#ephemeral_hex,
    });
    const keys = session_keys(this.#p, shared, session);
    this.#shared = null;
    // Each side sends with its own direction's key, so its frames reflected back never verify.
    this.#send_key = dialer_is_us ? keys.dialer_to_acceptor : keys.acceptor_to_dialer;
    this.#recv_key = dialer_is_us ? keys.acceptor_to_dialer : keys.dialer_to_acceptor;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#state = 'open';
    this.#decoder.limit_bytes = this.#config.frame_bytes_max;
    this.#keepalive = setInterval(() => {
      try {
        this.#tick();
      } catch (err) {
        // Only the provider or a broken invariant can throw here; an exception in a timer would
        // end the process.
        this.close(`internal error: ${error_reason(err)}`);
      }
    }, this.#config.ping_interval_ms);
    this.#hooks.opened(this);
  }

  #on_frame(payload: Buffer): void {
    const key = this.#recv_key;
    if (key === null) throw new Error('p2p invariant: an open connection has session keys');
    // Authenticate before anything of the text is decoded or parsed; every tag mismatch (tampered,
    // from another session, reflected, forged) closes with the same reason.
    const text = open_session_frame(this.#p, key, payload);
    if (text === 'short') {
      this.close(`session frame of ${payload.length} bytes is too short`);
      return;
    }
    if (text === 'bad mac') {
      this.close('bad frame mac');
      return;
    }
    const value = parse_json(text);
    if (value === undefined) {
      this.close('frame is not UTF-8 JSON');
      return;
    }
    const frame = parse_frame(value);
    if (typeof frame === 'string') {
      this.close(frame);
      return;
    }
    // TCP delivers in order and an honest sender numbers every frame it sends, so anything but
    // the next number is a replay, a reorder or a frame removed on the way.
    if (frame.seq !== this.#recv_seq + 1) {
      this.close(`frame seq ${frame.seq} where ${this.#recv_seq + 1} was due`);
      return;
    }
    // JSON.parse can still yield what no honest sender sends (1e999 as Infinity, a lone surrogate
    // from an escape, deep nesting): only bodies `body_text` would accept are delivered.
    if (body_fault(frame.body) !== null) {
      this.close('frame body has no canonical form');
      return;
    }
    this.#recv_seq = frame.seq;
    if (frame.kind !== 'ping') this.#hooks.frame(this, frame);
  }

  #tick(): void {
    if (this.#state !== 'open') return;
    const now = Date.now();
    if (now - this.#last_rx_ms >= this.#config.idle_timeout_ms) {
      this.close(`nothing received for ${this.#config.idle_timeout_ms} ms`);
      return;
    }
    // Half the interval: timers fire a little late, and a ping every other tick would leave the
    // peer's idle check less margin than documented.
    if (now - this.#last_tx_ms >= this.#config.ping_interval_ms / 2) this.send('ping', null, 'null');
  }
}

/** JSON of strictly decoded UTF-8, or undefined when it is neither. */
function parse_json(payload: Uint8Array): unknown {
  try {
    return JSON.parse(from_utf8(payload)) as unknown;
  } catch {
    return undefined;
  }
}
