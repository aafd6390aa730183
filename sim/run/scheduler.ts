/**
 * Simulated time: one event queue for the whole simulated world, ordered by (time, insertion),
 * and per-node clocks on it (each with its own skew, and a timer group a crash cancels at once).
 * Between two events the scheduler lets every promise job run (one macrotask turn), so the
 * nodes' async code (store, enclave, engine) finishes what an event started before time moves.
 * Nothing here reads the wall clock: the same inputs give the same order of events.
 * @module
 */

import type { Clock } from '../../node/modules.js';

interface Entry {
  at_ms: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Lets every queued promise job run: setImmediate runs after the microtask queue is empty. */
export function drain(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The event queue and the simulated time (ms since the start of the run). */
export class Scheduler {
  #now_ms = 0;
  #seq = 0;
  readonly #heap: Entry[] = [];
  /** Events run so far. */
  events = 0;

  /** Simulated milliseconds since the start of the run. */
  now_ms(): number {
    return this.#now_ms;
  }

  /** Events queued (cancelled ones included until they come up). */
  pending(): number {
    return this.#heap.length;
  }

  /** Runs `fn` at now + `delay_ms`; returns its cancel function. */
  at(delay_ms: number, fn: () => void): () => void {
    if (!(delay_ms >= 0) || !Number.isFinite(delay_ms)) throw new RangeError(`bad delay ${delay_ms}`);
    const entry: Entry = { at_ms: this.#now_ms + delay_ms, seq: this.#seq++, fn, cancelled: false };
    this.#push(entry);
    return () => {
      entry.cancelled = true;
    };
  }

  /** Moves time on to `until_ms` when no event is due before it (time never goes back). */
  advance_to(until_ms: number): void {
    const next = this.#heap.find((e) => !e.cancelled && e.at_ms < until_ms);
    if (next !== undefined) throw new Error('scheduler invariant: advancing past a due event');
    this.#now_ms = Math.max(this.#now_ms, until_ms);
  }

  /**
   * Runs the next event (advancing time to it) and then every promise job it caused. False when
   * nothing is queued before `until_ms`.
   */
  async step(until_ms: number): Promise<boolean> {
    for (;;) {
      const next = this.#heap[0];
      if (next === undefined || next.at_ms > until_ms) return false;
      this.#pop();
      if (next.cancelled) continue;
      // Time never goes back: events are popped in (time, insertion) order.
      if (next.at_ms < this.#now_ms) throw new Error('scheduler invariant: time went backwards');
      this.#now_ms = next.at_ms;
      this.events++;
      next.fn();
      await drain();
      return true;
    }
  }

  #less(a: Entry, b: Entry): boolean {
    return a.at_ms < b.at_ms || (a.at_ms === b.at_ms && a.seq < b.seq);
  }

  #push(entry: Entry): void {
    const h = this.#heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(h[i] as Entry, h[parent] as Entry)) break;
      [h[i], h[parent]] = [h[parent] as Entry, h[i] as Entry];
      i = parent;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop() as Entry;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l] as Entry, h[m] as Entry)) m = l;
      if (r < h.length && this.#less(h[r] as Entry, h[m] as Entry)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m] as Entry, h[i] as Entry];
      i = m;
    }
  }
}

/**
 * One node's clock on the scheduler: epoch time = `epoch_ms` + simulated time + this node's skew
 * (kept monotonic when the skew is lowered), and timers in a group that `cancel_all` clears (a
 * crashed node's timers never fire).
 */
export class NodeClock implements Clock {
  readonly #sched: Scheduler;
  readonly #epoch_ms: number;
  #skew_ms = 0;
  #last_ms = 0;
  #timers = new Set<() => void>();
  #dead = false;
  /** Timers that came due while the node was paused, in the order they came due. */
  #deferred: (() => void)[] | null = null;

  constructor(sched: Scheduler, epoch_ms: number) {
    this.#sched = sched;
    this.#epoch_ms = epoch_ms;
  }

  /** Sets this node's clock offset from simulated time (its real drift, as a fault). */
  set_skew(skew_ms: number): void {
    this.#skew_ms = skew_ms;
  }

  now_ms(): number {
    // A node's own clock never steps back, even when its skew is lowered.
    this.#last_ms = Math.max(this.#last_ms, this.#epoch_ms + this.#sched.now_ms() + this.#skew_ms);
    return this.#last_ms;
  }

  set_timer(delay_ms: number, fn: () => void): () => void {
    if (this.#dead) return () => undefined;
    const cancel_entry = this.#sched.at(Math.max(0, delay_ms), () => {
      this.#timers.delete(cancel);
      if (this.#deferred !== null) this.#deferred.push(fn);
      else fn();
    });
    const cancel = () => {
      this.#timers.delete(cancel);
      cancel_entry();
    };
    this.#timers.add(cancel);
    return cancel;
  }

  /** The node crashed: its timers never fire, and it arms no new ones. */
  kill(): void {
    this.#dead = true;
    this.#deferred = null;
    for (const cancel of [...this.#timers]) cancel();
  }

  /** SIGSTOP: time goes on, but timers that come due wait for {@link resume}. */
  pause(): void {
    if (!this.#dead) this.#deferred ??= [];
  }

  /** SIGCONT: the timers that came due while paused fire now, in order. */
  resume(): void {
    const due = this.#deferred;
    this.#deferred = null;
    if (due === null || this.#dead) return;
    for (const fn of due) this.#sched.at(0, () => fn());
  }
}
