/**
 * The stream ACL and the key keeper through the enclave (protocol.md §9): every grant and revoke
 * of the ACL sends the keeper an acl_update in the same transaction, so a subscriber the owner
 * adds while offline gets the group key from the keeper alone; a revoke closes it from that
 * height; an expiry closes it by block time; a subscriber gets no key set before its grant; a
 * second ACL contract's updates land in their own namespace. Both contracts run from empty
 * state (their instantiate does nothing), as at genesis.
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
const owner = new TestAccount(p, 'stream-owner');
const sub = new TestAccount(p, 'stream-subscriber');
const late = new TestAccount(p, 'stream-late');
const mallory = new TestAccount(p, 'stream-mallory');
let keys: PublicKeys;
let chain: LocalChain;
const group_key = (n: number) => Buffer.alloc(32, n).toString('base64');

interface Deployed {
  contract: string;
  code_hash: string;
}

function code_of(name: string): string {
  return to_base64(new Uint8Array(readFileSync(join(find_code_root(), 'contracts', `${name}.js`))));
}

/** The block time of the next block. */
const next_time = () => T0_MS + (chain.height() + 1) * 1000;

async function block(txs: string[]) {
  return chain.execute(enclave, txs, next_time());
}

async function deploy(name: string): Promise<Deployed> {
  const stored = (await block([owner.tx({ type: 'store_code', code: code_of(name) })])).output.results[0]!;
  expect(stored.code).toBe(ResultCode.OK);
  const e = encrypt(p, keys, stored.code_hash!, {});
  const made = (
    await block([
      owner.tx({
        type: 'instantiate',
        code_id: stored.code_id!,
        label: name,
        scheme: 'gcm',
        payload: e.payload,
      }),
    ])
  ).output.results[0]!;
  expect(made.code).toBe(ResultCode.OK);
  return { contract: made.contract!, code_hash: stored.code_hash! };
}

/** One encrypted execute from `who`; answers the result code and the decrypted result. */
async function call(who: TestAccount, target: Deployed, msg: unknown) {
  const e = encrypt(p, keys, target.code_hash, msg);
  const { output } = await block([
    who.tx({ type: 'execute', contract: target.contract, scheme: 'gcm', payload: e.payload }),
  ]);
  const r = output.results[0]!;
  const result =
    r.output === ''
      ? null
      : (open_result(p, 'gcm', e.tx_key, from_base64(r.output)) as Record<string, unknown>);
  return { r, result, height: chain.height() };
}

async function ok(who: TestAccount, target: Deployed, msg: unknown) {
  const { r, result } = await call(who, target, msg);
  expect(r.code, JSON.stringify(result)).toBe(ResultCode.OK);
  return result!['data'];
}

async function query(target: Deployed, msg: unknown, time_ms = next_time()) {
  const e = encrypt(p, keys, target.code_hash, msg, { scheme: 'siv' });
  const answer = unwrap(
    await enclave.query((await chain.query_input(target.contract, 'siv', e.payload, time_ms))!),
  );
  return open_result(p, 'siv', e.tx_key, from_base64(answer.output)) as { data?: unknown; error?: string };
}

let acl: Deployed;
let keeper: Deployed;
let stream: string;

async function get_key(
  who: TestAccount,
  vk: string,
  extra: Record<string, unknown> = {},
  on = acl,
  time_ms?: number,
) {
  return query(
    keeper,
    { get_key: { acl: on.contract, stream, account: who.address, viewing_key: vk, ...extra } },
    time_ms,
  );
}

beforeAll(async () => {
  keys = unwrap(await enclave.create_seed()).keys;
  chain = await new_chain(p, keys.measurement, [], {});
  acl = await deploy('stream_acl');
  keeper = await deploy('key_keeper');
  for (const [who, vk] of [
    [owner, 'owner-vk-1'],
    [sub, 'sub-vk-123'],
    [late, 'late-vk-12'],
    [mallory, 'mallory-vk'],
  ] as const)
    await ok(who, keeper, { set_viewing_key: { key: vk } });
});

afterAll(async () => {
  await enclave.close();
  home.remove();
});

describe('stream ACL and key keeper', () => {
  it('carries grants and revokes to the keeper, which answers while the publisher is offline', async () => {
    stream = (
      (await ok(owner, acl, { create: { name: 'news', keeper: keeper.contract } })) as { stream: string }
    ).stream;
    expect(stream).toBe(`${owner.address}/news`);
    await ok(owner, acl, { grant: { stream, account: sub.address, subscribe: true } });
    await ok(owner, keeper, { set_key: { acl: acl.contract, stream, key_id: 'k1', key: group_key(1) } });
    expect((await get_key(sub, 'sub-vk-123')).data).toMatchObject({ key_id: 'k1', key: group_key(1) });
    expect((await get_key(owner, 'owner-vk-1')).data).toMatchObject({ key_id: 'k1' });

    // A subscriber added later (the owner then goes offline) gets keys from its grant on only.
    await ok(owner, acl, { grant: { stream, account: late.address, subscribe: true } });
    expect((await get_key(late, 'late-vk-12')).error).toContain('unauthorized');
    await ok(owner, keeper, { set_key: { acl: acl.contract, stream, key_id: 'k2', key: group_key(2) } });
    expect((await get_key(late, 'late-vk-12')).data).toMatchObject({ key_id: 'k2', key: group_key(2) });
    expect((await get_key(late, 'late-vk-12', { key_id: 'k1' })).error).toContain('unauthorized');
    // A wrong viewing key is refused alike.
    expect((await get_key(late, 'sub-vk-123')).error).toContain('unauthorized');

    // Revoked: refused from that height, even for keys it could read before.
    const revoked = await call(owner, acl, { revoke: { stream, account: sub.address } });
    expect(revoked.r.code).toBe(ResultCode.OK);
    expect((await get_key(sub, 'sub-vk-123', { key_id: 'k1' })).error).toContain('unauthorized');
    expect((await get_key(sub, 'sub-vk-123')).error).toContain('unauthorized');
    expect(await query(acl, { permissions: { stream, account: sub.address } })).toMatchObject({
      data: { subscribe: false, granted_height: null },
    });
  });

  it('closes an expired subscription by block time', async () => {
    const expires_ms = next_time() + 10_000;
    await ok(owner, acl, { grant: { stream, account: mallory.address, subscribe: true, expires_ms } });
    await ok(owner, keeper, { set_key: { acl: acl.contract, stream, key_id: 'k3', key: group_key(3) } });
    expect((await get_key(mallory, 'mallory-vk', {}, acl, expires_ms - 1)).data).toMatchObject({
      key_id: 'k3',
    });
    expect((await get_key(mallory, 'mallory-vk', {}, acl, expires_ms)).error).toContain('unauthorized');
  });

  it('refuses set_key and grants from anyone but the owner', async () => {
    const set = await call(mallory, keeper, {
      set_key: { acl: acl.contract, stream, key_id: 'evil', key: group_key(9) },
    });
    expect(set.r.code).toBe(ResultCode.CONTRACT_ERROR);
    expect(String(set.result!['error'])).toContain("only the stream's owner");
    const granted = await call(mallory, acl, {
      grant: { stream, account: mallory.address, subscribe: true },
    });
    expect(granted.r.code).toBe(ResultCode.CONTRACT_ERROR);
    expect(String(granted.result!['error'])).toContain('only the stream owner');
  });

  it("keeps another ACL contract's updates in their own namespace", async () => {
    // A second ACL contract (any contract could be one) sends updates for the same stream id:
    // its keeper entries sit under its own address and open nothing under the real ACL.
    const acl2 = await deploy('stream_acl');
    await ok(owner, acl2, { create: { name: 'news', keeper: keeper.contract } });
    await ok(owner, acl2, { grant: { stream, account: late.address, subscribe: false } });
    // The real ACL's entry for late is untouched by acl2's revoke-like update.
    expect((await get_key(late, 'late-vk-12')).data).toMatchObject({ key_id: 'k3' });
    // A subscriber of acl2 only gets nothing from the real ACL's keys.
    await ok(owner, acl2, { grant: { stream, account: sub.address, subscribe: true } });
    expect((await get_key(sub, 'sub-vk-123')).error).toContain('unauthorized');
    expect((await get_key(sub, 'sub-vk-123', {}, acl2)).error).toContain('no key');
    // An account sending acl_update itself writes only under its own address.
    await ok(mallory, keeper, {
      acl_update: { stream, account: mallory.address, subscribe: true, expires_ms: null },
    });
    const self: Deployed = { contract: mallory.address, code_hash: keeper.code_hash };
    expect((await get_key(mallory, 'mallory-vk', {}, self)).error).toContain('no key');
    expect((await get_key(mallory, 'mallory-vk')).error).toContain('unauthorized');
  });

  it('publishes messages as public events of the ACL', async () => {
    const e = encrypt(p, keys, acl.code_hash, { publish: { stream, message: 'ciphertext' } });
    const { output } = await block([
      owner.tx({ type: 'execute', contract: acl.contract, scheme: 'gcm', payload: e.payload }),
    ]);
    const r = output.results[0]!;
    expect(r.code).toBe(ResultCode.OK);
    expect(r.events).toEqual([
      {
        type: 'stream_message',
        attributes: [
          { key: 'stream', value: stream },
          { key: 'seq', value: '1' },
          { key: 'sender', value: owner.address },
          { key: 'message', value: 'ciphertext' },
        ],
        contract: acl.contract,
      },
    ]);
  });
});
