/**
 * The harness the live channel tests share: a development network (1 validator unless asked) in a temp folder,
 * a key file beside it holding the dev keys, and `cloister` run as a separate process against it.
 * The folder holds `net/` (the network) and `keys.json` (the key file, no passphrase), so the CLI's
 * per-key stores land in `<dir>/channels/<name>`. Used by test/client/channels/msg_cli, kx3_cli,
 * streams_live, evan_live and test/network/channels; each keeps a port of its own. Needs
 * `npx tsc -p tsconfig.build.json` first (it runs bin/cloister.js). Test support only.
 * @module
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { find_code_root } from '../../../enclave/measurement.js';
import { LocalNetwork } from '../../../sim/network.js';

/** One finished `cloister` process. `code` is null when a signal (the timeout) ended it. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Written to the process's stdin, which is then closed (default: nothing, closed at once). */
  stdin?: string;
}

export interface LiveNetworkOptions {
  /** How long one `cloister` process may run before it is killed (default 120 s). */
  cli_timeout_ms?: number;
  /** Validators (default 1); validator i serves RPC on `port + i`. */
  validators?: number;
}

const root = find_code_root();

export class LiveNetwork {
  private constructor(
    /** The temp folder: `net/`, `keys.json`, and whatever the CLI stores beside the key file. */
    readonly dir: string,
    readonly net: LocalNetwork,
    /** The key file every `cloister` run uses (CLOISTER_KEYRING). */
    readonly keyring: string,
    private readonly cli_timeout_ms: number,
  ) {}

  /**
   * Starts the network on RPC `port` in a new temp folder named `<prefix>XXXXXX` and imports the dev
   * keys into the key file (`cloister keys import-dev`). On failure it removes what it made.
   */
  static async up(port: number, prefix: string, options: LiveNetworkOptions = {}): Promise<LiveNetwork> {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    let net: LocalNetwork | undefined;
    try {
      net = await LocalNetwork.up({
        validators: options.validators ?? 1,
        dir: join(dir, 'net'),
        port,
        dev: true,
      });
      const live = new LiveNetwork(dir, net, join(dir, 'keys.json'), options.cli_timeout_ms ?? 120_000);
      await live.ok(['keys', 'import-dev']);
      return live;
    } catch (e) {
      await net?.down();
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** The RPC URLs of the running validators. */
  urls(): string[] {
    return this.net.urls();
  }

  /** The first validator's RPC URL: what `cloister` gets as `--node`. */
  get node(): string {
    return this.net.urls()[0]!;
  }

  /**
   * Runs `cloister ARGS --node NODE` (no `--node` for `keys` commands) with the key file and an
   * empty passphrase; never throws for a non-zero exit.
   */
  cloister(args: string[], options: CliOptions = {}): Promise<CliRun> {
    return new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [join(root, 'bin', 'cloister.js'), ...args, ...(args[0] === 'keys' ? [] : ['--node', this.node])],
        {
          env: { ...process.env, CLOISTER_KEYRING: this.keyring, CLOISTER_PASSPHRASE: '' },
          timeout: this.cli_timeout_ms,
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString('utf8');
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString('utf8');
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(options.stdin ?? '');
    });
  }

  /** {@link cloister}, throwing with stderr and stdout unless it exits 0. */
  async run_ok(args: string[], options: CliOptions = {}): Promise<CliRun> {
    const run = await this.cloister(args, options);
    if (run.code !== 0)
      throw new Error(`cloister ${args.join(' ')} exited ${run.code}: ${run.stderr}${run.stdout}`);
    return run;
  }

  /** {@link run_ok}'s stdout. */
  async ok(args: string[], options: CliOptions = {}): Promise<string> {
    return (await this.run_ok(args, options)).stdout;
  }

  /** {@link ok} with `--json` added, its stdout parsed. */
  async json<T = Record<string, unknown>>(args: string[], options: CliOptions = {}): Promise<T> {
    return JSON.parse(await this.ok([...args, '--json'], options)) as T;
  }

  /** Stops the network and removes the temp folder. */
  async down(): Promise<void> {
    try {
      await this.net.down();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
