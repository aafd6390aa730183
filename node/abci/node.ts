/**
 * A validator under CometBFT (docs/cometbft.md): its store, enclave pool, mempool and Cloister's
 * RPC (protocol.md §6) as under Cloister's own engine, with CometBFT in place of Cloister's
 * consensus, p2p and transaction gossip. It serves ABCI to its CometBFT node (`engine.abci` in
 * config.json) and forwards client submissions to CometBFT's mempool, whose `CheckTx` comes back
 * to this node's mempool checks. It does not start CometBFT: `cometbft start` runs beside it (as
 * `cloister sim up --engine cometbft` does), like any ABCI application.
 * @module
 */

import type { Enclave } from '../../enclave/api.js';
import { to_hex, utf8 } from '../../protocol/bytes.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { get_provider } from '../../protocol/providers/index.js';
import { type Tx, tx_hash } from '../../protocol/tx.js';
import { NodeBackend } from '../backend.js';
import { read_genesis } from '../genesis.js';
import { type CometEngineConfig, home_paths, read_config, read_secret_file } from '../home.js';
import { NodeMetrics } from '../metrics.js';
import type { Clock, Log } from '../modules.js';
import { announce_records, node_mempool, open_store_and_enclave, start_rpc } from '../parts.js';
import { system_clock } from '../real_world.js';
import type { Refusal } from '../rpc/types.js';
import { COMET_CHECK_CODES, CometApp } from './app.js';
import {
  broadcast_tx_sync,
  CometRpcError,
  fetch_signed_header,
  SIGNED_HEADER_RETRY_MS,
  SIGNED_HEADER_TIMEOUT_MS,
} from './comet_rpc.js';
import { AbciServer } from './server.js';

/** A running validator under CometBFT. */
export interface CometNode {
  readonly rpc_url: string;
  stop(): Promise<void>;
}

/** A CheckTx verdict from CometBFT as Cloister's submission answer. */
function refusal_of(code: number, log: string): Refusal {
  for (const [name, value] of Object.entries(COMET_CHECK_CODES)) {
    if (value === code)
      return { ok: false, code: name === 'not_held' ? 'busy' : (name as Refusal['code']), message: log };
  }
  return { ok: false, code, message: log };
}

/** Submits through CometBFT's mempool: its CheckTx is this node's mempool `add`. */
function forwarder(engine: CometEngineConfig, p: CryptoProvider) {
  return async (raw: string, tx: Tx): Promise<{ ok: true; hash: string } | Refusal> => {
    const hash = tx_hash(p, tx);
    try {
      const answer = await broadcast_tx_sync(engine.rpc, utf8(raw));
      return answer.code === 0 ? { ok: true, hash } : refusal_of(answer.code, answer.log);
    } catch (error) {
      if (!(error instanceof CometRpcError)) throw error;
      // CometBFT's cache holds it: it was taken before (Cloister answers a resubmission ok).
      if (error.message.includes('tx already exists in cache')) return { ok: true, hash };
      if (error.message.includes('mempool is full'))
        return { ok: false, code: 'full', message: error.message };
      return { ok: false, code: 'busy', message: `CometBFT did not take it: ${error.message}` };
    }
  };
}

/** How often a node whose last height waits for the next checks whether the others agreed on it. */
const DIVERGENCE_CHECK_MS = 2_000;

/**
 * Halts the node (its RPC says so) when the other validators committed another app hash for its
 * last height: its CometBFT then refuses their block and decides no more, so no FinalizeBlock
 * would ever tell it. Checks only while the last height waits for agreement and the store has not
 * moved for one period, by asking the peers' RPCs for the next height's signed header (whose commit
 * CometApp.check_divergence verifies). Returns its stop.
 */
function watch_divergence(
  app: CometApp,
  m: { store: { height(): number }; backend: NodeBackend; peer_rpcs: string[]; clock: Clock },
): () => void {
  let last_height = -1;
  let checking = false;
  const tick = async () => {
    const height = m.store.height();
    const moved = height !== last_height;
    last_height = height;
    if (moved || checking || m.peer_rpcs.length === 0 || m.backend.halted() !== null) return;
    if (!app.awaiting_agreement()) return;
    checking = true;
    try {
      const signed = await fetch_signed_header(m.peer_rpcs, height + 1, {
        timeout_ms: 0,
        retry_ms: 0,
        wait: async () => undefined,
        now_ms: () => m.clock.now_ms(),
      });
      await app.check_divergence(signed);
    } catch {
      // No peer has the next height yet: nothing to compare.
    } finally {
      checking = false;
    }
  };
  let stopped = false;
  let cancel = m.clock.set_timer(DIVERGENCE_CHECK_MS, function again() {
    void tick().finally(() => {
      if (!stopped) cancel = m.clock.set_timer(DIVERGENCE_CHECK_MS, again);
    });
  });
  return () => {
    stopped = true;
    cancel();
  };
}

/** `list` starting at its `k`th element (mod its length), wrapping around. */
function rotate<T>(list: readonly T[], k: number): T[] {
  const n = list.length === 0 ? 0 : k % list.length;
  return [...list.slice(n), ...list.slice(0, n)];
}

/** Starts the validator whose home is `home` under CometBFT (config.json `engine.kind: "cometbft"`). */
export async function start_comet_node(
  home: string,
  opts: {
    log: Log;
    /** Simulation entry points only (`cloister sim node`): wraps the enclave (node/node.ts `NodeDecorators`). */
    enclave?: (inner: Enclave) => Enclave;
  },
): Promise<CometNode> {
  const { log } = opts;
  const config = read_config(home);
  const engine = config.engine;
  if (engine?.kind !== 'cometbft')
    throw new Error(`${home} is not a CometBFT home (config.json has no engine)`);
  const p = get_provider('native');
  const genesis = read_genesis(p, home_paths(home).genesis);
  const pubkey = to_hex(p.ed25519_public(read_secret_file(home_paths(home).validator_key)));
  const stoppers: (() => Promise<void> | void)[] = [];
  const stop_all = async () => {
    for (const stop of [...stoppers].reverse()) {
      try {
        await stop();
      } catch {
        // Keep stopping the rest.
      }
    }
  };
  try {
    const opened = await open_store_and_enclave(home, config, genesis, stoppers, log);
    const { store } = opened;
    const pool = opts.enclave?.(opened.pool) ?? opened.pool;
    const clock = system_clock();
    const mempool = node_mempool(p, genesis, config, store, () => clock.now_ms());
    let app: CometApp | null = null;
    const backend = new NodeBackend(
      { genesis, pubkey },
      {
        store,
        mempool,
        enclave: pool,
        now_ms: () => clock.now_ms(),
        set_timer: (ms, fn) => clock.set_timer(ms, fn),
        gossip_tx: () => undefined,
        forward_tx: forwarder(engine, p),
        final_height: () => app?.final_height() ?? store.height(),
        p,
        log,
      },
    );
    const urls = [engine.rpc, ...engine.peer_rpcs];
    app = new CometApp(
      { genesis, block: config.block },
      {
        p,
        enclave: pool,
        store,
        mempool,
        log,
        // Own CometBFT first; after a refused answer, start from the next peer's.
        signed_header: (height, attempt) =>
          fetch_signed_header(rotate(urls, attempt), height, {
            timeout_ms: SIGNED_HEADER_TIMEOUT_MS,
            retry_ms: SIGNED_HEADER_RETRY_MS,
            wait: (ms) => new Promise((resolve) => clock.set_timer(ms, () => resolve())),
            now_ms: () => clock.now_ms(),
          }),
        on_final: announce_records(backend, log),
        on_halt: (height, reason) => backend.halt({ height, reason }),
        query: (address, body) => backend.query(address, body),
      },
    );
    stoppers.push(watch_divergence(app, { store, backend, peer_rpcs: engine.peer_rpcs, clock }));
    const abci = new AbciServer({ address: engine.abci }, { app, log });
    await abci.listen();
    stoppers.push(() => abci.close());
    const metrics = new NodeMetrics({ process: true });
    const url = await start_rpc(config, backend, log, stoppers, metrics);
    log('started', {
      rpc: url,
      height: store.height(),
      validator: pubkey.slice(0, 16),
      engine: 'cometbft',
      abci: engine.abci,
    });
    return {
      rpc_url: url,
      stop: stop_all,
    };
  } catch (error) {
    await stop_all();
    throw error;
  }
}
