/**
 * A local network of validator processes: created by the genesis ceremony if the folder is new,
 * each validator a child process (`cloister node start`), with perturbations for simulations and
 * tests: kill with any signal, restart with another behaviour, stop all cleanly.
 * Readiness is an event: a validator is up when it logs `started` (with its RPC URL) on stdout.
 * @module
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { find_code_root } from '../enclave/measurement.js';
import { init_network } from '../node/init.js';
import type { ProviderName } from '../protocol/provider.js';
import type { NodeBehaviour } from './sim_node.js';

export interface NetworkOptions {
  validators: number;
  dir: string;
  /** RPC port of validator 0; validator i listens on port + i. */
  port: number;
  host?: string;
  chain_id?: string;
  provider?: ProviderName;
  workers?: number;
  behaviours?: Map<number, NodeBehaviour>;
  /** Deadline for one validator to start, ms. */
  start_timeout_ms?: number;
  /**
   * Extra Node.js flags for every validator process (e.g. `--cpu-prof`, which NODE_OPTIONS
   * refuses). Default: the space-separated `CLOISTER_NODE_ARGS` environment variable, if set.
   */
  node_args?: string[];
}

/** A log line a validator printed (JSON lines on stdout). */
export interface NodeEvent {
  index: number;
  event: string;
  [field: string]: unknown;
}

interface Running {
  child: ChildProcess;
  exited: Promise<number | null>;
  url: string;
}

/** A running local network. */
export class LocalNetwork {
  readonly opts: Required<Omit<NetworkOptions, 'behaviours'>> & { behaviours: Map<number, NodeBehaviour> };
  readonly homes: string[];
  readonly #running = new Map<number, Running>();
  readonly #logs = new Map<number, WriteStream>();
  readonly #listeners = new Set<(e: NodeEvent) => void>();

  private constructor(opts: LocalNetwork['opts'], homes: string[]) {
    this.opts = opts;
    this.homes = homes;
  }

  /** Creates the network's folder if new (genesis ceremony), then starts every validator. */
  static async up(options: NetworkOptions): Promise<LocalNetwork> {
    const opts = {
      host: '127.0.0.1',
      chain_id: 'cloister-local-1',
      provider: 'native' as ProviderName,
      workers: 1,
      start_timeout_ms: 60_000,
      node_args: (process.env.CLOISTER_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''),
      ...options,
      behaviours: options.behaviours ?? new Map(),
    };
    let homes: string[];
    if (existsSync(join(opts.dir, 'v0', 'genesis.json'))) {
      homes = readdirSync(opts.dir)
        .filter((d) => /^v\d+$/.test(d))
        .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
        .map((d) => join(opts.dir, d));
      if (homes.length !== opts.validators) {
        throw new Error(`${opts.dir} holds a network of ${homes.length} validators, not ${opts.validators}`);
      }
    } else {
      homes = (
        await init_network({
          dir: opts.dir,
          validators: opts.validators,
          chain_id: opts.chain_id,
          base_port: opts.port,
          host: opts.host,
          provider: opts.provider,
          workers: opts.workers,
        })
      ).homes;
    }
    const network = new LocalNetwork(opts, homes);
    try {
      await Promise.all(homes.map((_, i) => network.start(i)));
    } catch (error) {
      await network.down();
      throw error;
    }
    return network;
  }

  /** RPC URLs of the validators running now, by index. */
  urls(): string[] {
    return this.homes.map((_, i) => this.#running.get(i)?.url ?? '');
  }

  /** Listens to every validator's log events. */
  on_event(fn: (e: NodeEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Resolves with the first event matching `pred` (from now on), or rejects after timeout_ms. */
  wait_for(pred: (e: NodeEvent) => boolean, timeout_ms: number, what = 'event'): Promise<NodeEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`timed out after ${timeout_ms} ms waiting for ${what}`));
      }, timeout_ms);
      const off = this.on_event((e) => {
        if (!pred(e)) return;
        clearTimeout(timer);
        off();
        resolve(e);
      });
    });
  }

  /** Starts validator `i` (again), optionally with another behaviour; resolves once it serves RPC. */
  async start(i: number, behaviour?: NodeBehaviour): Promise<string> {
    if (this.#running.has(i)) throw new Error(`validator ${i} is already running`);
    if (behaviour !== undefined) this.opts.behaviours.set(i, behaviour);
    const home = this.homes[i];
    if (home === undefined) throw new RangeError(`no validator ${i}`);
    let log = this.#logs.get(i);
    if (log === undefined) {
      log = createWriteStream(join(home, 'node.log'), { flags: 'a' });
      this.#logs.set(i, log);
    }
    const args = [...this.opts.node_args, join(find_code_root(), 'bin', 'cloister.js')];
    // Honest validators run exactly what users run; byzantine ones run the simulation entry point.
    const b = this.opts.behaviours.get(i) ?? 'honest';
    if (b === 'honest') args.push('node', 'start', '--home', home);
    else args.push('sim', 'node', '--home', home, '--behaviour', b);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const sink = log;
    // The last lines it printed, to say why it failed if it exits while starting.
    const tail: string[] = [];
    const keep = (line: string) => {
      tail.push(line);
      if (tail.length > 12) tail.shift();
    };
    child.stderr?.on('data', (chunk: Buffer) => {
      sink.write(chunk);
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') keep(line);
    });
    const ready = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`validator ${i} did not start within ${this.opts.start_timeout_ms} ms`)),
        this.opts.start_timeout_ms,
      );
      void exited.then((code) => {
        clearTimeout(timer);
        reject(
          new Error(
            `validator ${i} exited with code ${code} while starting (log: ${join(home, 'node.log')}):\n  ${tail.join('\n  ')}`,
          ),
        );
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        sink.write(`${line}\n`);
        keep(line);
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return;
        }
        const event = { ...parsed, index: i, event: String(parsed.event) } as NodeEvent;
        if (event.event === 'started') {
          clearTimeout(timer);
          resolve(String(event.rpc));
        }
        for (const fn of this.#listeners) fn(event);
      });
    });
    const entry: Running = { child, exited, url: '' };
    this.#running.set(i, entry);
    void exited.then(() => {
      if (this.#running.get(i) === entry) this.#running.delete(i);
    });
    entry.url = await ready;
    return entry.url;
  }

  /** Sends `signal` to validator `i` and resolves when it has exited. */
  async kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const running = this.#running.get(i);
    if (running === undefined) return;
    running.child.kill(signal);
    await running.exited;
  }

  /** Whether validator `i` is running. */
  is_running(i: number): boolean {
    return this.#running.has(i);
  }

  /** Stops every validator with SIGTERM (SIGKILL after grace_ms) and closes the logs. */
  async down(grace_ms = 10_000): Promise<void> {
    await Promise.all(
      [...this.#running.keys()].map(async (i) => {
        const running = this.#running.get(i)!;
        const timer = setTimeout(() => running.child.kill('SIGKILL'), grace_ms);
        running.child.kill('SIGTERM');
        await running.exited;
        clearTimeout(timer);
      }),
    );
    await Promise.all([...this.#logs.values()].map((s) => new Promise<void>((r) => s.end(() => r()))));
    this.#logs.clear();
  }
}
