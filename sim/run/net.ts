/**
 * The simulated peer-to-peer network: one hub, and per validator an endpoint that implements the
 * node's PeerNetwork seam (node/modules.ts) exactly as the TCP transport does for the node (JSON
 * bodies, best-effort messages, request/response with deadlines, peers connecting and
 * disconnecting). Each delivery draws a latency (a floor plus an exponential tail), and may be
 * dropped or duplicated; independent latencies reorder messages. Partitions cut links both ways,
 * including messages already in flight when they would arrive. Every body is serialized once and
 * parsed per receiver, so no two nodes ever share an object.
 * @module
 */

import type { PeerNetwork } from '../../node/modules.js';
import type { SeededRng } from './rng.js';
import type { Scheduler } from './scheduler.js';

/** How the simulated network treats messages; docs/simulator.md "Model". */
export interface NetQuality {
  /** Smallest one-way latency. */
  latency_min_ms: number;
  /** Mean of the exponential tail added to the floor. */
  latency_tail_mean_ms: number;
  /** Largest one-way latency (the tail is cut there). */
  latency_max_ms: number;
  /** Probability that a delivery is lost. */
  drop_p: number;
  /** Probability that a delivery arrives twice. */
  duplicate_p: number;
  /** `exponential`: floor plus an exponential tail (capped); `uniform`: a uniform draw from [min, max]. */
  distribution: 'exponential' | 'uniform';
}

/** Default network: 2 ms floor, 8 ms mean tail, 200 ms cap, no loss. */
export const DEFAULT_NET: Readonly<NetQuality> = Object.freeze({
  latency_min_ms: 2,
  latency_tail_mean_ms: 8,
  latency_max_ms: 200,
  drop_p: 0,
  duplicate_p: 0,
  distribution: 'exponential',
});

/** Largest body a simulated frame carries, as the TCP transport's 16 MiB frame. */
const BODY_CHARS_MAX = 16 * 1024 * 1024;

/** Why a simulated request failed (the shape of the TCP transport's errors). */
export class SimNetError extends Error {
  constructor(
    readonly code: 'TIMEOUT' | 'NOT_CONNECTED' | 'CLOSED' | 'REMOTE_ERROR',
    message: string,
  ) {
    super(message);
    this.name = 'SimNetError';
  }
}

/** Counters of what the network carried. */
export interface NetStats {
  messages: number;
  delivered: number;
  dropped: number;
  bytes: number;
}

/** The hub: links, partitions and the endpoints of every validator. */
export class SimNet {
  readonly #sched: Scheduler;
  readonly #rng: SeededRng;
  quality: NetQuality;
  readonly #endpoints = new Map<string, Endpoint>();
  /** Partition group of each key (absent: group 0, the whole network). */
  #group = new Map<string, number>();
  /** Keys whose link is down (paused processes). */
  readonly #down = new Set<string>();
  readonly stats: NetStats = { messages: 0, delivered: 0, dropped: 0, bytes: 0 };

  constructor(sched: Scheduler, rng: SeededRng, quality: NetQuality = DEFAULT_NET) {
    this.#sched = sched;
    this.#rng = rng;
    this.quality = { ...quality };
  }

  /** A new endpoint for `key` (a restarted node gets a fresh one; the old one is dead). */
  endpoint(key: string): PeerNetwork {
    this.#endpoints.get(key)?.kill();
    const endpoint = new Endpoint(this, key);
    this.#endpoints.set(key, endpoint);
    return endpoint;
  }

  /** Splits the network: keys in different groups cannot reach each other; unlisted keys are alone. */
  partition(groups: readonly (readonly string[])[]): void {
    const before = this.#links();
    this.#group = new Map();
    let next = 1;
    for (const g of groups) {
      for (const key of g) this.#group.set(key, next);
      next++;
    }
    for (const key of this.#endpoints.keys()) if (!this.#group.has(key)) this.#group.set(key, next++);
    this.#announce(before);
  }

  /** Takes `key`'s link down (a paused process: peers see it disconnect) or brings it back up. */
  set_link(key: string, up: boolean): void {
    const before = this.#links();
    if (up) this.#down.delete(key);
    else this.#down.add(key);
    this.#announce(before);
  }

  /** Whether a partition is in force. */
  partitioned(): boolean {
    return this.#group.size > 0;
  }

  /** Removes every partition. */
  heal(): void {
    const before = this.#links();
    this.#group = new Map();
    this.#announce(before);
  }

  /** Whether `a` and `b` can talk now (both up, same side of any partition). */
  linked(a: string, b: string): boolean {
    if (a === b) return false;
    const ea = this.#endpoints.get(a);
    const eb = this.#endpoints.get(b);
    if (ea === undefined || eb === undefined || !ea.up || !eb.up) return false;
    if (this.#down.has(a) || this.#down.has(b)) return false;
    return (this.#group.get(a) ?? 0) === (this.#group.get(b) ?? 0);
  }

  /** @internal Peers of `key` it can reach now, sorted. */
  peers_of(key: string): string[] {
    return [...this.#endpoints.keys()].filter((k) => this.linked(key, k)).sort();
  }

  /** @internal Sends a serialized body from `from` to `to` after a drawn latency (maybe lost or doubled). */
  deliver(from: string, to: string, text: string, on_arrival: (target: Endpoint) => void): void {
    this.stats.messages++;
    this.stats.bytes += text.length;
    if (!this.linked(from, to)) return;
    if (this.#rng.chance(this.quality.drop_p)) {
      this.stats.dropped++;
      return;
    }
    const copies = this.#rng.chance(this.quality.duplicate_p) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      this.#sched.at(this.#latency_ms(), () => {
        // A partition or crash also cuts what is already in flight.
        const target = this.#endpoints.get(to);
        if (target === undefined || !this.linked(from, to)) return;
        this.stats.delivered++;
        on_arrival(target);
      });
    }
  }

  /** @internal Arms a simulated-time timer (request deadlines). */
  timer(delay_ms: number, fn: () => void): () => void {
    return this.#sched.at(delay_ms, fn);
  }

  /** @internal An endpoint came up or went down: its peers hear of it. */
  changed(key: string, before: Map<string, Set<string>>): void {
    void key;
    this.#announce(before);
  }

  /** @internal Who is linked with whom now. */
  links(): Map<string, Set<string>> {
    return this.#links();
  }

  #links(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const key of this.#endpoints.keys()) out.set(key, new Set(this.peers_of(key)));
    return out;
  }

  /** Tells every live endpoint which peers connected and disconnected since `before`. */
  #announce(before: Map<string, Set<string>>): void {
    const after = this.#links();
    for (const [key, now] of after) {
      const endpoint = this.#endpoints.get(key);
      if (endpoint === undefined || !endpoint.up) continue;
      const was = before.get(key) ?? new Set<string>();
      for (const peer of [...was].sort()) if (!now.has(peer)) endpoint.peer_event(peer, false);
      for (const peer of [...now].sort()) if (!was.has(peer)) endpoint.peer_event(peer, true);
    }
  }

  #latency_ms(): number {
    const q = this.quality;
    if (q.distribution === 'uniform') return this.#rng.int(q.latency_min_ms, q.latency_max_ms);
    const tail = this.#rng.exponential(q.latency_tail_mean_ms);
    return Math.min(q.latency_max_ms, Math.round(q.latency_min_ms + tail));
  }
}

/** One validator's view of the simulated network. */
class Endpoint implements PeerNetwork {
  readonly #net: SimNet;
  readonly #key: string;
  up = false;
  #dead = false;
  #filter: ((to: string, body: unknown) => boolean) | null = null;
  readonly #message_listeners: ((from: string, body: unknown) => void)[] = [];
  readonly #peer_listeners: ((pubkey: string, connected: boolean) => void)[] = [];
  #handler: ((from: string, body: unknown) => Promise<unknown>) | null = null;
  readonly #pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; cancel: () => void }
  >();
  #next_id = 1;

  constructor(net: SimNet, key: string) {
    this.#net = net;
    this.#key = key;
  }

  async start(): Promise<unknown> {
    if (this.#dead) throw new SimNetError('CLOSED', 'endpoint is dead');
    const before = this.#net.links();
    this.up = true;
    this.#net.changed(this.#key, before);
    return {};
  }

  async stop(): Promise<void> {
    this.kill();
  }

  /** The node crashed or stopped: nothing more in or out, pending requests fail. */
  kill(): void {
    if (this.#dead) return;
    const before = this.#net.links();
    this.#dead = true;
    this.up = false;
    this.#net.changed(this.#key, before);
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      p.cancel();
      p.reject(new SimNetError('CLOSED', 'network stopped'));
    }
  }

  broadcast(body: unknown): void {
    const text = body_text(body);
    if (!this.up) return;
    for (const to of this.#net.peers_of(this.#key)) this.#send_text(to, body, text);
  }

  send(to: string, body: unknown): boolean {
    const text = body_text(body);
    if (!this.up || !this.#net.linked(this.#key, to)) return false;
    this.#send_text(to, body, text);
    return true;
  }

  request(to: string, body: unknown, timeout_ms = 10_000): Promise<unknown> {
    const text = body_text(body);
    if (!this.up) return Promise.reject(new SimNetError('CLOSED', 'network is not running'));
    if (!this.#net.linked(this.#key, to)) {
      return Promise.reject(new SimNetError('NOT_CONNECTED', `not connected to ${to.slice(0, 8)}`));
    }
    const id = this.#next_id++;
    return new Promise((resolve, reject) => {
      const cancel = this.#net.timer(timeout_ms, () => {
        if (!this.#pending.delete(id)) return;
        reject(new SimNetError('TIMEOUT', `no answer from ${to.slice(0, 8)} within ${timeout_ms} ms`));
      });
      this.#pending.set(id, { resolve, reject, cancel });
      if (this.#filter !== null && !this.#filter(to, body)) return;
      this.#net.deliver(this.#key, to, text, (target) => target.#serve(this.#key, id, text));
    });
  }

  on_message(fn: (from: string, body: unknown) => void): void {
    this.#message_listeners.push(fn);
  }

  on_request(fn: (from: string, body: unknown) => Promise<unknown>): void {
    this.#handler = fn;
  }

  on_peer(fn: (pubkey: string, connected: boolean) => void): void {
    this.#peer_listeners.push(fn);
  }

  connected_peers(): string[] {
    return this.up ? this.#net.peers_of(this.#key) : [];
  }

  set_outgoing_filter(fn: ((to: string, body: unknown) => boolean) | null): void {
    this.#filter = fn;
  }

  /** @internal */
  peer_event(peer: string, connected: boolean): void {
    for (const fn of this.#peer_listeners) fn(peer, connected);
  }

  #send_text(to: string, body: unknown, text: string): void {
    if (this.#filter !== null && !this.#filter(to, body)) return;
    this.#net.deliver(this.#key, to, text, (target) => target.#receive(this.#key, text));
  }

  #receive(from: string, text: string): void {
    if (!this.up) return;
    for (const fn of this.#message_listeners) {
      try {
        fn(from, JSON.parse(text));
      } catch {
        // A listener's error is the receiver's own problem, as with the TCP transport.
      }
    }
  }

  #serve(from: string, id: number, text: string): void {
    const handler = this.#handler;
    if (!this.up || handler === null) return;
    const reply = (answer: { ok: true; value: unknown } | { ok: false; error: string }) => {
      if (!this.up) return;
      const answer_text = JSON.stringify(answer);
      this.#net.deliver(this.#key, from, answer_text, (origin) => origin.#answer(id, answer_text));
    };
    handler(from, JSON.parse(text)).then(
      (value) => reply({ ok: true, value: value ?? null }),
      (error: unknown) => reply({ ok: false, error: (error as Error)?.message ?? String(error) }),
    );
  }

  #answer(id: number, text: string): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    pending.cancel();
    const answer = JSON.parse(text) as { ok: true; value: unknown } | { ok: false; error: string };
    if (answer.ok) pending.resolve(answer.value);
    else pending.reject(new SimNetError('REMOTE_ERROR', answer.error));
  }
}

/** A body's JSON text; TypeError for a body that is not JSON, RangeError over the frame size. */
function body_text(body: unknown): string {
  const text = JSON.stringify(body);
  if (typeof text !== 'string') throw new TypeError('body must be JSON');
  if (text.length > BODY_CHARS_MAX) throw new RangeError('body is larger than a frame');
  return text;
}
