/**
 * Stream messages (docs/channels.md "Streams"), after Streamr's end-to-end encryption: a stream's
 * messages are encrypted under a symmetric group key and signed by their publisher. Differences
 * from Streamr, and why:
 *
 * - The content cipher is XChaCha20-Poly1305 (24-byte random nonce), an AEAD, where Streamr uses
 *   AES-256-CTR with no MAC of its own; the associated data binds the stream, the publisher and the
 *   key id, so a ciphertext cannot be moved to another stream or claimed by another publisher.
 * - The signature covers every field, the version and cipher included, as {@link framed} bytes
 *   (a length before each part), where Streamr signs a plain concatenation of fields.
 * - A rotation link `new_key` (the next group key, encrypted under the current one) is itself an
 *   AEAD ciphertext bound to the stream, the publisher and both key ids.
 *
 * The message, as JSON (bytes base64, `pub` hex):
 *
 *   {"v":1,"stream","publisher","pub","key_id","nonce","ct","new_key"?:{"id","data"},"sig"}
 *
 *   aad     = framed("cloister/stream-content/v1", stream, publisher, key_id)
 *   ct      = XChaCha20-Poly1305(group key, nonce, aad, plaintext)
 *   new_key = {id: next id, data: nonce' ‖ XChaCha20-Poly1305(group key, nonce',
 *              framed("cloister/stream-next-key/v1", stream, publisher, key_id, next id), next key)}
 *   sig     = Ed25519(account key, framed("cloister/stream-message/v1", v, cipher, stream, publisher,
 *              pub, key_id, nonce, ct, has_new_key, new_key.id, new_key.data))
 *
 * `publisher` must be the account address of `pub` (protocol.md §5). Browser-safe.
 * @module
 */

import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import {
  concat,
  from_base64,
  from_hex,
  from_utf8,
  to_base64,
  to_hex,
  utf8,
} from '../../../protocol/bytes.js';
import { noble_provider as p } from '../../../protocol/providers/noble.js';
import { account_address } from '../../../protocol/tx.js';
import type { ClientKey } from '../keys.js';
import { web_random } from '../keys.js';
import { framed } from './encoding.js';
import { ChannelError, ChannelErrorCode } from './errors.js';

/** The `v` of every stream message this SDK writes and reads. */
export const STREAM_MESSAGE_VERSION = 1;
/** The content cipher, signed with every message. */
export const STREAM_CIPHER = 'xchacha20-poly1305';
/** Domain of the message signature. */
export const STREAM_MESSAGE_DOMAIN = 'cloister/stream-message/v1';
/** Domain of the content's associated data. */
export const STREAM_CONTENT_DOMAIN = 'cloister/stream-content/v1';
/** Domain of a rotation link's associated data. */
export const STREAM_NEXT_KEY_DOMAIN = 'cloister/stream-next-key/v1';
/** Bytes of a group key. */
export const GROUP_KEY_BYTES = 32;
/** Bytes of an XChaCha20-Poly1305 nonce. */
export const STREAM_NONCE_BYTES = 24;
/** Bytes of a Poly1305 tag. */
export const STREAM_TAG_BYTES = 16;
/**
 * Most plaintext bytes in one message: sealed, with a rotation link, as JSON, it stays below
 * stream_acl's 8000 UTF-8 bytes per message (an event is at most 8 KiB).
 */
export const STREAM_PLAINTEXT_BYTES_MAX = 5500;
/** Most characters of a stream id: `<owner address>/<name of 1-32 characters>`. */
export const STREAM_ID_CHARS_MAX = 73;
/** Most characters of a serialised message that {@link parse_stream_message} reads (stream_acl's limit). */
export const STREAM_MESSAGE_CHARS_MAX = 8000;

const STREAM_ID_RE = /^[0-9a-f]{40}\/[a-z0-9_-]{1,32}$/;
const GROUP_KEY_ID_RE = /^[0-9a-f]{32}$/;
const ADDRESS_RE = /^[0-9a-f]{40}$/;
const PUB_RE = /^[0-9a-f]{64}$/;

/** A group key: a random id (16 bytes as hex) and 32 secret bytes. */
export interface GroupKey {
  /** 32 lowercase hex characters. */
  id: string;
  /** 32 bytes. */
  key: Uint8Array;
}

/** A rotation link: the next group key's id and the key encrypted under the current one. */
export interface NewKeyLink {
  id: string;
  /** base64(nonce ‖ ciphertext ‖ tag). */
  data: string;
}

/** A stream message as it is published (the `message` of a stream_acl `publish`). */
export interface StreamMessage {
  v: 1;
  /** `<owner>/<name>`. */
  stream: string;
  /** The publisher's account address. */
  publisher: string;
  /** The publisher's Ed25519 account public key, hex. */
  pub: string;
  /** Id of the group key that encrypts `ct`. */
  key_id: string;
  /** base64 of 24 bytes. */
  nonce: string;
  /** base64 of ciphertext ‖ tag. */
  ct: string;
  new_key?: NewKeyLink;
  /** base64 of the 64-byte Ed25519 signature. */
  sig: string;
}

/** What {@link open_stream_message} gives. */
export interface OpenedStreamMessage {
  stream: string;
  publisher: string;
  key_id: string;
  plaintext: Uint8Array;
  /** The plaintext as UTF-8 text, or null if it is not valid UTF-8. */
  text: string | null;
  /** The next group key, when the message carries a rotation link. */
  new_key?: GroupKey;
}

/** Where {@link open_stream_message} finds group keys: a map by id, or a lookup function. */
export type GroupKeyLookup =
  | ReadonlyMap<string, GroupKey>
  | ((key_id: string) => GroupKey | null | undefined);

/** A stream message, key request or key response whose shape, signature or ciphertext does not hold. */
export class StreamMessageInvalidError extends ChannelError {
  override name = 'StreamMessageInvalidError';
  constructor(readonly reason: string) {
    super(ChannelErrorCode.STREAM_MESSAGE_INVALID, `invalid stream message: ${reason}`);
  }
}

/**
 * No group key of that id is known: not granted, revoked, or the key was never shared with us; or
 * (with a `reason`) the key is known but may not be used, such as a current key that a removed or
 * lapsed subscriber may hold, which a publisher other than the owner refuses until the owner re-keys.
 */
export class NoGroupKeyError extends ChannelError {
  override name = 'NoGroupKeyError';
  constructor(
    readonly key_id: string,
    readonly stream?: string,
    readonly reason?: string,
  ) {
    super(
      ChannelErrorCode.NO_GROUP_KEY,
      `no ${reason === undefined ? '' : 'usable '}group key ${key_id}${stream === undefined ? '' : ` for stream ${stream}`}: ${reason ?? 'not granted, revoked, or never shared'}`,
    );
  }
}

/** Whether `id` is a group key id (32 lowercase hex characters). */
export function is_group_key_id(id: unknown): id is string {
  return typeof id === 'string' && GROUP_KEY_ID_RE.test(id);
}

/** Whether `stream` is a stream id `<owner address>/<name>`. */
export function is_stream_id(stream: unknown): stream is string {
  return typeof stream === 'string' && STREAM_ID_RE.test(stream);
}

/** Throws a TypeError unless `stream` is `<40 lowercase hex>/<1-32 of a-z 0-9 _ ->`. */
export function check_stream_id(stream: unknown): asserts stream is string {
  if (!is_stream_id(stream))
    throw new TypeError(
      `a stream id must be <owner address>/<name of 1-32 a-z 0-9 _ ->, got ${JSON.stringify(stream)}`,
    );
}

/** The owner's address of a stream id (the part before "/"). */
export function stream_owner(stream: string): string {
  check_stream_id(stream);
  return stream.slice(0, 40);
}

/** A fresh group key from `random`. */
export function new_group_key(random: (bytes: number) => Uint8Array = web_random): GroupKey {
  const id = random(16);
  const key = random(GROUP_KEY_BYTES);
  if (id.length !== 16 || key.length !== GROUP_KEY_BYTES)
    throw new RangeError('random gave the wrong length');
  return { id: to_hex(id), key: Uint8Array.from(key) };
}

/** Throws a TypeError unless `key` is a {@link GroupKey}. */
export function check_group_key(key: unknown, what = 'group key'): asserts key is GroupKey {
  const k = key as GroupKey;
  if (typeof k !== 'object' || k === null || !is_group_key_id(k.id))
    throw new TypeError(`${what} must have an id of 32 lowercase hex characters`);
  if (!(k.key instanceof Uint8Array) || k.key.length !== GROUP_KEY_BYTES)
    throw new TypeError(`${what} must have a key of ${GROUP_KEY_BYTES} bytes`);
}

/** The account address and Ed25519 public key (hex) of `key`. */
export function account_of(key: ClientKey): { address: string; pub: string } {
  const pub = p.ed25519_public(key.account_sk);
  return { address: account_address(p, pub), pub: to_hex(pub) };
}

/** Whether `pub` (hex) is the public key of `address` (protocol.md §5). */
export function pub_matches(pub: string, address: string): boolean {
  return PUB_RE.test(pub) && ADDRESS_RE.test(address) && account_address(p, from_hex(pub)) === address;
}

function content_aad(stream: string, publisher: string, key_id: string): Uint8Array {
  return framed(STREAM_CONTENT_DOMAIN, stream, publisher, key_id);
}

function next_key_aad(stream: string, publisher: string, key_id: string, next_id: string): Uint8Array {
  return framed(STREAM_NEXT_KEY_DOMAIN, stream, publisher, key_id, next_id);
}

/** The bytes a message's signature covers: every field but `sig`, framed. */
export function stream_message_payload(m: Omit<StreamMessage, 'sig'>): Uint8Array {
  return framed(
    STREAM_MESSAGE_DOMAIN,
    m.v,
    STREAM_CIPHER,
    m.stream,
    m.publisher,
    from_hex(m.pub),
    m.key_id,
    from_base64(m.nonce),
    from_base64(m.ct),
    m.new_key === undefined ? 0 : 1,
    m.new_key?.id ?? '',
    m.new_key === undefined ? new Uint8Array(0) : from_base64(m.new_key.data),
  );
}

/** Options of {@link seal_stream_message}. */
export interface SealOptions {
  /** The next group key: the message carries it encrypted under `group_key` (a rotation). */
  next_key?: GroupKey | undefined;
  random?: ((bytes: number) => Uint8Array) | undefined;
}

/**
 * Encrypts `plaintext` (bytes, or text as UTF-8) for `stream` under `group_key` and signs it with
 * `key`'s account key. TypeError/RangeError on bad arguments.
 */
export function seal_stream_message(
  key: ClientKey,
  stream: string,
  group_key: GroupKey,
  plaintext: Uint8Array | string,
  opts: SealOptions = {},
): StreamMessage {
  check_stream_id(stream);
  check_group_key(group_key);
  const bytes = typeof plaintext === 'string' ? utf8(plaintext) : plaintext;
  if (!(bytes instanceof Uint8Array)) throw new TypeError('plaintext must be a string or a Uint8Array');
  if (bytes.length > STREAM_PLAINTEXT_BYTES_MAX)
    throw new RangeError(`a stream message holds at most ${STREAM_PLAINTEXT_BYTES_MAX} bytes`);
  const random = opts.random ?? web_random;
  const { address: publisher, pub } = account_of(key);
  const nonce = random(STREAM_NONCE_BYTES);
  const ct = xchacha20poly1305(group_key.key, nonce, content_aad(stream, publisher, group_key.id)).encrypt(
    bytes,
  );
  const body: Omit<StreamMessage, 'sig'> = {
    v: STREAM_MESSAGE_VERSION,
    stream,
    publisher,
    pub,
    key_id: group_key.id,
    nonce: to_base64(nonce),
    ct: to_base64(ct),
  };
  if (opts.next_key !== undefined) {
    check_group_key(opts.next_key, 'next key');
    if (opts.next_key.id === group_key.id) throw new RangeError('the next key must have another id');
    const n = random(STREAM_NONCE_BYTES);
    const sealed = xchacha20poly1305(
      group_key.key,
      n,
      next_key_aad(stream, publisher, group_key.id, opts.next_key.id),
    ).encrypt(opts.next_key.key);
    body.new_key = { id: opts.next_key.id, data: to_base64(concat(n, sealed)) };
  }
  const sig = p.ed25519_sign(key.account_sk, stream_message_payload(body));
  return { ...body, sig: to_base64(sig) };
}

function invalid(reason: string): never {
  throw new StreamMessageInvalidError(reason);
}

/**
 * A stream's JSON object (a message, key request or response; given as an object or its JSON text
 * of at most {@link STREAM_MESSAGE_CHARS_MAX} characters), with only `fields` if given:
 * {@link StreamMessageInvalidError} for anything else.
 */
export function stream_json_object(value: unknown, fields?: readonly string[]): Record<string, unknown> {
  let m: unknown = value;
  if (typeof value === 'string') {
    if (value.length > STREAM_MESSAGE_CHARS_MAX) invalid('too long');
    try {
      m = JSON.parse(value);
    } catch {
      invalid('not JSON');
    }
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) invalid('not an object');
  const o = m as Record<string, unknown>;
  if (fields !== undefined)
    for (const k of Object.keys(o)) if (!fields.includes(k)) invalid(`unknown field ${k}`);
  return o;
}

function b64_field(
  value: unknown,
  field: string,
  bytes?: { min?: number; max?: number; exact?: number },
): Uint8Array {
  if (typeof value !== 'string') invalid(`${field} must be base64`);
  let out: Uint8Array;
  try {
    out = from_base64(value);
  } catch {
    invalid(`${field} must be base64`);
  }
  if (bytes?.exact !== undefined && out.length !== bytes.exact)
    invalid(`${field} must be ${bytes.exact} bytes`);
  if (bytes?.min !== undefined && out.length < bytes.min) invalid(`${field} is too short`);
  if (bytes?.max !== undefined && out.length > bytes.max) invalid(`${field} is too long`);
  return out;
}

const MESSAGE_FIELDS = new Set([
  'v',
  'stream',
  'publisher',
  'pub',
  'key_id',
  'nonce',
  'ct',
  'new_key',
  'sig',
]);

/**
 * Checks the shape of a stream message (an object, or its JSON text) and returns it typed:
 * {@link StreamMessageInvalidError} for anything else. Does not check the signature.
 */
export function parse_stream_message(value: unknown): StreamMessage {
  const o = stream_json_object(value, [...MESSAGE_FIELDS]);
  if (o['v'] !== STREAM_MESSAGE_VERSION) invalid(`unsupported version ${JSON.stringify(o['v'])}`);
  if (!is_stream_id(o['stream'])) invalid('stream must be <owner>/<name>');
  if (typeof o['publisher'] !== 'string' || !ADDRESS_RE.test(o['publisher']))
    invalid('publisher must be an address');
  if (typeof o['pub'] !== 'string' || !PUB_RE.test(o['pub'])) invalid('pub must be 64 hex characters');
  if (!is_group_key_id(o['key_id'])) invalid('key_id must be 32 hex characters');
  b64_field(o['nonce'], 'nonce', { exact: STREAM_NONCE_BYTES });
  b64_field(o['ct'], 'ct', { min: STREAM_TAG_BYTES, max: STREAM_PLAINTEXT_BYTES_MAX + STREAM_TAG_BYTES });
  b64_field(o['sig'], 'sig', { exact: 64 });
  const out: StreamMessage = {
    v: STREAM_MESSAGE_VERSION,
    stream: o['stream'],
    publisher: o['publisher'],
    pub: o['pub'],
    key_id: o['key_id'],
    nonce: o['nonce'] as string,
    ct: o['ct'] as string,
    sig: o['sig'] as string,
  };
  if (o['new_key'] !== undefined) {
    const nk = o['new_key'] as Record<string, unknown>;
    if (typeof nk !== 'object' || nk === null || Array.isArray(nk)) invalid('new_key must be an object');
    for (const k of Object.keys(nk)) if (k !== 'id' && k !== 'data') invalid(`unknown field new_key.${k}`);
    if (!is_group_key_id(nk['id'])) invalid('new_key.id must be 32 hex characters');
    if (nk['id'] === out.key_id) invalid('new_key.id repeats key_id');
    b64_field(nk['data'], 'new_key.data', { exact: STREAM_NONCE_BYTES + GROUP_KEY_BYTES + STREAM_TAG_BYTES });
    out.new_key = { id: nk['id'], data: nk['data'] as string };
  }
  return out;
}

/** What {@link verify_stream_message} and {@link open_stream_message} may require of a message. */
export interface StreamExpectations {
  /** The stream the message must name. */
  stream?: string | undefined;
  /** The publisher the message must name (e.g. the account that published the event). */
  publisher?: string | undefined;
}

/**
 * Parses `value`, checks that `pub` is the publisher's key, the signature, and `expect`; returns
 * the message. {@link StreamMessageInvalidError} (one error, with the reason) otherwise.
 */
export function verify_stream_message(value: unknown, expect: StreamExpectations = {}): StreamMessage {
  const m = parse_stream_message(value);
  if (expect.stream !== undefined && m.stream !== expect.stream) invalid(`belongs to stream ${m.stream}`);
  if (expect.publisher !== undefined && m.publisher !== expect.publisher)
    invalid(`claims publisher ${m.publisher}, published by ${expect.publisher}`);
  if (!pub_matches(m.pub, m.publisher)) invalid('pub is not the publisher’s key');
  const { sig, ...body } = m;
  if (!p.ed25519_verify(from_base64(sig), stream_message_payload(body), from_hex(m.pub)))
    invalid('bad signature');
  return m;
}

function lookup_key(keys: GroupKeyLookup, key_id: string): GroupKey | null {
  const found = typeof keys === 'function' ? keys(key_id) : keys.get(key_id);
  if (found === undefined || found === null) return null;
  check_group_key(found);
  if (found.id !== key_id) throw new TypeError(`the key lookup gave key ${found.id} for ${key_id}`);
  return found;
}

/**
 * Verifies a stream message ({@link verify_stream_message}), then decrypts it with the group key
 * its `key_id` names, and its rotation link if any. {@link StreamMessageInvalidError} when the
 * message or its link does not hold, {@link NoGroupKeyError} when `keys` has no such key.
 */
export function open_stream_message(
  value: unknown,
  keys: GroupKeyLookup,
  expect: StreamExpectations = {},
): OpenedStreamMessage {
  const m = verify_stream_message(value, expect);
  const group_key = lookup_key(keys, m.key_id);
  if (group_key === null) throw new NoGroupKeyError(m.key_id, m.stream);
  let plaintext: Uint8Array;
  try {
    plaintext = xchacha20poly1305(
      group_key.key,
      from_base64(m.nonce),
      content_aad(m.stream, m.publisher, m.key_id),
    ).decrypt(from_base64(m.ct));
  } catch {
    invalid('the ciphertext does not open under its group key');
  }
  let text: string | null;
  try {
    text = from_utf8(plaintext);
  } catch {
    text = null;
  }
  const out: OpenedStreamMessage = {
    stream: m.stream,
    publisher: m.publisher,
    key_id: m.key_id,
    plaintext,
    text,
  };
  if (m.new_key !== undefined) {
    const data = from_base64(m.new_key.data);
    let next: Uint8Array;
    try {
      next = xchacha20poly1305(
        group_key.key,
        data.subarray(0, STREAM_NONCE_BYTES),
        next_key_aad(m.stream, m.publisher, m.key_id, m.new_key.id),
      ).decrypt(data.subarray(STREAM_NONCE_BYTES));
    } catch {
      invalid('the rotation link does not open under its group key');
    }
    out.new_key = { id: m.new_key.id, key: next };
  }
  return out;
}
