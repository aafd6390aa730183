/**
 * Genesis fields of protocol.md §9 (node/genesis.ts check_genesis): `min_gas_price`, `balances`
 * and `dev`, each optional (a v1 genesis file keeps working), each refused with a message naming
 * what is wrong.
 */

import { describe, expect, it } from 'vitest';
import { check_genesis, check_genesis_funds } from '../../node/genesis.js';
import { GENESIS_BALANCES_MAX } from '../../node/store/chain_store.js';
import { get_provider } from '../../protocol/providers/index.js';

const p = get_provider('native');
const A = 'a1'.repeat(20);
const B = 'b2'.repeat(20);

/** A v1 genesis (no §9 field) that check_genesis accepts, with `patch` applied. */
function genesis(patch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    chain_id: 'c',
    genesis_time_ms: 0,
    validators: [{ pubkey: 'aa'.repeat(32), power: 1, name: 'v0' }],
    io_pubkey: 'bb'.repeat(32),
    seed_exchange_pubkey: 'cc'.repeat(32),
    attestation: { roots: [], measurements: [] },
    codes: [],
    ...patch,
  };
}

function message(patch: Record<string, unknown>): string | null {
  try {
    check_genesis(p, genesis(patch));
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    return (error as Error).message;
  }
}

describe('genesis §9 fields', () => {
  it('a v1 genesis without them is accepted as it is', () => {
    const g = genesis();
    expect(check_genesis(p, g)).toBe(g);
    expect(check_genesis(p, g).min_gas_price).toBeUndefined();
  });

  it('accepts good values', () => {
    for (const patch of [
      { min_gas_price: 0 },
      { min_gas_price: 25 },
      { min_gas_price: Number.MAX_SAFE_INTEGER },
      { balances: {} },
      { balances: { [A]: 1, [B]: Number.MAX_SAFE_INTEGER - 1 } },
      { dev: false, min_gas_price: 7 },
      { dev: true },
      { dev: true, min_gas_price: 0, balances: { [A]: 5 } },
    ])
      expect(message(patch), JSON.stringify(patch)).toBeNull();
  });

  it('refuses a min_gas_price that is not a non-negative safe integer', () => {
    for (const bad of [-1, 1.5, '1', null, Number.NaN, 2 ** 53, Number.POSITIVE_INFINITY]) {
      expect(message({ min_gas_price: bad })).toBe(
        'genesis: min_gas_price must be a non-negative integer below 2^53 (ucst per unit of gas)',
      );
    }
  });

  it('refuses balances that are not an object of address → positive safe integer', () => {
    for (const bad of [null, [], 'x', 5]) {
      expect(message({ balances: bad })).toBe('genesis: balances must be an object of address → ucst');
    }
    for (const key of [A.toUpperCase(), A.slice(2), `${A}00`, 'not hex', '']) {
      expect(message({ balances: { [key]: 5 } })).toMatch(
        /^genesis: balances key ".*" must be an address of 40 lowercase hex$/,
      );
    }
    for (const amount of [0, -1, 1.5, '5', null, 2 ** 53]) {
      expect(message({ balances: { [A]: amount } })).toBe(
        `genesis: balance of ${A} must be a positive integer below 2^53 (ucst)`,
      );
    }
  });

  it('refuses balances whose sum reaches 2^53', () => {
    const half = 2 ** 52;
    expect(message({ balances: { [A]: half, [B]: half - 1 } })).toBeNull();
    expect(message({ balances: { [A]: half, [B]: half } })).toBe(
      'genesis: balances must sum to less than 2^53 ucst',
    );
  });

  it('refuses more balances than the store takes', () => {
    const many = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [i.toString(16).padStart(40, '0'), 1]));
    expect(message({ balances: many(GENESIS_BALANCES_MAX) })).toBeNull();
    expect(message({ balances: many(GENESIS_BALANCES_MAX + 1) })).toBe(
      `genesis: balances must fund at most ${GENESIS_BALANCES_MAX} addresses, not ${GENESIS_BALANCES_MAX + 1}`,
    );
  });

  it('refuses a dev that is not a boolean', () => {
    for (const bad of ['true', 1, null])
      expect(message({ dev: bad })).toBe('genesis: dev must be true or false');
  });

  it('refuses a development network whose min_gas_price is above 0', () => {
    expect(message({ dev: true, min_gas_price: 1 })).toBe(
      'genesis: a development network (dev: true) must have min_gas_price 0, not 1',
    );
    expect(() => check_genesis_funds({ dev: true, min_gas_price: 3 })).toThrow(/must have min_gas_price 0/);
  });
});
