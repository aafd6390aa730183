/**
 * Enclave throughput benchmark (issue #5): for each point of a matrix (workers, crypto provider,
 * payload bytes, contract, fresh or reused client key) it measures
 *
 * - `tx_per_s`: signed, encrypted execute transactions prepared beforehand (client work is not
 *   timed) run through a {@link PoolEnclave} in blocks, `workers` lanes at once, each lane on its
 *   own copy of the host chain (block_input → execute_block → apply, host work included);
 * - `bound_tx_per_s`: the same cryptography per transaction (Ed25519 verify, X25519 + HKDF + open
 *   envelope, seal result) in one tight loop on the main thread with the same provider, no workers
 *   and no contract, times the number of workers;
 * - `ratio = tx_per_s / bound_tx_per_s`.
 *
 * Prints a table to stdout, progress to stderr, JSON to `--out` and an SVG bar chart to `--svg`.
 * Run: `npm run bench:enclave -- [--quick] [--out FILE] [--svg FILE]`. Timing uses
 * performance.now() on the host side only; enclave code never reads clocks.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, extname } from 'node:path';
import { parseArgs } from 'node:util';
import type { BlockOutput } from '../enclave/api.js';
import { EnclaveCore } from '../enclave/core.js';
import { PoolEnclave } from '../enclave/pool.js';
import { unwrap } from '../enclave/result.js';
import { default_engine, set_default_engine } from '../enclave/vm/compile.js';
import { from_hex, to_hex, utf8 } from '../protocol/bytes.js';
import { open_envelope } from '../protocol/envelope.js';
import type { ProviderName } from '../protocol/provider.js';
import { get_provider } from '../protocol/providers/index.js';
import { seal_result_json } from '../protocol/result.js';
import { sign_bytes } from '../protocol/tx.js';
import { type CostPlan, type CostRow, format_costs, measure_costs, per_item_us } from './bench/costs.js';
import { escape_xml, is_main, log, machine_info, percentile, round, text_table } from './bench/report.js';
import {
  Account,
  CHAIN_ID,
  CONTRACTS,
  type ContractName,
  clone_chain,
  envelope_for,
  execute_msg,
  lane_txs,
  make_world,
  measure_throughput,
  result_jcs,
  T0_MS,
  type World,
  warm_pool,
} from './bench/world.js';

/** One matrix point's measurement, as written to the JSON. */
export interface BenchResult {
  workers: number;
  provider: ProviderName;
  payload_bytes: number;
  contract: ContractName;
  fresh_key: boolean;
  tx_per_s: number;
  bound_tx_per_s: number;
  ratio: number;
}

/**
 * One block at a time, as a node executes them (issue #16): the time one block of `block_txs`
 * takes on a pool of `workers`, executed on one worker (`stage: false`) against staged over all
 * of them (enclave/speculate.ts), and the speedup.
 */
export interface StagingRow {
  workers: number;
  contract: ContractName;
  block_txs: number;
  serial_ms: number;
  staged_ms: number;
  speedup: number;
  /**
   * The same kind of block on one thread, no pool (medians, ms): executed serially, staged as one
   * range, and executed from those records: the part staging cannot spread.
   */
  in_process: { serial_ms: number; stage_ms: number; execute_staged_ms: number };
}

interface Plan {
  /** The one-block-at-a-time rows: pool sizes and contracts (echo: independent txs; counter: all conflict). */
  staging: { workers: number[]; contracts: ContractName[]; blocks: number };
  workers: number[];
  providers: ProviderName[];
  payloads: number[];
  contracts: ContractName[];
  fresh: boolean[];
  block_txs: number;
  blocks_per_lane: number;
  bound_sample: number;
  bound_min_ms: number;
  /** Unrecorded execution when a pool starts, so the JIT has settled before any row is measured. */
  pool_warm_ms: number;
  /** The cost breakdown's rows (providers × contracts × payloads, fresh keys) and timing. */
  costs: { providers: ProviderName[]; contracts: ContractName[]; payloads: number[]; plan: CostPlan };
}

const HELP = `Usage: node dist/scripts/bench_enclave.js [--quick] [--engine quickjs|v8] [--out FILE] [--svg FILE]

Measures enclave throughput (tx/s through a PoolEnclave) against a single-thread cryptographic
bound, for a matrix of workers, provider, payload size, contract and client-key reuse.

  --quick      a small matrix (workers 1 and 2, native and noble, 256 B and 4 KiB, echo and
               counter, fresh key only) and the native cost breakdown of echo and counter at
               256 B: under a minute on 2 cores
  --engine E   the contract engine: quickjs (the default, what validators run) or v8 (node:vm)
  --out FILE   write the results as JSON to FILE
  --svg FILE   write an SVG bar chart to FILE (default: --out with .svg, or bench-enclave.svg)
  --help       this text
`;

/** Single-thread rate of the per-transaction cryptography with `provider`; tx/s on one core. */
function measure_bound(
  provider: ProviderName,
  contract: ContractName,
  payload_bytes: number,
  fresh_key: boolean,
  sample: number,
  min_ms: number,
): number {
  const native = get_provider('native');
  const p = get_provider(provider);
  const io_sk = new Uint8Array(randomBytes(32));
  const pk_io = native.x25519_secret(io_sk).public_key;
  const code_hash = to_hex(native.sha256(utf8(contract)));
  const msg = execute_msg(contract, payload_bytes);
  const result = result_jcs(contract, msg);
  const account = new Account(native);
  const reused = fresh_key ? null : new Uint8Array(randomBytes(32));
  const items = Array.from({ length: sample }, () => {
    const envelope = envelope_for(native, pk_io, code_hash, msg, reused);
    const tx = account.tx({ type: 'execute', contract: '00'.repeat(20), scheme: 'gcm', payload: '' });
    return {
      envelope,
      message: sign_bytes(tx.body),
      signature: from_hex(tx.signature, 64),
      pk: from_hex(tx.body.sender, 32),
    };
  });
  const io = p.x25519_secret(io_sk);
  const one = (it: (typeof items)[number]) => {
    if (!p.ed25519_verify(it.signature, it.message, it.pk)) throw new Error('bound: bad signature');
    const opened = open_envelope(p, io, {
      scheme: 'gcm',
      envelope: it.envelope,
      chain_id: CHAIN_ID,
      code_hash,
    });
    seal_result_json(p, 'gcm', opened.tx_key, result);
  };
  return 1e6 / per_item_us(items, one, min_ms);
}

function plan_for(quick: boolean, tiny: boolean): Plan {
  const max_workers = Math.max(1, cpus().length);
  const plan: Plan = quick
    ? {
        staging: { workers: [Math.min(2, max_workers)], contracts: ['echo', 'counter'], blocks: 4 },
        workers: [...new Set([1, Math.min(2, max_workers)])],
        providers: ['native', 'noble'],
        payloads: [256, 4096],
        contracts: ['echo', 'counter'],
        fresh: [true],
        block_txs: 200,
        blocks_per_lane: 2,
        bound_sample: 200,
        bound_min_ms: 300,
        pool_warm_ms: 1500,
        // Native only: noble's rows take several seconds each, and --quick must stay under a minute.
        costs: {
          providers: ['native'],
          contracts: ['echo', 'counter'],
          payloads: [256],
          plan: { sample: 200, stage_min_ms: 300, block_txs: 200, blocks: 3, warm_ms: 1500 },
        },
      }
    : {
        staging: {
          workers: [...new Set([2, 4, 8, 16, max_workers])].filter((w) => w <= max_workers),
          contracts: ['echo', 'counter'],
          blocks: 5,
        },
        workers: Array.from({ length: max_workers }, (_, i) => i + 1),
        providers: ['native', 'noble'],
        payloads: [64, 256, 1024, 4096, 16384],
        contracts: [...CONTRACTS],
        fresh: [true, false],
        block_txs: 200,
        blocks_per_lane: 2,
        bound_sample: 200,
        bound_min_ms: 300,
        pool_warm_ms: 1500,
        costs: {
          providers: ['native', 'noble'],
          contracts: [...CONTRACTS],
          payloads: [256, 4096],
          plan: { sample: 200, stage_min_ms: 300, block_txs: 200, blocks: 3, warm_ms: 1500 },
        },
      };
  if (tiny) {
    plan.pool_warm_ms = 0;
    plan.costs = {
      providers: ['native'],
      contracts: ['echo'],
      payloads: [256],
      plan: { sample: 4, stage_min_ms: 1, block_txs: 4, blocks: 1, warm_ms: 0 },
    };
    plan.block_txs = 16;
    plan.blocks_per_lane = 1;
    plan.staging = { workers: [Math.min(2, max_workers)], contracts: ['echo'], blocks: 1 };
    plan.bound_sample = 10;
    plan.bound_min_ms = 10;
  }
  return plan;
}

/** Milliseconds per block of one lane through a pool of `workers`, staged or not (native, 256 B, fresh keys). */
async function block_ms(
  world: World,
  workers: number,
  stage: boolean,
  contract: ContractName,
  block_txs: number,
  blocks: number,
): Promise<number> {
  const enclave = new PoolEnclave({
    provider: 'native',
    platform_secret_file: world.secret,
    workers,
    vm_engine: default_engine(),
    stage,
    stage_chunk_txs_min: Math.min(8, Math.floor(block_txs / workers)),
  });
  try {
    unwrap(await enclave.load_seed(world.sealed_seed));
    // Unrecorded blocks first: the staging path's first blocks run up to 3x slower while V8
    // optimises it (a worker's first block stages at about a third of its later speed).
    await measure_throughput(enclave, world, [lane_txs(world, contract, 256, true, 4, block_txs)]);
    const tx_per_s = await measure_throughput(enclave, world, [
      lane_txs(world, contract, 256, true, blocks, block_txs),
    ]);
    return (block_txs / tx_per_s) * 1000;
  } finally {
    await enclave.close();
  }
}

function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

/** {@link StagingRow.in_process}: `blocks` measured after 2 unrecorded; staged output checked equal. */
async function staging_in_process(
  world: World,
  contract: ContractName,
  block_txs: number,
  blocks: number,
): Promise<StagingRow['in_process']> {
  const core = new EnclaveCore({
    provider: 'native',
    platform_secret_file: world.secret,
    vm_engine: default_engine(),
  });
  const chain = await clone_chain(world.base);
  const sealed_seed = world.sealed_seed;
  const times = { serial: [] as number[], stage: [] as number[], execute: [] as number[] };
  try {
    for (let b = 0; b < blocks + 2; b++) {
      const txs = lane_txs(world, contract, 256, true, 1, block_txs)[0]!;
      const input = await chain.block_input(txs, T0_MS + (chain.height() + 1) * 1000);
      const t0 = performance.now();
      const serial = unwrap(core.dispatch({ call: 'execute_block', sealed_seed, input }));
      const t1 = performance.now();
      const staged = unwrap(
        core.dispatch({ call: 'stage_txs', sealed_seed, input, from: 0, to: txs.length }),
      );
      const t2 = performance.now();
      const output = unwrap(
        core.dispatch({ call: 'execute_block', sealed_seed, input, staged: staged as Uint8Array[] }),
      );
      const t3 = performance.now();
      if (JSON.stringify(output) !== JSON.stringify(serial))
        throw new Error('staged and serial outputs differ');
      if (b >= 2) {
        times.serial.push(t1 - t0);
        times.stage.push(t2 - t1);
        times.execute.push(t3 - t2);
      }
      await chain.apply(input, serial as BlockOutput);
    }
  } finally {
    await chain.close();
  }
  return {
    serial_ms: round(median(times.serial), 1),
    stage_ms: round(median(times.stage), 1),
    execute_staged_ms: round(median(times.execute), 1),
  };
}

/** The one-block-at-a-time rows (see {@link StagingRow}). */
async function measure_staging(world: World, plan: Plan): Promise<StagingRow[]> {
  const rows: StagingRow[] = [];
  for (const workers of plan.staging.workers) {
    for (const contract of plan.staging.contracts) {
      const { block_txs } = plan;
      const serial_ms = await block_ms(world, workers, false, contract, block_txs, plan.staging.blocks);
      const staged_ms = await block_ms(world, workers, true, contract, block_txs, plan.staging.blocks);
      const in_process = await staging_in_process(world, contract, block_txs, plan.staging.blocks);
      const row: StagingRow = {
        workers,
        contract,
        block_txs,
        serial_ms: round(serial_ms, 1),
        staged_ms: round(staged_ms, 1),
        speedup: round(serial_ms / staged_ms, 2),
        in_process,
      };
      rows.push(row);
      log(
        `[staging] workers=${workers} ${contract} ${block_txs} txs: one worker ${row.serial_ms} ms/block, ` +
          `staged ${row.staged_ms} ms/block, ${row.speedup}x; one thread: serial ${in_process.serial_ms} ms, ` +
          `staging ${in_process.stage_ms} ms, executing from the records ${in_process.execute_staged_ms} ms`,
      );
    }
  }
  return rows;
}

/** The staging rows as an aligned table. */
function format_staging(rows: readonly StagingRow[]): string {
  const head = [
    'workers',
    'contract',
    'block txs',
    'one worker ms',
    'staged ms',
    'speedup',
    '1 thread: serial ms',
    'stage ms',
    'execute staged ms',
  ];
  const body = rows.map((r) => [
    String(r.workers),
    r.contract,
    String(r.block_txs),
    String(r.serial_ms),
    String(r.staged_ms),
    `${r.speedup}x`,
    String(r.in_process.serial_ms),
    String(r.in_process.stage_ms),
    String(r.in_process.execute_staged_ms),
  ]);
  return text_table(head, body, [true, false, true, true, true, true, true, true, true]);
}

/** The stdout table: a header and one aligned row per result. */
export function format_table(results: BenchResult[]): string {
  const head = ['workers', 'provider', 'payload_B', 'contract', 'key', 'tx/s', 'bound tx/s', 'ratio'];
  const rows = results.map((r) => [
    String(r.workers),
    r.provider,
    String(r.payload_bytes),
    r.contract,
    r.fresh_key ? 'fresh' : 'reused',
    r.tx_per_s.toFixed(1),
    r.bound_tx_per_s.toFixed(1),
    r.ratio.toFixed(3),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const numeric = [true, false, true, false, false, true, true, true];
  const line = (cells: string[]) =>
    cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const ENCLAVE_CHART_TITLE =
  'Cloister enclave throughput: tx/s (dark) vs single-thread crypto bound × workers (light)';

/** A horizontal bar chart: per row, measured tx/s (dark) over the bound (light), with labels. */
export function render_svg(results: BenchResult[]): string {
  const label_w = 330;
  const bar_w = 520;
  const row_h = 34;
  const top = 40;
  const width = label_w + bar_w + 140;
  const height = top + results.length * row_h + 30;
  const max = Math.max(1, ...results.map((r) => Math.max(r.tx_per_s, r.bound_tx_per_s)));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="monospace" font-size="12">`,
    `<title>${ENCLAVE_CHART_TITLE}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="10" y="20" font-size="14">${ENCLAVE_CHART_TITLE}</text>`,
  ];
  results.forEach((r, i) => {
    const y = top + i * row_h;
    const label = `w${r.workers} ${r.provider} ${r.payload_bytes}B ${r.contract} ${r.fresh_key ? 'fresh' : 'reused'}`;
    const bw = (r.bound_tx_per_s / max) * bar_w;
    const tw = (r.tx_per_s / max) * bar_w;
    parts.push(
      `<text x="10" y="${y + 18}">${escape_xml(label)}</text>`,
      `<rect x="${label_w}" y="${y + 4}" width="${bw.toFixed(1)}" height="12" fill="#9ecae1"/>`,
      `<rect x="${label_w}" y="${y + 17}" width="${tw.toFixed(1)}" height="12" fill="#08519c"/>`,
      `<text x="${(label_w + Math.max(bw, tw) + 6).toFixed(1)}" y="${y + 20}">${r.tx_per_s.toFixed(0)} / ${r.bound_tx_per_s.toFixed(0)} (${r.ratio.toFixed(2)})</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      engine: { type: 'string', default: 'quickjs' },
      tiny: { type: 'boolean', default: false }, // hidden: shrinks N for the test
      out: { type: 'string' },
      svg: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const engine = values.engine;
  if (engine !== 'quickjs' && engine !== 'v8') throw new TypeError('--engine must be quickjs or v8');
  // In-process measurements (the cost breakdown) and the pool's workers both use it.
  set_default_engine(engine);
  const plan = plan_for(values.quick, values.tiny);
  const out = values.out;
  const svg =
    values.svg ??
    (out !== undefined ? `${out.slice(0, out.length - extname(out).length)}.svg` : 'bench-enclave.svg');
  const total =
    plan.workers.length *
    plan.providers.length *
    plan.payloads.length *
    plan.contracts.length *
    plan.fresh.length;
  log(
    `bench:enclave: ${total} rows, ${plan.block_txs} txs per block, ${plan.blocks_per_lane} blocks per lane`,
  );
  const world = await make_world();
  const results: BenchResult[] = [];
  const costs: CostRow[] = [];
  let staging: StagingRow[] = [];
  try {
    staging = await measure_staging(world, plan);
    for (const workers of plan.workers) {
      for (const provider of plan.providers) {
        const enclave = new PoolEnclave({
          provider,
          platform_secret_file: world.secret,
          workers,
          vm_engine: default_engine(),
          // Lanes of independent blocks, one per worker: the pool's own scaling, as before issue
          // #16 (the staging rows measure one block at a time over all workers).
          stage: false,
        });
        try {
          unwrap(await enclave.load_seed(world.sealed_seed));
          await warm_pool(enclave, world, workers, plan.block_txs, plan.pool_warm_ms);
          for (const contract of plan.contracts) {
            for (const payload_bytes of plan.payloads) {
              for (const fresh_key of plan.fresh) {
                // Client work, not timed: sign and encrypt every transaction first.
                const lanes = Array.from({ length: workers }, () =>
                  lane_txs(world, contract, payload_bytes, fresh_key, plan.blocks_per_lane, plan.block_txs),
                );
                // Warm-up: one block per worker of this row's kind (compiles the contract, warms
                // the row's own code paths); the pool itself was warmed when it started.
                const warm = Array.from({ length: workers }, () =>
                  lane_txs(world, contract, payload_bytes, fresh_key, 1, plan.block_txs),
                );
                await measure_throughput(enclave, world, warm);
                const tx_per_s = await measure_throughput(enclave, world, lanes);
                const one_core = measure_bound(
                  provider,
                  contract,
                  payload_bytes,
                  fresh_key,
                  plan.bound_sample,
                  plan.bound_min_ms,
                );
                const bound = one_core * workers;
                const r: BenchResult = {
                  workers,
                  provider,
                  payload_bytes,
                  contract,
                  fresh_key,
                  tx_per_s: round(tx_per_s, 1),
                  bound_tx_per_s: round(bound, 1),
                  ratio: round(tx_per_s / bound, 3),
                };
                results.push(r);
                log(
                  `[${results.length}/${total}] workers=${workers} ${provider} ${payload_bytes}B ${contract} ` +
                    `${fresh_key ? 'fresh' : 'reused'}: ${r.tx_per_s} tx/s, bound ${r.bound_tx_per_s}, ratio ${r.ratio}`,
                );
              }
            }
          }
        } finally {
          await enclave.close();
        }
      }
    }
    for (const provider of plan.costs.providers) {
      for (const contract of plan.costs.contracts) {
        for (const payload_bytes of plan.costs.payloads) {
          const c = await measure_costs(world, provider, contract, payload_bytes, plan.costs.plan);
          costs.push(c);
          log(
            `[costs] ${provider} ${contract} ${payload_bytes}B: execute ${c.execute_us} µs/tx ` +
              `(verify ${c.verify_us}, open ${c.open_us}, other ${c.other_us}), pool ${c.pool_us}`,
          );
        }
      }
    }
  } finally {
    rmSync(world.home, { recursive: true, force: true });
  }
  process.stdout.write(`${format_table(results)}\n\n${format_costs(costs)}\n\n${format_staging(staging)}\n`);
  const machine = machine_info();
  if (out !== undefined) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(
      out,
      `${JSON.stringify({ engine: default_engine(), results, costs, staging, machine }, null, 2)}\n`,
    );
    log(`wrote ${out}`);
  }
  mkdirSync(dirname(svg), { recursive: true });
  writeFileSync(svg, render_svg(results));
  log(`wrote ${svg}`);
}

if (is_main(import.meta.url)) {
  main().catch((error: unknown) => {
    log(`bench:enclave failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  });
}
