/**
 * The bytes a socket delivered and a frame reader has not taken yet (node/p2p/framing.ts for the
 * p2p transport's u32 headers, node/abci/codec.ts for ABCI's varints). Chunks are kept as a list
 * and joined only when a frame is complete, so a large frame that arrives in many small chunks
 * costs one copy rather than one per chunk.
 * @module
 */

/** A queue of received bytes: append chunks, look at or take bytes from the front. */
export class ByteQueue {
  readonly #chunks: Buffer[] = [];
  #length = 0;

  /** Bytes received and not yet taken. */
  get length(): number {
    return this.#length;
  }

  /** Appends bytes read from the socket. */
  push(chunk: Buffer): void {
    if (!Buffer.isBuffer(chunk)) throw new TypeError('chunk must be a Buffer');
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /**
   * At least the first `n` queued bytes (n ≤ length; the buffer may hold more), joining chunks
   * only when the first is shorter.
   */
  peek(n: number): Buffer {
    if (n > this.#length) throw new RangeError('peeking at more bytes than are queued');
    const first = this.#chunks[0]!;
    if (first.length >= n) return first;
    const joined = Buffer.concat(this.#chunks, this.#length);
    this.#chunks.length = 0;
    this.#chunks.push(joined);
    return joined;
  }

  /** Removes and returns the first `n` queued bytes (n ≤ length). */
  take(n: number): Buffer {
    if (n > this.#length) throw new RangeError('taking more bytes than are queued');
    let out: Buffer;
    const first = this.#chunks[0]!;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      // Join exactly the chunks the frame spans; a partial last chunk keeps its remainder.
      const parts: Buffer[] = [];
      let need = n;
      while (need > 0) {
        const chunk = this.#chunks[0]!;
        if (chunk.length <= need) {
          parts.push(chunk);
          this.#chunks.shift();
          need -= chunk.length;
        } else {
          parts.push(chunk.subarray(0, need));
          this.#chunks[0] = chunk.subarray(need);
          need = 0;
        }
      }
      out = Buffer.concat(parts, n);
    }
    this.#length -= n;
    return out;
  }
}
