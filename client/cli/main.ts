/**
 * The `cloister` command line: networks (`init`, `node start`, `sim up`), the enclave's
 * measurement, and checking a contract before storing it. Keys, transactions and queries come with
 * the client issue.
 * @module
 */

import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { compute_measurement, find_code_root } from '../../enclave/measurement.js';
import { compile_contract } from '../../enclave/vm/compile.js';
import { code_size_bytes_max } from '../../enclave/vm/limits.js';
import { to_hex } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { client_commands } from './client_commands.js';
import { network_commands } from './network_commands.js';

/** Exit codes scripts can rely on. */
export const EXIT = Object.freeze({ ok: 0, failure: 1, usage: 2 });

function print(json: boolean, value: Record<string, unknown>, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${human}\n`);
}

await client_commands(network_commands(yargs(hideBin(process.argv))))
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
  .command('contract', 'contracts for the Cloister VM', (c) =>
    c
      .command(
        'check <file>',
        'check that a contract compiles for the Cloister VM, and print its code hash and size',
        (y) =>
          y.positional('file', { type: 'string', demandOption: true, describe: 'the contract module (.js)' }),
        (argv) => {
          let bytes: Buffer;
          try {
            bytes = readFileSync(argv.file);
          } catch (error) {
            process.stderr.write(
              `cloister: cannot read ${argv.file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}\n`,
            );
            process.exit(EXIT.failure);
          }
          const code_hash = to_hex(get_provider('native').sha256(new Uint8Array(bytes)));
          if (bytes.length > code_size_bytes_max) {
            process.stderr.write(
              `cloister: ${argv.file} is ${bytes.length} bytes; the limit is ${code_size_bytes_max}\n`,
            );
            process.exit(EXIT.failure);
          }
          const compiled = compile_contract(bytes.toString('utf8'));
          if (!compiled.ok) {
            if (argv.json) print(true, { ok: false, file: argv.file, error: compiled.message }, '');
            else process.stderr.write(`cloister: ${argv.file} does not compile: ${compiled.message}\n`);
            process.exit(EXIT.failure);
          }
          print(
            argv.json,
            { ok: true, file: argv.file, code_hash, size_bytes: bytes.length },
            `ok  ${argv.file}\n  code hash  ${code_hash}\n  size       ${bytes.length} bytes`,
          );
        },
      )
      .demandCommand(1, 'name a contract command: check'),
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
