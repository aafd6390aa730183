/**
 * Pipelining (docs/consensus.md "Pipelining"): the proposer of the next height builds and
 * executes its round-0 block during the pause after a commit (`commit_ms`), so the pause overlaps
 * the execution; it signs and sends the proposal only when round 0 begins. A fixed beat and an
 * idle on-demand network build nothing early; the chain is the same and no one signs twice.
 */
import { describe, expect, test } from 'vitest';
import type { ConsensusTimeouts } from '../../node/consensus/engine.js';
import { Cluster, contiguous_top, DEFAULT_TIMEOUTS, seed } from './harness.js';

console.log(`consensus pipelining seed ${seed} (replay with FC_SEED=${seed})`);

/** A cluster whose apps note when each propose() was called, by height and round. */
async function cluster(timeouts: ConsensusTimeouts) {
  const c = new Cluster({ seed, powers: [1, 1, 1, 1], timeouts });
  const calls: { node: number; height: number; round: number; at_ms: number }[] = [];
  for (const n of c.nodes) {
    const propose = n.app.propose.bind(n.app);
    n.app.propose = (args) => {
      calls.push({ node: n.index, height: args.height, round: args.round, at_ms: c.sched.now_ms() });
      return propose(args);
    };
  }
  await c.start();
  return { c, calls };
}

/** When `node`'s engine began round `round` of `height` (its `round` log event), or undefined. */
function round_began_ms(c: Cluster, node: number, height: number, round: number): number | undefined {
  const e = c.nodes[node]!.events.find(
    (x) => x.event === 'round' && x.fields['height'] === height && x.fields['round'] === round,
  );
  return e?.fields['at_ms'] as number | undefined;
}

describe('pipelining: the next proposer builds during the commit pause', () => {
  test('continuous blocks: round-0 blocks are built before round 0 begins, and they commit', async () => {
    const { c, calls } = await cluster({ ...DEFAULT_TIMEOUTS, commit_ms: 40 });
    await c.run(60_000, () => c.nodes.every((n) => contiguous_top(n.chain) >= 12));
    c.stop();
    let early = 0;
    for (let h = 2; h <= 12; h++) {
      const block = c.nodes[0]!.chain.get(h)!.block;
      if (block.header.round !== 0) continue;
      const proposer = c.nodes.findIndex((n) => n.pubkey === block.header.proposer);
      const call = calls.find((x) => x.node === proposer && x.height === h && x.round === 0);
      const began = round_began_ms(c, proposer, h, 0);
      expect(call, `height ${h}`).toBeDefined();
      expect(began, `height ${h}`).toBeDefined();
      // One build per height and round: the early one is the one proposed.
      expect(calls.filter((x) => x.node === proposer && x.height === h && x.round === 0)).toHaveLength(1);
      if (call!.at_ms < began!) early++;
      // The committed block is the one built early: its time is that of the build.
      expect(block.header.time_ms).toBeLessThanOrEqual(
        Math.max(call!.at_ms, c.nodes[0]!.chain.get(h - 1)!.block.header.time_ms + 1),
      );
    }
    expect(early).toBeGreaterThanOrEqual(8);
    expect(c.nodes.some((n) => n.events.some((e) => e.event === 'propose_early'))).toBe(true);
    expect(c.safety_violations()).toEqual([]);
    for (const n of c.nodes) expect(c.double_signs(n)).toEqual([]);
  });

  test('a fixed beat builds nothing early', async () => {
    const { c } = await cluster({ ...DEFAULT_TIMEOUTS, commit_ms: 40, block_time_ms: 300 });
    await c.run(60_000, () => c.nodes.every((n) => contiguous_top(n.chain) >= 5));
    c.stop();
    expect(c.nodes.flatMap((n) => n.events.filter((e) => e.event === 'propose_early'))).toEqual([]);
    expect(c.safety_violations()).toEqual([]);
  });

  test('blocks on demand: an idle network builds nothing early; a stream of transactions is built early', async () => {
    const { c } = await cluster({ ...DEFAULT_TIMEOUTS, commit_ms: 40, empty_block_interval_ms: 0 });
    for (const n of c.nodes) n.app.mempool = [];
    await c.run(5_000);
    const early = () => c.nodes.flatMap((n) => n.events.filter((e) => e.event === 'propose_early'));
    expect(early()).toEqual([]);
    // Each commit brings the next transaction while there are some: the next proposer holds one
    // during the pause and builds its block then.
    for (const n of c.nodes) {
      const commit = n.app.commit.bind(n.app);
      n.app.commit = async (block, decided) => {
        await commit(block, decided);
        const h = block.header.height;
        if (h < 8 && n.app.mempool !== null) n.app.mempool.push(`tx-${h}`);
      };
    }
    c.submit('tx-start');
    await c.run(c.sched.now_ms() + 30_000, () => c.nodes.every((n) => contiguous_top(n.chain) >= 8));
    const built = early().length;
    expect(built).toBeGreaterThanOrEqual(4);
    // Then idle again: nothing more is built, early or not.
    await c.run(c.sched.now_ms() + 30_000);
    c.stop();
    expect(early().length).toBeLessThanOrEqual(built + 1);
    expect(c.safety_violations()).toEqual([]);
    for (const n of c.nodes) expect(c.double_signs(n)).toEqual([]);
  });
});
