/**
 * Fixed regression seeds of the swarm (docs/simulator.md "Swarm testing"): each runs with the
 * fault schedule its seed draws, and every invariant must hold. A seed a swarm finds failing
 * joins this list once its bug is fixed, with a note of what it found.
 */

import { describe, expect, it } from 'vitest';
import { draw_faults } from '../../sim/run/random_faults.js';
import { run_simulation } from '../../sim/run/world.js';

/** [seed, validators, heights, what it found (empty: a plain regression seed)]. */
const SEEDS: [number, number, number, string][] = [
  [1, 4, 40, ''],
  [2, 4, 40, ''],
  [3, 4, 40, ''],
  [4, 7, 30, ''],
  [5, 4, 40, ''],
  [9, 4, 15, 'a relayed equivocator vote counted as the relaying honest validator double-signing'],
];

describe('swarm regression seeds', () => {
  for (const [seed, validators, heights, found] of SEEDS) {
    it(`seed ${seed}, ${validators} validators, ${heights} heights${found === '' ? '' : ` (${found})`}`, async () => {
      const { manifest, json } = draw_faults(seed, validators, heights);
      const r = await run_simulation({ seed, validators, heights, manifest, load_tx_per_s: 20 });
      const replay = `cloister sim run --seed ${seed} --validators ${validators} --heights ${heights}`;
      expect(
        r.violations,
        `${replay}\nfaults: ${JSON.stringify(json)}\n${JSON.stringify(r.violations, null, 1)}`,
      ).toEqual([]);
      expect(r.heights_committed).toBe(heights);
    });
  }

  it('a drawn schedule is a function of the seed, and safe unless unsafe runs are allowed', () => {
    for (let seed = 0; seed < 200; seed++) {
      const a = draw_faults(seed, 4, 100);
      expect(draw_faults(seed, 4, 100).json).toEqual(a.json);
      const byzantine = new Set(a.manifest.byzantine.flatMap((b) => b.behaviours.map((x) => x.validator)));
      // f < n/3 with equal powers: at most one of four.
      expect(byzantine.size).toBeLessThanOrEqual(1);
    }
    const unsafe = Array.from({ length: 200 }, (_, seed) => draw_faults(seed, 4, 100, true));
    expect(
      unsafe.some(
        (d) => new Set(d.manifest.byzantine.flatMap((b) => b.behaviours.map((x) => x.validator))).size === 2,
      ),
    ).toBe(true);
  });
});
