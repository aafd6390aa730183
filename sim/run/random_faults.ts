/**
 * Swarm testing: without `--faults`, the seed draws a fault schedule, written as a manifest (so it
 * can be printed, saved and replayed with `--faults`) and checked by the same parser. Byzantine
 * validators stay within f < n/3 of the voting power (equal powers) unless unsafe runs are
 * allowed; the timed faults come as episodes that start at a height and heal a drawn time later
 * (a partition then its heal, a crash then its restart, a pause then its resume, a skew then its
 * reset, loss or slowness then a normal network): by time, since a fault may stop every height
 * (a partition without a 2/3 side) until it heals. Episodes start before 80 % of the run's
 * heights and each crash or pause takes another validator, so the run ends fault-free and
 * liveness is checked after the last heal.
 * @module
 */

import { MANIFEST_BEHAVIOURS, type Manifest, parse_manifest } from '../manifest.js';
import { SeededRng } from './rng.js';

/** Most episodes one drawn schedule has. */
export const EPISODES_MAX = 4;

/** A drawn schedule: the manifest's JSON text form and its parsed form. */
export interface DrawnFaults {
  json: { validators: number; faults: Record<string, unknown>[] };
  manifest: Manifest;
}

/** Draws the fault schedule of run `seed`; `allow_unsafe` lets byzantine power reach up to half. */
export function draw_faults(
  seed: number,
  validators: number,
  heights: number,
  allow_unsafe = false,
): DrawnFaults {
  const rng = new SeededRng(seed, 'faults');
  const n = validators;
  // f < n/3 with equal powers: the most byzantine validators a safe run may have.
  const f_max = allow_unsafe ? Math.floor(n / 2) : Math.floor((n - 1) / 3);
  const byzantine_count = f_max === 0 ? 0 : rng.int(0, f_max);
  const order = shuffled(rng, n);
  const byzantine = order.slice(0, byzantine_count);
  const honest = order.slice(byzantine_count).sort((a, b) => a - b);
  const faults: Record<string, unknown>[] = [];
  if (byzantine.length > 0) {
    const map: Record<string, string> = {};
    for (const i of byzantine.sort((a, b) => a - b)) map[String(i)] = rng.pick(MANIFEST_BEHAVIOURS);
    faults.push({ from_height: 1, byzantine: map });
  }
  // Crashing or pausing an honest validator on top of the byzantine ones keeps 2/3 only if room is left.
  const can_stop_one = byzantine_count + 1 <= Math.floor((n - 1) / 3) && honest.length > 0;
  const last = Math.max(2, Math.floor(heights * 0.8));
  const episodes = heights < 6 ? 0 : rng.int(0, EPISODES_MAX);
  const span = Math.max(1, Math.floor((last - 2) / Math.max(1, episodes)));
  const stoppable = [...honest];
  for (let e = 0; e < episodes; e++) {
    const start = 2 + e * span;
    if (start > last) break;
    // Healed by time: 1 to 20 simulated seconds after the episode starts.
    const heal = { at_height: start, after_ms: rng.int(1, 20) * 1000 };
    const kinds = [
      'partition',
      'skew',
      'drop',
      'duplicate',
      'latency',
      ...(can_stop_one && stoppable.length > 0 ? ['crash', 'pause'] : []),
    ];
    const kind = rng.pick(kinds);
    switch (kind) {
      case 'partition': {
        const cut = rng.int(1, n - 1);
        const all = shuffled(rng, n);
        const groups = [all.slice(0, cut).sort((a, b) => a - b), all.slice(cut).sort((a, b) => a - b)];
        faults.push({ at_height: start, partition: groups }, { ...heal, heal: true });
        break;
      }
      case 'crash': {
        const i = stoppable.splice(rng.int(0, stoppable.length - 1), 1)[0] as number;
        faults.push({ at_height: start, crash: i }, { ...heal, restart: i });
        break;
      }
      case 'pause': {
        const i = stoppable.splice(rng.int(0, stoppable.length - 1), 1)[0] as number;
        faults.push({ at_height: start, pause: i }, { ...heal, resume: i });
        break;
      }
      case 'skew': {
        const i = rng.int(0, n - 1);
        const ms = rng.int(-500, 500);
        faults.push(
          { at_height: start, skew_ms: { [String(i)]: ms } },
          { ...heal, skew_ms: { [String(i)]: 0 } },
        );
        break;
      }
      case 'duplicate':
        faults.push({ at_height: start, duplicate: rng.int(1, 30) / 100 }, { ...heal, duplicate: 0 });
        break;
      case 'drop':
        faults.push({ at_height: start, drop: Math.round(rng.int(1, 10)) / 100 }, { ...heal, drop: 0 });
        break;
      default: {
        const min = rng.int(1, 20);
        faults.push(
          { at_height: start, latency_ms: { min, max: min + rng.int(10, 200) } },
          { ...heal, latency_ms: { min: 2, max: 30 } },
        );
      }
    }
  }
  const json = { validators: n, faults };
  return { json, manifest: parse_manifest(json, { validators: n }) };
}

function shuffled(rng: SeededRng, n: number): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j] as number, out[i] as number];
  }
  return out;
}
