/**
 * What the live dashboard of `cloister sim up` shows, kept up to date from what the network tells
 * it: every validator's events (the JSON lines LocalNetwork reads from its stdout), each one's
 * `GET /v1/status`, the live stream of committed blocks and transactions (`GET /v1/events`), the
 * load generator's commits, and the control plane's actions. Pure bookkeeping: no I/O, no timers;
 * the clock is passed in (`now_ms`), so it is tested with made-up events.
 *
 * Everything it keeps is bounded ({@link FEED_LIMITS}); transactions keep their hashes, codes, gas
 * and public events only (protocol.md §9): their outputs are ciphertext and are left out.
 * @module
 */

import type { LoadCommit, LoadStats } from '../load_generator.js';
import type { NodeEvent } from '../network.js';

/** How much the feed keeps. */
export const FEED_LIMITS = {
  /** Heights in the consensus timeline. */
  timeline_heights_max: 8,
  /** Rounds per height in the timeline (a height that needs more shows its last ones). */
  timeline_rounds_max: 6,
  blocks_max: 40,
  txs_max: 60,
  faults_max: 100,
  /** Seconds of tx/s and latency history. */
  series_seconds_max: 180,
  validators_max: 64,
} as const;

/** A validator as the dashboard shows it. */
export interface FeedValidator {
  index: number;
  name: string;
  /** `down` not running; `paused` SIGSTOP; `halted` its node halted; `partitioned` cut off from some. */
  state: 'up' | 'down' | 'paused' | 'partitioned' | 'halted';
  /** `honest`, or its byzantine behaviour (docs/simulator.md). */
  behaviour: string;
  pid: number | null;
  rpc: string | null;
  /** Its last committed height (from its events and status). */
  height: number | null;
  /** The height and round its consensus works on, and the step it reached in that round. */
  round: number | null;
  step: string | null;
  peers: number | null;
  mempool: number | null;
  /** Why it halted, when it did. */
  halted: string | null;
  /** The validators it reaches while a partition is in force. */
  group: number[] | null;
}

/** What one validator did in one round of the timeline: the value hashes it signed (`nil` for none). */
export interface TimelineCell {
  proposal?: string;
  prevote?: string;
  precommit?: string;
  /** It committed the block in this round. */
  commit?: string;
  /** The timeouts that fired for it in this round (`propose`, `prevote`, `precommit`). */
  timeouts?: string[];
}

/** One height of the consensus timeline. */
export interface TimelineHeight {
  height: number;
  rounds: { round: number; cells: Record<number, TimelineCell> }[];
  /** The hash committed (first 16 hex digits) once some validator committed it. */
  committed: string | null;
}

export interface FeedBlock {
  height: number;
  hash: string;
  time_ms: number;
  txs: number;
}

/** A committed transaction: public fields only (its output is ciphertext and stays out). */
export interface FeedTx {
  hash: string;
  height: number;
  index: number;
  code: number;
  gas_used: number;
  contract: string | null;
  events: unknown[];
}

/** Something that went wrong, or an action taken, as it happened. */
export interface FeedFault {
  t_ms: number;
  validator: number | null;
  kind: string;
  text: string;
}

/** The tx/s and latency charts: one point per second, oldest first. */
export interface FeedSeries {
  /** Seconds since the epoch. */
  t_s: number[];
  /** Transactions committed in that second (from the live stream). */
  tps: number[];
  /** Median and 99th-percentile commit latency of the load generator's commits in that second. */
  latency_p50_ms: (number | null)[];
  latency_p99_ms: (number | null)[];
}

/** `GET /api/state` and each message of `GET /api/events`. */
export interface FeedState {
  chain_id: string;
  now_ms: number;
  validators: FeedValidator[];
  partition: number[][] | null;
  load: LoadStats | null;
  series: FeedSeries;
  timeline: TimelineHeight[];
  blocks: FeedBlock[];
  txs: FeedTx[];
  faults: FeedFault[];
}

/** A validator's process state, as the network that runs it knows it. */
export interface ProcessView {
  running: boolean;
  paused: boolean;
  pid: number | null;
  rpc: string | null;
  group: number[] | null;
}

/** The part of `GET /v1/status` the feed reads. */
export interface StatusView {
  height: number;
  peers?: string[];
  mempool?: number;
  halted?: { height: number; reason: string };
}

/** Events that go into the faults list, with what they say. */
const FAULT_EVENTS: Record<string, (e: NodeEvent) => string> = {
  crashed: (e) => `crashed (code ${e['code'] ?? 'none'}, signal ${e['signal'] ?? 'none'})`,
  exited: (e) => `exited (code ${e['code'] ?? 'none'})`,
  stopped: (e) => (typeof e['signal'] === 'string' ? `stopped (${e['signal']})` : 'stopped'),
  started: (e) => `started at height ${e['height'] ?? '?'}`,
  halted: (e) => `halted: ${e['reason'] ?? ''}`,
  evidence: (e) => `evidence of ${e['kind'] ?? 'misbehaviour'} at height ${e['height'] ?? '?'}`,
  synced: (e) => `synced ${e['applied'] ?? '?'} blocks to height ${e['height'] ?? '?'}`,
  round_skip: (e) => `skipped to round ${e['to'] ?? '?'} at height ${e['height'] ?? '?'}`,
  result_mismatch: (e) => `result mismatch at height ${e['height'] ?? '?'}`,
  sign_refused: (e) => `refused to sign: ${e['reason'] ?? ''}`,
};

/** Keeps the dashboard's picture of one network. */
export class DashboardFeed {
  readonly #chain_id: string;
  readonly #validators: FeedValidator[];
  #partition: number[][] | null = null;
  #load: LoadStats | null = null;
  readonly #timeline = new Map<number, TimelineHeight>();
  readonly #blocks: FeedBlock[] = [];
  readonly #txs: FeedTx[] = [];
  readonly #faults: FeedFault[] = [];
  /** Per second: committed txs and load latencies. */
  readonly #seconds = new Map<number, { txs: number; latencies_ms: number[] }>();
  #version = 0;

  constructor(opts: { chain_id: string; behaviours: readonly string[] }) {
    const n = opts.behaviours.length;
    if (n < 1 || n > FEED_LIMITS.validators_max)
      throw new RangeError(`a dashboard shows 1..${FEED_LIMITS.validators_max} validators, not ${n}`);
    this.#chain_id = opts.chain_id;
    this.#validators = opts.behaviours.map((behaviour, index) => ({
      index,
      name: `v${index}`,
      state: 'down',
      behaviour,
      pid: null,
      rpc: null,
      height: null,
      round: null,
      step: null,
      peers: null,
      mempool: null,
      halted: null,
      group: null,
    }));
  }

  /** Grows by one with every change: a server sends a new state only when it moved. */
  get version(): number {
    return this.#version;
  }

  /** A validator's event (what LocalNetwork reads from its stdout, and the process ends it adds). */
  node_event(e: NodeEvent, now_ms: number): void {
    const v = this.#validators[e.index];
    if (v === undefined) return;
    this.#version++;
    const height = typeof e['height'] === 'number' ? e['height'] : null;
    const round = typeof e['round'] === 'number' ? e['round'] : null;
    switch (e.event) {
      case 'started':
        if (height !== null) v.height = height;
        v.halted = null;
        break;
      case 'committed':
      case 'synced':
        if (height !== null) v.height = Math.max(v.height ?? 0, height);
        break;
      case 'round':
        v.round = round;
        v.step = 'propose';
        break;
      case 'round_wait':
        v.step = 'waiting for txs';
        break;
      case 'vote_sent':
        v.round = round;
        v.step = String(e['type']);
        break;
      case 'commit':
        v.step = 'commit';
        break;
      case 'halted':
        v.halted = String(e['reason'] ?? 'halted');
        break;
      case 'crashed':
      case 'exited':
      case 'stopped':
        v.round = null;
        v.step = null;
        v.peers = null;
        v.mempool = null;
        break;
    }
    this.#timeline_event(e, height, round);
    const fault = FAULT_EVENTS[e.event];
    if (fault !== undefined) this.#fault(now_ms, e.index, e.event, fault(e));
  }

  /** A validator's process as the network knows it now (polled). */
  process_state(index: number, p: ProcessView): void {
    const v = this.#validators[index];
    if (v === undefined) return;
    const state: FeedValidator['state'] = !p.running
      ? 'down'
      : p.paused
        ? 'paused'
        : v.halted !== null
          ? 'halted'
          : p.group !== null
            ? 'partitioned'
            : 'up';
    if (state === v.state && p.pid === v.pid && p.rpc === v.rpc && same(p.group, v.group)) return;
    this.#version++;
    v.state = state;
    v.pid = p.pid;
    v.rpc = p.rpc;
    v.group = p.group;
  }

  /** A validator's `GET /v1/status` (null: it did not answer). */
  status(index: number, s: StatusView | null): void {
    const v = this.#validators[index];
    if (v === undefined) return;
    const before = JSON.stringify([v.height, v.peers, v.mempool, v.halted]);
    if (s === null) {
      v.peers = null;
      v.mempool = null;
    } else {
      v.height = Math.max(v.height ?? 0, s.height);
      v.peers = s.peers?.length ?? null;
      v.mempool = s.mempool ?? null;
      v.halted = s.halted === undefined ? null : s.halted.reason;
    }
    if (JSON.stringify([v.height, v.peers, v.mempool, v.halted]) !== before) this.#version++;
  }

  /** The partition in force (null: none). */
  partition(groups: number[][] | null): void {
    if (same_groups(groups, this.#partition)) return;
    this.#version++;
    this.#partition = groups === null ? null : groups.map((g) => [...g]);
  }

  /** The load generator's numbers (null: none). */
  load(stats: LoadStats | null): void {
    if (JSON.stringify(stats) === JSON.stringify(this.#load)) return;
    this.#version++;
    this.#load = stats;
  }

  /** A committed block from the live stream. */
  block(b: FeedBlock, now_ms: number): void {
    if (this.#blocks.some((x) => x.height === b.height)) return;
    this.#version++;
    this.#blocks.unshift({ height: b.height, hash: b.hash, time_ms: b.time_ms, txs: b.txs });
    this.#blocks.sort((a, b) => b.height - a.height);
    this.#blocks.length = Math.min(this.#blocks.length, FEED_LIMITS.blocks_max);
    this.#second(now_ms).txs += b.txs;
  }

  /** A committed transaction from the live stream (its output is not kept). */
  tx(t: FeedTx): void {
    if (this.#txs.some((x) => x.hash === t.hash)) return;
    this.#version++;
    this.#txs.unshift({
      hash: t.hash,
      height: t.height,
      index: t.index,
      code: t.code,
      gas_used: t.gas_used,
      contract: t.contract,
      events: t.events,
    });
    this.#txs.length = Math.min(this.#txs.length, FEED_LIMITS.txs_max);
  }

  /** One of the load generator's transactions committed. */
  load_commit(c: LoadCommit): void {
    this.#version++;
    this.#second(c.at_ms).latencies_ms.push(c.latency_ms);
  }

  /** An action of the control plane (`v2 killed (SIGKILL)`), or any other note for the faults list. */
  action(text: string, now_ms: number, validator: number | null = null): void {
    this.#version++;
    this.#fault(now_ms, validator, 'action', text);
  }

  /** Each validator's committed height as the feed knows it (null: not known yet). */
  heights(): (number | null)[] {
    return this.#validators.map((v) => v.height);
  }

  /** Everything the page shows, as of `now_ms`. */
  state(now_ms: number): FeedState {
    return {
      chain_id: this.#chain_id,
      now_ms,
      validators: this.#validators.map((v) => ({ ...v, group: v.group === null ? null : [...v.group] })),
      partition: this.#partition,
      load: this.#load,
      series: this.#series(now_ms),
      timeline: [...this.#timeline.values()].sort((a, b) => b.height - a.height),
      blocks: [...this.#blocks],
      txs: [...this.#txs],
      faults: [...this.#faults],
    };
  }

  #timeline_event(e: NodeEvent, height: number | null, round: number | null): void {
    const kinds = ['round', 'proposal_sent', 'vote_sent', 'commit', 'timeout'];
    if (height === null || round === null || !kinds.includes(e.event)) return;
    const cell = this.#cell(height, round, e.index);
    if (cell === null) return;
    const hash = (x: unknown) => (typeof x === 'string' && x !== '' ? x.slice(0, 16) : 'nil');
    if (e.event === 'proposal_sent') cell.proposal = hash(e['hash']);
    else if (e.event === 'vote_sent' && e['type'] === 'prevote') cell.prevote = hash(e['hash']);
    else if (e.event === 'vote_sent' && e['type'] === 'precommit') cell.precommit = hash(e['hash']);
    else if (e.event === 'commit') {
      cell.commit = hash(e['hash']);
      const h = this.#timeline.get(height);
      if (h !== undefined) h.committed = cell.commit;
    } else if (e.event === 'timeout') cell.timeouts = [...(cell.timeouts ?? []), String(e['kind'])];
  }

  /** The cell of validator `index` at (height, round), made if new; null for a height too old to keep. */
  #cell(height: number, round: number, index: number): TimelineCell | null {
    let h = this.#timeline.get(height);
    if (h === undefined) {
      const heights = [...this.#timeline.keys()];
      if (heights.length >= FEED_LIMITS.timeline_heights_max && height < Math.min(...heights)) return null;
      h = { height, rounds: [], committed: null };
      this.#timeline.set(height, h);
      // Keep the newest heights only.
      const sorted = [...this.#timeline.keys()].sort((a, b) => a - b);
      while (sorted.length > FEED_LIMITS.timeline_heights_max) this.#timeline.delete(sorted.shift()!);
      if (!this.#timeline.has(height)) return null;
    }
    let r = h.rounds.find((x) => x.round === round);
    if (r === undefined) {
      r = { round, cells: {} };
      h.rounds.push(r);
      h.rounds.sort((a, b) => a.round - b.round);
      while (h.rounds.length > FEED_LIMITS.timeline_rounds_max) h.rounds.shift();
      if (!h.rounds.includes(r)) return null;
    }
    r.cells[index] ??= {};
    return r.cells[index]!;
  }

  #fault(t_ms: number, validator: number | null, kind: string, text: string): void {
    this.#faults.unshift({ t_ms, validator, kind, text });
    this.#faults.length = Math.min(this.#faults.length, FEED_LIMITS.faults_max);
  }

  #second(t_ms: number): { txs: number; latencies_ms: number[] } {
    const s = Math.floor(t_ms / 1000);
    let bucket = this.#seconds.get(s);
    if (bucket === undefined) {
      bucket = { txs: 0, latencies_ms: [] };
      this.#seconds.set(s, bucket);
      for (const old of this.#seconds.keys())
        if (old <= s - FEED_LIMITS.series_seconds_max) this.#seconds.delete(old);
    }
    return bucket;
  }

  /** The last seconds up to the one before `now_ms` (that one is still filling). */
  #series(now_ms: number): FeedSeries {
    const last = Math.floor(now_ms / 1000) - 1;
    const known = [...this.#seconds.keys()];
    const first = Math.max(
      last - FEED_LIMITS.series_seconds_max + 1,
      known.length === 0 ? last + 1 : Math.min(...known),
    );
    const series: FeedSeries = { t_s: [], tps: [], latency_p50_ms: [], latency_p99_ms: [] };
    for (let s = first; s <= last; s++) {
      const bucket = this.#seconds.get(s);
      const sorted = [...(bucket?.latencies_ms ?? [])].sort((a, b) => a - b);
      series.t_s.push(s);
      series.tps.push(bucket?.txs ?? 0);
      series.latency_p50_ms.push(quantile(sorted, 0.5));
      series.latency_p99_ms.push(quantile(sorted, 0.99));
    }
    return series;
  }
}

/** The q-quantile of ascending `sorted` (nearest rank), null when empty. */
export function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

function same(a: readonly number[] | null, b: readonly number[] | null): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function same_groups(a: number[][] | null, b: number[][] | null): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
