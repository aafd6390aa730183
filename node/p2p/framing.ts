/**
 * Length-prefixed framing of the peer-to-peer transport (docs/p2p.md): every frame on the wire is
 * `u32_be(length) ‖ payload`, with `length` at most a limit the receiver chooses. The decoder checks
 * the length as soon as the 4-byte header is in, so a peer can never make it buffer more than one
 * frame's worth of bytes (plus one socket chunk).
 * @module
 */

import { ByteQueue } from '../byte_queue.js';

/** Bytes of the big-endian length header in front of every frame. */
export const FRAME_HEADER_BYTES = 4;

/** Largest length a u32 header can carry. */
export const FRAME_LENGTH_U32_MAX = 0xffffffff;

/** Thrown by {@link FrameDecoder.next} when a header announces more than the limit. */
export class FrameTooLargeError extends RangeError {
  override readonly name = 'FrameTooLargeError';
  /**
   * @param length_bytes the length the header announced.
   * @param limit_bytes the decoder's limit at the time.
   */
  constructor(
    readonly length_bytes: number,
    readonly limit_bytes: number,
  ) {
    super(`frame of ${length_bytes} bytes exceeds the limit of ${limit_bytes} bytes`);
  }
}

/** `u32_be(length) ‖ utf8(text)` as one Buffer (a single socket write). */
export function encode_frame(text: string): Buffer {
  if (typeof text !== 'string') throw new TypeError('frame text must be a string');
  const length = Buffer.byteLength(text, 'utf8');
  if (length > FRAME_LENGTH_U32_MAX) throw new RangeError('frame longer than a u32 length can say');
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  out.writeUInt32BE(length, 0);
  const written = out.write(text, FRAME_HEADER_BYTES, 'utf8');
  if (written !== length) throw new Error('p2p invariant: frame text did not encode to its byte length');
  return out;
}

/**
 * Splits a byte stream into frame payloads. Pull-based: {@link push} appends what the socket
 * delivered and {@link next} returns one payload at a time, so the caller can change
 * {@link limit_bytes} between frames (the handshake uses a small limit, the session a larger one)
 * and stop at once when a frame closes the connection.
 */
export class FrameDecoder {
  /** Largest payload accepted; a larger header makes {@link next} throw {@link FrameTooLargeError}. */
  limit_bytes: number;
  readonly #queue = new ByteQueue();

  /** @param limit_bytes largest payload accepted (0..2^32-1). */
  constructor(limit_bytes: number) {
    if (!Number.isInteger(limit_bytes) || limit_bytes < 0 || limit_bytes > FRAME_LENGTH_U32_MAX) {
      throw new RangeError('limit_bytes must be an integer 0..2^32-1');
    }
    this.limit_bytes = limit_bytes;
  }

  /** Bytes received and not yet returned as a frame. */
  get buffered_bytes(): number {
    return this.#queue.length;
  }

  /** Appends bytes read from the socket. */
  push(chunk: Buffer): void {
    this.#queue.push(chunk);
  }

  /**
   * The next complete payload, or null until more bytes arrive. Throws {@link FrameTooLargeError}
   * as soon as a header announces more than {@link limit_bytes}, before its payload is buffered.
   */
  next(): Buffer | null {
    if (this.#queue.length < FRAME_HEADER_BYTES) return null;
    const length = this.#queue.peek(FRAME_HEADER_BYTES).readUInt32BE(0);
    if (length > this.limit_bytes) throw new FrameTooLargeError(length, this.limit_bytes);
    if (this.#queue.length < FRAME_HEADER_BYTES + length) return null;
    return this.#queue.take(FRAME_HEADER_BYTES + length).subarray(FRAME_HEADER_BYTES);
  }
}
