/**
 * Proposal previews (node/app.ts): a validator executes a previewed block once, in the
 * background, and the proposal's validation then uses that execution; a preview that fails any
 * check (shape, chain, height, parent, proposer, exec signature, transaction or commit hashes,
 * one per height and round) starts nothing.
 */

import { describe, expect, it } from 'vitest';
import type { BlockInput, Enclave } from '../../enclave/api.js';
import { ok } from '../../enclave/result.js';
import type { PreviewMessage } from '../../node/app.js';
import { ValidatorApp } from '../../node/app.js';
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
import type { Genesis } from '../../node/genesis.js';
import { to_hex } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { empty_block_output, stub_block_input } from './app_stubs.js';

const p = get_provider('native');
const CHAIN = 'preview-test-1';
const T0 = 1_790_000_000_000;
const RESULT_HASH = 'ab'.repeat(32);

const keys = [1, 2, 3, 4].map((seed) => {
  const sk = new Uint8Array(32).fill(seed);
  return { sk, pubkey: to_hex(p.ed25519_public(sk)) };
});
const genesis = {
  chain_id: CHAIN,
  genesis_time_ms: T0,
  validators: keys.map((k, i) => ({ pubkey: k.pubkey, power: 1, name: `v${i}` })),
  io_pubkey: '00'.repeat(32),
  seed_exchange_pubkey: '00'.repeat(32),
  attestation: { roots: [], measurements: [] },
  codes: [],
} satisfies Genesis;

function key_of(pubkey: string) {
  return keys.find((k) => k.pubkey === pubkey)!;
}

/** A validator's app over a stub enclave and store (height 0, no light client). */
function validator() {
  const executed: number[] = [];
  let wake: (() => void) | null = null;
  const enclave = {
    execute_block: async (input: BlockInput) => {
      executed.push(input.height);
      wake?.();
      return ok(empty_block_output(RESULT_HASH));
    },
  } as unknown as Enclave;
  let committed: { block: { header: BlockHeader } } | null = null;
  const store = {
    height: () => (committed === null ? 0 : committed.block.header.height),
    last_block: () => committed,
    get_block: async () => null,
    commit_block: async (args: { block: { header: BlockHeader } }) => {
      committed = { block: args.block };
    },
    get_sealed: async () => null,
    put_sealed: async () => {},
    block_input: async (txs: string[], h: Parameters<typeof stub_block_input>[1]) =>
      stub_block_input(txs, h, genesis.attestation),
  };
  const logs: { event: string; fields: Record<string, unknown> }[] = [];
  const app = new ValidatorApp(
    { genesis, pubkey: keys[0]!.pubkey, block: { txs_max: 100, bytes_max: 1 << 20, gas_max: 1e9 } },
    {
      p,
      enclave,
      store: store as never,
      mempool: { update: async () => {} } as never,
      now_ms: () => T0 + 1000,
      log: (event, fields) => logs.push({ event, fields }),
      on_committed: () => {},
    },
  );
  /** Resolves at the enclave's next execute_block call. */
  const next_execution = () => new Promise<void>((resolve) => (wake = resolve));
  return { app, executed, logs, next_execution };
}

/** A preview of height 1 as `round`'s rightful proposer makes it (or `signer`, to forge one). */
function preview(round = 0, txs = ['{"a":1}', '{"b":2}'], signer?: string): PreviewMessage {
  return preview_at(1, null, null, round, txs, signer);
}

/** A preview of `height` on `parent` with `last_commit`, as its rightful proposer (or `signer`) makes it. */
function preview_at(
  height: number,
  parent: BlockHeader | null,
  last_commit: Commit | null,
  round = 0,
  txs = ['{"a":1}', '{"b":2}'],
  signer?: string,
): PreviewMessage {
  const proposer = proposer_at(genesis.validators, height, round);
  const unsigned = {
    chain_id: CHAIN,
    height,
    round,
    time_ms: T0 + 10 * height,
    proposer,
    prev_block_hash: parent === null ? GENESIS_PARENT_HASH : block_hash(p, parent),
    txs_hash: txs_hash(p, txs),
    last_commit_hash: commit_hash(p, last_commit),
  };
  const sk = key_of(signer ?? proposer).sk;
  const exec_signature = to_hex(p.ed25519_sign(sk, exec_sign_bytes(unsigned)));
  return { kind: 'preview', header: { ...unsigned, exec_signature }, txs, last_commit };
}

/** A commit of `header` with every validator's precommit. */
function commit_of(header: BlockHeader): Commit {
  const hash = block_hash(p, header);
  const vote = { type: 'precommit' as const, height: header.height, round: header.round, block_hash: hash };
  return {
    height: header.height,
    round: header.round,
    block_hash: hash,
    signatures: keys.map((k) => ({
      validator: k.pubkey,
      signature: to_hex(p.ed25519_sign(k.sk, vote_sign_bytes(CHAIN, vote))),
    })),
  };
}

describe('proposal previews', () => {
  it('executes a checked preview once; the proposal then validates on that execution', async () => {
    const v = validator();
    const message = preview();
    const started = v.next_execution();
    v.app.preview(message);
    await started;
    expect(v.executed).toEqual([1]);
    // The same preview again starts nothing.
    v.app.preview(structuredClone(message));
    expect(v.logs.at(-1)).toEqual({ event: 'preview_ignored', fields: { reason: 'already previewed' } });
    const block = {
      header: { ...message.header, result_hash: RESULT_HASH },
      txs: message.txs,
      last_commit: null,
    };
    expect(await v.app.validate(block)).toBe(true);
    expect(v.executed).toEqual([1]);
    // A proposal of another round (another header) is executed on its own.
    const other = preview(1);
    expect(
      await v.app.validate({
        header: { ...other.header, result_hash: RESULT_HASH },
        txs: other.txs,
        last_commit: null,
      }),
    ).toBe(true);
    expect(v.executed).toEqual([1, 1]);
  });

  it('ignores previews that fail a check, executing nothing', async () => {
    const good = preview();
    const someone_else = keys.map((k) => k.pubkey).find((k) => k !== good.header.proposer)!;
    const cases: [string, unknown][] = [
      ['not an object', 'preview'],
      ['not a preview', { ...good, kind: 'proposal' }],
      ['shape: header', { ...good, header: { ...good.header, result_hash: RESULT_HASH } }],
      ['shape: header txs_hash', { ...good, header: { ...good.header, txs_hash: 'xyz' } }],
      ['chain_id', { ...good, header: { ...good.header, chain_id: 'other-1' } }],
      ['prev_block_hash', { ...good, header: { ...good.header, prev_block_hash: 'cd'.repeat(32) } }],
      ['time_ms in the future', { ...good, header: { ...good.header, time_ms: T0 + 60_000 } }],
      ['proposer', { ...good, header: { ...good.header, proposer: someone_else } }],
      ['txs_hash', { ...good, txs: ['{"a":1}'] }],
      ['exec signature', preview(0, ['{"a":1}', '{"b":2}'], someone_else)],
    ];
    for (const [reason, message] of cases) {
      const v = validator();
      v.app.preview(message);
      expect(v.logs, reason).toEqual([{ event: 'preview_ignored', fields: { reason } }]);
      expect(v.executed, reason).toEqual([]);
    }
    // A later height is not an error (the node is behind or the message is early): nothing logged.
    const v = validator();
    v.app.preview({ ...good, header: { ...good.header, height: 2 } });
    expect(v.logs).toEqual([]);
    expect(v.executed).toEqual([]);
  });

  it('keeps a preview of the height after the next (the next proposer committed first) and runs it once this node commits', async () => {
    const v = validator();
    const first = preview();
    const started = v.next_execution();
    v.app.preview(first);
    await started;
    const header1: BlockHeader = { ...first.header, result_hash: RESULT_HASH };
    const commit1 = commit_of(header1);
    const second = preview_at(2, header1, commit1);
    // Height 2 arrives while this node has not committed height 1: kept, not run, not logged.
    v.app.preview(second);
    // A forged one for height 2 is not kept (it would be dropped at replay anyway).
    const someone_else = keys.map((k) => k.pubkey).find((k) => k !== second.header.proposer)!;
    v.app.preview(preview_at(2, header1, commit1, 1, ['{"c":3}'], someone_else));
    expect(v.executed).toEqual([1]);
    expect(v.logs.filter((l) => l.event === 'preview_ignored')).toEqual([]);
    const runs = v.next_execution();
    await v.app.commit({ header: header1, txs: first.txs, last_commit: null }, commit1);
    await runs;
    expect(v.executed).toEqual([1, 2]);
  });
});
