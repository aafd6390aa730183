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
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { BlockInput, PublicKeys } from '../enclave/api.js';
import { AttestationService } from '../enclave/attestation.js';
import { PoolEnclave } from '../enclave/pool.js';
import { unwrap } from '../enclave/result.js';
import { read_shipped_contract } from '../node/reference_contracts.js';
import { from_hex, to_base64, to_hex, utf8 } from '../protocol/bytes.js';
import { ResultCode } from '../protocol/codes.js';
import { encrypt_message, open_envelope } from '../protocol/envelope.js';
import { jcs } from '../protocol/jcs.js';
import type { CryptoProvider, ProviderName } from '../protocol/provider.js';
import { get_provider } from '../protocol/providers/index.js';
import { seal_result_json } from '../protocol/result.js';
import { sign_bytes, sign_tx, type Tx, type TxMsg } from '../protocol/tx.js';
import { MemoryChain } from '../sim/memory_chain.js';
import { escape_xml, is_main, log, machine_info, round } from './bench/report.js';

const CHAIN_ID = 'cloister-bench-1';
const T0_MS = 1_790_000_000_000;
const CONTRACTS = ['echo', 'counter', 'storage_heavy', 'compute_heavy'] as const;
type ContractName = (typeof CONTRACTS)[number];
/** Code ids in the bench chain's genesis (MemoryChain numbers codes from 1 in this order). */
const CODE_ID: Record<ContractName, number> = { echo: 1, counter: 2, storage_heavy: 3, compute_heavy: 4 };
const INIT_MSG: Record<ContractName, unknown> = {
  echo: {},
  counter: { count: 0 },
  storage_heavy: {},
  compute_heavy: {},
};
const STORAGE_WRITES = 4;
const STORAGE_VALUE_BYTES = 64;
const COMPUTE_ROUNDS = 1000;

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

interface Plan {
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
}

/**
 * Blocks of warm-up a new pool runs at most. A fresh worker's first ~1,500 transactions run up to
 * 1.6× slower than later ones (measured: 415 µs/tx in the first block of 200, about 270 from the
 * ninth on) while V8 optimises the enclave, the VM and the contract; measuring before that would
 * charge JIT warm-up to the enclave.
 */
const POOL_WARM_BLOCKS_MAX = 12;

const HELP = `Usage: node dist/scripts/bench_enclave.js [--quick] [--out FILE] [--svg FILE]

Measures enclave throughput (tx/s through a PoolEnclave) against a single-thread cryptographic
bound, for a matrix of workers, provider, payload size, contract and client-key reuse.

  --quick      a small matrix (workers 1 and 2, native and noble, 256 B and 4 KiB, echo and
               counter, fresh key only): under a minute on 2 cores
  --out FILE   write the results as JSON to FILE
  --svg FILE   write an SVG bar chart to FILE (default: --out with .svg, or bench-enclave.svg)
  --help       this text
`;

/** The execute message of `contract`, padded so its JSON text is about `payload_bytes` long. */
export function execute_msg(contract: ContractName, payload_bytes: number): Record<string, unknown> {
  const base: Record<string, unknown> =
    contract === 'echo'
      ? { echo: { value: '' } }
      : contract === 'counter'
        ? { increment: {} }
        : contract === 'storage_heavy'
          ? { write: { count: STORAGE_WRITES, value_bytes: STORAGE_VALUE_BYTES } }
          : { compute: { rounds: COMPUTE_ROUNDS } };
  if (contract !== 'echo') base['pad'] = '';
  const fill = Math.max(0, payload_bytes - JSON.stringify(base).length);
  const pad = 'x'.repeat(fill);
  if (contract === 'echo') base['echo'] = { value: pad };
  else base['pad'] = pad;
  return base;
}

/** What the contract answers to `msg` (the result the enclave seals), for the bound's seal step. */
function result_jcs(contract: ContractName, msg: Record<string, unknown>): string {
  const data =
    contract === 'echo'
      ? (msg['echo'] as { value: string }).value
      : contract === 'counter'
        ? { count: 1 }
        : contract === 'storage_heavy'
          ? { written: STORAGE_WRITES }
          : { result: 'ffffffff' };
  return jcs({ data, events: [] });
}

/** A signing account; clients sign with the native provider (client work is not measured). */
class Account {
  readonly sk: Uint8Array;
  readonly pubkey: string;
  sequence = 0;
  constructor(readonly p: CryptoProvider) {
    this.sk = new Uint8Array(randomBytes(32));
    this.pubkey = to_hex(p.ed25519_public(this.sk));
  }
  tx(msg: TxMsg, gas_limit = 2_000_000): Tx {
    const body = { chain_id: CHAIN_ID, sender: this.pubkey, sequence: this.sequence++, gas_limit, msg };
    return sign_tx(this.p, this.sk, body);
  }
}

/** Client-side encryption of `msg` to `pk_io` with a fresh or given X25519 key and a fresh nonce. */
function envelope_for(
  p: CryptoProvider,
  pk_io: Uint8Array,
  code_hash: string,
  msg: unknown,
  sk_u: Uint8Array | null,
): Uint8Array {
  return encrypt_message(p, {
    scheme: 'gcm',
    sk_u: sk_u ?? new Uint8Array(randomBytes(32)),
    pk_io,
    nonce: new Uint8Array(randomBytes(32)),
    chain_id: CHAIN_ID,
    code_hash,
    msg_json: JSON.stringify(msg),
  }).envelope;
}

/** A copy of a host chain's state, so lanes run independently. */
function clone_chain(p: CryptoProvider, base: MemoryChain, codes: { name: string; code: Uint8Array }[]) {
  const chain = new MemoryChain(p, { chain_id: base.chain_id, attestation: base.attestation, codes });
  chain.height = base.height;
  chain.last_result_hash = base.last_result_hash;
  chain.next_code_id = base.next_code_id;
  for (const [k, v] of base.accounts) chain.accounts.set(k, v);
  for (const [k, v] of base.contracts) chain.contracts.set(k, v);
  for (const [k, v] of base.codes) chain.codes.set(k, v);
  for (const [k, v] of base.state) chain.state.set(k, new Map(v));
  return chain;
}

/** Setup shared by every row: a sealed seed, its keys, and a base chain with one instance of each contract. */
export interface World {
  home: string;
  secret: string;
  sealed_seed: string;
  keys: PublicKeys;
  codes: { name: string; code: Uint8Array }[];
  base: MemoryChain;
  address: Record<ContractName, string>;
}

export async function make_world(): Promise<World> {
  const p = get_provider('native');
  const home = mkdtempSync(join(tmpdir(), 'cloister-bench-'));
  const secret = join(home, 'platform_secret');
  const enclave = new PoolEnclave({ provider: 'native', platform_secret_file: secret, workers: 1 });
  try {
    const measurement = unwrap(await enclave.measurement());
    const seed = unwrap(await enclave.create_seed());
    const codes = CONTRACTS.map((name) => read_shipped_contract(name));
    const attestation = new AttestationService(p, p.sha256(utf8('cloister-bench/attestation-root')));
    const base = new MemoryChain(p, {
      chain_id: CHAIN_ID,
      attestation: { roots: [attestation.root_pubkey], measurements: [measurement] },
      codes,
    });
    const admin = new Account(p);
    const pk_io = from_hex(seed.keys.io_pubkey, 32);
    const txs = CONTRACTS.map((name) => {
      const code = base.codes.get(CODE_ID[name])!;
      const payload = to_base64(envelope_for(p, pk_io, code.code_hash, INIT_MSG[name], null));
      return JSON.stringify(
        admin.tx({ type: 'instantiate', code_id: code.code_id, label: name, scheme: 'gcm', payload }),
      );
    });
    const input = base.block_input(txs, T0_MS);
    const output = unwrap(await enclave.execute_block(input));
    base.apply(input, output);
    const address = {} as Record<ContractName, string>;
    CONTRACTS.forEach((name, i) => {
      const r = output.results[i]!;
      if (r.code !== ResultCode.OK || r.contract === undefined)
        throw new Error(`instantiating ${name} failed: code ${r.code}`);
      address[name] = r.contract;
    });
    return { home, secret, sealed_seed: seed.sealed_seed, keys: seed.keys, codes, base, address };
  } finally {
    await enclave.close();
  }
}

/** Transactions for one lane: `blocks` blocks of `block_txs` execute txs from one account. */
export function lane_txs(
  world: World,
  contract: ContractName,
  payload_bytes: number,
  fresh_key: boolean,
  blocks: number,
  block_txs: number,
): string[][] {
  const p = get_provider('native');
  const account = new Account(p);
  const pk_io = from_hex(world.keys.io_pubkey, 32);
  const code_hash = world.base.codes.get(CODE_ID[contract])!.code_hash;
  const reused = fresh_key ? null : new Uint8Array(randomBytes(32));
  const msg = execute_msg(contract, payload_bytes);
  const out: string[][] = [];
  for (let b = 0; b < blocks; b++) {
    const block: string[] = [];
    for (let i = 0; i < block_txs; i++) {
      const payload = to_base64(envelope_for(p, pk_io, code_hash, msg, reused));
      const tx = account.tx({ type: 'execute', contract: world.address[contract], scheme: 'gcm', payload });
      block.push(JSON.stringify(tx));
    }
    out.push(block);
  }
  return out;
}

/**
 * Runs unrecorded blocks of 256-byte echo transactions (one lane per worker) through a new pool
 * until `min_ms` have passed or {@link POOL_WARM_BLOCKS_MAX} blocks per lane have run.
 */
export async function warm_pool(
  enclave: PoolEnclave,
  world: World,
  workers: number,
  block_txs: number,
  min_ms: number,
): Promise<void> {
  const start = performance.now();
  for (let b = 0; b < POOL_WARM_BLOCKS_MAX && performance.now() - start < min_ms; b++) {
    const lanes = Array.from({ length: workers }, () => lane_txs(world, 'echo', 256, true, 1, block_txs));
    await measure_throughput(enclave, world, lanes);
  }
}

function check_output(results: { code: number }[], what: string): void {
  for (const r of results)
    if (r.code !== ResultCode.OK) throw new Error(`${what}: a tx answered code ${r.code}`);
}

/** Runs `lanes` (each a list of blocks) through `enclave` concurrently; returns tx/s. */
export async function measure_throughput(
  enclave: PoolEnclave,
  world: World,
  lanes: string[][][],
): Promise<number> {
  const p = get_provider('native');
  const chains = lanes.map(() => clone_chain(p, world.base, world.codes));
  let txs = 0;
  for (const lane of lanes) for (const block of lane) txs += block.length;
  const start = performance.now();
  await Promise.all(
    lanes.map(async (lane, l) => {
      const chain = chains[l]!;
      for (const block of lane) {
        const input: BlockInput = chain.block_input(block, T0_MS + (chain.height + 1) * 1000);
        const output = unwrap(await enclave.execute_block(input));
        check_output(output.results, 'execute_block');
        chain.apply(input, output);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  return txs / seconds;
}

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
  for (const it of items.slice(0, Math.min(20, items.length))) one(it); // warm up
  let done = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (const it of items) one(it);
    done += items.length;
    elapsed = performance.now() - start;
  } while (elapsed < min_ms);
  return done / (elapsed / 1000);
}

function plan_for(quick: boolean, tiny: boolean): Plan {
  const max_workers = Math.max(1, cpus().length);
  const plan: Plan = quick
    ? {
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
      }
    : {
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
      };
  if (tiny) {
    plan.pool_warm_ms = 0;
    plan.block_txs = 10;
    plan.blocks_per_lane = 1;
    plan.bound_sample = 10;
    plan.bound_min_ms = 10;
  }
  return plan;
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
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="10" y="20" font-size="14">Cloister enclave throughput: tx/s (dark) vs single-thread crypto bound × workers (light)</text>`,
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
  try {
    for (const workers of plan.workers) {
      for (const provider of plan.providers) {
        const enclave = new PoolEnclave({ provider, platform_secret_file: world.secret, workers });
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
  } finally {
    rmSync(world.home, { recursive: true, force: true });
  }
  process.stdout.write(`${format_table(results)}\n`);
  const machine = machine_info();
  if (out !== undefined) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify({ results, machine }, null, 2)}\n`);
    log(`wrote ${out}`);
  }
  mkdirSync(dirname(svg), { recursive: true });
  writeFileSync(svg, render_svg(results));
  log(`wrote ${svg}`);
}

// Only when run as the script: bench_network.ts imports this module's measurement functions.
if (is_main(import.meta.url)) {
  main().catch((error: unknown) => {
    log(`bench:enclave failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  });
}
