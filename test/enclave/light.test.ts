/**
 * The enclave's light client: blocks execute only when signed by the rightful proposer and built
 * on a commit of more than 2/3 of the validators the enclave was bound to; the binding survives
 * reloading the seed, and a rolled-back light state is refused.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockInput } from '../../enclave/api.js';
import { InProcessEnclave } from '../../enclave/in_process.js';
import type { LightInput } from '../../enclave/light.js';
import { EnclaveErrorCode, unwrap } from '../../enclave/result.js';
import {
  type BlockHeader,
  block_hash,
  type Commit,
  commit_hash,
  exec_sign_bytes,
  GENESIS_PARENT_HASH,
  proposer_at,
  txs_hash,
  vote_sign_bytes,
} from '../../node/consensus/types.js';
import { to_hex } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { CHAIN_ID, new_chain, T0_MS, TestAccount, temp_home, test_bytes } from './fixtures.js';

const p = get_provider('native');
const keys = [0, 1, 2, 3].map((i) => test_bytes(p, `light-validator-${i}`));
const validators = keys.map((sk) => ({ pubkey: to_hex(p.ed25519_public(sk)), power: 10 }));
const sk_of = (pubkey: string) => keys[validators.findIndex((v) => v.pubkey === pubkey)]!;
const home = temp_home();
const enclave = new InProcessEnclave({ provider: 'native', platform_secret_file: home.secret });
let sealed_light: string;
let measurement: string;

beforeAll(async () => {
  measurement = unwrap(await enclave.measurement());
  unwrap(await enclave.create_seed());
  sealed_light = unwrap(await enclave.light_init({ chain_id: CHAIN_ID, validators })).sealed_light;
});
afterAll(async () => {
  await enclave.close();
  home.remove();
});

/** A block at `height` on `parent`, exec-signed by `signer` (default: the rightful proposer). */
function make_block(
  height: number,
  parent: BlockHeader | null,
  last_commit: Commit | null,
  txs: string[],
  signer?: Uint8Array,
) {
  const proposer = proposer_at(validators, height, 0);
  const unsigned = {
    chain_id: CHAIN_ID,
    height,
    round: 0,
    time_ms: T0_MS + height * 1000,
    proposer,
    prev_block_hash: parent === null ? GENESIS_PARENT_HASH : block_hash(p, parent),
    txs_hash: txs_hash(p, txs),
    last_commit_hash: commit_hash(p, last_commit),
  };
  return {
    ...unsigned,
    exec_signature: to_hex(p.ed25519_sign(signer ?? sk_of(proposer), exec_sign_bytes(unsigned))),
  };
}

function commit_for(header: BlockHeader, signers: number): Commit {
  const hash = block_hash(p, header);
  const bytes = vote_sign_bytes(CHAIN_ID, {
    type: 'precommit',
    height: header.height,
    round: 0,
    block_hash: hash,
  });
  return {
    height: header.height,
    round: 0,
    block_hash: hash,
    signatures: keys
      .slice(0, signers)
      .map((sk, i) => ({ validator: validators[i]!.pubkey, signature: to_hex(p.ed25519_sign(sk, bytes)) })),
  };
}

async function input_for(
  header: ReturnType<typeof make_block>,
  txs: string[],
  parent: BlockHeader | null,
  last_commit: Commit | null,
  light_state: string,
): Promise<BlockInput> {
  const chain = await new_chain(p, measurement);
  const base = await chain.block_input(txs, header.time_ms);
  const light: LightInput = { header, parent, last_commit, validators, sealed_light: light_state };
  return { ...base, height: header.height, random_seed: header.prev_block_hash, light };
}

async function refused(input: BlockInput, why: RegExp) {
  const answer = await enclave.execute_block(input);
  expect(answer.ok).toBe(false);
  if (!answer.ok) {
    expect(answer.error.code).toBe(EnclaveErrorCode.BAD_INPUT);
    expect(answer.error.message).toMatch(why);
  }
}

describe('the enclave light client', () => {
  it('refuses to execute without its checks once bound to a chain, even after reloading the seed', async () => {
    const chain = await new_chain(p, measurement);
    await refused(await chain.block_input([], T0_MS), /light client/);
    const again = new InProcessEnclave({ provider: 'native', platform_secret_file: home.secret });
    unwrap(await again.load_seed((enclave as unknown as { sealed_seed: string }).sealed_seed));
    const answer = await again.execute_block(await chain.block_input([], T0_MS));
    expect(answer.ok === false && answer.error.message).toMatch(/light client/);
    await again.close();
  });

  it('executes a chain of blocks signed by their proposers on verified commits, and nothing else', async () => {
    const user = new TestAccount(p, 'light-user');
    const tx1 = [user.tx({ type: 'store_code', code: 'ZXhwb3J0IGZ1bmN0aW9uIHF1ZXJ5KCkge30=' })];
    const b1 = make_block(1, null, null, tx1);
    // Not the rightful proposer of height 1 (another validator's key signs).
    const impostor = keys.find((_, i) => validators[i]!.pubkey !== b1.proposer)!;
    await refused(
      await input_for(make_block(1, null, null, tx1, impostor), tx1, null, null, sealed_light),
      /exec signature|proposer/,
    );
    // Signed, but the host swapped the transactions.
    await refused(await input_for(b1, [], null, null, sealed_light), /txs do not match/);
    const r1 = unwrap(await enclave.execute_block(await input_for(b1, tx1, null, null, sealed_light)));
    expect(r1.results[0]!.code).toBe(0);
    const h1: BlockHeader = { ...b1, result_hash: r1.result_hash };

    // Height 2 needs height 1's commit: 2 of 4 is not more than 2/3; 3 of 4 is.
    const weak = commit_for(h1, 2);
    await refused(await input_for(make_block(2, h1, weak, []), [], h1, weak, r1.sealed_light!), /2\/3/);
    const c1 = commit_for(h1, 3);
    const b2 = make_block(2, h1, c1, []);
    const r2 = unwrap(await enclave.execute_block(await input_for(b2, [], h1, c1, r1.sealed_light!)));
    const h2: BlockHeader = { ...b2, result_hash: r2.result_hash };

    // A fork of the host's making: another block 1 (signed by the proposer's key, say leaked) with
    // a forged commit the validators never signed.
    const fork1: BlockHeader = { ...make_block(1, null, null, []), result_hash: r1.result_hash };
    const forged: Commit = { ...commit_for(fork1, 3), signatures: commit_for(h1, 3).signatures };
    await refused(
      await input_for(make_block(2, fork1, forged, []), [], fork1, forged, r1.sealed_light!),
      /signature/,
    );

    // Height 3 on height 2, then a rolled-back light state (the one before height 2) is refused.
    const c2 = commit_for(h2, 4);
    const b3 = make_block(3, h2, c2, []);
    const r3 = unwrap(await enclave.execute_block(await input_for(b3, [], h2, c2, r2.sealed_light!)));
    const h3: BlockHeader = { ...b3, result_hash: r3.result_hash };
    const c3 = commit_for(h3, 3);
    await refused(await input_for(make_block(4, h3, c3, []), [], h3, c3, r1.sealed_light!), /older|extend/);
    // The current state goes on.
    expect(
      (await enclave.execute_block(await input_for(make_block(4, h3, c3, []), [], h3, c3, r3.sealed_light!)))
        .ok,
    ).toBe(true);
  });
});
