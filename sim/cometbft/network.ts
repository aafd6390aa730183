/**
 * A local network under CometBFT (docs/cometbft.md, `cloister sim up --engine cometbft`): N
 * Cloister validator processes, each the ABCI application of its own `cometbft` process. The
 * Cloister side is a {@link LocalNetwork} whose homes were made for CometBFT (node/init.ts
 * `engine`); the CometBFT homes live in `<dir>/cometbft/v<i>`, written on first use from the same
 * validator keys (./testnet.ts), so CometBFT's validator set is Cloister's genesis set. Each
 * Cloister process starts first (CometBFT connects to its app once, at start), then its CometBFT.
 * @module
 */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Genesis } from '../../node/genesis.js';
import { home_paths, read_secret_file } from '../../node/home.js';
import { comet_ports } from '../../node/init.js';
import { LocalNetwork, type NetworkOptions, type NodeEvent } from '../network.js';
import type { NodeBehaviour } from '../sim_node.js';
import { type CometProcess, type CometStatus, start_cometbft, wait_rpc } from './process.js';
import { type CometNodeSpec, type CometTimeouts, write_cometbft_testnet } from './testnet.js';

/** What CometBFT logs when +2/3 committed a block it finds invalid (consensus/state.go); it decides no more. */
const CONSENSUS_FAILURE = 'CONSENSUS FAILURE!!!';
/**
 * What it logs, at error level, when a block the others committed carries another app hash than
 * its own: in consensus, or while it catches up (blocksync, which then asks peer after peer for
 * the same block and never gets past it).
 */
const WRONG_APP_HASH = /^E\[.*wrong Block\.Header\.AppHash/;
/** How long a CometBFT node may take to serve RPC after it starts (it replays blocks first). */
const COMET_START_TIMEOUT_MS = 60_000;

export interface CometNetworkOptions extends Omit<NetworkOptions, 'engine'> {
  /** The `cometbft` binary (sim/cometbft/binary.ts `check_cometbft`). */
  cometbft_bin: string;
  /** CometBFT's consensus timeouts (default: ./testnet.ts COMET_LOCAL_TIMEOUTS). */
  comet_timeouts?: CometTimeouts;
}

/** A running local network of Cloister applications under CometBFT. */
export class CometNetwork {
  /** The Cloister validator processes (RPC, enclave, store): its events, urls, kill and start. */
  readonly local: LocalNetwork;
  readonly specs: CometNodeSpec[];
  readonly #bin: string;
  readonly #comet = new Map<number, CometProcess>();
  readonly #on_event: ((e: NodeEvent) => void) | undefined;
  /** Why each validator's CometBFT stopped deciding (its `CONSENSUS FAILURE` line), by index. */
  readonly #halted = new Map<number, string>();
  readonly #halt_waiters = new Map<number, ((reason: string) => void)[]>();

  private constructor(
    local: LocalNetwork,
    specs: CometNodeSpec[],
    bin: string,
    on_event: ((e: NodeEvent) => void) | undefined,
  ) {
    this.local = local;
    this.specs = specs;
    this.#bin = bin;
    this.#on_event = on_event;
  }

  /** Creates the network's folder if new, then starts every validator and its CometBFT node. */
  static async up(opts: CometNetworkOptions): Promise<CometNetwork> {
    const { cometbft_bin, comet_timeouts, ...rest } = opts;
    // Its CometBFT ports are checked free with the others (LocalNetwork.up, engine 'cometbft').
    const local = await LocalNetwork.up({ ...rest, engine: 'cometbft' });
    let network: CometNetwork | null = null;
    try {
      const specs = comet_homes(local, opts.port, comet_timeouts);
      network = new CometNetwork(local, specs, cometbft_bin, opts.on_event);
      const started = network;
      await Promise.all(specs.map((_, i) => started.#start_comet(i)));
      // From now on whoever starts or kills a validator (the control server, the dashboard)
      // starts its CometBFT node after it, or stops it first.
      local.set_companion({
        after_start: (i) => started.#start_comet(i),
        before_kill: (i) => started.#stop_comet(i),
      });
      return network;
    } catch (error) {
      if (network !== null) await network.down();
      else await local.down();
      throw error;
    }
  }

  /** Cloister RPC URLs of the validators running now, by index. */
  urls(): string[] {
    return this.local.urls();
  }

  /** Validator `i`'s CometBFT `/status`. */
  comet_status(i: number): Promise<CometStatus> {
    const running = this.#comet.get(i);
    if (running === undefined) throw new Error(`validator ${i}'s CometBFT is not running`);
    return running.status();
  }

  /** The pids of the CometBFT processes started and not stopped here, by validator index (read-only). */
  comet_pids(): number[] {
    return [...this.#comet.entries()].sort(([a], [b]) => a - b).map(([, c]) => c.pid);
  }

  /** Whether validator `i`'s CometBFT process is running. */
  comet_running(i: number): boolean {
    return this.#comet.get(i)?.running === true;
  }

  /** Resolves when validator `i`'s CometBFT process exits (how it ended). */
  comet_exited(i: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const running = this.#comet.get(i);
    if (running === undefined) throw new Error(`validator ${i}'s CometBFT is not running`);
    return running.exited;
  }

  async #start_comet(i: number): Promise<void> {
    const spec = this.specs[i]!;
    this.#halted.delete(i);
    const process = await start_cometbft(spec, this.#bin, {
      log_file: join(spec.home, 'cometbft.log'),
      on_line: (line) => {
        if (this.#halted.has(i)) return;
        if (line.includes(CONSENSUS_FAILURE) || WRONG_APP_HASH.test(line)) this.#halt(i, line);
      },
    });
    this.#comet.set(i, process);
    await wait_rpc(spec.rpc_url, COMET_START_TIMEOUT_MS);
  }

  /**
   * Validator `i`'s CometBFT stopped deciding: it found +2/3 committed a block it holds invalid
   * (its app's results differ: a wrong app hash). The process lives on, serving RPC, deciding nothing.
   */
  #halt(i: number, line: string): void {
    const reason = /err="([^"]*)"/.exec(line)?.[1] ?? 'CONSENSUS FAILURE';
    // Once: it keeps logging the same refusal.
    this.#halted.set(i, reason);
    this.#on_event?.({ index: i, event: 'halted', level: 'error', reason: `CometBFT: ${reason}` });
    for (const fn of this.#halt_waiters.get(i) ?? []) fn(reason);
    this.#halt_waiters.delete(i);
  }

  /** Resolves with why validator `i`'s CometBFT halted, once it has (at once if it has already). */
  comet_halted(i: number): Promise<string> {
    const known = this.#halted.get(i);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve) => {
      const list = this.#halt_waiters.get(i) ?? [];
      list.push(resolve);
      this.#halt_waiters.set(i, list);
    });
  }

  /** Stops validator `i`: its CometBFT first (SIGTERM), then the application (`signal`). */
  kill(i: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return this.local.kill(i, signal);
  }

  async #stop_comet(i: number): Promise<void> {
    const comet = this.#comet.get(i);
    this.#comet.delete(i);
    await comet?.stop();
  }

  /**
   * Crashes validator `i`'s application (SIGKILL, mid-block if it is executing one); its CometBFT,
   * which loses its app, stops (CometBFT shuts down on a lost ABCI connection; asked with SIGTERM
   * if it has not after `comet_wait_ms`). A restart then replays what CometBFT stored and the
   * application did not commit.
   */
  async crash_app(i: number, comet_wait_ms = 10_000): Promise<void> {
    await this.local.kill_alone(i, 'SIGKILL');
    const comet = this.#comet.get(i);
    this.#comet.delete(i);
    if (comet === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, comet_wait_ms);
    });
    await Promise.race([comet.exited, waited]);
    clearTimeout(timer);
    await comet.stop();
  }

  /**
   * Starts validator `i` again, optionally with another behaviour (sim/sim_node.ts; under CometBFT
   * only the enclave's): the application, then its CometBFT (which replays what it lacks).
   */
  async start(i: number, behaviour?: NodeBehaviour): Promise<void> {
    await this.local.start(i, behaviour);
  }

  /** Stops every CometBFT node, then every application. */
  async down(): Promise<void> {
    await Promise.all([...this.#comet.values()].map((c) => c.stop()));
    this.#comet.clear();
    await this.local.down();
  }
}

/**
 * The CometBFT homes of `local` (written the first time, from its validators' keys and genesis),
 * at the ports node/init.ts gave each validator's `engine` settings.
 */
function comet_homes(
  local: LocalNetwork,
  port: number,
  timeouts: CometTimeouts | undefined,
): CometNodeSpec[] {
  return write_comet_homes({
    dir: local.opts.dir,
    homes: local.homes,
    genesis: local.genesis(),
    port,
    timeouts,
  });
}

/**
 * Writes (or, where written already, keeps and checks) the CometBFT home of each Cloister home in
 * `homes`, made by node/init.ts with `engine: 'cometbft'`, into `<dir>/cometbft/v<i>`: the same
 * validator keys and powers, genesis time and chain id, at the ports `port` gave each validator's
 * `engine` settings (node/init.ts `comet_ports`). Returns where each CometBFT node listens.
 */
export function write_comet_homes(opts: {
  dir: string;
  homes: readonly string[];
  genesis: Genesis;
  port: number;
  timeouts?: CometTimeouts | undefined;
}): CometNodeSpec[] {
  const { genesis } = opts;
  const dir = join(opts.dir, 'cometbft');
  const validators = opts.homes.map((home, i) => ({
    name: `v${i}`,
    secret_key: read_secret_file(home_paths(home).validator_key),
    power: genesis.validators[i]!.power,
  }));
  const base_port = comet_ports(opts.port, 0).rpc;
  const written = existsSync(join(dir, 'v0', 'config', 'genesis.json'));
  const testnet = write_cometbft_testnet({
    dir,
    chain_id: genesis.chain_id,
    validators,
    genesis_time_ms: genesis.genesis_time_ms,
    base_port,
    ...(opts.timeouts === undefined ? {} : { timeouts: opts.timeouts }),
    keep_existing: written,
  });
  // Every Cloister home names, in config.json, where its CometBFT node finds it.
  testnet.nodes.forEach((spec, i) => {
    const config = JSON.parse(readFileSync(home_paths(opts.homes[i]!).config, 'utf8')) as {
      engine?: { abci?: string };
    };
    if (config.engine?.abci !== spec.abci_address)
      throw new Error(
        `v${i}: config.json's engine.abci is not where its CometBFT node looks (${spec.abci_address})`,
      );
  });
  return testnet.nodes;
}
