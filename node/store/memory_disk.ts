/**
 * A simulated disk for the deterministic simulator: it outlives the node that uses it, and a
 * simulated crash loses exactly what a real crash may lose. The node reaches it through a handle
 * ({@link MemoryDisk.open}, a {@link Kv} as LevelDB's is, so ChainStore runs on it unchanged) and
 * through named files ({@link MemoryDisk.open_file}, for the signing record).
 *
 * The model, which the tests pin down:
 * - An operation takes effect at one instant, one microtask after it is called, all at once (a
 *   batch is atomic), and resolves after that instant.
 * - A write with `{sync: true}` is durable from that instant, and makes every earlier write of the
 *   disk durable with it (LevelDB: the fsync of its log covers what came before). A write without
 *   `sync` is seen by reads at once but is durable only once a later synced write, or
 *   {@link MemoryDisk.flush} (the operating system writing back), has covered it.
 * - {@link MemoryDisk.crash} is the node dying: every write not yet durable is undone, every
 *   handle and file of the node is dead from then on (each call on it rejects with
 *   {@link DiskCrashedError}, including calls made before the crash that had not taken effect:
 *   they did nothing), and the disk can be opened again, as after a restart.
 * - A file write ({@link MemoryFile.write}) replaces the whole file atomically and durably, as a
 *   write to a temporary file, fsync and rename do.
 * - One handle at a time may be open ({@link DiskHandleError} otherwise, like LevelDB's lock).
 * - Iterators read a snapshot taken when they are made.
 *
 * Deterministic: no timers and no I/O, only promises, so a simulation replays exactly. Cheap: a
 * sorted map in memory (./sorted_map.ts), and an undo entry only per write not yet durable.
 * @module
 */

import type { Kv, KvBatchOp, KvRange, KvStatus, KvWriteOptions } from './kv.js';
import { SortedMap } from './sorted_map.js';

/** A call on a handle or file of a node that crashed: dead for good, it did nothing. */
export class DiskCrashedError extends Error {
  override readonly name = 'DiskCrashedError';
}

/** A call on a handle that is not open, or an open while another handle holds the disk. */
export class DiskHandleError extends Error {
  override readonly name = 'DiskHandleError';
}

/** A whole-file slot of a {@link MemoryDisk}: read it, or replace it atomically and durably. */
export interface MemoryFile {
  /** The file's text, or null if it was never written. */
  read(): Promise<string | null>;
  /** Replaces the file's text; durable once it resolves. */
  write(text: string): Promise<void>;
}

/** What a write not yet durable replaced: restored, newest first, by a crash. */
interface Undo {
  key: string;
  before: string | undefined;
}

/** A microtask boundary: an operation takes effect after it, never during its call. */
const tick = (): Promise<void> => Promise.resolve();

/** What a handle reaches of its disk: every call fails once the handle's life ended. */
interface DiskPort {
  alive(life: number): boolean;
  /** Throws DiskCrashedError if `life` ended with a crash. */
  check_life(life: number): void;
  /** Takes the disk for `kv` (LevelDB's lock); DiskHandleError if another handle holds it. */
  acquire(kv: MemoryKv, life: number): void;
  /** Releases the disk from `kv`, if it holds it. */
  release(kv: MemoryKv, life: number): void;
  get(life: number, key: string): string | undefined;
  /** Applies `ops` at once; durable with (and with every earlier write) if `sync`. */
  write(life: number, ops: readonly KvBatchOp[], sync: boolean): void;
  /** A snapshot of the entries in `range`. */
  entries(life: number, range: KvRange): [string, string][];
}

/** A simulated disk: a sorted key-value store and named files that survive a simulated crash. */
export class MemoryDisk {
  #data = new SortedMap();
  #files = new Map<string, string>();
  /** Writes not yet durable, oldest first. */
  #undo: Undo[] = [];
  /** Bumped by every crash: a handle or file of an older life is dead. */
  #life = 0;
  /** The handle holding the disk (open or opening), or null. */
  #holder: MemoryKv | null = null;
  readonly #port: DiskPort = {
    alive: (life) => life === this.#life,
    check_life: (life) => this.#check_life(life),
    acquire: (kv, life) => {
      this.#check_life(life);
      if (this.#holder !== null && this.#holder !== kv) {
        throw new DiskHandleError('the disk is held by another open handle');
      }
      this.#holder = kv;
    },
    release: (kv, life) => {
      this.#check_life(life);
      if (this.#holder === kv) this.#holder = null;
    },
    get: (life, key) => {
      this.#check_life(life);
      return this.#data.get(key);
    },
    write: (life, ops, sync) => {
      this.#check_life(life);
      for (const op of ops) {
        if (!sync) this.#undo.push({ key: op.key, before: this.#data.get(op.key) });
        if (op.type === 'put') this.#data.set(op.key, op.value);
        else this.#data.delete(op.key);
      }
      // A synced write covers every write before it: nothing is left to undo.
      if (sync) this.#undo = [];
    },
    entries: (life, range) => {
      this.#check_life(life);
      return this.#data.entries(range);
    },
  };

  /** A new handle on this disk, not yet open: call its `open()` (as with LevelDB's `Level`). */
  open(): Kv {
    return new MemoryKv(this.#port, this.#life);
  }

  /** The file `name` of this disk, for the node now running; dies with a crash as handles do. */
  open_file(name: string): MemoryFile {
    if (typeof name !== 'string' || name.length === 0)
      throw new TypeError('file name must be a non-empty string');
    const life = this.#life;
    return {
      read: async () => {
        await tick();
        this.#check_life(life);
        return this.#files.get(name) ?? null;
      },
      write: async (text: string) => {
        if (typeof text !== 'string') throw new TypeError('file text must be a string');
        await tick();
        this.#check_life(life);
        this.#files.set(name, text);
      },
    };
  }

  /**
   * The node dies: writes not yet durable are undone, newest first, and every handle and file it
   * had is dead. The disk itself stays, with what was durable, for the next open.
   */
  crash(): void {
    for (let i = this.#undo.length - 1; i >= 0; i--) {
      const { key, before } = this.#undo[i]!;
      if (before === undefined) this.#data.delete(key);
      else this.#data.set(key, before);
    }
    this.#undo = [];
    this.#life++;
    this.#holder = null;
  }

  /** Makes every write so far durable (the operating system wrote its cache back). */
  flush(): void {
    this.#undo = [];
  }

  /** Writes a crash now would undo. */
  unsynced_writes(): number {
    return this.#undo.length;
  }

  /** Keys stored (durable or not). */
  size(): number {
    return this.#data.size;
  }

  /**
   * An exact copy of this disk's contents (writes not yet durable stay so on the copy), with no
   * handle open: for tests, and for running one history on several nodes.
   */
  clone(): MemoryDisk {
    const copy = new MemoryDisk();
    copy.#data = this.#data.clone();
    copy.#files = new Map(this.#files);
    copy.#undo = this.#undo.slice();
    return copy;
  }

  #check_life(life: number): void {
    if (life !== this.#life) throw new DiskCrashedError('the node crashed: this disk handle is dead');
  }
}

function check_string(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string`);
  return value;
}

function check_ops(ops: unknown): KvBatchOp[] {
  if (!Array.isArray(ops)) throw new TypeError('batch operations must be an array');
  for (const op of ops as KvBatchOp[]) {
    check_string(op?.key, 'key');
    if (op.type === 'put') check_string(op.value, 'value');
    else if (op.type !== 'del') throw new TypeError('batch operation type must be put or del');
  }
  return ops as KvBatchOp[];
}

/** A node's handle on a {@link MemoryDisk}. */
class MemoryKv implements Kv {
  readonly #disk: DiskPort;
  readonly #life: number;
  #status: KvStatus = 'opening';
  #opened = false;

  constructor(disk: DiskPort, life: number) {
    this.#disk = disk;
    this.#life = life;
  }

  /** 'closed' once the node crashed, whatever it was before. */
  get status(): KvStatus {
    return this.#disk.alive(this.#life) ? this.#status : 'closed';
  }

  async open(): Promise<void> {
    await tick();
    this.#disk.check_life(this.#life);
    if (this.#status === 'closed' && this.#opened) {
      throw new DiskHandleError('a closed handle does not open again: open a new one');
    }
    this.#disk.acquire(this, this.#life);
    this.#opened = true;
    this.#status = 'open';
  }

  async close(): Promise<void> {
    await tick();
    this.#disk.check_life(this.#life);
    if (this.#status === 'closed') return;
    this.#status = 'closed';
    this.#disk.release(this, this.#life);
  }

  async get(key: string): Promise<string | undefined> {
    check_string(key, 'key');
    await tick();
    this.#assert_open();
    return this.#disk.get(this.#life, key);
  }

  async put(key: string, value: string, options: KvWriteOptions = {}): Promise<void> {
    const op: KvBatchOp = { type: 'put', key: check_string(key, 'key'), value: check_string(value, 'value') };
    await tick();
    this.#assert_open();
    this.#disk.write(this.#life, [op], options.sync === true);
  }

  async batch(ops: KvBatchOp[], options: KvWriteOptions = {}): Promise<void> {
    // Copied at the call, as LevelDB encodes its batch then: later changes to `ops` do not count.
    const copy = check_ops(ops).map((op) => ({ ...op }));
    await tick();
    this.#assert_open();
    this.#disk.write(this.#life, copy, options.sync === true);
  }

  iterator(range: KvRange = {}): AsyncIterable<[string, string]> {
    return this.#snapshot(range, (entry) => entry);
  }

  keys(range: KvRange = {}): AsyncIterable<string> {
    return this.#snapshot(range, ([key]) => key);
  }

  /** Entries as of now, yielded one per microtask; each step fails if the node crashed since. */
  #snapshot<T>(range: KvRange, map: (entry: [string, string]) => T): AsyncIterable<T> {
    let entries: [string, string][] | Error;
    try {
      this.#assert_open();
      entries = this.#disk.entries(this.#life, range);
    } catch (error) {
      entries = error as Error;
    }
    const disk = this.#disk;
    const life = this.#life;
    return {
      async *[Symbol.asyncIterator]() {
        if (entries instanceof Error) throw entries;
        for (const entry of entries) {
          await tick();
          disk.check_life(life);
          yield map(entry);
        }
      },
    };
  }

  #assert_open(): void {
    this.#disk.check_life(this.#life);
    if (this.#status !== 'open') throw new DiskHandleError(`the handle is ${this.#status}, not open`);
  }
}
