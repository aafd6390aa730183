/**
 * A validator node: one OS process with an untrusted host (this file and its parts) and an
 * enclave worker pool. Assembles the store, enclave, mempool, p2p transport, consensus engine,
 * application, sync and RPC, and runs until stopped.
 * @module
 */

import type { Enclave } from '../enclave/api.js';
import { to_hex } from '../protocol/bytes.js';
import { get_provider } from '../protocol/providers/index.js';
import { DivergedError, ValidatorApp } from './app.js';
import { NodeBackend } from './backend.js';
import { ConsensusEngine } from './consensus/engine.js';
import type { ConsensusMessage } from './consensus/types.js';
import { read_genesis } from './genesis.js';
import { home_paths, read_config, read_secret_file } from './home.js';
import { Transport } from './p2p/transport.js';
import { announce_commits, type Log, node_mempool, open_store_and_enclave, start_rpc } from './parts.js';
import { SigningGuard } from './signing_guard.js';
import { type SyncRequest, sync_from_peers } from './sync.js';
import { gossiped_txs, TxGossip } from './tx_gossip.js';

/** What a simulated validator does wrong (cloister sim up --byzantine I:BEHAVIOUR). */
export type NodeBehaviour = 'honest' | 'wrong-results' | 'equivocate' | 'silent';
export const BEHAVIOURS: readonly NodeBehaviour[] = ['honest', 'wrong-results', 'equivocate', 'silent'];

export type { Log } from './parts.js';

/**
 * The enclave of a `wrong-results` validator: every block result it reports is altered; every
 * other call (queries included) goes to `enclave` as it is. A plain decorator, so each call runs
 * with `enclave` itself as `this` (a class with private fields refuses any other receiver).
 */
export function altered(enclave: Enclave): Enclave {
  return {
    measurement: () => enclave.measurement(),
    create_seed: () => enclave.create_seed(),
    load_seed: (sealed_seed) => enclave.load_seed(sealed_seed),
    public_keys: () => enclave.public_keys(),
    attestation_report: () => enclave.attestation_report(),
    accept_seed_share: (args) => enclave.accept_seed_share(args),
    check_registration: (args) => enclave.check_registration(args),
    light_init: (args) => enclave.light_init(args),
    query: (input) => enclave.query(input),
    close: () => enclave.close(),
    execute_block: async (input) => {
      const answer = await enclave.execute_block(input);
      if (!answer.ok) return answer;
      const wrong = `${answer.value.result_hash.slice(0, 62)}${answer.value.result_hash.endsWith('00') ? 'ff' : '00'}`;
      return { ok: true, value: { ...answer.value, result_hash: wrong } };
    },
  };
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

  /** Starts the validator whose home is `home`. */
  static async start(home: string, opts: { behaviour?: NodeBehaviour; log: Log }): Promise<ValidatorNode> {
    const behaviour = opts.behaviour ?? 'honest';
    const log = opts.log;
    const paths = home_paths(home);
    const config = read_config(home);
    const p = get_provider('native');
    const genesis = read_genesis(p, paths.genesis);
    if (genesis.chain_id !== config.chain_id)
      throw new Error('config.json and genesis.json name different chains');
    const sk = read_secret_file(paths.validator_key);
    const pubkey = to_hex(p.ed25519_public(sk));
    if (!genesis.validators.some((v) => v.pubkey === pubkey))
      throw new Error('this node is not a validator in genesis');
    const stoppers: (() => Promise<void> | void)[] = [];
    const stop_all = async () => {
      for (const stop of stoppers.reverse()) await stop();
    };
    try {
      const { store, pool } = await open_store_and_enclave(home, config, genesis, stoppers);
      // The double-signing guard's authority is its own file beside the store: refuse to start where
      // the store or that record lost what this validator signed (signing_guard.ts).
      const signing = await SigningGuard.open(
        { home, chain_id: genesis.chain_id, validators: genesis.validators, validator: pubkey },
        store,
      );
      const enclave = behaviour === 'wrong-results' ? altered(pool) : pool;
      const mempool = node_mempool(p, genesis, config, store);

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
        { p, signer: { pubkey, sign: (m) => p.ed25519_sign(sk, m) }, log },
      );
      if (behaviour === 'silent') transport.set_outgoing_filter(() => false);

      const gossip = new TxGossip(
        {},
        {
          broadcast: (message) => transport.broadcast(message),
          set_timeout: (fn, ms) => setTimeout(fn, ms),
          clear_timeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
        },
      );
      const backend = new NodeBackend(
        { genesis, pubkey },
        {
          store,
          mempool,
          enclave,
          now_ms: () => Date.now(),
          gossip_tx: (raw) => gossip.add(raw),
        },
      );

      let engine: ConsensusEngine | null = null;
      let halted = false;
      const halt = (error: unknown) => {
        if (halted) return;
        halted = true;
        const reason = error instanceof Error ? error.message : String(error);
        log('halted', { reason });
        // The height it could not apply; the RPC now says so and takes no more transactions.
        backend.halt({ height: store.height() + 1, reason });
        engine?.stop();
      };
      const app = new ValidatorApp(
        { genesis, pubkey, block: config.block, sign: (m) => to_hex(p.ed25519_sign(sk, m)) },
        {
          p,
          enclave,
          store,
          mempool,
          now_ms: () => Date.now(),
          log,
          on_committed: announce_commits(backend, log),
          preview: (message) => transport.broadcast(message),
        },
      );
      // A node whose own results differ from what 2/3 committed must stop rather than apply them.
      const guarded_app = {
        propose: app.propose.bind(app),
        validate: app.validate.bind(app),
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

      const timers = new Set<NodeJS.Timeout>();
      engine = new ConsensusEngine(
        {
          chain_id: genesis.chain_id,
          validators: genesis.validators.map(({ pubkey: k, power }) => ({ pubkey: k, power })),
          timeouts: config.consensus,
          behaviour: behaviour === 'equivocate' || behaviour === 'silent' ? behaviour : 'honest',
        },
        {
          p,
          app: guarded_app,
          signer: { pubkey, sign: (m) => to_hex(p.ed25519_sign(sk, m)) },
          outbox: { broadcast: (msg: ConsensusMessage) => transport.broadcast(msg) },
          clock: {
            now_ms: () => Date.now(),
            set_timer: (delay_ms, fn) => {
              const timer = setTimeout(() => {
                timers.delete(timer);
                fn();
              }, delay_ms);
              timers.add(timer);
              return () => {
                clearTimeout(timer);
                timers.delete(timer);
              };
            },
          },
          // The engine awaits save before a signed message leaves: record file, then the store's copy.
          signed_state: signing,
          log,
        },
      );
      stoppers.push(() => {
        engine?.stop();
        for (const t of timers) clearTimeout(t);
      });

      const validators = genesis.validators.map(({ pubkey: k, power }) => ({ pubkey: k, power }));
      let syncing: Promise<void> | null = null;
      const sync = (): Promise<void> => {
        syncing ??= (async () => {
          try {
            const applied = await sync_from_peers(
              { chain_id: genesis.chain_id, validators },
              {
                p,
                store,
                app,
                peers: () => transport.connected_peers(),
                request: (peer, body) => transport.request(peer, body),
                log,
              },
            );
            if (applied > 0) log('synced', { applied, height: store.height() });
          } catch (error) {
            if (error instanceof DivergedError) halt(error);
            else log('sync_failed', { error: (error as Error).message });
          } finally {
            syncing = null;
          }
        })();
        return syncing;
      };
      const from_store = () => {
        const last = store.last_block();
        return {
          height: store.height() + 1,
          parent: last?.block.header ?? null,
          last_commit: last?.commit ?? null,
        };
      };
      engine.on_behind(() => {
        void sync().then(() => {
          if (!halted) engine?.catch_up(from_store());
        });
      });

      transport.on_message((_from, body) => {
        if (typeof body !== 'object' || body === null) return;
        const b = body as { kind?: unknown };
        if (b.kind === 'proposal' || b.kind === 'vote') {
          engine?.receive(body as ConsensusMessage);
          return;
        }
        if (b.kind === 'preview') {
          if (!halted) app.preview(body);
          return;
        }
        const raws = gossiped_txs(body);
        if (raws === null) return;
        // In order, one at a time: an account's consecutive sequences must arrive in order.
        // Gossip is best effort: a refusal (or a closed store at shutdown) is not this node's error.
        void (async () => {
          for (const raw of raws) await mempool.add(raw, 'peer');
        })().catch((error: unknown) => log('gossip_tx_failed', { error: (error as Error).message }));
      });
      transport.on_request(async (_from, body) => {
        const r = body as SyncRequest;
        if (r?.kind === 'status') return { height: store.height() };
        if (r?.kind === 'get_block' && Number.isSafeInteger(r.height)) return store.get_block(r.height);
        throw new Error('unknown request');
      });
      await transport.start();
      stoppers.push(() => transport.stop());
      stoppers.push(() => gossip.flush());

      const url = await start_rpc(config, backend, log, stoppers);

      // Catch up with whatever the others committed while we were away, then join consensus.
      await sync();
      // After `reset-signing`: sync from a peer and sit out the height in progress before signing.
      await signing.before_signing({
        peers: () => transport.connected_peers(),
        on_peer: (fn) => transport.on_peer((_key, connected) => connected && fn()),
        sync,
        log,
      });
      if (!halted) await engine.start(from_store());
      log('started', { rpc: url, height: store.height(), behaviour, validator: pubkey.slice(0, 16) });
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
