import { describe, expect, test } from 'vitest';
import { Cluster, contiguous_top, seed } from './harness.js';

console.log(`consensus basic seed ${seed} (replay with FC_SEED=${seed})`);

describe('consensus: 4 equal validators', () => {
  test('commit many heights, the same block per height everywhere', async () => {
    const c = new Cluster({ seed, powers: [1, 1, 1, 1] });
    await c.start();
    const target = 30;
    await c.run(60_000, () => c.nodes.every((n) => contiguous_top(n.chain) >= target));
    c.stop();
    for (const n of c.nodes) expect(contiguous_top(n.chain)).toBeGreaterThanOrEqual(target);
    expect(c.safety_violations()).toEqual([]);
    for (const n of c.nodes) expect(c.double_signs(n)).toEqual([]);
    console.log('virtual ms', c.sched.now_ms(), 'events', c.sched.events);
  });
});
