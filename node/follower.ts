/**
 * A node that is not a validator (one that joined by registration): it follows the chain over the
 * validators' public RPC, checking every block exactly as sync does (extends our chain, commit
 * with more than 2/3 of the power for its hash, txs and last commit match the header),
 * re-executing it in its own enclave and applying it only if its result hash matches. It serves
 * the same RPC as a validator; transactions sent to it are checked and forwarded.
 * @module
 */

import { readFileSync } from 'node:fs';
import { get_provider } from '../protocol/providers/index.js';
import { RpcError, rpc, subscribe } from '../protocol/rpc_client.js';
import { ValidatorApp } from './app.js';
import { NodeBackend } from './backend.js';
import type { BlockHeader, Commit } from './consensus/types.js';
import { read_genesis } from './genesis.js';
import { home_paths, type NodeConfig } from './home.js';
import { metered_commits, metered_enclave, NodeMetrics } from './metrics.js';
import { announce_commits, type Log, node_mempool, open_store_and_enclave, start_rpc } from './parts.js';
import { system_clock } from './real_world.js';
import { check_fetched_block } from './sync.js';

/** Pause before re-opening a validator's event stream after it fails. */
const STREAM_RETRY_MS = 1_000;

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
  const stop = async () => {
    for (const s of stoppers.reverse()) await s();
  };
  try {
    const { store, pool } = await open_store_and_enclave(home, config, genesis, stoppers);
    const clock = system_clock();
    // Its own registry, served as GET /metrics: a follower decides no rounds and has no p2p peers.
    const metrics = new NodeMetrics({ process: true });
    const enclave = metered_enclave(pool, clock, metrics);
    const mempool = node_mempool(p, genesis, config, store, clock.now_ms);
    const forward = (raw: string) => {
      void rpc(config.follow[0]!, '/v1/txs', { body: raw }).catch((error: unknown) =>
        log('forward_failed', { error: (error as Error).message }),
      );
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

    // Applies every block the validators have that we do not (single flight).
    let syncing: Promise<void> | null = null;
    const sync = () => {
      syncing ??= (async () => {
        try {
          for (;;) {
            const height = store.height() + 1;
            let record = null;
            for (const url of config.follow) {
              try {
                record = await fetch_block(url, height);
              } catch {
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
            if (record === null) return;
            await app.commit(record.block, record.commit);
          }
        } catch (error) {
          log('sync_failed', { error: (error as Error).message });
        } finally {
          syncing = null;
        }
      })();
      return syncing;
    };

    metrics.watch({
      height: () => store.height(),
      round: () => 0,
      mempool_size: () => mempool.size(),
      peers: () => 0,
    });
    const url = await start_rpc(config, backend, log, stoppers, metrics);

    await sync();
    // New blocks announce themselves on a validator's live stream.
    const abort = new AbortController();
    stoppers.push(() => abort.abort());
    void (async () => {
      for (let i = 0; !abort.signal.aborted; i++) {
        const source = config.follow[i % config.follow.length]!;
        try {
          await subscribe(
            source,
            (type) => {
              if (type === 'block') void sync();
            },
            abort.signal,
          );
        } catch (error) {
          log('stream_failed', { source, error: (error as Error).message });
        }
        if (!abort.signal.aborted) await new Promise((r) => clock.set_timer(STREAM_RETRY_MS, () => r(null)));
      }
    })();
    log('started', { rpc: url, height: store.height(), behaviour: 'follower' });
    return { rpc_url: url, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
