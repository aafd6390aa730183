import { describe, expect, it } from 'vitest';
import type { CallOutcome } from '../../enclave/vm/types.js';
import { address, at, ContractHarness, contract_source, data_of, error_of } from '../vm/harness.js';

const AUCTION = contract_source('auction');

const creator = address('creator');
const alice = address('alice');
const bob = address('bob');
const carol = address('carol');

function auction(extra: Record<string, unknown> = {}) {
  const h = new ContractHarness(contract_source('auction'));
  h.height = 10;
  expect(h.instantiate({ item: 'painting', close_height: 20, ...extra }, creator).kind).toBe('ok');
  return h;
}

/** Everything a call shows anyone but the contract: data, events or error text. */
function visible(outcome: CallOutcome): string {
  return JSON.stringify(outcome);
}

describe('auction', () => {
  it('reveals the highest bid and its bidder only at close', () => {
    const h = auction();
    const bids: [string, string][] = [
      [alice, '4821'],
      [bob, '9377'],
      [carol, '5113'],
    ];
    const seen: string[] = [];
    for (const [bidder, amount] of bids) {
      const outcome = h.execute({ bid: { amount } }, bidder);
      expect(outcome.kind).toBe('ok');
      seen.push(visible(outcome));
      seen.push(visible(h.query({ status: {} })));
      seen.push(visible(h.query({ result: {} })));
    }
    for (const text of seen) for (const [, amount] of bids) expect(text).not.toContain(amount);
    expect(error_of(h.query({ result: {} }))).toBe(
      `the auction is still open${at(AUCTION, "throw new Error('the auction is still open')")}`,
    );

    h.height = 20;
    const closed = h.execute({ close: {} }, creator);
    expect(data_of(closed)).toEqual({ winner: bob, price: '9377', bid_count: 3 });
    expect(closed).toMatchObject({
      events: [
        {
          type: 'auction_closed',
          attributes: [
            { key: 'winner', value: bob },
            { key: 'price', value: '9377' },
            { key: 'bid_count', value: '3' },
          ],
        },
      ],
    });
    expect(data_of(h.query({ result: {} }))).toEqual({ winner: bob, price: '9377', bid_count: 3 });
    expect(data_of(h.query({ status: {} }))).toMatchObject({ closed: true, bid_count: 3 });
  });

  it('breaks ties for the earlier bid', () => {
    const h = auction();
    h.execute({ bid: { amount: '100' } }, carol);
    h.execute({ bid: { amount: '100' } }, alice);
    h.execute({ bid: { amount: '99' } }, bob);
    h.height = 25;
    expect(data_of(h.execute({ close: {} }, creator))).toEqual({ winner: carol, price: '100', bid_count: 3 });
  });

  it('may close after max_bids before the close height', () => {
    const h = auction({ max_bids: 2 });
    expect(error_of(h.execute({ close: {} }, creator))).toContain('may close at height 20 or after 2 bids');
    h.execute({ bid: { amount: '5' } }, alice);
    h.execute({ bid: { amount: '6' } }, bob);
    expect(error_of(h.execute({ bid: { amount: '7' } }, carol))).toBe(
      `no more bids are accepted${at(AUCTION, "throw new Error('no more bids are accepted')")}`,
    );
    expect(data_of(h.execute({ close: {} }, creator))).toEqual({ winner: bob, price: '6', bid_count: 2 });
  });

  it('closes with no winner when nobody bid', () => {
    const h = auction();
    h.height = 20;
    expect(data_of(h.execute({ close: {} }, creator))).toEqual({ winner: null, price: null, bid_count: 0 });
  });

  it('refuses bad bids and bad closes', () => {
    const h = auction({ min_bid: '10' });
    expect(error_of(h.execute({ bid: { amount: '9' } }, alice))).toBe(
      `bid must be at least 10${at(AUCTION, 'throw new Error(`bid must be at least')}`,
    );
    expect(error_of(h.execute({ bid: { amount: '-5' } }, alice))).toContain('only digits');
    expect(error_of(h.execute({ bid: { amount: '10' } }, creator))).toBe(
      `the creator may not bid${at(AUCTION, "throw new Error('the creator may not bid')")}`,
    );
    expect(h.execute({ bid: { amount: '10' } }, alice).kind).toBe('ok');
    expect(error_of(h.execute({ bid: { amount: '11' } }, alice))).toBe(
      `this address has already bid${at(AUCTION, "throw new Error('this address has already bid')")}`,
    );
    expect(error_of(h.execute({ close: {} }, alice))).toBe(
      `only the creator may close the auction${at(AUCTION, "throw new Error('only the creator may close the auction')")}`,
    );
    expect(error_of(h.execute({ close: {} }, creator))).toContain('may close at height 20');
    h.height = 20;
    expect(error_of(h.execute({ bid: { amount: '50' } }, bob))).toBe(
      `bidding ended at height 20${at(AUCTION, 'throw new Error(`bidding ended at height')}`,
    );
    expect(h.execute({ close: {} }, creator).kind).toBe('ok');
    expect(error_of(h.execute({ close: {} }, creator))).toBe(
      `auction is already closed${at(AUCTION, "throw new Error('auction is already closed')")}`,
    );
    expect(error_of(h.execute({ bid: { amount: '50' } }, bob))).toBe(
      `auction is closed${at(AUCTION, "throw new Error('auction is closed')")}`,
    );
    expect(error_of(h.execute({ withdraw: {} }, bob))).toContain('unknown execute message');
  });

  it('validates instantiate', () => {
    const cases: [unknown, string][] = [
      [{ item: '', close_height: 20 }, 'item must be'],
      [{ item: 'x', close_height: 10 }, 'close_height must be'],
      [{ item: 'x', close_height: 20, max_bids: 0 }, 'max_bids must be'],
      [{ item: 'x', close_height: 20, min_bid: '1.0' }, 'min_bid must contain only digits'],
    ];
    for (const [msg, message] of cases) {
      const h = new ContractHarness(contract_source('auction'));
      expect(error_of(h.instantiate(msg, creator))).toContain(message);
    }
  });

  it('rewrites the leading-bid entry with a same-sized value on every bid', () => {
    const h = auction();
    const sizes: number[] = [];
    const values = new Set<string>();
    for (const [bidder, amount] of [
      [alice, '5'],
      [bob, '1'],
      [carol, '123456789012345678901234567890'],
    ] as const) {
      h.execute({ bid: { amount } }, bidder);
      const lead = h.storage.committed.get('lead')!;
      sizes.push(lead.length);
      values.add(lead);
    }
    expect(new Set(sizes).size).toBe(1);
    expect(values.size).toBe(3);
  });
});
