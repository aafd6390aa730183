/**
 * `withhold-votes` and `withhold-block`. A vote withholder sends its proposals (and everything
 * else) but no vote at all, neither its own nor relayed ones. A block withholder sends each of
 * its own proposals only to half A of its peers: half B never gets the block from it (the
 * rebroadcast of the proposal goes to half A too), and must learn the decision by sync.
 * @module
 */

import type { PeerNetwork } from '../../node/modules.js';
import type { Checked } from './context.js';
import { forward, send_to_some } from './forward.js';
import { is_vote_body, own_proposal } from './messages.js';

/** A network through which no vote leaves. */
export function withhold_votes_network(inner: PeerNetwork): PeerNetwork {
  return forward(inner, {
    broadcast: (body) => {
      if (!is_vote_body(body)) inner.broadcast(body);
    },
    send: (to, body) => (is_vote_body(body) ? true : inner.send(to, body)),
  });
}

/** A network through which own proposals reach half A only. */
export function withhold_block_network(inner: PeerNetwork, c: Checked): PeerNetwork {
  return forward(inner, {
    broadcast: (body) => {
      if (own_proposal(body, c.self) === null) inner.broadcast(body);
      else send_to_some(inner, body, (peer) => !c.half_b.has(peer));
    },
    send: (to, body) =>
      own_proposal(body, c.self) !== null && c.half_b.has(to) ? true : inner.send(to, body),
  });
}
