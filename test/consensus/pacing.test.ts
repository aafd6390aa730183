/**
 * Block pacing (issue #15, docs/consensus.md "Block pacing"): blocks on demand (an idle network
 * makes no block, proposes nothing, moves no round and signs no vote; a transaction makes a
 * block; `empty_block_interval_ms` makes an empty one), fixed pacing (`block_time_ms`), and the
 * configs written before, which keep making a block after every commit.
 */
import { describe, expect, test } from 'vitest';
import {
  block_pacing,
  ConsensusEngine,
  type ConsensusTimeouts,
  TIMEOUT_MS_MAX,
} from '../../node/consensus/engine.js';
import { MemorySignedStateStore } from '../../node/consensus/signed_state.js';
import { CHAIN_ID, Cluster, contiguous_top, DEFAULT_TIMEOUTS, p, type SimNode, seed } from './harness.js';

console.log(`consensus pacing seed ${seed} (replay with FC_SEED=${seed})`);

const ON_DEMAND: ConsensusTimeouts = { ...DEFAULT_TIMEOUTS, empty_block_interval_ms: 0 };

/** A cluster of 4 equal validators whose mempools start empty. */
async function cluster(timeouts: ConsensusTimeouts): Promise<Cluster> {
  const c = new Cluster({ seed, powers: [1, 1, 1, 1], timeouts });
  for (const n of c.nodes) n.app.mempool = [];
  await c.start();
  return c;
}

/** Consensus messages `node` signed itself (votes and proposals) at `height` or above. */
function signed_from(c: Cluster, node: SimNode, height: number): number {
  return (c.net.sent.get(node.index) ?? []).filter((m) =>
    m.kind === 'vote'
      ? m.vote.validator === node.pubkey && m.vote.height >= height
      : m.proposal.height >= height,
  ).length;
}

function events_at(node: SimNode, event: string, height: number): number {
  return node.events.filter((e) => e.event === event && (e.fields['height'] as number) >= height).length;
}

/** Every node's chain as its blocks' txs, heights 1.. (the same everywhere). */
function chain_txs(node: SimNode): string[][] {
  const out: string[][] = [];
  for (let h = 1; node.chain.has(h); h++) out.push(node.chain.get(h)!.block.txs);
  return out;
}

describe('block_pacing: what a config asks for', () => {
  test('absent fields (a config written before) are continuous; an interval, even 0, is on demand', () => {
    expect(block_pacing(DEFAULT_TIMEOUTS)).toEqual({ kind: 'continuous' });
    expect(block_pacing({ ...DEFAULT_TIMEOUTS, block_time_ms: 0 })).toEqual({ kind: 'continuous' });
    expect(block_pacing(ON_DEMAND)).toEqual({ kind: 'on_demand', empty_block_interval_ms: 0 });
    expect(block_pacing({ ...DEFAULT_TIMEOUTS, empty_block_interval_ms: 5000 })).toEqual({
      kind: 'on_demand',
      empty_block_interval_ms: 5000,
    });
    expect(block_pacing({ ...ON_DEMAND, block_time_ms: 700 })).toEqual({ kind: 'fixed', block_time_ms: 700 });
  });

  test('the engine refuses a pacing value out of range', () => {
    const make = (t: ConsensusTimeouts) =>
      new ConsensusEngine(
        { chain_id: CHAIN_ID, validators: [{ pubkey: 'a'.repeat(64), power: 1 }], timeouts: t },
        {
          p,
          app: {
            propose: async () => Promise.reject(new Error('no')),
            validate: async () => false,
            commit: async () => {},
          },
          signer: { pubkey: 'a'.repeat(64), sign: () => '0'.repeat(128) },
          outbox: { broadcast: () => {} },
          clock: { now_ms: () => 0, set_timer: () => () => {} },
          signed_state: new MemorySignedStateStore(),
        },
      );
    expect(() => make({ ...DEFAULT_TIMEOUTS, empty_block_interval_ms: -1 })).toThrow(RangeError);
    expect(() => make({ ...DEFAULT_TIMEOUTS, block_time_ms: TIMEOUT_MS_MAX + 1 })).toThrow(RangeError);
    expect(() => make({ ...DEFAULT_TIMEOUTS, block_time_ms: Number.NaN })).toThrow(TypeError);
    expect(() => make({ ...DEFAULT_TIMEOUTS, empty_block_interval_ms: 0, block_time_ms: 0 })).not.toThrow();
  });
});

describe('blocks on demand (empty_block_interval_ms 0)', () => {
  test('idle: after the first block, no proposal, no vote, no round change, no timeout', async () => {
    const c = await cluster(ON_DEMAND);
    await c.run(60_000);
    c.stop();
    for (const n of c.nodes) {
      expect(contiguous_top(n.chain)).toBe(1);
      expect(n.chain.get(1)!.block.txs).toEqual([]);
      expect(n.engine.height).toBe(2);
      expect(n.engine.round).toBe(0);
      expect(n.engine.waiting).toBe(false); // stopped
      expect(signed_from(c, n, 2)).toBe(0);
      expect(events_at(n, 'round', 2)).toBe(0);
      expect(events_at(n, 'timeout', 2)).toBe(0);
      expect(events_at(n, 'round_wait', 2)).toBe(1);
    }
    // A minute of idle network: all that went out after block 1 were its precommits, re-sent for
    // any validator still deciding it.
    for (const n of c.nodes) {
      const sent = c.net.sent.get(n.index) ?? [];
      expect(sent.filter((m) => (m.kind === 'proposal' ? m.proposal.height : m.vote.height) > 1)).toEqual([]);
    }
    expect(c.safety_violations()).toEqual([]);
  });

  test('a transaction makes one block, then the network is idle again', async () => {
    const c = await cluster(ON_DEMAND);
    await c.run(5_000);
    expect(c.nodes.every((n) => n.engine.waiting)).toBe(true);
    c.submit('tx-a');
    await c.run(6_000, () => c.nodes.every((n) => contiguous_top(n.chain) >= 2));
    expect(c.sched.now_ms()).toBeLessThan(5_000 + 200); // no timeout on the way: at once
    await c.run(30_000);
    c.stop();
    for (const n of c.nodes) {
      expect(chain_txs(n)).toEqual([[], ['tx-a']]);
      expect(events_at(n, 'timeout', 2)).toBe(0);
      expect(signed_from(c, n, 3)).toBe(0);
    }
    expect(c.safety_violations()).toEqual([]);
    for (const n of c.nodes) expect(c.double_signs(n)).toEqual([]);
  });

  test('a transaction only one validator holds still commits, and then all wait again', async () => {
    const c = await cluster(ON_DEMAND);
    await c.run(1_000);
    // Whoever proposes next is not the one that holds it: gossip reached nobody else.
    c.submit('tx-lonely', [3]);
    await c.run(60_000, () => c.nodes.every((n) => chain_txs(n).some((txs) => txs.includes('tx-lonely'))));
    const top = Math.max(...c.nodes.map((n) => contiguous_top(n.chain)));
    await c.run(c.sched.now_ms() + 20_000);
    c.stop();
    for (const n of c.nodes) {
      expect(chain_txs(n).flat()).toEqual(['tx-lonely']);
      // Empty blocks until the holder proposed (at most one proposer rotation), none after.
      expect(contiguous_top(n.chain)).toBe(top);
      expect(top).toBeLessThanOrEqual(2 + c.nodes.length);
    }
    expect(c.safety_violations()).toEqual([]);
  });

  test('a validator restarted while the network is idle waits with it', async () => {
    const c = await cluster(ON_DEMAND);
    await c.run(2_000);
    await c.restart(c.nodes[2]!);
    await c.run(20_000);
    expect(c.nodes.every((n) => n.engine.waiting && contiguous_top(n.chain) === 1)).toBe(true);
    c.submit('tx-after-restart');
    await c.run(30_000, () => c.nodes.every((n) => contiguous_top(n.chain) >= 2));
    c.stop();
    for (const n of c.nodes) expect(chain_txs(n)).toEqual([[], ['tx-after-restart']]);
    expect(c.safety_violations()).toEqual([]);
  });
});

describe('a validator that missed a block while the others wait', () => {
  test('it fetches the block from the precommits re-sent to it, though no proposal follows', async () => {
    const c = new Cluster({
      seed,
      powers: [1, 1, 1, 1],
      timeouts: ON_DEMAND,
      // Validator 3 is cut off from 1 s to 3 s, while the others commit a transaction.
      net: { blocked: (from, to, now) => (from === 3 || to === 3) && now >= 1_000 && now < 3_000 },
    });
    for (const n of c.nodes) n.app.mempool = [];
    await c.start();
    await c.run(1_500);
    c.submit('tx-while-cut', [0, 1, 2]);
    await c.run(2_900);
    expect(c.nodes.slice(0, 3).every((n) => contiguous_top(n.chain) === 2)).toBe(true);
    expect(contiguous_top(c.nodes[3]!.chain)).toBe(1);
    await c.run(20_000, () => contiguous_top(c.nodes[3]!.chain) === 2);
    c.stop();
    expect(chain_txs(c.nodes[3]!)).toEqual([[], ['tx-while-cut']]);
    expect(c.nodes[3]!.chain.get(2)!.via).toBe('sync');
    expect(c.safety_violations()).toEqual([]);
  });
});

describe('empty_block_interval_ms', () => {
  test('an idle network makes an empty block every interval, and a transaction does not wait for it', async () => {
    const interval = 1_000;
    const c = await cluster({ ...DEFAULT_TIMEOUTS, empty_block_interval_ms: interval });
    await c.run(10_500);
    const n0 = c.nodes[0]!;
    const times = [...n0.chain.values()].map((e) => e.block.header.time_ms).sort((a, b) => a - b);
    expect(times.length).toBeGreaterThanOrEqual(9);
    expect(times.length).toBeLessThanOrEqual(11);
    for (let i = 1; i < times.length; i++) {
      expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(interval);
      expect(times[i]! - times[i - 1]!).toBeLessThan(interval + 100);
    }
    for (const n of c.nodes) expect(events_at(n, 'timeout', 1)).toBe(0);
    const before = contiguous_top(n0.chain);
    const at = c.sched.now_ms();
    c.submit('tx-b');
    await c.run(at + 900, () => c.nodes.every((n) => contiguous_top(n.chain) > before));
    expect(c.sched.now_ms() - at).toBeLessThan(200);
    c.stop();
    expect(n0.chain.get(before + 1)!.block.txs).toEqual(['tx-b']);
    expect(c.safety_violations()).toEqual([]);
  });
});

describe('block_time_ms (fixed pacing)', () => {
  test('a block every block time, with transactions or without', async () => {
    const block_time = 500;
    const c = await cluster({ ...DEFAULT_TIMEOUTS, block_time_ms: block_time });
    await c.run(3_000);
    c.submit('tx-c');
    await c.run(6_000);
    c.stop();
    const n0 = c.nodes[0]!;
    const entries = [...n0.chain.values()].sort((a, b) => a.block.header.height - b.block.header.height);
    expect(entries.length).toBeGreaterThanOrEqual(11);
    expect(entries.length).toBeLessThanOrEqual(13);
    for (let i = 1; i < entries.length; i++) {
      const gap = entries[i]!.block.header.time_ms - entries[i - 1]!.block.header.time_ms;
      expect(gap).toBeGreaterThanOrEqual(block_time);
      expect(gap).toBeLessThan(block_time + 100);
    }
    // The transaction waited for the next beat, not longer.
    const with_tx = entries.filter((e) => e.block.txs.includes('tx-c'));
    expect(with_tx.length).toBe(1);
    expect(with_tx[0]!.block.header.time_ms - 3_000).toBeLessThan(block_time + 100);
    expect(c.safety_violations()).toEqual([]);
  });
});

describe('continuous (a config written before issue #15)', () => {
  test('heights rise by themselves and the mempool is never asked', async () => {
    const c = new Cluster({ seed, powers: [1, 1, 1, 1] });
    let asked = 0;
    for (const n of c.nodes)
      n.app.has_txs = () => {
        asked++;
        return false;
      };
    await c.start();
    await c.run(5_000);
    c.stop();
    for (const n of c.nodes) expect(contiguous_top(n.chain)).toBeGreaterThan(20);
    expect(asked).toBe(0);
  });
});
