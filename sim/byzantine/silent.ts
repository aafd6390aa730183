/**
 * `silent`: this validator sends nothing. Its broadcasts and sends are dropped (a send reports
 * true, like the transport's outgoing filter), and requests from peers are never answered: they
 * run into their deadline at the requester. It still receives, and its own requests (sync) go out,
 * so it follows the chain.
 * @module
 */

import type { PeerNetwork } from '../../node/modules.js';
import { forward } from './forward.js';

/** A network through which nothing leaves but this node's own requests. */
export function silent_network(inner: PeerNetwork): PeerNetwork {
  return forward(inner, {
    broadcast: () => {},
    send: () => true,
    // An answer that never comes: the handler's promise never settles.
    on_request: () => inner.on_request(() => new Promise<never>(() => {})),
  });
}
