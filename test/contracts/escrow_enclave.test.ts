/**
 * The escrow and token pair through the enclave (protocol.md §9): a buyer opens a deal with
 * native funds, which the escrow deposits into the token (a contract message carrying funds);
 * releasing it makes the escrow ask the token to transfer the units to the seller with a reply,
 * which marks the deal paid; the seller redeems the units for ucst (the token pays them out with
 * a send). Balances are checked at every step, and the deposit and redeem appear as public events.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PublicKeys } from '../../enclave/api.js';
import { InProcessEnclave } from '../../enclave/in_process.js';
import { find_code_root } from '../../enclave/measurement.js';
import { unwrap } from '../../enclave/result.js';
import type { LocalChain } from '../../node/store/local_chain.js';
import { from_base64, to_base64 } from '../../protocol/bytes.js';
import { ResultCode } from '../../protocol/codes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { open_result } from '../../protocol/result.js';
import { encrypt, new_chain, T0_MS, TestAccount, temp_home } from '../enclave/fixtures.js';

const p = get_provider('native');
const home = temp_home();
const enclave = new InProcessEnclave({ provider: 'native', platform_secret_file: home.secret });
const buyer = new TestAccount(p, 'escrow-buyer');
const seller = new TestAccount(p, 'escrow-seller');
let keys: PublicKeys;
let chain: LocalChain;

function code_of(name: string): string {
  return to_base64(new Uint8Array(readFileSync(join(find_code_root(), 'contracts', `${name}.js`))));
}

async function block(txs: string[]) {
  return chain.execute(enclave, txs, T0_MS + (chain.height() + 1) * 1000);
}

async function store(name: string): Promise<{ code_id: number; code_hash: string }> {
  const { output } = await block([buyer.tx({ type: 'store_code', code: code_of(name) })]);
  const r = output.results[0]!;
  expect(r.code).toBe(ResultCode.OK);
  return { code_id: r.code_id!, code_hash: r.code_hash! };
}

/** One encrypted call from `who`; answers the record and the decrypted result. */
async function call(
  who: TestAccount,
  target: { contract: string } | { code_id: number },
  code_hash: string,
  msg: unknown,
  funds = 0,
) {
  const e = encrypt(p, keys, code_hash, msg);
  const extra = funds > 0 ? { funds } : {};
  const tx =
    'contract' in target
      ? who.tx({ type: 'execute', contract: target.contract, scheme: 'gcm', payload: e.payload, ...extra })
      : who.tx({
          type: 'instantiate',
          code_id: target.code_id,
          label: 'x',
          scheme: 'gcm',
          payload: e.payload,
          ...extra,
        });
  const { output } = await block([tx]);
  const r = output.results[0]!;
  return {
    r,
    result:
      r.output === ''
        ? null
        : (open_result(p, 'gcm', e.tx_key, from_base64(r.output)) as Record<string, unknown>),
  };
}

beforeAll(async () => {
  keys = unwrap(await enclave.create_seed()).keys;
  chain = await new_chain(p, keys.measurement, [], { balances: { [buyer.address]: 1_000_000 } });
});

afterAll(async () => {
  await enclave.close();
  home.remove();
});

describe('escrow paying out through the token', () => {
  it('opens with funds, releases through a token transfer with a reply, and the seller redeems ucst', async () => {
    const token_code = await store('token');
    const escrow_code = await store('escrow');
    const token = (
      await call(buyer, token_code, token_code.code_hash, { name: 'Wrapped', symbol: 'WCST', decimals: 0 })
    ).r.contract!;
    const escrow = (await call(buyer, escrow_code, escrow_code.code_hash, { token })).r.contract!;

    const opened = await call(
      buyer,
      { contract: escrow },
      escrow_code.code_hash,
      { open: { seller: seller.address } },
      4_000,
    );
    expect(opened.r.code).toBe(ResultCode.OK);
    expect(opened.result!['data']).toEqual({ deal: 1 });
    // The funds went on to the token with the escrow's deposit message: it holds the ucst.
    expect(await chain.store.get_balance(escrow)).toBe(0);
    expect(await chain.store.get_balance(token)).toBe(4_000);
    expect(opened.r.events).toEqual([
      { type: 'deposit', attributes: [{ key: 'amount', value: '4000' }], contract: token },
    ]);

    // Only the buyer may release.
    const stolen = await call(seller, { contract: escrow }, escrow_code.code_hash, { release: { deal: 1 } });
    expect(stolen.r.code).toBe(ResultCode.CONTRACT_ERROR);

    const released = await call(buyer, { contract: escrow }, escrow_code.code_hash, { release: { deal: 1 } });
    expect(released.r.code).toBe(ResultCode.OK);
    const { result: status } = await call(seller, { contract: escrow }, escrow_code.code_hash, {
      refund: { deal: 1 },
    });
    expect(String(status!['error'])).toContain('deal 1 is paid');

    // The seller holds the units and redeems them for ucst, which the token sends.
    await call(seller, { contract: token }, token_code.code_hash, {
      set_viewing_key: { key: 'seller-key-1' },
    });
    const redeemed = await call(seller, { contract: token }, token_code.code_hash, {
      redeem: { amount: '4000' },
    });
    expect(redeemed.r.code).toBe(ResultCode.OK);
    expect(await chain.store.get_balance(seller.address)).toBe(4_000);
    expect(await chain.store.get_balance(token)).toBe(0);
    expect(await chain.store.get_balance(buyer.address)).toBe(1_000_000 - 4_000);
  });
});
