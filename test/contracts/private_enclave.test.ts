/**
 * The private contracts end to end: stored, instantiated and called through an enclave with
 * encrypted messages, results decrypted by their senders, and the host's view (block outputs and
 * stored state) checked to hold no bid amount, balance or viewing key in any encoding.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PublicKeys } from '../../enclave/api.js';
import { InProcessEnclave } from '../../enclave/in_process.js';
import { find_code_root } from '../../enclave/measurement.js';
import { unwrap } from '../../enclave/result.js';
import type { LocalChain } from '../../node/store/local_chain.js';
import { from_base64, to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { ResultCode } from '../../protocol/codes.js';
import type { Scheme } from '../../protocol/envelope.js';
import { get_provider } from '../../protocol/providers/index.js';
import { open_result } from '../../protocol/result.js';
import { commit_block, encrypt, new_chain, T0_MS, TestAccount, temp_home } from '../enclave/fixtures.js';

const p = get_provider('native');
const home = temp_home();
const enclave = new InProcessEnclave({ provider: 'native', platform_secret_file: home.secret });
let keys: PublicKeys;
let chain: LocalChain;
const host_view: unknown[] = [];
/** Every contract made, whose stored state the host view includes. */
const contracts: string[] = [];

function code_of(name: string): string {
  return to_base64(new Uint8Array(readFileSync(join(find_code_root(), 'contracts', `${name}.js`))));
}

/** Sends one encrypted execute/instantiate and returns the decrypted result. */
async function call(
  from: TestAccount,
  msg: { type: 'execute'; contract: string } | { type: 'instantiate'; code_id: number },
  code_hash: string,
  body: unknown,
  scheme: Scheme = 'gcm',
) {
  const e = encrypt(p, keys, code_hash, body, { scheme });
  const tx =
    msg.type === 'execute'
      ? from.tx({ type: 'execute', contract: msg.contract, scheme, payload: e.payload })
      : from.tx({
          type: 'instantiate',
          code_id: msg.code_id,
          label: `l${from.sequence}`,
          scheme,
          payload: e.payload,
        });
  const { output } = await commit_block(enclave, chain, [tx]);
  host_view.push(output);
  const r = output.results[0]!;
  if (r.contract !== undefined) contracts.push(r.contract);
  return {
    code: r.code,
    contract: r.contract,
    result: r.output === '' ? null : open_result(p, scheme, e.tx_key, from_base64(r.output)),
  };
}

async function query(address: string, code_hash: string, body: unknown, scheme: Scheme = 'siv') {
  const e = encrypt(p, keys, code_hash, body, { scheme });
  const answer = unwrap(await enclave.query((await chain.query_input(address, scheme, e.payload, T0_MS))!));
  host_view.push(answer);
  return open_result(p, scheme, e.tx_key, from_base64(answer.output));
}

async function store(from: TestAccount, name: string): Promise<{ code_id: number; code_hash: string }> {
  const { output } = await commit_block(enclave, chain, [
    from.tx({ type: 'store_code', code: code_of(name) }),
  ]);
  const r = output.results[0]!;
  expect(r.code).toBe(ResultCode.OK);
  return { code_id: r.code_id!, code_hash: r.code_hash! };
}

async function expect_hidden_from_host(secrets: string[]): Promise<void> {
  const state = await Promise.all(contracts.map(async (a) => [a, await chain.contract_state(a)]));
  const seen = JSON.stringify(host_view) + JSON.stringify(state);
  for (const secret of secrets) {
    // The plain form as a token of its own: a short number also turns up inside a hash or a
    // base64 run by chance, which reveals nothing.
    const token = new RegExp(
      `(?<![0-9A-Za-z+/])${secret.replace(/[^0-9A-Za-z]/g, '\\$&')}(?![0-9A-Za-z+/=])`,
    );
    expect(seen).not.toMatch(token);
    for (const form of [to_hex(utf8(secret)), to_base64(utf8(secret))]) expect(seen).not.toContain(form);
  }
}

beforeAll(async () => {
  const measurement = unwrap(await enclave.measurement());
  keys = unwrap(await enclave.create_seed()).keys;
  chain = await new_chain(p, measurement);
});

afterAll(async () => {
  await enclave.close();
  home.remove();
});

describe('token through the enclave', () => {
  it('transfers privately and shows balances only with the viewing key', async () => {
    const alice = new TestAccount(p, 'tok-alice');
    const bob = new TestAccount(p, 'tok-bob');
    const { code_id, code_hash } = await store(alice, 'token');
    const init = await call(alice, { type: 'instantiate', code_id }, code_hash, {
      name: 'Shade',
      symbol: 'SHD',
      decimals: 6,
      initial_balances: [{ address: alice.address, amount: '7340001' }],
    });
    expect(init.code).toBe(ResultCode.OK);
    const token = init.contract!;
    const sent = await call(
      bob,
      { type: 'execute', contract: token },
      code_hash,
      { transfer: { recipient: alice.address, amount: '1' } },
      'siv',
    );
    expect(sent.code).toBe(ResultCode.CONTRACT_ERROR); // bob has nothing to send
    expect(sent.result).toHaveProperty('error');
    expect(
      (
        await call(alice, { type: 'execute', contract: token }, code_hash, {
          transfer: { recipient: bob.address, amount: '2913577' },
        })
      ).code,
    ).toBe(ResultCode.OK);
    expect(
      (
        await call(bob, { type: 'execute', contract: token }, code_hash, {
          set_viewing_key: { key: 'vk-bob-5be2c1' },
        })
      ).code,
    ).toBe(ResultCode.OK);
    expect(
      await query(token, code_hash, { balance: { address: bob.address, key: 'vk-bob-5be2c1' } }),
    ).toMatchObject({
      data: { amount: '2913577' },
    });
    const wrong = await query(token, code_hash, { balance: { address: bob.address, key: 'guess' } });
    const nobody = await query(token, code_hash, { balance: { address: 'ab'.repeat(20), key: 'guess' } });
    expect(wrong).toHaveProperty('error');
    expect(nobody).toEqual(wrong); // the same answer whether or not the account exists
    await expect_hidden_from_host(['7340001', '2913577', '4426424', 'vk-bob-5be2c1']);
  });
});

describe('sealed-bid auction through the enclave', () => {
  it('keeps bids sealed until the creator closes, then reveals the winner', async () => {
    const creator = new TestAccount(p, 'auc-creator');
    const bidders = ['auc-b1', 'auc-b2', 'auc-b3'].map((label) => new TestAccount(p, label));
    const { code_id, code_hash } = await store(creator, 'auction');
    const close_height = chain.height() + 6;
    const init = await call(creator, { type: 'instantiate', code_id }, code_hash, {
      item: 'painting',
      close_height,
    });
    expect(init.code).toBe(ResultCode.OK);
    const auction = init.contract!;
    const amounts = ['51770', '86613', '62298'];
    for (const [i, bidder] of bidders.entries()) {
      const bid = await call(bidder, { type: 'execute', contract: auction }, code_hash, {
        bid: { amount: amounts[i] },
      });
      expect(bid.code).toBe(ResultCode.OK);
      expect(JSON.stringify(bid.result)).not.toContain(amounts[i]);
    }
    expect(await query(auction, code_hash, { result: {} })).toHaveProperty('error');
    await expect_hidden_from_host(amounts);
    // Too early to close.
    expect((await call(creator, { type: 'execute', contract: auction }, code_hash, { close: {} })).code).toBe(
      ResultCode.CONTRACT_ERROR,
    );
    while (chain.height() < close_height) await commit_block(enclave, chain, []);
    const closed = await call(creator, { type: 'execute', contract: auction }, code_hash, { close: {} });
    expect(closed.result).toMatchObject({
      data: { winner: bidders[1]!.address, price: '86613', bid_count: 3 },
    });
    expect(await query(auction, code_hash, { result: {} })).toMatchObject({
      data: { winner: bidders[1]!.address, price: '86613' },
    });
  });
});
