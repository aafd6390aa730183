/**
 * The BFT consensus engine: Tendermint as in "The latest gossip on BFT consensus" (Buchman, Kwon,
 * Milosevic 2018), one height at a time, rounds of propose → prevote → precommit, locking, and a
 * durable double-signing guard. See docs/consensus.md for the protocol and the safety argument.
 *
 * Shape of the implementation: `receive` and timers only record what happened (after checking
 * shapes and signatures) and `kick` the state machine; `#step_once` evaluates the paper's "upon"
 * rules against the recorded messages and performs at most one action; `#loop` runs it until
 * nothing fires. The loop is the only place that changes the round state, and it is never run
 * twice at once, so async steps (saving the signed state, the app's calls) cannot interleave.
 * Every continuation after an `await` checks `#epoch` (bumped on each height change and on stop)
 * before it acts.
 * @module
 */

import { check_chain_id, check_validator_set } from '../../protocol/checks.js';
import { invariant } from '../../protocol/invariant.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { PROPOSALS_PER_ROUND_MAX, RoundState } from './round_state.js';
import {
  type BlockShapeLimits,
  block_shape_error,
  commit_shape_error,
  header_shape_error,
  is_height,
  proposal_shape_error,
  ROUND_LIMIT,
  vote_shape_error,
} from './shapes.js';
import {
  check_sign,
  type SignedState,
  type SignedStateStore,
  type SignedStep,
  signed_state_error,
} from './signed_state.js';
import {
  type Block,
  type BlockHeader,
  block_hash,
  block_link_error,
  type Commit,
  type ConsensusMessage,
  cached_verify_hex,
  type Evidence,
  GENESIS_PARENT_HASH,
  type Hex,
  is_quorum,
  type Proposal,
  proposal_sign_bytes,
  proposer_at,
  total_power,
  type Validator,
  type Vote,
  type VoteType,
  verify_commit,
  verify_hex,
  vote_sign_bytes,
} from './types.js';

/** The signed state and its store (defined in signed_state.ts), part of this module's API. */
export type { SignedState, SignedStateStore, SignedStep } from './signed_state.js';

/** Timeouts of one round, in milliseconds. */
export interface ConsensusTimeouts {
  propose_ms: number;
  prevote_ms: number;
  precommit_ms: number;
  /** added to each timeout per round: timeouts grow per round */
  round_increment_ms: number;
  /** pause after a commit before the next height's round 0 */
  commit_ms: number;
  /**
   * Blocks on demand (issue #15, CometBFT's `create_empty_blocks = false` /
   * `create_empty_blocks_interval`): at each height after the first, round 0 waits, with no
   * timeout running and nothing signed, until the app holds a transaction it could include
   * ({@link ConsensusApp.has_txs}, {@link ConsensusEngine.txs_available}), another validator is
   * heard at this height, or this long has passed since the last block's time: then an empty block
   * is made. 0: never an empty block. Absent (a config written before issue #15), with
   * `block_time_ms` absent or 0: no waiting, a block right after each commit (`commit_ms`).
   * See {@link block_pacing}.
   */
  empty_block_interval_ms?: number;
  /**
   * Fixed pacing: round 0 of each height after the first begins `block_time_ms` after the last
   * block's time (or at once if that is past), transactions or not. Above 0 it takes precedence
   * over `empty_block_interval_ms`. Absent or 0: off.
   */
  block_time_ms?: number;
}

/** How a height's round 0 begins: at once, when there is something to include, or on a beat. */
export type BlockPacing =
  | { kind: 'continuous' }
  | { kind: 'on_demand'; empty_block_interval_ms: number }
  | { kind: 'fixed'; block_time_ms: number };

/**
 * The pacing `timeouts` ask for: `fixed` when `block_time_ms` > 0; else `on_demand` when
 * `empty_block_interval_ms` is present (0: never an empty block); else `continuous` (every config
 * written before issue #15: a block after each commit, empty or not).
 */
export function block_pacing(timeouts: ConsensusTimeouts): BlockPacing {
  const block_time_ms = timeouts.block_time_ms ?? 0;
  if (block_time_ms > 0) return { kind: 'fixed', block_time_ms };
  if (timeouts.empty_block_interval_ms !== undefined)
    return { kind: 'on_demand', empty_block_interval_ms: timeouts.empty_block_interval_ms };
  return { kind: 'continuous' };
}

/** What the engine needs from the application (the host with its enclave). */
export interface ConsensusApp {
  /** Proposer: build a block for (height, round) on `parent` (null at height 1) carrying `last_commit`; the app executes it in its enclave and fills header.result_hash. A rejection means: propose nothing this round. */
  propose(args: {
    height: number;
    round: number;
    parent: BlockHeader | null;
    last_commit: Commit | null;
  }): Promise<Block>;
  /** Validator: check and execute a proposed block; true only if all holds and its own result hash equals header.result_hash. */
  validate(block: Block): Promise<boolean>;
  /** Persist a decided block with its commit (atomic, durable) before the engine moves on. */
  commit(block: Block, commit: Commit): Promise<void>;
  /**
   * Whether the next block could include a transaction (the mempool holds one whose turn it is).
   * Asked at round 0 of each height when blocks are made on demand ({@link block_pacing});
   * absent: never (only the interval, or another validator, starts a height).
   */
  has_txs?(): boolean;
}

/** This validator's consensus key. */
export interface ConsensusSigner {
  readonly pubkey: Hex;
  /** Ed25519 signature of `message`, as 128 lowercase hex characters. */
  sign(message: Uint8Array): Hex;
}

/** Where the engine's messages go: every other validator. */
export interface ConsensusOutbox {
  broadcast(msg: ConsensusMessage): void;
}

/** Time, injected so tests and the simulator run on a virtual clock. */
export interface ConsensusClock {
  now_ms(): number;
  /** Calls `fn` once after `delay_ms`; the returned function cancels it. */
  set_timer(delay_ms: number, fn: () => void): () => void;
}

/** Bounds on what the engine keeps. */
export interface ConsensusLimits {
  /** Verified messages buffered for heights above the current one (or before `start`). */
  future_messages_max: number;
  /** Buffer messages up to this many heights above the current one. */
  future_heights_max: number;
  /** Accept messages up to this many rounds above the current round. */
  future_rounds_max: number;
  /** Evidence entries kept (oldest dropped first). */
  evidence_max: number;
  /** Distinct blocks handed to app.validate per height. */
  validations_per_height_max: number;
  /** Transactions in one block. */
  block_txs_max: number;
  /** Length of one transaction text, in UTF-16 code units. */
  tx_chars_max: number;
}

/** Default {@link ConsensusLimits}. */
export const DEFAULT_CONSENSUS_LIMITS: Readonly<ConsensusLimits> = Object.freeze({
  future_messages_max: 1024,
  future_heights_max: 4,
  future_rounds_max: 64,
  evidence_max: 256,
  validations_per_height_max: 64,
  block_txs_max: 10_000,
  tx_chars_max: 1_048_576,
});

/** Options of {@link ConsensusEngine}. */
export interface ConsensusOptions {
  chain_id: string;
  validators: Validator[];
  timeouts: ConsensusTimeouts;
  /** Overrides of {@link DEFAULT_CONSENSUS_LIMITS}. */
  limits?: Partial<ConsensusLimits>;
  /**
   * Period of re-sending this validator's messages of the current round and the last commit's
   * precommits (the gossip the paper assumes, so dropped messages are made good). Default:
   * `timeouts.propose_ms`, at least 1.
   */
  rebroadcast_ms?: number;
}

/** Modules of {@link ConsensusEngine}, injected so the simulator controls clock, network and signer. */
export interface ConsensusModules {
  p: CryptoProvider;
  app: ConsensusApp;
  signer: ConsensusSigner;
  outbox: ConsensusOutbox;
  clock: ConsensusClock;
  signed_state: SignedStateStore;
  log?: (event: string, fields: Record<string, unknown>) => void;
  /**
   * Called once when the engine halts (an invariant failed, the app could not commit, the signer
   * is broken): the node's halt path, so a halted engine is never a silent log line.
   */
  on_halt?: (reason: string) => void;
}

/** Where a node begins deciding: the next height and what its store has committed below it. */
export interface ConsensusStart {
  height: number;
  parent: BlockHeader | null;
  last_commit: Commit | null;
}

/** The step of the engine: the paper's three, `commit` between a decision and the next height, and lifecycle states. */
export type ConsensusStep = 'idle' | 'propose' | 'prevote' | 'precommit' | 'commit' | 'stopped' | 'halted';

/** Largest timeout accepted (one hour): a typo of units should fail loudly. */
export const TIMEOUT_MS_MAX = 3_600_000;

/**
 * Largest `total power × validator count`: `proposer_at` costs that many steps per call (cached
 * per height and round), so this bounds its cost.
 */
export const PROPOSER_COST_MAX = 10_000_000;

/** Timeout of `kind` in `round`: the base grows by `round_increment_ms` each round. */
export function timeout_ms(
  timeouts: ConsensusTimeouts,
  kind: 'propose' | 'prevote' | 'precommit',
  round: number,
): number {
  const base =
    kind === 'propose'
      ? timeouts.propose_ms
      : kind === 'prevote'
        ? timeouts.prevote_ms
        : timeouts.precommit_ms;
  return base + round * timeouts.round_increment_ms;
}

type TimeoutKind = 'propose' | 'prevote' | 'precommit';
type Validity = 'pending' | boolean;

interface DueTimeout {
  kind: TimeoutKind;
  height: number;
  round: number;
}

/** A verified message buffered for a later height. */
interface Buffered {
  msg: ConsensusMessage;
  height: number;
  /** Block hash of a proposal, or the vote's block hash. */
  hash: Hex | null;
  signature: Hex;
}

const PROPOSER_CACHE_MAX = 1024;

/** Throws InvariantError when an invariant of the engine does not hold (a bug, never bad input): the engine halts. */
function assert(condition: boolean, message: string): asserts condition {
  invariant(condition, `consensus: ${message}`);
}

function check_timeouts(t: unknown): asserts t is ConsensusTimeouts {
  if (typeof t !== 'object' || t === null) throw new TypeError('timeouts must be an object');
  const optional = ['empty_block_interval_ms', 'block_time_ms'] as const;
  for (const key of [
    'propose_ms',
    'prevote_ms',
    'precommit_ms',
    'round_increment_ms',
    'commit_ms',
    ...optional,
  ] as const) {
    const value = (t as Record<string, unknown>)[key];
    if (value === undefined && (optional as readonly string[]).includes(key)) continue;
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw new TypeError(`timeouts.${key} must be a number`);
    if (value < 0 || value > TIMEOUT_MS_MAX)
      throw new RangeError(`timeouts.${key} must be in [0, ${TIMEOUT_MS_MAX}]`);
  }
}

/**
 * One validator's consensus engine. Construct with `(opts, modules)`, then `start`; feed it every
 * consensus message with `receive`; it calls the app to propose, validate and commit, and
 * broadcasts its own signed messages through the outbox.
 */
export class ConsensusEngine {
  readonly #opts: ConsensusOptions;
  readonly #m: ConsensusModules;
  readonly #limits: ConsensusLimits;
  readonly #shape_limits: BlockShapeLimits;
  readonly #validators: readonly Validator[];
  readonly #power: ReadonlyMap<Hex, number>;
  readonly #total: number;
  readonly #self: Hex;
  readonly #rebroadcast_ms: number;
  readonly #pacing: BlockPacing;
  /** Vote and commit signature checks, remembering valid ones: precommits come back in the next block's last_commit. */
  readonly #verify = cached_verify_hex();

  #state: 'new' | 'starting' | 'running' | 'stopped' | 'halted' = 'new';
  #height = 0;
  #round = 0;
  #step: 'propose' | 'prevote' | 'precommit' | 'commit' = 'propose';
  /** Bumped on every height change and on stop; async continuations compare it before acting. */
  #epoch = 0;

  #parent: BlockHeader | null = null;
  #parent_hash: Hex = GENESIS_PARENT_HASH;
  #last_commit: Commit | null = null;
  /** The commit decided at this height (while waiting `commit_ms`), for re-sending. */
  #decided_commit: Commit | null = null;

  #rounds = new Map<number, RoundState>();
  /** Every block of this height seen in a proposal of the right proposer, by hash. */
  #blocks = new Map<Hex, Block>();
  /** Engine-side checks of a block against this height (null: passes). */
  #structure = new Map<Hex, string | null>();
  /** app.validate results (at most one call per block). */
  #validity = new Map<Hex, Validity>();
  #locked_round = -1;
  #locked_block: Block | null = null;
  #locked_hash: Hex | null = null;
  #valid_round = -1;
  /** The proof of lock read back from the signed state after a restart (until re-received). */
  #restored_pol: Vote[] = [];
  #valid_block: Block | null = null;

  /**
   * Pipelining (docs/consensus.md "Pipelining"): the block the app began building for round 0 of
   * the next height during the pause after a commit, when this validator proposes it.
   */
  #early: { height: number; parent_hash: Hex; promise: Promise<Block> } | null = null;
  /** A block this validator is ready to propose (from app.propose or its valid block). */
  #own_block: { round: number; block: Block; pol_round: number } | null = null;
  #proposed_round = -1;
  /**
   * Own messages of the current and the previous round, re-sent by the rebroadcast timer. The
   * previous round's too: a node that moved on after seeing 2/3 precommits must keep its own
   * precommit reaching those still waiting for it, or they wait forever.
   */
  #own_messages = new Map<number, ConsensusMessage[]>();

  #due: DueTimeout[] = [];
  #timer_cancels = new Set<() => void>();
  #rebroadcast_cancel: (() => void) | null = null;

  #last_signed: SignedState | null = null;
  /**
   * Round 0 of this height is held back ({@link block_pacing}): for a transaction (`txs`, or the
   * empty-block interval) or for the block time (`time`); null once the round has begun.
   */
  #waiting: 'txs' | 'time' | null = null;
  #waiting_since_ms = 0;

  #future = new Map<string, Buffered>();
  /** Highest height each validator was seen signing at, above ours. */
  #highest_seen = new Map<Hex, number>();
  /** Highest height H for which a proposal carried a verified commit of H - 1. */
  #proven_height = 0;
  #behind_fired = 0;
  #behind_since_ms: number | null = null;

  readonly #evidence: Evidence[] = [];
  readonly #evidence_fns: ((e: Evidence) => void)[] = [];
  readonly #behind_fns: ((height: number) => void)[] = [];

  #looping = false;
  #dirty = false;
  #proposer_cache = new Map<string, Hex>();

  constructor(opts: ConsensusOptions, modules: ConsensusModules) {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('opts must be an object');
    if (typeof modules !== 'object' || modules === null) throw new TypeError('modules must be an object');
    // The shared rules (protocol/checks.ts): TypeError for a wrong kind, RangeError for a limit.
    check_chain_id(opts.chain_id);
    const power = new Map<Hex, number>();
    for (const v of check_validator_set(opts.validators)) power.set(v.pubkey, v.power);
    const total = total_power(opts.validators);
    if (total * opts.validators.length > PROPOSER_COST_MAX) {
      throw new RangeError(`total power × validators must be at most ${PROPOSER_COST_MAX}`);
    }
    check_timeouts(opts.timeouts);
    const limits = { ...DEFAULT_CONSENSUS_LIMITS, ...(opts.limits ?? {}) };
    for (const [key, value] of Object.entries(limits)) {
      if (!Number.isSafeInteger(value) || value < 1)
        throw new RangeError(`limits.${key} must be an integer ≥ 1`);
    }
    const rebroadcast_ms = opts.rebroadcast_ms ?? Math.max(1, opts.timeouts.propose_ms);
    if (typeof rebroadcast_ms !== 'number' || !(rebroadcast_ms >= 1) || rebroadcast_ms > TIMEOUT_MS_MAX) {
      throw new RangeError(`rebroadcast_ms must be in [1, ${TIMEOUT_MS_MAX}]`);
    }
    const { p, app, signer, outbox, clock, signed_state } = modules;
    if (typeof p?.sha256 !== 'function' || typeof p.ed25519_verify !== 'function') {
      throw new TypeError('modules.p must be a CryptoProvider');
    }
    if (
      typeof app?.propose !== 'function' ||
      typeof app.validate !== 'function' ||
      typeof app.commit !== 'function'
    ) {
      throw new TypeError('modules.app must implement propose, validate and commit');
    }
    if (typeof signer?.sign !== 'function' || typeof signer.pubkey !== 'string') {
      throw new TypeError('modules.signer must have pubkey and sign');
    }
    if (typeof outbox?.broadcast !== 'function') throw new TypeError('modules.outbox must have broadcast');
    if (typeof clock?.now_ms !== 'function' || typeof clock.set_timer !== 'function') {
      throw new TypeError('modules.clock must have now_ms and set_timer');
    }
    if (typeof signed_state?.load !== 'function' || typeof signed_state.save !== 'function') {
      throw new TypeError('modules.signed_state must have load and save');
    }
    // Copies: a caller mutating its options later must not change a running engine.
    this.#opts = { ...opts, timeouts: { ...opts.timeouts } };
    this.#m = modules;
    this.#limits = limits;
    this.#shape_limits = {
      block_txs_max: limits.block_txs_max,
      tx_chars_max: limits.tx_chars_max,
      commit_signatures_max: opts.validators.length,
    };
    this.#validators = opts.validators.map((v) => ({ pubkey: v.pubkey, power: v.power }));
    this.#power = power;
    this.#total = total;
    // Quorums must intersect: any two sets of more than 2/3 of the power share more than 1/3 of it,
    // so at least one honest validator, which never votes for two blocks in one round.
    const quorum_min = Math.floor((2 * total) / 3) + 1;
    assert(is_quorum(quorum_min, total) && 3 * (2 * quorum_min - total) > total, 'quorums intersect');
    this.#self = signer.pubkey;
    this.#rebroadcast_ms = rebroadcast_ms;
    this.#pacing = block_pacing(this.#opts.timeouts);
  }

  /** The height being decided (0 before start). */
  get height(): number {
    return this.#height;
  }

  /** The current round. */
  get round(): number {
    return this.#round;
  }

  /** The current step ({@link ConsensusStep}). */
  get step(): ConsensusStep {
    if (this.#state === 'new' || this.#state === 'starting') return 'idle';
    if (this.#state === 'stopped' || this.#state === 'halted') return this.#state;
    return this.#step;
  }

  /**
   * True while round 0 of this height is held back until there is a block to make (blocks on
   * demand or at a fixed block time, {@link block_pacing}): no timeout runs and nothing is signed.
   */
  get waiting(): boolean {
    return this.#waiting !== null && this.#state === 'running';
  }

  /**
   * The node's mempool took a transaction: a height waiting for one begins its round 0 (through a
   * microtask, so the mempool's own call has returned first). Cheap and harmless at any other time.
   */
  txs_available(): void {
    if (this.#waiting !== 'txs' || this.#state !== 'running') return;
    const epoch = this.#epoch;
    queueMicrotask(() => {
      if (epoch !== this.#epoch || this.#waiting !== 'txs' || this.#state !== 'running') return;
      this.#wake('txs');
      this.#kick();
    });
  }

  /** Double-signing seen from others (bounded list, oldest dropped first); a copy. */
  get evidence(): readonly Evidence[] {
    return Object.freeze([...this.#evidence]);
  }

  /** Registers a listener for new evidence (called asynchronously, once per evidence). */
  on_evidence(fn: (e: Evidence) => void): void {
    if (typeof fn !== 'function') throw new TypeError('on_evidence needs a function');
    this.#evidence_fns.push(fn);
  }

  /**
   * Registers a listener called (asynchronously) when messages show the network deciding a
   * height above ours: every height below the one passed has a commit, so the node should fetch
   * committed blocks and call {@link catch_up}. Called again while the node stays behind.
   */
  on_behind(fn: (height: number) => void): void {
    if (typeof fn !== 'function') throw new TypeError('on_behind needs a function');
    this.#behind_fns.push(fn);
  }

  /**
   * Begins at `from.height` on top of `from.parent`/`from.last_commit` (what the store has
   * committed). Loads the signed state first; if it is for this height, resumes its round and
   * lock and re-sends the last signed message. Throws TypeError/RangeError for a bad `from` or a
   * corrupt signed state.
   */
  async start(from: ConsensusStart): Promise<void> {
    if (this.#state !== 'new') throw new Error(`start called when ${this.#state}`);
    this.#check_start(from);
    this.#state = 'starting';
    let saved: SignedState | null;
    try {
      saved = await this.#m.signed_state.load();
      if ((this.#state as string) !== 'starting') return; // stopped while loading
      if (saved !== null && saved !== undefined) this.#check_saved(saved);
    } catch (error) {
      // Without a trustworthy signed state this validator must not sign: stay unstarted.
      if ((this.#state as string) === 'starting') this.#state = 'new';
      throw error;
    }
    this.#last_signed = saved ?? null;
    this.#state = 'running';
    this.#log('start', {
      height: from.height,
      validator: this.#power.has(this.#self),
      signed: saved ? `${saved.height}/${saved.round}/${saved.step}` : null,
    });
    if (saved && saved.height > from.height) {
      // The store is behind what we signed (it lost a commit?): signing at lower positions is refused
      // by the guard, so this node stays quiet until the chain passes `saved.height`.
      this.#log('signed_state_ahead', { signed_height: saved.height, height: from.height });
    }
    this.#enter_height(from.height, from.parent, from.last_commit);
    if (saved && saved.height === from.height) this.#restore(saved);
    else this.#start_round(0);
    // The proof of our lock, as if received again: checked and counted like any vote, and from
    // here re-sent with the valid block it justifies (#rebroadcast).
    for (const vote of this.#restored_pol) this.receive({ kind: 'vote', vote });
    this.#arm_rebroadcast();
    this.#kick();
  }

  /** Any message from the network; drops junk (malformed, unknown validator, bad signature, wrong chain). */
  receive(msg: ConsensusMessage): void {
    if (this.#state === 'stopped' || this.#state === 'halted') return;
    try {
      this.#receive(msg as unknown);
    } catch (error) {
      // One peer's message must never take the engine down: log and drop.
      this.#log('receive_error', { error: (error as Error)?.message ?? String(error) });
    }
  }

  /**
   * After the node synced committed blocks: jump to deciding `from.height`. Ignored (logged) if
   * the engine is not running or already at or past that height. Throws TypeError/RangeError if
   * `from` is malformed or its last_commit does not commit its parent.
   */
  catch_up(from: ConsensusStart): void {
    this.#check_start(from);
    if (this.#state !== 'running') {
      this.#log('catch_up_ignored', { height: from.height, state: this.#state });
      return;
    }
    if (from.height <= this.#height) {
      this.#log('catch_up_ignored', { height: from.height, at: this.#height });
      return;
    }
    this.#log('catch_up', { from: this.#height, to: from.height });
    this.#enter_height(from.height, from.parent, from.last_commit);
    this.#start_round(0);
    this.#kick();
  }

  /** Stops: cancels timers, sends and signs nothing more; pending async work is discarded. */
  stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#early = null;
    this.#epoch++;
    this.#cancel_timers();
    this.#rebroadcast_cancel?.();
    this.#rebroadcast_cancel = null;
    this.#log('stop', { height: this.#height, round: this.#round });
  }

  // ---------------------------------------------------------------------------------------------
  // Boundaries

  #check_start(from: ConsensusStart): void {
    if (typeof from !== 'object' || from === null) throw new TypeError('from must be an object');
    if (!is_height(from.height)) throw new RangeError('from.height must be an integer ≥ 1');
    if (from.height === 1) {
      if (from.parent !== null || from.last_commit !== null) {
        throw new RangeError('height 1 has no parent and no last_commit');
      }
      return;
    }
    const header_error = header_shape_error(from.parent);
    if (header_error !== null) throw new TypeError(`from.parent: ${header_error}`);
    const parent = from.parent as BlockHeader;
    if (parent.height !== from.height - 1) throw new RangeError('from.parent is not at from.height - 1');
    if (parent.chain_id !== this.#opts.chain_id) throw new RangeError('from.parent is of another chain');
    const commit_error = commit_shape_error(from.last_commit, this.#shape_limits);
    if (commit_error !== null) throw new TypeError(`from.last_commit: ${commit_error}`);
    const commit = from.last_commit as Commit;
    if (commit.height !== parent.height || commit.block_hash !== block_hash(this.#m.p, parent)) {
      throw new RangeError('from.last_commit does not commit from.parent');
    }
    const why = verify_commit(this.#m.p, this.#opts.chain_id, this.#validators, commit, this.#verify);
    if (why !== null) throw new RangeError(`from.last_commit: ${why}`);
  }

  #check_saved(saved: SignedState): void {
    const error = signed_state_error(saved, this.#shape_limits);
    if (error !== null) throw new TypeError(`signed state: ${error}`);
    // A signature that is not ours means the store belongs to another key: refuse to run on it.
    if (!verify_hex(this.#m.p, saved.signature, this.#sign_bytes(saved), this.#self)) {
      throw new RangeError('signed state: signature is not this signer’s');
    }
    if (
      saved.proposal_block !== null &&
      block_hash(this.#m.p, saved.proposal_block.header) !== saved.block_hash
    ) {
      throw new RangeError('signed state: proposal_block does not match block_hash');
    }
  }

  #sign_bytes(s: {
    height: number;
    round: number;
    step: SignedStep;
    block_hash: Hex | null;
    pol_round: number;
  }): Uint8Array {
    if (s.step === 'proposal') {
      if (s.block_hash === null) throw new RangeError('a proposal needs a block hash');
      return proposal_sign_bytes(this.#opts.chain_id, {
        height: s.height,
        round: s.round,
        pol_round: s.pol_round,
        block_hash: s.block_hash,
      });
    }
    return vote_sign_bytes(this.#opts.chain_id, {
      type: s.step,
      height: s.height,
      round: s.round,
      block_hash: s.block_hash,
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving

  #receive(msg: unknown): void {
    if (typeof msg !== 'object' || msg === null) {
      this.#drop('not an object');
      return;
    }
    const m = msg as Record<string, unknown>;
    if (Object.keys(m).length !== 2) {
      this.#drop('message keys');
      return;
    }
    if (m['kind'] === 'vote') {
      const error = vote_shape_error(m['vote']);
      if (error !== null) {
        this.#drop(error);
        return;
      }
      this.#on_vote(m['vote'] as Vote);
    } else if (m['kind'] === 'proposal') {
      const error = proposal_shape_error(m['proposal'], this.#shape_limits);
      if (error !== null) {
        this.#drop(error);
        return;
      }
      this.#on_proposal(m['proposal'] as Proposal);
    } else {
      this.#drop('message kind');
    }
  }

  #drop(reason: string, fields: Record<string, unknown> = {}): void {
    this.#log('drop', { reason, ...fields });
  }

  #on_vote(vote: Vote): void {
    const power = this.#power.get(vote.validator);
    if (power === undefined) {
      this.#drop('vote from a non-validator');
      return;
    }
    const running = this.#state === 'running';
    if (running && vote.height < this.#height) return; // decided already; nothing to learn
    if (running && vote.height === this.#height) {
      if (vote.round > this.#round + this.#limits.future_rounds_max) {
        this.#drop('vote round too far ahead');
        return;
      }
      const seen = this.#rounds.get(vote.round)?.[vote.type === 'prevote' ? 'prevotes' : 'precommits'];
      if (seen?.has_signature(vote.validator, vote.signature)) return; // a duplicate delivery
      if (!this.#verify_vote(vote)) {
        this.#drop('bad vote signature', { validator: vote.validator.slice(0, 8) });
        return;
      }
      this.#insert_vote(vote, power);
      this.#kick();
      return;
    }
    // A later height (or not started yet): verify, buffer, and learn how far ahead the network is.
    if (this.#buffered(vote.height, vote.round, vote.type, vote.validator, vote.signature)) return;
    if (!this.#verify_vote(vote)) {
      this.#drop('bad vote signature', { validator: vote.validator.slice(0, 8) });
      return;
    }
    this.#buffer(
      { kind: 'vote', vote },
      vote.height,
      vote.round,
      vote.validator,
      vote.block_hash,
      vote.signature,
    );
  }

  #verify_vote(vote: Vote): boolean {
    const bytes = vote_sign_bytes(this.#opts.chain_id, vote);
    return this.#verify(this.#m.p, vote.signature, bytes, vote.validator);
  }

  #on_proposal(proposal: Proposal): void {
    if (!this.#power.has(proposal.validator)) {
      this.#drop('proposal from a non-validator');
      return;
    }
    const header = proposal.block.header;
    if (header.chain_id !== this.#opts.chain_id) {
      this.#drop('proposal of another chain');
      return;
    }
    if (header.height !== proposal.height) {
      this.#drop('proposal height differs from its block');
      return;
    }
    if (proposal.pol_round === -1) {
      // A fresh block is built in the round it is proposed, by that round's proposer.
      if (header.round !== proposal.round || header.proposer !== proposal.validator) {
        this.#drop('fresh proposal of a block from another round or proposer');
        return;
      }
    } else if (header.round > proposal.pol_round) {
      this.#drop('re-proposed block is younger than its pol_round');
      return;
    }
    const running = this.#state === 'running';
    if (running && proposal.height < this.#height) return;
    if (running && proposal.height === this.#height) {
      if (proposal.round > this.#round + this.#limits.future_rounds_max) {
        this.#drop('proposal round too far ahead');
        return;
      }
      const rs = this.#rounds.get(proposal.round);
      if (rs?.proposals.some((s) => s.proposal.signature === proposal.signature)) return; // duplicate delivery
    } else if (
      this.#buffered(proposal.height, proposal.round, 'proposal', proposal.validator, proposal.signature)
    ) {
      return;
    }
    if (this.#proposer(proposal.height, proposal.round) !== proposal.validator) {
      this.#drop('proposal from a validator that is not the proposer');
      return;
    }
    const hash = block_hash(this.#m.p, header);
    const bytes = proposal_sign_bytes(this.#opts.chain_id, {
      height: proposal.height,
      round: proposal.round,
      pol_round: proposal.pol_round,
      block_hash: hash,
    });
    if (!verify_hex(this.#m.p, proposal.signature, bytes, proposal.validator)) {
      this.#drop('bad proposal signature');
      return;
    }
    if (running && proposal.height === this.#height) {
      this.#insert_proposal(proposal, hash);
      this.#kick();
      return;
    }
    const fresh = this.#buffer(
      { kind: 'proposal', proposal },
      proposal.height,
      proposal.round,
      proposal.validator,
      hash,
      proposal.signature,
    );
    if (fresh && running) this.#learn_from_last_commit(proposal);
  }

  /** True if exactly this message (same signature) is buffered already. */
  #buffered(height: number, round: number, step: SignedStep, validator: Hex, signature: Hex): boolean {
    return this.#future.get(`${height}/${round}/${step}/${validator}`)?.signature === signature;
  }

  /**
   * Buffers a verified message of a later height (bounded, one per validator, height, round and
   * step; a conflicting second one is evidence). Returns whether it was new.
   */
  #buffer(
    msg: ConsensusMessage,
    height: number,
    round: number,
    validator: Hex,
    hash: Hex | null,
    signature: Hex,
  ): boolean {
    const running = this.#state === 'running';
    const step = msg.kind === 'vote' ? msg.vote.type : 'proposal';
    const key = `${height}/${round}/${step}/${validator}`;
    const first = this.#future.get(key);
    if (first !== undefined) {
      if (first.signature === signature) return false;
      if (first.hash !== hash) {
        this.#record_evidence({
          kind: step === 'proposal' ? 'duplicate_proposal' : 'duplicate_vote',
          validator,
          height,
          round,
          step,
          a: first.hash,
          b: hash,
          signature_a: first.signature,
          signature_b: signature,
        });
      }
      return false;
    }
    if (running) {
      const prev = this.#highest_seen.get(validator) ?? 0;
      if (height > prev) this.#highest_seen.set(validator, height);
    }
    const in_window =
      round <= this.#limits.future_rounds_max &&
      (!running || height <= this.#height + this.#limits.future_heights_max);
    if (in_window && this.#future.size < this.#limits.future_messages_max) {
      this.#future.set(key, { msg, height, hash, signature });
    } else if (in_window) {
      this.#drop('future buffer full', { height });
    }
    if (running) this.#check_behind();
    return true;
  }

  /**
   * A proposal for a later height carries the commit of its parent. If that commit is for the
   * height we are deciding, its precommits are as good as if they had reached us (they are
   * verified), so we can decide from them; if it is for a later height, we are behind.
   */
  #learn_from_last_commit(proposal: Proposal): void {
    const commit = proposal.block.last_commit;
    if (commit === null || commit.height !== proposal.height - 1 || commit.height < this.#height) return;
    if (commit.block_hash !== proposal.block.header.prev_block_hash) return;
    if (verify_commit(this.#m.p, this.#opts.chain_id, this.#validators, commit, this.#verify) !== null)
      return;
    if (proposal.height > this.#proven_height) this.#proven_height = proposal.height;
    if (commit.height === this.#height && commit.round <= this.#round + this.#limits.future_rounds_max) {
      for (const sig of commit.signatures) {
        const power = this.#power.get(sig.validator);
        if (power === undefined) continue; // verify_commit rules this out
        this.#insert_vote(
          {
            type: 'precommit',
            height: commit.height,
            round: commit.round,
            block_hash: commit.block_hash,
            validator: sig.validator,
            signature: sig.signature,
          },
          power,
        );
      }
      this.#kick();
    }
    this.#check_behind();
  }

  #round_state(round: number): RoundState {
    let rs = this.#rounds.get(round);
    if (rs === undefined) {
      rs = new RoundState();
      this.#rounds.set(round, rs);
    }
    return rs;
  }

  /**
   * Counts a verified vote of this height. A second, different vote of the same validator, round
   * and type is evidence; it counts only toward its own value (round_state.ts explains why).
   */
  #insert_vote(vote: Vote, power: number): void {
    assert(vote.height === this.#height, 'vote of another height inserted');
    const rs = this.#round_state(vote.round);
    rs.add_sender(vote.validator, power);
    const result = (vote.type === 'prevote' ? rs.prevotes : rs.precommits).add(vote, power);
    if (result.kind === 'conflict') {
      if (!result.counted)
        this.#log('vote_not_counted', { validator: vote.validator.slice(0, 8), round: vote.round });
      this.#record_evidence({
        kind: 'duplicate_vote',
        validator: vote.validator,
        height: vote.height,
        round: vote.round,
        step: vote.type,
        a: result.first.block_hash,
        b: vote.block_hash,
        signature_a: result.first.signature,
        signature_b: vote.signature,
      });
    }
  }

  /** Records a verified proposal of this height by the round's proposer. */
  #insert_proposal(proposal: Proposal, hash: Hex): void {
    assert(proposal.height === this.#height, 'proposal of another height inserted');
    const rs = this.#round_state(proposal.round);
    const power = this.#power.get(proposal.validator) ?? 0;
    rs.add_sender(proposal.validator, power);
    const first = rs.proposals[0];
    if (first !== undefined) {
      if (first.block_hash === hash && first.proposal.pol_round === proposal.pol_round) return;
      if (first.block_hash !== hash) {
        this.#record_evidence({
          kind: 'duplicate_proposal',
          validator: proposal.validator,
          height: proposal.height,
          round: proposal.round,
          step: 'proposal',
          a: first.block_hash,
          b: hash,
          signature_a: first.proposal.signature,
          signature_b: proposal.signature,
        });
      }
      if (rs.proposals.length >= PROPOSALS_PER_ROUND_MAX || rs.proposal_for(hash) !== undefined) return;
    }
    rs.proposals.push({ proposal, block_hash: hash });
    if (!this.#blocks.has(hash)) this.#blocks.set(hash, proposal.block);
  }

  #record_evidence(e: Evidence): void {
    if (e.validator === this.#self) return;
    const same = (x: Evidence) =>
      x.kind === e.kind &&
      x.validator === e.validator &&
      x.height === e.height &&
      x.round === e.round &&
      x.step === e.step;
    if (this.#evidence.some(same)) return;
    this.#evidence.push(e);
    if (this.#evidence.length > this.#limits.evidence_max) this.#evidence.shift();
    this.#log('evidence', { ...e });
    for (const fn of this.#evidence_fns) this.#call_later(() => fn(e));
  }

  // ---------------------------------------------------------------------------------------------
  // Heights and rounds

  /** Resets everything per height and replays the buffered messages of the new height. */
  #enter_height(height: number, parent: BlockHeader | null, last_commit: Commit | null): void {
    assert(height > this.#height, 'heights only increase');
    this.#epoch++;
    this.#cancel_timers();
    this.#height = height;
    this.#round = 0;
    this.#step = 'propose';
    this.#parent = parent;
    this.#parent_hash = parent === null ? GENESIS_PARENT_HASH : block_hash(this.#m.p, parent);
    this.#last_commit = last_commit;
    this.#decided_commit = null;
    this.#rounds = new Map();
    this.#blocks = new Map();
    this.#structure = new Map();
    this.#validity = new Map();
    this.#locked_round = -1;
    this.#locked_block = null;
    this.#locked_hash = null;
    this.#valid_round = -1;
    this.#valid_block = null;
    this.#restored_pol = [];
    this.#own_block = null;
    this.#proposed_round = -1;
    this.#own_messages = new Map();
    this.#due = [];
    this.#waiting = null;
    this.#behind_since_ms = null;
    for (const key of this.#proposer_cache.keys()) {
      if (Number(key.split('/')[0]) < height) this.#proposer_cache.delete(key);
    }
    for (const [validator, seen] of this.#highest_seen)
      if (seen <= height) this.#highest_seen.delete(validator);
    const replay: Buffered[] = [];
    for (const [key, b] of this.#future) {
      if (b.height <= height) this.#future.delete(key);
      if (b.height === height) replay.push(b);
    }
    for (const b of replay) {
      if (b.msg.kind === 'vote') {
        const power = this.#power.get(b.msg.vote.validator);
        if (power !== undefined) this.#insert_vote(b.msg.vote, power);
      } else if (b.hash !== null) {
        this.#insert_proposal(b.msg.proposal, b.hash);
      }
    }
  }

  /** Resumes a height after a restart from what was signed last: round, step, lock and that message. */
  #restore(saved: SignedState): void {
    this.#round = saved.round;
    if (saved.locked_block !== null) {
      const hash = block_hash(this.#m.p, saved.locked_block.header);
      this.#locked_round = saved.locked_round;
      this.#locked_block = saved.locked_block;
      this.#locked_hash = hash;
      this.#valid_round = saved.locked_round;
      this.#valid_block = saved.locked_block;
      this.#blocks.set(hash, saved.locked_block);
      // It was validated before we precommitted it; app.validate runs at most once per block.
      this.#validity.set(hash, true);
      this.#restored_pol = saved.locked_pol ?? [];
    }
    let msg: ConsensusMessage;
    if (saved.step === 'proposal') {
      const block = saved.proposal_block as Block;
      const proposal: Proposal = {
        height: saved.height,
        round: saved.round,
        pol_round: saved.pol_round,
        block,
        validator: this.#self,
        signature: saved.signature,
      };
      this.#insert_proposal(proposal, saved.block_hash as Hex);
      this.#validity.set(saved.block_hash as Hex, true);
      this.#proposed_round = saved.round;
      this.#step = 'propose';
      this.#schedule('propose', saved.round);
      msg = { kind: 'proposal', proposal };
    } else {
      const vote: Vote = {
        type: saved.step,
        height: saved.height,
        round: saved.round,
        block_hash: saved.block_hash,
        validator: this.#self,
        signature: saved.signature,
      };
      const power = this.#power.get(this.#self);
      if (power !== undefined) this.#insert_vote(vote, power);
      this.#step = saved.step;
      msg = { kind: 'vote', vote };
    }
    this.#log('restored', {
      height: saved.height,
      round: saved.round,
      step: saved.step,
      locked_round: saved.locked_round,
    });
    // It may never have left before the crash: send it (the very same signature) now.
    if (this.#can_sign()) this.#send(msg);
  }

  #start_round(round: number): void {
    assert(round >= this.#round, 'rounds only increase within a height');
    this.#round = round;
    this.#step = 'propose';
    this.#waiting = null;
    for (const r of this.#own_messages.keys()) if (r < round - 1) this.#own_messages.delete(r);
    if (round === 0 && this.#hold_round0()) return;
    this.#begin_round(round);
  }

  /**
   * Whether round 0 of this height waits ({@link block_pacing}); if so, sets `#waiting` and the
   * timer that ends the wait. Never at height 1 (the first block shows the network runs), never
   * with `continuous` pacing, never once another validator is heard at this height (it has a
   * reason to make a block: a transaction, or its clock), and never when the wait would be over.
   */
  #hold_round0(): boolean {
    const pacing = this.#pacing;
    if (pacing.kind === 'continuous' || this.#height === 1 || this.#others_active()) return false;
    const now = this.#m.clock.now_ms();
    const parent_ms = this.#parent?.time_ms ?? now;
    let wait_ms: number | null;
    if (pacing.kind === 'fixed') {
      wait_ms = parent_ms + pacing.block_time_ms - now;
      if (wait_ms <= 0) return false;
    } else {
      if (this.#m.app.has_txs?.() === true) return false;
      // 0: never an empty block; only a transaction or another validator ends the wait.
      wait_ms = pacing.empty_block_interval_ms > 0 ? parent_ms + pacing.empty_block_interval_ms - now : null;
      if (wait_ms !== null && wait_ms <= 0) return false;
    }
    this.#waiting = pacing.kind === 'fixed' ? 'time' : 'txs';
    this.#waiting_since_ms = now;
    this.#log('round_wait', { height: this.#height, for: this.#waiting, wake_in_ms: wait_ms });
    if (wait_ms !== null) {
      const height = this.#height;
      this.#set_timer(Math.min(wait_ms, TIMEOUT_MS_MAX), () => {
        if (height !== this.#height || this.#waiting === null) return;
        this.#wake(this.#waiting === 'time' ? 'block_time' : 'interval');
        this.#kick();
      });
    }
    return true;
  }

  /** Whether any other validator sent a proposal or vote of this height (counted in a round). */
  #others_active(): boolean {
    for (const rs of this.#rounds.values()) if (rs.senders_power > 0) return true;
    return false;
  }

  /** Ends the wait of round 0: the round begins (its propose timeout, our proposal). */
  #wake(reason: 'txs' | 'interval' | 'block_time' | 'peer'): void {
    if (this.#waiting === null) return;
    this.#waiting = null;
    this.#log('round_wake', {
      height: this.#height,
      reason,
      waited_ms: this.#m.clock.now_ms() - this.#waiting_since_ms,
    });
    this.#begin_round(this.#round);
  }

  /** Round `round` begins: its propose timeout runs and, if ours, the app builds our proposal. */
  #begin_round(round: number): void {
    this.#log('round', { height: this.#height, round, at_ms: this.#m.clock.now_ms() });
    this.#schedule('propose', round);
    if (!this.#can_sign() || this.#proposer(this.#height, round) !== this.#self) return;
    if (this.#valid_block !== null) {
      // Re-propose the block that had a POL, so a locked network can still decide it.
      this.#own_block = { round, block: this.#valid_block, pol_round: this.#valid_round };
      return;
    }
    const epoch = this.#epoch;
    const height = this.#height;
    const args = { height, round, parent: this.#parent, last_commit: this.#last_commit };
    const early = this.#early;
    this.#early = null;
    const promise =
      early !== null && round === 0 && early.height === height && early.parent_hash === this.#parent_hash
        ? early.promise
        : this.#call_propose(args);
    promise.then(
      (block) => {
        if (epoch !== this.#epoch || round !== this.#round || this.#state !== 'running') return;
        this.#accept_own_block(block, round);
      },
      (error: unknown) => {
        this.#log('propose_rejected', { height, round, error: (error as Error)?.message ?? String(error) });
      },
    );
  }

  #call_propose(args: {
    height: number;
    round: number;
    parent: BlockHeader | null;
    last_commit: Commit | null;
  }): Promise<Block> {
    try {
      return Promise.resolve(this.#m.app.propose(args));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Pipelining: when this validator proposes round 0 of `height`, the app builds and executes that
   * block now, during the pause after the commit of its parent, instead of once the pause is over:
   * the pause (`commit_ms`) then overlaps the execution, and validators start on the preview
   * sooner. The proposal is signed and sent only when round 0 begins, as before; a round that
   * waits for a beat (`block_time_ms`) or has nothing to include builds nothing early.
   */
  #propose_early(height: number, parent: BlockHeader, last_commit: Commit): void {
    this.#early = null;
    if (this.#opts.timeouts.commit_ms <= 0 || !this.#can_sign()) return;
    if (this.#proposer(height, 0) !== this.#self) return;
    const pacing = this.#pacing;
    if (pacing.kind === 'fixed') return;
    if (pacing.kind === 'on_demand' && this.#m.app.has_txs?.() !== true) return;
    const promise = this.#call_propose({ height, round: 0, parent, last_commit });
    // Used (and its failure logged) when round 0 begins; never an unhandled rejection before.
    promise.catch(() => undefined);
    this.#early = { height, parent_hash: block_hash(this.#m.p, parent), promise };
    this.#log('propose_early', { height });
  }

  #accept_own_block(block: Block, round: number): void {
    const shape = block_shape_error(block, this.#shape_limits);
    const hash = shape === null ? block_hash(this.#m.p, block.header) : null;
    const why =
      shape ??
      (block.header.round !== round || block.header.proposer !== this.#self
        ? 'header round or proposer'
        : this.#check_block(block));
    if (why !== null || hash === null) {
      this.#log('propose_invalid', { height: this.#height, round, reason: why });
      return;
    }
    this.#blocks.set(hash, block);
    this.#structure.set(hash, null);
    // The app executed it while proposing: no second execution.
    this.#validity.set(hash, true);
    this.#own_block = { round, block, pol_round: -1 };
    this.#kick();
  }

  /** Engine-side checks of a block for this height (the app checks execution). Null if it passes. */
  #check_block(block: Block): string | null {
    const { p } = this.#m;
    const link = block_link_error(p, block, {
      chain_id: this.#opts.chain_id,
      height: this.#height,
      proposer: this.#proposer(this.#height, block.header.round),
      parent_hash: this.#parent_hash,
      parent_time_ms: this.#parent?.time_ms ?? null,
    });
    if (link !== null) return link;
    if (this.#height === 1) return block.last_commit === null ? null : 'last_commit at height 1';
    const lc = block.last_commit;
    if (lc === null) return 'no last_commit';
    if (lc.height !== this.#height - 1 || lc.block_hash !== this.#parent_hash)
      return 'last_commit not for the parent';
    const why = verify_commit(p, this.#opts.chain_id, this.#validators, lc, this.#verify);
    return why === null ? null : `last_commit: ${why}`;
  }

  #structure_of(hash: Hex): string | null {
    let why = this.#structure.get(hash);
    if (why === undefined) {
      const block = this.#blocks.get(hash);
      why = block === undefined ? 'unknown block' : this.#check_block(block);
      this.#structure.set(hash, why);
      if (why !== null)
        this.#log('invalid_block', { height: this.#height, hash: hash.slice(0, 16), reason: why });
    }
    return why;
  }

  /** valid(v) of the paper: engine checks, then app.validate (once per block, asynchronously). */
  #validity_of(hash: Hex): Validity {
    const cached = this.#validity.get(hash);
    if (cached !== undefined) return cached;
    if (this.#structure_of(hash) !== null) {
      this.#validity.set(hash, false);
      return false;
    }
    if (this.#validity.size >= this.#limits.validations_per_height_max) {
      this.#log('validation_limit', { height: this.#height, hash: hash.slice(0, 16) });
      this.#validity.set(hash, false);
      return false;
    }
    const block = this.#blocks.get(hash) as Block;
    this.#validity.set(hash, 'pending');
    const epoch = this.#epoch;
    let promise: Promise<boolean>;
    try {
      promise = Promise.resolve(this.#m.app.validate(block));
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise
      .then(
        (ok) => ok === true,
        (error: unknown) => {
          this.#log('validate_failed', {
            hash: hash.slice(0, 16),
            error: (error as Error)?.message ?? String(error),
          });
          return false;
        },
      )
      .then((ok) => {
        if (epoch !== this.#epoch) return;
        this.#validity.set(hash, ok);
        this.#log('validated', { height: this.#height, hash: hash.slice(0, 16), ok });
        this.#kick();
      });
    return 'pending';
  }

  #proposer(height: number, round: number): Hex {
    const key = `${height}/${round}`;
    let proposer = this.#proposer_cache.get(key);
    if (proposer === undefined) {
      proposer = proposer_at(this.#validators, height, round);
      if (this.#proposer_cache.size >= PROPOSER_CACHE_MAX) this.#proposer_cache.clear();
      this.#proposer_cache.set(key, proposer);
    }
    return proposer;
  }

  // ---------------------------------------------------------------------------------------------
  // The state machine

  #kick(): void {
    if (this.#state !== 'running') return;
    this.#dirty = true;
    if (this.#looping) return;
    this.#looping = true;
    void this.#loop();
  }

  async #loop(): Promise<void> {
    try {
      while (this.#state === 'running' && this.#dirty) {
        this.#dirty = false;
        // Every action changes state so that it cannot fire again; the bound catches a bug that
        // would otherwise spin forever.
        for (let actions = 0; this.#state === 'running' && (await this.#step_once()); actions++) {
          if (actions > 100_000) throw new Error('consensus state machine does not settle');
        }
      }
    } catch (error) {
      this.#halt('internal error', error);
    } finally {
      this.#looping = false;
    }
  }

  /** Evaluates the rules in order and performs at most one action; true if it acted. */
  async #step_once(): Promise<boolean> {
    if (this.#step === 'commit') return false; // decided; waiting for the next height

    if (this.#waiting !== null) {
      // Round 0 is held back (nothing to include yet): nothing is signed and no timeout runs
      // until another validator is heard at this height; then this one takes part as usual.
      if (!this.#others_active()) return false;
      this.#wake('peer');
      return true;
    }

    const due = this.#due.shift();
    if (due !== undefined) {
      await this.#on_timeout(due);
      return true;
    }

    // Decide: 2/3 precommits for a known block in any round.
    const decision = this.#find_decision();
    if (decision !== null) {
      await this.#decide(decision.round, decision.hash);
      return true;
    }

    // f+1 of the power is in a later round: at least one honest validator is; join it.
    const skip = this.#find_skip_round();
    if (skip !== null) {
      this.#log('round_skip', { height: this.#height, from: this.#round, to: skip });
      this.#start_round(skip);
      return true;
    }

    const round = this.#round;
    const rs = this.#round_state(round);

    if (
      this.#step === 'propose' &&
      this.#own_block !== null &&
      this.#own_block.round === round &&
      this.#proposed_round < round
    ) {
      this.#proposed_round = round;
      await this.#send_proposal(this.#own_block.block, round, this.#own_block.pol_round);
      return true;
    }

    if (this.#step === 'propose' && (await this.#prevote_on_proposal(rs))) return true;

    if (
      this.#step === 'prevote' &&
      !rs.prevote_timer_set &&
      is_quorum(rs.prevotes.total_power, this.#total)
    ) {
      rs.prevote_timer_set = true;
      this.#schedule('prevote', round);
    }

    if ((this.#step === 'prevote' || this.#step === 'precommit') && !rs.lock_rule_done) {
      const q = rs.prevotes
        .quorum_values(this.#total)
        .find((v) => v !== null && rs.proposal_for(v) !== undefined);
      if (typeof q === 'string') {
        const valid = this.#can_sign() ? this.#validity_of(q) : false;
        if (valid !== 'pending') {
          // Fires once per round, and only for a valid block ("while valid(v)").
          rs.lock_rule_done = true;
          if (valid) {
            const block = this.#blocks.get(q) as Block;
            this.#valid_round = round;
            this.#valid_block = block;
            if (this.#step === 'prevote') {
              // Locks only move forward: a lower round's lock would let this validator precommit a
              // block that conflicts with one it already locked on (the paper's lock rule).
              assert(
                round >= this.#locked_round,
                `lock moved back from round ${this.#locked_round} to ${round}`,
              );
              this.#locked_round = round;
              this.#locked_block = block;
              this.#locked_hash = q;
              this.#step = 'precommit';
              await this.#send_vote('precommit', q);
            }
            return true;
          }
        }
      }
    }

    if (this.#step === 'prevote' && is_quorum(rs.prevotes.power_for(null), this.#total)) {
      this.#step = 'precommit';
      await this.#send_vote('precommit', null);
      return true;
    }

    if (!rs.precommit_timer_set && is_quorum(rs.precommits.total_power, this.#total)) {
      rs.precommit_timer_set = true;
      this.#schedule('precommit', round);
    }
    return false;
  }

  /** The paper's prevote rules for the round's proposal (fresh, or re-proposed with a POL). */
  async #prevote_on_proposal(rs: RoundState): Promise<boolean> {
    const seen = rs.proposals[0];
    if (seen === undefined) return false;
    const { proposal, block_hash: hash } = seen;
    if (!this.#can_sign()) {
      this.#step = 'prevote';
      return true;
    }
    let ok: boolean;
    if (proposal.pol_round === -1) {
      const valid = this.#validity_of(hash);
      if (valid === 'pending') return false;
      ok = valid && (this.#locked_round === -1 || this.#locked_hash === hash);
    } else {
      // Wait (until the propose timeout) for the 2/3 prevotes that justify the re-proposal.
      const pol = this.#rounds.get(proposal.pol_round);
      if (pol === undefined || !is_quorum(pol.prevotes.power_for(hash), this.#total)) return false;
      const valid = this.#validity_of(hash);
      if (valid === 'pending') return false;
      ok = valid && (this.#locked_round <= proposal.pol_round || this.#locked_hash === hash);
    }
    this.#step = 'prevote';
    await this.#send_vote('prevote', ok ? hash : null);
    return true;
  }

  async #on_timeout(t: DueTimeout): Promise<void> {
    if (t.height !== this.#height || t.round !== this.#round) return;
    this.#log('timeout', { kind: t.kind, height: t.height, round: t.round, step: this.#step });
    if (t.kind === 'propose' && this.#step === 'propose') {
      this.#step = 'prevote';
      await this.#send_vote('prevote', null);
    } else if (t.kind === 'prevote' && this.#step === 'prevote') {
      this.#step = 'precommit';
      await this.#send_vote('precommit', null);
    } else if (t.kind === 'precommit') {
      if (this.#round + 1 > ROUND_LIMIT) {
        this.#halt('round limit reached', null);
        return;
      }
      this.#start_round(this.#round + 1);
    }
  }

  #find_decision(): { round: number; hash: Hex } | null {
    for (const [round, rs] of this.#rounds) {
      if (!is_quorum(rs.precommits.total_power, this.#total)) continue;
      for (const q of rs.precommits.quorum_values(this.#total)) {
        if (q === null || !this.#blocks.has(q)) continue;
        // The decision is final once 2/3 precommitted: app.validate is not asked again (a validator
        // whose enclave disagrees learns it in app.commit). The engine checks still must hold.
        if (this.#structure_of(q) !== null) {
          this.#log('decided_block_invalid', { height: this.#height, round, hash: q.slice(0, 16) });
          continue;
        }
        return { round, hash: q };
      }
    }
    return null;
  }

  #find_skip_round(): number | null {
    let best: number | null = null;
    for (const [round, rs] of this.#rounds) {
      if (round > this.#round && 3 * rs.senders_power > this.#total && (best === null || round > best))
        best = round;
    }
    return best;
  }

  async #decide(round: number, hash: Hex): Promise<void> {
    const block = this.#blocks.get(hash) as Block;
    const rs = this.#rounds.get(round) as RoundState;
    this.#step = 'commit';
    this.#cancel_timers();
    const signatures = this.#validators.flatMap((v) => {
      const vote = rs.precommits.vote_for(v.pubkey, hash);
      return vote !== undefined ? [{ validator: v.pubkey, signature: vote.signature }] : [];
    });
    const commit: Commit = { height: this.#height, round, block_hash: hash, signatures };
    const why = verify_commit(this.#m.p, this.#opts.chain_id, this.#validators, commit, this.#verify);
    if (why !== null) {
      this.#halt(`built an invalid commit: ${why}`, null);
      return;
    }
    this.#decided_commit = commit;
    this.#log('commit', {
      height: this.#height,
      round,
      hash: hash.slice(0, 16),
      txs: block.txs.length,
      signatures: signatures.length,
    });
    const epoch = this.#epoch;
    try {
      await this.#m.app.commit(block, commit);
    } catch (error) {
      this.#halt('app.commit failed', error);
      return;
    }
    if (epoch !== this.#epoch || this.#state !== 'running') return;
    const height = this.#height;
    this.#propose_early(height + 1, block.header, commit);
    this.#set_timer(this.#opts.timeouts.commit_ms, () => {
      if (epoch !== this.#epoch || this.#state !== 'running') return;
      this.#enter_height(height + 1, block.header, commit);
      this.#start_round(0);
      this.#kick();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Signing and sending

  /** The prevotes this validator holds for its lock (in the lock's round), for the signed state. */
  #locked_pol(): Vote[] {
    if (this.#locked_hash === null || this.#locked_round < 0) return [];
    const votes = this.#rounds.get(this.#locked_round)?.prevotes.votes_for(this.#locked_hash) ?? [];
    return votes.length > 0 ? votes : this.#restored_pol;
  }

  #can_sign(): boolean {
    return this.#power.has(this.#self) && this.#state === 'running';
  }

  /**
   * Signs through the guard: refuses to sign a second, different thing for one position, re-uses
   * the signature for the same thing, and saves the new state before returning. Null: nothing to send.
   */
  async #sign_guarded(
    step: SignedStep,
    round: number,
    hash: Hex | null,
    pol_round: number,
    proposal_block: Block | null,
  ): Promise<Hex | null> {
    if (!this.#can_sign()) return null;
    const position = { height: this.#height, round, step, block_hash: hash, pol_round };
    const decision = check_sign(this.#last_signed, position);
    if (decision.kind === 'refuse') {
      this.#log('sign_refused', { ...position, reason: decision.reason });
      return null;
    }
    if (decision.kind === 'reuse') return decision.signature;
    const bytes = this.#sign_bytes(position);
    const signature = this.#m.signer.sign(bytes);
    // Through the cache: our own precommit comes back in the next block's last_commit.
    if (!this.#verify(this.#m.p, signature, bytes, this.#self)) {
      this.#halt('signer produced a signature that does not verify with its pubkey', null);
      return null;
    }
    const state: SignedState = {
      ...position,
      signature,
      proposal_block,
      locked_round: this.#locked_round,
      locked_block: this.#locked_block,
      locked_pol: this.#locked_pol(),
    };
    // In memory first: from here on this process never signs anything else at this position,
    // even if the save below fails half-way.
    this.#last_signed = state;
    const epoch = this.#epoch;
    try {
      await this.#m.signed_state.save(state);
    } catch (error) {
      this.#halt('signed state save failed', error);
      return null;
    }
    if (epoch !== this.#epoch || this.#state !== 'running') return null;
    return signature;
  }

  async #send_proposal(block: Block, round: number, pol_round: number): Promise<void> {
    const hash = block_hash(this.#m.p, block.header);
    const signature = await this.#sign_guarded('proposal', round, hash, pol_round, block);
    if (signature === null) return;
    const proposal: Proposal = {
      height: this.#height,
      round,
      pol_round,
      block,
      validator: this.#self,
      signature,
    };
    this.#insert_proposal(proposal, hash);
    this.#log('proposal_sent', { height: this.#height, round, pol_round, hash: hash.slice(0, 16) });
    this.#send({ kind: 'proposal', proposal });
  }

  async #send_vote(type: VoteType, hash: Hex | null): Promise<void> {
    const round = this.#round;
    const signature = await this.#sign_guarded(type, round, hash, -1, null);
    if (signature === null) return;
    const vote: Vote = {
      type,
      height: this.#height,
      round,
      block_hash: hash,
      validator: this.#self,
      signature,
    };
    const power = this.#power.get(this.#self) as number;
    this.#insert_vote(vote, power);
    this.#log('vote_sent', { type, height: this.#height, round, hash: hash?.slice(0, 16) ?? null });
    this.#send({ kind: 'vote', vote });
  }

  #send(msg: ConsensusMessage): void {
    // A handful per round (proposal, prevote, precommit).
    const round = msg.kind === 'vote' ? msg.vote.round : msg.proposal.round;
    const mine = this.#own_messages.get(round) ?? [];
    if (mine.length < 8) mine.push(msg);
    this.#own_messages.set(round, mine);
    this.#broadcast(msg);
  }

  #broadcast(msg: ConsensusMessage): void {
    try {
      this.#m.outbox.broadcast(msg);
    } catch (error) {
      this.#log('broadcast_failed', { error: (error as Error)?.message ?? String(error) });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Timers, gossip, falling behind

  #schedule(kind: TimeoutKind, round: number): void {
    const height = this.#height;
    this.#set_timer(timeout_ms(this.#opts.timeouts, kind, round), () => {
      this.#due.push({ kind, height, round });
      this.#kick();
    });
  }

  #set_timer(delay_ms: number, fn: () => void): void {
    const cancel = this.#m.clock.set_timer(delay_ms, () => {
      this.#timer_cancels.delete(cancel);
      if (this.#state === 'running') fn();
    });
    this.#timer_cancels.add(cancel);
  }

  #cancel_timers(): void {
    for (const cancel of this.#timer_cancels) cancel();
    this.#timer_cancels.clear();
  }

  #arm_rebroadcast(): void {
    this.#rebroadcast_cancel = this.#m.clock.set_timer(this.#rebroadcast_ms, () => {
      this.#rebroadcast_cancel = null;
      if (this.#state !== 'running') return;
      this.#rebroadcast();
      this.#arm_rebroadcast();
    });
  }

  #rebroadcast(): void {
    // Non-validators leave the outbox untouched, but still check whether they fell behind.
    if (!this.#can_sign()) {
      this.#check_behind(true);
      return;
    }
    if (this.#step !== 'commit') {
      for (const mine of this.#own_messages.values()) for (const msg of mine) this.#broadcast(msg);
      // The POL behind our valid block: a node locked on it can only be joined (or unlocked) by
      // others who saw those prevotes too, and the paper assumes every honest node eventually
      // receives what one received. Without re-sending them, a dropped prevote stalls a height.
      const pol = this.#valid_block === null ? undefined : this.#rounds.get(this.#valid_round);
      if (pol !== undefined && this.#valid_block !== null) {
        const hash = block_hash(this.#m.p, this.#valid_block.header);
        for (const vote of pol.prevotes.votes_for(hash)) this.#broadcast({ kind: 'vote', vote });
      }
    }
    // The precommits of the last decision, for validators still deciding that height.
    const commit = this.#decided_commit ?? this.#last_commit;
    if (commit !== null) {
      for (const sig of commit.signatures) {
        this.#broadcast({
          kind: 'vote',
          vote: {
            type: 'precommit',
            height: commit.height,
            round: commit.round,
            block_hash: commit.block_hash,
            validator: sig.validator,
            signature: sig.signature,
          },
        });
      }
    }
    this.#check_behind(true);
  }

  /**
   * The lowest height we know the network is deciding: validators with more than 1/3 of the power
   * (so at least one honest) signed at it or above, or a proposal at it carried a verified commit
   * of the height below.
   */
  #network_height(): number {
    const ahead = [...this.#highest_seen].filter(([, h]) => h > this.#height).sort((a, b) => b[1] - a[1]);
    let power = 0;
    let height = this.#proven_height;
    if (this.#pacing.kind !== 'continuous' && this.#decided_without_block())
      height = Math.max(height, this.#height + 1);
    for (const [validator, h] of ahead) {
      power += this.#power.get(validator) ?? 0;
      if (3 * power > this.#total) {
        height = Math.max(height, h);
        break;
      }
    }
    return height;
  }

  /**
   * Whether more than 2/3 precommitted, at this height, a block we never received: it is decided
   * without us, and the others may be waiting at the next height with nothing to propose (blocks
   * on demand), so no proposal will bring its commit. Then we fetch it, as when behind.
   */
  #decided_without_block(): boolean {
    for (const rs of this.#rounds.values()) {
      if (!is_quorum(rs.precommits.total_power, this.#total)) continue;
      for (const q of rs.precommits.quorum_values(this.#total))
        if (q !== null && !this.#blocks.has(q)) return true;
    }
    return false;
  }

  /**
   * Fires on_behind when the network is deciding a later height. Two or more heights ahead: at
   * once. One height ahead we may still decide ours from precommits in flight, so only once that
   * has lasted a rebroadcast period (checked on each `tick`), and repeated every period after.
   */
  #check_behind(tick = false): void {
    if (this.#state !== 'running') return;
    const network = this.#network_height();
    if (network <= this.#height || (this.#step === 'commit' && network === this.#height + 1)) {
      this.#behind_since_ms = null;
      return;
    }
    const now = this.#m.clock.now_ms();
    if (network >= this.#height + 2 && network > this.#behind_fired) {
      this.#fire_behind(network);
      return;
    }
    if (this.#behind_since_ms === null) this.#behind_since_ms = now;
    else if (tick && now - this.#behind_since_ms >= this.#rebroadcast_ms) {
      this.#behind_since_ms = now;
      this.#fire_behind(network);
    }
  }

  #fire_behind(network: number): void {
    this.#behind_fired = Math.max(this.#behind_fired, network);
    this.#log('behind', { height: this.#height, network_height: network });
    for (const fn of this.#behind_fns) this.#call_later(() => fn(network));
  }

  /** Listeners run outside the state machine, so they may call back into the engine safely. */
  #call_later(fn: () => void): void {
    queueMicrotask(() => {
      try {
        fn();
      } catch (error) {
        this.#log('listener_failed', { error: (error as Error)?.message ?? String(error) });
      }
    });
  }

  #halt(reason: string, error: unknown): void {
    if (this.#state === 'halted' || this.#state === 'stopped') return;
    this.#state = 'halted';
    this.#epoch++;
    this.#cancel_timers();
    this.#rebroadcast_cancel?.();
    this.#rebroadcast_cancel = null;
    this.#log('halt', {
      reason,
      error: error === null ? null : ((error as Error)?.message ?? String(error)),
      height: this.#height,
      round: this.#round,
    });
    const detail = error === null ? '' : `: ${(error as Error)?.message ?? String(error)}`;
    try {
      this.#m.on_halt?.(`${reason}${detail}`);
    } catch {
      // The node's halt path must not throw back into consensus.
    }
  }

  #log(event: string, fields: Record<string, unknown>): void {
    try {
      this.#m.log?.(event, fields);
    } catch {
      // A failing logger must not change consensus.
    }
  }
}
