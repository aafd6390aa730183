/**
 * The pass-through decorators every byzantine behaviour (and the simulator's observers) start
 * from, over a network or an enclave: each method calls the inner one's, with the inner object as
 * `this` (a class with private fields, like the TCP transport or the enclave pool, refuses any
 * other receiver); a decorator overrides only what it changes.
 * @module
 */

import type { Enclave } from '../../enclave/api.js';
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

/** `inner` with the methods in `over` replaced. */
export function forward_enclave(inner: Enclave, over: Partial<Enclave>): Enclave {
  return {
    measurement: () => inner.measurement(),
    create_seed: () => inner.create_seed(),
    load_seed: (sealed_seed) => inner.load_seed(sealed_seed),
    public_keys: () => inner.public_keys(),
    attestation_report: () => inner.attestation_report(),
    accept_seed_share: (args) => inner.accept_seed_share(args),
    check_registration: (args) => inner.check_registration(args),
    light_init: (args) => inner.light_init(args),
    query: (input) => inner.query(input),
    close: () => inner.close(),
    execute_block: (input) => inner.execute_block(input),
    ...over,
  };
}

/** Sends `body` to each connected peer for which `to_it` holds (a broadcast to some). */
export function send_to_some(inner: PeerNetwork, body: unknown, to_it: (peer: string) => boolean): void {
  for (const peer of inner.connected_peers()) if (to_it(peer)) inner.send(peer, body);
}
