import { describe, expect, it } from 'vitest';
import { ContractHarness, contract_source, data_of, error_of } from '../vm/harness.js';

describe('compute_heavy', () => {
  it('spends gas in proportion to the rounds, with a deterministic result', () => {
    const h = new ContractHarness(contract_source('compute_heavy'));
    h.instantiate({});
    const small = h.execute({ compute: { rounds: 1_000 } });
    const large = h.execute({ compute: { rounds: 101_000 } });
    if (small.kind !== 'ok' || large.kind !== 'ok') throw new Error('expected ok');
    // The same whole number of gas per round (the loop's tick, weighted by its body's size);
    // the data may differ by a byte or so.
    const per_round = Math.round((large.gas_used - small.gas_used) / 100_000);
    expect(per_round).toBeGreaterThanOrEqual(1);
    expect(Math.abs(large.gas_used - small.gas_used - per_round * 100_000)).toBeLessThan(100);
    const again = new ContractHarness(contract_source('compute_heavy'));
    expect(again.query({ compute: { rounds: 101_000 } })).toEqual(large);
  });

  it('runs out of gas for too many rounds and refuses bad input', () => {
    const h = new ContractHarness(contract_source('compute_heavy'));
    h.gas_limit = 50_000;
    expect(h.execute({ compute: { rounds: 1_000_000 } })).toEqual({ kind: 'out_of_gas', gas_used: 50_000 });
    expect(error_of(h.execute({ compute: { rounds: -1 } }))).toContain('rounds must be');
  });
});

describe('storage_heavy', () => {
  it('writes and reads back n keys', () => {
    const h = new ContractHarness(contract_source('storage_heavy'));
    h.instantiate({});
    expect(data_of(h.execute({ write: { count: 100, value_bytes: 64 } }))).toEqual({ written: 100 });
    expect(h.storage.committed.size).toBe(100);
    expect(data_of(h.execute({ read: { count: 120 } }))).toEqual({ found: 100, bytes: 6400 });
    expect(data_of(h.query({ read: { count: 10 } }))).toEqual({ found: 10, bytes: 640 });
  });

  it('refuses counts past its bound', () => {
    const h = new ContractHarness(contract_source('storage_heavy'));
    expect(error_of(h.execute({ write: { count: 1001 } }))).toContain('count must be');
  });
});
