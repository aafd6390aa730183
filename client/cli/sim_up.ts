/**
 * `cloister sim up`: N validator processes on loopback, steered while they run. Besides the
 * validators it starts a load generator (idle unless `--load R`), the control server
 * (sim/control_server.ts, token in `DIR/control.json`) and the live dashboard
 * (sim/dashboard/server.ts) unless `--no-dashboard`, and prints each validator's important events.
 * @module
 */

import { readFileSync, statSync } from 'node:fs';
import type { Argv } from 'yargs';
import { read_config } from '../../node/home.js';
import { get_provider } from '../../protocol/providers/index.js';
import { COMETBFT_INSTALL_COMMAND, COMETBFT_VERSION, check_cometbft } from '../../sim/cometbft/binary.js';
import { CometNetwork } from '../../sim/cometbft/network.js';
import { control_file_path, pid_alive } from '../../sim/control_server.js';
import { check_load_rate, LoadGenerator } from '../../sim/load_generator.js';
import {
  MANIFEST_LIMITS,
  type Manifest,
  ManifestError,
  parse_manifest,
  simulator_only_faults,
  stall_reason,
  start_behaviours,
  unsafe_reason,
} from '../../sim/manifest.js';
import {
  dev_network_lines,
  LocalNetwork,
  type NodeEvent,
  network_ports,
  probe_port,
} from '../../sim/network.js';
import { BEHAVIOURS, type NodeBehaviour } from '../../sim/sim_node.js';
import { EarlyEvents, type Steering, start_steering } from '../../sim/steering.js';
import { fail } from './exit.js';
import {
  format_human,
  format_json,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
  sim_up_shows,
  use_color,
} from './log_format.js';
import { PACING_OPTIONS, pacing_flags } from './pacing.js';

/**
 * Reads and checks `sim up --faults FILE` for `validators` real processes; exits 2 naming the
 * problem. Returns the manifest and the `--byzantine` values its from-height-1 faults stand for.
 */
function read_faults(file: string, validators: number): { manifest: Manifest; byzantine: string[] } {
  let manifest: Manifest;
  try {
    // A file past the cap is refused before it is read whole.
    const size = statSync(file).size;
    if (size > MANIFEST_LIMITS.bytes_max) {
      throw new ManifestError(
        'manifest',
        `${size} bytes, more than the ${MANIFEST_LIMITS.bytes_max} allowed`,
      );
    }
    manifest = parse_manifest(readFileSync(file), { validators });
  } catch (error) {
    fail(`${file}: ${(error as Error).message}`, 2);
  }
  const only_sim = simulator_only_faults(manifest);
  if (only_sim.length > 0) {
    fail(
      `${file}: real processes cannot change these at run time; they exist only in \`cloister sim run\`:\n  ${only_sim.join('\n  ')}`,
      2,
    );
  }
  return { manifest, byzantine: [...start_behaviours(manifest)].map(([i, b]) => `${i}:${b}`) };
}

/**
 * What `sim up` does with each validator event: prints the ones {@link sim_up_shows} picks, as a
 * line in `format` on stdout, named `v<index>`.
 */
function event_printer(format: LogFormat, level: LogLevel | undefined): (e: NodeEvent) => void {
  const color = use_color(process.stdout, process.env);
  return (e) => {
    if (!sim_up_shows(e.event, level)) return;
    const line = sim_up_line(e, format, color);
    process.stdout.write(`${line}\n`);
  };
}

/** The line `sim up` prints for validator event `e` (no newline). */
export function sim_up_line(e: NodeEvent, format: LogFormat, color = false): string {
  const { index, event, t, level: _level, ...fields } = e;
  const entry = { t: typeof t === 'number' ? t : Date.now(), node: `v${index}`, event, fields };
  return format === 'json' ? format_json(entry, true) : format_human(entry, { color });
}

/** Parses `I:BEHAVIOUR` flags. */
export function parse_byzantine(values: readonly string[], validators: number): Map<number, NodeBehaviour> {
  const out = new Map<number, NodeBehaviour>();
  for (const value of values) {
    const m = /^(\d+):([a-z-]+)$/.exec(value);
    if (m === null) throw new TypeError(`--byzantine takes INDEX:BEHAVIOUR, got "${value}"`);
    const index = Number(m[1]);
    const behaviour = m[2] as NodeBehaviour;
    if (index >= validators)
      throw new RangeError(`--byzantine ${value}: validator indices count from 0 to ${validators - 1}`);
    if (!BEHAVIOURS.includes(behaviour) || behaviour === 'honest') {
      throw new TypeError(`--byzantine ${value}: behaviour must be one of ${BEHAVIOURS.slice(1).join(', ')}`);
    }
    out.set(index, behaviour);
  }
  return out;
}

/** Adds `--validators … --log-level` to `sim up`. */
function sim_up_options(c: Argv) {
  return c
    .option('validators', { type: 'number', default: 4 })
    .option('dir', {
      type: 'string',
      demandOption: true,
      describe: 'network folder (created by the genesis ceremony if new)',
    })
    .option('port', {
      type: 'number',
      describe: 'RPC port of validator 0 (default 26657); validator i uses port+i',
    })
    .option('p2p-port', {
      type: 'number',
      describe:
        'p2p port of validator 0 (default: --port + 1000); validator i uses p2p-port+i. A folder that holds a network keeps its ports',
    })
    .option('empty-block-interval', PACING_OPTIONS['empty-block-interval'])
    .option('block-time', PACING_OPTIONS['block-time'])
    .option('load', {
      type: 'number',
      default: 0,
      describe:
        'send this many encrypted transactions a second (counter and echo contracts, both envelope schemes) round-robin to the validators that are up; change it while it runs with `sim load` or the dashboard (0: idle)',
    })
    .option('dashboard', {
      type: 'boolean',
      default: true,
      describe:
        'serve the live dashboard on 127.0.0.1 and print its URL (the #token=… part lets it steer); --no-dashboard: none',
    })
    .option('dashboard-port', {
      type: 'number',
      describe: 'port of the dashboard on 127.0.0.1 (default: one the system chooses)',
    })
    .option('control-port', {
      type: 'number',
      describe:
        'port of the control server on 127.0.0.1 (`sim status|kill|…`; default: one the system chooses)',
    })
    .option('byzantine', {
      type: 'string',
      array: true,
      default: [] as string[],
      describe: `INDEX:BEHAVIOUR, behaviour one of ${BEHAVIOURS.slice(1).join(', ')} (docs/simulator.md)`,
    })
    .option('provider', { choices: ['native', 'noble'] as const, default: 'native' as const })
    .option('engine', {
      choices: ['cloister', 'cometbft'] as const,
      default: 'cloister' as const,
      describe: `consensus engine: Cloister's own, or CometBFT v${COMETBFT_VERSION} with each validator its ABCI application (docs/cometbft.md; needs \`${COMETBFT_INSTALL_COMMAND}\`)`,
    })
    .option('workers', {
      type: 'number',
      describe:
        'enclave worker threads per validator (default: the cores this process may use, shared out, at least 1); with 2 or more a validator stages each block over them',
    })
    .option('faults', {
      type: 'string',
      describe:
        'fault manifest (docs/simulator.md "Fault manifest"): crash, restart, pause, resume, partition and heal by height; byzantine from height 1',
    })
    .option('log-format', {
      choices: LOG_FORMATS,
      default: 'human' as LogFormat,
      describe: "the validators' event lines: human (time, validator, level, event, fields) or json",
    })
    .option('log-level', {
      choices: LOG_LEVELS,
      describe:
        "print every validator event at this level or above (default: started, stopped, crashed, exited, synced, caught up, evidence, and errors such as halted); each validator's node.log keeps them all",
    });
}

/** Behaviours that live in the enclave decorator alone (sim/byzantine.ts): the ones CometBFT mode runs. */
const ENCLAVE_BEHAVIOURS: ReadonlySet<NodeBehaviour> = new Set<NodeBehaviour>([
  'wrong-results',
  'wrong-results-some',
  'forge-callee',
]);

type SimUpArgs = Awaited<ReturnType<typeof sim_up_options>['argv']>;

/**
 * Refuses, before anything starts: a folder a live `sim up` runs already, a `--port` other than
 * the folder's network's, a busy control or dashboard port, a bad `--load`.
 */
async function preflight(argv: SimUpArgs): Promise<void> {
  const control_path = control_file_path(argv.dir);
  try {
    const { pid } = JSON.parse(readFileSync(control_path, 'utf8')) as { pid?: unknown };
    if (typeof pid === 'number' && pid_alive(pid))
      fail(`a \`sim up\` (pid ${pid}) runs for ${argv.dir} already (${control_path})`);
  } catch {
    // No control file (or not one a live sim up wrote): nothing runs for this folder.
  }
  const existing = network_ports(argv.dir);
  const home0 = existing?.homes[0];
  if (home0 !== undefined) {
    const engine = read_config(home0).engine?.kind ?? 'cloister';
    if (engine !== argv.engine)
      fail(
        `${argv.dir} holds a network under the ${engine} engine, not ${argv.engine} (give --engine ${engine}, or use a new --dir)`,
      );
  }
  const v0_rpc = existing?.ports.find((x) => x.what === 'v0 RPC')?.port;
  if (argv.port !== undefined && v0_rpc !== undefined && argv.port !== v0_rpc) {
    fail(
      `${argv.dir} holds a network whose RPC ports start at ${v0_rpc}, not ${argv.port}: a network keeps the ports it was made with (drop --port, or use a new --dir)`,
    );
  }
  for (const [what, port] of [
    ['control', argv['control-port']],
    ['dashboard', argv.dashboard ? argv['dashboard-port'] : undefined],
  ] as const) {
    if (port === undefined) continue;
    const why = await probe_port('127.0.0.1', port);
    if (why !== null) fail(`port ${port} (${what}) ${why} (nothing was started)`);
  }
  try {
    check_load_rate(argv.load);
  } catch (error) {
    fail(`--load: ${(error as Error).message}`, 2);
  }
}

/** The validators a `sim up` runs, and how to stop them all. */
interface Started {
  network: LocalNetwork;
  down: () => Promise<void>;
  /** Lines to print after `ready` (where the CometBFT nodes are). */
  lines: string[];
}

/**
 * Under CometBFT: the validators and their CometBFT nodes. Fault manifests and the byzantine
 * behaviours of Cloister's p2p and consensus do not apply (CometBFT runs those): refused, exit 2.
 */
async function start_comet_network(
  argv: SimUpArgs,
  behaviours: Map<number, NodeBehaviour>,
  on_event: (e: NodeEvent) => void,
): Promise<Started> {
  if (argv.faults !== undefined) fail("--faults applies to Cloister's engine only, not --engine cometbft", 2);
  for (const [i, b] of behaviours) {
    if (!ENCLAVE_BEHAVIOURS.has(b))
      fail(
        `--byzantine ${i}:${b}: under --engine cometbft only enclave behaviours apply (${[...ENCLAVE_BEHAVIOURS].join(', ')})`,
        2,
      );
  }
  const check = check_cometbft();
  if (!check.ok) fail(check.error);
  const comet = await CometNetwork.up({
    validators: argv.validators,
    dir: argv.dir,
    port: argv.port ?? 26657,
    behaviours,
    provider: argv.provider,
    workers: argv.workers,
    on_event,
    cometbft_bin: check.bin,
  });
  const lines = [
    `cometbft v${check.version} ${comet.specs.map((s) => s.rpc_url).join(' ')} (homes and logs in ${argv.dir}/cometbft)`,
  ];
  return { network: comet.local, down: () => comet.down(), lines };
}

/** Starts the validators, byzantine ones as asked; exits naming what went wrong. */
async function start_network(
  argv: SimUpArgs,
  faults: { byzantine: string[] } | null,
  on_event: (e: NodeEvent) => void,
): Promise<Started> {
  if (faults !== null) {
    const both = faults.byzantine.filter((f) =>
      argv.byzantine.some((b) => b.split(':')[0] === f.split(':')[0]),
    );
    if (both.length > 0)
      fail(`validator ${both[0]!.split(':')[0]} is byzantine both in --byzantine and in ${argv.faults}`, 2);
  }
  try {
    const behaviours = parse_byzantine([...argv.byzantine, ...(faults?.byzantine ?? [])], argv.validators);
    if (argv.engine === 'cometbft') return await start_comet_network(argv, behaviours, on_event);
    const network = await LocalNetwork.up({
      validators: argv.validators,
      dir: argv.dir,
      port: argv.port ?? 26657,
      ...(argv['p2p-port'] === undefined ? {} : { p2p_port: argv['p2p-port'] }),
      behaviours,
      provider: argv.provider,
      workers: argv.workers,
      ...pacing_flags(argv),
      on_event,
    });
    return { network, down: () => network.down(), lines: [] };
  } catch (error) {
    fail((error as Error).message);
  }
}

/** Applies `--faults` by height, printing each; a schedule that fails stops sim up with 1. */
function run_faults(
  argv: SimUpArgs,
  network: LocalNetwork,
  manifest: Manifest,
  stop: (code: number) => Promise<void>,
): void {
  const powers = network.genesis().validators.map((v) => v.power);
  for (const warning of [unsafe_reason(manifest, powers), stall_reason(manifest, powers)]) {
    if (warning !== null) process.stderr.write(`cloister: warning: ${argv.faults}: ${warning}\n`);
  }
  let run: ReturnType<LocalNetwork['apply_faults']>;
  try {
    run = network.apply_faults(manifest, (a) =>
      process.stdout.write(`fault ${a.line} (at height ${a.height})\n`),
    );
  } catch (error) {
    process.stderr.write(`cloister: ${argv.faults}: ${(error as Error).message}\n`);
    void stop(2);
    return;
  }
  run.done.then(
    (all) => {
      if (all) process.stdout.write(`faults: all ${manifest.faults.length} applied\n`);
    },
    async (error: unknown) => {
      process.stderr.write(`cloister: ${argv.faults}: ${(error as Error).message}\n`);
      await stop(1);
    },
  );
}

async function sim_up(argv: SimUpArgs): Promise<void> {
  await preflight(argv);
  const faults = argv.faults === undefined ? null : read_faults(argv.faults, argv.validators);
  const print = event_printer(argv['log-format'], argv['log-level']);
  const early = new EarlyEvents();
  const started = await start_network(argv, faults, (e) => {
    print(e);
    early.push(e);
  });
  const { network } = started;
  const load = new LoadGenerator({ urls: () => network.urls(), rate: argv.load });
  // One way down for Ctrl-C, SIGTERM, `sim stop` and a failed fault schedule.
  let steering: Steering | null = null;
  let stopping = false;
  const stop = async (code = 0) => {
    if (stopping) return;
    stopping = true;
    await load.stop();
    await started.down();
    await steering?.close();
    process.exit(code);
  };
  try {
    steering = await start_steering({
      network,
      dir: argv.dir,
      load,
      control_port: argv['control-port'],
      dashboard_port: argv.dashboard ? (argv['dashboard-port'] ?? 0) : null,
      early,
      on_stop: () => void stop(0),
      print: (line) => process.stdout.write(`${line}\n`),
    });
  } catch (error) {
    await load.stop();
    await started.down();
    fail(`control server or dashboard: ${(error as Error).message}`);
  }
  const { control, dashboard } = steering;
  process.stdout.write(`ready ${network.urls().join(' ')}\n`);
  for (const line of started.lines) process.stdout.write(`${line}\n`);
  process.stdout.write(`control ${control.url} (token in ${control_file_path(argv.dir)})\n`);
  if (dashboard !== null) process.stdout.write(`dashboard ${dashboard.url}#token=${control.token}\n`);
  if (argv.load > 0)
    process.stdout.write(`load ${argv.load} tx/s (change it: cloister sim load --dir ${argv.dir} R)\n`);
  const dev_lines = dev_network_lines(get_provider('native'), network.genesis(), network.urls());
  if (dev_lines.length > 0) process.stdout.write(`${dev_lines.join('\n')}\n`);
  if (faults !== null) run_faults(argv, network, faults.manifest, stop);
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
}

/** `sim up` as a yargs command. */
export function sim_up_command(y: Argv): Argv {
  return y.command(
    'up',
    "start N validator processes on loopback (a new folder gets a development network: funded dev0..dev3, POST /v1/faucet); prints `ready URL1 URL2 …` once all serve RPC, the control server and the live dashboard's URL, the dev accounts and how to use the faucet, then each validator's important events as they happen (started, synced, evidence, halted, crashed, exited, stopped); `sim status|stop|kill|restart|pause|resume|partition|heal|load --dir DIR` and the dashboard steer it; Ctrl-C stops them",
    (c) => sim_up_options(c),
    (argv) => sim_up(argv as SimUpArgs),
  );
}
