/**
 * `equivocate` and `equivocate-split`: this validator signs two versions of each of its own
 * proposals and votes ({@link Conflicts}). `equivocate` sends both versions to every peer (honest
 * validators see the double signature and record evidence). `equivocate-split` sends version A to
 * half A and only version B to half B, so each half sees a consistent validator and, with enough
 * byzantine power, the halves decide different blocks. Colluders (fellow equivocators, in half A)
 * get version A of each proposal with version B alongside, which their own decorator strips. Other
 * bodies (relayed votes, transactions, requests) pass unchanged.
 * @module
 */

import type { PeerNetwork } from '../../node/modules.js';
import { Conflicts, with_pair } from './conflict.js';
import type { Checked } from './context.js';
import { forward } from './forward.js';
import { own_proposal, own_vote } from './messages.js';

/** What one body becomes: the versions for half A, half B and colluders (null: unchanged). */
interface Versions {
  a: unknown;
  b: unknown;
  colluder: unknown;
}

/** A network through which this validator equivocates: `split` false sends both versions to all. */
export function equivocate_network(inner: PeerNetwork, c: Checked, split: boolean): PeerNetwork {
  const conflicts = new Conflicts(c);
  // Every block it receives (and the pairs colluders send), before the node sees the message.
  const listeners: ((from: string, body: unknown) => void)[] = [];
  inner.on_message((from, body) => {
    const seen = conflicts.observe(body);
    for (const fn of listeners) fn(from, seen);
  });
  const versions = (body: unknown): Versions | null => {
    const proposal = own_proposal(body, c.self);
    if (proposal !== null) {
      const other = conflicts.proposal(proposal);
      return { a: body, b: { kind: 'proposal', proposal: other }, colluder: with_pair(proposal, other) };
    }
    const vote = own_vote(body, c.self);
    if (vote === null) return null;
    const { a, b } = conflicts.vote(vote);
    if (b === null) return null;
    const a_body = { kind: 'vote', vote: a };
    return { a: a_body, b: { kind: 'vote', vote: b }, colluder: a_body };
  };
  /** Sends `v` to `to` as its half (or, not splitting, every version but the colluder's). */
  const send_versions = (to: string, v: Versions): boolean => {
    if (c.colluders.has(to)) return inner.send(to, v.colluder);
    if (split) return inner.send(to, c.half_b.has(to) ? v.b : v.a);
    const sent = inner.send(to, v.a);
    return inner.send(to, v.b) && sent;
  };
  return forward(inner, {
    on_message: (fn) => {
      listeners.push(fn);
    },
    broadcast: (body) => {
      const v = versions(body);
      if (v === null) inner.broadcast(body);
      else for (const peer of inner.connected_peers()) send_versions(peer, v);
    },
    send: (to, body) => {
      const v = versions(body);
      return v === null ? inner.send(to, body) : send_versions(to, v);
    },
  });
}
