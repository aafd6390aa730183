/**
 * A node that is not a validator (one that joined by registration): it follows the chain over the
 * validators' public RPC, checking every block exactly as sync does (extends our chain, commit
 * with more than 2/3 of the power for its hash, txs and last commit match the header),
 * re-executing it in its own enclave and applying it only if its result hash matches. It serves
 * the same RPC as a validator; transactions sent to it are checked and forwarded to the first of
 * the validators it follows that takes them (the next when one is down, busy or halted).
 *
 * It learns of new blocks from a validator's live stream, and misses none, even on an idle
 * network where blocks come on demand and no later block would carry it to an earlier one: each
 * time the stream opens it syncs (a block committed while no stream was open, at start or between
 * reconnects, is fetched then), and each announcement wakes a sync that runs again if it came
 * while one was running ({@link SyncLane}). A sync that could not reach any validator tries again
 * after {@link SYNC_RETRY_MS}. Stopping ends the stream, the sync (between blocks) and any pause.
 * @module
 */

import { readFileSync } from 'node:fs';
import { get_provider } from '../protocol/providers/index.js';
import { RpcError, RpcTransport, read_events, rpc } from '../protocol/rpc_client.js';
import { ValidatorApp } from './app.js';
import { NodeBackend } from './backend.js';
import type { BlockHeader, Commit } from './consensus/types.js';
import { read_genesis } from './genesis.js';
import { home_paths, type NodeConfig } from './home.js';
import { metered_commits, metered_enclave, NodeMetrics } from './metrics.js';
import { announce_commits, type Log, node_mempool, open_store_and_enclave, start_rpc } from './parts.js';
import { system_clock } from './real_world.js';
import { check_fetched_block, SYNC_BLOCKS_PER_RUN_MAX, SyncLane } from './sync.js';

/** Pause before re-opening a validator's event stream after it fails or ends. */
const STREAM_RETRY_MS = 1_000;
/** Pause before syncing again after no validator could be asked for the next block. */
export const SYNC_RETRY_MS = 1_000;
/** Deadline of one forwarded transaction at a validator (a POST that timed out is not re-sent elsewhere). */
const FORWARD_TIMEOUT_MS = 10_000;

/** Fetches block `h` from a validator's RPC as a block record, or null if not committed yet. */
async function fetch_block(url: string, height: number) {
  try {
    const b = await rpc<{ header: BlockHeader; block_hash: string; tx_hashes: string[]; commit: Commit }>(
      url,
      `/v1/blocks/${height}`,
    );
    const { txs } = await rpc<{ txs: string[] }>(url, `/v1/blocks/${height}/txs`);
    // The canonical commit of h-1 is exactly block h's last_commit.
    const last_commit =
      height === 1 ? null : (await rpc<{ commit: Commit }>(url, `/v1/blocks/${height - 1}`)).commit;
    return {
      block: { header: b.header, txs, last_commit },
      commit: b.commit,
      block_hash: b.block_hash,
      tx_hashes: b.tx_hashes,
    };
  } catch (error) {
    if (error instanceof RpcError && error.status === 404) return null;
    throw error;
  }
}

/** Starts a follower from its home; resolves with its RPC URL and a stop function. */
export async function start_follower(
  home: string,
  log: Log,
): Promise<{ rpc_url: string; stop: () => Promise<void> }> {
  const paths = home_paths(home);
  const config = JSON.parse(readFileSync(paths.config, 'utf8')) as NodeConfig & { follow: string[] };
  const p = get_provider('native');
  const genesis = read_genesis(p, paths.genesis);
  const validators = genesis.validators.map(({ pubkey, power }) => ({ pubkey, power }));
  const stoppers: (() => Promise<void> | void)[] = [];
  // Aborted first on stop: the stream, the sync (between blocks) and the pauses end on it.
  const abort = new AbortController();
  let stopped: Promise<void> | null = null;
  const stop = () => {
    stopped ??= (async () => {
      abort.abort();
      for (const s of stoppers.reverse()) await s();
    })();
    return stopped;
  };
  const clock = system_clock();
  /** Resolves after `ms`, or at once when stopping. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (abort.signal.aborted) return resolve();
      const done = () => {
        cancel();
        abort.signal.removeEventListener('abort', done);
        resolve();
      };
      const cancel = clock.set_timer(ms, done);
      abort.signal.addEventListener('abort', done, { once: true });
    });
  try {
    const { store, pool } = await open_store_and_enclave(home, config, genesis, stoppers);
    // Its own registry, served as GET /metrics: a follower decides no rounds and has no p2p peers.
    const metrics = new NodeMetrics({ process: true });
    const enclave = metered_enclave(pool, clock, metrics);
    const mempool = node_mempool(p, genesis, config, store, clock.now_ms);
    // Transactions sent to it go to the validators it follows: the first that answers, the next
    // when one cannot be reached, is busy or halted (RpcTransport), preferring the last that took one.
    const forward_to = new RpcTransport({ nodes: config.follow });
    const forward = (raw: string) => {
      void forward_to
        .request('POST', '/v1/txs', { text: raw, timeout_ms: FORWARD_TIMEOUT_MS })
        .catch((error: unknown) => log('forward_failed', { error: (error as Error).message }));
    };
    const backend = new NodeBackend(
      { genesis, pubkey: '' },
      {
        store,
        mempool,
        enclave,
        now_ms: clock.now_ms,
        set_timer: clock.set_timer,
        gossip_tx: forward,
        p,
        log,
      },
    );
    const app = new ValidatorApp(
      { genesis, pubkey: '', block: config.block },
      {
        p,
        enclave,
        store,
        mempool,
        now_ms: clock.now_ms,
        log,
        on_committed: metered_commits(store, metrics, announce_commits(backend, log)),
      },
    );

    // Applies the blocks the validators have that we do not, at most SYNC_BLOCKS_PER_RUN_MAX a run
    // (then it asks for another, so a stop comes in between); one run at a time, no wake lost.
    let retry_armed = false;
    const lane: SyncLane = new SyncLane(async () => {
      try {
        for (let n = 0; n < SYNC_BLOCKS_PER_RUN_MAX; n++) {
          if (abort.signal.aborted) return;
          const height = store.height() + 1;
          let record = null;
          let unreachable = 0;
          for (const url of config.follow) {
            try {
              record = await fetch_block(url, height);
            } catch {
              unreachable++;
              continue;
            }
            if (record === null) continue;
            const last = store.last_block();
            const why = check_fetched_block(
              p,
              genesis.chain_id,
              validators,
              last === null ? null : { header: last.block.header, commit: last.commit },
              record,
            );
            if (why === null) break;
            log('sync_refused', { url, height, why });
            record = null;
          }
          if (record === null) {
            // No validator answered: on an idle network no announcement may come to wake us again.
            if (unreachable === config.follow.length && !retry_armed && !abort.signal.aborted) {
              retry_armed = true;
              void pause(SYNC_RETRY_MS).then(() => {
                retry_armed = false;
                if (!abort.signal.aborted) void lane.wake();
              });
            }
            return;
          }
          await app.commit(record.block, record.commit);
        }
        void lane.wake();
      } catch (error) {
        // Stopping closes the enclave and the store under a block being applied: not a failure.
        if (!abort.signal.aborted) log('sync_failed', { error: (error as Error).message });
      }
    });
    const sync = () => lane.wake();

    metrics.watch({
      height: () => store.height(),
      round: () => 0,
      mempool_size: () => mempool.size(),
      peers: () => 0,
    });
    const url = await start_rpc(config, backend, log, stoppers, metrics);

    await sync();
    // New blocks announce themselves on a validator's live stream. The validator subscribes a
    // stream to its commits before the stream's headers go out, so once it is open every later
    // block is announced on it, and the sync started then fetches any committed before.
    void (async () => {
      for (let i = 0; !abort.signal.aborted; i++) {
        const source = config.follow[i % config.follow.length]!;
        try {
          const { body } = await new RpcTransport({ nodes: [source] }).open_stream(abort.signal);
          void sync();
          for await (const event of read_events(body)) if (event.type === 'block') void sync();
        } catch (error) {
          if (!abort.signal.aborted) log('stream_failed', { source, error: (error as Error).message });
        }
        await pause(STREAM_RETRY_MS);
      }
    })();
    log('started', { rpc: url, height: store.height(), behaviour: 'follower' });
    return { rpc_url: url, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
