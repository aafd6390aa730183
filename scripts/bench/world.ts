/**
 * The harness the enclave benchmarks share (bench:enclave's matrix and cost breakdown, and the
 * bound of bench:network): a bench chain with one instance of each benchmark contract, signed and
 * encrypted transactions made before any timing, lanes of blocks run through a pool, and pool
 * warm-up. Client work (signing, encrypting) is never timed.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BlockInput, PublicKeys } from '../../enclave/api.js';
import { AttestationService } from '../../enclave/attestation.js';
import { PoolEnclave } from '../../enclave/pool.js';
import { unwrap } from '../../enclave/result.js';
import { read_shipped_contract } from '../../node/reference_contracts.js';
import { LocalChain } from '../../node/store/local_chain.js';
import { from_hex, to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { ResultCode } from '../../protocol/codes.js';
import { encrypt_message } from '../../protocol/envelope.js';
import { jcs } from '../../protocol/jcs.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { get_provider } from '../../protocol/providers/index.js';
import { sign_tx, type Tx, type TxMsg } from '../../protocol/tx.js';

export const CHAIN_ID = 'cloister-bench-1';
export const T0_MS = 1_790_000_000_000;
export const CONTRACTS = ['echo', 'counter', 'storage_heavy', 'compute_heavy'] as const;
export type ContractName = (typeof CONTRACTS)[number];
/** Code ids in the bench chain's genesis (genesis codes are numbered from 1 in this order). */
export const CODE_ID: Record<ContractName, number> = {
  echo: 1,
  counter: 2,
  storage_heavy: 3,
  compute_heavy: 4,
};
const INIT_MSG: Record<ContractName, unknown> = {
  echo: {},
  counter: { count: 0 },
  storage_heavy: {},
  compute_heavy: {},
};
const STORAGE_WRITES = 4;
const STORAGE_VALUE_BYTES = 64;
const COMPUTE_ROUNDS = 1000;

/**
 * Blocks of warm-up a new pool runs at most. A fresh worker's first ~1,500 transactions run up to
 * 1.6× slower than later ones (measured: 415 µs/tx in the first block of 200, about 270 from the
 * ninth on) while V8 optimises the enclave, the VM and the contract; measuring before that would
 * charge JIT warm-up to the enclave.
 */
export const POOL_WARM_BLOCKS_MAX = 12;

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
export function result_jcs(contract: ContractName, msg: Record<string, unknown>): string {
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
export class Account {
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
export function envelope_for(
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

/** A copy of a host chain (its store on a copy of its disk), so lanes run independently. */
export function clone_chain(base: LocalChain): Promise<LocalChain> {
  return base.fork();
}

/** Setup shared by every row: a sealed seed, its keys, and a base chain with one instance of each contract. */
export interface World {
  home: string;
  secret: string;
  sealed_seed: string;
  keys: PublicKeys;
  codes: { name: string; code: Uint8Array }[];
  /** The host chain after the instantiations (a store in memory); lanes run on clones of it. */
  base: LocalChain;
  /** Code hash of each benchmark contract. */
  code_hash: Record<ContractName, string>;
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
    const base = await LocalChain.open(p, {
      chain_id: CHAIN_ID,
      attestation: { roots: [attestation.root_pubkey], measurements: [measurement] },
      codes,
    });
    const admin = new Account(p);
    const pk_io = from_hex(seed.keys.io_pubkey, 32);
    const code_hash = {} as Record<ContractName, string>;
    const txs: string[] = [];
    for (const name of CONTRACTS) {
      const code = await base.code(CODE_ID[name]);
      code_hash[name] = code.code_hash;
      const payload = to_base64(envelope_for(p, pk_io, code.code_hash, INIT_MSG[name], null));
      txs.push(
        JSON.stringify(
          admin.tx({ type: 'instantiate', code_id: code.code_id, label: name, scheme: 'gcm', payload }),
        ),
      );
    }
    const input = await base.block_input(txs, T0_MS);
    const output = unwrap(await enclave.execute_block(input));
    await base.apply(input, output);
    const address = {} as Record<ContractName, string>;
    CONTRACTS.forEach((name, i) => {
      const r = output.results[i]!;
      if (r.code !== ResultCode.OK || r.contract === undefined)
        throw new Error(`instantiating ${name} failed: code ${r.code}`);
      address[name] = r.contract;
    });
    return { home, secret, sealed_seed: seed.sealed_seed, keys: seed.keys, codes, base, code_hash, address };
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
  const code_hash = world.code_hash[contract];
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

/**
 * Runs `lanes` (each a list of blocks) through `enclave` concurrently; returns tx/s. The timing
 * includes the host's share of each block, as in a node: preparing the input and committing the
 * output on a ChainStore (in memory, on this thread, overlapping the workers' execution).
 */
export async function measure_throughput(
  enclave: PoolEnclave,
  world: World,
  lanes: string[][][],
): Promise<number> {
  const chains = await Promise.all(lanes.map(() => clone_chain(world.base)));
  let txs = 0;
  for (const lane of lanes) for (const block of lane) txs += block.length;
  const start = performance.now();
  await Promise.all(
    lanes.map(async (lane, l) => {
      const chain = chains[l]!;
      for (const block of lane) {
        const input: BlockInput = await chain.block_input(block, T0_MS + (chain.height() + 1) * 1000);
        const output = unwrap(await enclave.execute_block(input));
        check_output(output.results, 'execute_block');
        await chain.apply(input, output);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  await Promise.all(chains.map((chain) => chain.close()));
  return txs / seconds;
}
