/**
 * System contracts (docs/protocol-notes.md "System contracts") through a chain store and an
 * in-process enclave: genesis stores a record for each at the address its code hash names; a
 * transaction and a contract message reach them with no binding MAC; a query answers; a host that
 * pairs a system address with other code, or hands an ordinary contract the system contracts'
 * empty binding, is refused by the enclave; the store's check of itself passes.
 */

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { PublicKeys } from '../../enclave/api.js';
import { InProcessEnclave } from '../../enclave/in_process.js';
import { unwrap } from '../../enclave/result.js';
import { GENESIS_CONTRACTS } from '../../node/ceremony.js';
import { read_shipped_contract } from '../../node/reference_contracts.js';
import { LocalChain } from '../../node/store/local_chain.js';
import { from_base64, to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { ResultCode } from '../../protocol/codes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { open_result } from '../../protocol/result.js';
import {
  SYSTEM_BINDING,
  SYSTEM_CONTRACTS,
  SYSTEM_CREATOR,
  system_contract_address,
} from '../../protocol/system.js';
import { CHAIN_ID, encrypt, T0_MS, TestAccount, temp_home, test_attestation } from './fixtures.js';

const p = get_provider('native');
const home = temp_home();
const enclave = new InProcessEnclave({ provider: 'native', platform_secret_file: home.secret });
let keys: PublicKeys;
let chain: LocalChain;
const alice = new TestAccount(p, 'system-alice');
const codes = GENESIS_CONTRACTS.map((name) => read_shipped_contract(name));
const hash_of = (name: string) => to_hex(p.sha256(codes.find((c) => c.name === name)!.code));
const DIRECTORY = () => system_contract_address(p, hash_of('directory'));

/** Calls the directory's `publish` from the contract it is sent to (a contract message). */
const FORWARD = `
export function instantiate(ctx, msg) { return null; }
export function execute(ctx, msg) { ctx.execute(msg.to, msg.msg); return null; }
`;

beforeAll(async () => {
  keys = unwrap(await enclave.create_seed()).keys;
  chain = await LocalChain.open(p, {
    chain_id: CHAIN_ID,
    attestation: { roots: [test_attestation(p).root_pubkey], measurements: [keys.measurement] },
    codes,
  });
});

afterAll(async () => {
  await chain.store.close();
  await enclave.close();
  home.remove();
});

async function block(txs: string[]) {
  return chain.execute(enclave, txs, T0_MS + (chain.height() + 1) * 1000);
}

async function execute(contract: string, code_hash: string, msg: unknown) {
  const e = encrypt(p, keys, code_hash, msg);
  const { output } = await block([
    alice.tx({ type: 'execute', contract, scheme: 'gcm', payload: e.payload }),
  ]);
  const r = output.results[0]!;
  return {
    r,
    result:
      r.output === '' ? null : (open_result(p, 'gcm', e.tx_key, from_base64(r.output)) as { data: unknown }),
  };
}

async function query(contract: string, code_hash: string, msg: unknown): Promise<unknown> {
  const e = encrypt(p, keys, code_hash, msg, { scheme: 'siv' });
  const input = (await chain.query_input(contract, 'siv', e.payload, T0_MS))!;
  const answer = unwrap(await enclave.query(input));
  return (open_result(p, 'siv', e.tx_key, from_base64(answer.output)) as { data: unknown }).data;
}

describe('system contracts at genesis', () => {
  test('each has a record at the address its code hash names, with no creator and no binding MAC', async () => {
    for (const name of SYSTEM_CONTRACTS) {
      const address = system_contract_address(p, hash_of(name));
      const record = await chain.store.get_contract(address);
      expect(record).toMatchObject({
        address,
        code_hash: hash_of(name),
        label: name,
        creator: SYSTEM_CREATOR,
        binding: SYSTEM_BINDING,
      });
      expect(record!.code_id).toBe(GENESIS_CONTRACTS.indexOf(name) + 1);
    }
    // The reference contracts are codes only: no instance at their would-be system address.
    expect(await chain.store.get_contract(system_contract_address(p, hash_of('echo')))).toBeNull();
    await expect(chain.store.verify_all()).resolves.toMatchObject({ contracts: SYSTEM_CONTRACTS.length });
  });

  test('a transaction reaches one with empty state, and a query reads what it wrote', async () => {
    const public_key = to_hex(p.sha256(utf8('a public key')));
    const { r, result } = await execute(DIRECTORY(), hash_of('directory'), {
      publish: { key_id: 'kx1', public_key },
    });
    expect(r.code).toBe(ResultCode.OK);
    expect(result?.data).toEqual({ uri: `cloister:${alice.address}#kx1` });
    const listed = (await query(DIRECTORY(), hash_of('directory'), { keys: { account: alice.address } })) as {
      keys: { key_id: string; public_key: string }[];
    };
    expect(listed.keys.map((k) => [k.key_id, k.public_key])).toEqual([['kx1', public_key]]);
  });

  test('a contract message reaches one: the callee record needs no binding MAC', async () => {
    const e = encrypt(p, keys, to_hex(p.sha256(utf8(FORWARD))), {});
    const stored = await block([alice.tx({ type: 'store_code', code: to_base64(utf8(FORWARD)) })]);
    const code_id = stored.output.results[0]!.code_id!;
    const made = await block([
      alice.tx({ type: 'instantiate', code_id, label: 'forward', scheme: 'gcm', payload: e.payload }),
    ]);
    const forward = made.output.results[0]!.contract!;
    const public_key = to_hex(p.sha256(utf8('the forwarder key')));
    const run = await execute(forward, to_hex(p.sha256(utf8(FORWARD))), {
      to: DIRECTORY(),
      msg: { publish: { key_id: 'kx1', public_key } },
    });
    expect(run.r.code).toBe(ResultCode.OK);
    // The directory saw the forwarder as its sender.
    const listed = (await query(DIRECTORY(), hash_of('directory'), { keys: { account: forward } })) as {
      keys: { public_key: string }[];
    };
    expect(listed.keys.map((k) => k.public_key)).toEqual([public_key]);
  });

  test('a host pairing a system address with other code, or giving an ordinary contract no MAC, is refused', async () => {
    const e = encrypt(p, keys, to_hex(p.sha256(utf8(FORWARD))), {});
    const forward = (await chain.store.list_codes()).find((c) => c.name === undefined)!;
    const made = await block([
      alice.tx({
        type: 'instantiate',
        code_id: forward.code_id,
        label: 'f2',
        scheme: 'gcm',
        payload: e.payload,
      }),
    ]);
    const caller = made.output.results[0]!.contract!;
    const msg = encrypt(p, keys, forward.code_hash, { to: DIRECTORY(), msg: { keys: {} } });
    const tx = alice.tx({ type: 'execute', contract: caller, scheme: 'gcm', payload: msg.payload });
    let input = await chain.block_input([tx], T0_MS + 50_000_000);
    const first = unwrap(await enclave.execute_block(input));
    input = await chain.store.extend_input(input, first.need!);
    expect(input.contracts[DIRECTORY()]).toBeDefined();

    // The directory's address with the mailbox's code: the address no longer names the code.
    const swapped = structuredClone(input);
    const mailbox_id = GENESIS_CONTRACTS.indexOf('mailbox') + 1;
    swapped.contracts[DIRECTORY()]!.code_id = mailbox_id;
    swapped.contracts[DIRECTORY()]!.code_hash = hash_of('mailbox');
    swapped.codes[String(mailbox_id)] = to_base64(codes.find((c) => c.name === 'mailbox')!.code);
    expect(await enclave.execute_block(swapped)).toMatchObject({ ok: false, error: { code: 'BAD_INPUT' } });

    // The forwarder (an ordinary contract) as a callee with the system contracts' empty binding.
    alice.sequence--; // the block above was never committed
    const self = encrypt(p, keys, forward.code_hash, { to: caller, msg: {} });
    const tx2 = alice.tx({ type: 'execute', contract: caller, scheme: 'gcm', payload: self.payload });
    let input2 = await chain.block_input([tx2], T0_MS + 50_000_000);
    const need = unwrap(await enclave.execute_block(input2)).need;
    if (need !== undefined) input2 = await chain.store.extend_input(input2, need);
    const unbound = structuredClone(input2);
    unbound.contracts[caller]!.binding = SYSTEM_BINDING;
    expect(await enclave.execute_block(unbound)).toMatchObject({ ok: false, error: { code: 'BAD_INPUT' } });
  });
});
