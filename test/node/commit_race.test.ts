/**
 * Consensus and sync can both reach a height (a validator resumed a few heights behind syncs while
 * its engine decides from precommits it already had; found by test/network/faults.test.ts, where
 * the second commit of a height halted the node). ValidatorApp.commit takes one commit at a time,
 * treats the same block at a stored height as done, and a different one as a divergence.
 */

import { describe, expect, it } from 'vitest';
import type { Enclave } from '../../enclave/api.js';
import { ok } from '../../enclave/result.js';
import { DivergedError, ValidatorApp } from '../../node/app.js';
import {
  type Block,
  type BlockHeader,
  block_hash,
  commit_hash,
  GENESIS_PARENT_HASH,
  txs_hash,
} from '../../node/consensus/types.js';
import type { Genesis } from '../../node/genesis.js';
import type { BlockRecord } from '../../node/records.js';
import { to_hex } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { empty_block_output, stub_block_input } from './app_stubs.js';

const p = get_provider('native');
const CHAIN = 'commit-race-1';
const T0 = 1_790_000_000_000;
const RESULT_HASH = 'ab'.repeat(32);
const sk = new Uint8Array(32).fill(7);
const pubkey = to_hex(p.ed25519_public(sk));
const genesis = {
  chain_id: CHAIN,
  genesis_time_ms: T0,
  validators: [{ pubkey, power: 1, name: 'v0' }],
  io_pubkey: '00'.repeat(32),
  seed_exchange_pubkey: '00'.repeat(32),
  attestation: { roots: [], measurements: [] },
  codes: [],
} satisfies Genesis;

function block(time_ms: number): Block {
  const header: BlockHeader = {
    chain_id: CHAIN,
    height: 1,
    round: 0,
    time_ms,
    proposer: pubkey,
    prev_block_hash: GENESIS_PARENT_HASH,
    txs_hash: txs_hash(p, []),
    last_commit_hash: commit_hash(p, null),
    result_hash: RESULT_HASH,
    exec_signature: '0'.repeat(128),
  };
  return { header, txs: [], last_commit: null };
}

function node() {
  const stored: BlockRecord[] = [];
  let committed = 0;
  const enclave = {
    execute_block: async () => ok(empty_block_output(RESULT_HASH)),
  } as unknown as Enclave;
  const store = {
    height: () => stored.length,
    last_block: () => stored[stored.length - 1] ?? null,
    get_block: async (h: number) => stored[h - 1] ?? null,
    get_sealed: async () => null,
    put_sealed: async () => {},
    block_input: async (txs: string[], h: Parameters<typeof stub_block_input>[1]) =>
      stub_block_input(txs, h, genesis.attestation),
    commit_block: async (args: { block: Block; commit: BlockRecord['commit']; block_hash: string }) => {
      // A commit takes a few turns, as the real store's batch and read-back do.
      for (let i = 0; i < 5; i++) await Promise.resolve();
      if (args.block.header.height !== stored.length + 1)
        throw new Error(`header.height must be ${stored.length + 1}`);
      stored.push({ block: args.block, commit: args.commit, block_hash: args.block_hash, tx_hashes: [] });
    },
  };
  const app = new ValidatorApp(
    { genesis, pubkey, block: { txs_max: 100, bytes_max: 1 << 20, gas_max: 1e9 } },
    {
      p,
      enclave,
      store: store as never,
      mempool: { update: async () => {} } as never,
      now_ms: () => T0 + 1000,
      log: () => {},
      on_committed: () => {
        committed++;
      },
    },
  );
  return { app, stored, committed: () => committed };
}

describe('two paths commit one height', () => {
  it('at once, with the same block: stored once, announced once, neither fails', async () => {
    const { app, stored, committed } = node();
    const b = block(T0 + 1);
    const commit = { height: 1, round: 0, block_hash: block_hash(p, b.header), signatures: [] };
    await Promise.all([app.commit(b, commit), app.commit(b, commit)]);
    expect(stored).toHaveLength(1);
    expect(committed()).toBe(1);
  });

  it('a different block at a stored height is a divergence', async () => {
    const { app } = node();
    const a = block(T0 + 1);
    const b = block(T0 + 2);
    await app.commit(a, { height: 1, round: 0, block_hash: block_hash(p, a.header), signatures: [] });
    await expect(
      app.commit(b, { height: 1, round: 0, block_hash: block_hash(p, b.header), signatures: [] }),
    ).rejects.toThrow(DivergedError);
  });
});
