/**
 * A local network of validator processes: created by the genesis ceremony if the folder is new
 * (a development network unless told otherwise: protocol.md §9, {@link dev_network_lines}),
 * each validator a child process (`cloister node start`), with perturbations for simulations and
 * tests: kill with any signal, restart with another behaviour, pause and resume, stop all cleanly,
 * and a fault manifest's schedule applied by height (`apply_faults`, for `cloister sim up --faults`):
 * signals for crash, restart, pause and resume, each node's admin channel (node/admin.ts) for
 * partitions (`partition`, `heal`: one partition in force for the network, whoever sets it: the
 * manifest or `sim up`'s control server, sim/control_server.ts). Every RPC and p2p port must be
 * free before anything starts (`check_ports_free`). Readiness is an event: a validator is up when it logs `started` (with its RPC URL)
 * on stdout. Validators run with `--log-format json --log-level debug --supervised`: every event
 * as a JSON line (each home's `node.log` keeps them all), a terminal's Ctrl-C left to the process
 * that runs the network, and a validator stops by itself when that process is gone (its stdin, a
 * pipe from here, closes). When a validator process ends, listeners hear one more event, made
 * here: `stopped` (this network stopped it: `kill`, `down`), `exited` (it ended by itself with
 * code 0) or `crashed` (by itself, with another code or a signal), with `code`, `signal` and `log`.
 * @module
 */

import { type ChildProcess, spawn } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  readdirSync,
  readFileSync,
  type WriteStream,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { find_code_root } from '../enclave/measurement.js';
import { admin_call, admin_socket_path } from '../node/admin.js';
import type { Genesis } from '../node/genesis.js';
import { home_paths, read_config } from '../node/home.js';
import { comet_ports, init_network, P2P_PORT_OFFSET } from '../node/init.js';
import {
  DENOM,
  DEV_ACCOUNT_BALANCE,
  dev_accounts,
  FAUCET_AMOUNT_DEFAULT,
  FAUCET_AMOUNT_MAX,
  FAUCET_BALANCE,
  faucet_account,
} from '../protocol/bank.js';
import type { CryptoProvider, ProviderName } from '../protocol/provider.js';
import {
  describe_fault,
  is_byzantine,
  type Manifest,
  simulator_only_faults,
  start_behaviours,
  type TimedFault,
} from './manifest.js';
import type { NodeBehaviour } from './sim_node.js';

export interface NetworkOptions {
  validators: number;
  dir: string;
  /** RPC port of validator 0; validator i listens on port + i. */
  port: number;
  /**
   * p2p port of validator 0 of a new network; validator i listens on p2p_port + i. Default
   * port + 1000. A folder that holds a network keeps the ports it was made with: naming another
   * p2p_port for it is an error.
   */
  p2p_port?: number;
  host?: string;
  chain_id?: string;
  provider?: ProviderName;
  /** Enclave worker threads per validator; default {@link workers_per_validator} of this machine. */
  workers?: number;
  behaviours?: Map<number, NodeBehaviour>;
  /** Deadline for one validator to start, ms. */
  start_timeout_ms?: number;
  /**
   * Extra Node.js flags for every validator process (e.g. `--cpu-prof`, which NODE_OPTIONS
   * refuses). Default: the space-separated `CLOISTER_NODE_ARGS` environment variable, if set.
   */
  node_args?: string[];
  /**
   * A new network is a development network (protocol.md §9: min_gas_price 0, dev0..dev3 and the
   * faucet account funded, `POST /v1/faucet`). Default true. A folder that holds a network keeps its genesis.
   */
  dev?: boolean;
  /** A new network's genesis min_gas_price (default 0; must be 0 when `dev`). */
  min_gas_price?: number;
  /** A new network's extra genesis balances, ucst by address (added to the dev accounts'). */
  balances?: Record<string, number>;
  /**
   * A new network's block pacing (docs/consensus.md "Block pacing"): an empty block this long
   * after the last one (default 0: blocks only when there are transactions)...
   */
  empty_block_interval_ms?: number;
  /** ...or a block every `block_time_ms` whether or not there are transactions (default 0: off). */
  block_time_ms?: number;
  /** Hears every validator's events from the first (`started` included), like {@link LocalNetwork.on_event}. */
  on_event?: (e: NodeEvent) => void;
  /**
   * A new network's consensus engine: Cloister's own (default) or CometBFT, each validator process
   * then its CometBFT node's ABCI application (sim/cometbft/network.ts starts the CometBFT nodes).
   */
  engine?: 'cloister' | 'cometbft';
}

/**
 * A log line a validator printed (JSON lines on stdout: `t`, `level`, `event` and the event's
 * fields), or the end of its process (`stopped`, `exited`, `crashed`: {@link ProcessEnd}).
 */
export interface NodeEvent {
  index: number;
  event: string;
  [field: string]: unknown;
}

/** The event LocalNetwork adds when a validator process ends. */
export interface ProcessEnd extends NodeEvent {
  event: 'stopped' | 'exited' | 'crashed';
  t: number;
  /** Its exit code, null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Its log file. */
  log: string;
}

/** The event a process end is: `stopped` when asked for, else `exited` (code 0) or `crashed`. */
export function process_end_event(
  asked: boolean,
  code: number | null,
  signal: NodeJS.Signals | null,
): ProcessEnd['event'] {
  if (asked) return 'stopped';
  return code === 0 && signal === null ? 'exited' : 'crashed';
}

/** A fault of a manifest that {@link LocalNetwork.apply_faults} applied. */
export interface AppliedFault {
  fault: TimedFault;
  /** The highest height an honest validator had committed when the fault became due. */
  height: number;
  /** The fault in words (describe_fault), e.g. `height 50: partition [0,1] [2,3]`. */
  line: string;
}

/** A manifest's schedule being applied to a running network. */
export interface FaultRun {
  /**
   * Resolves true once every timed fault has applied, false if stopped first (`stop`, `down`);
   * rejects with the reason if a fault could not be applied (the schedule stops there).
   */
  readonly done: Promise<boolean>;
  /** Stops applying: faults not applied yet never are. Idempotent. */
  stop(): void;
}

/**
 * The flags every validator process runs with: every event as JSON (what this module reads and
 * each `node.log` keeps), and supervised (module comment).
 */
const SUPERVISED_LOG = ['--log-format', 'json', '--log-level', 'debug', '--supervised'];

/** How long a fault waits for a node's admin channel to answer, ms. */
const ADMIN_CALL_TIMEOUT_MS = 10_000;

interface Running {
  child: ChildProcess;
  exited: Promise<number | null>;
  url: string;
  /** This network sent the signal that ends it (`kill`, `down`). */
  asked: boolean;
}

/** A running local network. */
/**
 * Enclave workers each of `validators` validators on this machine gets by default: the cores this
 * process may run on (its CPU affinity, so `taskset` counts), shared out, at least one. With two or
 * more, a validator stages each block over its workers (enclave/speculate.ts); with one (4
 * validators on 2 cores) it runs blocks on that one worker, since staging costs CPU that cores
 * already busy with other validators cannot spare.
 */
export function workers_per_validator(validators: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / Math.max(1, validators)));
}

export class LocalNetwork {
  readonly opts: Required<Omit<NetworkOptions, 'behaviours' | 'on_event' | 'p2p_port'>> & {
    behaviours: Map<number, NodeBehaviour>;
  };
  readonly homes: string[];
  readonly #running = new Map<number, Running>();
  readonly #logs = new Map<number, WriteStream>();
  readonly #listeners = new Set<(e: NodeEvent) => void>();
  /** Validators stopped by SIGSTOP (pause) and not continued since. */
  readonly #paused = new Set<number>();
  /** Stops of the fault runs in progress. */
  readonly #fault_runs = new Set<() => void>();
  /** The partition in force (groups of validator indices; one not listed is alone), null when none. */
  #groups: number[][] | null = null;
  /** Validators that may not have the partition in force (or its heal) yet: down or paused when it changed. */
  readonly #behind = new Set<number>();
  /** The validators' public keys, by index (read from genesis once needed). */
  #pubkeys: string[] | null = null;
  /** What starts and stops with each validator ({@link set_companion}), null when nothing. */
  #companion: {
    after_start: (i: number) => Promise<void>;
    before_kill: (i: number) => Promise<void>;
  } | null = null;

  private constructor(opts: LocalNetwork['opts'], homes: string[]) {
    this.opts = opts;
    this.homes = homes;
  }

  /**
   * Creates the network's folder if new (genesis ceremony), then starts every validator. Before
   * anything is written or started, every RPC and p2p port the validators will listen on must be
   * free ({@link check_ports_free}): a port in use is an error that names it.
   */
  static async up(options: NetworkOptions): Promise<LocalNetwork> {
    const { on_event, p2p_port, ...rest } = options;
    const opts = {
      host: '127.0.0.1',
      chain_id: 'cloister-local-1',
      provider: 'native' as ProviderName,
      start_timeout_ms: 60_000,
      node_args: (process.env.CLOISTER_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''),
      dev: true,
      min_gas_price: 0,
      balances: {},
      empty_block_interval_ms: 0,
      block_time_ms: 0,
      engine: 'cloister' as const,
      ...rest,
      workers: options.workers ?? workers_per_validator(options.validators),
      behaviours: options.behaviours ?? new Map(),
    };
    let homes: string[];
    const existing = network_ports(opts.dir);
    if (existing !== null) {
      homes = existing.homes;
      if (homes.length !== opts.validators) {
        throw new Error(`${opts.dir} holds a network of ${homes.length} validators, not ${opts.validators}`);
      }
      const first = existing.ports.find((x) => x.what === 'v0 p2p')?.port;
      if (p2p_port !== undefined && first !== p2p_port) {
        throw new Error(
          `${opts.dir} holds a network whose p2p ports start at ${first}, not ${p2p_port}: a network keeps the ports it was made with`,
        );
      }
      await check_ports_free(existing.ports);
    } else {
      const p2p = p2p_port ?? opts.port + P2P_PORT_OFFSET;
      const n = opts.validators;
      if (!Number.isInteger(p2p) || p2p < 1 || p2p + n - 1 > 65535)
        throw new RangeError(`p2p port ${p2p}: validator ports ${p2p}..${p2p + n - 1} must lie in 1..65535`);
      if (p2p < opts.port + n && opts.port < p2p + n) {
        throw new RangeError(
          `p2p ports ${p2p}..${p2p + n - 1} overlap the RPC ports ${opts.port}..${opts.port + n - 1}`,
        );
      }
      await check_ports_free(
        Array.from({ length: n }, (_, i) => [
          { host: opts.host, port: opts.port + i, what: `v${i} RPC` },
          { host: opts.host, port: p2p + i, what: `v${i} p2p` },
          ...(opts.engine === 'cometbft'
            ? comet_named_ports(opts.host, comet_ports(opts.port, i).rpc, i)
            : []),
        ]).flat(),
      );
      homes = (
        await init_network({
          dir: opts.dir,
          validators: opts.validators,
          chain_id: opts.chain_id,
          base_port: opts.port,
          host: opts.host,
          provider: opts.provider,
          workers: opts.workers,
          dev: opts.dev,
          min_gas_price: opts.min_gas_price,
          balances: opts.balances,
          empty_block_interval_ms: opts.empty_block_interval_ms,
          block_time_ms: opts.block_time_ms,
          engine: opts.engine,
        })
      ).homes;
      if (p2p !== opts.port + P2P_PORT_OFFSET) set_p2p_ports(homes, p2p);
    }
    const network = new LocalNetwork(opts, homes);
    if (on_event !== undefined) network.on_event(on_event);
    try {
      await Promise.all(homes.map((_, i) => network.start(i)));
    } catch (error) {
      await network.down();
      throw error;
    }
    return network;
  }

  /** The network's genesis (validator 0's genesis.json; every home holds the same). */
  genesis(): Genesis {
    return JSON.parse(readFileSync(join(this.homes[0]!, 'genesis.json'), 'utf8')) as Genesis;
  }

  /** RPC URLs of the validators running now, by index. */
  urls(): string[] {
    return this.homes.map((_, i) => this.#running.get(i)?.url ?? '');
  }

  /** The process id of validator `i`, if it runs. */
  pid(i: number): number | undefined {
    return this.#running.get(i)?.child.pid;
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
    if (b === 'honest') args.push('node', 'start', '--home', home, ...SUPERVISED_LOG);
    else {
      args.push('sim', 'node', '--home', home, ...SUPERVISED_LOG, '--behaviour', b);
      // Fellow equivocators collude (sim_node.ts): all of them split the honest validators alike.
      const fellows = [...this.opts.behaviours].filter(([j, x]) => j !== i && x === b).map(([j]) => j);
      if (b.startsWith('equivocate') && fellows.length > 0)
        args.push('--colluders', fellows.sort((x, y) => x - y).join(','));
    }
    // stdin is a pipe nothing is written to: it closes when this process ends, however it ends,
    // and the validator (--supervised) then stops.
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin?.on('error', () => {});
    // 'close', not 'exit': once it resolves, every line the process printed has been read (and heard).
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal })),
    );
    const exited = ended.then(({ code }) => code);
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
          event.pid = child.pid;
          clearTimeout(timer);
          resolve(String(event.rpc));
        }
        for (const fn of this.#listeners) fn(event);
      });
    });
    const entry: Running = { child, exited, url: '', asked: false };
    this.#running.set(i, entry);
    void ended.then(({ code, signal }) => {
      if (this.#running.get(i) === entry) {
        this.#running.delete(i);
        this.#paused.delete(i);
      }
      const end: ProcessEnd = {
        index: i,
        t: Date.now(),
        event: process_end_event(entry.asked, code, signal),
        code,
        signal,
        log: join(home, 'node.log'),
      };
      for (const fn of this.#listeners) fn(end);
    });
    entry.url = await ready;
    await this.#companion?.after_start(i);
    // A new process has no filter: it needs the partition in force, not a heal.
    if (this.#groups === null) this.#behind.delete(i);
    else await this.#send_partition(i);
    return entry.url;
  }

  /**
   * What else runs with each validator process (sim/cometbft/network.ts: its CometBFT node):
   * `after_start` once a validator serves RPC, `before_kill` before it is sent a signal, so that
   * whoever starts or kills a validator (the control server, the dashboard, a fault schedule)
   * starts or stops both. Set once.
   */
  set_companion(hooks: {
    after_start: (i: number) => Promise<void>;
    before_kill: (i: number) => Promise<void>;
  }): void {
    if (this.#companion !== null) throw new Error('a companion is set already');
    this.#companion = hooks;
  }

  /** Sends `signal` to validator `i` and resolves when it has exited (a paused one is continued to take it). */
  async kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const running = this.#running.get(i);
    if (running === undefined) return;
    await this.#companion?.before_kill(i);
    await this.kill_alone(i, signal);
  }

  /** {@link kill} without the companion: validator `i`'s process alone (a crash its companion sees happen). */
  async kill_alone(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const running = this.#running.get(i);
    if (running === undefined) return;
    running.asked = true;
    running.child.kill(signal);
    this.#continue(i);
    await running.exited;
  }

  /** Whether validator `i` is running (paused included). */
  is_running(i: number): boolean {
    return this.#running.has(i);
  }

  /** Stops validator `i` where it is (SIGSTOP): it keeps its memory, and neither sends nor answers. */
  pause(i: number): void {
    const running = this.#running.get(i);
    if (running === undefined) throw new Error(`validator ${i} is not running`);
    if (this.#paused.has(i)) throw new Error(`validator ${i} is paused already`);
    running.child.kill('SIGSTOP');
    this.#paused.add(i);
  }

  /**
   * Lets a paused validator `i` run on (SIGCONT); resolves once it has the partition in force (or
   * its heal) if that changed while it was paused.
   */
  async resume(i: number): Promise<void> {
    if (!this.#paused.has(i)) throw new Error(`validator ${i} is not paused`);
    this.#continue(i);
    if (this.#behind.has(i)) await this.#send_partition(i);
  }

  /** Whether validator `i` is paused. */
  is_paused(i: number): boolean {
    return this.#paused.has(i);
  }

  /** SIGCONT to `i` if it is paused. */
  #continue(i: number): void {
    if (!this.#paused.delete(i)) return;
    this.#running.get(i)?.child.kill('SIGCONT');
  }

  /** The partition in force: groups of validator indices (one not listed is alone), or null. */
  partition_groups(): number[][] | null {
    return this.#groups === null ? null : this.#groups.map((g) => [...g]);
  }

  /**
   * Splits the network into `groups` (validator indices; one not listed is isolated), replacing
   * the partition in force: each running validator's admin channel (node/admin.ts) gets the peers
   * of its own group; a validator down or paused gets it once started or resumed. Throws a
   * RangeError for groups that do not split the network ({@link partition_problem}).
   */
  async partition(groups: readonly (readonly number[])[]): Promise<void> {
    const problem = partition_problem(groups, this.homes.length);
    if (problem !== null) throw new RangeError(problem);
    await this.#set_partition(groups.map((g) => [...g]));
  }

  /** Ends the partition in force (an error if none is): every validator reaches every other again. */
  async heal(): Promise<void> {
    if (this.#groups === null) throw new Error('no partition is in force');
    await this.#set_partition(null);
  }

  /** Puts `groups` in force (null: none) and sends it to every validator that can take it now. */
  async #set_partition(groups: number[][] | null): Promise<void> {
    this.#groups = groups;
    for (let i = 0; i < this.homes.length; i++) this.#behind.add(i);
    await Promise.all(
      this.homes.map((_, i) =>
        this.is_running(i) && !this.is_paused(i) ? this.#send_partition(i) : undefined,
      ),
    );
  }

  /** Sends validator `i` the partition in force (its group's peers) or, with none, a heal. */
  async #send_partition(i: number): Promise<void> {
    this.#pubkeys ??= this.genesis().validators.map((v) => v.pubkey);
    const pubkeys = this.#pubkeys;
    const socket = admin_socket_path(this.homes[i]!);
    const group = this.#groups?.find((g) => g.includes(i)) ?? (this.#groups === null ? undefined : [i]);
    try {
      if (group === undefined) await admin_call(socket, { cmd: 'heal' }, ADMIN_CALL_TIMEOUT_MS);
      else {
        const allow = group.filter((j) => j !== i).map((j) => pubkeys[j]!);
        await admin_call(socket, { cmd: 'partition', allow }, ADMIN_CALL_TIMEOUT_MS);
      }
    } catch (error) {
      throw new Error(
        `validator ${i}: admin ${group === undefined ? 'heal' : 'partition'} failed: ${(error as Error).message}`,
      );
    }
    this.#behind.delete(i);
  }

  /**
   * Applies a fault manifest's timed faults to the running validators, in the manifest's order: a
   * fault becomes due once any honest validator logs `committed` for its `at_height` or above
   * (from now on) and the fault before it has applied, and applies `after_ms` later. crash →
   * SIGKILL; restart → start again (resolves once it serves RPC); pause → SIGSTOP; resume →
   * SIGCONT; partition → each running validator's admin channel `partition`, allowing the peers of
   * its own group; heal → admin `heal` on each. A validator crashed or paused when a partition or
   * heal applies gets it once restarted or resumed (a restarted one may send for the moment
   * between its start and that call).
   *
   * Throws at once if the manifest is for another number of validators, holds a fault only the
   * simulator can apply (simulator_only_faults), or names byzantine behaviours from height 1 other
   * than those the validators were started with. `on_applied` hears each fault once applied.
   */
  apply_faults(manifest: Manifest, on_applied: (applied: AppliedFault) => void = () => {}): FaultRun {
    if (manifest.validators !== this.homes.length) {
      throw new Error(
        `the manifest is for ${manifest.validators} validators, the network has ${this.homes.length}`,
      );
    }
    const only_sim = simulator_only_faults(manifest);
    if (only_sim.length > 0) {
      throw new Error(
        `these faults exist only in \`cloister sim run\` (real processes cannot change them at run time): ${only_sim.join('; ')}`,
      );
    }
    const wanted = start_behaviours(manifest);
    for (let i = 0; i < this.homes.length; i++) {
      const runs = String(this.opts.behaviours.get(i) ?? 'honest');
      const should = wanted.get(i) ?? 'honest';
      if (runs !== should) {
        throw new Error(`validator ${i} runs as ${runs}, but the manifest makes it ${should} from height 1`);
      }
    }
    const faults = manifest.faults;
    let top = 0;
    let next = 0;
    let pumping = false;
    let stopped = false;
    let cancel_wait: (() => void) | null = null;
    let settle: (all: boolean) => void = () => {};
    let fail: (error: unknown) => void = () => {};
    const done = new Promise<boolean>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    const apply = async (f: TimedFault) => {
      const a = f.action;
      switch (a.kind) {
        case 'crash':
          await this.kill(a.validator, 'SIGKILL');
          return;
        case 'restart':
          // start sends a new process the partition in force.
          await this.start(a.validator);
          return;
        case 'pause':
          this.pause(a.validator);
          return;
        case 'resume':
          await this.resume(a.validator);
          return;
        case 'partition':
          await this.#set_partition(a.groups.map((g) => [...g]));
          return;
        case 'heal':
          // The manifest's schedule checked a partition is in force; one healed by hand (`sim heal`)
          // meanwhile is no reason to stop.
          await this.#set_partition(null);
          return;
        default:
          // simulator_only_faults refused every other kind above.
          throw new Error(`real processes cannot apply ${describe_fault(f)}`);
      }
    };
    const wait = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        cancel_wait = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    const pump = async () => {
      while (!stopped && next < faults.length && faults[next]!.at_height <= top) {
        const f = faults[next]!;
        const height = top;
        if (f.after_ms > 0) await wait(f.after_ms);
        cancel_wait = null;
        if (stopped) break;
        await apply(f);
        next++;
        on_applied({ fault: f, height, line: describe_fault(f) });
      }
      pumping = false;
      if (!stopped && next === faults.length) finish(true);
    };
    const off = this.on_event((e) => {
      if (e.event !== 'committed' || typeof e.height !== 'number' || e.height <= top) return;
      if (is_byzantine(manifest, e.index, e.height)) return;
      top = e.height;
      if (pumping) return;
      pumping = true;
      pump().catch((error: unknown) => finish(error));
    });
    /** Ends the run: true (all applied), false (stopped), or the error that stopped it. */
    const finish = (outcome: unknown) => {
      if (stopped) return;
      stopped = true;
      off();
      cancel_wait?.();
      this.#fault_runs.delete(stop);
      if (typeof outcome === 'boolean') settle(outcome);
      else fail(outcome);
    };
    const stop = () => finish(false);
    this.#fault_runs.add(stop);
    if (faults.length === 0) finish(true);
    return { done, stop };
  }

  /** Stops every validator with SIGTERM (SIGKILL after grace_ms) and closes the logs. */
  async down(grace_ms = 10_000): Promise<void> {
    for (const stop of [...this.#fault_runs]) stop();
    await Promise.all(
      [...this.#running.keys()].map(async (i) => {
        const running = this.#running.get(i)!;
        const timer = setTimeout(() => running.child.kill('SIGKILL'), grace_ms);
        running.asked = true;
        running.child.kill('SIGTERM');
        // A paused validator takes its SIGTERM once continued.
        this.#continue(i);
        await running.exited;
        clearTimeout(timer);
      }),
    );
    await Promise.all([...this.#logs.values()].map((s) => new Promise<void>((r) => s.end(() => r()))));
    this.#logs.clear();
  }
}

/** A port a network listens on, named for messages (`v1 RPC`, `v1 p2p`, `control`). */
export interface NamedPort {
  host: string;
  port: number;
  what: string;
}

/**
 * Validator `i`'s CometBFT ports in a local network (node/init.ts `comet_ports`: RPC, then p2p
 * and ABCI right above it), from its CometBFT RPC port.
 */
export function comet_named_ports(host: string, rpc: number, i: number): NamedPort[] {
  return [
    { host, port: rpc, what: `v${i} CometBFT RPC` },
    { host, port: rpc + 1, what: `v${i} CometBFT p2p` },
    { host, port: rpc + 2, what: `v${i} ABCI` },
  ];
}

/**
 * The homes of the network `dir` holds and every port its validators listen on (from their
 * config.json), or null when `dir` holds no network (no `v0/genesis.json`).
 */
export function network_ports(dir: string): { homes: string[]; ports: NamedPort[] } | null {
  if (!existsSync(join(dir, 'v0', 'genesis.json'))) return null;
  const homes = readdirSync(dir)
    .filter((d) => /^v\d+$/.test(d))
    .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
    .map((d) => join(dir, d));
  const ports = homes.flatMap((home, i) => {
    const config = read_config(home);
    if (config.engine?.kind === 'cometbft')
      return [
        { ...config.rpc, what: `v${i} RPC` },
        ...comet_named_ports(config.rpc.host, Number(new URL(config.engine.rpc).port), i),
      ];
    return [
      { ...config.rpc, what: `v${i} RPC` },
      { ...config.p2p, what: `v${i} p2p` },
    ];
  });
  return { homes, ports };
}

/**
 * Moves a new network's p2p ports (init_network gives validator i RPC port + 1000 + i) to
 * `p2p_port + i`: each home's own p2p port and its peers' ports, peers found by public key.
 */
function set_p2p_ports(homes: readonly string[], p2p_port: number): void {
  const genesis = JSON.parse(readFileSync(join(homes[0]!, 'genesis.json'), 'utf8')) as Genesis;
  const index = new Map(genesis.validators.map((v, i) => [v.pubkey, i]));
  homes.forEach((home, i) => {
    const config = read_config(home);
    config.p2p.port = p2p_port + i;
    config.peers = config.peers.map((peer) => {
      const j = index.get(peer.pubkey);
      if (j === undefined) throw new Error(`${home}: peer ${peer.pubkey} is not a genesis validator`);
      return { ...peer, port: p2p_port + j };
    });
    writeFileSync(home_paths(home).config, `${JSON.stringify(config, null, 2)}\n`);
  });
}

/**
 * Whether `port` on `host` can be listened on now: a short listen-and-close. Resolves null when
 * free, else why not (`in use`, or the system's error code).
 */
export function probe_port(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      resolve(
        error.code === 'EADDRINUSE' ? 'is in use' : `cannot be listened on (${error.code ?? error.message})`,
      ),
    );
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

/**
 * Checks that every port in `ports` can be listened on; throws an Error naming each that cannot,
 * e.g. `port 26658 (v1 RPC) is in use`.
 */
export async function check_ports_free(ports: readonly NamedPort[]): Promise<void> {
  const answers = await Promise.all(ports.map((p) => probe_port(p.host, p.port)));
  const bad = ports.flatMap((p, k) =>
    answers[k] === null ? [] : [`port ${p.port} (${p.what}) ${answers[k]}`],
  );
  if (bad.length > 0)
    throw new Error(
      `${bad.join('; ')}: stop what listens there, or choose other ports (nothing was started)`,
    );
}

/**
 * Why `groups` is not a partition of `validators` validators (null when it is): each group a
 * non-empty array of indices 0..validators − 1, no index in two groups, and not one group of
 * everyone (that is no partition). A validator not listed is alone in its own group.
 */
export function partition_problem(groups: unknown, validators: number): string | null {
  if (!Array.isArray(groups) || groups.length === 0)
    return 'a partition is a non-empty list of groups of validator indices, e.g. [[0,1],[2,3]]';
  const seen = new Map<number, number>();
  for (let g = 0; g < groups.length; g++) {
    const group: unknown = groups[g];
    if (!Array.isArray(group) || group.length === 0)
      return `group ${g} must be a non-empty list of validator indices`;
    for (const i of group) {
      if (!Number.isInteger(i) || (i as number) < 0 || (i as number) >= validators)
        return `group ${g}: ${JSON.stringify(i)} is not a validator (validators 0..${validators - 1})`;
      const before = seen.get(i as number);
      if (before !== undefined) return `group ${g}: validator ${i} is already in group ${before}`;
      seen.set(i as number, g);
    }
  }
  if (groups.length === 1 && seen.size === validators)
    return 'one group of every validator is no partition (heal ends one)';
  return null;
}

/**
 * What a new user of a development network needs to see (protocol.md §9): the funded development
 * accounts, the faucet account, and how to ask the faucet of `urls[0]` for tokens. Lines to print;
 * empty when `genesis` is not a development network's.
 */
export function dev_network_lines(
  p: CryptoProvider,
  genesis: Pick<Genesis, 'dev' | 'balances'>,
  urls: readonly string[],
): string[] {
  if (genesis.dev !== true) return [];
  const balance = (address: string, fallback: number) => genesis.balances?.[address] ?? fallback;
  const faucet = faucet_account(p);
  const url = urls.find((u) => u !== '') ?? 'http://127.0.0.1:26657';
  return [
    `development network: min_gas_price 0; funded at genesis (their keys are public: local use only):`,
    ...dev_accounts(p).map(
      (a) => `  ${a.name.padEnd(7)}${a.address}  ${balance(a.address, DEV_ACCOUNT_BALANCE)} ${DENOM}`,
    ),
    `  ${'faucet'.padEnd(7)}${faucet.address}  ${balance(faucet.address, FAUCET_BALANCE)} ${DENOM} (what POST /v1/faucet sends)`,
    `sign as dev0..dev3: cloister keys import-dev`,
    `faucet (${FAUCET_AMOUNT_DEFAULT} ${DENOM} by default, at most ${FAUCET_AMOUNT_MAX} a request, on every validator):`,
    `  cloister faucet ADDRESS --node ${url}`,
    `  curl -X POST ${url}/v1/faucet -H 'content-type: application/json' -d '{"address": "ADDRESS", "amount": ${FAUCET_AMOUNT_DEFAULT}}'`,
  ];
}
