/**
 * evan.network's key exchange through a mailbox (docs/channels.md "Mailbox key exchange"), with
 * what evan.network lacked added:
 *
 *   exchange key  = HKDF-SHA256(ikm = X25519(my kx sk, peer kx pk), salt = "cloister/evan/exchange-key/v1",
 *                               info = framed(salt, inviter key URI, invitee key URI, invite id))
 *   invite        = XChaCha20-Poly1305(exchange key, nonce, root, AAD = framed("cloister/evan/invite/v1",
 *                               from URI, to URI, invite id, replaces or "", epoch_blocks, start_epoch)),
 *                   sent as mail kind "kx-invite", body {v:1, invite_id, replaces, from_uri, to_uri,
 *                   epoch_blocks, start_epoch, nonce, ct} (nonce and ct base64); `replaces` is the
 *                   invite id the inviter held for this peer when it invited, or null
 *   confirm       = mail kind "kx-confirm", body {v:1, invite_id, mac}: HMAC-SHA256 under
 *                   HKDF(root, "cloister/evan/confirm/v1") over the invite's whole transcript
 *   epoch         = floor(height / epoch_blocks); k_start = root; k_{e+1} = HKDF(k_e, salt "cloister/evan/epoch/v1", info u64(e+1))
 *   mail          = kind "mail", body {v:1, epoch, nonce, ct}: XChaCha20-Poly1305 under
 *                   HKDF(k_e, salt "cloister/evan/mail-key/v1", info u64(e)),
 *                   AAD = framed("cloister/evan/mail/v1", from address, to address, epoch, "mail")
 *
 * The inviter's identity is the mailbox's `from` (the contract sets it from the transaction's
 * signer) AND the directory key the invite names, as the directory had it at the invite's height:
 * both must agree. An invite that names the invite I hold (`replaces`) re-keys the contact; two
 * invites sent without knowing of each other (crossed) keep the smaller invite id on both sides.
 * A contact keeps only the key of its base epoch and moves it forward when it opens mail of a
 * newer epoch (sending moves nothing), so older epoch keys are gone once read past (forward
 * secrecy across epochs). Contacts live in one document of a store sealed under
 * `derived_secret(key, "channel-store")`, each change under the store's lock when it has one
 * (another process with the same store). Browser-safe: noble and protocol/ only.
 * @module
 */

import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import {
  equal_bytes,
  from_base64,
  is_base64,
  to_base64,
  to_hex,
  u64_be,
  utf8,
} from '../../../protocol/bytes.js';
import { is_address_hex, is_count } from '../../../protocol/checks.js';
import { noble_provider as p } from '../../../protocol/providers/noble.js';
import { type ClientKey, key_info, web_random } from '../keys.js';
import { framed } from './encoding.js';
import { ChannelError, ChannelErrorCode } from './errors.js';
import { type DirectoryKey, type KeyResolver, key_uri, parse_key_uri } from './key_uri.js';
import { derived_secret, KX_KEY_ID_DEFAULT, kx_key_pair, x25519_shared } from './kx_keys.js';
import { DELETE_IDS_MAX, delete_in_batches, type Mail } from './mailbox.js';
import { type ChannelStorage, exclusive_if_any, sealed_storage } from './storage.js';

// ---- constants ------------------------------------------------------------------------------

/** Mailbox kind of an invitation (an encrypted communication key). */
export const KIND_INVITE = 'kx-invite';
/** Mailbox kind of a key confirmation (a MAC under the communication key). */
export const KIND_CONFIRM = 'kx-confirm';
/** Mailbox kind of a mail sealed under a contact's epoch key. */
export const KIND_MAIL = 'mail';

/** HKDF salt (and info domain) of the exchange key. */
export const EXCHANGE_KEY_SALT = 'cloister/evan/exchange-key/v1';
const INVITE_AAD_DOMAIN = 'cloister/evan/invite/v1';
const EPOCH_SALT = 'cloister/evan/epoch/v1';
const MAIL_KEY_SALT = 'cloister/evan/mail-key/v1';
const MAIL_AAD_DOMAIN = 'cloister/evan/mail/v1';
const CONFIRM_SALT = 'cloister/evan/confirm/v1';

/** Blocks per epoch when the inviter names none. */
export const EPOCH_BLOCKS_DEFAULT = 1000;
/** Largest epoch length, in blocks. */
export const EPOCH_BLOCKS_MAX = 1_000_000_000;
/** Most epoch steps one derivation walks (a contact idle that many epochs must be invited again). */
export const EPOCH_STEPS_MAX = 100_000;
/** Largest mail text, UTF-8 bytes (its sealed body stays under the mailbox's 16384 characters). */
export const MAIL_TEXT_BYTES_MAX = 8192;
/** Most contacts one key keeps. */
export const CONTACTS_MAX = 1024;
/** Most inbox pages one read walks (the mailbox keeps at most 256 mails, 64 a page). */
export const INBOX_PAGES_MAX = 16;
/** Mails asked for per inbox page. */
export const INBOX_PAGE_LIMIT = 64;

/** Store document of the contacts (sealed). */
export const CONTACTS_DOCUMENT = 'evan-contacts';
/**
 * Store document of the inbox cursor: the newest mail id `inbox` has shown, and the ids of mail
 * shown while its sender had no contact (shown again once it has one).
 */
export const CURSOR_DOCUMENT = 'evan-inbox-cursor';
/** Store document of the ids of invites {@link EvanChannel.accept_pending} has reported refused. */
export const REFUSED_DOCUMENT = 'evan-refused-invites';
/** Most mail ids the cursor and refused documents keep (an inbox holds at most 256 mails). */
const TRACKED_IDS_MAX = 256;

const KEY_BYTES = 32;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const INVITE_ID_RE = /^[0-9a-f]{32}$/;

// ---- errors ---------------------------------------------------------------------------------

/** The one message of every invite or confirmation that does not hold (no oracle for which check). */
export const INVITE_INVALID_MESSAGE =
  'the key-exchange mail does not hold: it is not for this key, was changed, or does not come from the account whose key it names';

/** A key-exchange mail (invite or confirmation) that does not open or does not belong to its sender. */
export class InviteInvalidError extends ChannelError {
  override name = 'InviteInvalidError';
  constructor() {
    super(ChannelErrorCode.INVITE_INVALID, INVITE_INVALID_MESSAGE);
  }
}

/** No communication key with that peer. */
export class NoContactError extends ChannelError {
  override name = 'NoContactError';
  constructor(readonly peer: string) {
    super(
      ChannelErrorCode.NO_CONTACT,
      `no communication key with ${peer}: run \`cloister kx invite --key NAME ${peer}\` first, or accept their invite with \`cloister kx accept --key NAME\``,
    );
  }
}

/** A mail sealed in an epoch older than the contact's base epoch: its key is forgotten. */
export class EpochExpiredError extends ChannelError {
  override name = 'EpochExpiredError';
  constructor(
    readonly peer: string,
    readonly epoch: number,
    readonly base_epoch: number,
  ) {
    super(
      ChannelErrorCode.EPOCH_EXPIRED,
      `mail from ${peer} was sealed in epoch ${epoch}, but the keys of this contact start at epoch ${base_epoch}: older epoch keys are forgotten (forward secrecy)`,
    );
  }
}

/**
 * A contact idle for more than {@link EPOCH_STEPS_MAX} epochs: its keys would take too long to
 * move forward (about 40 µs an epoch). Code EPOCH_EXPIRED; invite again.
 */
export class ContactIdleError extends ChannelError {
  override name = 'ContactIdleError';
  constructor(
    readonly peer: string,
    readonly epoch: number,
    readonly base_epoch: number,
  ) {
    super(
      ChannelErrorCode.EPOCH_EXPIRED,
      `the contact with ${peer} has keys from epoch ${base_epoch}, over ${EPOCH_STEPS_MAX} epochs before ${epoch}: exchange keys again with \`cloister kx invite\``,
    );
  }
}

/** The one message of every mail that does not open. */
export const MAIL_INVALID_MESSAGE =
  'the mail does not open: it was changed, sealed for another conversation, or not sealed by this contact';

/**
 * A mail that does not open under the contact's key (tampered, replayed from another
 * conversation, or forged). Carries code MAIL_INVALID (323).
 */
export class MailInvalidError extends ChannelError {
  override name = 'MailInvalidError';
  constructor() {
    super(ChannelErrorCode.MAIL_INVALID, MAIL_INVALID_MESSAGE);
  }
}

// ---- pure protocol --------------------------------------------------------------------------

function check_epoch_blocks(epoch_blocks: unknown): asserts epoch_blocks is number {
  if (
    typeof epoch_blocks !== 'number' ||
    !Number.isSafeInteger(epoch_blocks) ||
    epoch_blocks < 1 ||
    epoch_blocks > EPOCH_BLOCKS_MAX
  )
    throw new RangeError(`epoch_blocks must be a whole number in 1..${EPOCH_BLOCKS_MAX}`);
}

/** The epoch of a block height: `floor(height / epoch_blocks)`. */
export function epoch_of(height: number, epoch_blocks: number): number {
  if (!is_count(height)) throw new RangeError('height must be a whole number ≥ 0');
  check_epoch_blocks(epoch_blocks);
  return Math.floor(height / epoch_blocks);
}

/**
 * The exchange key of an invitation: HKDF over X25519 of my key-agreement secret and the peer's
 * public key, bound to both key URIs (inviter first) and the invite id. InviteInvalidError for a
 * peer key of small order.
 */
export function exchange_key(
  my_kx_sk: Uint8Array,
  peer_kx_pk: Uint8Array,
  inviter_uri: string,
  invitee_uri: string,
  invite_id: string,
): Uint8Array {
  const shared = x25519_shared(my_kx_sk, peer_kx_pk);
  if (shared === null) throw new InviteInvalidError();
  const info = framed(EXCHANGE_KEY_SALT, inviter_uri, invitee_uri, invite_id);
  return p.hkdf(shared, utf8(EXCHANGE_KEY_SALT), info, KEY_BYTES);
}

/** The key of epoch `epoch + 1` from the key of `epoch`. */
export function next_epoch_key(key: Uint8Array, epoch: number): Uint8Array {
  return p.hkdf(key, utf8(EPOCH_SALT), u64_be(epoch + 1), KEY_BYTES);
}

/** The key of `epoch` from the key of `base_epoch` (≤ epoch), walking at most EPOCH_STEPS_MAX steps. */
export function epoch_key_at(base_key: Uint8Array, base_epoch: number, epoch: number): Uint8Array {
  if (!is_count(base_epoch) || !is_count(epoch) || epoch < base_epoch)
    throw new RangeError('epoch must be a whole number ≥ base_epoch');
  if (epoch - base_epoch > EPOCH_STEPS_MAX)
    throw new RangeError(`epoch ${epoch} is over ${EPOCH_STEPS_MAX} epochs past ${base_epoch}: invite again`);
  let key = base_key;
  for (let e = base_epoch; e < epoch; e++) key = next_epoch_key(key, e);
  return key;
}

function mail_key(epoch_key: Uint8Array, epoch: number): Uint8Array {
  return p.hkdf(epoch_key, utf8(MAIL_KEY_SALT), u64_be(epoch), KEY_BYTES);
}

/** The body of a `kx-invite` mail. */
export interface InviteBody {
  v: 1;
  /** 16 random bytes, lowercase hex. */
  invite_id: string;
  /**
   * The invite id the inviter held for this peer when it invited (its contact's), or null: an
   * invite that names the invitee's own pending invite is a re-key, not a crossed invite.
   */
  replaces: string | null;
  /** The inviter's key URI. */
  from_uri: string;
  /** The invitee's key URI. */
  to_uri: string;
  epoch_blocks: number;
  /** The epoch whose key is the communication key itself. */
  start_epoch: number;
  /** 24 bytes, base64. */
  nonce: string;
  /** The sealed 32-byte communication key, base64. */
  ct: string;
}

function invite_aad(b: Omit<InviteBody, 'nonce' | 'ct' | 'v'>): Uint8Array {
  // An invite id is 32 hex characters, so "" stands for null unambiguously.
  return framed(
    INVITE_AAD_DOMAIN,
    b.from_uri,
    b.to_uri,
    b.invite_id,
    b.replaces ?? '',
    b.epoch_blocks,
    b.start_epoch,
  );
}

function bytes_field(value: unknown, length: number): Uint8Array | null {
  if (typeof value !== 'string' || value.length > 4 * Math.ceil(length / 3) || !is_base64(value)) return null;
  const bytes = from_base64(value);
  return bytes.length === length ? bytes : null;
}

function parse_json_object(text: string, chars_max: number): Record<string, unknown> | null {
  if (typeof text !== 'string' || text.length > chars_max) return null;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** Parses and checks a `kx-invite` body; InviteInvalidError for anything malformed. */
export function parse_invite_body(text: string): InviteBody {
  const o = parse_json_object(text, 2048);
  if (o === null || o['v'] !== 1) throw new InviteInvalidError();
  const { invite_id, replaces, from_uri, to_uri, epoch_blocks, start_epoch, nonce, ct } = o;
  if (typeof invite_id !== 'string' || !INVITE_ID_RE.test(invite_id)) throw new InviteInvalidError();
  if (replaces !== null && (typeof replaces !== 'string' || !INVITE_ID_RE.test(replaces)))
    throw new InviteInvalidError();
  try {
    parse_key_uri(from_uri);
    parse_key_uri(to_uri);
    check_epoch_blocks(epoch_blocks);
  } catch {
    throw new InviteInvalidError();
  }
  if (!is_count(start_epoch)) throw new InviteInvalidError();
  if (bytes_field(nonce, NONCE_BYTES) === null || bytes_field(ct, KEY_BYTES + TAG_BYTES) === null)
    throw new InviteInvalidError();
  return {
    v: 1,
    invite_id,
    replaces: replaces as string | null,
    from_uri: from_uri as string,
    to_uri: to_uri as string,
    epoch_blocks,
    start_epoch,
    nonce: nonce as string,
    ct: ct as string,
  };
}

/** Seals `root` (the communication key) into an invite body for the invitee. */
export function seal_invite(args: {
  my_kx_sk: Uint8Array;
  peer_kx_pk: Uint8Array;
  from_uri: string;
  to_uri: string;
  invite_id: string;
  /** The invite id I hold for this peer now, or null. */
  replaces: string | null;
  epoch_blocks: number;
  start_epoch: number;
  root: Uint8Array;
  nonce: Uint8Array;
}): InviteBody {
  const head = {
    invite_id: args.invite_id,
    replaces: args.replaces,
    from_uri: args.from_uri,
    to_uri: args.to_uri,
    epoch_blocks: args.epoch_blocks,
    start_epoch: args.start_epoch,
  };
  const k = exchange_key(args.my_kx_sk, args.peer_kx_pk, args.from_uri, args.to_uri, args.invite_id);
  const ct = xchacha20poly1305(k, args.nonce, invite_aad(head)).encrypt(args.root);
  return { v: 1, ...head, nonce: to_base64(args.nonce), ct: to_base64(ct) };
}

/** Opens an invite body with the invitee's key-agreement secret; InviteInvalidError on any failure. */
export function open_invite(body: InviteBody, my_kx_sk: Uint8Array, peer_kx_pk: Uint8Array): Uint8Array {
  const k = exchange_key(my_kx_sk, peer_kx_pk, body.from_uri, body.to_uri, body.invite_id);
  try {
    const root = xchacha20poly1305(k, from_base64(body.nonce), invite_aad(body)).decrypt(
      from_base64(body.ct),
    );
    if (root.length !== KEY_BYTES) throw new Error('length');
    return root;
  } catch {
    throw new InviteInvalidError();
  }
}

/** The key-confirmation MAC: HMAC under HKDF(root, "cloister/evan/confirm/v1") over the invite's transcript. */
export function confirm_tag(root: Uint8Array, body: InviteBody): Uint8Array {
  const key = p.hkdf(root, utf8(CONFIRM_SALT), utf8(body.invite_id), KEY_BYTES);
  const transcript = framed(
    CONFIRM_SALT,
    KIND_CONFIRM,
    body.invite_id,
    body.replaces ?? '',
    body.from_uri,
    body.to_uri,
    body.epoch_blocks,
    body.start_epoch,
    body.nonce,
    body.ct,
  );
  return p.hmac_sha256(key, transcript);
}

/** The body of a `mail` mail. */
export interface MailBody {
  v: 1;
  epoch: number;
  /** 24 bytes, base64. */
  nonce: string;
  /** base64 of the sealed UTF-8 text. */
  ct: string;
}

function mail_aad(from: string, to: string, epoch: number, kind: string): Uint8Array {
  return framed(MAIL_AAD_DOMAIN, from, to, epoch, kind);
}

/** Seals `text` from `from` to `to` under the key of `epoch`. */
export function seal_mail(
  epoch_key: Uint8Array,
  epoch: number,
  from: string,
  to: string,
  text: string,
  nonce: Uint8Array,
): MailBody {
  const bytes = utf8(text);
  if (bytes.length > MAIL_TEXT_BYTES_MAX)
    throw new RangeError(`mail text must be at most ${MAIL_TEXT_BYTES_MAX} bytes of UTF-8`);
  const ct = xchacha20poly1305(
    mail_key(epoch_key, epoch),
    nonce,
    mail_aad(from, to, epoch, KIND_MAIL),
  ).encrypt(bytes);
  return { v: 1, epoch, nonce: to_base64(nonce), ct: to_base64(ct) };
}

/** Parses a `mail` body; null if malformed. */
export function parse_mail_body(text: string): MailBody | null {
  const o = parse_json_object(text, 16_384);
  if (o === null || o['v'] !== 1 || !is_count(o['epoch'])) return null;
  if (bytes_field(o['nonce'], NONCE_BYTES) === null) return null;
  const ct = o['ct'];
  if (typeof ct !== 'string' || !is_base64(ct)) return null;
  return { v: 1, epoch: o['epoch'], nonce: o['nonce'] as string, ct };
}

/** Opens a mail body sealed under the key of its epoch, with the mail's sender, receiver and kind; null if it does not open. */
export function open_mail(
  epoch_key: Uint8Array,
  body: MailBody,
  from: string,
  to: string,
  kind: string,
): string | null {
  try {
    const bytes = xchacha20poly1305(
      mail_key(epoch_key, body.epoch),
      from_base64(body.nonce),
      mail_aad(from, to, body.epoch, kind),
    ).decrypt(from_base64(body.ct));
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

// ---- transport ------------------------------------------------------------------------------

/** A mail as the mailbox contract keeps it; `from` is the transaction's signer, set by the contract. */
export type EvanMail = Mail;

/** What the exchange needs of a mailbox: MailboxClient (client/sdk/channels/mailbox.ts), or a fake. */
export interface EvanMailbox {
  send(to: string, kind: string, body: string): Promise<{ id: number }>;
  inbox(opts?: { after?: number; limit?: number }): Promise<EvanMail[]>;
  delete(ids: number[]): Promise<void>;
}

/** Every mail of the inbox with an id above `after`, ascending, page by page. */
export async function read_inbox(mailbox: EvanMailbox, after = 0): Promise<EvanMail[]> {
  const out: EvanMail[] = [];
  let cursor = after;
  for (let page = 0; page < INBOX_PAGES_MAX; page++) {
    const mails = await mailbox.inbox({ after: cursor, limit: INBOX_PAGE_LIMIT });
    const fresh = mails.filter((m) => m.id > cursor).sort((a, b) => a.id - b.id);
    if (fresh.length === 0) break;
    out.push(...fresh);
    // A short page is not the end: the mailbox also bounds a page's bytes. Only an empty one is.
    cursor = fresh[fresh.length - 1]!.id;
  }
  return out;
}

// ---- contacts -------------------------------------------------------------------------------

/** Where an exchange stands: invited (my invite sent), accepted (their invite taken), confirmed (they proved they hold it). */
export type ContactState = 'invited' | 'accepted' | 'confirmed';

/** A contact without its secrets: what `kx status` prints. */
export interface ContactInfo {
  /** The peer's address. */
  peer: string;
  state: ContactState;
  my_uri: string;
  peer_uri: string;
  /** The oldest epoch whose key this contact still holds. */
  base_epoch: number;
  epoch_blocks: number;
  invite_id: string;
  /** Height the exchange happened at (invite sent, or the accepted invite's mail). */
  height: number;
  /** Whether this side made the invite. */
  inviter: boolean;
}

interface Contact extends ContactInfo {
  /** Key of `base_epoch`. */
  key: Uint8Array;
  /** The inviter's expected confirmation MAC, until confirmed. */
  confirm_tag?: Uint8Array;
  /** Height of the peer's confirmation mail, once confirmed (contacts confirmed before it was kept have none). */
  confirmed_height?: number;
}

const STATES: readonly ContactState[] = ['invited', 'accepted', 'confirmed'];

function contact_to_json(c: Contact): Record<string, unknown> {
  const { key, confirm_tag: tag, ...info } = c;
  return { ...info, key: to_base64(key), ...(tag === undefined ? {} : { confirm_tag: to_base64(tag) }) };
}

function contact_from_json(peer: string, v: unknown): Contact {
  const o = v as Record<string, unknown>;
  const key = bytes_field(o['key'], KEY_BYTES);
  const tag = o['confirm_tag'] === undefined ? undefined : bytes_field(o['confirm_tag'], 32);
  if (
    !is_address_hex(peer) ||
    typeof o !== 'object' ||
    o === null ||
    !STATES.includes(o['state'] as ContactState) ||
    typeof o['my_uri'] !== 'string' ||
    typeof o['peer_uri'] !== 'string' ||
    !is_count(o['base_epoch']) ||
    !is_count(o['epoch_blocks']) ||
    typeof o['invite_id'] !== 'string' ||
    !is_count(o['height']) ||
    typeof o['inviter'] !== 'boolean' ||
    (o['confirmed_height'] !== undefined && !is_count(o['confirmed_height'])) ||
    key === null ||
    tag === null
  )
    throw new Error(`the contact store holds a malformed contact ${peer}`);
  return {
    peer,
    state: o['state'] as ContactState,
    my_uri: o['my_uri'],
    peer_uri: o['peer_uri'],
    base_epoch: o['base_epoch'],
    epoch_blocks: o['epoch_blocks'],
    invite_id: o['invite_id'],
    height: o['height'],
    inviter: o['inviter'],
    key,
    ...(tag === undefined ? {} : { confirm_tag: tag }),
    ...(o['confirmed_height'] === undefined ? {} : { confirmed_height: o['confirmed_height'] as number }),
  };
}

function info_of(c: Contact): ContactInfo {
  const { key: _key, confirm_tag: _tag, confirmed_height: _confirmed, ...info } = c;
  return info;
}

// ---- the channel ----------------------------------------------------------------------------

/** A {@link KeyResolver}, optionally with the directory's newest usable key of an account. */
export interface EvanResolver extends KeyResolver {
  current?(address: string): Promise<DirectoryKey>;
}

/** What {@link EvanChannel} works with. */
export interface EvanChannelOptions {
  /** The account key (its address is this side; its key-agreement keys derive from it). */
  key: ClientKey;
  mailbox: EvanMailbox;
  /**
   * Resolves key URIs: the DirectoryClient, or a fake. With `current` (DirectoryClient has it),
   * an invite without a key id uses my newest usable key; without, {@link KX_KEY_ID_DEFAULT}.
   */
  resolver: EvanResolver;
  /** The channel store (FileStorage in Node, MemoryStorage in tests); the channel seals its documents itself. */
  store: ChannelStorage;
  /** The chain's current height (`client.status()`), for the epoch of what is sent now. */
  height: () => Promise<number>;
  /** Random bytes (default crypto.getRandomValues). */
  random?: (bytes: number) => Uint8Array;
}

/** What {@link EvanChannel.invite} did. */
export interface InviteResult {
  invite_id: string;
  /** The invite id this one replaces (the one I held for the peer), or null. */
  replaces: string | null;
  mail_id: number;
  peer: string;
  from_uri: string;
  to_uri: string;
  epoch_blocks: number;
  start_epoch: number;
}

/** What {@link EvanChannel.accept} did with one invite. */
export interface AcceptResult {
  mail_id: number;
  peer: string;
  invite_id: string;
  /** accepted: the contact now holds this invite's key; skipped: see `reason`. */
  status: 'accepted' | 'skipped';
  reason?: string;
  /** Id of the confirmation mail sent back, if one was. */
  confirm_mail_id?: number;
}

/**
 * One invite {@link EvanChannel.accept_pending} could not take. Such a failure is for good (the
 * invite is checked against the directory as it was at the invite's height): the invite stays in
 * the inbox until its owner deletes it.
 */
export interface AcceptFailure {
  mail_id: number;
  peer: string;
  error: ChannelError;
  /** Whether an earlier {@link EvanChannel.accept_pending} already reported this invite refused. */
  reported: boolean;
}

/** One inbox mail as {@link EvanChannel.inbox} reads it. */
export interface InboxEntry {
  id: number;
  from: string;
  kind: string;
  height: number;
  time_ms: number;
  /** mail: `text` or `error`; invite: `invite` (and `error` if it does not hold); confirm: `confirmed` or `error`. */
  type: 'mail' | 'invite' | 'confirm' | 'other';
  text?: string;
  epoch?: number;
  invite?: { invite_id: string; from_uri: string; accepted: boolean };
  confirmed?: boolean;
  error?: ChannelError;
}

/** Why the contact `held` does not take an invite (see {@link EvanChannel.accept}), or undefined when it does. */
function skip_reason(held: Contact | undefined, body: InviteBody, height: number): string | undefined {
  if (held === undefined) return undefined;
  if (held.invite_id === body.invite_id) return 'already accepted';
  if (held.state === 'invited') {
    // The peer invited knowing my pending invite (it names it): a re-key, which replaces mine.
    if (body.replaces === held.invite_id) return undefined;
    // Crossed: each side invited without knowing of the other's invite. Both keep the smaller id.
    return held.invite_id < body.invite_id
      ? 'both sides invited: the peer takes your invite (the smaller invite id)'
      : undefined;
  }
  // The peer confirmed my invite, so it holds it: an invite of its own sent before that
  // confirmation and not naming mine crossed mine, and the peer took mine over it. (One sent
  // after, not naming mine, is a peer that lost its contacts and starts again: taken.)
  if (
    held.state === 'confirmed' &&
    held.inviter &&
    held.confirmed_height !== undefined &&
    body.replaces !== held.invite_id &&
    height < held.confirmed_height
  )
    return 'both sides invited: the peer took your invite (it confirmed it)';
  return height <= held.height ? 'older than the key this contact holds' : undefined;
}

/** Where {@link EvanChannel.inbox} stands: the newest id shown, and mail shown while its sender had no contact. */
interface Cursor {
  after: number;
  waiting: number[];
}

function parse_cursor(text: string | null): Cursor {
  if (text === null) return { after: 0, waiting: [] };
  // Earlier versions kept the bare id.
  if (/^\d{1,15}$/.test(text)) return { after: Number(text), waiting: [] };
  const o = parse_json_object(text, 16_384);
  const after = o?.['after'];
  const waiting = o?.['waiting'];
  if (o === null || o['v'] !== 1 || !is_count(after) || !Array.isArray(waiting) || !waiting.every(is_count))
    return { after: 0, waiting: [] };
  return { after, waiting: waiting.slice(-TRACKED_IDS_MAX) };
}

function parse_ids(text: string | null): number[] {
  const o = text === null ? null : parse_json_object(text, 16_384);
  const ids = o?.['ids'];
  return Array.isArray(ids) && ids.every(is_count) ? ids.slice(-TRACKED_IDS_MAX) : [];
}

/**
 * One account's side of the mailbox key exchange: invite, accept (and confirm), contacts, and
 * mail sealed under per-epoch keys. Operations that change the contacts run one at a time, and,
 * when the store has {@link ChannelStorage.exclusive} (FileStorage), one at a time across
 * processes too.
 */
export class EvanChannel {
  readonly address: string;
  readonly #key: ClientKey;
  readonly #mailbox: EvanMailbox;
  readonly #resolver: EvanResolver;
  readonly #store: ChannelStorage;
  readonly #height: () => Promise<number>;
  readonly #random: (bytes: number) => Uint8Array;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: EvanChannelOptions) {
    this.#key = opts.key;
    this.address = key_info(opts.key).address;
    this.#mailbox = opts.mailbox;
    this.#resolver = opts.resolver;
    this.#store = sealed_storage(opts.store, derived_secret(opts.key, 'channel-store'));
    this.#height = opts.height;
    this.#random = opts.random ?? web_random;
  }

  /**
   * Runs `fn` after every earlier locked operation of this channel and, with `across_processes`
   * (a read-modify-write of the contacts), under the contacts document's store lock.
   */
  #locked<T>(fn: () => Promise<T>, across_processes = true): Promise<T> {
    const work = across_processes ? () => exclusive_if_any(this.#store, CONTACTS_DOCUMENT, fn) : fn;
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #load(): Promise<Map<string, Contact>> {
    const text = await this.#store.get(CONTACTS_DOCUMENT);
    const out = new Map<string, Contact>();
    if (text === null) return out;
    const doc = JSON.parse(text) as { v?: unknown; contacts?: Record<string, unknown> };
    if (doc.v !== 1 || typeof doc.contacts !== 'object' || doc.contacts === null)
      throw new Error(`the contact store ${CONTACTS_DOCUMENT} is malformed`);
    for (const [peer, value] of Object.entries(doc.contacts)) out.set(peer, contact_from_json(peer, value));
    return out;
  }

  async #save(contacts: Map<string, Contact>): Promise<void> {
    if (contacts.size > CONTACTS_MAX) throw new RangeError(`at most ${CONTACTS_MAX} contacts per key`);
    const json: Record<string, unknown> = {};
    for (const [peer, c] of contacts) json[peer] = contact_to_json(c);
    await this.#store.set(CONTACTS_DOCUMENT, JSON.stringify({ v: 1, contacts: json }));
  }

  /** Every contact, without secrets. */
  async contacts(): Promise<ContactInfo[]> {
    return [...(await this.#load()).values()].map(info_of);
  }

  /** The contact with `peer`, without secrets, or null. */
  async contact(peer: string): Promise<ContactInfo | null> {
    const c = (await this.#load()).get(peer);
    return c === undefined ? null : info_of(c);
  }

  /** My key-agreement key `key_id` (default: my newest usable one), checked against the directory. */
  async #my_key(key_id: string | undefined): Promise<{ pair: ReturnType<typeof kx_key_pair>; uri: string }> {
    const id =
      key_id ??
      (this.#resolver.current === undefined
        ? KX_KEY_ID_DEFAULT
        : (await this.#resolver.current(this.address)).key_id);
    const pair = kx_key_pair(this.#key, id);
    const uri = key_uri(this.address, pair.key_id);
    const mine = await this.#resolver.resolve(uri);
    if (!equal_bytes(mine.public_key, pair.public_key))
      throw new Error(`the directory's ${uri} is not this key's key-agreement key`);
    return { pair, uri };
  }

  /**
   * Invites the owner of `peer_uri`: a fresh communication key sealed under the exchange key of
   * my key `key_id` (which must be published) and the peer's key, sent to the peer's inbox. The
   * invite names the invite I held for the peer (`replaces`), so the peer takes it as a re-key. The
   * contact is `invited` at once and can send mail; it turns `confirmed` when the peer confirms.
   */
  async invite(
    peer_uri: string,
    opts: { key_id?: string; epoch_blocks?: number } = {},
  ): Promise<InviteResult> {
    const peer = parse_key_uri(peer_uri);
    if (peer.address === this.address) throw new TypeError('cannot invite your own account');
    const epoch_blocks = opts.epoch_blocks ?? EPOCH_BLOCKS_DEFAULT;
    check_epoch_blocks(epoch_blocks);
    const { pair, uri: my_uri } = await this.#my_key(opts.key_id);
    const theirs = await this.#resolver.resolve(peer_uri);
    return this.#locked(async () => {
      const contacts = await this.#load();
      const replaces = contacts.get(peer.address)?.invite_id ?? null;
      const height = await this.#height();
      const start_epoch = epoch_of(height, epoch_blocks);
      const invite_id = to_hex(this.#random(16));
      const root = this.#random(KEY_BYTES);
      const body = seal_invite({
        my_kx_sk: pair.secret_key,
        peer_kx_pk: theirs.public_key,
        from_uri: my_uri,
        to_uri: peer_uri,
        invite_id,
        replaces,
        epoch_blocks,
        start_epoch,
        root,
        nonce: this.#random(NONCE_BYTES),
      });
      const { id } = await this.#mailbox.send(peer.address, KIND_INVITE, JSON.stringify(body));
      contacts.set(peer.address, {
        peer: peer.address,
        state: 'invited',
        my_uri,
        peer_uri,
        base_epoch: start_epoch,
        epoch_blocks,
        invite_id,
        height,
        inviter: true,
        key: root,
        confirm_tag: confirm_tag(root, body),
      });
      await this.#save(contacts);
      const info = { peer: peer.address, from_uri: my_uri, to_uri: peer_uri, epoch_blocks, start_epoch };
      return { invite_id, replaces, mail_id: id, ...info };
    });
  }

  /**
   * Checks an invite and returns its communication key: the mail's on-chain sender must own the
   * key the invite names, the invite must name one of my keys, both keys must resolve in the
   * directory as it was at the invite's height (UnknownKeyError, RevokedKeyError: a key revoked
   * later, as `directory publish --rotate` does, still opens the invites sent before; one revoked
   * back to that height, for a compromise, does not), and it must open. InviteInvalidError otherwise.
   */
  async #open_invite(mail: EvanMail): Promise<{ body: InviteBody; root: Uint8Array }> {
    if (mail.kind !== KIND_INVITE) throw new InviteInvalidError();
    const body = parse_invite_body(mail.body);
    const from = parse_key_uri(body.from_uri);
    const to = parse_key_uri(body.to_uri);
    if (from.address !== mail.from || to.address !== this.address) throw new InviteInvalidError();
    if (!is_count(mail.height) || body.start_epoch > epoch_of(mail.height, body.epoch_blocks))
      throw new InviteInvalidError();
    const theirs = await this.#resolver.resolve(body.from_uri, { at_height: mail.height });
    const mine = await this.#resolver.resolve(body.to_uri, { at_height: mail.height });
    const pair = kx_key_pair(this.#key, to.key_id);
    if (!equal_bytes(mine.public_key, pair.public_key)) throw new InviteInvalidError();
    return { body, root: open_invite(body, pair.secret_key, theirs.public_key) };
  }

  /**
   * Accepts one `kx-invite` mail: checks it (see the module comment), stores the contact as
   * `accepted`, and with `confirm` sends a `kx-confirm` back. Skips an invite already accepted
   * (with `confirm`, sending its confirmation again: the first may have been lost), an invite
   * older than the contact's current key, and, when both sides invited without knowing of each
   * other, the one with the larger invite id (both sides keep the same key). An invite that
   * names my pending invite as the one it `replaces` is a re-key: taken.
   */
  async accept(mail: EvanMail, opts: { confirm?: boolean } = {}): Promise<AcceptResult> {
    const { body, root } = await this.#open_invite(mail);
    const result = { mail_id: mail.id, peer: mail.from, invite_id: body.invite_id };
    const confirm = opts.confirm === true;
    // Stored now (no reason), skipped (a reason), or held already from this very invite (resend).
    const { reason, resend } = await this.#locked(async () => {
      const contacts = await this.#load();
      const held = contacts.get(mail.from);
      const why = skip_reason(held, body, mail.height);
      if (why !== undefined)
        return { reason: why, resend: why === 'already accepted' && held?.inviter === false };
      contacts.set(mail.from, {
        peer: mail.from,
        state: 'accepted',
        my_uri: body.to_uri,
        peer_uri: body.from_uri,
        base_epoch: body.start_epoch,
        epoch_blocks: body.epoch_blocks,
        invite_id: body.invite_id,
        height: mail.height,
        inviter: false,
        key: root,
      });
      await this.#save(contacts);
      return { reason: undefined, resend: false };
    });
    if (!confirm)
      return reason === undefined
        ? { ...result, status: 'accepted' }
        : { ...result, status: 'skipped', reason };
    if (reason !== undefined && !resend) return { ...result, status: 'skipped', reason };
    // The MAC is deterministic: a confirmation sent again (the first may have been lost) is the same.
    const tag = { v: 1, invite_id: body.invite_id, mac: to_base64(confirm_tag(root, body)) };
    const { id } = await this.#mailbox.send(mail.from, KIND_CONFIRM, JSON.stringify(tag));
    if (reason === undefined) return { ...result, status: 'accepted', confirm_mail_id: id };
    const again = 'already accepted: confirmation sent again';
    return { ...result, status: 'skipped', reason: again, confirm_mail_id: id };
  }

  /**
   * Accepts every `kx-invite` in the inbox (only those from `from`, if given), in order, and with
   * `delete` (default true) removes the ones accepted or skipped from the inbox. Invites that do
   * not hold stay, and are returned as failures, `reported` when an earlier call returned them
   * already (they fail for good: delete them with {@link delete}).
   */
  async accept_pending(
    opts: { from?: string; confirm?: boolean; delete?: boolean } = {},
  ): Promise<{ accepted: AcceptResult[]; failed: AcceptFailure[] }> {
    const inbox = await read_inbox(this.#mailbox);
    const mails = inbox.filter(
      (m) => m.kind === KIND_INVITE && (opts.from === undefined || m.from === opts.from),
    );
    const accepted: AcceptResult[] = [];
    const failed: AcceptFailure[] = [];
    for (const mail of mails) {
      try {
        accepted.push(await this.accept(mail, { confirm: opts.confirm === true }));
      } catch (error) {
        if (!(error instanceof ChannelError)) throw error;
        failed.push({ mail_id: mail.id, peer: mail.from, error, reported: false });
      }
    }
    if (opts.delete !== false) await this.delete(accepted.map((a) => a.mail_id));
    const before = await this.#note_refused(
      inbox.map((m) => m.id),
      failed.map((f) => f.mail_id),
    );
    return { accepted, failed: failed.map((f) => ({ ...f, reported: before.has(f.mail_id) })) };
  }

  /**
   * Records the ids of the invites refused now (`failing`), keeping those recorded before that are
   * still in the inbox (`present`); answers which of `failing` were recorded before.
   */
  async #note_refused(present: number[], failing: number[]): Promise<Set<number>> {
    return exclusive_if_any(this.#store, REFUSED_DOCUMENT, async () => {
      const recorded = parse_ids(await this.#store.get(REFUSED_DOCUMENT));
      const before = new Set(failing.filter((id) => recorded.includes(id)));
      const in_inbox = new Set(present);
      const ids = [...new Set([...recorded.filter((id) => in_inbox.has(id)), ...failing])]
        .sort((a, b) => a - b)
        .slice(-TRACKED_IDS_MAX);
      if (ids.join() !== recorded.join())
        await this.#store.set(REFUSED_DOCUMENT, JSON.stringify({ v: 1, ids }));
      return before;
    });
  }

  /** Deletes mails of this account's inbox, {@link DELETE_IDS_MAX} ids a call (ids it does not hold are ignored). */
  async delete(ids: readonly number[]): Promise<void> {
    await delete_in_batches(ids, (batch) => this.#mailbox.delete(batch));
  }

  /**
   * Takes a `kx-confirm` mail: the contact with its sender must be my pending invite and the MAC
   * must be the one its communication key gives; then the contact is `confirmed`.
   * InviteInvalidError otherwise; true if it was already confirmed by this invite.
   */
  async confirm(mail: EvanMail): Promise<boolean> {
    if (mail.kind !== KIND_CONFIRM) throw new InviteInvalidError();
    const o = parse_json_object(mail.body, 1024);
    const mac = bytes_field(o?.['mac'], 32);
    if (o === null || o['v'] !== 1 || mac === null) throw new InviteInvalidError();
    return this.#locked(async () => {
      const contacts = await this.#load();
      const c = contacts.get(mail.from);
      if (c === undefined || !c.inviter || c.invite_id !== o['invite_id']) throw new InviteInvalidError();
      if (c.state === 'confirmed') return true;
      if (c.confirm_tag === undefined || !equal_bytes(c.confirm_tag, mac)) throw new InviteInvalidError();
      const { confirm_tag: _tag, ...rest } = c;
      contacts.set(mail.from, { ...rest, state: 'confirmed', confirmed_height: mail.height });
      await this.#save(contacts);
      return true;
    });
  }

  /**
   * Takes every `kx-confirm` in the inbox (see {@link confirm}) and deletes those that held from
   * it; answers the peers confirmed and the confirmations refused.
   */
  async take_confirmations(): Promise<{ confirmed: string[]; failed: AcceptFailure[] }> {
    const mails = (await read_inbox(this.#mailbox)).filter((m) => m.kind === KIND_CONFIRM);
    const confirmed: string[] = [];
    const failed: AcceptFailure[] = [];
    const done: number[] = [];
    for (const mail of mails) {
      try {
        await this.confirm(mail);
        confirmed.push(mail.from);
        done.push(mail.id);
      } catch (error) {
        if (!(error instanceof ChannelError)) throw error;
        failed.push({ mail_id: mail.id, peer: mail.from, error, reported: false });
      }
    }
    await this.delete(done);
    return { confirmed, failed };
  }

  /**
   * Sends `text` to `peer` (an address) sealed under the key of the current epoch, derived from
   * the contact's base without moving it: only opening the peer's mail moves the base forward, so
   * the peer's unread mail of older epochs stays readable. NoContactError without a key exchange.
   */
  async send(peer: string, text: string): Promise<{ id: number; epoch: number }> {
    if (typeof text !== 'string') throw new TypeError('text must be a string');
    if (utf8(text).length > MAIL_TEXT_BYTES_MAX)
      throw new RangeError(`mail text must be at most ${MAIL_TEXT_BYTES_MAX} bytes of UTF-8`);
    // Reads the contacts only: no store lock across processes while the mail is sent.
    return this.#locked(async () => {
      const c = (await this.#load()).get(peer);
      if (c === undefined) throw new NoContactError(peer);
      const epoch = Math.max(epoch_of(await this.#height(), c.epoch_blocks), c.base_epoch);
      if (epoch - c.base_epoch > EPOCH_STEPS_MAX) throw new ContactIdleError(peer, epoch, c.base_epoch);
      const key = epoch_key_at(c.key, c.base_epoch, epoch);
      const body = seal_mail(key, epoch, this.address, peer, text, this.#random(NONCE_BYTES));
      const { id } = await this.#mailbox.send(peer, KIND_MAIL, JSON.stringify(body));
      return { id, epoch };
    }, false);
  }

  /**
   * Opens a `mail` mail from a contact. NoContactError without a contact, EpochExpiredError for
   * an epoch older than the contact's base, MailInvalidError if it does not open (changed, from
   * another conversation, or its epoch is later than the block it was committed in). Opening a
   * mail of a newer epoch moves the contact forward, forgetting the older keys.
   */
  async open(mail: EvanMail): Promise<{ text: string; epoch: number }> {
    return this.#locked(async () => {
      const contacts = await this.#load();
      const c = contacts.get(mail.from);
      if (c === undefined) throw new NoContactError(mail.from);
      const body = mail.kind === KIND_MAIL ? parse_mail_body(mail.body) : null;
      if (body === null) throw new MailInvalidError();
      if (body.epoch < c.base_epoch) throw new EpochExpiredError(mail.from, body.epoch, c.base_epoch);
      // A sender seals with the epoch of a height before the commit: never a later one.
      if (!is_count(mail.height) || body.epoch > epoch_of(mail.height, c.epoch_blocks))
        throw new MailInvalidError();
      if (body.epoch - c.base_epoch > EPOCH_STEPS_MAX)
        throw new ContactIdleError(mail.from, body.epoch, c.base_epoch);
      const key = epoch_key_at(c.key, c.base_epoch, body.epoch);
      const text = open_mail(key, body, mail.from, this.address, mail.kind);
      if (text === null) throw new MailInvalidError();
      if (body.epoch > c.base_epoch) {
        contacts.set(mail.from, { ...c, base_epoch: body.epoch, key });
        await this.#save(contacts);
      }
      return { text, epoch: body.epoch };
    });
  }

  /**
   * Reads the inbox: mails from contacts opened, invites listed (to be taken with
   * {@link accept_pending}), confirmations taken. Only mails newer than the last call unless
   * `all`; `after` overrides both. A mail from a sender without a contact (NoContactError) is
   * shown once, then again by the first call after its sender has become a contact.
   */
  async inbox(opts: { all?: boolean; after?: number } = {}): Promise<InboxEntry[]> {
    return exclusive_if_any(this.#store, CURSOR_DOCUMENT, async () => {
      const cursor = parse_cursor(await this.#store.get(CURSOR_DOCUMENT));
      const contacts = await this.#load();
      const news = opts.after === undefined && opts.all !== true;
      const waiting = new Set(cursor.waiting);
      const from = opts.after ?? (news ? Math.min(cursor.after, ...cursor.waiting.map((id) => id - 1)) : 0);
      const mails = await read_inbox(this.#mailbox, from);
      const out: InboxEntry[] = [];
      for (const mail of mails) {
        const again = waiting.has(mail.id) && contacts.has(mail.from);
        if (news && mail.id <= cursor.after && !again) continue;
        const entry = await this.#entry(mail, contacts);
        if (entry.error instanceof NoContactError) waiting.add(mail.id);
        else waiting.delete(mail.id);
        out.push(entry);
      }
      // Waiting ids in the range read that the inbox no longer holds were deleted.
      const held = new Set(mails.map((m) => m.id));
      for (const id of waiting) if (id > from && !held.has(id)) waiting.delete(id);
      const next: Cursor = {
        after: mails.reduce((m, x) => Math.max(m, x.id), cursor.after),
        waiting: [...waiting].sort((a, b) => a - b).slice(-TRACKED_IDS_MAX),
      };
      if (next.after !== cursor.after || next.waiting.join() !== cursor.waiting.join())
        await this.#store.set(CURSOR_DOCUMENT, JSON.stringify({ v: 1, ...next }));
      return out;
    });
  }

  /**
   * Ids of the mails {@link inbox} has already shown that this channel is done with (what `mail
   * delete --read` deletes): mail, opened or not, confirmations, and invites a contact holds. Not
   * invites still to accept or refused, mail waiting for a key exchange, or other kinds of mail
   * (another channel's, such as kx3).
   */
  async read_ids(): Promise<number[]> {
    const cursor = parse_cursor(await this.#store.get(CURSOR_DOCUMENT));
    const waiting = new Set(cursor.waiting);
    const contacts = await this.#load();
    const done = (mail: EvanMail): boolean => {
      if (mail.kind === KIND_MAIL || mail.kind === KIND_CONFIRM) return true;
      if (mail.kind !== KIND_INVITE) return false;
      try {
        return contacts.get(mail.from)?.invite_id === parse_invite_body(mail.body).invite_id;
      } catch {
        return false;
      }
    };
    return (await read_inbox(this.#mailbox))
      .filter((m) => m.id <= cursor.after && !waiting.has(m.id) && done(m))
      .map((m) => m.id);
  }

  async #entry(mail: EvanMail, contacts: Map<string, Contact>): Promise<InboxEntry> {
    const base = {
      id: mail.id,
      from: mail.from,
      kind: mail.kind,
      height: mail.height,
      time_ms: mail.time_ms,
    };
    try {
      if (mail.kind === KIND_MAIL) return { ...base, type: 'mail', ...(await this.open(mail)) };
      if (mail.kind === KIND_CONFIRM)
        return { ...base, type: 'confirm', confirmed: await this.confirm(mail) };
      if (mail.kind === KIND_INVITE) {
        const body = parse_invite_body(mail.body);
        const invite = {
          invite_id: body.invite_id,
          from_uri: body.from_uri,
          accepted: contacts.get(mail.from)?.invite_id === body.invite_id,
        };
        if (parse_key_uri(body.from_uri).address !== mail.from) throw new InviteInvalidError();
        return { ...base, type: 'invite', invite };
      }
      return { ...base, type: 'other' };
    } catch (error) {
      if (!(error instanceof ChannelError)) throw error;
      const type = mail.kind === KIND_MAIL ? 'mail' : mail.kind === KIND_CONFIRM ? 'confirm' : 'invite';
      return { ...base, type, error };
    }
  }
}
