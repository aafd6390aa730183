/**
 * The early events sim up and npm start keep for their dashboard while it starts
 * (sim/steering.ts): bounded, handed over once. Starting the steering itself runs in the
 * network tests (test/network/commands.test.ts, test/sim/dashboard_browser.test.ts).
 */

import { describe, expect, it } from 'vitest';
import { EARLY_EVENTS_MAX, EarlyEvents } from '../../sim/steering.js';

describe('EarlyEvents', () => {
  it('keeps events in order up to its bound, hands them over once, and keeps none after', () => {
    const early = new EarlyEvents();
    for (let k = 0; k < EARLY_EVENTS_MAX + 5; k++) early.push({ index: k % 4, event: 'round', round: k });
    const taken = early.take();
    expect(taken).toHaveLength(EARLY_EVENTS_MAX);
    expect(taken[0]!['round']).toBe(0);
    expect(taken.at(-1)!['round']).toBe(EARLY_EVENTS_MAX - 1);
    early.push({ index: 0, event: 'started' });
    expect(early.take()).toEqual([]);
  });
});
