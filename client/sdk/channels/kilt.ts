/**
 * KILT-style envelopes (docs/channels.md "Envelopes"): a message for one key-agreement key of
 * another account, sealed with NaCl `crypto_box` (X25519 + XSalsa20-Poly1305, {@link box}) from one
 * of the sender's keys, in KILT's envelope format, so it can travel over any transport (the
 * mailbox, a file, a chat):
 *
 *   envelope  {"ciphertext": "0x…", "nonce": "0x…(24 bytes)", "senderKeyUri": "cloister:<a>#<id>",
 *              "receiverKeyUri": "cloister:<b>#<id>"}
 *   plaintext {"body": {"type": t, "content": c}, "createdAt": ms, "sender": "cloister:<a>",
 *              "receiver": "cloister:<b>", "messageId": "0x…(32 random bytes)"}
 *
 * `ciphertext` is `nacl.box(utf8(JSON.stringify(plaintext)), nonce, receiver_pk, sender_sk)`:
 * tweetnacl opens it as it is. What Cloister keeps from KILT: the field names, the algorithm, the
 * sender check (the plaintext's sender must be the account of `senderKeyUri`), KILT's replay window
 * (−1 s … 60 s) and its seen-id rule. What it adds: the receiver check KILT's `decrypt` forgot (the
 * plaintext's receiver must be this account, and `receiverKeyUri` one of its own published keys),
 * a strict parse (unknown fields, duplicate keys, bad hex are refused), a replay guard that is part
 * of opening, persists across restarts and is bounded ({@link ReplayGuard}), and one error,
 * {@link CannotOpenError}, for everything an attacker could change: a tampered envelope, one for
 * another receiver, a sender or receiver that does not match its key, and a key URI the directory
 * does not list as live (unknown, or revoked) all read the same. Sealing to such a key is typed
 * instead ({@link UnknownKeyError} / {@link RevokedKeyError}): the sender asks the directory
 * about a URI it chose. Browser-safe.
 * @module
 */

import { equal_bytes, from_hex, from_utf8, to_hex, utf8 } from '../../../protocol/bytes.js';
import { parse_json_strict } from '../../../protocol/strict_json.js';
import { type ClientKey, key_info, web_random } from '../keys.js';
import { ChannelError, ChannelErrorCode, RevokedKeyError, UnknownKeyError } from './errors.js';
import {
  type DirectoryKey,
  KEY_URI_SCHEME,
  type KeyRef,
  type KeyResolver,
  key_uri,
  parse_key_uri,
} from './key_uri.js';
import { KX_KEY_ID_DEFAULT, kx_key_pair } from './kx_keys.js';
import { box, box_open, NACL_BOX_NONCE_BYTES, NACL_BOX_OVERHEAD_BYTES } from './nacl_box.js';
import type { ReplayGuard } from './replay_guard.js';

/** Largest plaintext (the message's JSON), in UTF-8 bytes: its envelope then fits in one mail. */
export const KILT_PLAINTEXT_BYTES_MAX = 8_000;
/** Largest envelope JSON text, in characters (the mailbox's body limit). */
export const KILT_ENVELOPE_CHARS_MAX = 16_384;
/** Bytes of a message id. */
export const KILT_MESSAGE_ID_BYTES = 32;
/** Longest body type, in characters (`a-z 0-9 -`, e.g. "text", or KILT's "request-credential"). */
export const KILT_BODY_TYPE_CHARS_MAX = 64;
/** The body type of plain text (`cloister msg seal`). */
export const KILT_TEXT_TYPE = 'text';

const BODY_TYPE_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;
const MESSAGE_ID_RE = /^0x[0-9a-f]{64}$/;
const ENVELOPE_FIELDS = ['ciphertext', 'nonce', 'receiverKeyUri', 'senderKeyUri'];
const MESSAGE_FIELDS = ['body', 'createdAt', 'messageId', 'receiver', 'sender'];
const BODY_FIELDS = ['content', 'type'];

/** The envelope on the wire (KILT's `IEncryptedMessage` without the unauthenticated `receivedAt`). */
export interface KiltEnvelope {
  /** `0x` + lowercase hex of the box: the 16-byte tag, then the ciphertext. */
  ciphertext: string;
  /** `0x` + lowercase hex of the 24-byte nonce. */
  nonce: string;
  /** The sender's key: `cloister:<address>#<key-id>`. */
  senderKeyUri: string;
  /** The receiver's key: `cloister:<address>#<key-id>`. */
  receiverKeyUri: string;
}

/** What a message says (KILT's `body`). */
export interface KiltBody {
  /** `a-z 0-9 -`, 1-64 characters: "text" for plain text. */
  type: string;
  /** Any JSON value. */
  content: unknown;
}

/** The sealed message (KILT's `IEncryptedMessageContents`). */
export interface KiltMessage {
  body: KiltBody;
  /** When the sender sealed it, ms since the epoch. */
  createdAt: number;
  /** `cloister:<sender address>`. */
  sender: string;
  /** `cloister:<receiver address>`. */
  receiver: string;
  /** `0x` + 64 lowercase hex: 32 random bytes. */
  messageId: string;
}

/** The one error of an envelope that does not open, whatever the reason. */
export const CANNOT_OPEN_MESSAGE = 'cannot open the envelope: it was changed, or is not for this key';

/**
 * The envelope does not open for this key: it was changed, it is for another receiver, or its
 * sender or receiver does not match its key URIs. One message for all, on purpose: an attacker
 * trying changes learns nothing from which check failed.
 */
export class CannotOpenError extends ChannelError {
  override name = 'CannotOpenError';
  constructor() {
    super(ChannelErrorCode.CANNOT_OPEN, CANNOT_OPEN_MESSAGE);
  }
}

/** The directory's key of this account under `key_id` is not the one this key derives. */
export class NotOwnKeyError extends ChannelError {
  override name = 'NotOwnKeyError';
  constructor(readonly uri: string) {
    super(
      ChannelErrorCode.UNKNOWN_KEY,
      `the directory's key ${uri} is not this key's key-agreement key ${uri.slice(uri.indexOf('#') + 1)}: publish a new key id (\`cloister directory publish\`)`,
    );
  }
}

/** Options of {@link seal}. */
export interface SealOptions {
  /** The sender's key. */
  key: ClientKey;
  /** Which of the sender's published key-agreement keys seals (default {@link KX_KEY_ID_DEFAULT}). */
  sender_key_id?: string;
  /** The receiver's key URI, `cloister:<address>#<key-id>`. */
  to: string;
  /** What to say. */
  body: KiltBody;
  /** The directory (or a fake in tests). */
  resolver: KeyResolver;
  /** The time to stamp, ms since the epoch (default now). */
  now_ms?: number;
  /** Randomness for the nonce and message id (default Web Crypto). */
  random?: (bytes: number) => Uint8Array;
}

/** Options of {@link open}. */
export interface OpenOptions {
  /** The receiver's key. */
  key: ClientKey;
  /** The directory (or a fake in tests). */
  resolver: KeyResolver;
  /** The receiver's replay guard (its store must outlive the process). */
  guard: ReplayGuard;
  /** The time to check `createdAt` against, ms since the epoch (default now). */
  now_ms?: number;
}

/** `cloister:<address>`: an account as a message's sender or receiver. */
export function account_uri(address: string): string {
  return `${KEY_URI_SCHEME}${address}`;
}

function check_body(body: unknown): asserts body is KiltBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new TypeError('body must be an object {type, content}');
  const { type, content } = body as Partial<KiltBody>;
  if (typeof type !== 'string' || !BODY_TYPE_RE.test(type))
    throw new TypeError(
      `body.type must be 1-${KILT_BODY_TYPE_CHARS_MAX} characters of a-z 0-9 - (starting with a letter or digit), got ${JSON.stringify(type)}`,
    );
  if (content === undefined) throw new TypeError('body.content must be a JSON value');
}

/**
 * Seals `body` for the key `to` names, from the sender's key `sender_key_id`: resolves both keys
 * in the directory (UnknownKeyError, RevokedKeyError; {@link NotOwnKeyError} when the published
 * sender key is not this key's), stamps `createdAt` and a random `messageId`, and boxes the
 * message. RangeError when the message is over {@link KILT_PLAINTEXT_BYTES_MAX}.
 */
export async function seal(opts: SealOptions): Promise<{ envelope: KiltEnvelope; message: KiltMessage }> {
  const { key, to, body, resolver } = opts;
  const random = opts.random ?? web_random;
  const now_ms = opts.now_ms ?? Date.now();
  if (!Number.isSafeInteger(now_ms) || now_ms < 0) throw new TypeError('now_ms must be a whole number ≥ 0');
  check_body(body);
  const receiver = parse_key_uri(to);
  const sender_address = key_info(key).address;
  const mine = kx_key_pair(key, opts.sender_key_id ?? KX_KEY_ID_DEFAULT);
  const sender_uri = key_uri(sender_address, mine.key_id);
  const published = await resolver.resolve(sender_uri);
  if (!equal_bytes(published.public_key, mine.public_key)) throw new NotOwnKeyError(sender_uri);
  const receiver_key = await resolver.resolve(to);
  const message: KiltMessage = {
    body: { type: body.type, content: body.content },
    createdAt: now_ms,
    sender: account_uri(sender_address),
    receiver: account_uri(receiver.address),
    messageId: `0x${to_hex(random(KILT_MESSAGE_ID_BYTES))}`,
  };
  const plaintext = utf8(JSON.stringify(message));
  if (plaintext.length > KILT_PLAINTEXT_BYTES_MAX)
    throw new RangeError(
      `the message is ${plaintext.length} bytes as JSON, over the ${KILT_PLAINTEXT_BYTES_MAX} an envelope holds`,
    );
  const nonce = random(NACL_BOX_NONCE_BYTES);
  const boxed = box(plaintext, nonce, receiver_key.public_key, mine.secret_key);
  mine.secret_key.fill(0);
  return {
    envelope: {
      ciphertext: `0x${to_hex(boxed)}`,
      nonce: `0x${to_hex(nonce)}`,
      senderKeyUri: sender_uri,
      receiverKeyUri: key_uri(receiver.address, receiver.key_id),
    },
    message,
  };
}

function has_exactly(value: unknown, fields: string[]): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value).sort();
  return keys.length === fields.length && keys.every((k, i) => k === fields[i]);
}

function prefixed_hex(text: unknown, min_bytes: number, max_bytes: number): Uint8Array | null {
  if (typeof text !== 'string' || !text.startsWith('0x')) return null;
  const hex = text.slice(2);
  if (hex.length < 2 * min_bytes || hex.length > 2 * max_bytes) return null;
  try {
    return from_hex(hex);
  } catch {
    return null;
  }
}

interface ParsedEnvelope {
  ciphertext: Uint8Array;
  nonce: Uint8Array;
  sender: KeyRef;
  sender_uri: string;
  receiver: KeyRef;
  receiver_uri: string;
}

/** The envelope's parts, or null if it is not exactly a well-formed envelope. */
function parse_envelope(input: unknown): ParsedEnvelope | null {
  let value = input;
  if (typeof value === 'string') {
    if (value.length > KILT_ENVELOPE_CHARS_MAX) return null;
    try {
      value = parse_json_strict(value);
    } catch {
      return null;
    }
  }
  if (!has_exactly(value, ENVELOPE_FIELDS)) return null;
  const ciphertext = prefixed_hex(
    value['ciphertext'],
    NACL_BOX_OVERHEAD_BYTES,
    KILT_PLAINTEXT_BYTES_MAX + NACL_BOX_OVERHEAD_BYTES,
  );
  const nonce = prefixed_hex(value['nonce'], NACL_BOX_NONCE_BYTES, NACL_BOX_NONCE_BYTES);
  if (ciphertext === null || nonce === null) return null;
  try {
    const sender = parse_key_uri(value['senderKeyUri']);
    const receiver = parse_key_uri(value['receiverKeyUri']);
    return {
      ciphertext,
      nonce,
      sender,
      sender_uri: key_uri(sender.address, sender.key_id),
      receiver,
      receiver_uri: key_uri(receiver.address, receiver.key_id),
    };
  } catch {
    return null;
  }
}

/** The message, or null if the plaintext is not exactly a well-formed message. */
function parse_message(plaintext: Uint8Array): KiltMessage | null {
  let value: unknown;
  try {
    value = parse_json_strict(from_utf8(plaintext));
  } catch {
    return null;
  }
  if (!has_exactly(value, MESSAGE_FIELDS)) return null;
  const { body, createdAt, sender, receiver, messageId } = value;
  if (!has_exactly(body, BODY_FIELDS)) return null;
  if (typeof body['type'] !== 'string' || !BODY_TYPE_RE.test(body['type'])) return null;
  if (typeof createdAt !== 'number' || !Number.isSafeInteger(createdAt) || createdAt < 0) return null;
  if (typeof sender !== 'string' || typeof receiver !== 'string') return null;
  if (typeof messageId !== 'string' || !MESSAGE_ID_RE.test(messageId)) return null;
  return {
    body: { type: body['type'], content: body['content'] },
    createdAt,
    sender,
    receiver,
    messageId,
  };
}

/** A key an envelope names, from the directory; one the directory does not list as live cannot open it. */
async function resolve_named(resolver: KeyResolver, uri: string): Promise<DirectoryKey> {
  try {
    return await resolver.resolve(uri);
  } catch (e) {
    if (e instanceof UnknownKeyError || e instanceof RevokedKeyError) throw new CannotOpenError();
    throw e;
  }
}

/**
 * Opens an envelope (an object, or its JSON text) sent to one of `key`'s published keys, checks it
 * and records it in the replay guard. Throws {@link CannotOpenError} (one message) when it is
 * malformed, not for this account or key, changed, its sender or receiver does not match its key
 * URIs, or the directory does not list either named key as live (issue #14 §2: a tampered
 * envelope and a wrong receiver fail with one identical error); then {@link ReplayError} (seen
 * before, or `createdAt` outside −1 s … 60 s) or {@link SeenStoreFullError}. Only a message that
 * passed everything is recorded as seen. A directory that cannot be reached throws its own error.
 */
export async function open(envelope: unknown, opts: OpenOptions): Promise<KiltMessage> {
  const { key, resolver, guard } = opts;
  const now_ms = opts.now_ms ?? Date.now();
  if (!Number.isSafeInteger(now_ms) || now_ms < 0) throw new TypeError('now_ms must be a whole number ≥ 0');
  const my_address = key_info(key).address;
  const parsed = parse_envelope(envelope);
  if (parsed === null || parsed.receiver.address !== my_address) throw new CannotOpenError();
  // The directory first: the receiver key must be live and be this key's.
  const receiver_key = await resolve_named(resolver, parsed.receiver_uri);
  const sender_key = await resolve_named(resolver, parsed.sender_uri);
  const mine = kx_key_pair(key, parsed.receiver.key_id);
  let plaintext: Uint8Array | null;
  try {
    plaintext = equal_bytes(receiver_key.public_key, mine.public_key)
      ? box_open(parsed.ciphertext, parsed.nonce, sender_key.public_key, mine.secret_key)
      : null;
  } catch {
    // A small-order sender key: nothing sealed with it is authentic.
    plaintext = null;
  } finally {
    mine.secret_key.fill(0);
  }
  const message = plaintext === null ? null : parse_message(plaintext);
  if (
    message === null ||
    message.sender !== account_uri(parsed.sender.address) ||
    message.receiver !== account_uri(my_address)
  )
    throw new CannotOpenError();
  // Scoped by sender: one sender cannot use up another's ids.
  await guard.accept(`${parsed.sender.address}/${message.messageId}`, message.createdAt, now_ms);
  return message;
}
