/**
 * The application side of consensus (CometBFT's ABCI, narrowed to three calls): build a block
 * and execute it in the enclave (propose), execute someone else's block and compare result hashes
 * (validate), and persist a decided block with its results (commit). Executions are cached by
 * block hash so a block is executed once per node, not once per call.
 * @module
 */

import type { BlockInput, BlockOutput, Enclave } from '../enclave/api.js';
import { ENCLAVE_LIMITS } from '../enclave/limits.js';
import { to_hex } from '../protocol/bytes.js';
import type { CryptoProvider } from '../protocol/provider.js';
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
import type { Genesis } from './genesis.js';
import type { Mempool } from './mempool.js';
import type { ChainStore } from './store/chain_store.js';

/** A block's time may run ahead of a validator's clock by at most this. */
export const BLOCK_TIME_FUTURE_MS_MAX = 5_000;
/** Executions kept for blocks not yet committed (proposals of several rounds). */
const EXECUTIONS_CACHED_MAX = 64;
/** Executions in progress or done for the next height, by signed unexecuted header. */
const INFLIGHT_MAX = 16;
/** Previews accepted per height (one per round; more rounds than this wait for the proposal). */
const PREVIEWS_PER_HEIGHT_MAX = 8;

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
  constructor(height: number) {
    super(`own results differ from the committed block at height ${height}: refusing to apply them`);
    this.name = 'DivergedError';
  }
}

/** The enclave's execution of one block. */
interface Execution {
  input: BlockInput;
  output: BlockOutput;
}

/** Implements ConsensusApp over an enclave, a store and a mempool. */
export class ValidatorApp implements ConsensusApp {
  readonly #opts: AppOptions;
  readonly #m: AppModules;
  readonly #executions = new Map<string, Execution>();
  /**
   * Executions of the next height by signed unexecuted header (what the light client checks), so
   * a preview's execution, the proposal's validation and the commit share one enclave call.
   */
  readonly #inflight = new Map<string, Promise<Execution>>();
  /** Heights and rounds previewed (`height/round`), so a peer cannot make us execute one twice. */
  readonly #previewed = new Set<string>();

  constructor(opts: AppOptions, modules: AppModules) {
    this.#opts = opts;
    this.#m = modules;
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
    const input = await store.block_input(
      txs,
      {
        chain_id: header.chain_id,
        height: header.height,
        time_ms: header.time_ms,
        random_seed: header.prev_block_hash,
      },
      this.#opts.genesis.attestation,
    );
    const sealed_light = await store.get_sealed('light');
    const validators = this.#opts.genesis.validators.map(({ pubkey, power }) => ({ pubkey, power }));
    const light =
      sealed_light === null
        ? undefined
        : { header: unexecuted, parent, last_commit, validators, sealed_light };
    const answer = await enclave.execute_block(light === undefined ? input : { ...input, light });
    if (!answer.ok)
      throw new Error(`enclave refused block ${header.height}: ${answer.error.code} ${answer.error.message}`);
    const { sealed_light: next_light, ...output } = answer.value;
    if (next_light !== undefined) await store.put_sealed('light', next_light);
    return { input, output };
  }

  #remember(hash: string, execution: Execution): void {
    if (this.#executions.size >= EXECUTIONS_CACHED_MAX) this.#executions.clear();
    this.#executions.set(hash, execution);
  }

  async propose(args: {
    height: number;
    round: number;
    parent: BlockHeader | null;
    last_commit: Commit | null;
  }): Promise<Block> {
    const { p, mempool, now_ms } = this.#m;
    const forged_before = mempool.forged();
    const txs = mempool.reap(this.#opts.block);
    // Gossiped transactions are verified at reap: say so when a peer sent forged ones.
    const forged = mempool.forged() - forged_before;
    if (forged > 0) this.#m.log('forged_txs_dropped', { height: args.height, forged });
    const parent_time = args.parent?.time_ms ?? this.#opts.genesis.genesis_time_ms;
    const unsigned = {
      chain_id: this.#opts.genesis.chain_id,
      height: args.height,
      round: args.round,
      time_ms: Math.max(now_ms(), parent_time + 1),
      proposer: this.#opts.pubkey,
      prev_block_hash: args.parent === null ? GENESIS_PARENT_HASH : block_hash(p, args.parent),
      txs_hash: txs_hash(p, txs),
      last_commit_hash: commit_hash(p, args.last_commit),
    };
    if (this.#opts.sign === undefined) throw new Error('this node cannot propose: it has no signing key');
    // Signed before execution: the enclave's light client executes only a rightful proposer's block.
    const signed = { ...unsigned, exec_signature: this.#opts.sign(exec_sign_bytes(unsigned)) };
    // Validators may start on it now, in parallel with our own execution.
    this.#m.preview?.({ kind: 'preview', header: signed, txs, last_commit: args.last_commit });
    const execution = await this.execute(signed, txs, args.parent, args.last_commit);
    const header: BlockHeader = { ...signed, result_hash: execution.output.result_hash };
    this.#remember(block_hash(p, header), execution);
    this.#m.log('proposed', { height: args.height, round: args.round, txs: txs.length });
    return { header, txs, last_commit: args.last_commit };
  }

  async validate(block: Block): Promise<boolean> {
    const { p, now_ms } = this.#m;
    const { header } = block;
    if (header.time_ms > now_ms() + BLOCK_TIME_FUTURE_MS_MAX) return false;
    let execution: Execution;
    try {
      execution = await this.execute(
        header,
        block.txs,
        this.#m.store.last_block()?.block.header ?? null,
        block.last_commit,
      );
    } catch (error) {
      this.#m.log('validate_failed', { height: header.height, error: (error as Error).message });
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
    if (h.height !== store.height() + 1) return 'not the next height';
    const position = `${h.height}/${h.round}`;
    if (this.#previewed.has(position)) return 'already previewed';
    if (this.#previewed.size >= PREVIEWS_PER_HEIGHT_MAX) return 'too many previews for this height';
    if (h.time_ms > now_ms() + BLOCK_TIME_FUTURE_MS_MAX) return 'time_ms in the future';
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

  async commit(block: Block, commit: Commit): Promise<void> {
    const { p, store, mempool } = this.#m;
    const hash = block_hash(p, block.header);
    const execution =
      this.#executions.get(hash) ??
      (await this.execute(
        block.header,
        block.txs,
        store.last_block()?.block.header ?? null,
        block.last_commit,
      ));
    if (execution.output.result_hash !== block.header.result_hash)
      throw new DivergedError(block.header.height);
    await store.commit_block({
      block,
      commit,
      block_hash: hash,
      input: execution.input,
      output: execution.output,
    });
    this.#executions.clear();
    this.#inflight.clear();
    this.#previewed.clear();
    await mempool.update(block.txs);
    this.#m.on_committed(block, hash, execution.input, execution.output);
  }
}
