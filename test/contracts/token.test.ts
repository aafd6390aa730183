import { describe, expect, it } from 'vitest';
import { address, ContractHarness, contract_source, data_of, error_of } from '../vm/harness.js';

const alice = address('alice');
const bob = address('bob');
const carol = address('carol');
const MAX = ((1n << 128n) - 1n).toString();

function token(
  initial_balances: { address: string; amount: string }[] = [{ address: alice, amount: '1000' }],
) {
  const h = new ContractHarness(contract_source('token'));
  expect(
    data_of(h.instantiate({ name: 'Secret Coin', symbol: 'SCRT', decimals: 6, initial_balances })),
  ).toBeNull();
  return h;
}

function balance(h: ContractHarness, owner: string, key: string) {
  return h.query({ balance: { address: owner, key } });
}

describe('token', () => {
  it('reports token info publicly', () => {
    const h = token([
      { address: alice, amount: '1000' },
      { address: bob, amount: '5' },
    ]);
    expect(data_of(h.query({ token_info: {} }))).toEqual({
      name: 'Secret Coin',
      symbol: 'SCRT',
      decimals: 6,
      total_supply: '1005',
    });
  });

  it('transfers with BigInt amounts and shows balances to key holders', () => {
    const h = token();
    expect(data_of(h.execute({ set_viewing_key: { key: 'alice-key-1' } }, alice))).toEqual({ status: 'ok' });
    expect(data_of(h.execute({ set_viewing_key: { key: 'bob-key-12' } }, bob))).toEqual({ status: 'ok' });
    const outcome = h.execute({ transfer: { recipient: bob, amount: '250' } }, alice);
    expect(outcome).toMatchObject({
      kind: 'ok',
      data_json: '{"status":"ok"}',
      events: [
        {
          type: 'transfer',
          attributes: [
            { key: 'from', value: alice },
            { key: 'to', value: bob },
            { key: 'amount', value: '250' },
          ],
        },
      ],
    });
    expect(data_of(balance(h, alice, 'alice-key-1'))).toEqual({ amount: '750' });
    expect(data_of(balance(h, bob, 'bob-key-12'))).toEqual({ amount: '250' });
  });

  it('handles amounts up to 2^128 - 1 exactly', () => {
    const h = token([{ address: alice, amount: MAX }]);
    h.execute({ set_viewing_key: { key: 'alice-key-1' } }, alice);
    h.execute({ set_viewing_key: { key: 'bob-key-12' } }, bob);
    expect(
      h.execute({ transfer: { recipient: bob, amount: '340282366920938463463374607431768211454' } }, alice)
        .kind,
    ).toBe('ok');
    expect(data_of(balance(h, alice, 'alice-key-1'))).toEqual({ amount: '1' });
    expect(data_of(balance(h, bob, 'bob-key-12'))).toEqual({
      amount: '340282366920938463463374607431768211454',
    });
  });

  it('refuses bad amounts, overdrafts and bad recipients without changing state', () => {
    const h = token();
    const before = h.storage.snapshot();
    const cases: [unknown, string][] = [
      [{ recipient: bob, amount: '1001' }, 'insufficient funds'],
      [{ recipient: bob, amount: '-1' }, 'only digits'],
      [{ recipient: bob, amount: '1.5' }, 'only digits'],
      [{ recipient: bob, amount: '01' }, 'leading zeros'],
      [{ recipient: bob, amount: '' }, 'decimal string'],
      [{ recipient: bob, amount: 5 }, 'decimal string'],
      [{ recipient: bob, amount: '0' }, 'must be positive'],
      [{ recipient: bob, amount: '340282366920938463463374607431768211456' }, 'below 2^128'],
      [{ recipient: 'not-an-address', amount: '1' }, 'recipient must be'],
      [{ recipient: bob.toUpperCase(), amount: '1' }, 'recipient must be'],
    ];
    for (const [transfer, message] of cases)
      expect(error_of(h.execute({ transfer }, alice))).toContain(message);
    expect(error_of(h.execute({ transfer: { recipient: alice, amount: '1' } }, carol))).toBe(
      'insufficient funds',
    );
    expect(h.storage.snapshot()).toEqual(before);
  });

  it('refuses a total supply of 2^128 or more', () => {
    const h = new ContractHarness(contract_source('token'));
    const outcome = h.instantiate({
      name: 'X',
      symbol: 'X',
      decimals: 0,
      initial_balances: [
        { address: alice, amount: MAX },
        { address: bob, amount: '1' },
      ],
    });
    expect(error_of(outcome)).toBe('total supply must be below 2^128');
  });

  it('validates instantiate', () => {
    const base = { name: 'A', symbol: 'A', decimals: 6, initial_balances: [] };
    const cases: [unknown, string][] = [
      [{ ...base, name: '' }, 'name must be'],
      [{ ...base, symbol: 7 }, 'symbol must be'],
      [{ ...base, decimals: 19 }, 'decimals must be'],
      [{ ...base, decimals: 1.5 }, 'decimals must be'],
      [{ ...base, initial_balances: {} }, 'initial_balances must be an array'],
      [{ ...base, initial_balances: [{ address: 'x', amount: '1' }] }, 'address must be'],
    ];
    for (const [msg, message] of cases) {
      expect(error_of(new ContractHarness(contract_source('token')).instantiate(msg))).toContain(message);
    }
  });
});

describe('token viewing key gate', () => {
  it('answers every failure with one generic error', () => {
    const h = token([
      { address: alice, amount: '1000' },
      { address: carol, amount: '7' },
    ]);
    h.execute({ set_viewing_key: { key: 'alice-key-1' } }, alice);
    const failures = [
      balance(h, alice, 'wrong-key-1'), // wrong key
      balance(h, alice, ''), // empty key
      balance(h, alice, 'alice-key-'), // prefix of the key
      balance(h, alice, 'alice-key-12'), // key plus a character
      balance(h, carol, 'alice-key-1'), // holder without a key
      balance(h, bob, 'alice-key-1'), // address that never held tokens
      balance(h, 'short', 'alice-key-1'), // not even an address
    ];
    const messages = failures.map(error_of);
    expect(new Set(messages)).toEqual(new Set(['unauthorized']));
  });

  it('does the same work for an unknown address as for a wrong key', () => {
    const h = token([{ address: alice, amount: '1000' }]);
    h.execute({ set_viewing_key: { key: 'k'.repeat(20) } }, bob);
    h.execute({ set_viewing_key: { key: 'k'.repeat(20) } }, alice);
    // bob has a key but no balance; carol has neither. Same key length, same balance length.
    const wrong_key = balance(h, bob, 'x'.repeat(20));
    const no_account = balance(h, carol, 'x'.repeat(20));
    expect(error_of(wrong_key)).toBe(error_of(no_account));
  });

  it('create_viewing_key draws a key from ctx.random and it works', () => {
    const h = token();
    const created = data_of(h.execute({ create_viewing_key: {} }, alice)) as { key: string };
    expect(created.key).toMatch(/^api_key_[0-9a-f]{64}$/);
    expect(data_of(balance(h, alice, created.key))).toEqual({ amount: '1000' });
    const again = data_of(h.execute({ create_viewing_key: {} }, alice)) as { key: string };
    expect(again.key).not.toBe(created.key);
    expect(error_of(balance(h, alice, created.key))).toBe('unauthorized');
  });

  it('refuses keys that are too short or too long', () => {
    const h = token();
    expect(error_of(h.execute({ set_viewing_key: { key: 'short' } }, alice))).toContain(
      'viewing key must be',
    );
    expect(error_of(h.execute({ set_viewing_key: { key: 'k'.repeat(129) } }, alice))).toContain(
      'viewing key must be',
    );
    expect(error_of(balance(h, alice, 'k'.repeat(129)))).toBe('unauthorized');
  });

  it('keeps balances out of state keys and out of other accounts’ events', () => {
    const h = token();
    h.execute({ transfer: { recipient: bob, amount: '1' } }, alice);
    for (const [key] of h.storage.snapshot()) expect(key).not.toContain('1000');
  });
});
