/**
 * Transaction gossip batching: a batch goes out when full (by count or by size), or when its timer
 * fires, never empty, always in acceptance order; the receiver's parser accepts only well-formed
 * messages. Timers are injected, so nothing here sleeps.
 */

import { describe, expect, it } from 'vitest';
import { gossiped_txs, TxGossip, type TxsMessage } from '../../node/tx_gossip.js';

/** A TxGossip whose timer is a list of pending callbacks the test fires by hand. */
function harness(opts: Partial<{ txs_max: number; chars_max: number; flush_ms: number }>) {
  const sent: TxsMessage[] = [];
  const timers = new Map<number, () => void>();
  let next = 0;
  const gossip = new TxGossip(opts, {
    broadcast: (m) => sent.push(m),
    set_timeout: (fn) => {
      timers.set(++next, fn);
      return next;
    },
    clear_timeout: (h) => timers.delete(h as number),
  });
  const fire = () => {
    const pending = [...timers.values()];
    timers.clear();
    for (const fn of pending) fn();
  };
  return { gossip, sent, timers, fire };
}

describe('TxGossip', () => {
  it('sends a full batch at once, in order, and arms no timer for it', () => {
    const h = harness({ txs_max: 3 });
    h.gossip.add('a');
    h.gossip.add('b');
    expect(h.sent).toEqual([]);
    expect(h.timers.size).toBe(1);
    h.gossip.add('c');
    expect(h.sent).toEqual([{ kind: 'txs', raws: ['a', 'b', 'c'] }]);
    expect(h.timers.size).toBe(0);
  });

  it('sends a partial batch when its timer fires, and nothing when empty', () => {
    const h = harness({ txs_max: 10 });
    h.gossip.add('x');
    h.fire();
    expect(h.sent).toEqual([{ kind: 'txs', raws: ['x'] }]);
    h.fire();
    h.gossip.flush();
    expect(h.sent).toHaveLength(1);
  });

  it('keeps a batch under chars_max by flushing before a transaction that would overflow it', () => {
    const h = harness({ txs_max: 100, chars_max: 10 });
    h.gossip.add('aaaa');
    h.gossip.add('bbbb');
    h.gossip.add('cccc');
    expect(h.sent).toEqual([{ kind: 'txs', raws: ['aaaa', 'bbbb'] }]);
    h.gossip.add('dddddddddddd');
    expect(h.sent.map((m) => m.raws)).toEqual([['aaaa', 'bbbb'], ['cccc'], ['dddddddddddd']]);
  });

  it('refuses bad options and bad input with typed errors', () => {
    const m = { broadcast: () => {}, set_timeout: () => 0, clear_timeout: () => {} };
    expect(() => new TxGossip({ txs_max: 0 }, m)).toThrow(RangeError);
    expect(() => new TxGossip({ chars_max: 1.5 }, m)).toThrow(RangeError);
    expect(() => new TxGossip({ flush_ms: -1 }, m)).toThrow(RangeError);
    expect(() => new TxGossip({}, { ...m, broadcast: undefined as never })).toThrow(TypeError);
    expect(() => new TxGossip({}, m).add(1 as never)).toThrow(TypeError);
  });
});

describe('gossiped_txs', () => {
  it('reads a single-transaction message and a batch', () => {
    expect(gossiped_txs({ kind: 'tx', raw: 'r' })).toEqual(['r']);
    expect(gossiped_txs({ kind: 'txs', raws: ['a', 'b'] })).toEqual(['a', 'b']);
  });

  it('refuses malformed and oversized messages', () => {
    for (const bad of [
      null,
      'txs',
      { kind: 'tx' },
      { kind: 'tx', raw: 5 },
      { kind: 'txs', raws: 'a' },
      { kind: 'txs', raws: ['a', 1] },
      { kind: 'block', raws: ['a'] },
    ]) {
      expect(gossiped_txs(bad)).toBeNull();
    }
    expect(gossiped_txs({ kind: 'txs', raws: ['a', 'b', 'c'] }, 2)).toBeNull();
  });
});
