/**
 * contracts/escrow.js with contracts/token.js, and contracts/relay.js, at the VM level: each
 * call's messages as it returns them, run by hand here the way the executor runs them (the
 * executor's own tests run them for real).
 */
import { describe, expect, it } from 'vitest';
import type { CallOutcome, ContractMessage } from '../../enclave/vm/types.js';
import { address, ContractHarness, contract_source, data_of, error_of, reply_msg } from '../vm/harness.js';

const buyer = address('buyer');
const seller = address('seller');
const token_address = address('token');
const escrow_address = address('escrow');

function messages_of(outcome: CallOutcome): ContractMessage[] {
  if (outcome.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(outcome)}`);
  return outcome.messages;
}

/** Runs an execute message `from` sent, on `to`, as the executor would. */
function deliver(message: ContractMessage, from: ContractHarness, to: ContractHarness): CallOutcome {
  if (message.kind !== 'execute' || message.contract !== to.contract)
    throw new Error('not for this contract');
  return to.execute(JSON.parse(message.msg_json), from.contract, message.funds);
}

function setup() {
  const token = new ContractHarness(contract_source('token'));
  token.contract = token_address;
  expect(token.instantiate({ name: 'Wrapped', symbol: 'WCST', decimals: 6 }).kind).toBe('ok');
  expect(token.execute({ set_viewing_key: { key: 'seller-key' } }, seller).kind).toBe('ok');
  expect(token.execute({ set_viewing_key: { key: 'buyer-key' } }, buyer).kind).toBe('ok');
  const escrow = new ContractHarness(contract_source('escrow'));
  escrow.contract = escrow_address;
  expect(escrow.instantiate({ token: token_address }).kind).toBe('ok');
  return { token, escrow };
}

/** Opens a deal of `amount` and delivers the escrow's deposit into the token. */
function open_deal(token: ContractHarness, escrow: ContractHarness, amount: number): number {
  const opened = escrow.execute({ open: { seller } }, buyer, amount);
  const [deposit] = messages_of(opened);
  expect(deposit).toEqual({
    kind: 'execute',
    contract: token_address,
    msg_json: '{"deposit":{}}',
    funds: amount,
    reply: false,
  });
  expect(deliver(deposit!, escrow, token).kind).toBe('ok');
  return (data_of(opened) as { deal: number }).deal;
}

function units(token: ContractHarness, owner: string, key: string): string {
  return (data_of(token.query({ balance: { address: owner, key } })) as { amount: string }).amount;
}

describe('escrow', () => {
  it('takes a payment, deposits it into the token and pays the seller on release, settled by the reply', () => {
    const { token, escrow } = setup();
    const deal = open_deal(token, escrow, 500);
    expect(deal).toBe(1);
    expect(escrow.balance).toBe(0);
    expect(token.balance).toBe(500);
    expect(data_of(escrow.query({ deal: { id: deal } }))).toEqual({ status: 'open' });

    const release = escrow.execute({ release: { deal } }, buyer);
    expect(data_of(release)).toEqual({ status: 'releasing' });
    const [transfer] = messages_of(release);
    expect(transfer).toEqual({
      kind: 'execute',
      contract: token_address,
      msg_json: JSON.stringify({ transfer: { recipient: seller, amount: '500' } }),
      funds: 0,
      reply: true,
    });
    expect(data_of(escrow.query({ deal: { id: deal } }))).toEqual({ status: 'releasing' });

    const paid = deliver(transfer!, escrow, token);
    expect(paid.kind).toBe('ok');
    expect(units(token, seller, 'seller-key')).toBe('500');
    const settled = escrow.reply(paid, token_address);
    expect(data_of(settled)).toEqual({ deal: 1, status: 'paid' });
    expect(data_of(escrow.query({ deal: { id: deal } }))).toEqual({ status: 'paid' });
    // A paid deal cannot be paid again.
    expect(error_of(escrow.execute({ release: { deal } }, buyer))).toMatch(/^deal 1 is paid/);
  });

  it('reopens a deal whose transfer failed, so it can be retried', () => {
    const { token, escrow } = setup();
    const deal = open_deal(token, escrow, 300);
    const release = escrow.execute({ release: { deal } }, buyer);
    // The executor takes a failed transfer back and answers with its error.
    const settled = escrow.reply(
      { kind: 'error', gas_used: 1, message: 'insufficient funds', debug: [] },
      token_address,
    );
    expect(messages_of(release)).toHaveLength(1);
    expect(data_of(settled)).toEqual({ deal: 1, status: 'open' });
    if (settled.kind === 'ok')
      expect(settled.debug).toEqual([
        `escrow: payment for deal 1 failed: ${token_address}: insufficient funds`,
      ]);
    expect(data_of(escrow.query({ deal: { id: deal } }))).toEqual({ status: 'open' });
    const retry = escrow.execute({ release: { deal } }, buyer);
    expect(data_of(retry)).toEqual({ status: 'releasing' });
  });

  it('refunds the buyer when the seller asks', () => {
    const { token, escrow } = setup();
    const deal = open_deal(token, escrow, 80);
    expect(error_of(escrow.execute({ refund: { deal } }, buyer))).toMatch(/^only the seller can refund/);
    const refund = escrow.execute({ refund: { deal } }, seller);
    const [transfer] = messages_of(refund);
    expect(transfer).toMatchObject({
      msg_json: JSON.stringify({ transfer: { recipient: buyer, amount: '80' } }),
    });
    const done = deliver(transfer!, escrow, token);
    expect(data_of(escrow.reply(done, token_address))).toEqual({ deal: 1, status: 'refunded' });
    expect(units(token, buyer, 'buyer-key')).toBe('80');
  });

  it('refuses bad calls: no funds, wrong party, unknown deal, a reply not from the token', () => {
    const { token, escrow } = setup();
    expect(error_of(escrow.execute({ open: { seller } }, buyer))).toMatch(/^open needs funds/);
    expect(error_of(escrow.execute({ open: { seller: buyer } }, buyer, 5))).toMatch(
      /^buyer and seller must differ/,
    );
    expect(error_of(escrow.execute({ open: { seller: 'x' } }, buyer, 5))).toMatch(/^seller must be 40/);
    const deal = open_deal(token, escrow, 10);
    expect(error_of(escrow.execute({ release: { deal } }, seller))).toMatch(/^only the buyer can release/);
    expect(error_of(escrow.execute({ release: { deal: 7 } }, buyer))).toMatch(/^no deal 7/);
    expect(error_of(escrow.execute({ release: { deal } }, buyer, 3))).toMatch(/^only open takes funds/);
    expect(
      error_of(escrow.reply({ kind: 'error', gas_used: 0, message: 'x', debug: [] }, token_address)),
    ).toMatch(/^no payment is pending/);
    escrow.execute({ release: { deal } }, buyer);
    expect(error_of(escrow.reply({ kind: 'error', gas_used: 0, message: 'x', debug: [] }, buyer))).toMatch(
      /^only the token answers this escrow/,
    );
    expect(() => reply_msg({ kind: 'out_of_gas', gas_used: 1 }, token_address)).toThrow(/no reply/);
  });
});

const relay_a = address('relay-a');
const relay_b = address('relay-b');
const relay_c = address('relay-c');

function relay(at: string): ContractHarness {
  const h = new ContractHarness(contract_source('relay'));
  h.contract = at;
  expect(h.instantiate({}).kind).toBe('ok');
  return h;
}

describe('relay', () => {
  it('writes its key, emits a public event and forwards the rest of the chain', () => {
    const a = relay(relay_a);
    const b = relay(relay_b);
    const first = a.execute({ relay: { next: [relay_b, relay_c], write: 'seen', reply: true } }, buyer);
    expect(data_of(first)).toEqual({ remaining: 2 });
    expect(first).toMatchObject({
      events: [
        {
          type: 'relay',
          attributes: [
            { key: 'write', value: 'seen' },
            { key: 'remaining', value: '2' },
          ],
          public: true,
        },
      ],
      debug: [`relay ${relay_a} wrote seen remaining 2`],
    });
    const [forward] = messages_of(first);
    expect(forward).toEqual({
      kind: 'execute',
      contract: relay_b,
      msg_json: JSON.stringify({
        relay: { next: [relay_c], write: 'seen', fail_at_end: false, reply: true },
      }),
      funds: 0,
      reply: true,
    });
    expect(data_of(a.query({ get: { key: 'seen' } }))).toEqual({ value: buyer });
    // The next hop sees the relay as its sender.
    const second = deliver(forward!, a, b);
    expect(data_of(b.query({ get: { key: 'seen' } }))).toEqual({ value: relay_a });
    expect(messages_of(second)[0]).toMatchObject({ contract: relay_c });
  });

  it('fails at the end when asked, and a reply records the answer and recovers', () => {
    const c = relay(relay_c);
    const last = c.execute({ relay: { next: [], write: 'k', fail_at_end: true } }, relay_b);
    expect(error_of(last)).toMatch(/^relay failed at the end \(at line \d+, column \d+\)$/);
    expect(last).toMatchObject({ debug: [`relay ${relay_c} wrote k remaining 0`] });
    expect(data_of(c.query({ get: { key: 'k' } }))).toEqual({ value: null });

    const b = relay(relay_b);
    b.execute({ relay: { next: [relay_c], write: 'k', fail_at_end: true, reply: true } }, relay_a);
    const recovered = b.reply(last, relay_c);
    expect(data_of(recovered)).toEqual({ replied: 'error' });
    expect(data_of(b.query({ get: { key: 'reply' } }))).toEqual({
      value: `error: ${relay_c}: ${error_of(last)}`,
    });
    expect(data_of(b.reply(data_ok('{"remaining":0}'), relay_c))).toEqual({ replied: 'ok' });
    expect(data_of(b.query({ get: { key: 'reply' } }))).toEqual({ value: 'ok' });
  });

  it('can make its reply fail', () => {
    const b = relay(relay_b);
    const sent = b.execute(
      { relay: { next: [relay_c], write: 'k', reply: true, fail_reply: true } },
      relay_a,
    );
    expect(messages_of(sent)[0]).toMatchObject({
      msg_json: JSON.stringify({
        relay: { next: [], write: 'k', fail_at_end: false, reply: true, fail_reply: true },
      }),
    });
    expect(error_of(b.reply(data_ok('null'), relay_c))).toMatch(/^reply failed/);
  });

  it('builds a depth chain by calling itself', () => {
    const a = relay(relay_a);
    const top = a.execute({ depth: 9 }, buyer);
    expect(data_of(top)).toEqual({ depth: 9 });
    expect(messages_of(top)).toEqual([
      { kind: 'execute', contract: relay_a, msg_json: '{"depth":8}', funds: 0, reply: false },
    ]);
    expect(data_of(a.query({ get: { key: 'depth/9' } }))).toEqual({ value: buyer });
    expect(messages_of(a.execute({ depth: 1 }, relay_a))).toEqual([]);
    expect(error_of(a.execute({ depth: 0 }, buyer))).toMatch(/^depth must be an integer/);
  });

  it('pays native tokens from its balance, and keeps funds sent to it', () => {
    const a = relay(relay_a);
    expect(a.execute({ depth: 1 }, buyer, 1_000).kind).toBe('ok');
    expect(data_of(a.query({ balance: {} }))).toEqual({ balance: 1_000 });
    const paid = a.execute({ pay: { to: seller, amount: 400 } }, buyer);
    expect(messages_of(paid)).toEqual([{ kind: 'send', to: seller, amount: 400 }]);
    expect(a.balance).toBe(600);
    expect(error_of(a.execute({ pay: { to: seller, amount: 0 } }, buyer))).toContain(
      'send amount must be a positive',
    );
    expect(error_of(a.execute({ fail: { message: 'no' } }, buyer))).toMatch(/^no \(at line/);
  });
});

function data_ok(data_json: string): CallOutcome {
  return { kind: 'ok', gas_used: 1, data_json, events: [], messages: [], debug: [] };
}
