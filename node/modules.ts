/**
 * The seams of a node: everything a validator takes from the world around it. A node is assembled
 * from a config and these modules (`assemble_node` in ./assemble.ts); `node/node.ts` passes the
 * real-world implementations (./real_world.ts: the system clock, the OS random source, TCP,
 * LevelDB, a piscina enclave pool) and the simulator (`sim/`) passes virtual time, a seeded
 * random source, a simulated network, an in-memory store that survives a simulated crash, and an
 * in-process enclave. No part of a node reads `Date.now`, `setTimeout` or `Math.random` itself.
 * See docs/architecture.md "Seams".
 * @module
 */

/** A log sink: an event name and fields (node processes print them as JSON lines). */
export type Log = (event: string, fields: Record<string, unknown>) => void;

/**
 * Time. `now_ms` is milliseconds since the Unix epoch on the node's own clock (block times come
 * from it) and never goes backwards; timers fire once, in order of their due time.
 */
export interface Clock {
  now_ms(): number;
  /** Calls `fn` once after `delay_ms` (≥ 0); the returned function cancels it (idempotent). */
  set_timer(delay_ms: number, fn: () => void): () => void;
}

/** Randomness for everything a host draws at random (jitter, peer choice); never for consensus. */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
}

/**
 * The validators' peer-to-peer network, as a node uses it: authenticated peers named by their
 * Ed25519 public key (64 lowercase hex), JSON bodies, best-effort messages and request/response.
 * Implemented by TCP (`node/p2p/transport.ts`) and by the simulator's network (`sim/`).
 */
export interface PeerNetwork {
  /** Begins listening and dialing; resolves when the node may send. */
  start(): Promise<unknown>;
  /** Closes every connection; pending requests reject. */
  stop(): Promise<void>;
  /** Sends `body` to every connected peer (best effort). */
  broadcast(body: unknown): void;
  /** Sends `body` to one peer; false when not connected or its queue is full. */
  send(to: string, body: unknown): boolean;
  /** Request/response; rejects on timeout, disconnect or the peer's error. */
  request(to: string, body: unknown, timeout_ms?: number): Promise<unknown>;
  /** Adds a listener of messages from peers. */
  on_message(fn: (from: string, body: unknown) => void): void;
  /** Sets the one handler of requests from peers. */
  on_request(fn: (from: string, body: unknown) => Promise<unknown>): void;
  /** Adds a listener of peers connecting (true) and disconnecting (false). */
  on_peer(fn: (pubkey: string, connected: boolean) => void): void;
  /** Keys of the peers connected now, sorted. */
  connected_peers(): string[];
  /**
   * Simulated partitions and faults: when set, outgoing bodies for which it returns false are
   * dropped (requests then run into their deadline). Null removes it.
   */
  set_outgoing_filter(fn: ((to: string, body: unknown) => boolean) | null): void;
}
