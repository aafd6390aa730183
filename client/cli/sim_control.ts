/**
 * Steering a running `cloister sim up` from another terminal: `cloister sim
 * status|stop|kill|restart|pause|resume|partition|heal|load --dir DIR [INDEX|GROUPS|RATE]`. Each
 * reads `<dir>/control.json` (written by `sim up`: its pid, its control server's loopback URL, the
 * token) and calls that server (sim/control_server.ts), one HTTP request per command.
 * @module
 */

import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import {
  type ControlFile,
  type ControlStatus,
  control_file_path,
  type LoadAnswer,
  pid_alive,
  VALIDATOR_ACTIONS,
  type ValidatorAction,
} from '../../sim/control_server.js';
import { LOAD_RATE_MAX, type LoadStats } from '../../sim/load_generator.js';

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

/**
 * `GET /status` as a table, one line per validator, then the load generator's line (none when
 * sim up runs no generator).
 */
export function format_status(status: Omit<ControlStatus, 'load'> & { load?: LoadStats | null }): string {
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
  const table = rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
  return status.load === undefined || status.load === null ? table : `${table}\n${format_load(status.load)}`;
}

/**
 * The load generator in one line: `load running at 50 tx/s: submitted 1200, committed 1180 (0
 * failed), pending 20, latency p50 41 ms p99 180 ms, refused 0`, with what was dropped or skipped
 * when any, the refusals by reason, and the error of a failed one.
 */
export function format_load(load: LoadStats): string {
  const ms = (v: number | null) => (v === null ? '-' : `${v} ms`);
  const refused = Object.entries(load.refused);
  const total = refused.reduce((sum, [, n]) => sum + n, 0);
  const parts = [
    `submitted ${load.submitted}`,
    `committed ${load.committed} (${load.failed} failed)`,
    `pending ${load.pending}`,
    ...(load.dropped > 0 ? [`dropped ${load.dropped}`] : []),
    ...(load.skipped > 0 ? [`skipped ${load.skipped}`] : []),
    `latency p50 ${ms(load.latency_ms.p50)} p99 ${ms(load.latency_ms.p99)}`,
    `refused ${total}${refused.length === 0 ? '' : ` (${refused.map(([why, n]) => `${n} ${why}`).join(', ')})`}`,
  ];
  const error = load.error === undefined ? '' : `; ${load.error}`;
  return `load ${load.state} at ${load.rate} tx/s: ${parts.join(', ')}${error}`;
}

/** Parses the RATE of `sim load`: transactions per second, 0 to LOAD_RATE_MAX (a usage error otherwise). */
export function parse_rate(text: string): number {
  const t = text.trim();
  const rate = /^\d+(\.\d+)?$/.test(t) ? Number(t) : Number.NaN;
  if (!(rate >= 0 && rate <= LOAD_RATE_MAX))
    throw new SimControlError(
      `load takes a rate of transactions per second from 0 to ${LOAD_RATE_MAX} (0 pauses), got "${text}"`,
      true,
    );
  return rate;
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

/** What a command prints: `text` for people, `json` with --json. */
interface Printed {
  text: string;
  json: unknown;
}

/** An action's answer: its message, or the whole answer with --json. */
function printed(answer: { ok: boolean; message: string }): Printed {
  return { text: answer.message, json: answer };
}

/**
 * One control command's handler, the same for all: `act` checks its own arguments, reads the
 * control file through `control()` (so that a usage error comes before a missing `sim up`), calls
 * the server and says what to print. Any failure prints `cloister: MESSAGE` and exits 1 (2 for
 * bad arguments).
 */
function control_handler<A extends Flags>(
  act: (argv: A, control: () => ControlFile) => Promise<Printed>,
): (argv: unknown) => Promise<void> {
  return async (argv) => {
    const flags = argv as A;
    try {
      const out = await act(flags, () => read_control(flags.dir));
      process.stdout.write(flags.json ? `${JSON.stringify(out.json)}\n` : `${out.text}\n`);
    } catch (error) {
      fail(error);
    }
  };
}

const DIR_OPTION = {
  type: 'string',
  demandOption: true,
  describe: 'the network folder a running `sim up --dir` keeps',
} as const;

const VALIDATOR_ACTION_HELP: Record<ValidatorAction, string> = {
  kill: 'crash validator INDEX of a running `sim up` (SIGKILL)',
  restart: 'start a down validator INDEX again from its home; returns once it serves RPC',
  pause: 'stop validator INDEX where it is (SIGSTOP): it keeps its memory, neither sends nor answers',
  resume: 'let a paused validator INDEX run on (SIGCONT)',
};

/** Adds the control commands to `cloister sim`. */
export function sim_control_commands<T>(m: Argv<T>): Argv<T> {
  let out = m
    .command(
      'status',
      'the validators of a running `sim up`: state (up, down, paused, partitioned), height, pid, RPC URL, partition group, then its load generator (--json: the control server answer)',
      (c) => c.option('dir', DIR_OPTION),
      control_handler(async (_, control) => {
        const status = await control_request<ControlStatus>(control(), 'GET', '/status', undefined, 10_000);
        return { text: format_status(status), json: status };
      }),
    )
    .command(
      'stop',
      'stop a running `sim up`: every validator stops cleanly, then sim up exits 0 and removes DIR/control.json; returns once it has',
      (c) => c.option('dir', DIR_OPTION),
      control_handler(async (_, control) => {
        const info = control();
        await control_request(info, 'POST', '/stop');
        if (!(await wait_gone(info.pid, 60_000)))
          throw new SimControlError(`sim up (pid ${info.pid}) was asked to stop but still runs after 60 s`);
        return printed({ ok: true, message: `stopped (sim up pid ${info.pid} ended)` });
      }),
    );
  for (const action of VALIDATOR_ACTIONS) {
    out = out.command(
      `${action} <index>`,
      VALIDATOR_ACTION_HELP[action],
      (c) =>
        c
          .positional('index', { type: 'string', demandOption: true, describe: 'the validator, 0..N-1' })
          .option('dir', DIR_OPTION),
      control_handler<Flags & { index: string }>(async (argv, control) => {
        const index = String(argv.index);
        if (!/^\d{1,4}$/.test(index))
          throw new SimControlError(`${action} takes a validator index (0, 1, …), got "${index}"`, true);
        return printed(await control_request(control(), 'POST', `/validators/${Number(index)}/${action}`));
      }),
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
      control_handler<Flags & { groups: string }>(async (argv, control) => {
        const groups = parse_groups(String(argv.groups));
        return printed(await control_request(control(), 'POST', '/partition', { groups }));
      }),
    )
    .command(
      'heal',
      'end the partition in force in a running `sim up`',
      (c) => c.option('dir', DIR_OPTION),
      control_handler(async (_, control) => printed(await control_request(control(), 'POST', '/heal'))),
    )
    .command(
      'load [rate]',
      `set the load generator of a running \`sim up\` to RATE encrypted transactions a second (0 to ${LOAD_RATE_MAX}; 0 pauses), then print its numbers; without RATE, only print them`,
      (c) =>
        c
          .positional('rate', { type: 'string', describe: 'transactions per second, e.g. 50 or 0.5' })
          .option('dir', DIR_OPTION),
      control_handler<Flags & { rate?: string }>(async (argv, control) => {
        if (argv.rate === undefined) {
          const stats = await control_request<LoadStats>(control(), 'GET', '/load', undefined, 10_000);
          return { text: format_load(stats), json: stats };
        }
        const rate = parse_rate(String(argv.rate));
        const answer = await control_request<LoadAnswer>(control(), 'POST', '/load', { rate });
        return { text: `${answer.message}\n${format_load(answer.load)}`, json: answer };
      }),
    );
}
