/**
 * `equivocate` and `equivocate-split`: this validator signs two versions of each of its own
 * proposals and votes ({@link Conflicts}). `equivocate` sends both versions to every peer (honest
 * validators see the double signature and record evidence). `equivocate-split` sends the original
 * to half A and only the conflicting version to half B, so each half sees a consistent validator
 * and, with enough byzantine power, the halves decide different blocks. Other bodies (relayed
 * votes, transactions, requests) pass unchanged.
 * @module
 */

import type { PeerNetwork } from '../../node/modules.js';
import { Conflicts } from './conflict.js';
import type { Checked } from './context.js';
import { forward } from './forward.js';
import { own_proposal, own_vote } from './messages.js';

/** A network through which this validator equivocates: `split` false sends both versions to all. */
export function equivocate_network(inner: PeerNetwork, c: Checked, split: boolean): PeerNetwork {
  const conflicts = new Conflicts(c);
  // Every block it receives, so its votes for others' blocks can conflict with a real block.
  inner.on_message((_from, body) => conflicts.observe(body));
  const conflicting = (body: unknown): unknown => {
    const proposal = own_proposal(body, c.self);
    if (proposal !== null) return { kind: 'proposal', proposal: conflicts.proposal(proposal) };
    const vote = own_vote(body, c.self);
    if (vote === null) return null;
    const other = conflicts.vote(vote);
    return other === null ? null : { kind: 'vote', vote: other };
  };
  return forward(inner, {
    broadcast: (body) => {
      const other = conflicting(body);
      if (other === null) inner.broadcast(body);
      else if (split) {
        for (const peer of inner.connected_peers()) inner.send(peer, c.half_b.has(peer) ? other : body);
      } else {
        inner.broadcast(body);
        inner.broadcast(other);
      }
    },
    send: (to, body) => {
      const other = conflicting(body);
      if (other === null) return inner.send(to, body);
      if (split) return inner.send(to, c.half_b.has(to) ? other : body);
      const sent = inner.send(to, body);
      return inner.send(to, other) && sent;
    },
  });
}
