/**
 * What the peer-to-peer transport puts on the wire (docs/p2p.md): the handshake messages, the
 * bytes the handshake signatures cover, the session id and MAC keys, and the authenticated
 * session frames. Pure: no sockets, no clocks, so tests (and other implementations) can build and
 * check frames byte for byte.
 * @module
 */

import { concat, equal_bytes, from_hex, to_hex, utf8 } from '../../protocol/bytes.js';
import { is_chain_id, is_hex64, is_signature_hex } from '../../protocol/checks.js';
import { is_well_formed, JCS_DEPTH_MAX, jcs } from '../../protocol/jcs.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { FRAME_HEADER_BYTES, FRAME_LENGTH_U32_MAX } from './framing.js';

/** Domain prefix of the handshake signature. */
export const HELLO_PREFIX = 'cloister/p2p/hello/v2\n';
/** Domain prefix of the session id hash. */
export const SESSION_PREFIX = 'cloister/p2p/session/v2\n';
/** Domain prefix of the `info` of both MAC key derivations; the direction follows it. */
export const MAC_INFO_PREFIX = 'cloister/p2p/mac/v1\n';

/**
 * Largest handshake frame. A handshake message is under 400 bytes; keeping the limit this small
 * means a stranger who has not proven a key cannot make a node buffer a session-sized frame.
 */
export const HANDSHAKE_FRAME_BYTES_MAX = 1024;

/** Bytes of the HMAC-SHA256 tag in front of every session frame's text. */
export const FRAME_TAG_BYTES = 32;

/**
 * Upper bound of a session frame's payload bytes beyond its body's JSON text: the 32-byte tag,
 * the property names, a seq and an id of at most 16 digits each and the kind (99 bytes; the
 * bound stays at 256 so the body budget, `frame_bytes_max − 256`, did not change).
 */
export const FRAME_OVERHEAD_BYTES_MAX = 256;

/**
 * Fewest bytes of a valid session frame's text: `{"seq":1,"kind":"req","id":1,"body":0}`.
 * A shorter payload cannot be a frame, so it is refused before any MAC is computed.
 */
export const FRAME_TEXT_BYTES_MIN = 38;

/** Bytes of a handshake nonce. */
export const NONCE_BYTES = 32;

/** Bytes of an X25519 ephemeral secret or public key. */
export const EPHEMERAL_BYTES = 32;

/** Bytes of each directional MAC key. */
export const MAC_KEY_BYTES = 32;

/** What a session frame carries: a message, a request, its response or error, or a keepalive. */
export type FrameKind = 'msg' | 'req' | 'res' | 'err' | 'ping';

/** Which way a MAC key authenticates frames: from the side that dialed, or from the side that accepted. */
export type FrameDirection = 'dialer->acceptor' | 'acceptor->dialer';

const FRAME_KINDS: ReadonlySet<string> = new Set<FrameKind>(['msg', 'req', 'res', 'err', 'ping']);

/** True for a 64-char lowercase hex string: an Ed25519 or X25519 public key, or a 32-byte nonce (protocol/checks.ts). */
export const is_key_hex: (value: unknown) => value is string = is_hex64;

/** True for a chain id genesis would accept: 1-64 of `[A-Za-z0-9._-]` (protocol/checks.ts). */
export { is_chain_id };

/** The first handshake message each side sends. */
export interface Hello {
  chain_id: string;
  pubkey: string;
  /** 32 random bytes, lowercase hex: the challenge the other side signs. */
  nonce: string;
  /** The sender's X25519 public key for this connection only, lowercase hex. */
  ephemeral: string;
}

/** The second handshake message: the sender's signature over {@link hello_sign_bytes}. */
export interface HelloAuth {
  signature: string;
}

/** A session frame as its text says (`id` is null for `msg` and `ping`). */
export interface WireFrame {
  seq: number;
  kind: FrameKind;
  id: number | null;
  body: unknown;
}

/** The identities, nonces and ephemeral keys one handshake bound together. */
export interface SessionParams {
  chain_id: string;
  /** Public key of the side that opened the TCP connection. */
  dialer: string;
  /** Public key of the side that accepted it. */
  acceptor: string;
  dialer_nonce: string;
  acceptor_nonce: string;
  dialer_ephemeral: string;
  acceptor_ephemeral: string;
}

/** The two MAC keys of a session, one per direction. */
export interface SessionKeys {
  /** Authenticates the frames the dialer sends. */
  dialer_to_acceptor: Uint8Array;
  /** Authenticates the frames the acceptor sends. */
  acceptor_to_dialer: Uint8Array;
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
 * `utf8("cloister/p2p/hello/v2\n") ‖ utf8(jcs({chain_id, from, to, nonce, ephemeral}))`, where
 * `from` is the signer, `to` the peer it is talking to, `nonce` the peer's nonce and `ephemeral`
 * the signer's own ephemeral public key.
 */
export function hello_sign_bytes(
  chain_id: string,
  from: string,
  to: string,
  nonce: string,
  ephemeral: string,
): Uint8Array {
  if (typeof chain_id !== 'string') throw new TypeError('chain_id must be a string');
  if (!is_key_hex(from) || !is_key_hex(to)) throw new TypeError('from and to must be 64-hex public keys');
  if (!is_key_hex(nonce)) throw new TypeError('nonce must be 64 hex chars');
  if (!is_key_hex(ephemeral)) throw new TypeError('ephemeral must be 64 hex chars');
  return concat(utf8(HELLO_PREFIX), utf8(jcs({ chain_id, from, to, nonce, ephemeral })));
}

/**
 * The session id both sides derive once the handshake is done:
 * `hex(H(utf8("cloister/p2p/session/v2\n") ‖ utf8(jcs({chain_id, dialer, acceptor, dialer_nonce,
 * acceptor_nonce, dialer_ephemeral, acceptor_ephemeral}))))`. Fresh nonces and ephemeral keys on
 * both sides make it unique per connection.
 */
export function session_id(p: CryptoProvider, params: SessionParams): string {
  const { chain_id, dialer, acceptor, dialer_nonce, acceptor_nonce, dialer_ephemeral, acceptor_ephemeral } =
    params;
  if (typeof chain_id !== 'string') throw new TypeError('chain_id must be a string');
  if (!is_key_hex(dialer) || !is_key_hex(acceptor)) throw new TypeError('dialer and acceptor must be keys');
  if (!is_key_hex(dialer_nonce) || !is_key_hex(acceptor_nonce)) throw new TypeError('nonces must be 64 hex');
  if (!is_key_hex(dialer_ephemeral) || !is_key_hex(acceptor_ephemeral)) {
    throw new TypeError('ephemeral keys must be 64 hex');
  }
  const text = jcs({
    chain_id,
    dialer,
    acceptor,
    dialer_nonce,
    acceptor_nonce,
    dialer_ephemeral,
    acceptor_ephemeral,
  });
  return to_hex(p.sha256(concat(utf8(SESSION_PREFIX), utf8(text))));
}

/**
 * One direction's MAC key: `HKDF-SHA256(ikm = shared, salt = session id bytes,
 * info = utf8("cloister/p2p/mac/v1\n" + direction), 32)`, where `shared` is the X25519 result of
 * the two ephemeral keys.
 */
export function mac_key(
  p: CryptoProvider,
  shared: Uint8Array,
  session: string,
  direction: FrameDirection,
): Uint8Array {
  if (!(shared instanceof Uint8Array) || shared.length !== EPHEMERAL_BYTES) {
    throw new TypeError('shared must be 32 bytes');
  }
  if (!is_key_hex(session)) throw new TypeError('session must be 64 hex chars');
  if (direction !== 'dialer->acceptor' && direction !== 'acceptor->dialer') {
    throw new RangeError('unknown frame direction');
  }
  return p.hkdf(shared, from_hex(session, 32), utf8(MAC_INFO_PREFIX + direction), MAC_KEY_BYTES);
}

/** Both MAC keys of a session ({@link mac_key} for each direction). */
export function session_keys(p: CryptoProvider, shared: Uint8Array, session: string): SessionKeys {
  return {
    dialer_to_acceptor: mac_key(p, shared, session, 'dialer->acceptor'),
    acceptor_to_dialer: mac_key(p, shared, session, 'acceptor->dialer'),
  };
}

// Node 20 has the native check; the regular expression is the fallback for older engines.
const native_well_formed =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function';

function well_formed(text: string): boolean {
  return native_well_formed
    ? (text as unknown as { isWellFormed(): boolean }).isWellFormed()
    : is_well_formed(text);
}

interface Fault {
  why: string;
  /** Where, relative to the value checked; built only on the way out of a failure. */
  path: string;
}

function fault_at(value: unknown, depth: number): Fault | null {
  switch (typeof value) {
    case 'string':
      return well_formed(value) ? null : { why: 'lone surrogate in string', path: '' };
    case 'number':
      return Number.isFinite(value) ? null : { why: 'non-finite number', path: '' };
    case 'boolean':
      return null;
    case 'object':
      break;
    default:
      return { why: `${typeof value} is not a JSON value`, path: '' };
  }
  if (value === null) return null;
  // A cycle also ends here: it nests without end.
  if (depth >= JCS_DEPTH_MAX) return { why: `nesting deeper than ${JCS_DEPTH_MAX} (or a cycle)`, path: '' };
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return { why: 'non-plain array', path: '' };
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      // undefined is no JSON value, and a hole reads as undefined.
      const fault =
        item === undefined ? { why: 'hole or undefined in array', path: '' } : fault_at(item, depth + 1);
      if (fault !== null) {
        fault.path = `[${i}]${fault.path}`;
        return fault;
      }
    }
    return null;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return { why: 'non-plain object', path: '' };
  if (Object.getOwnPropertySymbols(value).length > 0) return { why: 'symbol-keyed property', path: '' };
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const fault = well_formed(key)
      ? fault_at(record[key], depth + 1)
      : { why: 'lone surrogate in a property name', path: '' };
    if (fault !== null) {
      fault.path = `.${key}${fault.path}`;
      return fault;
    }
  }
  return null;
}

/**
 * Why `value` is not a body the transport carries, or null when it is one. A body is what `jcs`
 * accepts: null, booleans, finite numbers, well-formed strings, arrays without holes and plain
 * objects, nested at most 512 levels. For those values `JSON.stringify` is exact and `JSON.parse`
 * of its text gives the value back. The check builds no text, so it costs far less than `jcs`.
 */
export function body_fault(value: unknown): string | null {
  const fault = fault_at(value, 0);
  return fault === null ? null : `${fault.why} at $${fault.path}`;
}

/**
 * The JSON text of a body, `JSON.stringify(body)` (property order as in the object), once checked
 * with {@link body_fault}. Throws TypeError for anything that is not such a body.
 */
export function body_text(body: unknown): string {
  const fault = body_fault(body);
  if (fault !== null) throw new TypeError(`body is not a JSON value: ${fault}`);
  const text = JSON.stringify(body);
  if (typeof text !== 'string') throw new TypeError('body is not a JSON value');
  return text;
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

/**
 * The text of a session frame, `{"seq":N,"kind":"…","id":…,"body":…}`, built around the body's
 * JSON text so a broadcast serializes its body once rather than once per peer. `body_text` must be
 * {@link body_text} of the body (`null` for a ping).
 */
export function frame_text(seq: number, kind: FrameKind, id: number | null, body_text: string): string {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError('seq must be a positive safe integer');
  if (!FRAME_KINDS.has(kind)) throw new RangeError('unknown frame kind');
  if (typeof body_text !== 'string') throw new TypeError('body_text must be a string');
  return `{"seq":${seq},"kind":"${kind}","id":${id_text(kind, id)},"body":${body_text}}`;
}

/** `HMAC-SHA256(key, text_bytes)`: the tag of one session frame. */
export function frame_tag(p: CryptoProvider, key: Uint8Array, text_bytes: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== MAC_KEY_BYTES)
    throw new TypeError('key must be 32 bytes');
  return p.hmac_sha256(key, text_bytes);
}

/**
 * A whole session frame as one Buffer (a single socket write):
 * `u32_be(32 + n) ‖ HMAC-SHA256(key, utf8(text)) ‖ utf8(text)`, with `n` the UTF-8 length of `text`.
 */
export function encode_session_frame(p: CryptoProvider, key: Uint8Array, text: string): Buffer {
  if (typeof text !== 'string') throw new TypeError('frame text must be a string');
  const text_bytes = Buffer.byteLength(text, 'utf8');
  const length = FRAME_TAG_BYTES + text_bytes;
  if (length > FRAME_LENGTH_U32_MAX) throw new RangeError('frame longer than a u32 length can say');
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  out.writeUInt32BE(length, 0);
  const text_at = FRAME_HEADER_BYTES + FRAME_TAG_BYTES;
  if (out.write(text, text_at, 'utf8') !== text_bytes) {
    throw new Error('p2p invariant: frame text did not encode to its byte length');
  }
  const tag = frame_tag(p, key, out.subarray(text_at));
  if (tag.length !== FRAME_TAG_BYTES) throw new Error('p2p invariant: an HMAC-SHA256 tag is 32 bytes');
  out.set(tag, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Checks a session frame payload's tag: the text bytes (a view into `payload`) when
 * `payload = tag ‖ text` and the tag is `HMAC-SHA256(key, text)` (compared in constant time),
 * 'short' when the payload cannot hold a tag and a minimal frame text, 'bad mac' otherwise.
 * Nothing of the text is parsed or decoded.
 */
export function open_session_frame(
  p: CryptoProvider,
  key: Uint8Array,
  payload: Uint8Array,
): Uint8Array | 'short' | 'bad mac' {
  if (payload.length < FRAME_TAG_BYTES + FRAME_TEXT_BYTES_MIN) return 'short';
  const text = payload.subarray(FRAME_TAG_BYTES);
  const expected = frame_tag(p, key, text);
  return equal_bytes(expected, payload.subarray(0, FRAME_TAG_BYTES)) ? text : 'bad mac';
}

/**
 * Checks a parsed hello: exactly `{chain_id, pubkey, nonce, ephemeral}` of the right forms.
 * Returns it or why not.
 */
export function parse_hello(value: unknown): Hello | string {
  if (!is_plain_record(value) || !has_exactly(value, ['chain_id', 'pubkey', 'nonce', 'ephemeral'])) {
    return 'hello must be exactly {chain_id, pubkey, nonce, ephemeral}';
  }
  const { chain_id, pubkey, nonce, ephemeral } = value;
  if (!is_chain_id(chain_id)) return 'hello has a malformed chain id';
  if (!is_key_hex(pubkey)) return 'hello has a malformed public key';
  if (!is_key_hex(nonce)) return 'hello has a malformed nonce';
  if (!is_key_hex(ephemeral)) return 'hello has a malformed ephemeral key';
  return { chain_id, pubkey, nonce, ephemeral };
}

/** Checks a parsed handshake signature message: exactly `{signature}`. Returns it or why not. */
export function parse_hello_auth(value: unknown): HelloAuth | string {
  if (!is_plain_record(value) || !has_exactly(value, ['signature'])) {
    return 'handshake signature must be exactly {signature}';
  }
  const { signature } = value;
  if (!is_signature_hex(signature)) {
    return 'handshake signature is not 128 hex chars';
  }
  return { signature };
}

/**
 * Checks a parsed session frame's shape (not its tag, seq order or body contents): exactly
 * `{seq, kind, id, body}`, `id` a positive integer for req/res/err and null otherwise, `body` null
 * for ping. Returns it or why not.
 */
export function parse_frame(value: unknown): WireFrame | string {
  if (!is_plain_record(value) || !has_exactly(value, ['seq', 'kind', 'id', 'body'])) {
    return 'frame must be exactly {seq, kind, id, body}';
  }
  const { seq, kind, id, body } = value;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return 'frame seq is malformed';
  if (typeof kind !== 'string' || !FRAME_KINDS.has(kind)) return 'frame kind is unknown';
  const frame_kind = kind as FrameKind;
  if (frame_kind === 'req' || frame_kind === 'res' || frame_kind === 'err') {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) return `${kind} frame id is malformed`;
  } else if (id !== null) {
    return `${kind} frame must have a null id`;
  }
  if (frame_kind === 'ping' && body !== null) return 'ping frame must have a null body';
  return { seq, kind: frame_kind, id: id as number | null, body };
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
