/**
 * The mempool under protocol.md §9: a gas price under the minimum and a fee the sender cannot pay
 * (with its pending transactions' fees) are refused at submission with code 8; blocks are filled
 * only with fees that can be paid, so declared-but-unpaid gas does not crowd others out; a signer
 * learns its next sequence.
 */

import { describe, expect, it } from 'vitest';
import { Mempool } from '../../node/mempool.js';
import { get_provider } from '../../protocol/providers/index.js';
import { CHAIN_ID, TestAccount } from '../enclave/fixtures.js';

const p = get_provider('native');
const LIMITS = {
  txs_max: 100,
  bytes_max: 1 << 20,
  per_account_max: 10,
  tx_bytes_max: 1 << 16,
  gas_limit_max: 10_000_000,
};
const TO = 'cd'.repeat(20);

function make(min_gas_price: number) {
  const balances = new Map<string, number>();
  const sequences = new Map<string, number>();
  const mempool = new Mempool(
    { chain_id: CHAIN_ID, limits: LIMITS, min_gas_price },
    {
      p,
      committed_sequence: async (a) => sequences.get(a) ?? 0,
      committed_balance: async (a) => balances.get(a) ?? 0,
    },
  );
  return { mempool, balances, sequences };
}

describe('Mempool fees (protocol.md §9)', () => {
  it('refuses a gas price under the minimum with code 8', async () => {
    const { mempool, balances } = make(5);
    const a = new TestAccount(p, 'fees-a');
    balances.set(a.address, 10 ** 9);
    const low = await mempool.add(a.tx({ type: 'send', to: TO, amount: 1 }, { gas_price: 4, sequence: 0 }));
    expect(low).toMatchObject({ ok: false, code: 8 });
    expect((low as { message: string }).message).toContain('min_gas_price 5');
    expect(
      await mempool.add(a.tx({ type: 'send', to: TO, amount: 1 }, { gas_price: 5, sequence: 0 })),
    ).toMatchObject({ ok: true });
  });

  it('refuses a fee the balance cannot pay once the pending fees are counted', async () => {
    const { mempool, balances } = make(1);
    const a = new TestAccount(p, 'fees-b');
    balances.set(a.address, 250_000);
    const tx = (sequence: number) =>
      a.tx({ type: 'send', to: TO, amount: 1 }, { gas_price: 1, gas_limit: 100_000, sequence });
    expect(await mempool.add(tx(0))).toMatchObject({ ok: true });
    expect(await mempool.add(tx(1))).toMatchObject({ ok: true });
    const third = await mempool.add(tx(2));
    expect(third).toMatchObject({ ok: false, code: 8 });
    expect(mempool.size()).toBe(2);
  });

  it('reaps only gas whose fee can be paid, so an unfunded sender does not crowd a block', async () => {
    const { mempool, balances } = make(0);
    const rich = new TestAccount(p, 'fees-rich');
    const poor = new TestAccount(p, 'fees-poor');
    balances.set(rich.address, 10 ** 9);
    balances.set(poor.address, 1_000_000);
    // The poor account pays for its first transaction; a later drop in its balance (it spent
    // elsewhere) leaves the rest of its run unpaid.
    expect(
      await mempool.add(
        poor.tx({ type: 'send', to: TO, amount: 1 }, { gas_price: 1, gas_limit: 900_000, sequence: 0 }),
      ),
    ).toMatchObject({ ok: true });
    expect(
      await mempool.add(
        rich.tx({ type: 'send', to: TO, amount: 1 }, { gas_price: 1, gas_limit: 900_000, sequence: 0 }),
      ),
    ).toMatchObject({ ok: true });
    balances.set(poor.address, 10);
    await mempool.update([]);
    const reaped = mempool.reap({ txs_max: 10, bytes_max: 1 << 20, gas_max: 1_000_000 });
    // Only the rich sender's gas fits: the poor one's 900,000 gas would have filled the block.
    expect(reaped).toHaveLength(1);
    expect(JSON.parse(reaped[0]!).body.sender).toBe(rich.pubkey);
  });

  it('at gas price 0 needs no balance (v1 clients keep working)', async () => {
    const { mempool } = make(0);
    const a = new TestAccount(p, 'fees-free');
    expect(await mempool.add(a.tx({ type: 'send', to: TO, amount: 1 }, { sequence: 0 }))).toMatchObject({
      ok: true,
    });
    expect(mempool.reap({ txs_max: 10, bytes_max: 1 << 20, gas_max: 10_000_000 })).toHaveLength(1);
  });

  it('tells a signer its next sequence: committed plus pending', async () => {
    const { mempool, sequences } = make(0);
    const a = new TestAccount(p, 'fees-seq');
    sequences.set(a.address, 3);
    expect(await mempool.next_sequence(a.address)).toBe(3);
    expect(await mempool.add(a.tx({ type: 'send', to: TO, amount: 1 }, { sequence: 3 }))).toMatchObject({
      ok: true,
    });
    expect(await mempool.next_sequence(a.address)).toBe(4);
  });
});
