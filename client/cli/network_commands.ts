/**
 * Network commands of the `cloister` CLI: `init`, `node start|join|reset-signing`, and the `sim`
 * group (`sim up` is in sim_up.ts, the commands that steer it in sim_control.ts).
 * @module
 */

import type { Argv } from 'yargs';
import { start_comet_node } from '../../node/abci/node.js';
import { start_follower } from '../../node/follower.js';
import { read_config } from '../../node/home.js';
import {
  genesis_funds,
  init_network,
  parse_balance_flag,
  read_balances_file,
  sum_balances,
} from '../../node/init.js';
import { join_network } from '../../node/join.js';
import { ValidatorNode } from '../../node/node.js';
import { DENOM, DEV_ACCOUNT_BALANCE, FAUCET_BALANCE } from '../../protocol/bank.js';
import { get_provider } from '../../protocol/providers/index.js';
import { write_comet_homes } from '../../sim/cometbft/network.js';
import type { CometNodeSpec } from '../../sim/cometbft/testnet.js';
import { dev_network_lines } from '../../sim/network.js';
import { sim_run } from '../../sim/run/cli.js';
import { BEHAVIOURS, type NodeBehaviour, start_sim_node } from '../../sim/sim_node.js';
import { fail } from './exit.js';
import {
  choose_format,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
  make_log,
  use_color,
} from './log_format.js';
import { PACING_OPTIONS, pacing_flags } from './pacing.js';
import { reset_signing_command } from './reset_signing.js';
import { sim_control_commands } from './sim_control.js';
import { sim_up_command } from './sim_up.js';

/** The log flags of `node start` and `sim node`, as yargs parsed them. */
interface LogFlags {
  'log-format'?: LogFormat | undefined;
  'log-level': LogLevel;
  json?: boolean | undefined;
  supervised: boolean;
}

/** Adds `--log-format`, `--log-level` and `--supervised` to a node-running command. */
function log_options<T>(c: Argv<T>) {
  return c
    .option('log-format', {
      choices: LOG_FORMATS,
      describe:
        'log lines: human (time, node, level, event, key=value fields; the default on a terminal) or json (one object a line; the default otherwise, and with --json)',
    })
    .option('log-level', {
      choices: LOG_LEVELS,
      default: 'info' as LogLevel,
      describe: 'leave out events below this level (debug: every consensus step)',
    })
    .option('supervised', {
      type: 'boolean',
      default: false,
      describe:
        'run under a supervisor that stops it with SIGTERM (sim up, npm start): SIGINT, which a terminal sends the whole process group on Ctrl-C, is left to the supervisor, and the node stops when its stdin closes (the supervisor is gone)',
    });
}

/**
 * Runs a node in this process until SIGINT or SIGTERM stops it cleanly (SIGTERM or a closed stdin
 * when supervised): its log lines on stdout, in the format and from the level the flags ask for;
 * a failure to start is the command's failure.
 */
async function run_node_process(
  home: string,
  flags: LogFlags,
  start: (
    log: (event: string, fields: Record<string, unknown>) => void,
  ) => Promise<{ stop(): Promise<void> }>,
): Promise<void> {
  let name: string;
  try {
    name = read_config(home).name;
  } catch (error) {
    fail((error as Error).message);
  }
  const log = make_log({
    format: choose_format({
      flag: flags['log-format'],
      json: flags.json === true,
      is_tty: process.stdout.isTTY === true,
    }),
    level: flags['log-level'],
    node: name,
    color: use_color(process.stdout, process.env),
    write: (line) => process.stdout.write(line),
  });
  // Handlers before anything starts: a process with no listener dies of SIGINT or SIGTERM at once,
  // whatever it is doing. The first signal stops the node cleanly (once started, if it is still
  // starting); a second exits at once. Supervised, SIGINT is the supervisor's: a terminal's Ctrl-C
  // reaches the whole process group, and the supervisor decides when to stop its nodes.
  let node: { stop(): Promise<void> } | null = null;
  let stopping = false;
  const stop = async () => {
    if (stopping) process.exit(1);
    stopping = true;
    log('stopping', {});
    if (node === null) return;
    await node.stop();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', flags.supervised ? () => {} : stop);
  // Supervised, a supervisor gone leaves stdout a broken pipe: the node still stops cleanly.
  if (flags.supervised) process.stdout.on('error', () => {});
  try {
    node = await start(log);
  } catch (error) {
    fail((error as Error).message);
  }
  if (stopping) {
    await node.stop();
    process.exit(0);
  }
  // Supervised, stdin is a pipe from the supervisor: it ends when the supervisor is gone.
  if (flags.supervised) process.stdin.on('end', stop).on('error', stop).resume();
}

/**
 * The fee and balance flags of `cloister init` (`--dev`, `--min-gas-price`, `--balance`,
 * `--balances`) as init_network options; exits 2 naming a bad or conflicting flag.
 */
function funds_flags(argv: {
  dev: boolean;
  'min-gas-price'?: string | undefined;
  balance: string[];
  balances?: string | undefined;
}): { dev: boolean; min_gas_price: number; balances: Record<string, number> } {
  let min_gas_price = 0;
  const text = argv['min-gas-price'];
  if (text !== undefined) {
    min_gas_price = /^[0-9]{1,16}$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(min_gas_price))
      fail(`--min-gas-price must be a non-negative integer (${DENOM} per unit of gas), got "${text}"`, 2);
  }
  if (argv.dev && min_gas_price > 0) {
    fail(
      `--dev makes a development network, whose min_gas_price is 0 (its faucet and development accounts pay no fees): drop --min-gas-price ${min_gas_price} or --dev`,
      2,
    );
  }
  try {
    const flags: Record<string, number>[] = argv.balance.map((value) => {
      const [address, amount] = parse_balance_flag(value);
      return { [address]: amount };
    });
    const file = argv.balances === undefined ? {} : read_balances_file(argv.balances);
    const balances = sum_balances(...flags, file);
    const options = { dev: argv.dev, min_gas_price, balances };
    // The whole genesis list (dev funds included) must hold too: no sum past 2^53.
    genesis_funds(get_provider('native'), options);
    return options;
  } catch (error) {
    fail((error as Error).message, 2);
  }
}

/** Adds the network commands to a yargs instance. */
/** How to start a network `init --engine cometbft` wrote: each application first, then its CometBFT node. */
function comet_start_lines(
  homes: readonly string[],
  comet: readonly CometNodeSpec[],
  where: { dir: string; port: number },
): string[] {
  if (comet.length === 0) return [];
  return [
    'under CometBFT: start each validator application first (CometBFT connects to it once, at start), then its CometBFT node:',
    ...homes.flatMap((home, i) => [
      `  cloister node start --home ${home}`,
      `  cometbft start --home ${comet[i]!.home}`,
    ]),
    `or all of them at once: cloister sim up --engine cometbft --dir ${where.dir} --validators ${homes.length} --port ${where.port}`,
  ];
}

export function network_commands(y: Argv): Argv {
  return y
    .command(
      'init',
      'create a network: genesis ceremony (seed made and shared by simulated attestation) and one home per validator, with its fees and balances at genesis (protocol.md §9)',
      (c) =>
        c
          .usage(
            `$0 init --dir DIR [options]\n\nA development network (--dev) has min_gas_price 0, funds the development accounts dev0..dev3 (${DEV_ACCOUNT_BALANCE} ${DENOM} each; \`cloister keys import-dev\` signs as them) and the faucet account (${FAUCET_BALANCE} ${DENOM}), and answers POST /v1/faucet on every validator. Any other network has no faucet: fund its accounts with --balance or --balances.`,
          )
          .example('$0 init --dir ./net --dev', 'a local development network of 4 validators')
          .example(
            '$0 init --dir ./net --min-gas-price 1 --balance 0123456789abcdef0123456789abcdef01234567=5000000000',
            'fees of 1 ucst per unit of gas, one funded account',
          )
          .option('validators', { type: 'number', default: 4, describe: 'number of validators (1-64)' })
          .option('dir', {
            type: 'string',
            demandOption: true,
            describe: 'new folder for the network (homes v0, v1, …)',
          })
          .option('chain-id', { type: 'string', default: 'cloister-local-1' })
          .option('port', {
            type: 'number',
            default: 26657,
            describe: "validator 0's RPC port; validator i uses port+i, p2p port+1000+i",
          })
          .option('host', { type: 'string', default: '127.0.0.1' })
          .option('provider', { choices: ['native', 'noble'] as const, default: 'native' as const })
          .option('workers', {
            type: 'number',
            default: 1,
            describe: 'enclave worker threads per validator',
          })
          .option('dev', {
            type: 'boolean',
            default: false,
            describe: `development network: min_gas_price 0, dev0..dev3 and the faucet account funded at genesis, POST /v1/faucet on every validator`,
          })
          .option('min-gas-price', {
            type: 'string',
            describe: `least ${DENOM} per unit of gas a transaction must offer (default 0; refused with --dev, whose networks charge nothing)`,
          })
          .option('balance', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: `ADDRESS=AMOUNT: give a 40-hex address AMOUNT ${DENOM} at genesis (repeatable; adds to --dev's funds and --balances)`,
          })
          .option('balances', {
            type: 'string',
            describe: `JSON file {"ADDRESS": AMOUNT, …} of ${DENOM} at genesis (adds to --balance and --dev's funds)`,
          })
          .option('empty-block-interval', PACING_OPTIONS['empty-block-interval'])
          .option('block-time', PACING_OPTIONS['block-time'])
          .option('engine', {
            choices: ['cloister', 'cometbft'] as const,
            default: 'cloister' as const,
            describe:
              "consensus engine: Cloister's own, or CometBFT (each validator the ABCI application of a cometbft node whose home this writes to DIR/cometbft/vI; docs/cometbft.md)",
          }),
      async (argv) => {
        const funds = funds_flags(argv);
        try {
          const { homes, genesis } = await init_network({
            dir: argv.dir,
            validators: argv.validators,
            chain_id: argv['chain-id'],
            base_port: argv.port,
            host: argv.host,
            provider: argv.provider,
            workers: argv.workers,
            ...funds,
            ...pacing_flags(argv),
            engine: argv.engine,
          });
          const comet =
            argv.engine === 'cometbft'
              ? write_comet_homes({ dir: argv.dir, homes, genesis, port: argv.port })
              : [];
          const funded = Object.keys(genesis.balances ?? {}).length;
          if (argv.json)
            process.stdout.write(
              `${JSON.stringify({
                chain_id: genesis.chain_id,
                homes,
                dev: genesis.dev === true,
                min_gas_price: genesis.min_gas_price ?? 0,
                funded,
              })}\n`,
            );
          else {
            const urls = homes.map((_, i) => `http://${argv.host}:${argv.port + i}`);
            process.stdout.write(
              `${[
                `created ${genesis.chain_id} with ${homes.length} validators:`,
                ...homes.map((h) => `  ${h}`),
                `min_gas_price ${genesis.min_gas_price ?? 0} ${DENOM} per unit of gas; ${funded} addresses funded at genesis`,
                ...dev_network_lines(get_provider('native'), genesis, urls),
                ...comet_start_lines(homes, comet, { dir: argv.dir, port: argv.port }),
              ].join('\n')}\n`,
            );
          }
        } catch (error) {
          fail((error as Error).message);
        }
      },
    )
    .command('node', 'run a validator, or join a running network as a new node', (n) =>
      n
        .command(
          'start',
          'run one validator from its home folder (log lines on stdout: human on a terminal, JSON otherwise; SIGINT/SIGTERM stop it cleanly)',
          (c) =>
            log_options(
              c.option('home', {
                type: 'string',
                demandOption: true,
                describe: 'the validator home written by `cloister init`',
              }),
            ),
          (argv) =>
            run_node_process(argv.home, argv, (log) =>
              // A home that is not a validator's (it joined by registration) follows the chain over RPC.
              read_config(argv.home).index < 0
                ? start_follower(argv.home, log)
                : read_config(argv.home).engine?.kind === 'cometbft'
                  ? start_comet_node(argv.home, { log })
                  : ValidatorNode.start(argv.home, { log }),
            ),
        )
        .command(
          'join',
          'join a running network by registration (protocol.md §8): get the seed share for a new home, which then follows the chain',
          (c) =>
            c
              .option('home', { type: 'string', demandOption: true, describe: 'new folder for this node' })
              .option('genesis', {
                type: 'string',
                demandOption: true,
                describe: "the network's genesis.json",
              })
              .option('from', {
                type: 'string',
                array: true,
                demandOption: true,
                describe: 'validator RPC URL (repeatable)',
              })
              .option('attestation-key', {
                type: 'string',
                demandOption: true,
                describe: "the simulated attestation service's root key (attestation_root_key from init)",
              })
              .option('host', { type: 'string', default: '127.0.0.1' })
              .option('port', { type: 'number', default: 26700, describe: "this node's RPC port" }),
          async (argv) => {
            try {
              const joined = await join_network({
                home: argv.home,
                genesis_file: argv.genesis,
                from: argv.from,
                attestation_key_file: argv['attestation-key'],
                rpc: { host: argv.host, port: argv.port },
              });
              if (argv.json) process.stdout.write(`${JSON.stringify({ home: argv.home, ...joined })}\n`);
              else
                process.stdout.write(
                  `joined at height ${joined.height}: the seed is sealed in ${argv.home}; start it with \`cloister node start --home ${argv.home}\`\n`,
                );
            } catch (error) {
              fail((error as Error).message);
            }
          },
        )
        .command(reset_signing_command)
        .demandCommand(1, 'name a node command: start, join or reset-signing'),
    )
    .command('sim', 'local multi-validator simulations', (m) =>
      sim_control_commands(
        sim_up_command(m)
          .command(
            'node',
            'run one validator process for a simulation, honest or byzantine (what `sim up --byzantine` starts); `cloister node start` runs honest validators only',
            (c) =>
              log_options(c)
                .option('home', {
                  type: 'string',
                  demandOption: true,
                  describe: 'the validator home written by `cloister init`',
                })
                .option('behaviour', {
                  choices: BEHAVIOURS,
                  default: 'honest' as NodeBehaviour,
                  describe: 'what this validator does wrong (docs/simulator.md "Byzantine behaviours")',
                })
                .option('colluders', {
                  type: 'string',
                  describe:
                    'equivocators only: comma-separated genesis indices of fellow equivocators, which then split the honest validators alike (sim up passes it)',
                }),
            (argv) =>
              run_node_process(argv.home, argv, (log) => {
                const colluders =
                  argv.colluders === undefined || argv.colluders === ''
                    ? []
                    : argv.colluders.split(',').map((x) => {
                        if (!/^\d+$/.test(x))
                          throw new TypeError(`--colluders takes validator indices, got "${x}"`);
                        return Number(x);
                      });
                return start_sim_node(argv.home, { behaviour: argv.behaviour, log, colluders });
              }),
          )
          .command(
            'run',
            'run N validators in this process on simulated time, deterministically: a seeded network, faults from a manifest (or drawn from the seed), simulated clients, invariants checked after every event (docs/simulator.md). Exit 0: every invariant held; 1: a violation (seed, height and trace printed); 2: bad usage',
            (c) =>
              c
                .option('seed', {
                  type: 'number',
                  describe:
                    'the run seed (default: drawn and printed); the same seed and flags replay the same run',
                })
                .option('validators', { type: 'number', default: 4, describe: 'validators, 1..100' })
                .option('heights', {
                  type: 'number',
                  default: 100,
                  describe: 'stop once an honest validator commits this height',
                })
                .option('faults', {
                  type: 'string',
                  describe:
                    'a fault manifest (JSON, docs/simulator.md "Fault manifest"); without it the seed draws one with f < n/3',
                })
                .option('load', {
                  type: 'number',
                  default: 20,
                  describe: 'simulated client transactions per simulated second',
                })
                .option('calls', {
                  type: 'number',
                  describe:
                    'share (0..1) of client transactions that are contract-call chains: relay A passes each on to relay B with a contract message (protocol.md §9); default 0',
                })
                .option('json', {
                  type: 'boolean',
                  default: false,
                  describe: 'print one JSON object instead of the summary',
                })
                .option('out', {
                  type: 'string',
                  describe: 'write report.json, trace.txt, manifest.json and timeline.svg into this folder',
                })
                .option('allow-unsafe', {
                  type: 'boolean',
                  default: false,
                  describe: 'allow byzantine power of 1/3 or more (safety may fail, and is reported)',
                })
                .option('liveness-ms', {
                  type: 'number',
                  describe:
                    'after the last fault heals, a height must commit within this much simulated time (default 60000)',
                })
                .strict(),
            async (argv) => {
              const code = await sim_run({
                ...(argv.seed === undefined ? {} : { seed: argv.seed }),
                validators: argv.validators,
                heights: argv.heights,
                ...(argv.faults === undefined ? {} : { faults: argv.faults }),
                load: argv.load,
                ...(argv.calls === undefined ? {} : { calls: argv.calls }),
                json: argv.json,
                ...(argv.out === undefined ? {} : { out: argv.out }),
                allow_unsafe: argv['allow-unsafe'],
                ...(argv['liveness-ms'] === undefined ? {} : { liveness_ms: argv['liveness-ms'] }),
              });
              process.exit(code);
            },
          ),
      ).demandCommand(
        1,
        'name a sim command: up, node, run, or one that steers a running sim up: status, stop, kill, restart, pause, resume, partition, heal',
      ),
    );
}
