/**
 * One simulated validator across its lives: its disk (which survives crashes), its keys and
 * platform secret, and the node running now (assembled by node/assemble.ts from the simulator's
 * modules: a node clock on the shared scheduler, a network endpoint, a ChainStore on its
 * MemoryDisk, the signing record in a file of that disk, and a fresh in-process enclave per life).
 * A crash kills the clock, the endpoint and the disk handle at once, so nothing the dead node had
 * in flight can act afterwards; a restart assembles a new node on the same disk.
 * @module
 */

import type { BlockInput, Enclave } from '../../enclave/api.js';
import { InProcessEnclave } from '../../enclave/in_process.js';
import { unwrap } from '../../enclave/result.js';
import { type AssembleConfig, type AssembledNode, assemble_node } from '../../node/assemble.js';
import type { Log, PeerNetwork } from '../../node/modules.js';
import type { LiveEvent } from '../../node/rpc/server.js';
import { memory_record_io, SigningGuard } from '../../node/signing_guard.js';
import { ChainStore } from '../../node/store/chain_store.js';
import { MemoryDisk } from '../../node/store/memory_disk.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import type { SeededRng } from './rng.js';
import { NodeClock, type Scheduler } from './scheduler.js';

/** What a simulated validator needs that does not change between its lives. */
export interface ValidatorSetup {
  index: number;
  pubkey: string;
  config: AssembleConfig;
  sealed_seed: string;
  sealed_light: string;
  platform_secret: Uint8Array;
  measurement: Uint8Array;
  codes: { name: string; code: Uint8Array }[];
}

/** What the world gives a validator to run on and reports to. */
export interface ValidatorWorld {
  p: CryptoProvider;
  sched: Scheduler;
  epoch_ms: number;
  /** A fresh network endpoint for this validator (the old one dies). */
  endpoint: () => PeerNetwork;
  /** Wraps the network of this life (byzantine decorators, observers). */
  wrap_network: (inner: PeerNetwork, clock: NodeClock) => PeerNetwork;
  /** Wraps the enclave of this life (byzantine decorators, observers). */
  wrap_enclave: (inner: Enclave) => Enclave;
  rng: SeededRng;
  /** Takes this validator's link down (paused) or brings it back. */
  set_link: (up: boolean) => void;
  log: Log;
  on_event: (event: LiveEvent) => void;
}

/** The node of one life. */
interface Life {
  node: AssembledNode;
  clock: NodeClock;
  disk_store: ChainStore;
  enclave: Enclave;
  unsubscribe: () => void;
}

/** A validator of the simulated network. */
export class SimValidator {
  readonly setup: ValidatorSetup;
  readonly disk = new MemoryDisk();
  #life: Life | null = null;
  #skew_ms = 0;
  #lives = 0;
  #paused = false;
  readonly #world: ValidatorWorld;

  constructor(setup: ValidatorSetup, world: ValidatorWorld) {
    this.setup = setup;
    this.#world = world;
  }

  /** Whether a node is running (not crashed; a paused one counts as running). */
  running(): boolean {
    return this.#life !== null;
  }

  paused(): boolean {
    return this.#paused;
  }

  /** The running node, or null. */
  node(): AssembledNode | null {
    return this.#life?.node ?? null;
  }

  /** Committed height on disk of the running node (0 when crashed). */
  height(): number {
    return this.#life?.disk_store.height() ?? 0;
  }

  /** The running node's store, or null. */
  store(): ChainStore | null {
    return this.#life?.disk_store ?? null;
  }

  /** Sets the clock offset of this validator (kept across restarts). */
  set_skew(skew_ms: number): void {
    this.#skew_ms = skew_ms;
    this.#life?.clock.set_skew(skew_ms);
  }

  /** Starts a life: opens the disk (genesis codes on first start), the enclave and the node. */
  async boot(): Promise<void> {
    if (this.#life !== null) throw new Error(`validator ${this.setup.index} is already running`);
    const { p, sched, epoch_ms } = this.#world;
    const { config, index } = this.setup;
    this.#lives++;
    const clock = new NodeClock(sched, epoch_ms);
    clock.set_skew(this.#skew_ms);
    const store = await ChainStore.open_kv(this.disk.open(), { chain_id: config.genesis.chain_id }, { p });
    try {
      await store.init_genesis(this.setup.codes, config.genesis.balances ?? {});
      if ((await store.get_sealed('seed')) === null) await store.put_sealed('seed', this.setup.sealed_seed);
      if ((await store.get_sealed('light')) === null)
        await store.put_sealed('light', this.setup.sealed_light);
      const base = new InProcessEnclave(
        { provider: 'native', platform_secret_file: '(in memory)' },
        {
          random_bytes: (n) => this.#world.rng.bytes(n),
          platform_secret: this.setup.platform_secret,
          measurement: this.setup.measurement,
          provider: p,
        },
      );
      const sealed = await store.get_sealed('seed');
      if (sealed === null) throw new Error('no sealed seed on disk');
      unwrap(await base.load_seed(sealed));
      const enclave = this.#world.wrap_enclave(base);
      const signing = await SigningGuard.open(
        {
          home: `(simulated validator ${index})`,
          chain_id: config.genesis.chain_id,
          validators: config.genesis.validators,
          validator: this.setup.pubkey,
        },
        store,
        { record_io: memory_record_io(this.disk.open_file('signing_record.json')) },
      );
      const network = this.#world.wrap_network(this.#world.endpoint(), clock);
      const node = assemble_node(config, {
        p,
        clock,
        rng: this.#world.rng,
        network,
        store: { chain: store, signing },
        enclave,
        log: this.#world.log,
      });
      const unsubscribe = node.backend.subscribe((event) => this.#world.on_event(event));
      this.#life = { node, clock, disk_store: store, enclave, unsubscribe };
      this.#paused = false;
      await node.start();
    } catch (error) {
      await store.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * The process dies: its timers never fire, its endpoint goes down, its disk loses what was not
   * durable and its handle is dead, and its enclave's memory is gone.
   */
  async crash(): Promise<void> {
    const life = this.#life;
    if (life === null) return;
    this.#life = null;
    this.#paused = false;
    life.unsubscribe();
    life.clock.kill();
    this.disk.crash();
    // Stopping the dead node's parts only ends their loops; the endpoint and disk are already dead.
    await life.node.stop().catch(() => undefined);
    await life.enclave.close().catch(() => undefined);
  }

  /** SIGSTOP: its timers wait and it neither sends nor receives until resumed. */
  pause(): void {
    if (this.#life === null || this.#paused) return;
    this.#paused = true;
    this.#life.clock.pause();
    this.#world.set_link(false);
  }

  /** SIGCONT: timers that came due fire now, and the network link comes back. */
  resume(): void {
    if (this.#life === null || !this.#paused) return;
    this.#paused = false;
    this.#world.set_link(true);
    this.#life.clock.resume();
  }

  /** How many times it started. */
  lives(): number {
    return this.#lives;
  }

  /** Closes everything at the end of a run. */
  async close(): Promise<void> {
    const life = this.#life;
    this.#life = null;
    if (life === null) return;
    life.unsubscribe();
    life.clock.kill();
    await life.node.stop().catch(() => undefined);
    await life.enclave.close().catch(() => undefined);
    await life.disk_store.close().catch(() => undefined);
  }
}

export type { BlockInput };
