/**
 * What every node (validator or follower) opens the same way: its store with the genesis codes,
 * its enclave pool with the sealed seed and light state, its mempool, and how it announces a
 * commit. One place, so both kinds of node stay identical where they should be.
 * @module
 */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BlockInput, BlockOutput } from '../enclave/api.js';
import { PoolEnclave } from '../enclave/pool.js';
import { unwrap } from '../enclave/result.js';
import { from_base64 } from '../protocol/bytes.js';
import type { CryptoProvider } from '../protocol/provider.js';
import type { NodeBackend } from './backend.js';
import type { Block } from './consensus/types.js';
import type { Genesis } from './genesis.js';
import { home_paths, type NodeConfig } from './home.js';
import { Mempool } from './mempool.js';
import type { Metrics } from './metrics.js';
/** A log sink: an event name and fields (node processes print them as JSON lines). */
import type { Log } from './modules.js';
import { Quarantine } from './quarantine.js';
import type { TxRecord } from './records.js';
import { RpcServer } from './rpc/server.js';
import { ChainStore } from './store/chain_store.js';

export type { Log } from './modules.js';

/** Largest transaction a node's mempool takes (a store_code of the largest contract fits). */
const TX_BYTES_MAX = 512 * 1024;
/** Largest gas limit a transaction may ask for (the enclave's own limit). */
const TX_GAS_LIMIT_MAX = 100_000_000;

/** Reads a sealed blob from the store, or imports it once from the file `init` or `join` wrote. */
async function sealed_from(store: ChainStore, home: string, name: 'seed' | 'light'): Promise<string | null> {
  const stored = await store.get_sealed(name);
  if (stored !== null) return stored;
  const file = join(home, name === 'seed' ? 'sealed_seed' : 'sealed_light');
  if (!existsSync(file)) return null;
  const value = readFileSync(file, 'utf8').trim();
  await store.put_sealed(name, value);
  return value;
}

/**
 * Opens the store (with the genesis codes) and the enclave pool, loads the sealed seed and checks it
 * is this network's, and imports the light client's state. Registers closers in `stoppers`; logs
 * `store_upgraded` (from, contracts and txs indexed) when opening upgraded an older store.
 */
export async function open_store_and_enclave(
  home: string,
  config: NodeConfig,
  genesis: Genesis,
  stoppers: (() => Promise<void> | void)[],
  log?: Log,
): Promise<{ store: ChainStore; pool: PoolEnclave }> {
  const paths = home_paths(home);
  const store = await ChainStore.open(paths.data, { chain_id: genesis.chain_id });
  stoppers.push(() => store.close());
  // An older store was brought to this version's format (docs/storage.md "Format"): say so once.
  const upgraded = store.upgraded();
  if (upgraded !== null) log?.('store_upgraded', { ...upgraded, height: store.height() });
  await store.init_genesis(
    genesis.codes.map((c) => ({ name: c.name, code: from_base64(c.code) })),
    genesis.balances ?? {},
  );
  const pool = new PoolEnclave({
    provider: config.enclave.provider,
    platform_secret_file: paths.platform_secret,
    workers: config.enclave.workers,
  });
  stoppers.push(() => pool.close());
  const sealed = await sealed_from(store, home, 'seed');
  if (sealed === null) throw new Error('no sealed seed in this home: join the network by registration first');
  await sealed_from(store, home, 'light');
  if (unwrap(await pool.load_seed(sealed)).io_pubkey !== genesis.io_pubkey) {
    throw new Error('the sealed seed is for another network');
  }
  return { store, pool };
}

/** A node's mempool, with the limits of its config. */
export function node_mempool(
  p: CryptoProvider,
  genesis: Genesis,
  config: Pick<NodeConfig, 'mempool'>,
  store: ChainStore,
  now_ms: () => number,
): Mempool {
  return new Mempool(
    {
      chain_id: genesis.chain_id,
      limits: { ...config.mempool, tx_bytes_max: TX_BYTES_MAX, gas_limit_max: TX_GAS_LIMIT_MAX },
      min_gas_price: genesis.min_gas_price ?? 0,
    },
    {
      p,
      committed_sequence: (address) => store.get_account_sequence(address),
      committed_balance: (address) => store.get_balance(address),
      // On the node's clock: in the simulator, quarantine expiry is simulated time too.
      quarantine: new Quarantine(undefined, now_ms),
    },
  );
}

/** What a node does after each durable commit: live events for RPC subscribers, and a log line. */
export function announce_commits(
  backend: NodeBackend,
  log: Log,
): (block: Block, hash: string, input: BlockInput, output: BlockOutput) => void {
  const announce = announce_records(backend, log);
  return (block, hash, _input, output) => {
    const height = block.header.height;
    announce(
      block,
      hash,
      output.results.map((r, index) => ({ ...r, height, index })),
    );
  };
}

/**
 * {@link announce_commits} from a block and its transactions' records (under CometBFT, when its
 * results are final: node/abci/app.ts).
 */
export function announce_records(
  backend: NodeBackend,
  log: Log,
): (block: Block, hash: string, txs: TxRecord[]) => void {
  return (block, hash, txs) => {
    const height = block.header.height;
    backend.publish(
      { type: 'block', height, block_hash: hash, time_ms: block.header.time_ms, txs: block.txs.length },
      txs,
    );
    log('committed', { height, txs: block.txs.length, hash: hash.slice(0, 16) });
  };
}

/**
 * Starts a node's RPC server (protocol.md §6) with the limits of its config, and `GET /metrics`
 * when given the node's metrics; registers its stop.
 */
export async function start_rpc(
  config: NodeConfig,
  backend: NodeBackend,
  log: Log,
  stoppers: (() => Promise<void> | void)[],
  metrics?: Metrics,
): Promise<string> {
  const rpc = new RpcServer(
    {
      host: config.rpc.host,
      port: config.rpc.port,
      body_bytes_max: config.rpc_body_bytes_max,
      wait_timeout_ms: 30_000,
      sse_clients_max: 64,
      sse_clients_per_address_max: config.rpc_sse_clients_per_address_max,
      cors_origin: '*',
    },
    metrics === undefined ? { backend, log } : { backend, log, metrics },
  );
  const { url } = await rpc.start();
  stoppers.push(() => rpc.stop());
  return url;
}
