/**
 * An in-memory, lossy line link for tests of the three-phase exchange (docs/channels.md): it drops,
 * duplicates and reorders (delays) lines with a seeded PRNG, so a failing run replays exactly from
 * its printed seed. {@link LossyLink} is the link itself, driven by a virtual clock;
 * {@link memory_transports} gives its two ends as {@link LineTransport}s for `run_kx3`. Test
 * support only: nothing under client/ imports it.
 * @module
 */

import type { Kx3Side } from '../../../client/sdk/channels/kx3_crypto.js';
import { KX3_LINE_CHARS_DEFAULT } from '../../../client/sdk/channels/kx3_framing.js';
import type { LineTransport } from '../../../client/sdk/channels/kx3_transport.js';
import { make_rng } from '../../rng.js';

/** Seeded floats in [0, 1) (test/rng.ts). Tests only: not for keys. */
export const seeded_floats = make_rng;

/** Seeded bytes, for repeatable parties in tests (never for real keys). */
export function seeded_bytes(seed: number): (bytes: number) => Uint8Array {
  const next = seeded_floats(seed);
  return (bytes) => {
    const out = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i++) out[i] = Math.floor(next() * 256);
    return out;
  };
}

/** How lossy a {@link LossyLink} is. */
export interface LossyOptions {
  /** Chance that a line is lost (0-1). */
  drop?: number;
  /** Chance that a line arrives twice. */
  duplicate?: number;
  /** Chance that a line is held back up to `max_delay_ms`, so later lines overtake it. */
  reorder?: number;
  /** Delay of every line (default 10 ms). */
  base_delay_ms?: number;
  /** Longest extra delay of a reordered line (default 2000 ms). */
  max_delay_ms?: number;
  max_line_chars?: number;
}

interface InFlight {
  to: Kx3Side;
  line: string;
  at_ms: number;
  seq: number;
}

/** Lines between side A and side B, lost, duplicated and reordered as the seed decides. */
export class LossyLink {
  readonly max_line_chars: number;
  /** Every line sent, in order, with its sender (what an eavesdropper records). */
  readonly log: { from: Kx3Side; line: string }[] = [];
  readonly #rand: () => number;
  readonly #o: Required<Omit<LossyOptions, 'max_line_chars'>>;
  #flight: InFlight[] = [];
  #seq = 0;
  dropped = 0;
  duplicated = 0;

  constructor(
    readonly seed: number,
    opts: LossyOptions = {},
  ) {
    this.#rand = seeded_floats(seed);
    this.max_line_chars = opts.max_line_chars ?? KX3_LINE_CHARS_DEFAULT;
    this.#o = {
      drop: opts.drop ?? 0,
      duplicate: opts.duplicate ?? 0,
      reorder: opts.reorder ?? 0,
      base_delay_ms: opts.base_delay_ms ?? 10,
      max_delay_ms: opts.max_delay_ms ?? 2000,
    };
  }

  /** Sends `line` from `from` at `now_ms`. RangeError for a line over the size limit. */
  send(from: Kx3Side, line: string, now_ms: number): void {
    if (line.length > this.max_line_chars)
      throw new RangeError(`line of ${line.length} characters over the limit of ${this.max_line_chars}`);
    this.log.push({ from, line });
    const to: Kx3Side = from === 'A' ? 'B' : 'A';
    if (this.#rand() < this.#o.drop) {
      this.dropped++;
      return;
    }
    const copies = this.#rand() < this.#o.duplicate ? 2 : 1;
    if (copies === 2) this.duplicated++;
    for (let i = 0; i < copies; i++) {
      const extra = this.#rand() < this.#o.reorder ? Math.floor(this.#rand() * this.#o.max_delay_ms) : 0;
      this.#flight.push({ to, line, at_ms: now_ms + this.#o.base_delay_ms + extra, seq: this.#seq++ });
    }
  }

  /** Puts a line in flight to `to` as if the peer had sent it (an attacker injecting). */
  inject(to: Kx3Side, line: string, now_ms: number): void {
    this.#flight.push({ to, line, at_ms: now_ms, seq: this.#seq++ });
  }

  /** The lines for `to` due by `now_ms`, in arrival order. */
  due(to: Kx3Side, now_ms: number): string[] {
    const ready = this.#flight.filter((f) => f.to === to && f.at_ms <= now_ms);
    this.#flight = this.#flight.filter((f) => !(f.to === to && f.at_ms <= now_ms));
    return ready.sort((x, y) => x.at_ms - y.at_ms || x.seq - y.seq).map((f) => f.line);
  }

  /** Lines still in flight. */
  get in_flight(): number {
    return this.#flight.length;
  }
}

/** A clock tests advance by hand; `sleep` moves it forward instead of waiting. */
export class VirtualClock {
  constructor(public now_ms = 0) {}
  readonly now = (): number => this.now_ms;
  readonly sleep = async (ms: number): Promise<void> => {
    this.now_ms += ms;
  };
}

/** The two ends of `link` as transports; `receive` advances `clock` instead of waiting. */
export function memory_transports(link: LossyLink, clock: VirtualClock): Record<Kx3Side, LineTransport> {
  const end = (side: Kx3Side): LineTransport => ({
    max_line_chars: link.max_line_chars,
    send: async (line) => link.send(side, line, clock.now()),
    receive: async (wait_ms) => {
      const lines = link.due(side, clock.now());
      if (lines.length > 0) return lines;
      await clock.sleep(Math.max(1, Math.floor(wait_ms / 2)));
      return link.due(side, clock.now());
    },
  });
  return { A: end('A'), B: end('B') };
}
