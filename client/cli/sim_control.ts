/**
 * Steering a running `cloister sim up` from another terminal: `cloister sim
 * status|stop|kill|restart|pause|resume|partition|heal --dir DIR [INDEX|GROUPS]`. Each reads
 * `<dir>/control.json` (written by `sim up`: its pid, its control server's loopback URL, the
 * token) and calls that server (sim/control_server.ts), one HTTP request per command.
 * @module
 */

import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import {
  type ControlFile,
  type ControlStatus,
  control_file_path,
  pid_alive,
  VALIDATOR_ACTIONS,
  type ValidatorAction,
} from '../../sim/control_server.js';

/** A control command that failed; `usage` for bad arguments (exit 2), else exit 1. */
export class SimControlError extends Error {
  constructor(
    message: string,
    readonly usage = false,
    /** The server's error code, when it answered with one. */
    readonly code?: string,
  ) {
    super(message);
  }
}

/**
 * The control file of the `sim up` running for `dir`; a SimControlError when there is none, it
 * cannot be read, or the process that wrote it is gone.
 */
export function read_control(dir: string): ControlFile {
  const path = control_file_path(dir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new SimControlError(`no running \`sim up\` for ${dir} (no control.json)`);
    throw new SimControlError(`cannot read ${path}: ${(error as Error).message}`);
  }
  let info: Partial<ControlFile>;
  try {
    info = JSON.parse(text) as Partial<ControlFile>;
  } catch {
    throw new SimControlError(`${path} is not JSON: remove it if no \`sim up\` runs for ${dir}`);
  }
  if (
    typeof info.pid !== 'number' ||
    typeof info.url !== 'string' ||
    typeof info.token !== 'string' ||
    !/^http:\/\/(127\.0\.0\.1|\[::1\]):\d+$/.test(info.url)
  )
    throw new SimControlError(`${path} does not hold {pid, url, token} of a loopback control server`);
  if (!pid_alive(info.pid))
    throw new SimControlError(
      `no running \`sim up\` for ${dir}: ${path} is stale (pid ${info.pid} is gone); remove it`,
    );
  return info as ControlFile;
}

/**
 * One request to the control server; resolves with its JSON answer, or rejects with a
 * SimControlError carrying the server's message (or why it could not be reached).
 */
export async function control_request<T>(
  info: ControlFile,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  timeout_ms = 120_000,
): Promise<T> {
  let answer: Response;
  try {
    answer = await fetch(`${info.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${info.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeout_ms),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new SimControlError(`sim up (pid ${info.pid}) does not answer at ${info.url} (${cause})`);
  }
  let parsed: unknown;
  try {
    parsed = await answer.json();
  } catch {
    throw new SimControlError(`${info.url}${path} answered ${answer.status} without JSON`);
  }
  if (!answer.ok) {
    const e = (parsed as { error?: { code?: string; message?: string } }).error;
    throw new SimControlError(e?.message ?? `HTTP ${answer.status}`, false, e?.code);
  }
  return parsed as T;
}

/** Parses `0,1/2,3` (groups split by `/`, indices by `,`) into `[[0,1],[2,3]]`. */
export function parse_groups(text: string): number[][] {
  const groups = text.split('/').map((g) =>
    g.split(',').map((x) => {
      const t = x.trim();
      if (!/^\d{1,4}$/.test(t))
        throw new SimControlError(
          `partition takes groups of validator indices like 0,1/2,3 (groups split by /, indices by ,), got "${text}"`,
          true,
        );
      return Number(t);
    }),
  );
  return groups;
}

/** `GET /status` as a table, one line per validator. */
export function format_status(status: ControlStatus): string {
  const rows = [
    ['validator', 'state', 'height', 'pid', 'rpc', 'group'],
    ...status.validators.map((v) => [
      v.name,
      v.state,
      v.height === null ? '-' : String(v.height),
      v.pid === null ? '-' : String(v.pid),
      v.rpc ?? '-',
      v.group === null ? '-' : v.group.join(','),
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function fail(error: unknown): never {
  const e = error as Error;
  process.stderr.write(`cloister: ${e.message}\n`);
  process.exit(e instanceof SimControlError && e.usage ? 2 : 1);
}

/** Waits until process `pid` has ended, up to `timeout_ms`; whether it did. */
async function wait_gone(pid: number, timeout_ms: number): Promise<boolean> {
  const until = Date.now() + timeout_ms;
  while (Date.now() < until) {
    if (!pid_alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !pid_alive(pid);
}

interface Flags {
  dir: string;
  json: boolean;
}

/** Prints an action's answer: its message, or the JSON with --json. */
function print_answer(argv: Flags, answer: { ok: boolean; message: string }): void {
  process.stdout.write(argv.json ? `${JSON.stringify(answer)}\n` : `${answer.message}\n`);
}

const DIR_OPTION = {
  type: 'string',
  demandOption: true,
  describe: 'the network folder a running `sim up --dir` keeps',
} as const;

/** Adds the control commands to `cloister sim`. */
export function sim_control_commands<T>(m: Argv<T>): Argv<T> {
  let out = m
    .command(
      'status',
      'the validators of a running `sim up`: state (up, down, paused, partitioned), height, pid, RPC URL, partition group (--json: the control server answer)',
      (c) => c.option('dir', DIR_OPTION),
      async (argv) => {
        const flags = argv as unknown as Flags;
        try {
          const status = await control_request<ControlStatus>(
            read_control(flags.dir),
            'GET',
            '/status',
            undefined,
            10_000,
          );
          process.stdout.write(flags.json ? `${JSON.stringify(status)}\n` : `${format_status(status)}\n`);
        } catch (error) {
          fail(error);
        }
      },
    )
    .command(
      'stop',
      'stop a running `sim up`: every validator stops cleanly, then sim up exits 0 and removes DIR/control.json; returns once it has',
      (c) => c.option('dir', DIR_OPTION),
      async (argv) => {
        const flags = argv as unknown as Flags;
        try {
          const info = read_control(flags.dir);
          await control_request(info, 'POST', '/stop');
          if (!(await wait_gone(info.pid, 60_000)))
            throw new SimControlError(`sim up (pid ${info.pid}) was asked to stop but still runs after 60 s`);
          print_answer(flags, { ok: true, message: `stopped (sim up pid ${info.pid} ended)` });
        } catch (error) {
          fail(error);
        }
      },
    );
  const what: Record<ValidatorAction, string> = {
    kill: 'crash validator INDEX of a running `sim up` (SIGKILL)',
    restart: 'start a down validator INDEX again from its home; returns once it serves RPC',
    pause: 'stop validator INDEX where it is (SIGSTOP): it keeps its memory, neither sends nor answers',
    resume: 'let a paused validator INDEX run on (SIGCONT)',
  };
  for (const action of VALIDATOR_ACTIONS) {
    out = out.command(
      `${action} <index>`,
      what[action],
      (c) =>
        c
          .positional('index', { type: 'string', demandOption: true, describe: 'the validator, 0..N-1' })
          .option('dir', DIR_OPTION),
      async (argv) => {
        const flags = argv as unknown as Flags & { index: string };
        try {
          const index = String(flags.index);
          if (!/^\d{1,4}$/.test(index))
            throw new SimControlError(`${action} takes a validator index (0, 1, …), got "${index}"`, true);
          const info = read_control(flags.dir);
          print_answer(flags, await control_request(info, 'POST', `/validators/${Number(index)}/${action}`));
        } catch (error) {
          fail(error);
        }
      },
    );
  }
  return out
    .command(
      'partition <groups>',
      'split a running `sim up`: GROUPS like 0,1/2,3 (each validator reaches only its own group; one not named is alone); replaces the partition in force',
      (c) =>
        c
          .positional('groups', { type: 'string', demandOption: true, describe: 'e.g. 0,1/2,3' })
          .option('dir', DIR_OPTION),
      async (argv) => {
        const flags = argv as unknown as Flags & { groups: string };
        try {
          const groups = parse_groups(String(flags.groups));
          const info = read_control(flags.dir);
          print_answer(flags, await control_request(info, 'POST', '/partition', { groups }));
        } catch (error) {
          fail(error);
        }
      },
    )
    .command(
      'heal',
      'end the partition in force in a running `sim up`',
      (c) => c.option('dir', DIR_OPTION),
      async (argv) => {
        const flags = argv as unknown as Flags;
        try {
          print_answer(flags, await control_request(read_control(flags.dir), 'POST', '/heal'));
        } catch (error) {
          fail(error);
        }
      },
    );
}
