/**
 * Running the `cloister` CLI as a user's shell does, for the tests that drive it against a live
 * network (test/client/cli_live.test.ts, funds_cli.test.ts, test/cometbft/clients.test.ts).
 */

import { execFile } from 'node:child_process';
import { CLOISTER_BIN } from '../network/helpers.js';

/** What one CLI run gave: its exit code (-1 when it was killed) and its output. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `cloister ARGS` with the key file `keyring` (no passphrase) and `env` on top of this
 * process's environment; never throws, like a user's shell. Killed after `timeout_ms`.
 */
export function run_cli(
  args: readonly string[],
  opts: { keyring: string; env?: Record<string, string>; timeout_ms?: number },
): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLOISTER_BIN, ...args],
      {
        env: { ...process.env, CLOISTER_KEYRING: opts.keyring, CLOISTER_PASSPHRASE: '', ...opts.env },
        timeout: opts.timeout_ms ?? 120_000,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `cloister ARGS --node NODE --json`, which must exit 0: its JSON output. */
export async function cli_json(
  args: readonly string[],
  opts: { node: string; keyring: string; timeout_ms?: number },
): Promise<Record<string, unknown>> {
  const run = await run_cli([...args, '--node', opts.node, '--json'], opts);
  if (run.code !== 0)
    throw new Error(`cloister ${args.join(' ')} exited ${run.code}: ${run.stderr}${run.stdout}`);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}
