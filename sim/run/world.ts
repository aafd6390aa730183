/**
 * `cloister sim run`: N complete validators in one process on simulated time (docs/simulator.md).
 * Each validator is Cloister's own node (node/assemble.ts: app, engine, mempool, store, sync, RPC
 * backend) with an in-process enclave running the real contract engine, on a simulated network
 * and disk; simulated clients send real encrypted transactions; faults come from a manifest or
 * are drawn from the seed; invariants are checked after every event. Nothing reads the wall clock
 * (except to report how long the run took) or an unseeded random source: the same seed and
 * inputs give the same run and the same `trace_sha256`.
 * @module
 */

import { createHash } from 'node:crypto';
import type { Enclave } from '../../enclave/api.js';
import { InProcessEnclave } from '../../enclave/in_process.js';
import { compute_measurement, find_code_root } from '../../enclave/measurement.js';
import { genesis_ceremony } from '../../node/ceremony.js';
import type { ConsensusTimeouts } from '../../node/consensus/engine.js';
import { BLOCK_LIMITS, GENESIS_CONTRACTS, LOCAL_TIMEOUTS } from '../../node/init.js';
import type { PeerNetwork } from '../../node/modules.js';
import { read_shipped_contract } from '../../node/reference_contracts.js';
import type { LiveEvent } from '../../node/rpc/server.js';
import { to_base64, to_hex } from '../../protocol/bytes.js';
import { native_provider } from '../../protocol/providers/native.js';
import { forward, forward_enclave } from '../byzantine/forward.js';
import { byzantine_enclave, byzantine_network } from '../byzantine.js';
import {
  describe_fault,
  is_byzantine,
  type Manifest,
  type ManifestBehaviour,
  type TimedFault,
} from '../manifest.js';
import { caching_provider } from './crypto_cache.js';
import { type CommitSeen, Invariants, type Violation } from './invariants.js';
import { DEFAULT_NET, type NetQuality, SimNet } from './net.js';
import { SeededRng } from './rng.js';
import { drain, type NodeClock, Scheduler } from './scheduler.js';
import { Trace } from './trace.js';
import { SimValidator } from './validator.js';
import { Workload } from './workload.js';

/** Options of {@link run_simulation}. */
export interface SimOptions {
  seed: number;
  validators: number;
  /** Stop once an honest validator has committed this height. */
  heights: number;
  /** The faults: from a manifest, or drawn from the seed (sim/run/random_faults.ts). */
  manifest: Manifest;
  /** Client transactions per simulated second. */
  load_tx_per_s: number;
  /**
   * Share (0..1) of client transactions that are contract-call chains (relay A → relay B, protocol.md
   * §9); 0 by default, which leaves every run as it was.
   */
  calls_share?: number;
  /** Consensus timeouts (default: a local network's, node/init.ts LOCAL_TIMEOUTS). */
  timeouts?: ConsensusTimeouts;
  /** The network before any fault (default {@link DEFAULT_NET}). */
  net?: NetQuality;
  /** After the last fault heals, a height must commit within this much simulated time. */
  liveness_bound_ms?: number;
  /** Give up (a liveness violation) after this much simulated time. Default: 10 s per height + 5 min. */
  sim_ms_max?: number;
  /** Keep the trace lines (for --out); the hash is computed either way. */
  keep_trace?: boolean;
  /** Called about every `progress_every` heights. */
  on_progress?: (p: { height: number; sim_ms: number; events: number }) => void;
  /** Node log lines (default: dropped). */
  log?: (index: number, event: string, fields: Record<string, unknown>) => void;
}

/** A fault as it was applied. */
export interface AppliedFault {
  sim_ms: number;
  height: number;
  fault: string;
}

/** What a run reports (`--json`). */
export interface SimReport {
  seed: number;
  validators: number;
  heights_committed: number;
  sim_ms: number;
  wall_ms: number;
  txs_committed: number;
  faults_applied: AppliedFault[];
  violations: Violation[];
  trace_sha256: string;
  /** Simulated time ÷ wall time. */
  compression: number;
  events: number;
  byzantine: Record<string, ManifestBehaviour>;
  network: { messages: number; delivered: number; dropped: number; bytes: number };
  workload: { submitted: number; refused: number; resent: number; committed: number };
  /** Per validator: committed height at the end, how many times it started, why it halted (or null). */
  nodes: { index: number; height: number; lives: number; honest: boolean; halted: string | null }[];
  /** Heights over simulated time per validator (for the timeline), downsampled. */
  timeline: { index: number; points: [number, number][] }[];
  liveness_bound_ms: number;
  /** On a violation: the last trace lines before it (the minimal trace to start from). */
  trace_tail: string[];
  /** Every trace line, when `keep_trace` was set. */
  trace?: string[];
}

/** Default liveness bound: a round's worst timeouts many times over, with slack for catch-up. */
export const LIVENESS_BOUND_MS_DEFAULT = 60_000;
/** Chain id of every simulated network. */
export const SIM_CHAIN_ID = 'cloister-sim-1';
/** Simulated epoch of every run: 2026-01-01T00:00:00Z. */
export const SIM_EPOCH_MS = 1_767_225_600_000;
/** Timeline points kept per validator. */
const TIMELINE_POINTS_MAX = 2000;

/** Runs one simulation to its end and reports; never throws for a violated invariant. */
export async function run_simulation(opts: SimOptions): Promise<SimReport> {
  const world = await World.create(opts);
  try {
    return await world.run();
  } finally {
    await world.close();
  }
}

class World {
  readonly o: SimOptions;
  readonly sched = new Scheduler();
  readonly p = caching_provider(native_provider);
  readonly net: SimNet;
  readonly trace: Trace;
  readonly validators: SimValidator[] = [];
  readonly honest: boolean[] = [];
  invariants!: Invariants;
  workload!: Workload;
  readonly faults_applied: AppliedFault[] = [];
  #fault_next = 0;
  #fault_due = false;
  /** A fault is waiting out its delay or still applying. */
  #fault_busy = false;
  #top_height = 0;
  #last_commit_ms = 0;
  /** When the run became fault-free for good (the liveness clock starts), or null. */
  #healed_ms: number | null = null;
  #liveness_reported = false;
  readonly #timeline: [number, number][][] = [];
  readonly #tx_seen = new Set<string>();
  /** Per validator: the results of the block it is publishing now (its tx events). */
  readonly #results = new Map<number, CommitSeen['results']>();
  #wall_start = 0;

  private constructor(o: SimOptions) {
    this.o = o;
    this.net = new SimNet(this.sched, new SeededRng(o.seed, 'net'), o.net ?? DEFAULT_NET);
    this.trace = new Trace(o.keep_trace === true);
  }

  static async create(o: SimOptions): Promise<World> {
    check_options(o);
    const w = new World(o);
    await w.#setup();
    return w;
  }

  async #setup(): Promise<void> {
    const { o, p } = this;
    const code_root = find_code_root();
    const measurement = compute_measurement(p, code_root);
    const ceremony_rng = new SeededRng(o.seed, 'ceremony');
    const platform_secrets = Array.from({ length: o.validators }, () => ceremony_rng.bytes(32));
    const ceremony = await genesis_ceremony(
      { validators: o.validators, chain_id: SIM_CHAIN_ID, now_ms: SIM_EPOCH_MS },
      {
        p,
        random_bytes: (k) => ceremony_rng.bytes(k),
        enclave: (i) => {
          const rng = new SeededRng(o.seed, `enclave-${i}/ceremony`);
          return new InProcessEnclave(
            { provider: 'native', platform_secret_file: '(in memory)' },
            {
              random_bytes: (k) => rng.bytes(k),
              platform_secret: platform_secrets[i] as Uint8Array,
              measurement,
            },
          );
        },
      },
    );
    const { genesis } = ceremony;
    const codes = GENESIS_CONTRACTS.map((name) => read_shipped_contract(name, code_root));
    for (let i = 0; i < o.validators; i++) {
      this.honest.push(o.manifest.byzantine.every((b) => b.behaviours.every((x) => x.validator !== i)));
      this.#timeline.push([[0, 0]]);
    }
    this.invariants = new Invariants({
      p,
      chain_id: SIM_CHAIN_ID,
      validators: genesis.validators.map(({ pubkey, power }) => ({ pubkey, power })),
      honest: (i) => this.honest[i] === true,
      now_ms: () => this.sched.now_ms(),
    });
    for (let i = 0; i < o.validators; i++) {
      this.validators.push(
        this.#validator(i, {
          ceremony,
          platform_secret: platform_secrets[i] as Uint8Array,
          measurement,
          codes,
        }),
      );
    }
    this.workload = this.#workload(genesis.io_pubkey, codes);
  }

  /** Simulated validator `i`, from what the ceremony gave it. */
  #validator(
    i: number,
    from: {
      ceremony: Awaited<ReturnType<typeof genesis_ceremony>>;
      platform_secret: Uint8Array;
      measurement: Uint8Array;
      codes: { name: string; code: Uint8Array }[];
    },
  ): SimValidator {
    const { o, p } = this;
    const { genesis } = from.ceremony;
    const pubkey = genesis.validators[i]?.pubkey as string;
    const secret_key = from.ceremony.validator_sks[i] as Uint8Array;
    return new SimValidator(
      {
        index: i,
        pubkey,
        config: {
          genesis,
          secret_key,
          consensus: o.timeouts ?? LOCAL_TIMEOUTS,
          block: { ...BLOCK_LIMITS },
          mempool: { txs_max: 20_000, bytes_max: 64 * 1024 * 1024, per_account_max: 1000 },
        },
        sealed_seed: from.ceremony.sealed_seeds[i] as string,
        sealed_light: from.ceremony.sealed_lights[i] as string,
        platform_secret: from.platform_secret,
        measurement: from.measurement,
        codes: from.codes,
      },
      {
        p,
        sched: this.sched,
        epoch_ms: SIM_EPOCH_MS,
        endpoint: () => this.net.endpoint(pubkey),
        wrap_network: (inner, clock) => this.#wrap_network(i, inner, clock, secret_key),
        wrap_enclave: (inner) => this.#wrap_enclave(i, inner),
        rng: new SeededRng(o.seed, `node-${i}`),
        set_link: (up) => this.net.set_link(pubkey, up),
        log: (event, fields) => this.#on_log(i, event, fields),
        on_event: (event) => this.#on_event(i, event),
      },
    );
  }

  /** The workload's contract-call options: the relay code, stored after the genesis codes. */
  #relay_options(genesis_codes: number) {
    const share = this.o.calls_share ?? 0;
    if (share === 0) return {};
    const { code } = read_shipped_contract('relay', find_code_root());
    return {
      calls_share: share,
      relay: {
        code_b64: to_base64(code),
        code_hash: to_hex(this.p.sha256(code)),
        code_id: genesis_codes + 1,
      },
    };
  }

  /** The simulated clients, sending to validators that run, are not paused and have not halted. */
  #workload(io_pubkey: string, codes: { name: string; code: Uint8Array }[]): Workload {
    const counter = codes.findIndex((c) => c.name === 'counter');
    return new Workload(
      {
        chain_id: SIM_CHAIN_ID,
        io_pubkey,
        counter_code_id: counter + 1,
        counter_code_hash: to_hex(this.p.sha256((codes[counter] as { code: Uint8Array }).code)),
        tx_per_s: this.o.load_tx_per_s,
        accounts: Math.max(4, Math.min(1000, Math.ceil(this.o.load_tx_per_s))),
        resend_ms: 15_000,
        ...this.#relay_options(codes.length),
      },
      {
        p: this.p,
        sched: this.sched,
        rng: new SeededRng(this.o.seed, 'workload'),
        targets: () =>
          this.validators
            .filter((v) => v.running() && !v.paused() && v.node()?.halted() === null)
            .map((v) => v.node()?.backend as NonNullable<ReturnType<SimValidator['node']>>['backend']),
      },
    );
  }

  /**
   * Half B of the split behaviours, the same for every byzantine validator: the second half of
   * the honest validators by public key. Colluding equivocators then split the honest validators
   * the same way, which is what it takes to fork them (with more than 1/3 of the power).
   */
  #half_b(): string[] {
    const honest = this.validators
      .filter((_, j) => this.honest[j] === true)
      .map((v) => v.setup.pubkey)
      .sort();
    return honest.slice(Math.ceil(honest.length / 2));
  }

  /** The other validators that run `behaviour` at some point (fellow equivocators collude). */
  #colluders(i: number, behaviour: ManifestBehaviour): string[] {
    const out = new Set<string>();
    for (const b of this.o.manifest.byzantine) {
      for (const x of b.behaviours) {
        if (x.validator !== i && x.behaviour === behaviour)
          out.add((this.validators[x.validator] as SimValidator).setup.pubkey);
      }
    }
    return [...out].sort();
  }

  /** The network of validator `i` in one life: observed, and byzantine while its spans say so. */
  #wrap_network(i: number, inner: PeerNetwork, clock: NodeClock, secret_key: Uint8Array): PeerNetwork {
    const observed = observe(inner, (body) => this.invariants.on_sent(i, body));
    const spans = this.o.manifest.byzantine.filter((b) => b.behaviours.some((x) => x.validator === i));
    if (spans.length === 0) return observed;
    const pubkey = this.validators[i]?.setup.pubkey;
    const peers = this.validators
      .map((v) => v.setup.pubkey)
      .filter((k) => k !== pubkey)
      .sort();
    const rng = new SeededRng(this.o.seed, `byzantine-${i}`);
    const variants = new Map<ManifestBehaviour, PeerNetwork>();
    for (const span of spans) {
      for (const { validator, behaviour } of span.behaviours) {
        if (validator !== i || variants.has(behaviour)) continue;
        variants.set(
          behaviour,
          byzantine_network(behaviour, inner, {
            p: this.p,
            chain_id: SIM_CHAIN_ID,
            secret_key,
            peers,
            clock,
            rng,
            half_b: this.#half_b(),
            colluders: this.#colluders(i, behaviour),
          }),
        );
      }
    }
    return switched(observed, variants, () => this.#behaviour_now(i));
  }

  #wrap_enclave(i: number, inner: Enclave): Enclave {
    const observed = forward_enclave(inner, {
      execute_block: async (input) => {
        const answer = await inner.execute_block(input);
        if (answer.ok) this.invariants.on_executed(i, input);
        return answer;
      },
    });
    const behaviours = new Set<ManifestBehaviour>();
    for (const b of this.o.manifest.byzantine)
      for (const x of b.behaviours) if (x.validator === i) behaviours.add(x.behaviour);
    if (behaviours.size === 0) return observed;
    const variants = new Map(
      [...behaviours].map((b) => [b, byzantine_enclave(b, inner, { p: this.p })] as const),
    );
    return forward_enclave(inner, {
      execute_block: (input) => {
        const now = this.#behaviour_now(i);
        const byz = now === null ? undefined : variants.get(now);
        return byz !== undefined && byz !== inner ? byz.execute_block(input) : observed.execute_block(input);
      },
    });
  }

  /** Validator `i`'s behaviour at the height it is deciding now, or null when honest. */
  #behaviour_now(i: number): ManifestBehaviour | null {
    const height = (this.validators[i]?.height() ?? 0) + 1;
    if (!is_byzantine(this.o.manifest, i, height)) return null;
    for (const b of this.o.manifest.byzantine) {
      if (height < b.from_height || (b.until_height !== null && height >= b.until_height)) continue;
      const x = b.behaviours.find((y) => y.validator === i);
      if (x !== undefined) return x.behaviour;
    }
    return null;
  }

  #on_log(i: number, event: string, fields: Record<string, unknown>): void {
    this.o.log?.(i, event, fields);
    if (event === 'halted') {
      const node = this.validators[i];
      this.invariants.on_halted(i, (node?.height() ?? 0) + 1, String(fields['reason'] ?? ''));
      this.trace.line(`h ${this.sched.now_ms()} ${i} ${String(fields['reason'] ?? '')}`);
    }
  }

  #on_event(i: number, event: LiveEvent): void {
    if (event.type === 'tx') {
      this.#results.get(i)?.push({ hash: event.hash, code: event.code, gas_used: event.gas_used });
      if (!this.#tx_seen.has(event.hash)) {
        this.#tx_seen.add(event.hash);
        this.workload.on_committed(event.hash, event.code, event.gas_used);
      }
      return;
    }
    if (event.type !== 'block') return;
    const now = this.sched.now_ms();
    const v = this.validators[i] as SimValidator;
    const store = v.store();
    const last = store?.last_block();
    if (store === null || last === null || last === undefined || last.block.header.height !== event.height)
      return;
    // The block's tx events follow it in the same synchronous publish (node/backend.ts): collect
    // them, then check the commit once they are all in.
    const results: CommitSeen['results'] = [];
    this.#results.set(i, results);
    queueMicrotask(() => {
      if (this.#results.get(i) === results) this.#results.delete(i);
      this.invariants.on_commit(i, {
        height: event.height,
        block: last.block,
        block_hash: last.block_hash,
        results,
      });
    });
    this.trace.line(`c ${now} ${i} ${event.height} ${last.block_hash} ${last.block.header.result_hash}`);
    const points = this.#timeline[i] as [number, number][];
    points.push([now, event.height]);
    if (this.honest[i] === true && event.height > this.#top_height) {
      this.#top_height = event.height;
      this.#last_commit_ms = now;
      this.#fault_due = true;
      if (this.o.on_progress !== undefined && event.height % 100 === 0) {
        this.o.on_progress({ height: event.height, sim_ms: now, events: this.sched.events });
      }
    }
  }

  /** Applies every timed fault whose height has been reached, in manifest order. */
  #apply_due_faults(): void {
    this.#fault_due = false;
    const faults = this.o.manifest.faults;
    // One at a time, in manifest order, as the manifest's checks and `sim up` take them: a fault
    // waiting out its after_ms (or a restart still booting) holds back the ones after it.
    if (this.#fault_busy || this.#fault_next >= faults.length) return;
    const fault = faults[this.#fault_next] as TimedFault;
    if (fault.at_height > this.#top_height) return;
    this.#fault_next++;
    this.#fault_busy = true;
    const apply = () => {
      void this.#apply(fault).finally(() => {
        this.#fault_busy = false;
        this.#fault_due = true;
        this.#update_healed();
      });
    };
    if (fault.after_ms > 0) this.sched.at(fault.after_ms, apply);
    else apply();
  }

  async #apply(fault: TimedFault): Promise<void> {
    const a = fault.action;
    const key = (i: number) => (this.validators[i] as SimValidator).setup.pubkey;
    const text = describe_fault(fault);
    this.faults_applied.push({ sim_ms: this.sched.now_ms(), height: this.#top_height, fault: text });
    this.trace.line(`f ${this.sched.now_ms()} ${this.#top_height} ${text}`);
    switch (a.kind) {
      case 'partition':
        this.net.partition(a.groups.map((g) => g.map(key)));
        break;
      case 'heal':
        this.net.heal();
        break;
      case 'crash':
        await this.#crash(a.validator);
        break;
      case 'restart':
        await this.#restart(a.validator);
        break;
      case 'pause':
        this.validators[a.validator]?.pause();
        break;
      case 'resume':
        this.validators[a.validator]?.resume();
        break;
      case 'skew':
        for (const { validator, ms } of a.skew_ms) this.validators[validator]?.set_skew(ms);
        break;
      case 'drop':
        this.net.quality = { ...this.net.quality, drop_p: a.probability };
        break;
      case 'duplicate':
        this.net.quality = { ...this.net.quality, duplicate_p: a.probability };
        break;
      case 'latency':
        this.net.quality = {
          ...this.net.quality,
          latency_min_ms: a.min_ms,
          latency_max_ms: a.max_ms,
          distribution: 'uniform',
        };
        break;
    }
    this.#update_healed();
  }

  readonly #crashed_at = new Map<number, { height: number; hashes: Map<number, string> }>();

  async #crash(i: number): Promise<void> {
    const v = this.validators[i] as SimValidator;
    const store = v.store();
    if (store === null) return;
    // What it had committed: a restart must find all of it (the last few heights are enough).
    const height = store.height();
    const hashes = new Map<number, string>();
    for (let h = Math.max(1, height - 3); h <= height; h++) {
      const r = await store.get_block(h).catch(() => null);
      if (r !== null) hashes.set(h, r.block_hash);
    }
    this.#crashed_at.set(i, { height, hashes });
    await v.crash();
  }

  async #restart(i: number): Promise<void> {
    const v = this.validators[i] as SimValidator;
    if (v.running()) return;
    try {
      await v.boot();
    } catch (error) {
      this.invariants.fail(
        'durability',
        null,
        [i],
        `validator ${i} could not restart: ${(error as Error).message}`,
      );
      return;
    }
    const before = this.#crashed_at.get(i);
    const store = v.store();
    if (before === undefined || store === null) return;
    const now: Map<number, string> = new Map();
    for (const h of before.hashes.keys()) {
      const r = await store.get_block(h).catch(() => null);
      if (r !== null) now.set(h, r.block_hash);
    }
    this.invariants.on_restarted(i, before.height, before.hashes, store.height(), (h) => now.get(h) ?? null);
  }

  /** The run is fault-free for good once every timed fault applied and nothing is left broken. */
  #update_healed(): void {
    if (this.#fault_busy || this.#fault_next < this.o.manifest.faults.length) return;
    const broken = this.validators.some((v, i) => this.honest[i] === true && (!v.running() || v.paused()));
    const net = this.net.quality;
    const partitioned = this.net.partitioned();
    this.#healed_ms = broken || partitioned || net.drop_p > 0.2 ? null : this.sched.now_ms();
  }

  #check_liveness(): void {
    if (this.#healed_ms === null || this.#liveness_reported) return;
    const bound = this.o.liveness_bound_ms ?? LIVENESS_BOUND_MS_DEFAULT;
    const since = Math.max(this.#healed_ms, this.#last_commit_ms);
    if (this.sched.now_ms() - since > bound) {
      this.#liveness_reported = true;
      this.invariants.fail(
        'liveness',
        this.#top_height + 1,
        [],
        `no height committed for ${bound} ms of simulated time after the last fault healed (stuck after height ${this.#top_height})`,
      );
    }
  }

  async run(): Promise<SimReport> {
    // Wall time is reported, never used to decide anything.
    this.#wall_start = performance.now();
    // Booting needs simulated time (a node syncs with its peers before it joins consensus), so
    // it runs while the scheduler steps.
    for (const [i, v] of this.validators.entries()) {
      v.boot().catch((error: unknown) => {
        this.invariants.fail(
          'halt',
          null,
          [i],
          `validator ${i} could not start: ${(error as Error).message}`,
        );
      });
    }
    await drain();
    this.workload.start();
    // Faults due at height 0 or before anything commits.
    this.#fault_due = true;
    this.#update_healed();
    const sim_ms_max = this.o.sim_ms_max ?? this.o.heights * 10_000 + 300_000;
    while (this.#top_height < this.o.heights && this.invariants.violations.length === 0) {
      if (this.#fault_due) this.#apply_due_faults();
      if (this.#healed_ms === null) this.#update_healed();
      const more = await this.sched.step(sim_ms_max);
      this.#check_liveness();
      if (!more) {
        this.invariants.fail(
          'liveness',
          this.#top_height + 1,
          [],
          `height ${this.o.heights} not reached within ${sim_ms_max} ms of simulated time`,
        );
        break;
      }
    }
    this.workload.stop();
    return this.#report();
  }

  #report(): SimReport {
    const wall_ms = Math.max(1, Math.round(performance.now() - this.#wall_start));
    const sim_ms = this.sched.now_ms();
    for (const v of this.invariants.violations)
      this.trace.line(`v ${v.sim_ms} ${v.kind} ${v.height ?? '-'} ${v.message}`);
    const byzantine: Record<string, ManifestBehaviour> = {};
    for (const b of this.o.manifest.byzantine)
      for (const x of b.behaviours) byzantine[String(x.validator)] = x.behaviour;
    return {
      seed: this.o.seed,
      validators: this.o.validators,
      heights_committed: this.#top_height,
      sim_ms,
      wall_ms,
      txs_committed: this.workload.stats.committed,
      faults_applied: this.faults_applied,
      violations: this.invariants.violations,
      trace_sha256: this.trace.sha256(),
      compression: Math.round((sim_ms / wall_ms) * 10) / 10,
      events: this.sched.events,
      byzantine,
      network: { ...this.net.stats },
      workload: { ...this.workload.stats },
      nodes: this.validators.map((v, i) => ({
        index: i,
        height: v.height(),
        lives: v.lives(),
        honest: this.honest[i] === true,
        halted: v.node()?.halted() ?? null,
      })),
      timeline: this.#timeline.map((points, index) => ({
        index,
        points: downsample(points, TIMELINE_POINTS_MAX),
      })),
      liveness_bound_ms: this.o.liveness_bound_ms ?? LIVENESS_BOUND_MS_DEFAULT,
      trace_tail: this.invariants.violations.length > 0 ? this.trace.recent() : [],
      ...(this.o.keep_trace === true ? { trace: this.trace.lines() } : {}),
    };
  }

  async close(): Promise<void> {
    for (const v of this.validators) await v.close();
  }
}

/** Checks the options (RangeError with the option's name). */
function check_options(o: SimOptions): void {
  if (!Number.isSafeInteger(o.seed) || o.seed < 0)
    throw new RangeError('--seed must be a non-negative integer');
  if (!Number.isInteger(o.validators) || o.validators < 1 || o.validators > 100) {
    throw new RangeError('--validators must be 1..100');
  }
  if (!Number.isInteger(o.heights) || o.heights < 1 || o.heights > 10_000_000) {
    throw new RangeError('--heights must be 1..10000000');
  }
  if (!(o.load_tx_per_s >= 0 && o.load_tx_per_s <= 10_000))
    throw new RangeError('--load must be 0..10000 tx/s');
  if (o.manifest.validators !== o.validators) {
    throw new RangeError(
      `the manifest describes ${o.manifest.validators} validators, not --validators ${o.validators}`,
    );
  }
}

/** A PeerNetwork that reports every outgoing body to `seen` before sending it. */
function observe(inner: PeerNetwork, seen: (body: unknown) => void): PeerNetwork {
  return forward(inner, {
    broadcast: (body) => {
      seen(body);
      inner.broadcast(body);
    },
    send: (to, body) => {
      seen(body);
      return inner.send(to, body);
    },
  });
}

/**
 * A validator whose behaviour changes with the height: each call goes to the network of its
 * behaviour now (`variants.get(behaviour())`, or `honest`). Listeners are registered on every
 * variant, each wrapped so that only the variant of the behaviour now delivers (a decorator may
 * filter or rewrite what comes in, e.g. strip a colluder's side field, or answer no request).
 */
function switched(
  honest: PeerNetwork,
  variants: Map<ManifestBehaviour, PeerNetwork>,
  behaviour: () => ManifestBehaviour | null,
): PeerNetwork {
  const all: [ManifestBehaviour | null, PeerNetwork][] = [[null, honest], ...variants];
  const now = (): PeerNetwork => {
    const b = behaviour();
    return (b === null ? undefined : variants.get(b)) ?? honest;
  };
  /** Whether `net` is the network in use now. */
  const current = (net: PeerNetwork) => now() === net;
  return {
    start: () => honest.start(),
    // Every variant stops: a decorator may hold timers of its own (delayed votes).
    stop: async () => {
      for (const [, net] of all.slice(1)) await net.stop().catch(() => undefined);
      await honest.stop();
    },
    broadcast: (body) => now().broadcast(body),
    send: (to, body) => now().send(to, body),
    request: (to, body, timeout_ms) => now().request(to, body, timeout_ms),
    on_message: (fn) => {
      for (const [, net] of all) net.on_message((from, body) => current(net) && fn(from, body));
    },
    on_request: (fn) => {
      for (const [, net] of all) {
        net.on_request((from, body) =>
          current(net) ? fn(from, body) : new Promise<unknown>(() => undefined),
        );
      }
    },
    on_peer: (fn) => honest.on_peer(fn),
    connected_peers: () => honest.connected_peers(),
    set_outgoing_filter: (fn) => honest.set_outgoing_filter(fn),
  };
}

/** At most `max` points, evenly picked, always keeping the last. */
function downsample(points: [number, number][], max: number): [number, number][] {
  if (points.length <= max) return points;
  const out: [number, number][] = [];
  const step = points.length / max;
  for (let k = 0; k < max - 1; k++) out.push(points[Math.floor(k * step)] as [number, number]);
  out.push(points[points.length - 1] as [number, number]);
  return out;
}

/** Trace hashing helper kept here for tests: SHA-256 of text. */
export function sha256_hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
