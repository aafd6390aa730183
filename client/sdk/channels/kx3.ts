/**
 * IRCrypt's three-phase key exchange (docs/channels.md "Three-phase key exchange") as a
 * deterministic state machine per side, {@link Kx3Party}: it never reads a clock and never waits;
 * `start`, `receive` and `tick` take the time and return the lines to send, so the same party runs
 * over the in-memory lossy transport of the tests (`test/client/channels/kx3_memory.ts`) or the
 * mailbox (`./kx3_mailbox.ts`) through `run_kx3` (`./kx3_transport.ts`). Only honest behaviour lives
 * here: the tests play a dishonest peer at the line level, with the functions of `./kx3_crypto.ts`.
 *
 * Phases, A the initiator, B the responder:
 *  1. `PING [fp(B) A holds]` → `PONG nB, sends_B, [fp(A) B holds]` → `NEXT sends_A`. Whoever's
 *     fingerprint is missing or wrong on the other side sends its public keys in phase 2.
 *  2. `PUB`: account key, key-agreement key and the account key's signature over both, acknowledged
 *     by `PUB-RECEIVED`. A fingerprint differing from the pinned one aborts (FingerprintChangedError).
 *  3. `COMMIT H(half, session, side)`; once both commitments are in, `SYM`: the half sealed to the
 *     peer's key-agreement key and signed over the transcript; key = HKDF(half_A ‖ half_B, session,
 *     transcript); then `CONFIRM`: a MAC over the transcript under the new key.
 *
 * Every message but PING and PONG (answered by PONG and NEXT) is resent every `retransmit_ms` until
 * its `X-RECEIVED` receipt arrives; receipts name the message by hash. Browser-safe.
 * @module
 */

import { concat, equal_bytes, from_hex, from_utf8, to_hex, utf8 } from '../../../protocol/bytes.js';
import { noble_provider } from '../../../protocol/providers/noble.js';
import { account_address } from '../../../protocol/tx.js';
import type { ClientKey } from '../keys.js';
import { check_key_id } from './key_uri.js';
import { KX_KEY_ID_DEFAULT, kx_key_pair } from './kx_keys.js';
import {
  commitment,
  confirm_mac,
  confirm_ok,
  decode_public_keys,
  derive_keys,
  encode_public_keys,
  final_transcript_hash,
  fingerprint,
  fingerprint_text,
  KX3_FINGERPRINT_BYTES,
  KX3_HALF_BYTES,
  KX3_NONCE_BYTES,
  type Kx3Keys,
  type Kx3PublicKeys,
  type Kx3Side,
  key_fingerprint,
  open_half,
  own_public_keys,
  receipt_of,
  seal_half,
  session_id,
  transcript_hash,
} from './kx3_crypto.js';
import { FingerprintChangedError, Kx3AbortedError, type Kx3AbortReason } from './kx3_errors.js';
import {
  check_line_chars,
  encode_message,
  KX3_LINE_CHARS_DEFAULT,
  type Kx3Type,
  parse_line,
  Reassembler,
} from './kx3_framing.js';

/** Default overall timeout of an exchange. */
export const KX3_TIMEOUT_MS_DEFAULT = 120_000;
/** Default interval between resends of an unacknowledged message. */
export const KX3_RETRANSMIT_MS_DEFAULT = 3_000;
/** Default age at which a partial multipart message is dropped (IRCrypt: 5 minutes). */
export const KX3_PART_TIMEOUT_MS_DEFAULT = 60_000;

/** What a party keeps about a peer: its public keys and their fingerprint, pinned on first use. */
export interface Kx3Pin {
  /** The peer's address (40 lowercase hex). */
  address: string;
  key_id: string;
  /** Hex of the 32-byte Ed25519 account public key. */
  account_pubkey: string;
  /** Hex of the 32-byte X25519 key-agreement public key. */
  kx_pubkey: string;
  /** Hex of {@link fingerprint}. */
  fingerprint: string;
  /** When it was pinned. */
  pinned_ms: number;
}

/** A progress report, for a CLI's stderr or a UI. */
export interface Kx3Progress {
  phase: 1 | 2 | 3;
  message: string;
  /** Trust on first use, a re-pin: worth showing to the user. */
  warning?: boolean;
}

/** Options of one side of an exchange. */
export interface Kx3Options {
  /** The initiator sends PING; the responder waits for one. */
  role: 'initiator' | 'responder';
  /** This party's key: signs with its account key, decrypts with its key-agreement key. */
  key: ClientKey;
  /** Id of this party's key-agreement key (default `kx1`). */
  key_id?: string;
  /** The peer's address (40 lowercase hex): the account key it sends must hash to it. */
  peer: string;
  /** What this party pinned for the peer before, or null on first contact. */
  pinned?: Kx3Pin | null;
  /** Accept a fingerprint that differs from the pinned one (the peer rotated its key). Default false. */
  repin?: boolean;
  /** Longest line to send and accept (default 300). */
  max_line_chars?: number;
  timeout_ms?: number;
  retransmit_ms?: number;
  part_timeout_ms?: number;
  on_progress?: (progress: Kx3Progress) => void;
}

/** What the party needs from outside: randomness (injected, so tests are repeatable). */
export interface Kx3Modules {
  random: (bytes: number) => Uint8Array;
}

/** How the peer's keys were trusted in this exchange. */
export type Kx3PinStatus = 'pinned' | 'tofu' | 'repinned';

/** The outcome of a finished exchange. */
export interface Kx3Result {
  peer: string;
  /** Hex of the 16-byte session id. */
  session_id: string;
  /** The 32-byte session key (keep it secret: store it sealed). */
  key: Uint8Array;
  /** {@link key_fingerprint} of the key: safe to print and compare between the sides. */
  key_fingerprint: string;
  peer_keys: Kx3PublicKeys;
  /** The pin to store for the peer (new, unchanged, or re-pinned). */
  pin: Kx3Pin;
  pin_status: Kx3PinStatus;
  /** Whether public keys travelled in phase 2, each way. */
  sent_keys: boolean;
  received_keys: boolean;
}

/** Where a party stands. */
export type Kx3State = 'idle' | 'phase1' | 'phase2' | 'phase3' | 'done' | 'aborted';

/** Counters for tests and diagnostics. */
export interface Kx3Stats {
  lines_in: number;
  lines_out: number;
  /** Lines that are not kx3 lines, belong to another session, or came out of order. */
  ignored: number;
  /** Messages resent for want of a receipt. */
  resent: number;
}

interface Outgoing {
  lines: string[];
  receipt: Uint8Array;
  sent_ms: number;
}

function pin_keys(pin: Kx3Pin): Kx3PublicKeys {
  return {
    account_pubkey: from_hex(pin.account_pubkey, 32),
    kx_pubkey: from_hex(pin.kx_pubkey, 32),
    key_id: pin.key_id,
  };
}

const PEER: Record<Kx3Side, Kx3Side> = { A: 'B', B: 'A' };
const EMPTY = new Uint8Array(0);

/** One side of a three-phase key exchange. Never throws from start/receive/tick: see `error`. */
export class Kx3Party {
  readonly side: Kx3Side;
  readonly max_line_chars: number;
  readonly stats: Kx3Stats = { lines_in: 0, lines_out: 0, ignored: 0, resent: 0 };
  #state: Kx3State = 'idle';
  #error: Kx3AbortedError | FingerprintChangedError | null = null;
  #result: Kx3Result | null = null;

  readonly #o: Required<Omit<Kx3Options, 'pinned' | 'on_progress'>> & Pick<Kx3Options, 'on_progress'>;
  readonly #random: (bytes: number) => Uint8Array;
  readonly #pinned: Kx3Pin | null;
  readonly #own: Kx3PublicKeys;
  readonly #own_fp: Uint8Array;
  readonly #own_pub: Uint8Array;
  readonly #kx_secret: Uint8Array;
  readonly #own_address: string;
  readonly #nonce: Uint8Array;
  readonly #half: Uint8Array;
  readonly #reasm: Reassembler;

  #started_ms = 0;
  #nonce_a: Uint8Array | null = null;
  #nonce_b: Uint8Array | null = null;
  #sid: Uint8Array | null = null;
  #sid_hex = '';
  #ping: Uint8Array | null = null;
  #pong: Uint8Array | null = null;
  #next: Uint8Array | null = null;
  #i_send_keys = false;
  #peer_sends_keys = false;
  #peer_keys: Kx3PublicKeys | null = null;
  #peer_pub: Uint8Array = EMPTY;
  #pin_status: Kx3PinStatus = 'pinned';
  #commit_sent = false;
  #commit_peer: Uint8Array | null = null;
  #transcript: Uint8Array | null = null;
  #sym_own: Uint8Array | null = null;
  #sym_peer: Uint8Array | null = null;
  #half_peer: Uint8Array | null = null;
  #keys: Kx3Keys | null = null;
  #final: Uint8Array | null = null;
  #peer_confirmed = false;
  readonly #outbox = new Map<Kx3Type, Outgoing>();
  readonly #accepted = new Map<Kx3Type, Uint8Array>();

  constructor(opts: Kx3Options, modules: Kx3Modules) {
    if (opts.role !== 'initiator' && opts.role !== 'responder')
      throw new TypeError('role must be "initiator" or "responder"');
    if (typeof opts.peer !== 'string' || !/^[0-9a-f]{40}$/.test(opts.peer))
      throw new TypeError('peer must be an address (40 lowercase hex)');
    if (typeof modules?.random !== 'function') throw new TypeError('modules.random must be a function');
    const key_id = opts.key_id ?? KX_KEY_ID_DEFAULT;
    check_key_id(key_id);
    this.#o = {
      role: opts.role,
      key: opts.key,
      key_id,
      peer: opts.peer,
      repin: opts.repin ?? false,
      max_line_chars: opts.max_line_chars ?? KX3_LINE_CHARS_DEFAULT,
      timeout_ms: opts.timeout_ms ?? KX3_TIMEOUT_MS_DEFAULT,
      retransmit_ms: opts.retransmit_ms ?? KX3_RETRANSMIT_MS_DEFAULT,
      part_timeout_ms: opts.part_timeout_ms ?? KX3_PART_TIMEOUT_MS_DEFAULT,
      on_progress: opts.on_progress,
    };
    check_line_chars(this.#o.max_line_chars);
    for (const [name, value] of [
      ['timeout_ms', this.#o.timeout_ms],
      ['retransmit_ms', this.#o.retransmit_ms],
      ['part_timeout_ms', this.#o.part_timeout_ms],
    ] as const)
      if (!Number.isSafeInteger(value) || value < 1)
        throw new RangeError(`${name} must be a positive whole number`);
    const pinned = opts.pinned ?? null;
    if (pinned !== null && pinned.address !== opts.peer)
      throw new TypeError(`the pin is for ${pinned.address}, not for the peer ${opts.peer}`);
    this.#pinned = pinned;
    this.max_line_chars = this.#o.max_line_chars;
    this.side = opts.role === 'initiator' ? 'A' : 'B';
    this.#random = modules.random;
    this.#own = own_public_keys(opts.key, key_id);
    this.#own_fp = fingerprint(this.#own);
    this.#own_pub = encode_public_keys(opts.key, key_id);
    this.#kx_secret = kx_key_pair(opts.key, key_id).secret_key;
    this.#own_address = account_address(noble_provider, this.#own.account_pubkey);
    this.#nonce = this.#random(KX3_NONCE_BYTES);
    this.#half = this.#random(KX3_HALF_BYTES);
    this.#reasm = new Reassembler(this.#o.part_timeout_ms);
  }

  /** Where the exchange stands. */
  get state(): Kx3State {
    return this.#state;
  }
  /** Why it aborted, once it has. */
  get error(): Kx3AbortedError | FingerprintChangedError | null {
    return this.#error;
  }
  /** The key and pin, once done. */
  get result(): Kx3Result | null {
    return this.#result;
  }
  /** True once done or aborted. */
  get finished(): boolean {
    return this.#state === 'done' || this.#state === 'aborted';
  }
  /** Hex session id ('' until phase 1 has given one). */
  get session_id(): string {
    return this.#sid_hex;
  }
  /** Hex fingerprint of this party's own keys, as the peer should see it. */
  get own_fingerprint(): string {
    return to_hex(this.#own_fp);
  }

  /** Starts the clock; the initiator's PING lines. Call once, before receive/tick. */
  start(now_ms: number): string[] {
    if (this.#state !== 'idle') return [];
    this.#started_ms = now_ms;
    this.#state = 'phase1';
    if (this.side === 'B') return [];
    this.#nonce_a = this.#nonce;
    this.#ping = this.#pinned === null ? EMPTY : from_hex(this.#pinned.fingerprint, KX3_FINGERPRINT_BYTES);
    this.#progress(
      1,
      this.#pinned === null
        ? 'PING: first contact, no fingerprint of the peer held'
        : `PING with the pinned fingerprint ${fingerprint_text(this.#ping)}`,
    );
    return this.#send_reliable('PING', to_hex(this.#nonce), this.#ping, now_ms);
  }

  /** Takes one line from the peer; the lines to send in answer. */
  receive(line: string, now_ms: number): string[] {
    this.stats.lines_in++;
    if (this.#state === 'idle' || this.#state === 'aborted') return this.#ignore();
    const part = parse_line(line, this.#o.max_line_chars);
    if (part === null) return this.#ignore();
    if (!this.#sid_ok(part.type, part.sid)) return this.#ignore();
    const payload = this.#reasm.add(part, now_ms);
    if (payload === null) return [];
    try {
      const out = this.#on_message(part.type, part.sid, payload, now_ms);
      this.stats.lines_out += out.length;
      return out;
    } catch (error) {
      return this.#abort_with(error);
    }
  }

  /** Advances time: resends unacknowledged messages, drops stale parts, enforces the timeout. */
  tick(now_ms: number): string[] {
    if (this.#state === 'idle' || this.#state === 'aborted' || this.#state === 'done') return [];
    if (now_ms - this.#started_ms > this.#o.timeout_ms)
      return this.#abort(
        'timeout',
        `no result after ${this.#o.timeout_ms} ms (stopped in ${this.#state}); the peer may be offline or the transport too lossy`,
      );
    this.#reasm.expire(now_ms);
    const out: string[] = [];
    for (const msg of this.#outbox.values()) {
      if (now_ms - msg.sent_ms < this.#o.retransmit_ms) continue;
      msg.sent_ms = now_ms;
      this.stats.resent++;
      out.push(...msg.lines);
    }
    this.stats.lines_out += out.length;
    return out;
  }

  // ---- dispatch ----------------------------------------------------------------------------

  #sid_ok(type: Kx3Type, sid: string): boolean {
    const nonce_a_hex = this.#nonce_a === null ? null : to_hex(this.#nonce_a);
    if (type === 'PING') return this.side === 'B' && (nonce_a_hex === null || sid === nonce_a_hex);
    if (type === 'PONG') return this.side === 'A' && sid === nonce_a_hex;
    if (type === 'ERROR') return sid === nonce_a_hex || (this.#sid_hex !== '' && sid === this.#sid_hex);
    return this.#sid_hex !== '' && sid === this.#sid_hex;
  }

  #on_message(type: Kx3Type, sid: string, payload: Uint8Array, now_ms: number): string[] {
    if (type.endsWith('-RECEIVED'))
      return this.#on_receipt(type.slice(0, -'-RECEIVED'.length) as Kx3Type, payload, now_ms);
    if (type === 'ERROR') return this.#on_error(payload);
    // A message accepted before: its receipt may have been lost, so send it again.
    const held = this.#accepted.get(type);
    if (held !== undefined) {
      if (!equal_bytes(held, payload)) return this.#ignore();
      return type === 'PING' || type === 'PONG' ? [] : this.#receipt(type, payload);
    }
    if (this.#state === 'done') return this.#ignore();
    switch (type) {
      case 'PING':
        return this.#on_ping(sid, payload, now_ms);
      case 'PONG':
        return this.#on_pong(payload, now_ms);
      case 'NEXT':
        return this.#on_next(payload, now_ms);
      case 'PUB':
        return this.#on_pub(payload, now_ms);
      case 'COMMIT':
        return this.#on_commit(payload, now_ms);
      case 'SYM':
        return this.#on_sym(payload, now_ms);
      case 'CONFIRM':
        return this.#on_confirm(payload, now_ms);
      default:
        return this.#ignore();
    }
  }

  // ---- phase 1 -----------------------------------------------------------------------------

  #on_ping(sid: string, payload: Uint8Array, now_ms: number): string[] {
    if (payload.length !== 0 && payload.length !== KX3_FINGERPRINT_BYTES) return this.#ignore();
    this.#nonce_a = from_hex(sid, KX3_NONCE_BYTES);
    this.#nonce_b = this.#nonce;
    this.#ping = payload;
    this.#accepted.set('PING', payload);
    this.#set_sid();
    this.#peer_sends_keys = false;
    this.#i_send_keys = !(payload.length > 0 && equal_bytes(payload, this.#own_fp));
    const held = this.#pinned === null ? EMPTY : from_hex(this.#pinned.fingerprint, KX3_FINGERPRINT_BYTES);
    this.#pong = concat(this.#nonce, Uint8Array.of(this.#i_send_keys ? 1 : 0), held);
    this.#progress(
      1,
      `PING received${payload.length === 0 ? ' (the peer holds no key of ours)' : this.#i_send_keys ? ' (the fingerprint it holds for us is not ours: we send our keys)' : ' (it holds our current keys)'}; PONG`,
    );
    return this.#send_reliable('PONG', sid, this.#pong, now_ms);
  }

  #on_pong(payload: Uint8Array, now_ms: number): string[] {
    if (this.#state !== 'phase1') return this.#ignore();
    const n = KX3_NONCE_BYTES;
    if ((payload.length !== n + 1 && payload.length !== n + 1 + KX3_FINGERPRINT_BYTES) || payload[n]! > 1)
      return this.#ignore();
    const peer_sends = payload[n] === 1;
    if (!peer_sends && this.#pinned === null)
      throw new Kx3AbortedError('protocol', 'the peer says we hold its keys, but we hold none');
    this.#accepted.set('PONG', payload);
    this.#outbox.delete('PING');
    this.#pong = payload;
    this.#nonce_b = payload.slice(0, n);
    this.#set_sid();
    const held = payload.subarray(n + 1);
    this.#i_send_keys = !(held.length > 0 && equal_bytes(held, this.#own_fp));
    this.#peer_sends_keys = peer_sends;
    this.#next = Uint8Array.of(this.#i_send_keys ? 1 : 0);
    this.#progress(
      1,
      `PONG received; NEXT (we send our keys: ${yes(this.#i_send_keys)}, the peer sends its keys: ${yes(peer_sends)})`,
    );
    const out = this.#send_reliable('NEXT', this.#sid_hex, this.#next, now_ms);
    return [...out, ...this.#enter_phase2(now_ms)];
  }

  #on_next(payload: Uint8Array, now_ms: number): string[] {
    if (this.side !== 'B' || this.#state !== 'phase1' || this.#pong === null) return this.#ignore();
    if (payload.length !== 1 || payload[0]! > 1) return this.#ignore();
    const peer_sends = payload[0] === 1;
    if (!peer_sends && this.#pinned === null)
      throw new Kx3AbortedError('protocol', 'the peer says we hold its keys, but we hold none');
    this.#accepted.set('NEXT', payload);
    this.#outbox.delete('PONG');
    this.#next = payload;
    this.#peer_sends_keys = peer_sends;
    this.#progress(
      1,
      `NEXT received (we send our keys: ${yes(this.#i_send_keys)}, the peer sends its keys: ${yes(peer_sends)})`,
    );
    return [...this.#receipt('NEXT', payload), ...this.#enter_phase2(now_ms)];
  }

  // ---- phase 2 -----------------------------------------------------------------------------

  #enter_phase2(now_ms: number): string[] {
    this.#state = 'phase2';
    const out: string[] = [];
    if (!this.#peer_sends_keys) {
      this.#peer_keys = pin_keys(this.#pinned!);
      this.#pin_status = 'pinned';
    }
    if (this.#i_send_keys) {
      this.#progress(2, `PUB: sending our public keys (fingerprint ${fingerprint_text(this.#own_fp)})`);
      out.push(...this.#send_reliable('PUB', this.#sid_hex, this.#own_pub, now_ms));
    }
    if (!this.#i_send_keys && !this.#peer_sends_keys)
      this.#progress(2, "skipped: both sides hold each other's keys");
    return [...out, ...this.#maybe_commit(now_ms)];
  }

  #on_pub(payload: Uint8Array, now_ms: number): string[] {
    if (this.#state !== 'phase2' && this.#state !== 'phase3') return this.#ignore();
    if (!this.#peer_sends_keys) return this.#ignore();
    const decoded = decode_public_keys(payload, this.#o.peer);
    if ('problem' in decoded && decoded.problem === 'malformed') return this.#ignore();
    const keys = decoded.keys!;
    const fp = fingerprint(keys);
    const pinned = this.#pinned;
    if (pinned !== null && pinned.fingerprint !== to_hex(fp) && !this.#o.repin)
      throw new FingerprintChangedError(
        this.#o.peer,
        fingerprint_text(from_hex(pinned.fingerprint)),
        fingerprint_text(fp),
      );
    if ('problem' in decoded)
      throw new Kx3AbortedError(
        'bad_public_key',
        decoded.problem === 'wrong_account'
          ? `the account key received does not hash to the peer's address ${this.#o.peer}: someone in the middle sent its own keys`
          : "the key-agreement key received is not signed by the peer's account key: someone in the middle swapped it",
      );
    this.#accepted.set('PUB', payload);
    this.#peer_keys = keys;
    this.#peer_pub = payload;
    if (pinned === null) {
      this.#pin_status = 'tofu';
      this.#progress(
        2,
        `first contact: trusting the peer's keys on first use and pinning fingerprint ${fingerprint_text(fp)}; compare it with the peer out of band`,
        true,
      );
    } else if (pinned.fingerprint !== to_hex(fp)) {
      this.#pin_status = 'repinned';
      this.#progress(
        2,
        `re-pinning the peer: fingerprint was ${fingerprint_text(from_hex(pinned.fingerprint))}, now ${fingerprint_text(fp)}`,
        true,
      );
    } else {
      this.#pin_status = 'pinned';
      this.#progress(2, `received the peer's keys; fingerprint matches the pinned ${fingerprint_text(fp)}`);
    }
    return [...this.#receipt('PUB', payload), ...this.#maybe_commit(now_ms)];
  }

  // ---- phase 3 -----------------------------------------------------------------------------

  /** Commits once phase 2 is over for this side: the peer's keys held, our own keys acknowledged. */
  #maybe_commit(now_ms: number): string[] {
    if (this.#commit_sent || this.#peer_keys === null || this.#outbox.has('PUB')) return [];
    if (this.#state === 'phase2') this.#state = 'phase3';
    this.#commit_sent = true;
    this.#progress(3, 'COMMIT: committing to our half of the key');
    const out = this.#send_reliable(
      'COMMIT',
      this.#sid_hex,
      commitment(this.#half, this.#sid!, this.side),
      now_ms,
    );
    return [...out, ...this.#maybe_reveal(now_ms)];
  }

  #on_commit(payload: Uint8Array, now_ms: number): string[] {
    if (this.#sid === null || this.#next === null) return this.#ignore();
    if (payload.length !== 32) return this.#ignore();
    this.#accepted.set('COMMIT', payload);
    this.#commit_peer = payload;
    this.#progress(3, "received the peer's commitment");
    return [...this.#receipt('COMMIT', payload), ...this.#maybe_reveal(now_ms)];
  }

  /** The transcript hash, once every part of it is known on this side. */
  #transcript_now(): Uint8Array | null {
    if (this.#transcript !== null) return this.#transcript;
    if (!this.#commit_sent || this.#commit_peer === null || this.#peer_keys === null) return null;
    if (this.#peer_sends_keys && this.#peer_pub.length === 0) return null;
    const mine = commitment(this.#half, this.#sid!, this.side);
    const own_pub = this.#i_send_keys ? this.#own_pub : EMPTY;
    const a = this.side === 'A';
    this.#transcript = transcript_hash({
      address_a: a ? this.#own_address : this.#o.peer,
      address_b: a ? this.#o.peer : this.#own_address,
      nonce_a: this.#nonce_a!,
      nonce_b: this.#nonce_b!,
      ping: this.#ping!,
      pong: this.#pong!,
      next: this.#next!,
      fingerprint_a: a ? this.#own_fp : fingerprint(this.#peer_keys),
      fingerprint_b: a ? fingerprint(this.#peer_keys) : this.#own_fp,
      pub_a: a ? own_pub : this.#peer_pub,
      pub_b: a ? this.#peer_pub : own_pub,
      commit_a: a ? mine : this.#commit_peer,
      commit_b: a ? this.#commit_peer : mine,
    });
    return this.#transcript;
  }

  /** Reveals our half once both commitments are in. */
  #maybe_reveal(now_ms: number): string[] {
    if (this.#sym_own !== null) return [];
    const transcript = this.#transcript_now();
    if (transcript === null) return [];
    const sym = seal_half({
      key: this.#o.key,
      side: this.side,
      sid: this.#sid!,
      transcript,
      half: this.#half,
      peer_kx_pubkey: this.#peer_keys!.kx_pubkey,
      random: this.#random,
    });
    this.#sym_own = sym;
    this.#progress(3, "SYM: revealing our half, sealed to the peer's key and signed over the transcript");
    return [...this.#send_reliable('SYM', this.#sid_hex, sym, now_ms), ...this.#maybe_derive(now_ms)];
  }

  #on_sym(payload: Uint8Array, now_ms: number): string[] {
    const transcript = this.#transcript_now();
    if (transcript === null) return this.#ignore();
    const peer_side = PEER[this.side];
    const opened = open_half({
      payload,
      peer_side,
      sid: this.#sid!,
      transcript,
      peer_account_pubkey: this.#peer_keys!.account_pubkey,
      own_kx_secret: this.#kx_secret,
      own_kx_pubkey: this.#own.kx_pubkey,
    });
    if ('problem' in opened) {
      if (opened.problem === 'malformed') return this.#ignore();
      throw opened.problem === 'bad_signature'
        ? new Kx3AbortedError(
            'bad_signature',
            "the peer's half is not signed by its account key over this session's transcript (unsigned, signed by another key, replayed from another session, or a transcript that differs)",
          )
        : new Kx3AbortedError('cannot_open', "the peer's half does not decrypt with our key-agreement key");
    }
    if (!equal_bytes(commitment(opened.half, this.#sid!, peer_side), this.#commit_peer!))
      throw new Kx3AbortedError(
        'commitment_mismatch',
        'the half the peer revealed is not the one it committed to: it tried to choose its half after seeing ours',
      );
    this.#accepted.set('SYM', payload);
    this.#sym_peer = payload;
    this.#half_peer = opened.half;
    this.#progress(3, "received the peer's half: signature and commitment hold");
    return [...this.#receipt('SYM', payload), ...this.#maybe_derive(now_ms)];
  }

  #maybe_derive(now_ms: number): string[] {
    if (this.#keys !== null || this.#sym_own === null || this.#sym_peer === null) return [];
    const a = this.side === 'A';
    const half_a = a ? this.#half : this.#half_peer!;
    const half_b = a ? this.#half_peer! : this.#half;
    const sym_a = a ? this.#sym_own : this.#sym_peer;
    const sym_b = a ? this.#sym_peer : this.#sym_own;
    this.#final = final_transcript_hash(this.#transcript!, sym_a, sym_b);
    this.#keys = derive_keys(half_a, half_b, this.#sid!, this.#final);
    this.#progress(3, 'CONFIRM: key derived; sending the key confirmation');
    const mac = confirm_mac(this.#keys.confirm_key, this.side, this.#final);
    return this.#send_reliable('CONFIRM', this.#sid_hex, mac, now_ms);
  }

  #on_confirm(payload: Uint8Array, now_ms: number): string[] {
    if (this.#keys === null) return this.#ignore();
    if (payload.length !== 32) return this.#ignore();
    if (!confirm_ok(this.#keys.confirm_key, PEER[this.side], this.#final!, payload))
      throw new Kx3AbortedError(
        'key_confirmation_failed',
        "the peer's key confirmation does not match: the two sides derived different keys",
      );
    this.#accepted.set('CONFIRM', payload);
    this.#peer_confirmed = true;
    this.#progress(3, 'the peer confirmed the same key');
    const out = this.#receipt('CONFIRM', payload);
    this.#maybe_done(now_ms);
    return out;
  }

  #maybe_done(now_ms: number): void {
    if (this.#state === 'done' || !this.#peer_confirmed || this.#outbox.has('CONFIRM')) return;
    const peer_keys = this.#peer_keys!;
    const fp = to_hex(fingerprint(peer_keys));
    const keep = this.#pinned !== null && this.#pinned.fingerprint === fp;
    this.#result = {
      peer: this.#o.peer,
      session_id: this.#sid_hex,
      key: this.#keys!.key,
      key_fingerprint: key_fingerprint(this.#keys!.key),
      peer_keys,
      pin: keep
        ? { ...this.#pinned! }
        : {
            address: this.#o.peer,
            key_id: peer_keys.key_id,
            account_pubkey: to_hex(peer_keys.account_pubkey),
            kx_pubkey: to_hex(peer_keys.kx_pubkey),
            fingerprint: fp,
            pinned_ms: now_ms,
          },
      pin_status: this.#pin_status,
      sent_keys: this.#i_send_keys,
      received_keys: this.#peer_sends_keys,
    };
    this.#state = 'done';
    this.#outbox.clear();
  }

  // ---- receipts, errors --------------------------------------------------------------------

  #on_receipt(type: Kx3Type, payload: Uint8Array, now_ms: number): string[] {
    const msg = this.#outbox.get(type);
    if (msg === undefined || !equal_bytes(msg.receipt, payload)) return this.#ignore();
    this.#outbox.delete(type);
    if (type === 'PUB') {
      this.#progress(2, 'the peer received our keys');
      return this.#maybe_commit(now_ms);
    }
    if (type === 'CONFIRM') this.#maybe_done(now_ms);
    return [];
  }

  #on_error(payload: Uint8Array): string[] {
    let reason = 'unknown';
    try {
      reason =
        from_utf8(payload)
          .replace(/[^a-z_]/g, '')
          .slice(0, 40) || 'unknown';
    } catch {
      // keep 'unknown'
    }
    this.#fail(new Kx3AbortedError('peer_aborted', `the peer stopped the exchange (${reason})`));
    return [];
  }

  #receipt(type: Kx3Type, payload: Uint8Array): string[] {
    const lines = encode_message(
      `${type}-RECEIVED` as Kx3Type,
      this.#sid_hex,
      receipt_of(payload),
      this.#o.max_line_chars,
    );
    return lines;
  }

  #send_reliable(type: Kx3Type, sid: string, payload: Uint8Array, now_ms: number): string[] {
    const lines = encode_message(type, sid, payload, this.#o.max_line_chars);
    this.#outbox.set(type, { lines, receipt: receipt_of(payload), sent_ms: now_ms });
    return lines;
  }

  #set_sid(): void {
    this.#sid = session_id(this.#nonce_a!, this.#nonce_b!);
    this.#sid_hex = to_hex(this.#sid);
  }

  #ignore(): string[] {
    this.stats.ignored++;
    return [];
  }

  #progress(phase: 1 | 2 | 3, message: string, warning = false): void {
    this.#o.on_progress?.(warning ? { phase, message, warning } : { phase, message });
  }

  #fail(error: Kx3AbortedError | FingerprintChangedError): void {
    if (this.finished) return;
    this.#error = error;
    this.#state = 'aborted';
    this.#outbox.clear();
  }

  #abort(reason: Kx3AbortReason, message: string): string[] {
    return this.#abort_with(new Kx3AbortedError(reason, message));
  }

  /** Records the error and tells the peer (best effort: one ERROR line, not resent). */
  #abort_with(error: unknown): string[] {
    if (!(error instanceof Kx3AbortedError || error instanceof FingerprintChangedError)) throw error;
    const sid = this.#sid_hex !== '' ? this.#sid_hex : this.#nonce_a !== null ? to_hex(this.#nonce_a) : '';
    this.#fail(error);
    if (sid === '') return [];
    const reason = error instanceof FingerprintChangedError ? 'fingerprint_changed' : error.reason;
    const out = encode_message('ERROR', sid, utf8(reason), this.#o.max_line_chars);
    this.stats.lines_out += out.length;
    return out;
  }
}

function yes(value: boolean): string {
  return value ? 'yes' : 'no';
}
