/**
 * Group-key requests and responses of a stream (docs/channels.md "Streams"), after Streamr's key
 * exchange: a subscriber asks a publisher for group keys with a request signed by its account key
 * and carrying a temporary public key; the publisher checks the stream's ACL and answers with the
 * keys encrypted to that temporary key, signed. Both travel in-stream (stream_acl `publish` with
 * kind `key_request` / `key_response`), as Streamr's do since its PR #824.
 *
 * Two schemes, both signed (Streamr leaves `encryptionType` out of the signature):
 * - `x25519`: `temp_pub` is an X25519 public key; the publisher makes an ephemeral key `eph` and
 *   the shared secret is X25519(eph, temp) (ephemeral-static).
 * - `ml-kem-1024` (FIPS 203; Streamr's post-quantum option): `temp_pub` is an ML-KEM-1024
 *   encapsulation key; `eph` is the ciphertext of an encapsulation to it.
 *
 *   request_hash = SHA-256(request payload)     (the request's signed bytes)
 *   wrap_key     = HKDF-SHA256(shared, salt = "cloister/stream-key-exchange/v1",
 *                   info = SHA-256(framed("cloister/stream-key-exchange/v1", scheme, request_hash,
 *                          stream, publisher, subscriber, temp_pub, eph)), 32)
 *   keys[i].data = nonce ‖ XChaCha20-Poly1305(wrap_key, nonce,
 *                   framed("cloister/stream-key-wrap/v1", request_id, keys[i].id), key)
 *
 * The response's signature covers `request_hash`, so it answers exactly one request (scheme,
 * temporary key and key ids included). Requests and responses are JSON, bytes base64, `pub` hex:
 *
 *   request  {"v":1,"request_id","stream","subscriber","pub","publisher","scheme","temp_pub","key_ids","sig"}
 *   response {"v":1,"request_id","stream","publisher","pub","subscriber","scheme","keys":[{"id","data"}],"eph","sig"}
 *
 * Browser-safe.
 * @module
 */

import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { concat, from_base64, from_hex, to_base64, to_hex, utf8 } from '../../../protocol/bytes.js';
import { noble_provider as p } from '../../../protocol/providers/noble.js';
import type { ClientKey } from '../keys.js';
import { web_random } from '../keys.js';
import { framed } from './encoding.js';
import { ChannelError, ChannelErrorCode } from './errors.js';
import {
  account_of,
  check_stream_id,
  GROUP_KEY_BYTES,
  type GroupKey,
  is_group_key_id,
  is_stream_id,
  NoGroupKeyError,
  pub_matches,
  STREAM_NONCE_BYTES,
  STREAM_TAG_BYTES,
  StreamMessageInvalidError,
  stream_json_object,
} from './stream_crypto.js';

/** The `v` of requests and responses. */
export const KEY_EXCHANGE_VERSION = 1;
/** Key-exchange schemes: classical, and post-quantum (Streamr's `ML_KEM`). */
export const KEY_EXCHANGE_SCHEMES = Object.freeze(['x25519', 'ml-kem-1024'] as const);
/** One of {@link KEY_EXCHANGE_SCHEMES}. */
export type KeyExchangeScheme = (typeof KEY_EXCHANGE_SCHEMES)[number];
/** Most key ids in one request. */
export const KEY_IDS_PER_REQUEST_MAX = 16;
/** Domain of a request's signature. */
export const KEY_REQUEST_DOMAIN = 'cloister/stream-key-request/v1';
/** Domain of a response's signature. */
export const KEY_RESPONSE_DOMAIN = 'cloister/stream-key-response/v1';
/** HKDF salt and transcript domain of the wrapping key. */
export const KEY_EXCHANGE_DOMAIN = 'cloister/stream-key-exchange/v1';
/** Domain of each wrapped key's associated data. */
export const KEY_WRAP_DOMAIN = 'cloister/stream-key-wrap/v1';

const ML_KEM_PUBLIC_BYTES = 1568;
const ML_KEM_CIPHERTEXT_BYTES = 1568;
const X25519_BYTES = 32;
const REQUEST_ID_RE = /^[0-9a-f]{32}$/;
const ADDRESS_RE = /^[0-9a-f]{40}$/;
const PUB_RE = /^[0-9a-f]{64}$/;
const WRAPPED_KEY_BYTES = STREAM_NONCE_BYTES + GROUP_KEY_BYTES + STREAM_TAG_BYTES;

/** A subscriber's request for group keys. */
export interface KeyRequest {
  v: 1;
  /** 16 random bytes, hex. */
  request_id: string;
  stream: string;
  /** The requester's account address. */
  subscriber: string;
  /** The requester's Ed25519 account public key, hex. */
  pub: string;
  /** The publisher asked (the recipient of the request). */
  publisher: string;
  scheme: KeyExchangeScheme;
  /** base64 of the temporary public key (X25519, 32 bytes; ML-KEM-1024, 1568 bytes). */
  temp_pub: string;
  key_ids: string[];
  /** base64 of the Ed25519 signature. */
  sig: string;
}

/** A publisher's answer to a {@link KeyRequest}. */
export interface KeyResponse {
  v: 1;
  request_id: string;
  stream: string;
  publisher: string;
  /** The publisher's Ed25519 account public key, hex. */
  pub: string;
  subscriber: string;
  scheme: KeyExchangeScheme;
  /** Each key: its id and base64(nonce ‖ ciphertext ‖ tag). */
  keys: { id: string; data: string }[];
  /** base64: X25519 ephemeral public key, or ML-KEM-1024 ciphertext. */
  eph: string;
  sig: string;
}

/** What the subscriber keeps until the response comes: the temporary secret among it. */
export interface PendingKeyRequest {
  request_id: string;
  stream: string;
  publisher: string;
  scheme: KeyExchangeScheme;
  key_ids: string[];
  /** SHA-256 of the request's signed bytes. */
  request_hash: Uint8Array;
  temp_pub: Uint8Array;
  /** X25519 secret (32 bytes) or ML-KEM-1024 decapsulation key. */
  temp_secret: Uint8Array;
}

/** The publisher (or the key keeper) refused a key request: the stream's ACL does not allow it. */
export class KeyRequestDeniedError extends ChannelError {
  override name = 'KeyRequestDeniedError';
  constructor(readonly reason: string) {
    super(ChannelErrorCode.KEY_REQUEST_DENIED, `key request denied: ${reason}`);
  }
}

function invalid(reason: string): never {
  throw new StreamMessageInvalidError(reason);
}

function b64(value: unknown, field: string, exact?: number): Uint8Array {
  if (typeof value !== 'string') invalid(`${field} must be base64`);
  let out: Uint8Array;
  try {
    out = from_base64(value);
  } catch {
    invalid(`${field} must be base64`);
  }
  if (exact !== undefined && out.length !== exact) invalid(`${field} must be ${exact} bytes`);
  return out;
}

function is_scheme(value: unknown): value is KeyExchangeScheme {
  return typeof value === 'string' && (KEY_EXCHANGE_SCHEMES as readonly string[]).includes(value);
}

function temp_pub_bytes(scheme: KeyExchangeScheme): number {
  return scheme === 'x25519' ? X25519_BYTES : ML_KEM_PUBLIC_BYTES;
}

function eph_bytes(scheme: KeyExchangeScheme): number {
  return scheme === 'x25519' ? X25519_BYTES : ML_KEM_CIPHERTEXT_BYTES;
}

/** The bytes a request's signature covers. */
export function key_request_payload(r: Omit<KeyRequest, 'sig'>): Uint8Array {
  return framed(
    KEY_REQUEST_DOMAIN,
    r.v,
    r.request_id,
    r.stream,
    r.subscriber,
    from_hex(r.pub),
    r.publisher,
    r.scheme,
    from_base64(r.temp_pub),
    r.key_ids.length,
    ...r.key_ids,
  );
}

/** The bytes a response's signature covers, given the hash of the request it answers. */
export function key_response_payload(r: Omit<KeyResponse, 'sig'>, request_hash: Uint8Array): Uint8Array {
  return framed(
    KEY_RESPONSE_DOMAIN,
    r.v,
    r.request_id,
    request_hash,
    r.stream,
    r.publisher,
    from_hex(r.pub),
    r.subscriber,
    r.scheme,
    from_base64(r.eph),
    r.keys.length,
    ...r.keys.flatMap((k) => [k.id, from_base64(k.data)]),
  );
}

function wrap_key(
  shared: Uint8Array,
  scheme: KeyExchangeScheme,
  request_hash: Uint8Array,
  r: { stream: string; publisher: string; subscriber: string },
  temp_pub: Uint8Array,
  eph: Uint8Array,
): Uint8Array {
  const transcript = p.sha256(
    framed(KEY_EXCHANGE_DOMAIN, scheme, request_hash, r.stream, r.publisher, r.subscriber, temp_pub, eph),
  );
  return p.hkdf(shared, utf8(KEY_EXCHANGE_DOMAIN), transcript, 32);
}

/** Options of {@link make_key_request}. */
export interface KeyRequestOptions {
  stream: string;
  /** The publisher asked. */
  publisher: string;
  /** 1-16 group key ids. */
  key_ids: readonly string[];
  /** Default `x25519`; `ml-kem-1024` for a post-quantum exchange. */
  scheme?: KeyExchangeScheme | undefined;
  random?: ((bytes: number) => Uint8Array) | undefined;
}

/**
 * A signed key request from `key` (the subscriber) and what to keep until its answer.
 * TypeError on bad options.
 */
export function make_key_request(
  key: ClientKey,
  opts: KeyRequestOptions,
): { request: KeyRequest; pending: PendingKeyRequest } {
  check_stream_id(opts.stream);
  if (typeof opts.publisher !== 'string' || !ADDRESS_RE.test(opts.publisher))
    throw new TypeError('publisher must be 40 lowercase hex characters');
  const key_ids = [...opts.key_ids];
  if (key_ids.length < 1 || key_ids.length > KEY_IDS_PER_REQUEST_MAX || !key_ids.every(is_group_key_id))
    throw new TypeError(`key_ids must be 1-${KEY_IDS_PER_REQUEST_MAX} group key ids`);
  const scheme = opts.scheme ?? 'x25519';
  if (!is_scheme(scheme)) throw new TypeError(`scheme must be one of ${KEY_EXCHANGE_SCHEMES.join(', ')}`);
  const random = opts.random ?? web_random;
  let temp_pub: Uint8Array;
  let temp_secret: Uint8Array;
  if (scheme === 'x25519') {
    temp_secret = random(X25519_BYTES);
    temp_pub = p.x25519_secret(temp_secret).public_key;
  } else {
    const pair = ml_kem1024.keygen(random(64));
    temp_pub = pair.publicKey;
    temp_secret = pair.secretKey;
  }
  const { address, pub } = account_of(key);
  const body: Omit<KeyRequest, 'sig'> = {
    v: KEY_EXCHANGE_VERSION,
    request_id: to_hex(random(16)),
    stream: opts.stream,
    subscriber: address,
    pub,
    publisher: opts.publisher,
    scheme,
    temp_pub: to_base64(temp_pub),
    key_ids,
  };
  const payload = key_request_payload(body);
  const request: KeyRequest = { ...body, sig: to_base64(p.ed25519_sign(key.account_sk, payload)) };
  return {
    request,
    pending: {
      request_id: body.request_id,
      stream: body.stream,
      publisher: body.publisher,
      scheme,
      key_ids,
      request_hash: p.sha256(payload),
      temp_pub,
      temp_secret,
    },
  };
}

const REQUEST_FIELDS = [
  'v',
  'request_id',
  'stream',
  'subscriber',
  'pub',
  'publisher',
  'scheme',
  'temp_pub',
  'key_ids',
  'sig',
] as const;

/**
 * Parses a key request (object or JSON text), checks its shape, that `pub` is the subscriber's
 * key and its signature: {@link StreamMessageInvalidError} otherwise.
 */
export function verify_key_request(value: unknown): KeyRequest {
  const o = stream_json_object(value, REQUEST_FIELDS);
  if (o['v'] !== KEY_EXCHANGE_VERSION) invalid(`unsupported version ${JSON.stringify(o['v'])}`);
  if (typeof o['request_id'] !== 'string' || !REQUEST_ID_RE.test(o['request_id']))
    invalid('request_id must be 32 hex characters');
  if (!is_stream_id(o['stream'])) invalid('stream must be <owner>/<name>');
  for (const f of ['subscriber', 'publisher'] as const)
    if (typeof o[f] !== 'string' || !ADDRESS_RE.test(o[f] as string)) invalid(`${f} must be an address`);
  if (typeof o['pub'] !== 'string' || !PUB_RE.test(o['pub'])) invalid('pub must be 64 hex characters');
  if (!is_scheme(o['scheme'])) invalid(`unknown scheme ${JSON.stringify(o['scheme'])}`);
  b64(o['temp_pub'], 'temp_pub', temp_pub_bytes(o['scheme']));
  const ids = o['key_ids'];
  if (
    !Array.isArray(ids) ||
    ids.length < 1 ||
    ids.length > KEY_IDS_PER_REQUEST_MAX ||
    !ids.every(is_group_key_id) ||
    new Set(ids).size !== ids.length
  )
    invalid(`key_ids must be 1-${KEY_IDS_PER_REQUEST_MAX} distinct group key ids`);
  const sig = b64(o['sig'], 'sig', 64);
  const r: KeyRequest = {
    v: KEY_EXCHANGE_VERSION,
    request_id: o['request_id'],
    stream: o['stream'],
    subscriber: o['subscriber'] as string,
    pub: o['pub'],
    publisher: o['publisher'] as string,
    scheme: o['scheme'],
    temp_pub: o['temp_pub'] as string,
    key_ids: [...(ids as string[])],
    sig: o['sig'] as string,
  };
  if (!pub_matches(r.pub, r.subscriber)) invalid('pub is not the subscriber’s key');
  const { sig: _sig, ...body } = r;
  if (!p.ed25519_verify(sig, key_request_payload(body), from_hex(r.pub))) invalid('bad signature');
  return r;
}

/** Options of {@link answer_key_request}. */
export interface AnswerOptions {
  /** Whether `account` may read `stream` now (the stream ACL's subscribe permission, unexpired). */
  acl: (stream: string, account: string) => Promise<boolean>;
  /** The publisher's group keys: a map by id or a lookup. */
  keys: ReadonlyMap<string, GroupKey> | ((key_id: string) => GroupKey | null | undefined);
  /** Refuse `x25519` requests (Streamr's `requireQuantumResistantKeyExchange`). */
  require_pq?: boolean | undefined;
  random?: ((bytes: number) => Uint8Array) | undefined;
}

/**
 * The publisher's side: verifies `value` ({@link verify_key_request}), that it asks `key`'s
 * account, that the ACL lets the subscriber read the stream, and answers with the keys it asks for
 * that `opts.keys` has, encrypted to its temporary key and signed. {@link KeyRequestDeniedError}
 * when the ACL (or `require_pq`) says no, {@link NoGroupKeyError} when none of the keys is known,
 * {@link StreamMessageInvalidError} for a request that does not hold or asks someone else.
 */
export async function answer_key_request(
  key: ClientKey,
  value: unknown,
  opts: AnswerOptions,
): Promise<KeyResponse> {
  const request = verify_key_request(value);
  const me = account_of(key);
  if (request.publisher !== me.address) invalid(`the request asks publisher ${request.publisher}`);
  if (opts.require_pq === true && request.scheme !== 'ml-kem-1024')
    throw new KeyRequestDeniedError(
      `this publisher requires a post-quantum key exchange, not ${request.scheme}`,
    );
  if (!(await opts.acl(request.stream, request.subscriber)))
    throw new KeyRequestDeniedError(`${request.subscriber} may not subscribe to ${request.stream}`);
  const found: GroupKey[] = [];
  for (const id of request.key_ids) {
    const k = typeof opts.keys === 'function' ? opts.keys(id) : opts.keys.get(id);
    if (k !== undefined && k !== null && k.id === id && k.key.length === GROUP_KEY_BYTES) found.push(k);
  }
  if (found.length === 0) throw new NoGroupKeyError(request.key_ids[0]!, request.stream);
  const random = opts.random ?? web_random;
  const temp_pub = from_base64(request.temp_pub);
  let shared: Uint8Array | null;
  let eph: Uint8Array;
  if (request.scheme === 'x25519') {
    const eph_secret = p.x25519_secret(random(X25519_BYTES));
    eph = eph_secret.public_key;
    shared = eph_secret.shared(temp_pub);
  } else {
    let kem: { cipherText: Uint8Array; sharedSecret: Uint8Array };
    try {
      kem = ml_kem1024.encapsulate(temp_pub, random(32));
    } catch {
      invalid('temp_pub is not an ML-KEM-1024 key');
    }
    eph = kem.cipherText;
    shared = kem.sharedSecret;
  }
  if (shared === null) invalid('temp_pub is a point of small order');
  const { sig: _sig, ...request_body } = request;
  const request_hash = p.sha256(key_request_payload(request_body));
  const parties = { stream: request.stream, publisher: me.address, subscriber: request.subscriber };
  const wrap = wrap_key(shared, request.scheme, request_hash, parties, temp_pub, eph);
  const keys = found.map((k) => {
    const nonce = random(STREAM_NONCE_BYTES);
    const sealed = xchacha20poly1305(wrap, nonce, framed(KEY_WRAP_DOMAIN, request.request_id, k.id)).encrypt(
      k.key,
    );
    return { id: k.id, data: to_base64(concat(nonce, sealed)) };
  });
  const body: Omit<KeyResponse, 'sig'> = {
    v: KEY_EXCHANGE_VERSION,
    request_id: request.request_id,
    stream: request.stream,
    publisher: me.address,
    pub: me.pub,
    subscriber: request.subscriber,
    scheme: request.scheme,
    keys,
    eph: to_base64(eph),
  };
  return {
    ...body,
    sig: to_base64(p.ed25519_sign(key.account_sk, key_response_payload(body, request_hash))),
  };
}

const RESPONSE_FIELDS = [
  'v',
  'request_id',
  'stream',
  'publisher',
  'pub',
  'subscriber',
  'scheme',
  'keys',
  'eph',
  'sig',
] as const;

/** The request id of a key request or response (object or JSON), or null: to route one cheaply. */
export function request_id_of(value: unknown): string | null {
  try {
    const id = stream_json_object(value)['request_id'];
    return typeof id === 'string' && REQUEST_ID_RE.test(id) ? id : null;
  } catch {
    return null;
  }
}

/**
 * The subscriber's side: checks that `value` answers `pending` (its request id, stream, scheme and
 * publisher), comes from that publisher's key, is for `key`'s account, its signature (over the
 * request's hash), then decrypts its keys. {@link StreamMessageInvalidError} otherwise.
 */
export function open_key_response(key: ClientKey, pending: PendingKeyRequest, value: unknown): GroupKey[] {
  const o = stream_json_object(value, RESPONSE_FIELDS);
  if (o['v'] !== KEY_EXCHANGE_VERSION) invalid(`unsupported version ${JSON.stringify(o['v'])}`);
  if (o['request_id'] !== pending.request_id) invalid('answers another request');
  if (o['stream'] !== pending.stream) invalid('answers for another stream');
  if (o['publisher'] !== pending.publisher) invalid('comes from another publisher than the one asked');
  const me = account_of(key);
  if (o['subscriber'] !== me.address) invalid('is for another subscriber');
  if (o['scheme'] !== pending.scheme)
    invalid(`scheme ${JSON.stringify(o['scheme'])} is not the one asked for`);
  if (typeof o['pub'] !== 'string' || !pub_matches(o['pub'], pending.publisher))
    invalid('pub is not the publisher’s key');
  const eph = b64(o['eph'], 'eph', eph_bytes(pending.scheme));
  const list = o['keys'];
  if (!Array.isArray(list) || list.length < 1 || list.length > KEY_IDS_PER_REQUEST_MAX)
    invalid(`keys must be 1-${KEY_IDS_PER_REQUEST_MAX} entries`);
  const keys: { id: string; data: string }[] = [];
  for (const entry of list as unknown[]) {
    const e = entry as Record<string, unknown>;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) invalid('a key entry must be an object');
    for (const k of Object.keys(e)) if (k !== 'id' && k !== 'data') invalid(`unknown field ${k}`);
    if (!is_group_key_id(e['id']) || !pending.key_ids.includes(e['id']))
      invalid('a key that was not asked for');
    if (keys.some((k) => k.id === e['id'])) invalid('a key twice');
    b64(e['data'], 'keys[].data', WRAPPED_KEY_BYTES);
    keys.push({ id: e['id'], data: e['data'] as string });
  }
  const sig = b64(o['sig'], 'sig', 64);
  const body: Omit<KeyResponse, 'sig'> = {
    v: KEY_EXCHANGE_VERSION,
    request_id: pending.request_id,
    stream: pending.stream,
    publisher: pending.publisher,
    pub: o['pub'],
    subscriber: me.address,
    scheme: pending.scheme,
    keys,
    eph: o['eph'] as string,
  };
  if (!p.ed25519_verify(sig, key_response_payload(body, pending.request_hash), from_hex(body.pub)))
    invalid('bad signature');
  let shared: Uint8Array | null;
  if (pending.scheme === 'x25519') shared = p.x25519_secret(pending.temp_secret).shared(eph);
  else {
    try {
      shared = ml_kem1024.decapsulate(eph, pending.temp_secret);
    } catch {
      invalid('eph does not decapsulate');
    }
  }
  if (shared === null) invalid('eph is a point of small order');
  const parties = { stream: pending.stream, publisher: pending.publisher, subscriber: me.address };
  const wrap = wrap_key(shared, pending.scheme, pending.request_hash, parties, pending.temp_pub, eph);
  return keys.map((k) => {
    const data = from_base64(k.data);
    let plain: Uint8Array;
    try {
      plain = xchacha20poly1305(
        wrap,
        data.subarray(0, STREAM_NONCE_BYTES),
        framed(KEY_WRAP_DOMAIN, pending.request_id, k.id),
      ).decrypt(data.subarray(STREAM_NONCE_BYTES));
    } catch {
      invalid(`key ${k.id} does not open`);
    }
    return { id: k.id, key: plain };
  });
}
