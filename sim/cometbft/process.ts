/**
 * CometBFT processes (issue #17): `cometbft start --home <home>` for a node of a written testnet
 * (./testnet.ts), its output appended to a log file; stopped with SIGTERM (CometBFT shuts down
 * cleanly on it), SIGKILL if it has not exited in time. Its RPC is read with plain GETs.
 *
 * start_cometbft returns once the process runs, not once it serves RPC: CometBFT opens its RPC
 * only after it has connected to its ABCI app and replayed blocks to it, so a caller that starts
 * the app after CometBFT waits with wait_rpc once both run.
 * @module
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, createWriteStream, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { CometNodeSpec } from './testnet.js';

/** How a process ended: its exit code, or the signal that ended it. */
export interface CometExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A node's `/status` as far as the simulator reads it. */
export interface CometStatus {
  /** The latest committed block's height (0 before the first). */
  height: number;
  /** Upper-hex hash of that block ('' before the first). */
  block_hash: string;
  /** Upper-hex app hash after that block. */
  app_hash: string;
  /** True while the node block-syncs from its peers. */
  catching_up: boolean;
}

/** A running (or ended) cometbft process. */
export interface CometProcess {
  readonly spec: CometNodeSpec;
  readonly pid: number;
  /** Resolves when the process exits, however that happens. */
  readonly exited: Promise<CometExit>;
  /** Whether it has not exited yet. */
  readonly running: boolean;
  /** SIGTERM, then SIGKILL after `kill_after_ms` (default 10 s); resolves once it has exited. */
  stop(kill_after_ms?: number): Promise<void>;
  /** Its RPC `/status` (comet_status). */
  status(): Promise<CometStatus>;
}

/** Processes started here and not yet exited: killed if this Node process exits first. */
const live = new Set<ChildProcess>();
let exit_hook = false;
function kill_on_exit(child: ChildProcess): void {
  live.add(child);
  if (exit_hook) return;
  exit_hook = true;
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

/** Appends `child`'s stdout and stderr to `log_file` and hands each line to `on_line`. */
function tee_lines(child: ChildProcess, log_file: string, on_line: (line: string) => void): void {
  const file = createWriteStream(log_file, { flags: 'a' });
  for (const stream of [child.stdout, child.stderr]) {
    if (stream === null) continue;
    stream.pipe(file, { end: false });
    createInterface({ input: stream }).on('line', on_line);
  }
  child.once('close', () => file.end());
}

/**
 * Starts `<bin> start --home <spec.home>` with stdout and stderr appended to `opts.log_file`
 * (its folder is created). Resolves once the process has been spawned; rejects if it could not
 * be (no such binary, not executable). `opts.args`: more arguments after `--home <home>`.
 */
export async function start_cometbft(
  spec: CometNodeSpec,
  bin: string,
  opts: {
    log_file: string;
    args?: readonly string[];
    env?: NodeJS.ProcessEnv;
    /** Hears every line CometBFT prints (still appended to log_file), e.g. to see a `CONSENSUS FAILURE`. */
    on_line?: (line: string) => void;
  },
): Promise<CometProcess> {
  mkdirSync(dirname(opts.log_file), { recursive: true });
  const log = openSync(opts.log_file, 'a');
  const on_line = opts.on_line;
  let child: ChildProcess;
  try {
    child = spawn(bin, ['start', '--home', spec.home, ...(opts.args ?? [])], {
      stdio: on_line === undefined ? ['ignore', log, log] : ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    if (on_line !== undefined) tee_lines(child, opts.log_file, on_line);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  } finally {
    closeSync(log); // the child holds its own copy
  }
  const pid = child.pid!;
  kill_on_exit(child);
  const exited = new Promise<CometExit>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  let running = true;
  void exited.then(() => {
    running = false;
  });

  return {
    spec,
    pid,
    exited,
    get running() {
      return running;
    },
    async stop(kill_after_ms = 10_000) {
      if (!running) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), kill_after_ms);
      });
      const outcome = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (outcome === 'late') {
        child.kill('SIGKILL');
        await exited;
      }
    },
    status: () => comet_status(spec.rpc_url),
  };
}

/**
 * The `result` of a CometBFT RPC GET `<rpc_url><path>` (path with its query, e.g.
 * `/block?height=3`). Throws on a network error, a timeout (`timeout_ms`, default 5 s), a body
 * that is not JSON, or a JSON-RPC error (its message and data).
 */
export async function comet_rpc<T = unknown>(rpc_url: string, path: string, timeout_ms = 5_000): Promise<T> {
  const res = await fetch(`${rpc_url}${path}`, { signal: AbortSignal.timeout(timeout_ms) });
  const text = await res.text();
  let body: { result?: T; error?: { code?: number; message?: string; data?: string } };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`);
  }
  if (body.error !== undefined)
    throw new Error(
      `${path}: ${body.error.message ?? 'error'}${body.error.data ? `: ${body.error.data}` : ''}`,
    );
  if (!res.ok || body.result === undefined) throw new Error(`${path}: HTTP ${res.status}, no result`);
  return body.result;
}

/** The `sync_info` of a v0.38 `/status` answer, the fields read here. */
interface SyncInfo {
  latest_block_hash: string;
  latest_app_hash: string;
  latest_block_height: string;
  catching_up: boolean;
}

/** GET `<rpc_url>/status`, as a CometStatus. */
export async function comet_status(rpc_url: string, timeout_ms = 5_000): Promise<CometStatus> {
  const { sync_info: s } = await comet_rpc<{ sync_info: SyncInfo }>(rpc_url, '/status', timeout_ms);
  return {
    height: Number(s.latest_block_height),
    block_hash: s.latest_block_hash,
    app_hash: s.latest_app_hash,
    catching_up: s.catching_up,
  };
}

/**
 * Polls `<rpc_url>/status` every `interval_ms` (default 100) until it answers, and resolves with
 * that status. Rejects after `timeout_ms` with the last error, or as soon as `opts.exited`
 * (a CometProcess's `exited`) resolves: a process that has exited will never answer.
 */
export async function wait_rpc(
  rpc_url: string,
  timeout_ms: number,
  opts: { interval_ms?: number; exited?: Promise<CometExit> } = {},
): Promise<CometStatus> {
  const deadline = Date.now() + timeout_ms;
  let gone: CometExit | null = null;
  void opts.exited?.then((e) => {
    gone = e;
  });
  let last: unknown = null;
  for (;;) {
    if (gone !== null) {
      const e: CometExit = gone;
      throw new Error(`cometbft exited (code ${e.code}, signal ${e.signal}) before ${rpc_url} answered`);
    }
    try {
      return await comet_status(rpc_url, Math.max(1, Math.min(2_000, deadline - Date.now())));
    } catch (e) {
      last = e;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      const why =
        last instanceof Error ? (last.cause instanceof Error ? last.cause.message : last.message) : last;
      throw new Error(`${rpc_url}/status did not answer within ${timeout_ms} ms (last: ${String(why)})`);
    }
    await new Promise((r) => setTimeout(r, Math.min(opts.interval_ms ?? 100, left)));
  }
}
