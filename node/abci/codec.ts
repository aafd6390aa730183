/**
 * The wire format of CometBFT v0.38's socket ABCI: every message on a connection is
 * `uvarint(length) ‖ protobuf(message)`, `Request`s from CometBFT and `Response`s back
 * (`tendermint.abci.Request` / `Response`, proto/tendermint/abci/types.proto).
 *
 * The length is an unsigned LEB128 varint (Go's `binary.PutUvarint` / `binary.ReadUvarint`), not
 * the zigzag signed varint older Tendermint used: abci/types/messages.go `WriteMessage` /
 * `ReadMessage` go through libs/protoio/writer.go `NewDelimitedWriter` and libs/protoio/reader.go
 * `NewDelimitedReader`. CometBFT reads at most `maxMsgSize` = `math.MaxInt32` bytes a message
 * (abci/types/messages.go); this side chooses its own, smaller limit.
 *
 * Protobuf is cosmjs-types' generated code for the v0.38 messages, never written by hand here. Its
 * oneof field numbers were checked against CometBFT v0.38.17's types.proto: Request echo 1, flush 2,
 * info 3, init_chain 5, query 6, check_tx 8, commit 11, list_snapshots 12 … finalize_block 20;
 * Response exception 1, echo 2, flush 3, info 4 … finalize_block 21.
 *
 * cosmjs-types is CommonJS; Node's ESM loader finds its named exports (`exports.Request = …`), so
 * named imports work. Its package `exports` map `./*.js` to null: import its modules without
 * the `.js` (`cosmjs-types/tendermint/abci/types`), or Node and TypeScript both refuse them.
 * @module
 */

import type * as abci from 'cosmjs-types/tendermint/abci/types';
import { Request, Response } from 'cosmjs-types/tendermint/abci/types';
import { ByteQueue } from '../byte_queue.js';

/** Most bytes of a uvarint: a u64 in 7-bit groups (Go's `binary.MaxVarintLen64`). */
export const UVARINT_BYTES_MAX = 10;

/** Largest frame length this codec handles: CometBFT's own `maxMsgSize` (math.MaxInt32). */
export const ABCI_FRAME_BYTES_LIMIT = 0x7fffffff;

/** What was wrong with the bytes a peer sent. */
export type AbciFrameErrorCode = 'bad_varint' | 'too_large' | 'bad_protobuf';

/**
 * A frame that cannot be read: a length that is no uvarint (`bad_varint`, as Go's
 * `binary.ReadUvarint` overflow), longer than the reader's limit (`too_large`), or a payload that
 * is no `Request` (`bad_protobuf`). The connection it came on cannot be trusted to stay in step.
 */
export class AbciFrameError extends Error {
  override readonly name = 'AbciFrameError';

  /**
   * @param code what kind of failure.
   * @param message what happened.
   */
  constructor(
    readonly code: AbciFrameErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** `uvarint(bytes.length) ‖ bytes` as one Buffer (a single socket write), as protoio's WriteMsg. */
export function encode_frame(bytes: Uint8Array): Buffer {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('frame bytes must be a Uint8Array');
  if (bytes.length > ABCI_FRAME_BYTES_LIMIT) throw new RangeError('frame longer than CometBFT reads');
  let length = bytes.length;
  let prefix = 1;
  for (let rest = length >>> 7; rest > 0; rest >>>= 7) prefix++;
  const out = Buffer.allocUnsafe(prefix + bytes.length);
  for (let i = 0; i < prefix - 1; i++) {
    out[i] = (length & 0x7f) | 0x80;
    length >>>= 7;
  }
  out[prefix - 1] = length;
  out.set(bytes, prefix);
  return out;
}

/**
 * The uvarint at the start of `bytes`: its value and byte count, or null while it is incomplete.
 * Like Go's `binary.ReadUvarint`: at most {@link UVARINT_BYTES_MAX} bytes, the last of which may
 * only be 0 or 1 (a value past 2^64 is an overflow); non-minimal encodings are accepted.
 */
function read_uvarint(bytes: Uint8Array): { value: number; length: number } | null {
  let value = 0;
  const end = Math.min(bytes.length, UVARINT_BYTES_MAX);
  for (let i = 0; i < end; i++) {
    const byte = bytes[i]!;
    if (i === UVARINT_BYTES_MAX - 1 && byte > 1) {
      throw new AbciFrameError('bad_varint', 'frame length overflows a 64-bit uvarint');
    }
    // Multiplication, not shifts: a value past 2^31 stays exact up to 2^53 (and is refused anyway).
    value += (byte & 0x7f) * 2 ** (7 * i);
    if (byte < 0x80) return { value, length: i + 1 };
  }
  if (bytes.length >= UVARINT_BYTES_MAX) {
    throw new AbciFrameError('bad_varint', `frame length runs past ${UVARINT_BYTES_MAX} bytes`);
  }
  return null;
}

/**
 * Splits a connection's byte stream into frame payloads, incrementally: {@link push} appends what
 * the socket delivered and {@link next} returns one payload at a time. The length is checked as
 * soon as its varint is in, so a peer can never make it buffer more than one frame's worth of bytes
 * (plus what the caller lets in before pausing the socket). node/p2p/framing.ts's FrameDecoder is
 * the same for the p2p transport's u32 headers.
 */
export class FrameReader {
  /** Largest payload accepted; a longer length makes {@link next} throw `too_large`. */
  readonly limit_bytes: number;
  readonly #queue = new ByteQueue();

  /** @param limit_bytes largest payload accepted (0..{@link ABCI_FRAME_BYTES_LIMIT}). */
  constructor(limit_bytes: number) {
    if (!Number.isInteger(limit_bytes) || limit_bytes < 0 || limit_bytes > ABCI_FRAME_BYTES_LIMIT) {
      throw new RangeError(`limit_bytes must be an integer 0..${ABCI_FRAME_BYTES_LIMIT}`);
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
   * The next complete payload, or null until more bytes arrive. Throws {@link AbciFrameError}
   * (`bad_varint`, `too_large`) as soon as the length is known to be bad, before its payload is
   * buffered; after a throw the stream is out of step and the reader should be dropped.
   */
  next(): Buffer | null {
    if (this.#queue.length === 0) return null;
    const header = read_uvarint(this.#queue.peek(Math.min(this.#queue.length, UVARINT_BYTES_MAX)));
    if (header === null) return null;
    if (header.value > this.limit_bytes) {
      throw new AbciFrameError(
        'too_large',
        `frame of ${header.value} bytes exceeds the limit of ${this.limit_bytes} bytes`,
      );
    }
    const total = header.length + header.value;
    if (this.#queue.length < total) return null;
    return this.#queue.take(total).subarray(header.length);
  }
}

/**
 * The `tendermint.abci.Request` in a frame's payload (cosmjs-types' decoder). Throws
 * {@link AbciFrameError} `bad_protobuf` when the bytes are no protobuf message. A message whose
 * fields this version does not know decodes with no value set: the caller answers that.
 */
export function decode_request(bytes: Uint8Array): abci.Request {
  try {
    return Request.decode(bytes);
  } catch (error) {
    throw new AbciFrameError('bad_protobuf', `not a Request: ${(error as Error)?.message ?? String(error)}`);
  }
}

/**
 * A `tendermint.abci.Response` as protobuf bytes (cosmjs-types' encoder), to go in a frame with
 * {@link encode_frame}. Throws what the encoder throws on a malformed message (say, a missing
 * field): the server answers that as an exception.
 */
export function encode_response(response: abci.Response): Uint8Array {
  return Response.encode(response).finish();
}
