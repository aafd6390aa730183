import { describe, expect, it } from 'vitest';
import { address, at, ContractHarness, contract_source, data_of, error_of } from '../vm/harness.js';

const alice = address('alice');
const bob = address('bob');
const carol = address('carol');
const MAX = ((1n << 128n) - 1n).toString();
const source = contract_source('token');
/** Every failed balance query answers this, from one throw statement. */
const UNAUTHORIZED = `unauthorized${at(source, 'throw new Error(UNAUTHORIZED)')}`;
/** A contract error thrown by the statement at the `occurrence`th `snippet`. */
const thrown = (message: string, snippet: string, occurrence = 1) =>
  `${message}${at(source, snippet, occurrence)}`;

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
      // The transfer's check (the first is redeem's).
      thrown('insufficient funds', "throw new Error('insufficient funds')", 2),
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
    expect(error_of(outcome)).toBe(
      thrown('total supply must be below 2^128', "throw new Error('total supply"),
    );
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
    expect(new Set(messages)).toEqual(new Set([UNAUTHORIZED]));
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
    expect(error_of(balance(h, alice, created.key))).toBe(UNAUTHORIZED);
  });

  it('refuses keys that are too short or too long', () => {
    const h = token();
    expect(error_of(h.execute({ set_viewing_key: { key: 'short' } }, alice))).toContain(
      'viewing key must be',
    );
    expect(error_of(h.execute({ set_viewing_key: { key: 'k'.repeat(129) } }, alice))).toContain(
      'viewing key must be',
    );
    expect(error_of(balance(h, alice, 'k'.repeat(129)))).toBe(UNAUTHORIZED);
  });

  it('keeps balances out of state keys and out of other accounts’ events', () => {
    const h = token();
    h.execute({ transfer: { recipient: bob, amount: '1' } }, alice);
    for (const [key] of h.storage.snapshot()) expect(key).not.toContain('1000');
  });
});

describe('token deposits and redemptions of the native token', () => {
  const key = 'alice-key-1';

  function funded(): ContractHarness {
    const h = token([]);
    h.execute({ set_viewing_key: { key } }, alice);
    return h;
  }

  it('mints one unit per ucst deposited to the sender, with a public event', () => {
    const h = funded();
    const outcome = h.execute({ deposit: {} }, alice, 250);
    expect(outcome).toMatchObject({
      kind: 'ok',
      data_json: '{"status":"ok"}',
      events: [{ type: 'deposit', attributes: [{ key: 'amount', value: '250' }], public: true }],
      messages: [],
    });
    expect(h.execute({ deposit: {} }, alice, 50).kind).toBe('ok');
    expect(data_of(balance(h, alice, key))).toEqual({ amount: '300' });
    expect(data_of(h.query({ token_info: {} }))).toMatchObject({ total_supply: '300' });
    expect(h.balance).toBe(300);
  });

  it('accepts the largest native amount exactly', () => {
    const h = funded();
    expect(h.execute({ deposit: {} }, alice, Number.MAX_SAFE_INTEGER).kind).toBe('ok');
    expect(data_of(balance(h, alice, key))).toEqual({ amount: String(Number.MAX_SAFE_INTEGER) });
  });

  it('refuses a deposit without funds, and funds with any other message', () => {
    const h = funded();
    expect(error_of(h.execute({ deposit: {} }, alice))).toMatch(/^deposit needs funds/);
    expect(error_of(h.execute({ transfer: { recipient: bob, amount: '1' } }, alice, 5))).toMatch(
      /^this message takes no funds; send them with deposit/,
    );
    expect(error_of(h.execute({ redeem: { amount: '1' } }, alice, 5))).toMatch(
      /^this message takes no funds/,
    );
    const fresh = new ContractHarness(source);
    expect(error_of(fresh.instantiate({ name: 'A', symbol: 'A', decimals: 0 }, alice, 5))).toMatch(
      /^this message takes no funds/,
    );
    expect(h.balance).toBe(0);
  });

  it('redeems by burning units and sending the ucst back after the call', () => {
    const h = funded();
    h.execute({ deposit: {} }, alice, 1_000);
    const outcome = h.execute({ redeem: { amount: '400' } }, alice);
    expect(outcome).toMatchObject({
      kind: 'ok',
      data_json: '{"status":"ok"}',
      events: [{ type: 'redeem', attributes: [{ key: 'amount', value: '400' }], public: true }],
      messages: [{ kind: 'send', to: alice, amount: 400 }],
    });
    expect(data_of(balance(h, alice, key))).toEqual({ amount: '600' });
    expect(data_of(h.query({ token_info: {} }))).toMatchObject({ total_supply: '600' });
    expect(h.balance).toBe(600);
  });

  it('lets units moved by a private transfer be redeemed by their new holder', () => {
    const h = funded();
    h.execute({ deposit: {} }, alice, 100);
    const transfer = h.execute({ transfer: { recipient: bob, amount: '60' } }, alice);
    expect(transfer).toMatchObject({ kind: 'ok', messages: [] });
    // The transfer's event stays private.
    if (transfer.kind === 'ok') expect(transfer.events[0]).not.toHaveProperty('public');
    expect(h.execute({ redeem: { amount: '60' } }, bob)).toMatchObject({
      kind: 'ok',
      messages: [{ kind: 'send', to: bob, amount: 60 }],
    });
  });

  it('refuses to redeem more than the sender holds or the contract has, changing nothing', () => {
    // Units minted at instantiation are not backed by ucst in the contract.
    const h = token([{ address: alice, amount: '1000' }]);
    h.execute({ deposit: {} }, bob, 10);
    const before = h.storage.snapshot();
    expect(error_of(h.execute({ redeem: { amount: '11' } }, alice))).toMatch(
      /^the contract holds only 10 ucst/,
    );
    expect(error_of(h.execute({ redeem: { amount: '11' } }, bob))).toMatch(
      /^the contract holds only 10 ucst/,
    );
    expect(error_of(h.execute({ redeem: { amount: '10' } }, carol))).toMatch(/^insufficient funds/);
    expect(error_of(h.execute({ redeem: { amount: '0' } }, bob))).toMatch(/^amount must be positive/);
    expect(error_of(h.execute({ redeem: { amount: MAX } }, alice))).toMatch(/^the contract holds only/);
    expect(error_of(h.execute({ redeem: { amount: 5 } }, bob))).toMatch(/^amount must be a decimal string/);
    expect(h.storage.snapshot()).toEqual(before);
    expect(h.execute({ redeem: { amount: '10' } }, alice)).toMatchObject({
      kind: 'ok',
      messages: [{ kind: 'send', to: alice, amount: 10 }],
    });
  });
});
