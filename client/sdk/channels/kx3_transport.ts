/**
 * Running a {@link Kx3Party} over a line transport (docs/channels.md "Three-phase key exchange"):
 * the {@link LineTransport} interface (IRC-like: lines of bounded size, may be lost, duplicated or
 * reordered), the driver {@link run_kx3}, the pins and session keys a party keeps in a
 * {@link ChannelStorage} ({@link Kx3Store}), and {@link kx3_exchange}, which does all of it:
 * loads the pin, runs the exchange, cross-checks the peer's key with the directory if asked, stores
 * the new pin and the session key. Browser-safe.
 * @module
 */

import { equal_bytes, from_base64, to_base64, to_hex } from '../../../protocol/bytes.js';
import type { ClientKey } from '../keys.js';
import { type KeyResolver, key_uri } from './key_uri.js';
import { type Kx3Modules, Kx3Party, type Kx3Pin, type Kx3Progress, type Kx3Result } from './kx3.js';
import { Kx3AbortedError } from './kx3_errors.js';
import type { ChannelStorage } from './storage.js';

/** Default pause between polls of the transport when nothing arrived. */
export const KX3_POLL_MS_DEFAULT = 500;

/** Where lines travel: IRC in IRCrypt; the mailbox or memory here. */
export interface LineTransport {
  /** Longest line the transport carries. */
  readonly max_line_chars: number;
  /** Sends a line (a transport may hold lines until {@link flush}). */
  send(line: string): Promise<void>;
  /** Sends whatever {@link send} held (a mailbox packs them into one mail). */
  flush?(): Promise<void>;
  /** The lines that arrived from the peer; waits up to `wait_ms` when none has. */
  receive(wait_ms: number): Promise<string[]>;
  /** Releases the transport (a mailbox deletes the mails it read). */
  close?(): Promise<void>;
}

/** Clock and options of {@link run_kx3}. */
export interface RunKx3Options {
  /** Milliseconds (`Date.now` in real use, a virtual clock in tests). */
  clock: () => number;
  /** How long a receive may wait for lines (default 500 ms). */
  poll_ms?: number;
  /**
   * After finishing, keep answering the peer this long (default 0), so a receipt of ours that was
   * lost can be sent again when the peer resends.
   */
  linger_ms?: number;
}

/** Runs `party` over `transport` until it finishes; its result, or its error thrown. */
export async function run_kx3(
  party: Kx3Party,
  transport: LineTransport,
  opts: RunKx3Options,
): Promise<Kx3Result> {
  const poll_ms = opts.poll_ms ?? KX3_POLL_MS_DEFAULT;
  if (transport.max_line_chars < party.max_line_chars)
    throw new RangeError(
      `the party writes lines of up to ${party.max_line_chars} characters; the transport carries ${transport.max_line_chars}`,
    );
  const send = async (lines: string[]) => {
    if (lines.length === 0) return;
    try {
      for (const line of lines) await transport.send(line);
      await transport.flush?.();
    } catch (error) {
      throw new Kx3AbortedError('transport', `cannot send: ${(error as Error).message}`);
    }
  };
  const receive = async () => {
    try {
      return await transport.receive(poll_ms);
    } catch (error) {
      throw new Kx3AbortedError('transport', `cannot receive: ${(error as Error).message}`);
    }
  };
  await send(party.start(opts.clock()));
  while (!party.finished) {
    const out: string[] = [];
    for (const line of await receive()) out.push(...party.receive(line, opts.clock()));
    out.push(...party.tick(opts.clock()));
    await send(out);
  }
  const linger_until = opts.clock() + (opts.linger_ms ?? 0);
  while (party.result !== null && opts.clock() < linger_until) {
    const out: string[] = [];
    for (const line of await receive()) out.push(...party.receive(line, opts.clock()));
    await send(out);
  }
  if (party.result === null) throw party.error ?? new Kx3AbortedError('protocol', 'stopped without a result');
  return party.result;
}

/** A stored session key (`kx3-key-<peer>`, sealed). */
export interface Kx3StoredKey {
  peer: string;
  session_id: string;
  /** Base64 of the 32-byte key. */
  key: string;
  key_fingerprint: string;
  created_ms: number;
}

/**
 * A party's pins and session keys in a {@link ChannelStorage}: `kx3-pin-<peer address>` (public
 * keys and fingerprint) and `kx3-key-<peer address>` (the session key: give a sealed storage).
 */
export class Kx3Store {
  constructor(readonly storage: ChannelStorage) {}

  /** The pin for `peer`, or null. */
  async pin(peer: string): Promise<Kx3Pin | null> {
    const text = await this.storage.get(`kx3-pin-${peer}`);
    if (text === null) return null;
    const pin = JSON.parse(text) as Kx3Pin;
    if (pin.address !== peer || !/^[0-9a-f]{64}$/.test(pin.fingerprint))
      throw new TypeError(`the stored pin for ${peer} is not a kx3 pin`);
    return pin;
  }

  async set_pin(pin: Kx3Pin): Promise<void> {
    await this.storage.set(`kx3-pin-${pin.address}`, JSON.stringify(pin));
  }

  /** Forgets the pin for `peer` (the next exchange is a first contact again). */
  async remove_pin(peer: string): Promise<void> {
    await this.storage.remove(`kx3-pin-${peer}`);
  }

  /** The last session key agreed with `peer`, or null. */
  async key(peer: string): Promise<(Kx3StoredKey & { bytes: Uint8Array }) | null> {
    const text = await this.storage.get(`kx3-key-${peer}`);
    if (text === null) return null;
    const stored = JSON.parse(text) as Kx3StoredKey;
    return { ...stored, bytes: from_base64(stored.key) };
  }

  async set_key(result: Kx3Result, now_ms: number): Promise<void> {
    const stored: Kx3StoredKey = {
      peer: result.peer,
      session_id: result.session_id,
      key: to_base64(result.key),
      key_fingerprint: result.key_fingerprint,
      created_ms: now_ms,
    };
    await this.storage.set(`kx3-key-${result.peer}`, JSON.stringify(stored));
  }
}

/** Options of {@link kx3_exchange}. */
export interface Kx3ExchangeOptions {
  role: 'initiator' | 'responder';
  key: ClientKey;
  key_id?: string;
  peer: string;
  /** Accept a changed fingerprint for the peer and pin the new one. */
  repin?: boolean;
  timeout_ms?: number;
  retransmit_ms?: number;
  part_timeout_ms?: number;
  poll_ms?: number;
  linger_ms?: number;
  on_progress?: (progress: Kx3Progress) => void;
}

/** What {@link kx3_exchange} uses from outside. */
export interface Kx3ExchangeModules extends Kx3Modules {
  transport: LineTransport;
  clock: () => number;
  /** Pins and the session key (a sealed storage in real use). */
  store: Kx3Store;
  /** If given, the peer's key-agreement key must be the one the directory lists under its key id. */
  resolver?: KeyResolver;
}

/**
 * One side of an exchange from start to stored key: loads the pin for the peer, runs the
 * exchange, cross-checks the directory if a resolver is given (Kx3AbortedError
 * `directory_mismatch` before anything is stored), then stores the pin and the key.
 */
export async function kx3_exchange(
  opts: Kx3ExchangeOptions,
  modules: Kx3ExchangeModules,
): Promise<Kx3Result> {
  const pinned = await modules.store.pin(opts.peer);
  const party = new Kx3Party(
    {
      role: opts.role,
      key: opts.key,
      peer: opts.peer,
      pinned,
      max_line_chars: modules.transport.max_line_chars,
      ...(opts.key_id === undefined ? {} : { key_id: opts.key_id }),
      ...(opts.repin === undefined ? {} : { repin: opts.repin }),
      ...(opts.timeout_ms === undefined ? {} : { timeout_ms: opts.timeout_ms }),
      ...(opts.retransmit_ms === undefined ? {} : { retransmit_ms: opts.retransmit_ms }),
      ...(opts.part_timeout_ms === undefined ? {} : { part_timeout_ms: opts.part_timeout_ms }),
      ...(opts.on_progress === undefined ? {} : { on_progress: opts.on_progress }),
    },
    { random: modules.random },
  );
  const result = await run_kx3(party, modules.transport, {
    clock: modules.clock,
    ...(opts.poll_ms === undefined ? {} : { poll_ms: opts.poll_ms }),
    ...(opts.linger_ms === undefined ? {} : { linger_ms: opts.linger_ms }),
  });
  if (modules.resolver !== undefined) {
    const listed = await modules.resolver.resolve(key_uri(opts.peer, result.peer_keys.key_id));
    if (!equal_bytes(listed.public_key, result.peer_keys.kx_pubkey))
      throw new Kx3AbortedError(
        'directory_mismatch',
        `the directory lists ${to_hex(listed.public_key)} for ${listed.uri}, the peer sent ${to_hex(result.peer_keys.kx_pubkey)}`,
      );
  }
  await modules.store.set_pin(result.pin);
  await modules.store.set_key(result, modules.clock());
  return result;
}
