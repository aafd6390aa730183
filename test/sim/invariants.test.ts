/**
 * The simulator's invariant checker (sim/run/invariants.ts) on hand-made events: each invariant
 * fails when it should, and only then (relayed messages of others are not this validator's
 * signatures; refused transactions do not count).
 */

import { describe, expect, it } from 'vitest';
import {
  type Block,
  type BlockHeader,
  block_hash,
  GENESIS_PARENT_HASH,
  type Vote,
} from '../../node/consensus/types.js';
import { to_hex } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { sign_tx, tx_hash } from '../../protocol/tx.js';
import { Invariants } from '../../sim/run/invariants.js';

const p = get_provider('native');
const CHAIN = 'cloister-sim-1';
const keys = [1, 2, 3, 4].map((i) => p.sha256(new Uint8Array([i])));
const validators = keys.map((sk) => ({ pubkey: to_hex(p.ed25519_public(sk)), power: 10 }));

function checker(honest = (_: number) => true) {
  return new Invariants({ p, chain_id: CHAIN, validators, honest, now_ms: () => 0 });
}

function block(height: number, txs: string[], result = 'a'.repeat(64)): Block {
  const header: BlockHeader = {
    chain_id: CHAIN,
    height,
    round: 0,
    time_ms: 1,
    proposer: validators[0]!.pubkey,
    prev_block_hash: GENESIS_PARENT_HASH,
    txs_hash: GENESIS_PARENT_HASH,
    last_commit_hash: GENESIS_PARENT_HASH,
    result_hash: result,
    exec_signature: '0'.repeat(128),
  };
  return { header, txs, last_commit: null };
}

function vote(i: number, hash: string | null): { kind: 'vote'; vote: Vote } {
  return {
    kind: 'vote',
    vote: {
      type: 'prevote',
      height: 5,
      round: 0,
      block_hash: hash,
      validator: validators[i]!.pubkey,
      signature: '0'.repeat(128),
    },
  };
}

describe('agreement', () => {
  it('two honest validators committing different blocks at a height is a violation; the same block is not', () => {
    const c = checker();
    const a = block(1, []);
    const b = block(1, [], 'b'.repeat(64));
    c.on_commit(0, { height: 1, block: a, block_hash: block_hash(p, a.header), results: [] });
    c.on_commit(1, { height: 1, block: a, block_hash: block_hash(p, a.header), results: [] });
    expect(c.violations).toEqual([]);
    c.on_commit(2, { height: 1, block: b, block_hash: block_hash(p, b.header), results: [] });
    expect(c.violations.map((v) => v.kind)).toEqual(['agreement']);
  });

  it('a byzantine validator is not held to it', () => {
    const c = checker((i) => i !== 2);
    const a = block(1, []);
    const b = block(1, [], 'b'.repeat(64));
    c.on_commit(0, { height: 1, block: a, block_hash: block_hash(p, a.header), results: [] });
    c.on_commit(2, { height: 1, block: b, block_hash: block_hash(p, b.header), results: [] });
    expect(c.violations).toEqual([]);
  });
});

describe('validity', () => {
  const tx = sign_tx(p, keys[0]!, {
    chain_id: CHAIN,
    sender: validators[0]!.pubkey,
    sequence: 0,
    gas_limit: 1000,
    msg: { type: 'store_code', code: 'AA==' },
  });
  const raw = JSON.stringify(tx);
  const hash = tx_hash(p, tx);

  it('a signed tx counts once; twice is a violation', () => {
    const c = checker();
    const b1 = block(1, [raw]);
    c.on_commit(0, {
      height: 1,
      block: b1,
      block_hash: block_hash(p, b1.header),
      results: [{ hash, code: 0, gas_used: 10 }],
    });
    expect(c.violations).toEqual([]);
    const b2 = block(2, [raw]);
    c.on_commit(0, {
      height: 2,
      block: b2,
      block_hash: block_hash(p, b2.header),
      results: [{ hash, code: 0, gas_used: 10 }],
    });
    expect(c.violations.map((v) => v.message)).toEqual([expect.stringMatching(/counted twice/)]);
  });

  it('a counted tx with a bad signature is a violation; refused junk is not', () => {
    const forged = JSON.stringify({
      ...tx,
      signature: `${tx.signature.slice(0, 127)}${tx.signature.endsWith('0') ? '1' : '0'}`,
    });
    const c = checker();
    const b = block(1, ['not a tx', forged]);
    c.on_commit(0, {
      height: 1,
      block: b,
      block_hash: block_hash(p, b.header),
      results: [
        { hash: 'f'.repeat(64), code: 7, gas_used: 0 },
        { hash, code: 0, gas_used: 10 },
      ],
    });
    expect(c.violations.map((v) => v.kind)).toEqual(['validity']);
    expect(c.violations[0]?.message).toMatch(/tx 1 of height 1/);
  });
});

describe('signing', () => {
  it('two different own votes at one position is a double signature; the same twice, or a relayed one, is not', () => {
    const c = checker();
    c.on_sent(0, vote(0, 'a'.repeat(64)));
    c.on_sent(0, vote(0, 'a'.repeat(64)));
    // A relayed vote of validator 1 (an equivocator's, say) is not validator 0's signature.
    c.on_sent(0, vote(1, 'b'.repeat(64)));
    c.on_sent(0, vote(1, 'c'.repeat(64)));
    expect(c.violations).toEqual([]);
    c.on_sent(0, vote(0, null));
    c.on_sent(0, vote(0, null));
    expect(c.violations.map((v) => v.kind)).toEqual(['double_sign']);
  });
});

describe('durability and halts', () => {
  it('a restart below the committed height, or with a changed block, is a violation', () => {
    const c = checker();
    c.on_restarted(1, 10, new Map([[10, 'a'.repeat(64)]]), 9, () => null);
    c.on_restarted(2, 10, new Map([[10, 'a'.repeat(64)]]), 10, () => 'b'.repeat(64));
    c.on_restarted(3, 10, new Map([[10, 'a'.repeat(64)]]), 12, () => 'a'.repeat(64));
    expect(c.violations.map((v) => [v.kind, v.validators[0]])).toEqual([
      ['durability', 1],
      ['durability', 2],
    ]);
  });

  it('an honest validator halting is a violation', () => {
    const c = checker((i) => i !== 3);
    c.on_halted(3, 4, 'own results differ');
    expect(c.violations).toEqual([]);
    c.on_halted(0, 4, 'own results differ');
    expect(c.violations.map((v) => v.kind)).toEqual(['halt']);
  });
});
