/**
 * The application side of consensus (CometBFT's ABCI, narrowed to three calls): build a block
 * and execute it in the enclave (propose), execute someone else's block and compare result hashes
 * (validate), and persist a decided block with its results (commit). Executions are cached by
 * block hash so a block is executed once per node, not once per call.
 * @module
 */

import type { BlockInput, BlockOutput, Enclave } from '../enclave/api.js';
import type { CryptoProvider } from '../protocol/provider.js';
import type { ConsensusApp } from './consensus/engine.js';
import {
  type Block,
  type BlockHeader,
  block_hash,
  type Commit,
  commit_hash,
  GENESIS_PARENT_HASH,
  txs_hash,
} from './consensus/types.js';
import type { Genesis } from './genesis.js';
import type { Mempool } from './mempool.js';
import type { ChainStore } from './store/chain_store.js';

/** A block's time may run ahead of a validator's clock by at most this. */
export const BLOCK_TIME_FUTURE_MS_MAX = 5_000;
/** Executions kept for blocks not yet committed (proposals of several rounds). */
const EXECUTIONS_CACHED_MAX = 64;

export interface AppOptions {
  genesis: Genesis;
  /** This validator's consensus pubkey. */
  pubkey: string;
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

  constructor(opts: AppOptions, modules: AppModules) {
    this.#opts = opts;
    this.#m = modules;
  }

  /** Executes `txs` as the block described by `header` (result_hash ignored). */
  async execute(header: Omit<BlockHeader, 'result_hash'>, txs: string[]): Promise<Execution> {
    const { store, enclave } = this.#m;
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
    const answer = await enclave.execute_block(input);
    if (!answer.ok)
      throw new Error(`enclave refused block ${header.height}: ${answer.error.code} ${answer.error.message}`);
    return { input, output: answer.value };
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
    const txs = mempool.reap(this.#opts.block);
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
    const execution = await this.execute(unsigned, txs);
    const header: BlockHeader = { ...unsigned, result_hash: execution.output.result_hash };
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
      execution = await this.execute(header, block.txs);
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

  async commit(block: Block, commit: Commit): Promise<void> {
    const { p, store, mempool } = this.#m;
    const hash = block_hash(p, block.header);
    const execution = this.#executions.get(hash) ?? (await this.execute(block.header, block.txs));
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
    await mempool.update(block.txs);
    this.#m.on_committed(block, hash, execution.input, execution.output);
  }
}
