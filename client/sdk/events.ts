/**
 * Following the public events of committed transactions (protocol.md §9) over the live stream
 * `GET /v1/events` (docs/protocol-notes.md "Live events"), with a replay of committed blocks from
 * a chosen height, and without gaps or duplicates across reconnections. Browser-safe.
 *
 * The stream has no replay and no event ids, so the follower keeps a cursor: every block up to
 * `done` is delivered, and of the block being streamed, every transaction before `next`. Each
 * session opens the stream first (the node subscribes it before answering, so nothing committed
 * later is missed), then reads the same node's height and fetches every block between the cursor
 * and that height (`GET /v1/blocks/{h}` for the hashes, `GET /v1/txs/{hash}` for the events), then
 * reads the stream, skipping whatever the cursor has passed and fetching any block it skipped.
 * @module
 */

import type { PublicEvent } from '../../protocol/bank.js';
import { read_events } from '../../protocol/rpc_client.js';
import { ChainIdMismatchError } from './errors.js';

/** One public event of a committed transaction, where it was committed. */
export interface PublicEventAt {
  /** Height of the block that committed the transaction. */
  height: number;
  /** The transaction's hash. */
  hash: string;
  /** The transaction's index in its block. */
  index: number;
  /** The event's index among the transaction's public events. */
  event_index: number;
  /** The contract that emitted the event. */
  contract: string;
  type: string;
  attributes: { key: string; value: string }[];
}

/** What a follower reports about its connection, for logs and progress lines. */
export type FollowStatus =
  /** Caught up with `node` at `height`; from here on events come from the live stream. */
  | { type: 'live'; node: string; height: number }
  /** The stream or a catch-up request failed; the follower tries again (any node) in `delay_ms`. */
  | { type: 'retrying'; error: unknown; delay_ms: number };

/** Options of {@link follow_public_events}. */
export interface FollowOptions {
  /** Ends the follow: the iteration then finishes without error. */
  signal?: AbortSignal | undefined;
  /**
   * Replay the committed blocks from this height first, then go on live. Without it the follower
   * starts with the first block committed after it connects.
   */
  from_height?: number | undefined;
  /** Told when the follower is live and when it reconnects. */
  on_status?: ((status: FollowStatus) => void) | undefined;
}

/** The committed transaction a follower reads: its position and public events. */
export interface FollowedTx {
  hash: string;
  height: number;
  index: number;
  events: PublicEvent[];
}

/** One node's answers, as a follower reads them while it catches up. */
export interface FollowNode {
  /** The node's committed height (`GET /v1/status`). */
  height(): Promise<number>;
  /** The hashes of the transactions of block `height`, in block order (`GET /v1/blocks/{h}`). */
  block_hashes(height: number): Promise<string[]>;
  /** A committed transaction (`GET /v1/txs/{hash}`). */
  tx(hash: string): Promise<FollowedTx>;
}

/** Where a follower reads from. */
export interface FollowSource {
  /** Opens the live stream on some node (failing over), as `RpcTransport.open_stream` does. */
  open(signal: AbortSignal): Promise<{ node: string; body: ReadableStream<Uint8Array> }>;
  /** Requests to that same node. */
  at(node: string): FollowNode;
  /** A `tx` event's data, checked (as `GET /v1/txs/{hash}` answers it). */
  parse_tx(data: unknown, node: string): FollowedTx;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** First pause before the follower reconnects; each failure in a row doubles it. */
export const FOLLOW_RETRY_MS_FIRST = 250;
/** Longest pause between reconnections. */
export const FOLLOW_RETRY_MS_MAX = 5_000;

/** Errors a follower does not retry: the node serves another chain. */
function is_fatal(error: unknown): boolean {
  return error instanceof ChainIdMismatchError;
}

/**
 * Yields every public event (protocol.md §9) of committed transactions for which `keep` is true,
 * in commit order, each once: first those of blocks `from_height` and later (when given), then
 * those committed while it runs. Reconnects, on any node, when the stream breaks or a request
 * fails, and carries on where it stopped. Ends when `opts.signal` aborts, yielding nothing more
 * (not even the rest of a replay); throws only for a node of another chain. Transactions that failed carry no public events (the node lists none).
 */
export async function* follow_public_events(
  source: FollowSource,
  keep: (event: PublicEvent) => boolean,
  opts: FollowOptions = {},
): AsyncGenerator<PublicEventAt, void, undefined> {
  const { signal } = opts;
  /** Every block up to `done` is delivered; null until the first session picks the start. */
  let done: number | null = opts.from_height === undefined ? null : opts.from_height - 1;
  /** The block the stream is delivering, and its next transaction index not yet delivered. */
  let current: { height: number; next: number } | null = null;
  let pause = FOLLOW_RETRY_MS_FIRST;

  /** Once `signal` aborts, nothing more is fetched or yielded (the throw ends the session, then the loop). */
  function check_stop(): void {
    if (signal?.aborted) throw new Error('stopped');
  }

  function* events_of(tx: FollowedTx): Generator<PublicEventAt> {
    let event_index = 0;
    for (const e of tx.events) {
      if (keep(e)) {
        check_stop();
        yield {
          height: tx.height,
          hash: tx.hash,
          index: tx.index,
          event_index,
          contract: e.contract,
          type: e.type,
          attributes: e.attributes,
        };
      }
      event_index++;
    }
  }

  /** Delivers block `height` (the part the stream has not) from `node`, and moves the cursor past it. */
  async function* catch_up(node: FollowNode, height: number): AsyncGenerator<PublicEventAt> {
    const skip = current?.height === height ? current.next : 0;
    const hashes = await node.block_hashes(height);
    for (let i = skip; i < hashes.length; i++) {
      check_stop();
      const tx = await node.tx(hashes[i]!);
      if (current === null || current.height !== height) current = { height, next: 0 };
      current.next = i + 1;
      yield* events_of(tx);
    }
    done = height;
    current = null;
  }

  /** The stream has moved on to block `height`: every earlier block is delivered, fetching any it skipped. */
  async function* reach(node: FollowNode, height: number): AsyncGenerator<PublicEventAt> {
    // The stream is in commit order: a block it had begun is complete once a later one shows.
    if (current !== null && current.height < height) {
      done = Math.max(done!, current.height);
      current = null;
    }
    for (let h = done! + 1; h < height; h++) yield* catch_up(node, h);
    if (current === null && height > done!) current = { height, next: 0 };
  }

  while (signal?.aborted !== true) {
    const abort = new AbortController();
    const stop = (): void => abort.abort();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      const { node: url, body } = await source.open(abort.signal);
      const node = source.at(url);
      const height = await node.height();
      done ??= height;
      for (let h = done + 1; h <= height; h++) yield* catch_up(node, h);
      opts.on_status?.({ type: 'live', node: url, height });
      pause = FOLLOW_RETRY_MS_FIRST;
      for await (const event of read_events(body)) {
        check_stop();
        if (event.type !== 'block' && event.type !== 'tx') continue;
        let data: unknown;
        try {
          data = JSON.parse(event.data);
        } catch {
          continue;
        }
        if (event.type === 'block') {
          const h = (data as { height?: unknown })?.height;
          if (typeof h !== 'number' || !Number.isSafeInteger(h) || h < 1 || h <= done) continue;
          yield* reach(node, h);
          continue;
        }
        const tx = source.parse_tx(data, url);
        if (tx.height <= done) continue;
        if (current === null || current.height !== tx.height) yield* reach(node, tx.height);
        const cursor = current as { height: number; next: number } | null;
        if (cursor === null || tx.index < cursor.next) continue;
        cursor.next = tx.index + 1;
        yield* events_of(tx);
      }
      throw new Error(`the live stream of ${url} ended`);
    } catch (error) {
      if (signal?.aborted) return;
      if (is_fatal(error)) throw error;
      opts.on_status?.({ type: 'retrying', error, delay_ms: pause });
      await source.sleep(pause, signal);
      pause = Math.min(pause * 2, FOLLOW_RETRY_MS_MAX);
    } finally {
      signal?.removeEventListener('abort', stop);
      abort.abort();
    }
  }
}
