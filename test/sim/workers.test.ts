/**
 * How many enclave workers a simulated validator gets by default (sim/network.ts): the cores this
 * process may use, shared out between the validators, at least one, so a validator stages blocks
 * over its workers only when it has cores of its own to spare.
 */

import { availableParallelism } from 'node:os';
import { describe, expect, test } from 'vitest';
import { workers_per_validator } from '../../sim/network.js';

describe('workers_per_validator', () => {
  test('shares the cores out, rounding down, and never gives fewer than one', () => {
    expect(workers_per_validator(4, 16)).toBe(4);
    expect(workers_per_validator(16, 16)).toBe(1);
    expect(workers_per_validator(3, 16)).toBe(5);
    expect(workers_per_validator(1, 2)).toBe(2);
    expect(workers_per_validator(4, 2)).toBe(1);
    expect(workers_per_validator(4, 1)).toBe(1);
    expect(workers_per_validator(0, 8)).toBe(8);
  });

  test("defaults to this process's available parallelism", () => {
    expect(workers_per_validator(1)).toBe(availableParallelism());
  });
});
