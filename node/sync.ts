/**
 * Catching up: fetch committed blocks and their commits from peers, check each one (it extends our
 * last block, its commit carries more than 2/3 of the voting power for exactly its hash, its txs
 * and last commit match the header), re-execute it in our own enclave, and apply it only if our
 * result hash equals the one the validators committed. A peer that answers wrong is skipped.
 * @module
 */

import type { CryptoProvider } from '../protocol/provider.js';
import type { ValidatorApp } from './app.js';
import {
  type Block,
  type BlockHeader,
  block_hash,
  type Commit,
  commit_hash,
  GENESIS_PARENT_HASH,
  txs_hash,
  type Validator,
  verify_commit,
} from './consensus/types.js';
import type { BlockRecord } from './records.js';
import type { ChainStore } from './store/chain_store.js';

/** Request bodies peers answer (node.ts serves them). */
export type SyncRequest = { kind: 'status' } | { kind: 'get_block'; height: number };

/** Blocks fetched in one sync run before yielding back to consensus. */
export const SYNC_BLOCKS_PER_RUN_MAX = 10_000;

export interface SyncModules {
  p: CryptoProvider;
  store: ChainStore;
  app: ValidatorApp;
  peers: () => string[];
  request: (peer: string, body: SyncRequest) => Promise<unknown>;
  log: (event: string, fields: Record<string, unknown>) => void;
}

/** Why a fetched block was refused, or null if it may be applied. */
export function check_fetched_block(
  p: CryptoProvider,
  chain_id: string,
  validators: readonly Validator[],
  last: { header: BlockHeader; commit: Commit } | null,
  record: unknown,
): string | null {
  if (typeof record !== 'object' || record === null) return 'not a block record';
  const r = record as BlockRecord;
  const block = r.block as Block | undefined;
  if (block === undefined || typeof block.header !== 'object' || !Array.isArray(block.txs))
    return 'malformed block';
  const h = block.header;
  const height = (last?.header.height ?? 0) + 1;
  if (h.chain_id !== chain_id || h.height !== height) return `expected block ${height} of ${chain_id}`;
  const hash = block_hash(p, h);
  if (h.prev_block_hash !== (last === null ? GENESIS_PARENT_HASH : block_hash(p, last.header)))
    return 'does not extend our last block';
  if (h.txs_hash !== txs_hash(p, block.txs)) return 'txs do not match the header';
  if (h.last_commit_hash !== commit_hash(p, block.last_commit ?? null))
    return 'last commit does not match the header';
  if (
    last !== null &&
    (block.last_commit === null || block.last_commit.block_hash !== block_hash(p, last.header))
  ) {
    return 'last commit is not for our last block';
  }
  if (
    typeof r.commit !== 'object' ||
    r.commit === null ||
    r.commit.block_hash !== hash ||
    r.commit.height !== height
  ) {
    return 'commit is not for this block';
  }
  return verify_commit(p, chain_id, validators, r.commit);
}

/** Syncs from peers until none has a higher block; returns how many blocks were applied. */
export async function sync_from_peers(
  opts: { chain_id: string; validators: readonly Validator[] },
  m: SyncModules,
): Promise<number> {
  let applied = 0;
  for (let run = 0; run < SYNC_BLOCKS_PER_RUN_MAX; run++) {
    const height = m.store.height() + 1;
    let record: BlockRecord | null = null;
    for (const peer of m.peers()) {
      let answer: unknown;
      try {
        answer = await m.request(peer, { kind: 'get_block', height });
      } catch {
        continue;
      }
      if (answer === null) continue;
      const last = m.store.last_block();
      const why = check_fetched_block(
        m.p,
        opts.chain_id,
        opts.validators,
        last === null ? null : { header: last.block.header, commit: last.commit },
        answer,
      );
      if (why !== null) {
        m.log('sync_refused', { peer: peer.slice(0, 8), height, why });
        continue;
      }
      record = answer as BlockRecord;
      break;
    }
    if (record === null) return applied;
    // Re-execute and compare inside app.commit: it refuses (DivergedError) if our results differ.
    await m.app.commit(record.block, record.commit);
    applied++;
  }
  return applied;
}

/**
 * Sync runs one at a time, and no wake lost: {@link wake} starts a run, or, while one is running,
 * asks for one more after it (however many wakes come meanwhile, one more run). A follower wakes
 * it for each block a validator announces: a single-flight run that just returned the running
 * promise dropped the announcement of a block committed after the run's last fetch found nothing
 * and before the run ended, and on an idle network (blocks on demand) no later block came to
 * fetch it, so the follower stayed one block behind. `run` handles its own failures; one that
 * throws ends the runs asked for so far (the next wake starts afresh).
 */
export class SyncLane {
  readonly #run: () => Promise<void>;
  #running: Promise<void> | null = null;
  #again = false;

  constructor(run: () => Promise<void>) {
    this.#run = run;
  }

  /** Starts a run, or asks for one more after the current; settles when the runs asked for are done. */
  wake(): Promise<void> {
    if (this.#running !== null) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          await this.#run();
        } while (this.#again);
      } finally {
        this.#again = false;
        this.#running = null;
      }
    })();
    return this.#running;
  }
}
