/**
 * Streams (docs/channels.md "Streams"), after Streamr: a stream `<owner>/<name>` is registered in
 * the stream ACL system contract (who may publish and subscribe, with expiry); its messages are
 * the ACL's public events, readable from any validator, carrying only ciphertext sealed under a
 * group key ({@link seal_stream_message}). The owner keeps the group keys; subscribers get them
 *
 * 1. from their local key store (keys they had before),
 * 2. from the stream itself: a rotation's next key travels in the next message, encrypted under
 *    the current key (`new_key`),
 * 3. from the key keeper system contract, which holds the stream's keys in encrypted state and
 *    gives them to any account the ACL lets subscribe (at or after its grant height, unexpired),
 *    identified by a viewing key derived from the account key: the publisher may be offline,
 * 4. optionally by a key request to the publisher, in-stream ({@link make_key_request}), which a
 *    publisher running {@link StreamClient.answer_requests} answers after checking the ACL.
 *
 * `rotate` queues a next key (forward links); `revoke` removes a member and re-keys: a fresh key,
 * set in the keeper and never sent under an old key, so the removed member cannot read what comes
 * after. A removal is two transactions (the ACL's, then the key's), so the owner marks a re-key
 * pending in its key store before the first, and its publish and rotate finish it first. The ACL
 * records the height of a stream's latest removal of a subscriber (revoke, or a grant that takes
 * subscribe away): a publisher never encrypts under a key set below it, nor under one set
 * before some member's subscription lapsed (expiry), which a lapsed member may hold. The owner
 * re-keys then; another publisher refuses ({@link NoGroupKeyError} with a reason) until it has.
 * Group keys persist in a {@link ChannelStorage}, sealed with a key derived from the account key
 * (updates run under the store's `exclusive` lock when it has one). Browser-safe.
 * @module
 */

import { from_base64, to_base64, to_hex } from '../../../protocol/bytes.js';
import { is_address_hex, is_count } from '../../../protocol/checks.js';
import type { CloisterClient, TxOutcome } from '../client.js';
import { BadAnswerError, ContractError } from '../errors.js';
import type { PublicEventAt } from '../events.js';
import { type ClientKey, web_random } from '../keys.js';
import { ChannelError } from './errors.js';
import { derived_secret } from './kx_keys.js';
import { type ChannelStorage, exclusive_if_any, sealed_storage } from './storage.js';
import {
  account_of,
  check_stream_id,
  GROUP_KEY_BYTES,
  type GroupKey,
  is_group_key_id,
  NoGroupKeyError,
  new_group_key,
  open_stream_message,
  type StreamMessage,
  StreamMessageInvalidError,
  seal_stream_message,
  stream_owner,
  verify_stream_message,
} from './stream_crypto.js';
import {
  answer_key_request,
  type KeyExchangeScheme,
  KeyRequestDeniedError,
  make_key_request,
  open_key_response,
  request_id_of,
} from './stream_key_exchange.js';

/** Purpose of the key keeper viewing key ({@link derived_secret}). */
export const KEY_KEEPER_VIEWING_KEY_PURPOSE = 'key-keeper-viewing-key';
/** Purpose of the key that seals the local key store. */
export const CHANNEL_STORE_PURPOSE = 'channel-store';
/** Most group keys the local store keeps per stream (the oldest go first; never the current or next). */
export const STREAM_KEYS_KEPT_MAX = 256;
/** Default wait for an answer to a key request. */
export const KEY_REQUEST_TIMEOUT_MS_DEFAULT = 15_000;
/** Why a grant of publish without subscribe is refused. */
export const PUBLISHER_NEEDS_SUBSCRIBE =
  'a publisher needs the subscribe permission too: a stream has one group key, which publishers and subscribers share and the key keeper gives to subscribers only (docs/channels.md "Streams")';
/** Most key requests a publisher keeps track of as answered (to skip repeats). */
const ANSWERED_MAX = 4096;

/** The system contracts a {@link StreamClient} uses. */
export interface StreamContracts {
  stream_acl: string;
  key_keeper: string;
}

/** A stream as the ACL records it. */
export interface StreamInfo {
  owner: string;
  /** The key keeper contract, or null. */
  keeper: string | null;
  /** The last seq published (every kind). */
  seq: number;
  created_height: number;
  /** Height of the stream's latest removal of a subscriber (revoke, or a grant taking subscribe away), or null. */
  removed_height: number | null;
}

/** An account's permissions on a stream. */
export interface StreamPermissions {
  publish: boolean;
  subscribe: boolean;
  /** Milliseconds since the Unix epoch (block time) after which they lapse, or null. */
  expires_ms: number | null;
  /** Height of the grant (the stream's creation height for the owner), or null for no member. */
  granted_height: number | null;
}

/** A member of a stream. */
export interface StreamMember extends StreamPermissions {
  account: string;
}

/** The members of a stream (the owner not among them) and the height of its latest removal. */
export interface StreamMembership {
  members: StreamMember[];
  /** As {@link StreamInfo.removed_height}. */
  removed_height: number | null;
}

/** One message {@link StreamClient.read} gives: its text, or why it cannot be read. */
export type StreamReadItem =
  | { seq: number; height: number; publisher: string; key_id: string; text: string }
  | { seq: number; height: number; publisher: string | null; key_id: string | null; undecryptable: string };

/** Options of {@link StreamClient.read}. */
export interface ReadOptions {
  /** Skip messages with a lower seq. */
  from_seq?: number | undefined;
  /** Go on with messages as they are committed, until `signal` aborts (default: stop at the head). */
  follow?: boolean | undefined;
  signal?: AbortSignal | undefined;
  /**
   * Ask the message's publisher for keys the store and the keeper do not give, in-stream, and
   * wait up to `timeout_ms` for its answer (the publisher must run {@link StreamClient.answer_requests}).
   */
  request_keys?: { scheme?: KeyExchangeScheme | undefined; timeout_ms?: number | undefined } | undefined;
}

/** What {@link StreamClient.answer_requests} reports of each request addressed to it. */
export interface AnswerReport {
  request_id: string;
  subscriber: string | null;
  /** The seq of the published response, or null when refused. */
  seq: number | null;
  error?: ChannelError;
}

/** Options of a {@link StreamClient}. */
export interface StreamClientOptions {
  /** Where group keys are kept; every document is sealed with a key derived from the account key. */
  storage: ChannelStorage;
  /** The contracts; default the network's system contracts (`client.system_contracts()`). */
  contracts?: StreamContracts | undefined;
  random?: ((bytes: number) => Uint8Array) | undefined;
  /** The clock for expiry checks of key requests (default Date.now). */
  now?: (() => number) | undefined;
}

interface StoredKey {
  id: string;
  key: string;
  /** Who vouched for it: the owner (own keys, keeper, rotation links) or the publisher that answered. */
  from: string;
  /**
   * Height at which it was set in the keeper (for a stream without a keeper: the chain's height
   * just before it was made), when known.
   */
  height: number | null;
  /** Block time (ms) at which it was set in the keeper (no keeper: this client's clock before it was made), when known. */
  time_ms?: number | null;
}

/** A group key with the height and block time the keeper set it at. */
interface KeptKey extends GroupKey {
  height: number | null;
  time_ms: number | null;
}

interface KeyDoc {
  v: 1;
  stream: string;
  keys: StoredKey[];
  /** The owner's current key id. */
  current: string | null;
  /** The owner's queued next key id (rotate): sent in the next message under the current key. */
  next: string | null;
  /**
   * The owner sent (or is sending) a removal whose re-key has not committed: the current and next
   * keys may be held by the removed member, so publish and rotate re-key first.
   */
  rekey_pending?: boolean;
}

const STREAM_NAME_RE = /^[a-z0-9_-]{1,32}$/;
/** What the key keeper answers a refused get_key. */
const UNAUTHORIZED = 'unauthorized';

function doc_name(stream: string): string {
  return `stream.${stream.replace('/', '.')}`;
}

function attribute(e: PublicEventAt, key: string): string | null {
  return e.attributes.find((a) => a.key === key)?.value ?? null;
}

function is_refusal(error: unknown, prefix: string): boolean {
  return error instanceof ContractError && error.contract_message.startsWith(prefix);
}

function check_account(account: unknown, what = 'account'): asserts account is string {
  if (!is_address_hex(account)) throw new TypeError(`${what} must be 40 lowercase hex characters`);
}

function check_count_opt(value: unknown, what: string): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || (value as number) < 0))
    throw new RangeError(`${what} must be a whole number ≥ 0`);
}

/** One account's use of streams: create, grant, revoke, publish, rotate, read, answer key requests. */
export class StreamClient {
  readonly #client: CloisterClient;
  readonly #key: ClientKey;
  readonly #store: ChannelStorage;
  readonly #random: (bytes: number) => Uint8Array;
  readonly #now: () => number;
  readonly #viewing_key: string;
  #contracts: Promise<StreamContracts> | null;
  /** Per stream, the tail of the queue of key-store updates (one at a time). */
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Per stream, the keeper its ACL record names (fixed at creation). */
  readonly #keepers = new Map<string, Promise<string | null>>();
  /**
   * Per keeper, this account's viewing key there: being set (a promise), or known set (`done`), so
   * that refusals of keys from before a grant send no set_viewing_key each (one at most per client).
   */
  readonly #viewing_keys = new Map<string, { set: Promise<void>; done: boolean }>();
  /** The account's address. */
  readonly address: string;

  constructor(client: CloisterClient, key: ClientKey, opts: StreamClientOptions) {
    if (typeof opts !== 'object' || opts === null || typeof opts.storage?.get !== 'function')
      throw new TypeError('opts.storage must be a ChannelStorage');
    this.#client = client;
    this.#key = key;
    this.#random = opts.random ?? web_random;
    this.#now = opts.now ?? Date.now;
    this.#store = sealed_storage(opts.storage, derived_secret(key, CHANNEL_STORE_PURPOSE), this.#random);
    this.#viewing_key = to_hex(derived_secret(key, KEY_KEEPER_VIEWING_KEY_PURPOSE));
    this.address = account_of(key).address;
    if (opts.contracts !== undefined) {
      check_account(opts.contracts.stream_acl, 'stream_acl');
      check_account(opts.contracts.key_keeper, 'key_keeper');
    }
    this.#contracts = opts.contracts === undefined ? null : Promise.resolve({ ...opts.contracts });
  }

  /** The stream ACL and key keeper contracts. */
  contracts(): Promise<StreamContracts> {
    this.#contracts ??= this.#client
      .system_contracts()
      .then((c) => ({ stream_acl: c.stream_acl, key_keeper: c.key_keeper }));
    return this.#contracts;
  }

  /** The key keeper `stream` names in the ACL (the system one for streams this client creates), or null. */
  keeper_of(stream: string): Promise<string | null> {
    let keeper = this.#keepers.get(stream);
    if (keeper === undefined) {
      keeper = this.info(stream).then((i) => i.keeper);
      keeper.catch(() => this.#keepers.delete(stream));
      this.#keepers.set(stream, keeper);
    }
    return keeper;
  }

  // ---- the ACL ------------------------------------------------------------------------------

  /** Creates the stream `<this account>/<name>` with the system key keeper. */
  async create(name: string): Promise<{ stream: string; outcome: TxOutcome }> {
    if (typeof name !== 'string' || !STREAM_NAME_RE.test(name))
      throw new TypeError('a stream name must be 1-32 characters of a-z 0-9 _ -');
    const c = await this.contracts();
    const outcome = await this.#client.execute(this.#key, c.stream_acl, {
      create: { name, keeper: c.key_keeper },
    });
    const stream = (outcome.data as { stream?: unknown } | undefined)?.stream;
    if (typeof stream !== 'string' || stream !== `${this.address}/${name}`)
      throw new BadAnswerError('the stream ACL did not answer the stream id');
    return { stream, outcome };
  }

  /** The stream's record: owner, keeper, last seq, creation height. */
  async info(stream: string): Promise<StreamInfo> {
    check_stream_id(stream);
    const c = await this.contracts();
    const data = (await this.#client.query(c.stream_acl, { stream: { stream } })) as Record<string, unknown>;
    if (
      typeof data !== 'object' ||
      data === null ||
      !is_address_hex(data['owner']) ||
      !(data['keeper'] === null || is_address_hex(data['keeper'])) ||
      !Number.isSafeInteger(data['seq']) ||
      !Number.isSafeInteger(data['created_height'])
    )
      throw new BadAnswerError('the stream ACL answered no {owner, keeper, seq, created_height}');
    return {
      owner: data['owner'],
      keeper: data['keeper'] as string | null,
      seq: data['seq'] as number,
      created_height: data['created_height'] as number,
      removed_height: whole_or_null(data['removed_height']),
    };
  }

  /** `account`'s permissions on `stream` (all false for a non-member). */
  async permissions(stream: string, account: string): Promise<StreamPermissions> {
    check_stream_id(stream);
    check_account(account);
    const c = await this.contracts();
    return parse_permissions(await this.#client.query(c.stream_acl, { permissions: { stream, account } }));
  }

  /** The members of `stream` (the owner not among them). */
  async members(stream: string): Promise<StreamMember[]> {
    return (await this.membership(stream)).members;
  }

  /** The members of `stream` and the height of its latest removal of a subscriber (one query). */
  async membership(stream: string): Promise<StreamMembership> {
    check_stream_id(stream);
    const c = await this.contracts();
    const data = (await this.#client.query(c.stream_acl, { members: { stream } })) as {
      members?: unknown;
      removed_height?: unknown;
    };
    if (!Array.isArray(data?.members)) throw new BadAnswerError('the stream ACL answered no member list');
    const members = data.members.map((m: unknown) => {
      const account = (m as { account?: unknown })?.account;
      if (!is_address_hex(account)) throw new BadAnswerError('a member without an account');
      return { account, ...parse_permissions(m) };
    });
    return { members, removed_height: whole_or_null(data.removed_height) };
  }

  /** Whether `account` may read `stream` now: subscribe permission, unexpired by this client's clock. */
  async may_subscribe(stream: string, account: string): Promise<boolean> {
    const p = await this.permissions(stream, account);
    return p.subscribe && (p.expires_ms === null || p.expires_ms > this.#now());
  }

  /**
   * Gives `account` the permissions `perms` on `stream` (replacing any it had); owner only. The
   * keeper learns of it in the same transaction. A member gets no key set before its grant (the
   * keeper's rule, as Streamr's rotation keeps new subscribers from the past), so when this makes
   * a new subscriber and the stream has a current key, the owner re-keys after the grant (unless
   * `opts.rekey` is false): the member reads from the next message on, even with the owner offline.
   * A grant that takes the subscribe permission from a member that had it (or gives it already
   * expired) is a removal: like {@link revoke}, it marks a re-key pending and re-keys after the
   * grant, whatever `opts.rekey` says. Resolves with the new key's id, or null when none was made.
   */
  async grant(
    stream: string,
    account: string,
    perms: { publish?: boolean; subscribe?: boolean; expires_ms?: number | null },
    opts: { rekey?: boolean } = {},
  ): Promise<{ outcome: TxOutcome; key_id: string | null }> {
    check_stream_id(stream);
    check_account(account);
    if (perms.expires_ms !== undefined && perms.expires_ms !== null)
      check_count_opt(perms.expires_ms, 'expires_ms');
    const subscribe = perms.subscribe === true;
    // One group key per stream, which the keeper gives subscribers only: a publisher that could
    // not subscribe would have no key to publish under (Streamr keys per publisher; see docs).
    if (perms.publish === true && !subscribe) throw new TypeError(PUBLISHER_NEEDS_SUBSCRIBE);
    const now_ms = this.#now();
    const active = subscribe && (perms.expires_ms == null || perms.expires_ms > now_ms);
    const before = await this.permissions(stream, account);
    // Re-granting an active subscriber keeps its grant height in the keeper: no new key needed.
    const could = before.subscribe && (before.expires_ms === null || before.expires_ms > now_ms);
    // A subscriber that loses the permission may hold the current key (even one that lapsed).
    const removed = before.subscribe && !active;
    const has_key = (await this.#load(stream)).current !== null;
    const grant = {
      stream,
      account,
      publish: perms.publish === true,
      subscribe,
      expires_ms: perms.expires_ms ?? null,
    };
    const outcome = await this.#removal(stream, removed && has_key, { grant });
    const rekey = removed || (active && !could && opts.rekey !== false);
    if (!rekey || !has_key) return { outcome, key_id: null };
    return { outcome, key_id: await this.rekey(stream) };
  }

  /**
   * Removes `account` from `stream` (owner only), then re-keys ({@link rekey}): the removed member
   * keeps the keys it had, so it can read earlier messages, and never gets the new one. The re-key
   * is marked pending in the key store before the revoke is sent: if it fails, the next publish or
   * rotate makes it first.
   */
  async revoke(stream: string, account: string): Promise<{ outcome: TxOutcome; key_id: string }> {
    check_stream_id(stream);
    check_account(account);
    const outcome = await this.#removal(stream, true, { revoke: { stream, account } });
    // Only once the revoke is committed: a key set earlier could still reach the removed member.
    const key_id = await this.rekey(stream);
    return { outcome, key_id };
  }

  // ---- group keys (owner) -------------------------------------------------------------------

  /**
   * A fresh group key, used from the next message on, set in the keeper and never sent under an
   * old key (Streamr's re-key: what cuts off members that were removed or whose subscription
   * lapsed); drops a queued rotation and ends a pending re-key. Owner only. Resolves with its id.
   */
  async rekey(stream: string): Promise<string> {
    this.#check_owner(stream);
    return this.#locked(stream, async () => {
      const doc = await this.#rekey_now(stream);
      return doc.current!;
    });
  }

  /**
   * Queues a next group key (Streamr's rotate): the next message carries it encrypted under the
   * current key, and later messages use it. It is also set in the keeper now, so subscribers who
   * join later find it there. Anyone holding the current key learns the next one: to cut a member
   * off, revoke (which re-keys). A pending re-key is made first. Owner only. Resolves with the
   * next key's id.
   */
  async rotate(stream: string): Promise<string> {
    this.#check_owner(stream);
    return this.#locked(stream, async () => {
      if ((await this.#load(stream)).rekey_pending === true) await this.#rekey_now(stream);
      const k = await this.#make_key(stream);
      await this.#update(stream, (d) => {
        // Without a current key there is nothing to link from: the new key is simply the first.
        if (d.current === null) d.current = k.id;
        else d.next = k.id;
      });
      return k.id;
    });
  }

  /** Under the stream's lock: a fresh current key, no next, no re-key pending; the document after. */
  async #rekey_now(stream: string): Promise<KeyDoc> {
    const k = await this.#make_key(stream);
    return this.#update(stream, (doc) => {
      doc.current = k.id;
      doc.next = null;
      delete doc.rekey_pending;
    });
  }

  /**
   * Sends `msg` to the stream ACL; when it `removes` a member, a re-key is marked pending first,
   * and unmarked again if the ACL refused the message (nothing changed) and none was pending.
   */
  async #removal(stream: string, removes: boolean, msg: object): Promise<TxOutcome> {
    const c = await this.contracts();
    const pending_before = removes && (await this.#load(stream)).rekey_pending === true;
    if (removes) await this.#mark_rekey_pending(stream);
    try {
      return await this.#client.execute(this.#key, c.stream_acl, msg);
    } catch (error) {
      // A refusal is committed with no effect; any other failure may have committed: keep it.
      if (removes && !pending_before && error instanceof ContractError)
        await this.#locked(stream, () =>
          this.#update(stream, (doc) => {
            delete doc.rekey_pending;
          }),
        );
      throw error;
    }
  }

  /** The owner marks a re-key pending before it sends a removal (others' key stores are not theirs to mark). */
  async #mark_rekey_pending(stream: string): Promise<void> {
    if (stream_owner(stream) !== this.address) return;
    await this.#locked(stream, () =>
      this.#update(stream, (doc) => {
        doc.rekey_pending = true;
      }),
    );
  }

  /**
   * The group key ids this client holds for `stream`, the owner's current and next, and whether a
   * re-key is pending (a removal whose re-key did not commit: the next publish or rotate makes it).
   */
  async local_keys(
    stream: string,
  ): Promise<{ ids: string[]; current: string | null; next: string | null; rekey_pending: boolean }> {
    check_stream_id(stream);
    const doc = await this.#load(stream);
    return {
      ids: doc.keys.map((k) => k.id),
      current: doc.current,
      next: doc.next,
      rekey_pending: doc.rekey_pending === true,
    };
  }

  // ---- publish ------------------------------------------------------------------------------

  /**
   * Publishes `text` on `stream` under the current group key; the owner's first message makes the
   * first key (and sets it in the keeper), and a queued rotation goes out with this message.
   * Before it, the owner re-keys when a re-key is pending, or when its current (or next) key may be
   * held by an account that can no longer subscribe: set below the stream's latest removal,
   * or before some member's subscription lapsed (by this client's clock). Other publishers use the
   * keeper's current key (they need the subscribe permission too), and refuse such a key
   * ({@link NoGroupKeyError} with a reason) until the owner re-keys. One ACL query
   * ({@link membership}) each.
   */
  async publish(
    stream: string,
    text: string,
  ): Promise<{ seq: number; key_id: string; new_key_id: string | null; outcome: TxOutcome }> {
    check_stream_id(stream);
    if (typeof text !== 'string') throw new TypeError('text must be a string');
    const c = await this.contracts();
    const acl = await this.membership(stream);
    // Another publisher encrypts under the keeper's current key (asked outside the store's lock).
    const theirs = stream_owner(stream) === this.address ? null : await this.#keeper_current(stream, acl);
    return this.#locked(stream, async () => {
      let current: GroupKey;
      let next: GroupKey | undefined;
      if (theirs !== null) current = theirs;
      else {
        const doc = await this.#fresh_doc(stream, acl);
        current = key_of(doc, doc.current!);
        next = doc.next === null ? undefined : key_of(doc, doc.next);
      }
      const message = seal_stream_message(this.#key, stream, current, text, {
        next_key: next,
        random: this.#random,
      });
      const outcome = await this.#client.execute(this.#key, c.stream_acl, {
        publish: { stream, kind: 'message', message: JSON.stringify(message) },
      });
      const seq = (outcome.data as { seq?: unknown } | undefined)?.seq;
      if (!Number.isSafeInteger(seq)) throw new BadAnswerError('the stream ACL did not answer the seq');
      if (next !== undefined) {
        const id = next.id;
        await this.#update(stream, (d) => {
          d.current = id;
          d.next = null;
        });
      }
      return { seq: seq as number, key_id: current.id, new_key_id: next?.id ?? null, outcome };
    });
  }

  /**
   * Under the stream's lock, the owner's key document with a current key (and next) no account
   * that can no longer subscribe may hold: makes the first key, finishes a pending re-key, or
   * re-keys a key {@link stale_reason} names.
   */
  async #fresh_doc(stream: string, acl: StreamMembership): Promise<KeyDoc> {
    const doc = await this.#load(stream);
    if (doc.current === null || doc.rekey_pending === true) return this.#rekey_now(stream);
    const now_ms = this.#now();
    for (const id of [doc.current, doc.next]) {
      const k = doc.keys.find((x) => x.id === id);
      if (k !== undefined && stale_reason(k, acl, now_ms) !== null) return this.#rekey_now(stream);
    }
    return doc;
  }

  /** A publisher other than the owner: the keeper's current key, unless some removed or lapsed member may hold it. */
  async #keeper_current(stream: string, acl: StreamMembership): Promise<GroupKey> {
    const k = await this.#keeper_key(stream, undefined);
    if (k === null) throw new NoGroupKeyError('current', stream);
    const why = stale_reason(k, acl, this.#now());
    if (why !== null)
      throw new NoGroupKeyError(
        k.id,
        stream,
        `${why}, and may hold it: the owner must re-key first (\`cloister stream rekey\`)`,
      );
    return { id: k.id, key: k.key };
  }

  // ---- read ---------------------------------------------------------------------------------

  /**
   * The messages of `stream` in seq order (from `from_seq`), each with its text, or why it cannot
   * be decrypted (`no key <id>`, `invalid: <reason>`). Stops at the chain's head unless `follow`.
   */
  async *read(stream: string, opts: ReadOptions = {}): AsyncGenerator<StreamReadItem> {
    check_stream_id(stream);
    check_count_opt(opts.from_seq, 'from_seq');
    const c = await this.contracts();
    const info = await this.info(stream);
    const stop = new AbortController();
    const end = (): void => stop.abort();
    opts.signal?.addEventListener('abort', end, { once: true });
    if (opts.signal?.aborted) end();
    /** Key ids this read found nowhere: asked once, not again per message. */
    const missing = new Set<string>();
    try {
      const events = this.#client.contract_events(c.stream_acl, {
        from_height: Math.max(1, info.created_height),
        signal: stop.signal,
        on_status: (s) => {
          if (s.type === 'live' && opts.follow !== true) end();
        },
      });
      for await (const e of events) {
        if (e.type !== 'stream_message' || attribute(e, 'stream') !== stream) continue;
        const seq = Number(attribute(e, 'seq'));
        if (!Number.isSafeInteger(seq)) continue;
        if (opts.from_seq !== undefined && seq < opts.from_seq) continue;
        yield await this.#open(stream, e, seq, missing, opts);
      }
    } finally {
      opts.signal?.removeEventListener('abort', end);
      stop.abort();
    }
  }

  async #open(
    stream: string,
    e: PublicEventAt,
    seq: number,
    missing: Set<string>,
    opts: ReadOptions,
  ): Promise<StreamReadItem> {
    const sender = attribute(e, 'sender');
    const text = attribute(e, 'message') ?? '';
    const undecryptable = (why: string, publisher: string | null, key_id: string | null): StreamReadItem => ({
      seq,
      height: e.height,
      publisher,
      key_id,
      undecryptable: why,
    });
    if (sender === null) return undecryptable('invalid: an event without its sender', null, null);
    // The signature first: a forged message never costs a keeper query or a key request.
    let m: StreamMessage;
    try {
      m = verify_stream_message(text, { stream, publisher: sender });
    } catch (error) {
      if (error instanceof StreamMessageInvalidError)
        return undecryptable(`invalid: ${error.reason}`, sender, null);
      throw error;
    }
    const { key_id, publisher } = m;
    const k = await this.#find_key(stream, key_id, publisher, missing, opts);
    if (k === null) return undecryptable(`no key ${key_id}`, publisher, key_id);
    let opened: ReturnType<typeof open_stream_message>;
    try {
      opened = open_stream_message(text, (id) => (id === k.id ? k : null), { stream, publisher });
    } catch (error) {
      if (error instanceof StreamMessageInvalidError)
        return undecryptable(`invalid: ${error.reason}`, publisher, key_id);
      throw error;
    }
    // A rotation link from the owner: keep the next key (first one of an id wins).
    if (opened.new_key !== undefined && publisher === stream_owner(stream)) {
      const nk = opened.new_key;
      missing.delete(nk.id);
      await this.#locked(stream, () => this.#add_keys(stream, [nk], publisher, null));
    }
    if (opened.text === null) return undecryptable('not UTF-8 text', publisher, key_id);
    return { seq, height: e.height, publisher, key_id, text: opened.text };
  }

  /** The group key `key_id`: local store, then the keeper, then (optionally) a key request. */
  async #find_key(
    stream: string,
    key_id: string,
    publisher: string,
    missing: Set<string>,
    opts: ReadOptions,
  ): Promise<GroupKey | null> {
    const doc = await this.#load(stream);
    const local = doc.keys.find((k) => k.id === key_id);
    if (local !== undefined) return { id: local.id, key: from_base64(local.key) };
    if (missing.has(key_id)) return null;
    const kept = await this.#keeper_key(stream, key_id);
    if (kept !== null) return { id: kept.id, key: kept.key };
    if (opts.request_keys !== undefined) {
      const got = await this.request_keys(stream, publisher, [key_id], {
        scheme: opts.request_keys.scheme,
        timeout_ms: opts.request_keys.timeout_ms,
        signal: opts.signal,
      });
      const k = got.find((g) => g.id === key_id);
      if (k !== undefined) return k;
    }
    missing.add(key_id);
    return null;
  }

  /**
   * The keeper's key `key_id` (or its current key), stored locally; null when the keeper refuses
   * or has no such key. When the keeper refuses, this account's viewing key may be unknown there:
   * it is set (one transaction) at most once per client and keeper, and only when the ACL says
   * this account may subscribe; a refusal after that (a key from before the grant) sends nothing.
   */
  async #keeper_key(stream: string, key_id: string | undefined): Promise<KeptKey | null> {
    const keeper = await this.keeper_of(stream);
    if (keeper === null) return null;
    const known = this.#viewing_keys.get(keeper);
    const first = await this.#ask_keeper(keeper, stream, key_id);
    if (first !== UNAUTHORIZED) return first;
    // Known set before this question: the refusal is the keeper's rule, not a missing viewing key.
    if (known?.done === true) return null;
    if (!(await this.#viewing_key_set(keeper, stream, key_id))) return null;
    const again = await this.#ask_keeper(keeper, stream, key_id);
    return again === UNAUTHORIZED ? null : again;
  }

  /**
   * Makes sure the keeper knows this account's viewing key; resolves true when it may have learnt
   * it since the caller's refused question (worth asking again), false when not (the ACL says no).
   * The first refusal of a key from before the grant asks for the current key instead, a query:
   * if that is answered, the viewing key is known there already and nothing is sent.
   */
  async #viewing_key_set(keeper: string, stream: string, key_id: string | undefined): Promise<boolean> {
    let entry = this.#viewing_keys.get(keeper);
    if (entry === undefined) {
      if (key_id !== undefined && (await this.#ask_keeper(keeper, stream, undefined)) !== UNAUTHORIZED) {
        this.#viewing_keys.set(keeper, { set: Promise.resolve(), done: true });
        return false;
      }
      if (!(await this.may_subscribe(stream, this.address))) return false;
      // Another question may have started the same while this one waited.
      entry = this.#viewing_keys.get(keeper);
    }
    if (entry === undefined) {
      const made = {
        set: this.#client
          .execute(this.#key, keeper, { set_viewing_key: { key: this.#viewing_key } })
          .then(() => {
            made.done = true;
          }),
        done: false,
      };
      made.set.catch(() => this.#viewing_keys.delete(keeper));
      this.#viewing_keys.set(keeper, made);
      entry = made;
    }
    await entry.set;
    return true;
  }

  /** One get_key question to `keeper`: the key (stored locally), null for "no key", or UNAUTHORIZED. */
  async #ask_keeper(
    keeper: string,
    stream: string,
    key_id: string | undefined,
  ): Promise<KeptKey | null | typeof UNAUTHORIZED> {
    const c = await this.contracts();
    let data: Record<string, unknown>;
    try {
      data = (await this.#client.query(keeper, {
        get_key: {
          acl: c.stream_acl,
          stream,
          account: this.address,
          viewing_key: this.#viewing_key,
          ...(key_id === undefined ? {} : { key_id }),
        },
      })) as Record<string, unknown>;
    } catch (error) {
      if (is_refusal(error, 'no key')) return null;
      if (is_refusal(error, UNAUTHORIZED)) return UNAUTHORIZED;
      throw error;
    }
    const id = data?.['key_id'];
    const key = data?.['key'];
    if (!is_group_key_id(id) || typeof key !== 'string')
      throw new BadAnswerError('the key keeper answered no {key_id, key}');
    const bytes = from_base64(key);
    if (bytes.length !== GROUP_KEY_BYTES || (key_id !== undefined && id !== key_id))
      throw new BadAnswerError('the key keeper answered another key');
    const k: KeptKey = {
      id,
      key: bytes,
      height: whole_or_null(data['height']),
      time_ms: whole_or_null(data['time_ms']),
    };
    await this.#locked(stream, () => this.#add_keys(stream, [k], stream_owner(stream), k.height, k.time_ms));
    return k;
  }

  // ---- key requests -------------------------------------------------------------------------

  /**
   * Asks `publisher` for group keys in-stream (a signed key request with a temporary X25519 or
   * ML-KEM-1024 key), waits up to `timeout_ms` for its signed answer, stores and returns the keys.
   * Resolves with [] when no valid answer came in time (the publisher is offline or refused).
   */
  async request_keys(
    stream: string,
    publisher: string,
    key_ids: string[],
    opts: {
      scheme?: KeyExchangeScheme | undefined;
      timeout_ms?: number | undefined;
      signal?: AbortSignal | undefined;
    } = {},
  ): Promise<GroupKey[]> {
    check_stream_id(stream);
    check_account(publisher, 'publisher');
    const timeout_ms = opts.timeout_ms ?? KEY_REQUEST_TIMEOUT_MS_DEFAULT;
    check_count_opt(timeout_ms, 'timeout_ms');
    const c = await this.contracts();
    const { request, pending } = make_key_request(this.#key, {
      stream,
      publisher,
      key_ids,
      scheme: opts.scheme,
      random: this.#random,
    });
    const sent = await this.#client.execute(this.#key, c.stream_acl, {
      publish: { stream, kind: 'key_request', message: JSON.stringify(request) },
    });
    const stop = new AbortController();
    const end = (): void => stop.abort();
    const timer = setTimeout(end, timeout_ms);
    opts.signal?.addEventListener('abort', end, { once: true });
    try {
      const events = this.#client.contract_events(c.stream_acl, {
        from_height: sent.record?.height ?? undefined,
        signal: stop.signal,
      });
      for await (const e of events) {
        if (e.type !== 'stream_key_response' || attribute(e, 'stream') !== stream) continue;
        const message = attribute(e, 'message');
        if (request_id_of(message) !== pending.request_id) continue;
        try {
          const keys = open_key_response(this.#key, pending, message);
          await this.#locked(stream, () => this.#add_keys(stream, keys, publisher, null));
          return keys;
        } catch (error) {
          // Anyone may publish a response-shaped message (with the publish permission): skip forgeries.
          if (!(error instanceof StreamMessageInvalidError)) throw error;
        }
      }
      return [];
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', end);
      stop.abort();
    }
  }

  /**
   * The publisher's side of key requests: follows `stream`'s key requests addressed to this
   * account (from `from_height`, default from now) and answers each the ACL allows with the keys
   * it asks for (those set at or after the subscriber's grant height), until `signal` aborts.
   * Refused requests get no answer (as in Streamr); `on_answer` hears of each.
   */
  async answer_requests(
    stream: string,
    opts: {
      signal: AbortSignal;
      from_height?: number | undefined;
      require_pq?: boolean | undefined;
      on_answer?: ((report: AnswerReport) => void) | undefined;
    },
  ): Promise<void> {
    check_stream_id(stream);
    if (!(opts?.signal instanceof AbortSignal)) throw new TypeError('opts.signal must be an AbortSignal');
    const c = await this.contracts();
    const answered = new Set<string>();
    const events = this.#client.contract_events(c.stream_acl, {
      from_height: opts.from_height,
      signal: opts.signal,
    });
    for await (const e of events) {
      if (e.type !== 'stream_key_request' || attribute(e, 'stream') !== stream) continue;
      const message = attribute(e, 'message');
      const request_id = request_id_of(message);
      if (request_id === null || answered.has(request_id)) continue;
      let parsed: { publisher?: unknown; subscriber?: unknown };
      try {
        parsed = JSON.parse(message ?? '') as typeof parsed;
      } catch {
        continue;
      }
      if (parsed.publisher !== this.address) continue;
      if (answered.size >= ANSWERED_MAX) answered.clear();
      answered.add(request_id);
      const subscriber = is_address_hex(parsed.subscriber) ? parsed.subscriber : null;
      const report: AnswerReport = { request_id, subscriber, seq: null };
      try {
        const response = await this.#answer(stream, message, opts.require_pq === true);
        const out = await this.#client.execute(this.#key, c.stream_acl, {
          publish: { stream, kind: 'key_response', message: JSON.stringify(response) },
        });
        const seq = (out.data as { seq?: unknown } | undefined)?.seq;
        report.seq = Number.isSafeInteger(seq) ? (seq as number) : null;
      } catch (error) {
        if (!(error instanceof ChannelError)) throw error;
        report.error = error;
      }
      opts.on_answer?.(report);
    }
  }

  async #answer(stream: string, message: unknown, require_pq: boolean) {
    let granted: number | null = null;
    const doc = await this.#load(stream);
    return answer_key_request(this.#key, message, {
      require_pq,
      random: this.#random,
      acl: async (s, account) => {
        if (s !== stream) return false;
        const p = await this.permissions(s, account);
        granted = p.granted_height;
        return p.subscribe && (p.expires_ms === null || p.expires_ms > this.#now());
      },
      keys: (id) => {
        const k = doc.keys.find((x) => x.id === id);
        if (k === undefined) return null;
        // As the keeper does: a subscriber reads keys set at or after its grant. A key whose
        // height this client does not know (from a key request or a rotation link) may be older.
        if (granted !== null && (k.height === null || k.height < granted)) return null;
        return { id: k.id, key: from_base64(k.key) };
      },
    });
  }

  // ---- the local key store ------------------------------------------------------------------

  #check_owner(stream: string): void {
    if (stream_owner(stream) !== this.address)
      throw new KeyRequestDeniedError(`only the owner of ${stream} changes its group key`);
  }

  /** Runs `work` after every earlier update of `stream`'s key store (one at a time). */
  #locked<T>(stream: string, work: () => Promise<T>): Promise<T> {
    const tail = this.#locks.get(stream) ?? Promise.resolve();
    const run = tail.then(work, work);
    const settled = run.catch(() => undefined);
    this.#locks.set(stream, settled);
    void settled.then(() => {
      if (this.#locks.get(stream) === settled) this.#locks.delete(stream);
    });
    return run;
  }

  async #load(stream: string): Promise<KeyDoc> {
    const text = await this.#store.get(doc_name(stream));
    if (text === null) return { v: 1, stream, keys: [], current: null, next: null };
    const doc = JSON.parse(text) as KeyDoc;
    if (doc?.v !== 1 || doc.stream !== stream || !Array.isArray(doc.keys))
      throw new TypeError(`the key store of ${stream} is not a stream key document`);
    return doc;
  }

  /**
   * Loads, changes and stores `stream`'s key document: under the store's `exclusive` lock when it
   * has one (other processes, other tabs), as well as after this client's earlier updates.
   */
  async #update(stream: string, change: (doc: KeyDoc) => void): Promise<KeyDoc> {
    const name = doc_name(stream);
    const write = async (): Promise<KeyDoc> => {
      const doc = await this.#load(stream);
      change(doc);
      const keep = new Set([doc.current, doc.next]);
      while (doc.keys.length > STREAM_KEYS_KEPT_MAX) {
        const i = doc.keys.findIndex((k) => !keep.has(k.id));
        if (i < 0) break;
        doc.keys.splice(i, 1);
      }
      await this.#store.set(name, JSON.stringify(doc));
      return doc;
    };
    return exclusive_if_any(this.#store, name, write);
  }

  async #add_keys(
    stream: string,
    keys: GroupKey[],
    from: string,
    height: number | null,
    time_ms: number | null = null,
  ): Promise<void> {
    const doc = await this.#load(stream);
    if (keys.every((k) => doc.keys.some((x) => x.id === k.id))) return;
    await this.#update(stream, (d) => {
      // Checked again under the lock: another process may have added some meanwhile.
      for (const k of keys)
        if (!d.keys.some((x) => x.id === k.id))
          d.keys.push({ id: k.id, key: to_base64(k.key), from, height, time_ms });
    });
  }

  /**
   * A fresh key: stored locally first (so a crash cannot lose it), then set in the keeper; its
   * height and block time are the keeper's. A stream without a keeper records the chain's height
   * and this client's clock from just before the key was made, so a later grant never reaches it.
   */
  async #make_key(stream: string): Promise<GroupKey> {
    const c = await this.contracts();
    const keeper = await this.keeper_of(stream);
    const before_ms = this.#now();
    const head = keeper === null ? (await this.#client.status()).height : null;
    const k = new_group_key(this.#random);
    await this.#add_keys(stream, [k], this.address, head, keeper === null ? before_ms : null);
    // A stream without a keeper: its subscribers get keys only by key requests.
    if (keeper === null) return k;
    const outcome = await this.#client.execute(this.#key, keeper, {
      set_key: { acl: c.stream_acl, stream, key_id: k.id, key: to_base64(k.key) },
    });
    const data = outcome.data as { time_ms?: unknown } | undefined;
    const height = outcome.record?.height ?? null;
    // A keeper from before time_ms was answered: this client's clock before sending bounds it.
    const time_ms = whole_or_null(data?.time_ms) ?? before_ms;
    await this.#update(stream, (d) => {
      const entry = d.keys.find((x) => x.id === k.id);
      if (entry !== undefined) {
        entry.height = height;
        entry.time_ms = time_ms;
      }
    });
    return k;
  }
}

function key_of(doc: KeyDoc, id: string): GroupKey {
  const k = doc.keys.find((x) => x.id === id);
  if (k === undefined) throw new NoGroupKeyError(id, doc.stream);
  return { id: k.id, key: from_base64(k.key) };
}

/** A height or time from a contract's answer: a whole number ≥ 0, else null (absent from an older contract). */
function whole_or_null(value: unknown): number | null {
  return is_count(value) ? value : null;
}

/**
 * Why a group key may be held by an account that can no longer subscribe, or null: it was set
 * (`height`) below the stream's latest removal of a subscriber, or some member's subscription
 * lapsed (by `now_ms`) at or after the block time the key was set (`time_ms`), while the member
 * could still get it. An unknown height or time counts as old. A key set in the block of the
 * removal is not stale: queries see a block's state only once it is whole, revoke included (and
 * a key a client made without a keeper has the height of the block before it was made).
 */
export function stale_reason(
  key: { height: number | null; time_ms?: number | null | undefined },
  acl: StreamMembership,
  now_ms: number,
): string | null {
  if (acl.removed_height !== null && (key.height === null || key.height < acl.removed_height))
    return `it was set before a subscriber was removed at height ${acl.removed_height}`;
  const set_ms = key.time_ms ?? 0;
  const lapsed = acl.members.find(
    (m) => m.subscribe && m.expires_ms !== null && m.expires_ms <= now_ms && m.expires_ms >= set_ms,
  );
  if (lapsed !== undefined)
    return `it was set before the subscription of ${lapsed.account} lapsed at ${new Date(lapsed.expires_ms!).toISOString()}`;
  return null;
}

function parse_permissions(value: unknown): StreamPermissions {
  const p = value as Record<string, unknown> | null;
  if (
    typeof p !== 'object' ||
    p === null ||
    typeof p['publish'] !== 'boolean' ||
    typeof p['subscribe'] !== 'boolean' ||
    !(p['expires_ms'] === null || Number.isSafeInteger(p['expires_ms'])) ||
    !(
      p['granted_height'] === null ||
      p['granted_height'] === undefined ||
      Number.isSafeInteger(p['granted_height'])
    )
  )
    throw new BadAnswerError('the stream ACL answered no {publish, subscribe, expires_ms, granted_height}');
  return {
    publish: p['publish'],
    subscribe: p['subscribe'],
    expires_ms: p['expires_ms'] as number | null,
    granted_height: (p['granted_height'] as number | null | undefined) ?? null,
  };
}
