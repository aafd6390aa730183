/**
 * The live stream `GET /v1/events`: server-sent events, one `event: block` per committed block
 * and one `event: tx` per committed transaction, in commit order, with a comment heartbeat so
 * proxies and clients can tell a quiet chain from a dead connection.
 * @module
 */

import type { ServerResponse } from 'node:http';
import { busy } from './errors.js';
import { event_frame } from './shapes.js';
import type { LiveEvent, RpcBackend, RpcLog } from './types.js';

/** Limits of an {@link EventStreams}. */
export interface EventStreamsOptions {
  /** Streams open at once; more are refused with 503 code 102. */
  clients_max: number;
  /** Interval of the `: ping` comment. */
  heartbeat_ms: number;
  /** Unsent bytes one stream may queue before its client is dropped as too slow. */
  buffer_bytes_max: number;
}

/**
 * The open live streams. One backend subscription serves them all, taken with the first stream
 * and dropped with the last, and each event is serialized once for every client.
 */
export class EventStreams {
  readonly #opts: EventStreamsOptions;
  readonly #backend: Pick<RpcBackend, 'subscribe'>;
  readonly #log: RpcLog;
  readonly #clients = new Set<ServerResponse>();
  #unsubscribe: (() => void) | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #closed = false;

  /** @param modules.backend the source of live events. */
  constructor(opts: EventStreamsOptions, modules: { backend: Pick<RpcBackend, 'subscribe'>; log: RpcLog }) {
    this.#opts = opts;
    this.#backend = modules.backend;
    this.#log = modules.log;
  }

  /** Streams open now. */
  get size(): number {
    return this.#clients.size;
  }

  /**
   * Turns `res` into a live stream. The subscription exists before the headers go out, so a client
   * that has seen the headers misses no later event. Throws 503 code 102 when full or closed.
   */
  open(res: ServerResponse): void {
    if (this.#closed) throw busy('node is stopping');
    if (this.#clients.size >= this.#opts.clients_max) {
      throw busy(`too many live event streams (at most ${this.#opts.clients_max})`);
    }
    this.#clients.add(res);
    res.once('close', () => this.#remove(res));
    if (this.#unsubscribe === null) {
      try {
        this.#unsubscribe = this.#backend.subscribe((event) => this.#broadcast(event));
      } catch (error) {
        this.#clients.delete(res);
        throw error;
      }
    }
    this.#heartbeat ??= setInterval(() => this.#send_all(': ping\n\n'), this.#opts.heartbeat_ms).unref();
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      // Proxies such as nginx buffer responses unless told not to; events must flow as they come.
      'x-accel-buffering': 'no',
    });
    // A first comment flushes the headers, so the client knows the stream is live.
    res.write(': live\n\n');
  }

  /**
   * Ends every stream cleanly (the chunked body's last chunk, then the connection closes) and
   * refuses new ones; resolves once every stream's connection is closed.
   */
  close(): Promise<void> {
    this.#closed = true;
    const closing: Promise<void>[] = [];
    for (const res of [...this.#clients]) {
      this.#remove(res);
      closing.push(
        new Promise<void>((resolve) => {
          res.once('close', () => resolve());
          // A stream's connection is never idle, so the server's close() would wait on it: once the
          // last chunk is handed to the kernel, close the socket (the kernel still delivers it).
          res.end(() => res.socket?.destroy());
        }),
      );
    }
    return Promise.all(closing).then(() => undefined);
  }

  #remove(res: ServerResponse): void {
    if (!this.#clients.delete(res) || this.#clients.size > 0) return;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
  }

  #broadcast(event: LiveEvent): void {
    let frame: string;
    try {
      frame = event_frame(event);
    } catch (error) {
      // Never throw into the backend's commit path over one bad event.
      this.#log('rpc_bad_live_event', { error: String(error) });
      return;
    }
    this.#send_all(frame);
  }

  #send_all(frame: string): void {
    for (const res of [...this.#clients]) {
      if (res.writableLength > this.#opts.buffer_bytes_max) {
        // A client that does not read would make the node hold every event for it forever.
        this.#log('rpc_sse_slow_client_dropped', { queued_bytes: res.writableLength });
        this.#remove(res);
        res.destroy();
        continue;
      }
      res.write(frame);
    }
  }
}
