/**
 * Lines of the three-phase key exchange (docs/channels.md "Three-phase key exchange"), after
 * IRCrypt's `<PREFIX>-<PART-ID> <DATA>` framing over IRC NOTICEs:
 *
 *   >KX3-<TYPE>-<PART-ID> <SID> <PARTS> <DATA>
 *
 * - TYPE: one of {@link KX3_TYPES} (`PING`, `PUB`, `SYM-RECEIVED`, …).
 * - PART-ID counts DOWN to 0, the last part, as in IRCrypt; PARTS (1-{@link KX3_PARTS_MAX}) is the
 *   number of parts, so a receiver whose transport reorders lines still knows when it has them all.
 * - SID: 32 lowercase hex, the session id (for PING and PONG the initiator's 16-byte nonce, before
 *   the responder's nonce is known; for every later line the combined id).
 * - DATA: this part's slice of the standard base64 of the message's bytes, `-` for none.
 *
 * A line never exceeds the transport's maximum line size (default {@link KX3_LINE_CHARS_DEFAULT},
 * IRCrypt's part size). Browser-safe.
 * @module
 */

import { from_base64, is_base64, to_base64 } from '../../../protocol/bytes.js';

/** Default longest line, in characters (IRCrypt's `MAX_PART_LEN`). */
export const KX3_LINE_CHARS_DEFAULT = 300;
/** Shortest maximum line size a party accepts: room for the longest header and some data. */
export const KX3_LINE_CHARS_MIN = 80;
/** Longest maximum line size a party accepts. */
export const KX3_LINE_CHARS_MAX = 4096;
/** Most parts of one message. */
export const KX3_PARTS_MAX = 64;
/** Most bytes of one message's payload. */
export const KX3_PAYLOAD_BYTES_MAX = 1024;

/** Every message type, in protocol order. `X-RECEIVED` is the receipt of `X`. */
export const KX3_TYPES = [
  'PING',
  'PONG',
  'NEXT',
  'NEXT-RECEIVED',
  'PUB',
  'PUB-RECEIVED',
  'COMMIT',
  'COMMIT-RECEIVED',
  'SYM',
  'SYM-RECEIVED',
  'CONFIRM',
  'CONFIRM-RECEIVED',
  'ERROR',
] as const;

/** One of {@link KX3_TYPES}. */
export type Kx3Type = (typeof KX3_TYPES)[number];

const TYPE_SET: ReadonlySet<string> = new Set(KX3_TYPES);
const LINE_RE = /^>KX3-([A-Z]+(?:-[A-Z]+)?)-([0-9]{1,2}) ([0-9a-f]{32}) ([0-9]{1,2}) ([A-Za-z0-9+/=]+|-)$/;

/** One parsed line. */
export interface Kx3Part {
  type: Kx3Type;
  /** Counts down: `parts - 1` for the first part sent, 0 for the last. */
  part_id: number;
  parts: number;
  /** 32 lowercase hex. */
  sid: string;
  /** This part's slice of the base64 payload ('' for an empty payload). */
  data: string;
}

/** Throws RangeError unless `max_line_chars` is a whole number in [KX3_LINE_CHARS_MIN, KX3_LINE_CHARS_MAX]. */
export function check_line_chars(max_line_chars: number): void {
  if (
    !Number.isSafeInteger(max_line_chars) ||
    max_line_chars < KX3_LINE_CHARS_MIN ||
    max_line_chars > KX3_LINE_CHARS_MAX
  )
    throw new RangeError(
      `max_line_chars must be a whole number from ${KX3_LINE_CHARS_MIN} to ${KX3_LINE_CHARS_MAX}`,
    );
}

function header(type: Kx3Type, part_id: number, sid: string, parts: number): string {
  return `>KX3-${type}-${part_id} ${sid} ${parts} `;
}

/**
 * The lines of one message: its payload in base64, cut into parts so every line is at most
 * `max_line_chars` long, part ids counting down to 0. RangeError if it needs over
 * {@link KX3_PARTS_MAX} parts.
 */
export function encode_message(
  type: Kx3Type,
  sid: string,
  payload: Uint8Array,
  max_line_chars = KX3_LINE_CHARS_DEFAULT,
): string[] {
  check_line_chars(max_line_chars);
  if (!/^[0-9a-f]{32}$/.test(sid)) throw new TypeError('sid must be 32 lowercase hex characters');
  if (payload.length > KX3_PAYLOAD_BYTES_MAX)
    throw new RangeError(`a payload is at most ${KX3_PAYLOAD_BYTES_MAX} bytes`);
  const text = to_base64(payload);
  // The header is longest with two-digit part ids and counts: size the slices for that.
  const room = max_line_chars - header(type, 10, sid, 10).length;
  const parts = Math.max(1, Math.ceil(text.length / room));
  if (parts > KX3_PARTS_MAX) throw new RangeError(`a message needs at most ${KX3_PARTS_MAX} parts`);
  const lines: string[] = [];
  for (let i = 0; i < parts; i++) {
    const slice = text.slice(i * room, (i + 1) * room);
    lines.push(header(type, parts - 1 - i, sid, parts) + (slice === '' ? '-' : slice));
  }
  return lines;
}

/** The line parsed, or null if it is not a well-formed kx3 line (or is longer than `max_line_chars`). */
export function parse_line(line: unknown, max_line_chars = KX3_LINE_CHARS_DEFAULT): Kx3Part | null {
  if (typeof line !== 'string' || line.length > max_line_chars) return null;
  const m = LINE_RE.exec(line);
  if (m === null) return null;
  const [, type, id, sid, count, data] = m as unknown as [string, string, string, string, string, string];
  if (!TYPE_SET.has(type)) return null;
  const part_id = Number(id);
  const parts = Number(count);
  if (parts < 1 || parts > KX3_PARTS_MAX || part_id >= parts) return null;
  return { type: type as Kx3Type, part_id, parts, sid, data: data === '-' ? '' : data };
}

/** Parts of one message being collected. */
interface Partial {
  parts: number;
  slices: Map<number, string>;
  first_ms: number;
}

/**
 * Collects the parts of messages, keyed by session id and type, and gives back a message's bytes
 * once all its parts are in. A partial message older than `timeout_ms` is dropped (IRCrypt: 5
 * minutes), as is one whose parts disagree on the count; at most `partials_max` are held.
 */
export class Reassembler {
  readonly #partials = new Map<string, Partial>();
  constructor(
    readonly timeout_ms: number,
    readonly partials_max = 16,
  ) {}

  /** The whole payload if `part` completes its message; null while parts are missing or for junk. */
  add(part: Kx3Part, now_ms: number): Uint8Array | null {
    this.expire(now_ms);
    if (part.parts === 1) return decode(part.data);
    const key = `${part.sid}/${part.type}`;
    let partial = this.#partials.get(key);
    if (partial !== undefined && partial.parts !== part.parts) {
      this.#partials.delete(key);
      partial = undefined;
    }
    if (partial === undefined) {
      if (this.#partials.size >= this.partials_max) return null;
      partial = { parts: part.parts, slices: new Map(), first_ms: now_ms };
      this.#partials.set(key, partial);
    }
    partial.slices.set(part.part_id, part.data);
    if (partial.slices.size < partial.parts) return null;
    this.#partials.delete(key);
    let text = '';
    for (let id = partial.parts - 1; id >= 0; id--) text += partial.slices.get(id) ?? '';
    return decode(text);
  }

  /** Drops partial messages older than the timeout. */
  expire(now_ms: number): void {
    for (const [key, partial] of this.#partials)
      if (now_ms - partial.first_ms > this.timeout_ms) this.#partials.delete(key);
  }

  /** How many partial messages are held. */
  get size(): number {
    return this.#partials.size;
  }
}

function decode(text: string): Uint8Array | null {
  if (text === '') return new Uint8Array(0);
  if (!is_base64(text)) return null;
  try {
    return from_base64(text);
  } catch {
    return null;
  }
}
