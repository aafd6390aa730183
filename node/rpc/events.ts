/**
 * The live stream `GET /v1/events`: server-sent events, one `event: block` per committed block
 * and one `event: tx` per committed transaction, in commit order, with a comment heartbeat so
 * proxies and clients can tell a quiet chain from a dead connection.
 * @module
 */

import type { ServerResponse } from 'node:http';
import { busy, RpcError, RpcErrorCode } from './errors.js';
import { event_frame } from './shapes.js';
import type { LiveEvent, RpcBackend, RpcLog } from './types.js';

/** Seconds a client refused for holding too many streams is told to wait (Retry-After). */
export const STREAM_RETRY_AFTER_S = 5;

/** Limits of an {@link EventStreams}. */
export interface EventStreamsOptions {
  /** Streams open at once; more are refused with 503 code 102. */
  clients_max: number;
  /** Streams open at once from one remote address; more are refused with 429 code 110. */
  clients_per_address_max: number;
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
  /** Each open stream and the remote address that holds it. */
  readonly #clients = new Map<ServerResponse, string>();
  /** Streams open per remote address (an address with none has no entry). */
  readonly #per_address = new Map<string, number>();
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

  /** Streams open now from `address`. */
  held_by(address: string): number {
    return this.#per_address.get(address) ?? 0;
  }

  /**
   * Turns `res` into a live stream held by `address` (the client's remote address). The
   * subscription exists before the headers go out, so a client that has seen the headers misses
   * no later event. Throws 503 code 102 when closed or full, 429 code 110 (with Retry-After) when
   * `address` already holds clients_per_address_max streams.
   */
  open(res: ServerResponse, address: string): void {
    if (this.#closed) throw busy('node is stopping');
    const held = this.held_by(address);
    if (held >= this.#opts.clients_per_address_max) {
      throw new RpcError(
        429,
        RpcErrorCode.TOO_MANY_STREAMS,
        `this address holds ${held} live event streams, the most one address may; close one first`,
        { 'retry-after': String(STREAM_RETRY_AFTER_S) },
      );
    }
    if (this.#clients.size >= this.#opts.clients_max) {
      throw busy(`too many live event streams (at most ${this.#opts.clients_max})`);
    }
    this.#add(res, address);
    res.once('close', () => this.#remove(res));
    if (this.#unsubscribe === null) {
      try {
        this.#unsubscribe = this.#backend.subscribe((event) => this.#broadcast(event));
      } catch (error) {
        this.#remove(res);
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
    return this.#end_all();
  }

  /** Ends every open stream; resolves once their connections are closed. */
  #end_all(): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const res of [...this.#clients.keys()]) {
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

  #add(res: ServerResponse, address: string): void {
    this.#clients.set(res, address);
    this.#per_address.set(address, this.held_by(address) + 1);
  }

  #remove(res: ServerResponse): void {
    const address = this.#clients.get(res);
    if (address === undefined) return;
    this.#clients.delete(res);
    const held = this.held_by(address) - 1;
    if (held > 0) this.#per_address.set(address, held);
    else this.#per_address.delete(address);
    if (this.#clients.size > 0) return;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
  }

  #broadcast(event: LiveEvent): void {
    if (event.type === 'halted') {
      // The node commits nothing more: end the streams, so their clients go to another node.
      this.#log('rpc_sse_ended_on_halt', { streams: this.#clients.size });
      void this.#end_all();
      return;
    }
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
    for (const res of [...this.#clients.keys()]) {
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
