/**
 * A validator node in the real world: one OS process with an untrusted host and an enclave worker
 * pool. Opens LevelDB and the pool from the node's home, starts TCP, the HTTP RPC server and the
 * admin socket, and hands them with the system clock to `assemble_node` (./assemble.ts), which
 * wires the rest.
 * @module
 */

import type { Enclave } from '../enclave/api.js';
import { to_hex } from '../protocol/bytes.js';
import type { CryptoProvider } from '../protocol/provider.js';
import { get_provider } from '../protocol/providers/index.js';
import { admin_socket_path, start_admin } from './admin.js';
import { assemble_node } from './assemble.js';
import { read_genesis } from './genesis.js';
import { home_paths, read_config, read_secret_file } from './home.js';
import { NodeMetrics } from './metrics.js';
import type { Clock, Log, PeerNetwork, Rng } from './modules.js';
import { Transport } from './p2p/transport.js';
import { open_store_and_enclave, start_rpc } from './parts.js';
import { system_clock, system_rng } from './real_world.js';
import { SigningGuard } from './signing_guard.js';

export type { Log } from './modules.js';

/** What a simulation entry point may wrap a node's network or enclave with; see {@link DecoratorContext}. */
export interface NodeDecorators {
  network?: (inner: PeerNetwork, context: DecoratorContext) => PeerNetwork;
  enclave?: (inner: Enclave, context: DecoratorContext) => Enclave;
}

/**
 * What a decorator may use: the chain, the node's secret key (SIMULATION: a byzantine decorator
 * signs its own conflicting messages with it), the other validators' keys, sorted, and the node's
 * clock and random source.
 */
export interface DecoratorContext {
  p: CryptoProvider;
  chain_id: string;
  secret_key: Uint8Array;
  peers: string[];
  clock: Clock;
  rng: Rng;
}

/** A running validator. */
export class ValidatorNode {
  readonly rpc_url: string;
  readonly #stoppers: (() => Promise<void> | void)[];
  #stopped = false;

  private constructor(rpc_url: string, stoppers: (() => Promise<void> | void)[]) {
    this.rpc_url = rpc_url;
    this.#stoppers = stoppers;
  }

  /**
   * Starts the validator whose home is `home`: the real world (LevelDB, a piscina enclave pool,
   * TCP, the system clock, the OS random source, an HTTP RPC server and the admin socket) handed
   * to `assemble_node`. `decorate` is for simulation entry points only (`cloister sim node`):
   * the production CLI never passes it.
   */
  static async start(home: string, opts: { log: Log; decorate?: NodeDecorators }): Promise<ValidatorNode> {
    const log = opts.log;
    const paths = home_paths(home);
    const config = read_config(home);
    const p = get_provider('native');
    const genesis = read_genesis(p, paths.genesis);
    if (genesis.chain_id !== config.chain_id)
      throw new Error('config.json and genesis.json name different chains');
    const secret_key = read_secret_file(paths.validator_key);
    const pubkey = to_hex(p.ed25519_public(secret_key));
    if (!genesis.validators.some((v) => v.pubkey === pubkey))
      throw new Error('this node is not a validator in genesis');
    const stoppers: (() => Promise<void> | void)[] = [];
    const stop_all = async () => {
      for (const stop of stoppers.reverse()) await stop();
    };
    try {
      const { store, pool } = await open_store_and_enclave(home, config, genesis, stoppers, log);
      // The double-signing guard's authority is its own file beside the store: refuse to start where
      // the store or that record lost what this validator signed (signing_guard.ts).
      const signing = await SigningGuard.open(
        { home, chain_id: genesis.chain_id, validators: genesis.validators, validator: pubkey },
        store,
      );
      const clock = system_clock();
      const rng = system_rng();
      const transport = new Transport(
        {
          chain_id: genesis.chain_id,
          listen_host: config.p2p.host,
          listen_port: config.p2p.port,
          peers: config.peers,
          frame_bytes_max: 16 * 1024 * 1024,
          send_queue_frames_max: 20_000,
          handshake_timeout_ms: 5_000,
          connect_timeout_ms: 2_000,
          reconnect_min_ms: 100,
          reconnect_max_ms: 2_000,
          request_timeout_ms: 10_000,
        },
        { p, signer: { pubkey, sign: (m) => p.ed25519_sign(secret_key, m) }, log, rng },
      );
      const context: DecoratorContext = {
        p,
        chain_id: genesis.chain_id,
        secret_key,
        peers: genesis.validators
          .map((v) => v.pubkey)
          .filter((k) => k !== pubkey)
          .sort(),
        clock,
        rng,
      };
      const network: PeerNetwork = opts.decorate?.network?.(transport, context) ?? transport;
      const enclave: Enclave = opts.decorate?.enclave?.(pool, context) ?? pool;
      // This node's own registry (never prom-client's global one), served as GET /metrics.
      const metrics = new NodeMetrics({ process: true });
      const node = assemble_node(
        { genesis, secret_key, consensus: config.consensus, block: config.block, mempool: config.mempool },
        { p, clock, rng, network, store: { chain: store, signing }, enclave, log, metrics },
      );
      stoppers.push(() => node.stop());
      const url = await start_rpc(config, node.backend, log, stoppers, metrics);
      // The admin channel (a unix socket in the home, never the public RPC): simulations partition
      // real processes through it (cloister sim up --faults).
      const admin = await start_admin(
        admin_socket_path(home, log),
        { height: () => store.height(), set_outgoing_filter: (fn) => transport.set_outgoing_filter(fn) },
        log,
      );
      stoppers.push(() => admin.close());
      await node.start();
      log('started', { rpc: url, height: store.height(), validator: pubkey.slice(0, 16) });
      return new ValidatorNode(url, stoppers);
    } catch (error) {
      await stop_all();
      throw error;
    }
  }

  /** Stops everything in reverse order of starting. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const stop of [...this.#stoppers].reverse()) {
      try {
        await stop();
      } catch {
        // Keep stopping the rest.
      }
    }
  }
}
