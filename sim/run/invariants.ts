/**
 * What must hold in every simulated run, checked as it happens (docs/simulator.md "Invariants").
 * Only honest validators (never byzantine in the run) are held to them:
 * - agreement: no two honest validators commit different blocks (or result hashes) at a height;
 * - validity: every transaction a block counts (not refused with code 4, 5 or 7) is well-formed
 *   and correctly signed, and commits at most once;
 * - durability: a validator that crashed and restarted still has every block it had committed;
 * - light client: an honest enclave executes only blocks signed by the rightful proposer of their
 *   height and round, on a parent every honest validator agrees was committed, and never takes two
 *   different parents of one height as final;
 * - signing: no honest validator signs two different things at one height, round and step;
 * - no halt: an honest validator never halts (it would mean its own results diverged);
 * - liveness: once the last fault has healed, a height commits within `liveness_bound_ms`.
 * @module
 */

import type { BlockInput } from '../../enclave/api.js';
import {
  type Block,
  block_hash,
  type ConsensusMessage,
  exec_sign_bytes,
  proposal_sign_bytes,
  proposer_at,
  type Validator,
  vote_sign_bytes,
} from '../../node/consensus/types.js';
import { from_hex, to_hex } from '../../protocol/bytes.js';
import { result_counted } from '../../protocol/codes.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { parse_tx_json, tx_hash, verify_tx_signature } from '../../protocol/tx.js';

/** The kinds of violation, one per invariant. */
export type ViolationKind =
  | 'agreement'
  | 'validity'
  | 'durability'
  | 'light_client'
  | 'double_sign'
  | 'halt'
  | 'liveness';

/** A broken invariant: what, where and when. */
export interface Violation {
  kind: ViolationKind;
  /** The height concerned, or null. */
  height: number | null;
  /** Simulated time it was found. */
  sim_ms: number;
  /** Validator indices involved. */
  validators: number[];
  message: string;
}

/** A block an honest validator committed, with its transactions' results. */
export interface CommitSeen {
  height: number;
  block: Block;
  block_hash: string;
  /** Result codes and gas of the block's transactions, in order. */
  results: { hash: string; code: number; gas_used: number }[];
}

/** The invariant checker of one run. */
export class Invariants {
  readonly violations: Violation[] = [];
  readonly #p: CryptoProvider;
  readonly #chain_id: string;
  readonly #validators: Validator[];
  readonly #honest: (index: number) => boolean;
  readonly #now_ms: () => number;
  /** Height → the first honest commit seen (block hash, result hash, by whom). */
  readonly #decided = new Map<number, { hash: string; result: string; by: number }>();
  /** Per validator: committed tx hashes that counted. */
  readonly #counted = new Map<number, Set<string>>();
  /** (validator, height, round, step) → digest of what it signed. */
  readonly #signed = new Map<string, string>();
  /** (validator, height) → the parent hash its enclave took as final at that height. */
  readonly #final = new Map<string, string>();
  /** Stops after this many violations: one is enough to fail, the rest are noise. */
  readonly #violations_max = 20;

  constructor(opts: {
    p: CryptoProvider;
    chain_id: string;
    validators: Validator[];
    honest: (index: number) => boolean;
    now_ms: () => number;
  }) {
    this.#p = opts.p;
    this.#chain_id = opts.chain_id;
    this.#validators = opts.validators;
    this.#honest = opts.honest;
    this.#now_ms = opts.now_ms;
  }

  /** Records a violation (up to a bound; the same violation once). */
  fail(kind: ViolationKind, height: number | null, validators: number[], message: string): void {
    if (this.violations.length >= this.#violations_max) return;
    if (this.violations.some((v) => v.kind === kind && v.height === height && v.message === message)) return;
    this.violations.push({ kind, height, sim_ms: this.#now_ms(), validators, message });
  }

  /** The hash every honest validator committed at `height`, if any did. */
  decided(height: number): string | null {
    return this.#decided.get(height)?.hash ?? null;
  }

  /** Agreement and validity for one commit of validator `index`. */
  on_commit(index: number, seen: CommitSeen): void {
    if (!this.#honest(index)) return;
    const h = seen.height;
    const result = seen.block.header.result_hash;
    const first = this.#decided.get(h);
    if (first === undefined) this.#decided.set(h, { hash: seen.block_hash, result, by: index });
    else if (first.hash !== seen.block_hash || first.result !== result) {
      this.fail(
        'agreement',
        h,
        [first.by, index],
        `validators ${first.by} and ${index} committed different blocks at height ${h}: ` +
          `${first.hash.slice(0, 16)} (result ${first.result.slice(0, 16)}) and ` +
          `${seen.block_hash.slice(0, 16)} (result ${result.slice(0, 16)})`,
      );
    }
    let counted = this.#counted.get(index);
    if (counted === undefined) {
      counted = new Set();
      this.#counted.set(index, counted);
    }
    seen.results.forEach((r, i) => {
      if (!result_counted(r.code, r.gas_used)) return;
      const raw = seen.block.txs[i];
      if (raw === undefined || !this.#well_formed(raw, r.hash)) {
        this.fail(
          'validity',
          h,
          [index],
          `tx ${i} of height ${h} counted (code ${r.code}) but is not a well-formed, signed transaction`,
        );
        return;
      }
      if (counted.has(r.hash)) {
        this.fail('validity', h, [index], `tx ${r.hash.slice(0, 16)} counted twice (again at height ${h})`);
      }
      counted.add(r.hash);
    });
  }

  #well_formed(raw: string, hash: string): boolean {
    try {
      const tx = parse_tx_json(raw);
      return (
        tx.body.chain_id === this.#chain_id &&
        verify_tx_signature(this.#p, tx) &&
        tx_hash(this.#p, tx) === hash
      );
    } catch {
      return false;
    }
  }

  /**
   * Signing: an honest validator's outgoing consensus message. Only its own signatures count: a
   * node also relays others' messages (the last commit's precommits), an equivocator's included.
   */
  on_sent(index: number, body: unknown): void {
    if (!this.#honest(index)) return;
    const self = this.#validators[index]?.pubkey;
    const m = body as ConsensusMessage;
    let key: string;
    let bytes: Uint8Array;
    if (m?.kind === 'proposal') {
      const pr = m.proposal;
      if (pr.validator !== self) return;
      key = `${index}/${pr.height}/${pr.round}/proposal`;
      bytes = proposal_sign_bytes(this.#chain_id, {
        height: pr.height,
        round: pr.round,
        pol_round: pr.pol_round,
        block_hash: block_hash(this.#p, pr.block.header),
      });
    } else if (m?.kind === 'vote') {
      const v = m.vote;
      if (v.validator !== self) return;
      key = `${index}/${v.height}/${v.round}/${v.type}`;
      bytes = vote_sign_bytes(this.#chain_id, v);
    } else return;
    const digest = to_hex(this.#p.sha256(bytes));
    const before = this.#signed.get(key);
    if (before === undefined) this.#signed.set(key, digest);
    else if (before !== digest) {
      const [, height] = key.split('/');
      this.fail(
        'double_sign',
        Number(height),
        [index],
        `validator ${index} signed two different messages at ${key.slice(key.indexOf('/') + 1)}`,
      );
    }
  }

  /** Light client: a block input an honest enclave accepted for execution. */
  on_executed(index: number, input: BlockInput): void {
    // The simulator runs Cloister's engine: CometBFT evidence has no proposer signature to check.
    if (!this.#honest(index) || input.light === undefined || 'engine' in input.light) return;
    const { header, parent } = input.light;
    const rightful = proposer_at(this.#validators, header.height, header.round);
    if (header.proposer !== rightful) {
      this.fail(
        'light_client',
        header.height,
        [index],
        `enclave ${index} executed a block of ${header.proposer.slice(0, 8)}, not the rightful proposer`,
      );
    }
    const exec_ok = this.#p.ed25519_verify(
      from_hex(header.exec_signature, 64),
      exec_sign_bytes(header),
      from_hex(header.proposer, 32),
    );
    if (!exec_ok)
      this.fail(
        'light_client',
        header.height,
        [index],
        `enclave ${index} executed a block without the proposer's exec signature`,
      );
    if (parent === null) return;
    const parent_hash = block_hash(this.#p, parent);
    const agreed = this.decided(parent.height);
    if (agreed !== null && agreed !== parent_hash) {
      this.fail(
        'light_client',
        header.height,
        [index],
        `enclave ${index} executed on a parent at height ${parent.height} that was not committed`,
      );
    }
    const key = `${index}/${parent.height}`;
    const final = this.#final.get(key);
    if (final === undefined) this.#final.set(key, parent_hash);
    else if (final !== parent_hash) {
      this.fail(
        'light_client',
        parent.height,
        [index],
        `enclave ${index} took two different blocks as final at height ${parent.height}`,
      );
    }
  }

  /** Durability: what a restarted validator's store holds against what it had committed before. */
  on_restarted(
    index: number,
    committed_before: number,
    hashes_before: Map<number, string>,
    height_now: number,
    hash_at: (h: number) => string | null,
  ): void {
    if (height_now < committed_before) {
      this.fail(
        'durability',
        committed_before,
        [index],
        `validator ${index} restarted at height ${height_now} but had committed ${committed_before}`,
      );
      return;
    }
    for (const [h, hash] of hashes_before) {
      if (hash_at(h) !== hash)
        this.fail('durability', h, [index], `validator ${index} lost or changed block ${h} in a crash`);
    }
  }

  /** An honest validator halted. */
  on_halted(index: number, height: number, reason: string): void {
    if (!this.#honest(index)) return;
    this.fail('halt', height, [index], `honest validator ${index} halted at height ${height}: ${reason}`);
  }
}

export type { Validator };
