/**
 * A validator's home folder: what is in it and how it is read.
 *
 *   home/
 *     genesis.json        the network's genesis (public)
 *     config.json         this node: index, addresses, peers, enclave and consensus settings
 *     validator_key       Ed25519 consensus and p2p secret key, 64 hex, mode 0600 (host-held)
 *     platform_secret     SIMULATED CPU fused key, read only by enclave code, mode 0600
 *     data/               LevelDB: blocks, results, sealed state, sealed seed, signed state
 * @module
 */

import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { from_hex, to_hex } from '../protocol/bytes.js';
import type { PeerAddress } from './p2p/transport.js';

/** The node's own settings. */
export interface NodeConfig {
  chain_id: string;
  /** Index in genesis.validators; -1 for a node that is not (yet) a validator. */
  index: number;
  name: string;
  p2p: { host: string; port: number };
  rpc: { host: string; port: number };
  peers: PeerAddress[];
  enclave: { provider: 'native' | 'noble'; workers: number };
  consensus: {
    propose_ms: number;
    prevote_ms: number;
    precommit_ms: number;
    round_increment_ms: number;
    commit_ms: number;
    /**
     * Blocks on demand: an empty block only after this long without one (0: never). Absent (a
     * home written before issue #15) with no `block_time_ms`: a block after every commit, as
     * before. docs/consensus.md "Block pacing"; node/consensus/engine.ts `block_pacing`.
     */
    empty_block_interval_ms?: number;
    /** Fixed pacing: a block every this many ms, transactions or not (0 or absent: off). */
    block_time_ms?: number;
  };
  block: { txs_max: number; bytes_max: number; gas_max: number };
  mempool: { txs_max: number; bytes_max: number; per_account_max: number };
  rpc_body_bytes_max: number;
  /** Live event streams one remote address may hold at once (default 8; see RPC_DEFAULTS). */
  rpc_sse_clients_per_address_max?: number;
  /**
   * The consensus engine (docs/cometbft.md): absent, Cloister's own; `cometbft`, this node is the
   * ABCI application of a CometBFT node (its `p2p`, `peers` and `consensus` settings unused).
   */
  engine?: CometEngineConfig;
}

/** A node under CometBFT: where it serves ABCI and where CometBFT's RPC answers. */
export interface CometEngineConfig {
  kind: 'cometbft';
  /** Where this node listens for CometBFT's ABCI connections: `tcp://host:port` or `unix:///path`. */
  abci: string;
  /** This validator's own CometBFT RPC (`http://127.0.0.1:26657`): submissions go to its mempool. */
  rpc: string;
  /** Other validators' CometBFT RPCs, asked for a block's signed header when our own is not up yet. */
  peer_rpcs: string[];
}

/** Paths inside a home. */
export function home_paths(home: string) {
  return {
    genesis: join(home, 'genesis.json'),
    config: join(home, 'config.json'),
    validator_key: join(home, 'validator_key'),
    platform_secret: join(home, 'platform_secret'),
    data: join(home, 'data'),
  };
}

/** Writes a secret key file readable only by its owner. */
export function write_secret_file(path: string, secret: Uint8Array): void {
  writeFileSync(path, `${to_hex(secret)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** Reads a 32-byte hex secret key file. */
export function read_secret_file(path: string): Uint8Array {
  return from_hex(readFileSync(path, 'utf8').trim(), 32);
}

/** Reads config.json. */
export function read_config(home: string): NodeConfig {
  const path = home_paths(home).config;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new Error(`${home} is not a cloister home (no config.json); create one with \`cloister init\``);
  }
  return JSON.parse(text) as NodeConfig;
}
