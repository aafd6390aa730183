/**
 * The application side of consensus (CometBFT's ABCI, narrowed to three calls): build a block
 * and execute it in the enclave (propose), execute someone else's block and compare result hashes
 * (validate), and persist a decided block with its results (commit). Executions are cached by
 * block hash so a block is executed once per node, not once per call.
 *
 * The liveness guard (docs/consensus.md "Liveness guard") lives here too: a proposer whose enclave
 * fails on its block for a reason that is not a result finds the transaction that causes it,
 * quarantines it and proposes the block without it; a validator whose enclave fails on another's
 * proposal finds it invalid (prevotes nil); a block the network committed that this node cannot
 * execute halts the node.
 * @module
 */

import type { BlockInput, BlockOutput, Enclave } from '../enclave/api.js';
import { ENCLAVE_LIMITS } from '../enclave/limits.js';
import type { EnclaveErrorCode } from '../enclave/result.js';
import { to_hex } from '../protocol/bytes.js';
import type { CryptoProvider } from '../protocol/provider.js';
import { MalformedTxError, parse_tx_json, tx_hash } from '../protocol/tx.js';
import type { ConsensusApp } from './consensus/engine.js';
import { block_shape_error } from './consensus/shapes.js';
import {
  type Block,
  type BlockHeader,
  block_hash,
  block_link_error,
  type Commit,
  commit_hash,
  exec_sign_bytes,
  GENESIS_PARENT_HASH,
  proposer_at,
  txs_hash,
  verify_hex,
} from './consensus/types.js';
import { execute_with_lookups } from './execute.js';
import type { Genesis } from './genesis.js';
import { isolate_failing_tx, isolation_calls_needed, type Trial } from './isolate.js';
import type { Mempool } from './mempool.js';
import { TX_ATTRIBUTABLE_FAILURES } from './quarantine.js';
import type { ChainRules, ChainStore } from './store/chain_store.js';

/** A block's time may run ahead of a validator's clock by at most this. */
export const BLOCK_TIME_FUTURE_MS_MAX = 5_000;
/** Executions kept for blocks not yet committed (proposals of several rounds). */
const EXECUTIONS_CACHED_MAX = 64;
/** Executions in progress or done for the next height, by signed unexecuted header. */
const INFLIGHT_MAX = 16;
/** Previews accepted per height (one per round; more rounds than this wait for the proposal). */
const PREVIEWS_PER_HEIGHT_MAX = 8;
/**
 * UTF-8 bytes of `store_code` transactions in one block. A chain rule, not a node setting: a
 * proposal over it is invalid at every validator. Stored code is kept forever and its gas costs
 * nothing on a network whose min_gas_price is 0, so this bounds how fast one sender can grow every
 * node's store.
 * At least one transaction of the largest size fits, so every code the mempool takes can commit.
 */
export const STORE_CODE_BLOCK_BYTES_MAX = 1024 * 1024;
/**
 * Enclave calls one proposer may spend finding the transaction that makes its block fail: a
 * binary search over the block's prefixes (see node/isolate.ts), enough for the largest block the
 * engine takes (`block_txs_max`, 10 000 transactions: 14 steps, one confirmation, one spare).
 */
export const ISOLATION_ENCLAVE_CALLS_MAX = 16;
/**
 * Executions of a committed block tried before the node halts on it: the first failure may be
 * the worker's own (killed, out of memory because of other calls), a second one is the block's.
 */
export const COMMITTED_EXECUTION_ATTEMPTS_MAX = 2;
/** Transaction hashes named in one log event (a block may hold thousands). */
const LOGGED_TX_HASHES_MAX = 8;

if (STORE_CODE_BLOCK_BYTES_MAX < ENCLAVE_LIMITS.tx_bytes_max)
  throw new Error('invariant: a store_code of the largest size must fit a block');
if (isolation_calls_needed(ENCLAVE_LIMITS.block_txs_max) > ISOLATION_ENCLAVE_CALLS_MAX)
  throw new Error('invariant: isolation must be able to bisect the largest block');

/**
 * What a proposer broadcasts before it executes its block: the block's header as the enclave's
 * light client requires it (signed with `exec_signature`, no `result_hash` yet), its transactions
 * and its `last_commit`. Validators that check it start executing at once, in parallel with the
 * proposer, instead of waiting for the proposal; the proposal then finds the execution done.
 */
export interface PreviewMessage {
  kind: 'preview';
  header: Omit<BlockHeader, 'result_hash'>;
  txs: string[];
  last_commit: Commit | null;
}

export interface AppOptions {
  genesis: Genesis;
  /** This validator's consensus pubkey. */
  pubkey: string;
  /** Signs with this validator's key (hex); absent on a node that never proposes. */
  sign?: (message: Uint8Array) => string;
  block: { txs_max: number; bytes_max: number; gas_max: number };
}

export interface AppModules {
  p: CryptoProvider;
  enclave: Enclave;
  store: ChainStore;
  mempool: Mempool;
  now_ms: () => number;
  log: (event: string, fields: Record<string, unknown>) => void;
  /** Called after each commit is durable, with what it changed. */
  on_committed: (block: Block, hash: string, input: BlockInput, output: BlockOutput) => void;
  /** Sends a proposer's {@link PreviewMessage} to the other validators (absent: no previews). */
  preview?: (message: PreviewMessage) => void;
}

/** Thrown when this node's own results differ from a committed block's: it must stop, not apply them. */
export class DivergedError extends Error {
  constructor(
    height: number,
    message = `own results differ from the committed block at height ${height}: refusing to apply them`,
  ) {
    super(message);
    this.name = 'DivergedError';
  }
}

/** The enclave answered a block with an error instead of results. */
export class BlockExecutionError extends Error {
  /** The enclave's error code (enclave/result.ts). */
  readonly code: EnclaveErrorCode;
  readonly height: number;
  constructor(height: number, code: EnclaveErrorCode, enclave_message: string) {
    super(`enclave refused block ${height}: ${code} ${enclave_message}`);
    this.name = 'BlockExecutionError';
    this.code = code;
    this.height = height;
  }
}

/**
 * Thrown when this node cannot execute a block the network committed (its enclave keeps failing
 * on it): a {@link DivergedError}, so the node halts the same way, rather than skip the block.
 */
export class UnexecutableBlockError extends DivergedError {
  constructor(height: number, cause: BlockExecutionError) {
    super(
      height,
      `cannot execute the committed block at height ${height} (${cause.message}): refusing to go on without it`,
    );
    this.name = 'UnexecutableBlockError';
  }
}

/**
 * Whether `error` is an enclave failure one transaction can cause and that is not a result (see
 * `TX_ATTRIBUTABLE_FAILURES` in node/quarantine.ts).
 */
export function is_tx_attributable(error: unknown): error is BlockExecutionError {
  return error instanceof BlockExecutionError && TX_ATTRIBUTABLE_FAILURES.has(error.code);
}

/**
 * Why `txs` break the block's store_code limit ({@link STORE_CODE_BLOCK_BYTES_MAX}), or null if
 * they do not. A text that is not a transaction counts as none (the enclave refuses it, code 7).
 */
export function store_code_limit_error(txs: readonly string[]): string | null {
  let all = 0;
  for (const raw of txs) all += Buffer.byteLength(raw, 'utf8');
  // Most blocks are smaller than the limit in all: no need to parse them.
  if (all <= STORE_CODE_BLOCK_BYTES_MAX) return null;
  let code = 0;
  for (const raw of txs) {
    try {
      if (parse_tx_json(raw).body.msg.type === 'store_code') code += Buffer.byteLength(raw, 'utf8');
    } catch (error) {
      if (!(error instanceof MalformedTxError)) throw error;
    }
  }
  return code > STORE_CODE_BLOCK_BYTES_MAX
    ? `store_code transactions of ${code} bytes, over the block's ${STORE_CODE_BLOCK_BYTES_MAX}`
    : null;
}

/** The first few transaction hashes of a block, for a log event ('malformed' for a bad text). */
function logged_tx_hashes(p: CryptoProvider, txs: readonly string[]): string[] {
  return txs.slice(0, LOGGED_TX_HASHES_MAX).map((raw) => {
    try {
      return tx_hash(p, parse_tx_json(raw));
    } catch (error) {
      if (error instanceof MalformedTxError) return 'malformed';
      throw error;
    }
  });
}

/** What `propose` is called with (ConsensusApp.propose). */
type ProposeArgs = Parameters<ConsensusApp['propose']>[0];

/** The enclave's execution of one block. */
interface Execution {
  input: BlockInput;
  output: BlockOutput;
  /** The enclave's light-client state after this block, if it moved it. */
  sealed_light?: string;
}

/** A block a proposer signed and executed, before its result hash is filled in. */
interface Candidate {
  header: Omit<BlockHeader, 'result_hash'>;
  txs: string[];
  execution: Execution;
}

/** What a genesis fixes for every block's execution. */
export function chain_rules(genesis: Genesis): ChainRules {
  return {
    attestation: genesis.attestation,
    min_gas_price: genesis.min_gas_price ?? 0,
    dev: genesis.dev === true,
  };
}

/** Implements ConsensusApp over an enclave, a store and a mempool. */
export class ValidatorApp implements ConsensusApp {
  /** Tail of the queue of commits (see {@link commit}). */
  #commit_lane: Promise<unknown> = Promise.resolve();
  readonly #opts: AppOptions;
  readonly #m: AppModules;
  readonly #executions = new Map<string, Execution>();
  /**
   * Executions of the next height by signed unexecuted header (what the light client checks), so
   * a preview's execution, the proposal's validation and the commit share one enclave call.
   */
  readonly #inflight = new Map<string, Promise<Execution>>();
  /** The light-state writes in order (see `#write_light`). */
  #light_writes: Promise<void> = Promise.resolve();
  /** Heights and rounds previewed (`height/round`), so a peer cannot make us execute one twice. */
  readonly #previewed = new Set<string>();
  /**
   * Previews of the height after the next, kept until this node commits the next one (at most
   * {@link PREVIEWS_PER_HEIGHT_MAX}): with pipelining (docs/consensus.md) the next proposer sends
   * its preview as soon as it has committed, which can be before this node has.
   */
  #early_previews: unknown[] = [];
  /** Settles when the running isolation (if any) ends: proposals wait for it, one at a time. */
  #isolating: Promise<void> = Promise.resolve();

  /** What genesis fixes for every block (attestation policy, least gas price, development network). */
  readonly #rules: ChainRules;

  constructor(opts: AppOptions, modules: AppModules) {
    this.#opts = opts;
    this.#m = modules;
    this.#rules = chain_rules(opts.genesis);
  }

  /**
   * Executes `txs` as the block `header` describes (its result_hash, if any, ignored) on top of
   * `parent` with `last_commit`, through the enclave's light client, and keeps the light client's
   * new sealed state.
   */
  execute(
    header: Omit<BlockHeader, 'result_hash'>,
    txs: string[],
    parent: BlockHeader | null,
    last_commit: Commit | null,
  ): Promise<Execution> {
    // The signed unexecuted header fixes the transactions (txs_hash), the parent
    // (prev_block_hash) and the last commit (last_commit_hash): equal keys, equal executions.
    const key = `${to_hex(this.#m.p.sha256(exec_sign_bytes(header)))}:${header.exec_signature}`;
    const known = this.#inflight.get(key);
    if (known !== undefined) return known;
    const running = this.#execute(header, txs, parent, last_commit);
    if (this.#inflight.size >= INFLIGHT_MAX) this.#inflight.clear();
    this.#inflight.set(key, running);
    // A failed execution is not kept: a later call tries again.
    running.catch(() => {
      if (this.#inflight.get(key) === running) this.#inflight.delete(key);
    });
    return running;
  }

  async #execute(
    header: Omit<BlockHeader, 'result_hash'>,
    txs: string[],
    parent: BlockHeader | null,
    last_commit: Commit | null,
  ): Promise<Execution> {
    const { store, enclave } = this.#m;
    const { result_hash: _ignored, ...unexecuted } = header as BlockHeader;
    const first_input = await store.block_input(
      txs,
      {
        chain_id: header.chain_id,
        height: header.height,
        time_ms: header.time_ms,
        random_seed: header.prev_block_hash,
      },
      this.#rules,
    );
    const sealed_light = await store.get_sealed('light');
    const validators = this.#opts.genesis.validators.map(({ pubkey, power }) => ({ pubkey, power }));
    const light =
      sealed_light === null
        ? undefined
        : { header: unexecuted, parent, last_commit, validators, sealed_light };
    const answer = await execute_with_lookups(store, enclave, first_input, light);
    if (!answer.ok) throw new BlockExecutionError(header.height, answer.error.code, answer.error.message);
    const { input } = answer.value;
    const { sealed_light: next_light, ...output } = answer.value.output;
    // Only an execution of the next height may move the light state: one that finished after its
    // height was committed (a slow preview or trial) would set it back a height.
    if (next_light === undefined) return { input, output };
    await this.#write_light(header.height - 1, next_light);
    return { input, output, sealed_light: next_light };
  }

  /**
   * Stores the light state if the store is still at `store_height`, one write at a time: two
   * executions of one height (a round-0 proposal and the round-1 block) finishing together used to
   * interleave their write-and-read-back, which the store took for corruption and halted on.
   */
  #write_light(store_height: number, sealed_light: string): Promise<void> {
    const { store } = this.#m;
    const write = this.#light_writes.then(async () => {
      if (store.height() === store_height) await store.put_sealed('light', sealed_light);
    });
    this.#light_writes = write.catch(() => undefined);
    return write;
  }

  #remember(hash: string, execution: Execution): void {
    if (this.#executions.size >= EXECUTIONS_CACHED_MAX) this.#executions.clear();
    this.#executions.set(hash, execution);
  }

  /**
   * Builds, signs and executes the next block from the mempool. If the enclave fails on it for a
   * reason one transaction can cause (see {@link is_tx_attributable}), finds that transaction,
   * quarantines it and proposes the block's prefix before it instead (see {@link #isolate}).
   */
  async propose(args: ProposeArgs): Promise<Block> {
    // One isolation at a time; a proposal waits for a running one, which may quarantine what
    // this proposal would reap. `#isolating` never rejects.
    await this.#isolating;
    const { mempool, now_ms } = this.#m;
    const forged_before = mempool.forged();
    const txs = mempool.reap({ ...this.#opts.block, store_code_bytes_max: STORE_CODE_BLOCK_BYTES_MAX });
    // Gossiped transactions are verified at reap: say so when a peer sent forged ones.
    const forged = mempool.forged() - forged_before;
    if (forged > 0) this.#m.log('forged_txs_dropped', { height: args.height, forged });
    const parent_time = args.parent?.time_ms ?? this.#opts.genesis.genesis_time_ms;
    const time_ms = Math.max(now_ms(), parent_time + 1);
    const signed = this.#signed_header(args, time_ms, txs);
    // Validators may start on it now, in parallel with our own execution.
    this.#m.preview?.({ kind: 'preview', header: signed, txs, last_commit: args.last_commit });
    let candidate: Candidate;
    try {
      candidate = {
        header: signed,
        txs,
        execution: await this.execute(signed, txs, args.parent, args.last_commit),
      };
    } catch (error) {
      if (!is_tx_attributable(error)) throw error;
      this.#log_failure('propose', signed, txs, error);
      // An empty block has no transaction to blame: no block this round, as before the guard.
      if (txs.length === 0) throw error;
      const isolating = this.#isolate(args, time_ms, txs, error);
      this.#isolating = isolating.then(
        () => undefined,
        () => undefined,
      );
      candidate = await isolating;
    }
    const header: BlockHeader = { ...candidate.header, result_hash: candidate.execution.output.result_hash };
    this.#remember(block_hash(this.#m.p, header), candidate.execution);
    this.#m.log('proposed', { height: args.height, round: args.round, txs: candidate.txs.length });
    return { header, txs: candidate.txs, last_commit: args.last_commit };
  }

  /** The header of a block of `txs` for `args`, signed for execution (no result hash yet). */
  #signed_header(args: ProposeArgs, time_ms: number, txs: string[]): Omit<BlockHeader, 'result_hash'> {
    const { p } = this.#m;
    const unsigned = {
      chain_id: this.#opts.genesis.chain_id,
      height: args.height,
      round: args.round,
      time_ms,
      proposer: this.#opts.pubkey,
      prev_block_hash: args.parent === null ? GENESIS_PARENT_HASH : block_hash(p, args.parent),
      txs_hash: txs_hash(p, txs),
      last_commit_hash: commit_hash(p, args.last_commit),
    };
    if (this.#opts.sign === undefined) throw new Error('this node cannot propose: it has no signing key');
    // Signed before execution: the enclave's light client executes only a rightful proposer's block.
    return { ...unsigned, exec_signature: this.#opts.sign(exec_sign_bytes(unsigned)) };
  }

  /**
   * After the block of `txs` failed with `cause`: bisects its prefixes with trial executions (at
   * most {@link ISOLATION_ENCLAVE_CALLS_MAX} enclave calls), quarantines the first transaction
   * that fails, and answers the longest prefix that executed, a real block of this height and
   * round. If the failure does not come back, answers the whole block. Rejects (no block this
   * round) when the search is inconclusive.
   */
  async #isolate(
    args: ProposeArgs,
    time_ms: number,
    txs: string[],
    cause: BlockExecutionError,
  ): Promise<Candidate> {
    const { height, round } = args;
    const trial = async (k: number): Promise<Trial<Candidate>> => {
      // Once this height is committed every candidate is moot, and executing one is refused.
      if (this.#m.store.height() !== height - 1) return { kind: 'inconclusive', reason: 'height committed' };
      const prefix = txs.slice(0, k);
      const header = this.#signed_header(args, time_ms, prefix);
      try {
        const execution = await this.execute(header, prefix, args.parent, args.last_commit);
        return { kind: 'ok', value: { header, txs: prefix, execution } };
      } catch (error) {
        if (is_tx_attributable(error)) return { kind: 'failed' };
        return { kind: 'inconclusive', reason: (error as Error).message };
      }
    };
    const found = await isolate_failing_tx(txs.length, trial, ISOLATION_ENCLAVE_CALLS_MAX);
    if (found.kind === 'inconclusive') {
      this.#m.log('tx_isolation_failed', { height, round, reason: found.reason, calls: found.calls });
      throw new Error(`no block at height ${height} round ${round}: ${found.reason}`);
    }
    if (found.kind === 'not_reproduced') {
      this.#m.log('block_execution_recovered', { height, round, calls: found.calls });
      return found.whole;
    }
    const raw = txs[found.index]!;
    const reason = `executing it made this validator's enclave fail (${cause.code}) at height ${height}`;
    const hash = this.#m.mempool.quarantine(raw, reason);
    this.#m.log('tx_quarantined', {
      hash,
      height,
      round,
      code: cause.code,
      index: found.index,
      calls: found.calls,
    });
    return found.prefix;
  }

  /** Logs an enclave failure on a block that is not a result (`block_execution_failed`). */
  #log_failure(
    phase: 'propose' | 'validate' | 'commit',
    header: Omit<BlockHeader, 'result_hash'>,
    txs: readonly string[],
    error: BlockExecutionError,
  ): void {
    this.#m.log('block_execution_failed', {
      phase,
      height: header.height,
      round: header.round,
      proposer: header.proposer.slice(0, 8),
      code: error.code,
      error: error.message,
      txs: txs.length,
      tx_hashes: logged_tx_hashes(this.#m.p, txs),
    });
  }

  /**
   * Whether another validator's proposed block is one to prevote: a block time not too far ahead,
   * store_code within the block's limit, and our enclave's result hash equal to the header's.
   * An enclave failure (even one that is not a result) makes it invalid here: this validator
   * prevotes nil and the round goes on.
   */
  async validate(block: Block): Promise<boolean> {
    const { p, now_ms } = this.#m;
    const { header } = block;
    if (header.time_ms > now_ms() + BLOCK_TIME_FUTURE_MS_MAX) return false;
    const over = store_code_limit_error(block.txs);
    if (over !== null) {
      this.#m.log('proposal_invalid', { height: header.height, round: header.round, reason: over });
      return false;
    }
    let execution: Execution;
    try {
      execution = await this.execute(
        header,
        block.txs,
        this.#m.store.last_block()?.block.header ?? null,
        block.last_commit,
      );
    } catch (error) {
      if (is_tx_attributable(error)) this.#log_failure('validate', header, block.txs, error);
      else this.#m.log('validate_failed', { height: header.height, error: (error as Error).message });
      return false;
    }
    if (execution.output.result_hash !== header.result_hash) {
      this.#m.log('result_mismatch', {
        height: header.height,
        round: header.round,
        proposer: header.proposer.slice(0, 8),
      });
      return false;
    }
    this.#remember(block_hash(p, header), execution);
    return true;
  }

  /**
   * A proposer's preview (see {@link PreviewMessage}) from the network: checked (shape, chain,
   * the next height on our committed parent, the rightful proposer's exec signature, the hashes
   * of its transactions and last commit, one per height and round), then executed in the
   * background. Anything that fails a check is ignored: the proposal itself is still validated
   * in full. Never throws.
   */
  preview(message: unknown): void {
    const why = this.#preview_error(message);
    if (why === 'the height after the next') {
      if (this.#early_previews.length < PREVIEWS_PER_HEIGHT_MAX) this.#early_previews.push(message);
      return;
    }
    if (why !== null) {
      if (why !== 'not the next height') this.#m.log('preview_ignored', { reason: why });
      return;
    }
    const { header, txs, last_commit } = message as PreviewMessage;
    this.execute(header, txs, this.#m.store.last_block()?.block.header ?? null, last_commit).catch(
      (error: unknown) =>
        this.#m.log('preview_failed', { height: header.height, error: (error as Error).message }),
    );
  }

  #preview_error(message: unknown): string | null {
    const { p, store, now_ms } = this.#m;
    if (typeof message !== 'object' || message === null) return 'not an object';
    const m = message as Record<string, unknown>;
    const keys = Object.keys(m);
    if (keys.length !== 4 || m['kind'] !== 'preview') return 'not a preview';
    const header = m['header'] as Record<string, unknown> | undefined;
    const candidate =
      typeof header === 'object' && header !== null && !Object.hasOwn(header, 'result_hash')
        ? {
            header: { ...header, result_hash: GENESIS_PARENT_HASH },
            txs: m['txs'],
            last_commit: m['last_commit'],
          }
        : null;
    const genesis = this.#opts.genesis;
    const shape =
      candidate === null
        ? 'header'
        : block_shape_error(candidate, {
            block_txs_max: this.#opts.block.txs_max,
            tx_chars_max: ENCLAVE_LIMITS.tx_bytes_max,
            commit_signatures_max: genesis.validators.length,
          });
    if (shape !== null) return `shape: ${shape}`;
    const preview = message as PreviewMessage;
    const h = preview.header;
    // Not an error: this node is behind, or the message is early.
    if (h.height === store.height() + 2) {
      // Kept for later only if it is the rightful proposer's, so no peer can crowd it out; else
      // dropped quietly, as any other height is.
      const rightful =
        h.proposer === proposer_at(genesis.validators, h.height, h.round) &&
        verify_hex(p, h.exec_signature, exec_sign_bytes(h), h.proposer);
      return rightful ? 'the height after the next' : 'not the next height';
    }
    if (h.height !== store.height() + 1) return 'not the next height';
    const position = `${h.height}/${h.round}`;
    if (this.#previewed.has(position)) return 'already previewed';
    if (this.#previewed.size >= PREVIEWS_PER_HEIGHT_MAX) return 'too many previews for this height';
    if (h.time_ms > now_ms() + BLOCK_TIME_FUTURE_MS_MAX) return 'time_ms in the future';
    const over = store_code_limit_error(preview.txs);
    if (over !== null) return over;
    const parent = store.last_block()?.block.header ?? null;
    // The checks the consensus engine makes of a proposal's block, less its last commit's
    // signatures, which the enclave's light client verifies before executing.
    const link = block_link_error(p, preview, {
      chain_id: genesis.chain_id,
      height: store.height() + 1,
      proposer: proposer_at(genesis.validators, h.height, h.round),
      parent_hash: parent === null ? GENESIS_PARENT_HASH : block_hash(p, parent),
      parent_time_ms: parent?.time_ms ?? null,
    });
    if (link !== null) return link;
    if (!verify_hex(p, h.exec_signature, exec_sign_bytes(h), h.proposer)) return 'exec signature';
    this.#previewed.add(position);
    return null;
  }

  /**
   * Whether the next block could include a transaction from the mempool: what a height waits for
   * when blocks are made on demand (ConsensusApp.has_txs).
   */
  has_txs(): boolean {
    return this.#m.mempool.has_includable();
  }

  /**
   * Applies a block the network committed, with this node's own execution of it. Throws
   * {@link DivergedError} if our results differ, and {@link UnexecutableBlockError} (a
   * DivergedError too) if our enclave cannot execute it: the node must halt, not skip it.
   */
  async commit(block: Block, commit: Commit): Promise<void> {
    // One commit at a time: consensus and sync can both reach a height (a node resumed a few
    // heights behind syncs while its engine decides from precommits it already had).
    const run = this.#commit_lane.then(() => this.#commit_one(block, commit));
    this.#commit_lane = run.catch(() => undefined);
    return run;
  }

  async #commit_one(block: Block, commit: Commit): Promise<void> {
    const { p, store, mempool } = this.#m;
    const hash = block_hash(p, block.header);
    const height = block.header.height;
    if (height <= store.height()) {
      // The other path committed it first: the same block is done; another one would be a fork.
      const stored = await store.get_block(height);
      if (stored?.block_hash === hash) return;
      throw new DivergedError(height, `a different block is already committed at height ${height}`);
    }
    const execution = this.#executions.get(hash) ?? (await this.#execute_committed(block));
    if (execution.output.result_hash !== block.header.result_hash)
      throw new DivergedError(block.header.height);
    await store.commit_block({
      block,
      commit,
      block_hash: hash,
      input: execution.input,
      output: execution.output,
    });
    // The committed block's light state is the one to keep, whichever execution of this height
    // (another round's block, too) wrote last.
    if (execution.sealed_light !== undefined)
      await this.#write_light(block.header.height, execution.sealed_light);
    this.#executions.clear();
    this.#inflight.clear();
    this.#previewed.clear();
    const early = this.#early_previews;
    this.#early_previews = [];
    for (const message of early) this.preview(message);
    await mempool.update(block.txs);
    this.#m.on_committed(block, hash, execution.input, execution.output);
  }

  /**
   * Executes a committed block, trying again (up to {@link COMMITTED_EXECUTION_ATTEMPTS_MAX} in
   * all) after a failure that may be the worker's own rather than the block's. Only CLOSED (the
   * node is stopping) is thrown as it is; every other failure that lasts is an
   * {@link UnexecutableBlockError}.
   */
  async #execute_committed(block: Block): Promise<Execution> {
    const parent = this.#m.store.last_block()?.block.header ?? null;
    let last: BlockExecutionError | null = null;
    for (let attempt = 1; attempt <= COMMITTED_EXECUTION_ATTEMPTS_MAX; attempt++) {
      try {
        return await this.execute(block.header, block.txs, parent, block.last_commit);
      } catch (error) {
        if (!(error instanceof BlockExecutionError) || error.code === 'CLOSED') throw error;
        this.#log_failure('commit', block.header, block.txs, error);
        last = error;
        // Anything else is what the host handed in (or a refusal of it): trying again changes nothing.
        if (!TX_ATTRIBUTABLE_FAILURES.has(error.code) && error.code !== 'BUSY') break;
      }
    }
    if (last === null) throw new Error('invariant: no attempt to execute the committed block');
    throw new UnexecutableBlockError(block.header.height, last);
  }
}
