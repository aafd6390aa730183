/**
 * Balances are conserved (protocol.md §9): over random blocks of sends, fees at random prices,
 * funds, contract payouts, nested contract messages with and without `reply`, and failures at any
 * depth, the sum of every balance (accounts, contracts, the fee pool, addresses that never
 * signed) stays what genesis gave. Randomized: the seed is printed; replay one with
 * `CONSERVATION_SEED=<seed> npx vitest run test/enclave/conservation.test.ts`.
 */

import { afterAll, beforeAll, expect, test } from 'vitest';
import type { PublicKeys } from '../../enclave/api.js';
import { InProcessEnclave } from '../../enclave/in_process.js';
import { unwrap } from '../../enclave/result.js';
import { fee_pool_address } from '../../protocol/bank.js';
import { to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import type { TxMsg } from '../../protocol/tx.js';
import { SeededRng } from '../../sim/run/rng.js';
import { encrypt, new_chain, T0_MS, TestAccount, temp_home } from './fixtures.js';

const p = get_provider('native');
const home = temp_home();
const enclave = new InProcessEnclave({ provider: 'native', platform_secret_file: home.secret });
let keys: PublicKeys;

const SEED = Number(process.env['CONSERVATION_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const BLOCKS = 12;

/** Runs `steps`: payouts, calls (with funds, maybe asking for a reply) and failures, in order. */
const BANK = `
export function instantiate(ctx, msg) { return null; }
function run(ctx, steps) {
  for (const step of steps) {
    if (step.pay) ctx.send(step.pay.to, step.pay.amount);
    if (step.call) ctx.execute(step.call.contract, { steps: step.call.steps }, { funds: step.call.funds, reply: step.call.reply });
    if (step.fail) throw new Error('asked to fail');
  }
}
export function execute(ctx, msg) { run(ctx, msg.steps); return null; }
export function reply(ctx, msg) { if ('error' in msg && msg.error.length % 3 === 0) throw new Error('reply gives up'); return null; }
`;

beforeAll(async () => {
  keys = unwrap(await enclave.create_seed()).keys;
});

afterAll(async () => {
  await enclave.close();
  home.remove();
});

test(`the sum of all balances never changes after genesis (seed ${SEED})`, async () => {
  const rng = new SeededRng(SEED, 'conservation');
  const accounts = Array.from({ length: 4 }, (_, i) => new TestAccount(p, `conservation-${SEED}-${i}`));
  const strangers = Array.from({ length: 3 }, (_, i) => to_hex(p.sha256(utf8(`stranger ${i}`))).slice(0, 40));
  const genesis: Record<string, number> = {};
  // Enough for the setup below (fees of 2,000,000 gas at price 1, funds up to 100,000).
  for (const a of accounts) genesis[a.address] = rng.int(5_000_000, 50_000_000);
  const total = Object.values(genesis).reduce((x, y) => x + y, 0);
  const chain = await new_chain(p, keys.measurement, [], { balances: genesis, min_gas_price: 1 });
  let time_ms = T0_MS;
  const block = (txs: string[]) => {
    time_ms += 1000;
    return chain.execute(enclave, txs, time_ms);
  };

  const stored = await block([
    accounts[0]!.tx({ type: 'store_code', code: to_base64(utf8(BANK)) }, { gas_price: 1 }),
  ]);
  const code_id = stored.output.results[0]!.code_id!;
  const code_hash = stored.output.results[0]!.code_hash!;
  const made = await block(
    [1, 2, 3].map((i) => {
      const e = encrypt(p, keys, code_hash, {});
      const funds = rng.int(0, 100_000);
      return accounts[i]!.tx(
        {
          type: 'instantiate',
          code_id,
          label: `bank${i}`,
          scheme: 'gcm',
          payload: e.payload,
          ...(funds > 0 ? { funds } : {}),
        },
        { gas_price: 1 },
      );
    }),
  );
  const contracts = made.output.results.flatMap((r) => (r.contract === undefined ? [] : [r.contract]));
  expect(contracts.length).toBe(3);
  const everyone = [...accounts.map((a) => a.address), ...contracts, ...strangers, fee_pool_address(p)];
  const anyone = () => everyone[rng.int(0, everyone.length - 1)]!;

  /** Random steps, nested at most `depth` more calls deep. */
  const steps = (depth: number): unknown[] =>
    Array.from({ length: rng.int(0, 3) }, () => {
      const kind = rng.int(0, 9);
      if (kind < 4) return { pay: { to: anyone(), amount: rng.int(1, 60_000) } };
      if (kind < 8 && depth > 0) {
        return {
          call: {
            contract: contracts[rng.int(0, contracts.length - 1)],
            steps: steps(depth - 1),
            funds: rng.chance(0.5) ? rng.int(0, 40_000) : 0,
            reply: rng.chance(0.5),
          },
        };
      }
      return rng.chance(0.3) ? { fail: true } : { pay: { to: anyone(), amount: rng.int(1, 1_000) } };
    });

  const codes = new Map<number, number>();
  for (let b = 0; b < BLOCKS; b++) {
    const txs: string[] = [];
    for (const a of accounts) a.sequence = await chain.store.get_account_sequence(a.address);
    for (let t = rng.int(1, 6); t > 0; t--) {
      const from = accounts[rng.int(0, accounts.length - 1)]!;
      const gas = { gas_price: rng.int(0, 3), gas_limit: rng.int(40_000, 600_000) };
      let msg: TxMsg;
      if (rng.chance(0.4)) {
        msg = { type: 'send', to: anyone(), amount: rng.int(1, 20_000_000) };
      } else {
        const e = encrypt(p, keys, code_hash, { steps: steps(3) });
        const funds = rng.chance(0.5) ? rng.int(1, 5_000_000) : 0;
        const contract = contracts[rng.int(0, contracts.length - 1)]!;
        msg = {
          type: 'execute',
          contract,
          scheme: 'gcm',
          payload: e.payload,
          ...(funds > 0 ? { funds } : {}),
        };
      }
      txs.push(from.tx(msg, gas));
    }
    const { output } = await block(txs);
    for (const r of output.results) codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
    let sum = 0;
    for (const address of everyone) sum += await chain.store.get_balance(address);
    expect(sum, `seed ${SEED}, block ${b}: balances sum to ${sum}, genesis gave ${total}`).toBe(total);
  }
  console.log(`conservation seed ${SEED}: result codes ${JSON.stringify(Object.fromEntries(codes))}`);
  // The run reached the interesting cases, not only refusals.
  expect(codes.get(0) ?? 0, `seed ${SEED}`).toBeGreaterThan(0);
});
