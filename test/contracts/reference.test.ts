import { describe, expect, it } from 'vitest';
import { address, at, ContractHarness, contract_source, data_of, error_of } from '../vm/harness.js';

const ECHO = contract_source('echo');
const COUNTER = contract_source('counter');

describe('echo (protocol.md §7)', () => {
  const echo = () => {
    const h = new ContractHarness(contract_source('echo'));
    expect(data_of(h.instantiate({}))).toBeNull();
    return h;
  };

  it('returns v from execute and query', () => {
    const h = echo();
    for (const value of ['hi', 0, -1.5, true, null, [1, 'two'], { nested: { é: '😀' } }]) {
      expect(data_of(h.execute({ echo: { value } }))).toEqual(value);
      expect(data_of(h.query({ echo: { value } }))).toEqual(value);
    }
  });

  it('keeps the value JSON exactly', () => {
    const h = echo();
    const outcome = h.execute({ echo: { value: { b: 1, a: [1e21, 1e-7] } } });
    expect(outcome).toMatchObject({ kind: 'ok', data_json: '{"b":1,"a":[1e+21,1e-7]}', events: [] });
  });

  it('refuses other messages', () => {
    const h = echo();
    for (const msg of [{}, { echo: {} }, { echo: 'x' }, { echo: null }, [], 'echo', null]) {
      expect(error_of(h.execute(msg))).toBe(
        `expected {"echo": {"value": ...}}${at(ECHO, 'throw new Error')}`,
      );
    }
  });

  it('writes no state', () => {
    const h = echo();
    h.execute({ echo: { value: 1 } });
    expect(h.storage.snapshot()).toEqual([]);
  });
});

describe('counter (protocol.md §7)', () => {
  it('instantiates, increments and reports the count', () => {
    const h = new ContractHarness(contract_source('counter'));
    expect(data_of(h.instantiate({ count: 5 }))).toBeNull();
    expect(data_of(h.query({ get_count: {} }))).toEqual({ count: 5 });
    expect(data_of(h.execute({ increment: {} }))).toEqual({ count: 6 });
    expect(data_of(h.execute({ increment: {} }, address('bob')))).toEqual({ count: 7 });
    expect(data_of(h.query({ get_count: {} }))).toEqual({ count: 7 });
  });

  it('matches the protocol vector result shape: data and no events', () => {
    const h = new ContractHarness(contract_source('counter'));
    h.instantiate({ count: 0 });
    expect(h.execute({ increment: {} })).toMatchObject({ kind: 'ok', data_json: '{"count":1}', events: [] });
  });

  it('accepts negative counts and refuses non-integers', () => {
    const h = new ContractHarness(contract_source('counter'));
    expect(h.instantiate({ count: -3 }).kind).toBe('ok');
    for (const count of [1.5, '1', null, undefined, Number.MAX_SAFE_INTEGER + 1]) {
      expect(error_of(new ContractHarness(contract_source('counter')).instantiate({ count }))).toBe(
        `count must be an integer${at(COUNTER, "throw new Error('count must be an integer')")}`,
      );
    }
  });

  it('refuses to overflow', () => {
    const h = new ContractHarness(contract_source('counter'));
    h.instantiate({ count: Number.MAX_SAFE_INTEGER });
    expect(error_of(h.execute({ increment: {} }))).toBe(
      `count would overflow${at(COUNTER, "throw new Error('count would overflow')")}`,
    );
    expect(data_of(h.query({ get_count: {} }))).toEqual({ count: Number.MAX_SAFE_INTEGER });
  });

  it('refuses unknown messages and use before instantiate', () => {
    const h = new ContractHarness(contract_source('counter'));
    expect(error_of(h.execute({ increment: {} }))).toBe(
      `counter is not instantiated${at(COUNTER, "throw new Error('counter is not instantiated')")}`,
    );
    h.instantiate({ count: 1 });
    expect(error_of(h.execute({ decrement: {} }))).toContain('unknown execute message');
    expect(error_of(h.query({ count: {} }))).toContain('unknown query message');
  });
});
