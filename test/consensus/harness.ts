/**
 * A deterministic world for consensus tests: a virtual clock with a timer queue, a seeded
 * in-memory network (delays, reorders, drops, duplicates, partitions), a test app whose blocks
 * carry string txs and whose honest result hash is `H(jcs(txs) ‖ prev_block_hash)`, and a cluster
 * of validators wired together, with sync on `on_behind` by copying committed blocks from a peer.
 * Nothing here sleeps: the scheduler runs timers in virtual time and drains promise jobs between
 * them, so the same seed replays the same run.
 * @module
 */

import type { BlockInput, Enclave } from '../../enclave/api.js';
import { fail, ok } from '../../enclave/result.js';
import {
  type ConsensusApp,
  type ConsensusClock,
  ConsensusEngine,
  type ConsensusTimeouts,
} from '../../node/consensus/engine.js';
import { MemorySignedStateStore, type SignedState } from '../../node/consensus/signed_state.js';
import {
  type Block,
  type BlockHeader,
  block_hash,
  type Commit,
  type ConsensusMessage,
  commit_hash,
  GENESIS_PARENT_HASH,
  type Hex,
  type Proposal,
  proposal_sign_bytes,
  txs_hash,
  type Validator,
  type Vote,
  verify_commit,
  vote_sign_bytes,
} from '../../node/consensus/types.js';
import type { PeerNetwork } from '../../node/modules.js';
import { concat, to_hex, utf8 } from '../../protocol/bytes.js';
import { jcs } from '../../protocol/jcs.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { get_provider } from '../../protocol/providers/index.js';
import {
  type ByzantineBehaviour,
  type ByzantineContext,
  byzantine_enclave,
  byzantine_network,
} from '../../sim/byzantine.js';
import { Scheduler } from '../../sim/run/scheduler.js';
import { empty_block_output, stub_block_input } from '../node/app_stubs.js';
import { make_rng } from '../rng.js';

/** The crypto provider of the tests. */
export const p: CryptoProvider = get_provider('native');
/** Chain id of every test network. */
export const CHAIN_ID = 'cloister-test';

/** The seed of this run: FC_SEED from the environment, or one made from the clock. */
export const seed = Number(process.env['FC_SEED'] ?? Date.now() % 2 ** 31);

/** The tests' seeded PRNG (test/rng.ts), re-exported for the consensus tests. */
export { make_rng };

/**
 * A virtual clock: timers fire in (time, creation) order when `run` advances time. The
 * simulator's event queue (sim/run/scheduler.ts) is its engine; this adds the tests' `run`.
 */
export class VirtualScheduler implements ConsensusClock {
  readonly #queue = new Scheduler();

  /** Timer callbacks run so far. */
  get events(): number {
    return this.#queue.events;
  }

  /** Virtual time now. */
  now_ms(): number {
    return this.#queue.now_ms();
  }

  /** Runs `fn` at now + `delay_ms` of virtual time; returns its cancel function. */
  set_timer(delay_ms: number, fn: () => void): () => void {
    return this.#queue.at(delay_ms, fn);
  }

  /**
   * Runs timers in order until virtual time would pass `until_ms` or `stop()` holds, draining all
   * promise jobs after each timer (a macrotask turn; no wall-clock wait). Returns whether `stop` held.
   */
  async run(until_ms: number, stop: () => boolean = () => false): Promise<boolean> {
    await flush();
    while (!stop()) {
      if (!(await this.#queue.step(until_ms))) {
        this.#queue.advance_to(until_ms);
        return stop();
      }
    }
    return true;
  }
}

/** Lets every queued promise job run (setImmediate runs after the microtask queue is empty). */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** How the simulated network treats messages. */
export interface NetConfig {
  delay_min_ms: number;
  delay_max_ms: number;
  drop_p: number;
  duplicate_p: number;
  /** True when messages from `from` to `to` are cut at virtual time `now`. */
  blocked?: (from: number, to: number, now: number) => boolean;
}

/** Deadline of a {@link SimPeer} request when none is given (virtual ms). */
export const REQUEST_TIMEOUT_MS = 1000;

/** Whether `body` has the outline of a consensus message (its fields may still be junk). */
function consensus_shaped(body: unknown): body is ConsensusMessage {
  const b = body as { kind?: unknown; vote?: unknown; proposal?: unknown } | null;
  if (typeof b !== 'object' || b === null) return false;
  const inner = b.kind === 'vote' ? b.vote : b.kind === 'proposal' ? b.proposal : null;
  return typeof inner === 'object' && inner !== null;
}

/**
 * A seeded in-memory network between validators, each attached as a {@link SimPeer} (the
 * PeerNetwork of node/modules.ts); every delivery is a structured clone after a random delay.
 */
export class SimNetwork {
  readonly #peers: SimPeer[] = [];
  /** Every consensus-shaped body each node sent (a broadcast once, a send once per call), in order. */
  readonly sent = new Map<number, ConsensusMessage[]>();
  /** Every other body each node sent (garbage, in these tests). */
  readonly junk = new Map<number, unknown[]>();
  cfg: NetConfig;

  constructor(
    readonly sched: VirtualScheduler,
    readonly rng: () => number,
    cfg: NetConfig,
  ) {
    this.cfg = cfg;
  }

  /** Attaches node `index` with key `pubkey`: its end of the network. */
  attach(index: number, pubkey: Hex): SimPeer {
    const peer = new SimPeer(this, index, pubkey);
    this.#peers[index] = peer;
    return peer;
  }

  /** Whether messages from `from` reach `to` now. */
  connected(from: number, to: number): boolean {
    return !(this.cfg.blocked?.(from, to, this.sched.now_ms()) ?? false);
  }

  /** The attached peer of `pubkey`. */
  peer_of(pubkey: string): SimPeer | undefined {
    return this.#peers.find((x) => x?.pubkey === pubkey);
  }

  /** The attached peers other than `from`, in index order. */
  others(from: number): SimPeer[] {
    return this.#peers.filter((x) => x !== undefined && x.index !== from);
  }

  /** Logs `body` as sent by `from`, then delivers copies to `to` (null: every other node). */
  deliver(from: SimPeer, to: SimPeer | null, body: unknown): void {
    const log_of = consensus_shaped(body) ? this.sent : this.junk;
    const log = log_of.get(from.index) ?? [];
    log.push(structuredClone(body) as ConsensusMessage);
    log_of.set(from.index, log);
    for (const dest of to === null ? this.others(from.index) : [to]) {
      if (!this.connected(from.index, dest.index) || !from.passes(dest.pubkey, body)) continue;
      if (this.rng() < this.cfg.drop_p) continue;
      const copies = this.rng() < this.cfg.duplicate_p ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        const copy = structuredClone(body);
        this.sched.set_timer(this.#delay(), () => {
          // Partitions also cut messages already in flight when they arrive.
          if (this.connected(from.index, dest.index)) dest.hear(from.pubkey, copy);
        });
      }
    }
  }

  /** A request from `from` to `to`; `reply` gets the answer (never called: it went missing). */
  ask(from: SimPeer, to: SimPeer, body: unknown, reply: (ok: boolean, value: unknown) => void): void {
    if (!this.connected(from.index, to.index) || !from.passes(to.pubkey, body)) return;
    const copy = structuredClone(body);
    this.sched.set_timer(this.#delay(), () => {
      if (!this.connected(from.index, to.index)) return;
      void to.answer(from.pubkey, copy).then(([ok, value]) => {
        if (!this.connected(to.index, from.index) || !to.passes(from.pubkey, value)) return;
        const answer = structuredClone(value);
        this.sched.set_timer(this.#delay(), () => reply(ok, answer));
      });
    });
  }

  #delay(): number {
    const { delay_min_ms: lo, delay_max_ms: hi } = this.cfg;
    return lo + Math.floor(this.rng() * (hi - lo + 1));
  }
}

/** One node's end of a {@link SimNetwork}: a PeerNetwork with every other node always connected. */
export class SimPeer implements PeerNetwork {
  readonly #listeners: ((from: string, body: unknown) => void)[] = [];
  #handler: ((from: string, body: unknown) => Promise<unknown>) | null = null;
  #filter: ((to: string, body: unknown) => boolean) | null = null;

  constructor(
    readonly net: SimNetwork,
    readonly index: number,
    readonly pubkey: Hex,
  ) {}

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  broadcast(body: unknown): void {
    this.net.deliver(this, null, body);
  }

  send(to: string, body: unknown): boolean {
    const dest = this.net.peer_of(to);
    if (dest === undefined) return false;
    this.net.deliver(this, dest, body);
    return true;
  }

  request(to: string, body: unknown, timeout_ms = REQUEST_TIMEOUT_MS): Promise<unknown> {
    const dest = this.net.peer_of(to);
    if (dest === undefined) return Promise.reject(new Error(`no peer ${to.slice(0, 8)}`));
    return new Promise((resolve, reject) => {
      let done = false;
      const cancel = this.net.sched.set_timer(timeout_ms, () => {
        if (done) return;
        done = true;
        reject(new Error('request timed out'));
      });
      this.net.ask(this, dest, body, (ok, value) => {
        if (done) return;
        done = true;
        cancel();
        if (ok) resolve(value);
        else reject(new Error(String((value as { message?: unknown })?.message)));
      });
    });
  }

  on_message(fn: (from: string, body: unknown) => void): void {
    this.#listeners.push(fn);
  }

  on_request(fn: (from: string, body: unknown) => Promise<unknown>): void {
    this.#handler = fn;
  }

  /** Every other node is connected from the start and stays so (partitions drop messages instead). */
  on_peer(_fn: (pubkey: string, connected: boolean) => void): void {}

  connected_peers(): string[] {
    return this.net
      .others(this.index)
      .map((x) => x.pubkey)
      .sort();
  }

  set_outgoing_filter(fn: ((to: string, body: unknown) => boolean) | null): void {
    this.#filter = fn;
  }

  /** Whether this node's outgoing filter lets `body` go to `to`. */
  passes(to: string, body: unknown): boolean {
    return this.#filter === null || this.#filter(to, body) === true;
  }

  /** A message from `from` arrives. */
  hear(from: string, body: unknown): void {
    for (const fn of this.#listeners) fn(from, body);
  }

  /** A request from `from` arrives: the handler's answer, or its error. */
  async answer(from: string, body: unknown): Promise<[boolean, unknown]> {
    const handler = this.#handler;
    if (handler === null) return [false, { message: 'no handler' }];
    try {
      return [true, await handler(from, body)];
    } catch (error) {
      return [false, { message: (error as Error)?.message ?? String(error) }];
    }
  }
}

/** The honest result hash of the test app: `H(utf8(jcs(txs)) ‖ utf8(prev_block_hash))`. */
export function honest_result(txs: readonly string[], prev: Hex): Hex {
  return to_hex(p.sha256(concat(utf8(jcs(txs)), utf8(prev))));
}

/** A committed block as a node recorded it. */
export interface ChainEntry {
  block: Block;
  commit: Commit;
  hash: Hex;
  via: 'engine' | 'sync';
}

/** What the test enclave executes: a block of string txs on `prev` (the other fields are empty). */
export function test_block_input(
  txs: readonly string[],
  prev: Hex,
  height: number,
  time_ms: number,
): BlockInput {
  return stub_block_input(
    [...txs],
    { chain_id: CHAIN_ID, height, time_ms, random_seed: prev },
    { roots: [], measurements: [] },
  );
}

/**
 * An enclave that only executes blocks: its result hash is {@link honest_result} of the txs on
 * `random_seed` (the test app passes the previous block hash there); every other call fails.
 */
export function test_enclave(): Enclave {
  const no = async () => fail('INTERNAL', 'not in the test enclave');
  return {
    measurement: no,
    create_seed: no,
    load_seed: no,
    public_keys: no,
    attestation_report: no,
    accept_seed_share: no,
    check_registration: no,
    light_init: no,
    query: no,
    close: async () => {},
    execute_block: async (input) => ok(empty_block_output(honest_result(input.txs, input.random_seed))),
  };
}

/**
 * The test app. `honest`: proposes correct result hashes and validates by recomputing them (with
 * `enclave` when set: a byzantine enclave makes its results wrong).
 * `wrong`: proposes a wrong result hash and rejects every other block.
 */
export class TestApp implements ConsensusApp {
  mode: 'honest' | 'wrong' = 'honest';
  /** Where results come from when set (else computed directly, as the honest enclave would). */
  enclave: Enclave | null = null;
  /** When set, propose() rejects (propose nothing). */
  refuse_proposals = false;
  readonly validate_calls = new Map<Hex, number>();
  /** Problems seen by the app (an invalid commit, a second block at a height). */
  readonly violations: string[] = [];
  /**
   * Blocks on demand: the transactions this node holds; proposals carry exactly these and a
   * commit removes them. Null (the default): proposals carry two made-up txs, and `has_txs` is false.
   */
  mempool: string[] | null = null;

  constructor(
    readonly index: number,
    readonly pubkey: Hex,
    readonly clock: ConsensusClock,
    readonly chain: Map<number, ChainEntry>,
  ) {}

  /** Builds a block of two string txs on `parent` (wrong mode: with a wrong result hash). */
  async propose(args: {
    height: number;
    round: number;
    parent: BlockHeader | null;
    last_commit: Commit | null;
  }): Promise<Block> {
    if (this.refuse_proposals) throw new Error('no block this round');
    const { height, round, parent, last_commit } = args;
    const txs =
      this.mempool !== null
        ? [...this.mempool]
        : [`{"from":${this.index},"height":${height},"round":${round}}`, `tx-${height}-${round}`];
    const prev = parent === null ? GENESIS_PARENT_HASH : block_hash(p, parent);
    const time_ms = Math.max(this.clock.now_ms(), (parent?.time_ms ?? -1) + 1);
    const result =
      this.mode === 'honest'
        ? await this.#result(txs, prev, height, time_ms)
        : to_hex(p.sha256(utf8(`wrong/${this.index}/${height}/${round}`)));
    const header: BlockHeader = {
      chain_id: CHAIN_ID,
      height,
      round,
      time_ms,
      proposer: this.pubkey,
      prev_block_hash: prev,
      txs_hash: txs_hash(p, txs),
      last_commit_hash: commit_hash(p, last_commit),
      result_hash: result,
      // Not checked here: the enclave's light client checks exec signatures.
      exec_signature: '0'.repeat(128),
    };
    return { header, txs, last_commit };
  }

  /** Whether the mempool holds a transaction (the engine asks when blocks are made on demand). */
  has_txs(): boolean {
    return (this.mempool?.length ?? 0) > 0;
  }

  /** Recomputes the result hash (wrong mode: rejects everything); counts calls per block. */
  async validate(block: Block): Promise<boolean> {
    const hash = block_hash(p, block.header);
    this.validate_calls.set(hash, (this.validate_calls.get(hash) ?? 0) + 1);
    if (this.mode === 'wrong') return false;
    const { prev_block_hash, height, time_ms } = block.header;
    return block.header.result_hash === (await this.#result(block.txs, prev_block_hash, height, time_ms));
  }

  async #result(txs: readonly string[], prev: Hex, height: number, time_ms: number): Promise<Hex> {
    if (this.enclave === null) return honest_result(txs, prev);
    const answer = await this.enclave.execute_block(test_block_input(txs, prev, height, time_ms));
    if (!answer.ok) throw new Error(answer.error.message);
    return answer.value.result_hash;
  }

  /** Records a decided block. */
  async commit(block: Block, commit: Commit): Promise<void> {
    this.record(block, commit, 'engine');
  }

  /** Records a committed block (from the engine or from sync), noting any inconsistency. */
  record(block: Block, commit: Commit, via: 'engine' | 'sync'): void {
    const hash = block_hash(p, block.header);
    const height = block.header.height;
    if (commit.block_hash !== hash || commit.height !== height)
      this.violations.push(`commit does not name block ${height}`);
    const why = verify_commit(p, CHAIN_ID, VALIDATORS_OF.get(this.chain) ?? [], commit);
    if (why !== null) this.violations.push(`invalid commit at ${height}: ${why}`);
    const had = this.chain.get(height);
    if (had !== undefined && had.hash !== hash) this.violations.push(`second block at height ${height}`);
    if (had === undefined) this.chain.set(height, { block, commit, hash, via });
    if (this.mempool !== null) this.mempool = this.mempool.filter((tx) => !block.txs.includes(tx));
  }
}

/** Validator set of each chain map (so the app can verify commits without more wiring). */
const VALIDATORS_OF = new WeakMap<Map<number, ChainEntry>, Validator[]>();

/**
 * A store that calls `on_saved` right after a save is durable: a test stops the engine there to
 * model a crash between persisting the signed state and sending the message.
 */
export class HookedStore extends MemorySignedStateStore {
  on_saved: ((state: SignedState) => void) | null = null;

  override async save(state: SignedState): Promise<void> {
    await super.save(state);
    this.on_saved?.(state);
  }
}

/** Deterministic key of validator `i` (and its pubkey). */
export function validator_key(i: number): { sk: Uint8Array; pubkey: Hex } {
  const sk = p.sha256(utf8(`cloister-test-validator-${i}`));
  return { sk, pubkey: to_hex(p.ed25519_public(sk)) };
}

/** What a simulated validator does: honest, or a byzantine behaviour of sim/byzantine.ts. */
export type SimBehaviour = 'honest' | ByzantineBehaviour;

/** The byzantine options a test may set per node (sim/byzantine.ts {@link ByzantineContext}). */
export type ByzantineOptions = Partial<
  Pick<ByzantineContext, 'half_b' | 'colluders' | 'delay_ms' | 'garbage_p'>
>;

/** One simulated validator. */
export interface SimNode {
  index: number;
  pubkey: Hex;
  sk: Uint8Array;
  behaviour: SimBehaviour;
  /** Its end of the simulated network, as it is. */
  peer: SimPeer;
  /** What its engine sends through and hears from: `peer`, wrapped by a byzantine decorator. */
  net: PeerNetwork;
  engine: ConsensusEngine;
  app: TestApp;
  signed: MemorySignedStateStore;
  chain: Map<number, ChainEntry>;
  /** Log events of the current engine (event name and fields). */
  events: { event: string; fields: Record<string, unknown> }[];
  behind_calls: number[];
}

/** Options of a {@link Cluster}. */
export interface ClusterOptions {
  seed: number;
  powers: number[];
  /** Per node (default honest); byzantine ones are wrapped by sim/byzantine.ts decorators. */
  behaviours?: SimBehaviour[];
  /** Options of node `i`'s byzantine decorator. */
  byzantine?: (i: number) => ByzantineOptions;
  wrong?: boolean[];
  timeouts?: ConsensusTimeouts;
  net?: Partial<NetConfig>;
  /** Keep engine log events (memory): default true. */
  keep_events?: boolean;
  /** The signed state store of node `i` (default: a fresh MemorySignedStateStore). */
  make_store?: (i: number) => MemorySignedStateStore;
}

/** Timeouts of the test networks (virtual milliseconds). */
export const DEFAULT_TIMEOUTS: ConsensusTimeouts = {
  propose_ms: 100,
  prevote_ms: 50,
  precommit_ms: 50,
  round_increment_ms: 25,
  commit_ms: 10,
};

/** A set of validators on one virtual clock and network. */
export class Cluster {
  readonly sched = new VirtualScheduler();
  readonly rng: () => number;
  readonly net: SimNetwork;
  readonly validators: Validator[];
  readonly nodes: SimNode[] = [];
  readonly timeouts: ConsensusTimeouts;
  /** Every message each node's engine had its signer sign, with the virtual time, in order. */
  readonly engine_signs = new Map<number, { at_ms: number; message: Uint8Array }[]>();
  readonly #keep_events: boolean;

  constructor(readonly opts: ClusterOptions) {
    this.rng = make_rng(opts.seed);
    this.net = new SimNetwork(this.sched, this.rng, {
      delay_min_ms: 1,
      delay_max_ms: 10,
      drop_p: 0,
      duplicate_p: 0,
      ...opts.net,
    });
    this.timeouts = opts.timeouts ?? DEFAULT_TIMEOUTS;
    this.#keep_events = opts.keep_events ?? true;
    this.validators = opts.powers.map((power, i) => ({ pubkey: validator_key(i).pubkey, power }));
    for (let i = 0; i < opts.powers.length; i++) {
      const { sk, pubkey } = validator_key(i);
      const chain = new Map<number, ChainEntry>();
      VALIDATORS_OF.set(chain, this.validators);
      const app = new TestApp(i, pubkey, this.sched, chain);
      if (opts.wrong?.[i]) app.mode = 'wrong';
      const behaviour = opts.behaviours?.[i] ?? 'honest';
      const peer = this.net.attach(i, pubkey);
      let net: PeerNetwork = peer;
      if (behaviour !== 'honest') {
        app.enclave = byzantine_enclave(behaviour, test_enclave(), { p });
        net = byzantine_network(behaviour, peer, {
          p,
          chain_id: CHAIN_ID,
          secret_key: sk,
          peers: this.validators.map((v) => v.pubkey).filter((k) => k !== pubkey),
          clock: this.sched,
          rng: { next: make_rng(opts.seed ^ (0x9e3779b9 * (i + 1))) },
          delay_ms: this.timeouts.prevote_ms,
          ...opts.byzantine?.(i),
        });
      }
      const node: SimNode = {
        index: i,
        pubkey,
        sk,
        behaviour,
        peer,
        net,
        app,
        signed: opts.make_store?.(i) ?? new MemorySignedStateStore(),
        chain,
        events: [],
        behind_calls: [],
        engine: undefined as unknown as ConsensusEngine,
      };
      node.engine = this.#make_engine(node);
      this.nodes.push(node);
      // Everything that arrives goes to the engine, junk included: it must drop what is malformed.
      net.on_message((_from, body) => node.engine.receive(body as ConsensusMessage));
    }
  }

  /**
   * Signs for `node`'s engine, recording the bytes: the engine's signer, so tests can count what
   * the engine itself signed (a byzantine decorator signs with the key directly, not through here).
   */
  sign(node: SimNode, message: Uint8Array): Hex {
    const log = this.engine_signs.get(node.index) ?? [];
    log.push({ at_ms: this.sched.now_ms(), message });
    this.engine_signs.set(node.index, log);
    return to_hex(p.ed25519_sign(node.sk, message));
  }

  #make_engine(node: SimNode): ConsensusEngine {
    const engine = new ConsensusEngine(
      { chain_id: CHAIN_ID, validators: this.validators, timeouts: this.timeouts },
      {
        p,
        app: node.app,
        signer: { pubkey: node.pubkey, sign: (m) => this.sign(node, m) },
        outbox: { broadcast: (msg) => node.net.broadcast(msg) },
        clock: this.sched,
        signed_state: node.signed,
        log: (event, fields) => {
          if (this.#keep_events) node.events.push({ event, fields });
        },
      },
    );
    engine.on_behind((height) => {
      node.behind_calls.push(height);
      // Sync takes a little (virtual) time, as fetching blocks from a peer would.
      this.sched.set_timer(5, () => this.sync(node));
    });
    return engine;
  }

  /** Where `node` resumes: one above its highest contiguous committed height. */
  from_of(node: SimNode): { height: number; parent: BlockHeader | null; last_commit: Commit | null } {
    const top = contiguous_top(node.chain);
    const entry = node.chain.get(top);
    return { height: top + 1, parent: entry?.block.header ?? null, last_commit: entry?.commit ?? null };
  }

  /** Copies committed blocks from the reachable peer with the longest chain, then catch_up. */
  sync(node: SimNode): void {
    const mine = contiguous_top(node.chain);
    let best: SimNode | null = null;
    for (const peer of this.nodes) {
      if (peer === node || !this.net.connected(peer.index, node.index)) continue;
      if (best === null || contiguous_top(peer.chain) > contiguous_top(best.chain)) best = peer;
    }
    if (best === null || contiguous_top(best.chain) <= mine) return;
    for (let h = mine + 1; h <= contiguous_top(best.chain); h++) {
      const e = best.chain.get(h)!;
      node.app.record(structuredClone(e.block), structuredClone(e.commit), 'sync');
    }
    node.engine.catch_up(this.from_of(node));
  }

  /** Starts every node at the height after its committed chain. */
  async start(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.engine.start(this.from_of(n))));
  }

  /** Stops a node's engine and starts a fresh one on the same signed state store and chain. */
  async restart(node: SimNode): Promise<void> {
    node.engine.stop();
    node.events = [];
    node.engine = this.#make_engine(node);
    await node.engine.start(this.from_of(node));
  }

  /**
   * A transaction reaches the mempools of `to` (default: every node, as gossip brings it): each
   * holds it and tells its engine. Mempools start as empty lists (blocks on demand).
   */
  submit(tx: string, to: readonly number[] = this.nodes.map((n) => n.index)): void {
    for (const i of to) {
      const node = this.nodes[i]!;
      node.app.mempool = [...(node.app.mempool ?? []), tx];
      node.engine.txs_available();
    }
  }

  /** Runs until `until_ms` of virtual time or `stop`. */
  run(until_ms: number, stop?: () => boolean): Promise<boolean> {
    return this.sched.run(until_ms, stop);
  }

  /** Stops every node (its engine, and its network: a decorator's held messages are dropped). */
  stop(): void {
    for (const n of this.nodes) {
      n.engine.stop();
      void n.net.stop();
    }
  }

  /** Heights at which nodes committed different blocks (must be empty), and app violations. */
  safety_violations(nodes: readonly SimNode[] = this.nodes): string[] {
    const out: string[] = [];
    const by_height = new Map<number, Set<Hex>>();
    for (const n of nodes) {
      for (const v of n.app.violations) out.push(`node ${n.index}: ${v}`);
      for (const [h, e] of n.chain) {
        const set = by_height.get(h) ?? new Set();
        set.add(e.hash);
        by_height.set(h, set);
      }
    }
    for (const [h, set] of by_height) if (set.size > 1) out.push(`height ${h}: ${set.size} different blocks`);
    return out;
  }

  /**
   * Pairs of different votes (or proposals) that one node signed for one height, round and step,
   * from everything it broadcast.
   */
  double_signs(node: SimNode): string[] {
    const seen = new Map<string, string>();
    const out: string[] = [];
    for (const msg of this.net.sent.get(node.index) ?? []) {
      let key: string;
      let what: string;
      if (msg.kind === 'vote') {
        if (msg.vote.validator !== node.pubkey) continue; // re-sent precommits of others
        key = `${msg.vote.height}/${msg.vote.round}/${msg.vote.type}`;
        what = String(msg.vote.block_hash);
      } else {
        key = `${msg.proposal.height}/${msg.proposal.round}/proposal`;
        what = `${block_hash(p, msg.proposal.block.header)}/${msg.proposal.pol_round}`;
      }
      const first = seen.get(key);
      if (first === undefined) seen.set(key, what);
      else if (first !== what) out.push(`${key}: ${first.slice(0, 8)} vs ${what.slice(0, 8)}`);
    }
    return out;
  }
}

/** Highest h such that heights 1..h are all in `chain`. */
export function contiguous_top(chain: ReadonlyMap<number, unknown>): number {
  let h = 0;
  while (chain.has(h + 1)) h++;
  return h;
}

/** A vote signed by validator `i` (defaults: a nil prevote at height 1, round 0). */
export function sign_vote(
  i: number,
  over: Partial<Omit<Vote, 'validator' | 'signature'>>,
  chain_id = CHAIN_ID,
): Vote {
  const { sk, pubkey } = validator_key(i);
  const body = { type: 'prevote' as const, height: 1, round: 0, block_hash: null, ...over };
  return {
    ...body,
    validator: pubkey,
    signature: to_hex(p.ed25519_sign(sk, vote_sign_bytes(chain_id, body))),
  };
}

/** A proposal signed by validator `i`. */
export function sign_proposal(
  i: number,
  body: Omit<Proposal, 'validator' | 'signature'>,
  chain_id = CHAIN_ID,
): Proposal {
  const { sk, pubkey } = validator_key(i);
  const bytes = proposal_sign_bytes(chain_id, { ...body, block_hash: block_hash(p, body.block.header) });
  return { ...body, validator: pubkey, signature: to_hex(p.ed25519_sign(sk, bytes)) };
}
