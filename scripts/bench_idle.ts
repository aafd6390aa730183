/**
 * Idle benchmark (issue #15): how much CPU a network of validator processes on loopback burns
 * when nobody sends it anything. The bound: a 4-validator network idles under 2 % of one core
 * (its validator processes together).
 *
 * A fresh network (genesis in a temporary folder, removed afterwards, also on error or SIGINT)
 * made as `cloister init` makes one (`init_network`, a development network like LocalNetwork's),
 * with the block pacing of `--pacing`: `on-demand` (the default of a new network: no empty
 * blocks), `interval:S` (an empty block every S seconds), `block-time:S` (a block every S
 * seconds), or `continuous` (a config written before issue #15: a block after every commit).
 * It starts the validators ({@link LocalNetwork}), waits until each has committed block 1 and
 * then `--warmup` seconds more (start-up work: JIT, connections, sync), then reads each validator
 * process's CPU time (utime + stime + cutime + cstime of /proc/<pid>/stat, in clock ticks: the
 * process with its enclave worker threads) and its height, waits `--seconds`, and reads both
 * again. CPU seconds per second = Δticks ÷ CLK_TCK ÷ elapsed seconds (performance.now() in this
 * process), summed over the validators; `share_of_one_core_pct` is that × 100.
 *
 * Output: one JSON object on stdout (progress on stderr), `--out FILE` writes it too. Linux only
 * (/proc). `npm run bench:idle -- --help` lists the flags.
 * @module
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { init_network } from '../node/init.js';
import { rpc } from '../protocol/rpc_client.js';
import { LocalNetwork } from '../sim/network.js';

/** The bound of issue #15: an idle 4-validator network under 2 % of one core. */
export const IDLE_CPU_BOUND_PCT = 2;

interface Args {
  validators: number;
  seconds: number;
  warmup: number;
  port: number;
  pacing: string;
  out: string | null;
}

const HELP = `npm run bench:idle -- [--validators N] [--seconds S] [--warmup S] [--port P] [--pacing MODE] [--out FILE]

  --validators N   validator processes (default 4)
  --seconds S      idle time measured (default 60)
  --warmup S       idle time after block 1 before measuring (default 10: start-up garbage
                   collection is over by then)
  --port P         RPC port of validator 0; p2p on P + 1000 (default 26730)
  --pacing MODE    on-demand (default) | interval:S | block-time:S | continuous
  --out FILE       also write the JSON there`;

function parse_args(argv: string[]): Args {
  const args: Args = { validators: 4, seconds: 60, warmup: 10, port: 26730, pacing: 'on-demand', out: null };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if (flag === '--help' || flag === '-h') {
      console.log(HELP);
      process.exit(0);
    }
    if (value === undefined) throw new Error(`${flag} needs a value`);
    i++;
    if (flag === '--validators') args.validators = Number(value);
    else if (flag === '--seconds') args.seconds = Number(value);
    else if (flag === '--warmup') args.warmup = Number(value);
    else if (flag === '--port') args.port = Number(value);
    else if (flag === '--pacing') args.pacing = value;
    else if (flag === '--out') args.out = value;
    else throw new Error(`unknown flag ${flag}\n${HELP}`);
  }
  for (const name of ['validators', 'seconds', 'port'] as const) {
    if (!Number.isInteger(args[name]) || args[name] < 1)
      throw new Error(`--${name} must be a positive integer`);
  }
  if (!(args.warmup >= 0)) throw new Error('--warmup must be a number ≥ 0');
  return args;
}

/** init_network's pacing options for `--pacing`; `continuous` strips both from config.json instead. */
function pacing_options(mode: string): { empty_block_interval_ms?: number; block_time_ms?: number } {
  if (mode === 'on-demand' || mode === 'continuous') return {};
  const m = /^(interval|block-time):([0-9]+(?:\.[0-9]+)?)$/.exec(mode);
  if (m === null) throw new Error(`--pacing ${mode}: on-demand, interval:S, block-time:S or continuous`);
  const ms = Math.round(Number(m[2]) * 1000);
  return m[1] === 'interval' ? { empty_block_interval_ms: ms } : { block_time_ms: ms };
}

/** Clock ticks per second of /proc/<pid>/stat's times. */
function clock_ticks(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

/** utime + stime + cutime + cstime of a process, in clock ticks. */
export function cpu_ticks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function heights(urls: string[]): Promise<number[]> {
  return Promise.all(
    urls.map((u) =>
      rpc<{ height: number }>(u, '/v1/status', { timeout_ms: 5_000 }).then(
        (s) => s.height,
        () => -1,
      ),
    ),
  );
}

async function main(): Promise<void> {
  const args = parse_args(process.argv.slice(2));
  const options = pacing_options(args.pacing);
  const root = mkdtempSync(join(tmpdir(), 'cloister-bench-idle-'));
  const dir = join(root, 'net');
  let network: LocalNetwork | null = null;
  const cleanup = async () => {
    await network?.down().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    void cleanup().then(() => process.exit(130));
  });
  try {
    const { homes } = await init_network({
      dir,
      validators: args.validators,
      chain_id: 'cloister-local-1',
      base_port: args.port,
      host: '127.0.0.1',
      provider: 'native',
      workers: 1,
      dev: true,
      ...options,
    });
    if (args.pacing === 'continuous') {
      for (const home of homes) {
        const path = join(home, 'config.json');
        const config = JSON.parse(readFileSync(path, 'utf8'));
        delete config.consensus.empty_block_interval_ms;
        delete config.consensus.block_time_ms;
        writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
      }
    }
    console.error(`starting ${args.validators} validators (pacing ${args.pacing})`);
    network = await LocalNetwork.up({ validators: args.validators, dir, port: args.port });
    const urls = network.urls();
    const deadline = performance.now() + 60_000;
    while (Math.min(...(await heights(urls))) < 1) {
      if (performance.now() > deadline) throw new Error('block 1 was not committed within 60 s');
      await sleep(200);
    }
    console.error(`block 1 committed; warming up ${args.warmup} s`);
    await sleep(args.warmup * 1000);
    const pids = homes.map((_, i) => {
      const pid = network!.pid(i);
      if (pid === undefined) throw new Error(`validator ${i} does not run`);
      return pid;
    });
    const tck = clock_ticks();
    const before = pids.map(cpu_ticks);
    const heights_before = await heights(urls);
    const t0 = performance.now();
    console.error(`measuring ${args.seconds} s`);
    await sleep(args.seconds * 1000);
    const after = pids.map(cpu_ticks);
    const elapsed_s = (performance.now() - t0) / 1000;
    const heights_after = await heights(urls);
    const per_validator = pids.map((_, i) => (after[i]! - before[i]!) / tck / elapsed_s);
    const total = per_validator.reduce((a, b) => a + b, 0);
    const share = total * 100;
    const report = {
      bench: 'idle',
      validators: args.validators,
      pacing: args.pacing,
      seconds: Number(elapsed_s.toFixed(3)),
      clock_ticks_per_s: tck,
      cpu_seconds_per_second: Number(total.toFixed(5)),
      share_of_one_core_pct: Number(share.toFixed(3)),
      per_validator_pct: per_validator.map((x) => Number((x * 100).toFixed(3))),
      bound_pct: IDLE_CPU_BOUND_PCT,
      ratio_to_bound: Number((share / IDLE_CPU_BOUND_PCT).toFixed(3)),
      within_bound: share < IDLE_CPU_BOUND_PCT,
      heights_before,
      heights_after,
      blocks_while_measuring: Math.max(...heights_after) - Math.max(...heights_before),
      cpus: (await import('node:os')).cpus().length,
      node: process.version,
    };
    const text = JSON.stringify(report, null, 2);
    console.log(text);
    if (args.out !== null) writeFileSync(args.out, `${text}\n`);
  } finally {
    await cleanup();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
