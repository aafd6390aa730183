/**
 * A chain one host runs alone, without consensus: a ChainStore on a simulated disk whose blocks
 * nobody signs. For the pre-genesis chain of `cloister init` (validator 0's enclave executes the
 * registrations of the others before any validator set exists), the enclave benchmarks and tests
 * that drive an enclave through blocks. It prepares inputs and commits outputs through the store's
 * own `block_input` and `commit_block`, the path every node takes; it only fills in what a
 * consensus round would: the header and a commit without signatures.
 * @module
 */

import type {
  AttestationPolicy,
  BlockInput,
  BlockOutput,
  Enclave,
  QueryInput,
  StateEntry,
} from '../../enclave/api.js';
import { unwrap } from '../../enclave/result.js';
import type { Scheme } from '../../protocol/envelope.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import {
  type Block,
  type BlockHeader,
  block_hash,
  type Commit,
  commit_hash,
  GENESIS_PARENT_HASH,
  txs_hash,
} from '../consensus/types.js';
import { execute_with_lookups } from '../execute.js';
import type { BlockRecord, CodeRecord } from '../records.js';
import { type ChainRules, ChainStore } from './chain_store.js';
import { MemoryDisk } from './memory_disk.js';

/** The proposer of an unsigned block: no validator. */
const NO_PROPOSER = '0'.repeat(64);
/** The execution signature of an unsigned block: none (an enclave bound to a light client refuses it). */
const NO_EXEC_SIGNATURE = '0'.repeat(128);

/** Options of {@link LocalChain.open}. */
export interface LocalChainOptions {
  chain_id: string;
  /** The attestation policy every block input carries. */
  attestation: AttestationPolicy;
  /** Genesis codes: ids 1..n in this order. */
  codes: { name: string; code: Uint8Array }[];
  /** Genesis balances (protocol.md §9); none by default. */
  balances?: Record<string, number>;
  /** protocol.md §9; 0 by default. */
  min_gas_price?: number;
  /** A development network (debug lines in results); false by default. */
  dev?: boolean;
}

/** A chain without consensus over a {@link ChainStore} on a {@link MemoryDisk}. */
export class LocalChain {
  readonly chain_id: string;
  readonly attestation: AttestationPolicy;
  readonly rules: ChainRules;
  /** The store: everything committed reads from here. */
  readonly store: ChainStore;
  /** The disk the store lives on. */
  readonly disk: MemoryDisk;
  readonly #p: CryptoProvider;

  private constructor(p: CryptoProvider, opts: LocalChainOptions, store: ChainStore, disk: MemoryDisk) {
    this.#p = p;
    this.chain_id = opts.chain_id;
    this.attestation = opts.attestation;
    this.rules = {
      attestation: opts.attestation,
      min_gas_price: opts.min_gas_price ?? 0,
      dev: opts.dev === true,
    };
    this.store = store;
    this.disk = disk;
  }

  /**
   * Opens the chain on `disk` (a new empty one by default) and stores the genesis codes, or checks
   * them against the disk's (StoreMismatchError). `p` hashes blocks, codes and addresses.
   */
  static async open(
    p: CryptoProvider,
    opts: LocalChainOptions,
    disk: MemoryDisk = new MemoryDisk(),
  ): Promise<LocalChain> {
    const store = await ChainStore.open_kv(disk.open(), { chain_id: opts.chain_id }, { p });
    try {
      await store.init_genesis(opts.codes, opts.balances ?? {});
    } catch (error) {
      await store.close();
      throw error;
    }
    return new LocalChain(p, opts, store, disk);
  }

  /** Last committed height. */
  height(): number {
    return this.store.height();
  }

  /**
   * The enclave input for a block of `txs` (exact JSON texts) at the next height. Its random seed
   * is the last block's hash, as a node's is.
   */
  block_input(txs: string[], time_ms: number): Promise<BlockInput> {
    return this.store.block_input(
      txs,
      {
        chain_id: this.chain_id,
        height: this.store.height() + 1,
        time_ms,
        random_seed: this.store.last_block()?.block_hash ?? GENESIS_PARENT_HASH,
      },
      this.rules,
    );
  }

  /**
   * Executes `txs` as the next block in `enclave`, answering its lookups (node/execute.ts), and
   * commits the result. Throws the enclave's error as an Error with its code.
   */
  async execute(
    enclave: Pick<Enclave, 'execute_block'>,
    txs: string[],
    time_ms: number,
  ): Promise<{ input: BlockInput; output: BlockOutput; record: BlockRecord }> {
    const executed = unwrap(
      await execute_with_lookups(this.store, enclave, await this.block_input(txs, time_ms)),
    );
    const record = await this.apply(executed.input, executed.output);
    return { ...executed, record };
  }

  /**
   * Commits the enclave's `output` for `input` as the next block, through `commit_block` (which
   * checks that they belong together and to this chain): a header at round 0 with no proposer nor
   * execution signature, and a commit with no signatures. Returns the block record.
   */
  async apply(input: BlockInput, output: BlockOutput): Promise<BlockRecord> {
    const last = this.store.last_block();
    const height = this.store.height() + 1;
    const header: BlockHeader = {
      chain_id: this.chain_id,
      height,
      round: 0,
      time_ms: input.time_ms,
      proposer: NO_PROPOSER,
      prev_block_hash: last?.block_hash ?? GENESIS_PARENT_HASH,
      txs_hash: txs_hash(this.#p, input.txs),
      last_commit_hash: commit_hash(this.#p, last?.commit ?? null),
      result_hash: output.result_hash,
      exec_signature: NO_EXEC_SIGNATURE,
    };
    const hash = block_hash(this.#p, header);
    const block: Block = {
      header,
      txs: [...input.txs],
      last_commit: last === null ? null : structuredClone(last.commit),
    };
    const commit: Commit = { height, round: 0, block_hash: hash, signatures: [] };
    await this.store.commit_block({ block, commit, block_hash: hash, input, output });
    const record = this.store.last_block();
    // commit_block resolved, so the store's last block is the one just committed.
    if (record === null || record.block_hash !== hash) throw new Error('invariant: committed block not last');
    return record;
  }

  /** The enclave input for a query at the committed height; null if `address` is no contract. */
  query_input(address: string, scheme: Scheme, payload: string, time_ms: number): Promise<QueryInput | null> {
    return this.store.query_input(address, scheme, payload, time_ms, { dev: this.rules.dev });
  }

  /** The stored code `code_id`; RangeError if there is none. */
  async code(code_id: number): Promise<CodeRecord> {
    const code = await this.store.get_code(code_id);
    if (code === null) throw new RangeError(`no code ${code_id}`);
    return code;
  }

  /** A contract's sealed state entries, in key order. */
  contract_state(address: string): Promise<StateEntry[]> {
    return this.store.contract_state(address);
  }

  /** A chain with this one's history on a copy of its disk, going on independently of it. */
  fork(): Promise<LocalChain> {
    return LocalChain.open(
      this.#p,
      { chain_id: this.chain_id, attestation: this.attestation, codes: [] },
      this.disk.clone(),
    );
  }

  /** Closes the store (the disk stays, and can be opened again). */
  close(): Promise<void> {
    return this.store.close();
  }
}
