/**
 * What the peer-to-peer transport puts on the wire (docs/p2p.md): the handshake messages, the
 * signed session frames, and the exact bytes every signature covers. Pure: no sockets, no clocks,
 * so tests (and other implementations) can build and check frames byte for byte.
 * @module
 */

import { concat, from_hex, to_hex, utf8 } from '../../protocol/bytes.js';
import { jcs } from '../../protocol/jcs.js';
import type { CryptoProvider } from '../../protocol/provider.js';

/** Domain prefix of the handshake signature. */
export const HELLO_PREFIX = 'cloister/p2p/hello/v1\n';
/** Domain prefix of every session frame signature. */
export const FRAME_PREFIX = 'cloister/p2p/frame/v1\n';
/** Domain prefix of the session id hash. */
export const SESSION_PREFIX = 'cloister/p2p/session/v1\n';

/**
 * Largest handshake frame. A handshake message is under 300 bytes; keeping the limit this small
 * means a stranger who has not proven a key cannot make a node buffer a session-sized frame.
 */
export const HANDSHAKE_FRAME_BYTES_MAX = 1024;

/**
 * Upper bound of a session frame's bytes beyond its body's JCS text: the property names, a seq and
 * an id of at most 16 digits each, the kind, and the 128-hex signature (211 bytes; rounded up).
 */
export const FRAME_OVERHEAD_BYTES_MAX = 256;

/** Bytes of a handshake nonce. */
export const NONCE_BYTES = 32;

/** What a session frame carries: a message, a request, its response or error, or a keepalive. */
export type FrameKind = 'msg' | 'req' | 'res' | 'err' | 'ping';

const FRAME_KINDS: ReadonlySet<string> = new Set<FrameKind>(['msg', 'req', 'res', 'err', 'ping']);
const KEY_RE = /^[0-9a-f]{64}$/;
const SIGNATURE_RE = /^[0-9a-f]{128}$/;
/** The chain ids genesis accepts (docs/protocol-notes.md). */
const CHAIN_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** True for a 64-char lowercase hex string: an Ed25519 public key or a 32-byte nonce. */
export function is_key_hex(value: unknown): value is string {
  return typeof value === 'string' && KEY_RE.test(value);
}

/** True for a chain id genesis would accept: 1-64 of `[A-Za-z0-9._-]`. */
export function is_chain_id(value: unknown): value is string {
  return typeof value === 'string' && CHAIN_ID_RE.test(value);
}

/** The first handshake message each side sends. */
export interface Hello {
  chain_id: string;
  pubkey: string;
  /** 32 random bytes, lowercase hex: the challenge the other side signs. */
  nonce: string;
}

/** The second handshake message: the sender's signature over {@link hello_sign_bytes}. */
export interface HelloAuth {
  signature: string;
}

/** A session frame as it is on the wire (`id` is null for `msg` and `ping`). */
export interface WireFrame {
  seq: number;
  kind: FrameKind;
  id: number | null;
  body: unknown;
  signature: string;
}

/** The identities and nonces one handshake bound together. */
export interface SessionParams {
  chain_id: string;
  /** Public key of the side that opened the TCP connection. */
  dialer: string;
  /** Public key of the side that accepted it. */
  acceptor: string;
  dialer_nonce: string;
  acceptor_nonce: string;
}

function is_plain_record(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function has_exactly(record: Record<string, unknown>, keys: readonly string[]): boolean {
  const own = Object.keys(record);
  return own.length === keys.length && keys.every((k) => Object.hasOwn(record, k));
}

/**
 * Bytes the handshake signature covers:
 * `utf8("cloister/p2p/hello/v1\n") ‖ utf8(jcs({chain_id, from, to, nonce}))`, where `from` is the
 * signer, `to` the peer it is talking to and `nonce` the peer's nonce.
 */
export function hello_sign_bytes(chain_id: string, from: string, to: string, nonce: string): Uint8Array {
  if (typeof chain_id !== 'string') throw new TypeError('chain_id must be a string');
  if (!is_key_hex(from) || !is_key_hex(to)) throw new TypeError('from and to must be 64-hex public keys');
  if (!is_key_hex(nonce)) throw new TypeError('nonce must be 64 hex chars');
  return concat(utf8(HELLO_PREFIX), utf8(jcs({ chain_id, from, to, nonce })));
}

/**
 * The session id both sides derive once the handshake is done:
 * `hex(H(utf8("cloister/p2p/session/v1\n") ‖ utf8(jcs({chain_id, dialer, acceptor, dialer_nonce, acceptor_nonce}))))`.
 * Fresh nonces on both sides make it unique per connection, so a frame signed for one session
 * never verifies in another.
 */
export function session_id(p: CryptoProvider, params: SessionParams): string {
  const { chain_id, dialer, acceptor, dialer_nonce, acceptor_nonce } = params;
  if (!is_key_hex(dialer) || !is_key_hex(acceptor)) throw new TypeError('dialer and acceptor must be keys');
  if (!is_key_hex(dialer_nonce) || !is_key_hex(acceptor_nonce)) throw new TypeError('nonces must be 64 hex');
  const text = jcs({ chain_id, dialer, acceptor, dialer_nonce, acceptor_nonce });
  return to_hex(p.sha256(concat(utf8(SESSION_PREFIX), utf8(text))));
}

function id_text(kind: FrameKind, id: number | null): string {
  const wants_id = kind === 'req' || kind === 'res' || kind === 'err';
  if (wants_id) {
    if (id === null || !Number.isSafeInteger(id) || id < 1) {
      throw new RangeError(`a ${kind} frame needs a positive safe integer id`);
    }
    return String(id);
  }
  if (id !== null) throw new RangeError(`a ${kind} frame has no id`);
  return 'null';
}

function check_seq(seq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError('seq must be a positive safe integer');
}

/**
 * The JCS text a frame signature covers, `jcs({session, seq, kind, id, body})`, built around the
 * body's JCS text so a broadcast canonicalizes its body once rather than once per peer.
 * `body_text` must be `jcs(body)`; tests check the result equals `jcs` of the whole object.
 */
export function frame_sign_text(
  session: string,
  seq: number,
  kind: FrameKind,
  id: number | null,
  body_text: string,
): string {
  if (!is_key_hex(session)) throw new TypeError('session must be 64 hex chars');
  check_seq(seq);
  if (!FRAME_KINDS.has(kind)) throw new RangeError('unknown frame kind');
  // Property names in code-unit order (RFC 8785 §3.2.3): body, id, kind, seq, session.
  return `{"body":${body_text},"id":${id_text(kind, id)},"kind":"${kind}","seq":${seq},"session":"${session}"}`;
}

/** Bytes a frame signature covers: `utf8("cloister/p2p/frame/v1\n") ‖ utf8(jcs({session, seq, kind, id, body}))`. */
export function frame_sign_bytes(
  session: string,
  seq: number,
  kind: FrameKind,
  id: number | null,
  body_text: string,
): Uint8Array {
  return utf8(FRAME_PREFIX + frame_sign_text(session, seq, kind, id, body_text));
}

/** The wire text of a signed frame, `jcs({seq, kind, id, body, signature})`, from the body's JCS text. */
export function frame_text(
  seq: number,
  kind: FrameKind,
  id: number | null,
  body_text: string,
  signature: string,
): string {
  check_seq(seq);
  if (!FRAME_KINDS.has(kind)) throw new RangeError('unknown frame kind');
  if (typeof signature !== 'string' || !SIGNATURE_RE.test(signature)) {
    throw new TypeError('signature must be 128 hex chars');
  }
  return `{"body":${body_text},"id":${id_text(kind, id)},"kind":"${kind}","seq":${seq},"signature":"${signature}"}`;
}

/** Checks a parsed hello: exactly `{chain_id, pubkey, nonce}` of the right forms. Returns it or why not. */
export function parse_hello(value: unknown): Hello | string {
  if (!is_plain_record(value) || !has_exactly(value, ['chain_id', 'pubkey', 'nonce'])) {
    return 'hello must be exactly {chain_id, pubkey, nonce}';
  }
  const { chain_id, pubkey, nonce } = value;
  if (!is_chain_id(chain_id)) return 'hello has a malformed chain id';
  if (!is_key_hex(pubkey)) return 'hello has a malformed public key';
  if (!is_key_hex(nonce)) return 'hello has a malformed nonce';
  return { chain_id, pubkey, nonce };
}

/** Checks a parsed handshake signature message: exactly `{signature}`. Returns it or why not. */
export function parse_hello_auth(value: unknown): HelloAuth | string {
  if (!is_plain_record(value) || !has_exactly(value, ['signature'])) {
    return 'handshake signature must be exactly {signature}';
  }
  const { signature } = value;
  if (typeof signature !== 'string' || !SIGNATURE_RE.test(signature)) {
    return 'handshake signature is not 128 hex chars';
  }
  return { signature };
}

/**
 * Checks a parsed session frame's shape (not its signature or seq order): exactly
 * `{seq, kind, id, body, signature}`, `id` a positive integer for req/res/err and null otherwise,
 * `body` null for ping. Returns it or why not.
 */
export function parse_frame(value: unknown): WireFrame | string {
  if (!is_plain_record(value) || !has_exactly(value, ['seq', 'kind', 'id', 'body', 'signature'])) {
    return 'frame must be exactly {seq, kind, id, body, signature}';
  }
  const { seq, kind, id, body, signature } = value;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return 'frame seq is malformed';
  if (typeof kind !== 'string' || !FRAME_KINDS.has(kind)) return 'frame kind is unknown';
  const frame_kind = kind as FrameKind;
  if (frame_kind === 'req' || frame_kind === 'res' || frame_kind === 'err') {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) return `${kind} frame id is malformed`;
  } else if (id !== null) {
    return `${kind} frame must have a null id`;
  }
  if (frame_kind === 'ping' && body !== null) return 'ping frame must have a null body';
  if (typeof signature !== 'string' || !SIGNATURE_RE.test(signature)) return 'frame signature is malformed';
  return { seq, kind: frame_kind, id: id as number | null, body, signature };
}

/** Verifies an Ed25519 signature given as hex against a 64-hex public key, never throwing. */
export function verify_signature_hex(
  p: CryptoProvider,
  signature: string,
  message: Uint8Array,
  pubkey: string,
): boolean {
  try {
    return p.ed25519_verify(from_hex(signature, 64), message, from_hex(pubkey, 32));
  } catch {
    return false;
  }
}
