/**
 * The `cloister` command line: networks (`init`, `node start`, `sim up`), the enclave's
 * measurement, and checking a contract before storing it. Keys, transactions and queries come with
 * the client issue.
 * @module
 */

import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { compute_measurement, find_code_root } from '../../enclave/measurement.js';
import { to_hex } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { channel_commands } from './channels/index.js';
import { client_commands } from './client_commands.js';
import { network_commands } from './network_commands.js';

/** Exit codes scripts can rely on. */
export const EXIT = Object.freeze({ ok: 0, failure: 1, usage: 2 });

function print(json: boolean, value: Record<string, unknown>, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${human}\n`);
}

await channel_commands(client_commands(network_commands(yargs(hideBin(process.argv)))))
  .scriptName('cloister')
  .usage('$0 <command> [options]\n\nRun, test and measure a simulated secret-compute validator network.')
  .option('json', { type: 'boolean', default: false, describe: 'print machine-readable JSON' })
  .command('enclave', 'the enclave build', (e) =>
    e
      .command(
        'measure',
        'print the measurement (hash of the enclave code) that genesis allow-lists and sealing binds to',
        (y) => y,
        (argv) => {
          const measurement = to_hex(compute_measurement(get_provider('native'), find_code_root()));
          print(argv.json, { measurement }, measurement);
        },
      )
      .demandCommand(1, 'name an enclave command: measure'),
  )
  .demandCommand(1, 'name a command; see --help')
  .strict()
  .recommendCommands()
  .help()
  .fail((message, error, y) => {
    if (error) throw error;
    process.stderr.write(`${y.help() && ''}cloister: ${message}\nRun \`cloister --help\` for usage.\n`);
    process.exit(EXIT.usage);
  })
  .parseAsync();
