/**
 * `delay-votes`: every vote this node sends (its own and relayed ones) leaves `delay_ms` later, on
 * the injected clock; everything else leaves at once. With the default delay (about one prevote
 * timeout) its votes arrive after the others timed out waiting for them. Stopping the network
 * cancels the votes still held.
 * @module
 */

import type { PeerNetwork } from '../../node/modules.js';
import { type Checked, DEFAULT_VOTE_DELAY_MS } from './context.js';
import { forward } from './forward.js';
import { is_vote_body } from './messages.js';

/** A network that holds each vote back for `ctx.delay_ms`. */
export function delay_votes_network(inner: PeerNetwork, c: Checked): PeerNetwork {
  const delay_ms = c.ctx.delay_ms ?? DEFAULT_VOTE_DELAY_MS;
  const pending = new Set<() => void>();
  const later = (fn: () => void): void => {
    const cancel = c.ctx.clock.set_timer(delay_ms, () => {
      pending.delete(cancel);
      fn();
    });
    pending.add(cancel);
  };
  return forward(inner, {
    broadcast: (body) => {
      if (is_vote_body(body)) later(() => inner.broadcast(body));
      else inner.broadcast(body);
    },
    send: (to, body) => {
      if (!is_vote_body(body)) return inner.send(to, body);
      later(() => inner.send(to, body));
      return true;
    },
    stop: () => {
      for (const cancel of pending) cancel();
      pending.clear();
      return inner.stop();
    },
  });
}
