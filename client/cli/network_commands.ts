/**
 * Network commands of the `cloister` CLI: `init`, `node start`, `sim up`.
 * @module
 */

import type { Argv } from 'yargs';
import { init_network } from '../../node/init.js';
import { BEHAVIOURS, type NodeBehaviour, ValidatorNode } from '../../node/node.js';
import { LocalNetwork } from '../../sim/network.js';

function fail(message: string): never {
  process.stderr.write(`cloister: ${message}\n`);
  process.exit(1);
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
      throw new TypeError(`--byzantine ${value}: behaviour must be one of wrong-results, equivocate, silent`);
    }
    out.set(index, behaviour);
  }
  return out;
}

/** Adds the network commands to a yargs instance. */
export function network_commands(y: Argv): Argv {
  return y
    .command(
      'init',
      'create a network: genesis ceremony (seed made and shared by simulated attestation) and one home per validator',
      (c) =>
        c
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
          }),
      async (argv) => {
        try {
          const { homes, genesis } = await init_network({
            dir: argv.dir,
            validators: argv.validators,
            chain_id: argv['chain-id'],
            base_port: argv.port,
            host: argv.host,
            provider: argv.provider,
            workers: argv.workers,
          });
          if (argv.json) process.stdout.write(`${JSON.stringify({ chain_id: genesis.chain_id, homes })}\n`);
          else
            process.stdout.write(
              `created ${genesis.chain_id} with ${homes.length} validators:\n${homes.map((h) => `  ${h}`).join('\n')}\n`,
            );
        } catch (error) {
          fail((error as Error).message);
        }
      },
    )
    .command(
      'node start',
      'run one validator from its home folder (logs JSON lines on stdout; SIGINT/SIGTERM stop it cleanly)',
      (c) =>
        c
          .option('home', {
            type: 'string',
            demandOption: true,
            describe: 'the validator home written by `cloister init`',
          })
          .option('behaviour', {
            choices: BEHAVIOURS,
            default: 'honest' as NodeBehaviour,
            describe: 'simulate a byzantine validator',
          }),
      async (argv) => {
        const log = (event: string, fields: Record<string, unknown>) =>
          process.stdout.write(`${JSON.stringify({ t: Date.now(), event, ...fields })}\n`);
        let node: ValidatorNode;
        try {
          node = await ValidatorNode.start(argv.home, { behaviour: argv.behaviour, log });
        } catch (error) {
          fail((error as Error).message);
        }
        const stop = async () => {
          log('stopping', {});
          await node.stop();
          process.exit(0);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      },
    )
    .command(
      'sim up',
      'start N validator processes on loopback; prints `ready URL1 URL2 …` once all serve RPC; Ctrl-C stops them',
      (c) =>
        c
          .option('validators', { type: 'number', default: 4 })
          .option('dir', {
            type: 'string',
            demandOption: true,
            describe: 'network folder (created by the genesis ceremony if new)',
          })
          .option('port', {
            type: 'number',
            default: 26657,
            describe: 'RPC port of validator 0; validator i uses port+i',
          })
          .option('byzantine', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: 'INDEX:BEHAVIOUR, behaviour one of wrong-results, equivocate, silent',
          })
          .option('provider', { choices: ['native', 'noble'] as const, default: 'native' as const })
          .option('workers', { type: 'number', default: 1 }),
      async (argv) => {
        let network: LocalNetwork;
        try {
          const behaviours = parse_byzantine(argv.byzantine, argv.validators);
          network = await LocalNetwork.up({
            validators: argv.validators,
            dir: argv.dir,
            port: argv.port,
            behaviours,
            provider: argv.provider,
            workers: argv.workers,
          });
        } catch (error) {
          fail((error as Error).message);
        }
        network.on_event((e) => {
          if (e.event === 'halted' || e.event === 'evidence')
            process.stderr.write(`validator ${e.index}: ${e.event} ${JSON.stringify(e)}\n`);
        });
        process.stdout.write(`ready ${network.urls().join(' ')}\n`);
        const stop = async () => {
          await network.down();
          process.exit(0);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      },
    );
}
