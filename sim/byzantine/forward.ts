/**
 * The pass-through network decorator every byzantine behaviour starts from: each method calls the
 * inner network's, with the inner network as `this` (a class with private fields, like the TCP
 * transport, refuses any other receiver); a behaviour overrides only what it changes.
 * @module
 */

import type { PeerNetwork } from '../../node/modules.js';

/** `inner` with the methods in `over` replaced. */
export function forward(inner: PeerNetwork, over: Partial<PeerNetwork>): PeerNetwork {
  return {
    start: () => inner.start(),
    stop: () => inner.stop(),
    broadcast: (body) => inner.broadcast(body),
    send: (to, body) => inner.send(to, body),
    request: (to, body, timeout_ms) => inner.request(to, body, timeout_ms),
    on_message: (fn) => inner.on_message(fn),
    on_request: (fn) => inner.on_request(fn),
    on_peer: (fn) => inner.on_peer(fn),
    connected_peers: () => inner.connected_peers(),
    set_outgoing_filter: (fn) => inner.set_outgoing_filter(fn),
    ...over,
  };
}

/** Sends `body` to each connected peer for which `to_it` holds (a broadcast to some). */
export function send_to_some(inner: PeerNetwork, body: unknown, to_it: (peer: string) => boolean): void {
  for (const peer of inner.connected_peers()) if (to_it(peer)) inner.send(peer, body);
}
