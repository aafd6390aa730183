/**
 * A validator assembled from a config and modules: the application (host + enclave), the
 * consensus engine, the mempool, transaction gossip, sync and the RPC backend, wired to the
 * injected clock, random source, peer network, store and enclave (./modules.ts). `node/node.ts`
 * calls it with the real world (TCP, LevelDB, a piscina pool, the system clock); the simulator
 * (`sim/`) calls it with virtual time, a simulated network, an in-memory disk and an in-process
 * enclave, and wraps the network or enclave in byzantine decorators. Nothing here opens a socket
 * or a file, reads the wall clock or draws unseeded randomness. docs/architecture.md "Seams".
 * @module
 */

import type { Enclave } from '../enclave/api.js';
import { to_hex } from '../protocol/bytes.js';
import type { CryptoProvider } from '../protocol/provider.js';
import { DivergedError, ValidatorApp } from './app.js';
import { NodeBackend } from './backend.js';
import { ConsensusEngine, type ConsensusTimeouts } from './consensus/engine.js';
import type { ConsensusMessage } from './consensus/types.js';
import type { Genesis } from './genesis.js';
import type { NodeConfig } from './home.js';
import type { Mempool } from './mempool.js';
import { type Metrics, metered_commits, metered_enclave, NO_METRICS } from './metrics.js';
import type { Clock, Log, PeerNetwork, Rng } from './modules.js';
import { announce_commits, node_mempool } from './parts.js';
import type { SigningGuard } from './signing_guard.js';
import type { ChainStore } from './store/chain_store.js';
import { type SyncRequest, sync_from_peers } from './sync.js';
import { gossiped_txs, TxGossip } from './tx_gossip.js';

/** What a node is: its chain, its key and its limits (a subset of the home's config.json). */
export interface AssembleConfig {
  genesis: Genesis;
  /** This validator's Ed25519 secret key (32 bytes): consensus signatures and p2p identity. */
  secret_key: Uint8Array;
  consensus: ConsensusTimeouts;
  block: NodeConfig['block'];
  mempool: NodeConfig['mempool'];
}

/**
 * The store seam: the chain store (LevelDB or an in-memory disk, one code path) and the
 * double-signing guard opened on the same disk (its record file, or the simulator's memory record).
 */
export interface NodeStore {
  chain: ChainStore;
  signing: SigningGuard;
}

/** Everything a node takes from the world around it. */
export interface NodeModules {
  p: CryptoProvider;
  clock: Clock;
  rng: Rng;
  network: PeerNetwork;
  store: NodeStore;
  enclave: Enclave;
  log: Log;
  /**
   * Where the node reports its metrics (./metrics.ts: `NodeMetrics`, a registry of its own, served
   * as `GET /metrics`); absent: {@link NO_METRICS}, and the enclave is not wrapped.
   */
  metrics?: Metrics;
}

/** A validator, assembled and not yet started. */
export interface AssembledNode {
  /** This validator's public key (64 hex). */
  readonly pubkey: string;
  /** The RPC backend (protocol.md §6) without sockets: the RPC server serves it, the simulator calls it. */
  readonly backend: NodeBackend;
  readonly mempool: Mempool;
  readonly store: ChainStore;
  /** Starts the network, catches up from peers, sits out after a signing reset, then joins consensus. */
  start(): Promise<void>;
  /** Stops consensus, timers, gossip and the network (not the store or enclave: their owner closes them). */
  stop(): Promise<void>;
  /** Why the node halted, or null while it runs. */
  halted(): string | null;
}

/** Assembles a validator from its config and modules; see {@link AssembledNode}. */
export function assemble_node(config: AssembleConfig, given: NodeModules): AssembledNode {
  const { genesis } = config;
  const modules = metered(given);
  const { p, clock, network, log } = modules;
  const metrics = modules.metrics ?? NO_METRICS;
  const store = modules.store.chain;
  const host = host_parts(config, modules);
  let engine: ConsensusEngine | null = null;
  let halted: string | null = null;
  const halt = (error: unknown) => {
    if (halted !== null) return;
    halted = error instanceof Error ? error.message : String(error);
    log('halted', { reason: halted });
    // The height it could not apply; the RPC now says so and takes no more transactions.
    host.backend.halt({ height: store.height() + 1, reason: halted });
    engine?.stop();
  };
  const app = new ValidatorApp(
    { genesis, pubkey: host.pubkey, block: config.block, sign: host.sign_hex },
    {
      p,
      enclave: modules.enclave,
      store,
      mempool: host.mempool,
      now_ms: () => clock.now_ms(),
      log,
      on_committed: metered_commits(store, metrics, announce_commits(host.backend, log)),
      preview: (message) => network.broadcast(message),
    },
  );
  const validators = genesis.validators.map(({ pubkey: k, power }) => ({ pubkey: k, power }));
  const the_engine = new ConsensusEngine(
    { chain_id: genesis.chain_id, validators, timeouts: config.consensus },
    {
      p,
      app: halting_on_divergence(app, halt),
      signer: { pubkey: host.pubkey, sign: host.sign_hex },
      outbox: { broadcast: (msg: ConsensusMessage) => network.broadcast(msg) },
      clock,
      // The engine awaits save before a signed message leaves: record first, then the store's copy.
      signed_state: modules.store.signing,
      log,
      on_halt: (reason: string) => halt(new Error(`consensus halted: ${reason}`)),
    },
  );
  engine = the_engine;
  // Blocks on demand: a height waiting for a transaction begins when the mempool takes one
  // (from a client, or gossiped by a peer).
  host.mempool.on_added(() => the_engine.txs_available());
  metrics.watch({
    height: () => store.height(),
    round: () => the_engine.round,
    mempool_size: () => host.mempool.size(),
    peers: () => network.connected_peers().length,
  });
  const sync = make_sync({ genesis, validators }, { p, store, app, network, log, halt });
  const from_store = () => {
    const last = store.last_block();
    return {
      height: store.height() + 1,
      parent: last?.block.header ?? null,
      last_commit: last?.commit ?? null,
    };
  };
  the_engine.on_behind(() => {
    void sync().then(() => {
      if (halted === null) the_engine.catch_up(from_store());
    });
  });
  listen(network, { engine: the_engine, app, mempool: host.mempool, store, log, halted: () => halted });
  let stopped = false;
  return {
    pubkey: host.pubkey,
    backend: host.backend,
    mempool: host.mempool,
    store,
    halted: () => halted,
    start: async () => {
      await network.start();
      // Catch up with whatever the others committed while we were away, then join consensus.
      await sync();
      // After `reset-signing`: sync from a peer and sit out the height in progress before signing.
      await modules.store.signing.before_signing({
        peers: () => network.connected_peers(),
        on_peer: (fn) => network.on_peer((_key, connected) => connected && fn()),
        sync,
        log,
        clock,
      });
      if (halted === null && !stopped) await the_engine.start(from_store());
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      the_engine.stop();
      host.gossip.flush();
      await network.stop();
    },
  };
}

/** `modules` with its enclave's `execute_block` calls timed into its metrics, when it has any. */
function metered(modules: NodeModules): NodeModules {
  const { metrics } = modules;
  if (metrics === undefined) return modules;
  return { ...modules, enclave: metered_enclave(modules.enclave, modules.clock, metrics) };
}

/** The host's parts around the app: its key, mempool, transaction gossip and RPC backend. */
function host_parts(config: AssembleConfig, modules: NodeModules) {
  const { genesis } = config;
  const { p, clock, network } = modules;
  const store = modules.store.chain;
  const pubkey = to_hex(p.ed25519_public(config.secret_key));
  if (!genesis.validators.some((v) => v.pubkey === pubkey)) {
    throw new Error('this node is not a validator in genesis');
  }
  const sign_hex = (m: Uint8Array) => to_hex(p.ed25519_sign(config.secret_key, m));
  const mempool = node_mempool(p, genesis, config, store, () => clock.now_ms());
  const gossip = new TxGossip(
    {},
    {
      broadcast: (message) => network.broadcast(message),
      set_timeout: (fn, ms) => clock.set_timer(ms, fn),
      clear_timeout: (cancel) => (cancel as () => void)(),
    },
  );
  const backend = new NodeBackend(
    { genesis, pubkey },
    {
      store,
      mempool,
      enclave: modules.enclave,
      now_ms: () => clock.now_ms(),
      set_timer: (delay_ms, fn) => clock.set_timer(delay_ms, fn),
      gossip_tx: (raw) => gossip.add(raw),
      p,
      log: modules.log,
      peers: () => network.connected_peers(),
    },
  );
  return { pubkey, sign_hex, mempool, gossip, backend };
}

/** The app as the engine sees it: a node whose own results differ from what 2/3 committed halts rather than apply them. */
function halting_on_divergence(app: ValidatorApp, halt: (error: unknown) => void) {
  return {
    propose: app.propose.bind(app),
    validate: app.validate.bind(app),
    has_txs: app.has_txs.bind(app),
    commit: async (
      block: Parameters<ValidatorApp['commit']>[0],
      commit: Parameters<ValidatorApp['commit']>[1],
    ) => {
      try {
        await app.commit(block, commit);
      } catch (error) {
        if (error instanceof DivergedError) halt(error);
        throw error;
      }
    },
  };
}

/** What arrives from peers: consensus messages to the engine, previews to the app, gossiped transactions to the mempool, sync requests answered from the store. */
function listen(
  network: PeerNetwork,
  m: {
    engine: ConsensusEngine;
    app: ValidatorApp;
    mempool: Mempool;
    store: ChainStore;
    log: Log;
    halted: () => string | null;
  },
): void {
  network.on_message((_from, body) => {
    if (typeof body !== 'object' || body === null) return;
    const kind = (body as { kind?: unknown }).kind;
    if (kind === 'proposal' || kind === 'vote') {
      m.engine.receive(body as ConsensusMessage);
      return;
    }
    if (kind === 'preview') {
      if (m.halted() === null) m.app.preview(body);
      return;
    }
    const raws = gossiped_txs(body);
    if (raws === null) return;
    // In order, one at a time: an account's consecutive sequences must arrive in order.
    // Gossip is best effort: a refusal (or a closed store at shutdown) is not this node's error.
    void (async () => {
      for (const raw of raws) await m.mempool.add(raw, 'peer');
    })().catch((error: unknown) => m.log('gossip_tx_failed', { error: (error as Error).message }));
  });
  network.on_request(async (_from, body) => {
    const r = body as SyncRequest;
    if (r?.kind === 'status') return { height: m.store.height() };
    if (r?.kind === 'get_block' && Number.isSafeInteger(r.height)) return m.store.get_block(r.height);
    throw new Error('unknown request');
  });
}

/** The node's sync: one run at a time; a diverged block halts the node, other failures are logged. */
function make_sync(
  opts: { genesis: Genesis; validators: { pubkey: string; power: number }[] },
  m: {
    p: CryptoProvider;
    store: ChainStore;
    app: ValidatorApp;
    network: PeerNetwork;
    log: Log;
    halt: (error: unknown) => void;
  },
): () => Promise<void> {
  let syncing: Promise<void> | null = null;
  return () => {
    syncing ??= (async () => {
      try {
        const applied = await sync_from_peers(
          { chain_id: opts.genesis.chain_id, validators: opts.validators },
          {
            p: m.p,
            store: m.store,
            app: m.app,
            peers: () => m.network.connected_peers(),
            request: (peer, body) => m.network.request(peer, body),
            log: m.log,
          },
        );
        if (applied > 0) m.log('synced', { applied, height: m.store.height() });
      } catch (error) {
        if (error instanceof DivergedError) m.halt(error);
        else m.log('sync_failed', { error: (error as Error).message });
      } finally {
        syncing = null;
      }
    })();
    return syncing;
  };
}
