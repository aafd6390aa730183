/**
 * `GET /metrics` of a whole node: one validator assembled in this process (node/assemble.ts) with
 * an in-process enclave, an in-memory disk, no peers and the system's timers, its metrics served
 * by a real RPC server. Every required name is there, and the values move as the chain commits
 * blocks, transactions and RPC requests.
 */

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessEnclave } from '../../enclave/in_process.js';
import { compute_measurement, find_code_root } from '../../enclave/measurement.js';
import { unwrap } from '../../enclave/result.js';
import { type AssembledNode, assemble_node } from '../../node/assemble.js';
import { genesis_ceremony } from '../../node/ceremony.js';
import { BLOCK_LIMITS, GENESIS_CONTRACTS, LOCAL_TIMEOUTS } from '../../node/init.js';
import { NodeMetrics } from '../../node/metrics.js';
import type { Clock, PeerNetwork } from '../../node/modules.js';
import { read_shipped_contract } from '../../node/reference_contracts.js';
import { RpcServer } from '../../node/rpc/server.js';
import { memory_record_io, SigningGuard } from '../../node/signing_guard.js';
import { ChainStore } from '../../node/store/chain_store.js';
import { MemoryDisk } from '../../node/store/memory_disk.js';
import { dev_accounts } from '../../protocol/bank.js';
import { from_hex } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { sign_tx } from '../../protocol/tx.js';
import { REQUIRED_METRICS, sample } from './metrics_helpers.js';

const p = get_provider('native');
const CHAIN_ID = 'metrics-test-1';
const DEV0 = dev_accounts(p)[0]!;

/** The system's clock and timers (this test is the real world of its node). */
const clock: Clock = {
  now_ms: () => Date.now(),
  set_timer: (delay_ms, fn) => {
    const timer = setTimeout(fn, delay_ms);
    return () => clearTimeout(timer);
  },
};

/** A network with no peers: a lone validator decides every height by itself. */
const no_peers: PeerNetwork = {
  start: async () => undefined,
  stop: async () => {},
  broadcast: () => {},
  send: () => false,
  request: async () => {
    throw new Error('no peers');
  },
  on_message: () => {},
  on_request: () => {},
  on_peer: () => {},
  connected_peers: () => [],
  set_outgoing_filter: () => {},
};

/** One validator from its own genesis ceremony, on an in-memory disk, with metrics. */
async function lone_validator(metrics: NodeMetrics) {
  const code_root = find_code_root();
  const platform_secret = new Uint8Array(randomBytes(32));
  const measurement = compute_measurement(p, code_root);
  const enclave = () =>
    new InProcessEnclave(
      { provider: 'native', platform_secret_file: '(in memory)' },
      { platform_secret, measurement },
    );
  const ceremony = await genesis_ceremony(
    { validators: 1, chain_id: CHAIN_ID, now_ms: Date.now(), balances: { [DEV0.address]: 1_000_000 } },
    { p, random_bytes: (n) => new Uint8Array(randomBytes(n)), enclave },
  );
  const { genesis } = ceremony;
  const disk = new MemoryDisk();
  const store = await ChainStore.open_kv(disk.open(), { chain_id: CHAIN_ID }, { p });
  const codes = GENESIS_CONTRACTS.map((name) => read_shipped_contract(name, code_root));
  await store.init_genesis(codes, genesis.balances ?? {});
  await store.put_sealed('seed', ceremony.sealed_seeds[0]!);
  await store.put_sealed('light', ceremony.sealed_lights[0]!);
  const running = enclave();
  unwrap(await running.load_seed(ceremony.sealed_seeds[0]!));
  const validator = genesis.validators[0]!.pubkey;
  const signing = await SigningGuard.open(
    { home: '(metrics test)', chain_id: CHAIN_ID, validators: genesis.validators, validator },
    store,
    { record_io: memory_record_io(disk.open_file('signing_record.json')) },
  );
  const node = assemble_node(
    {
      genesis,
      secret_key: ceremony.validator_sks[0]!,
      consensus: LOCAL_TIMEOUTS,
      block: { ...BLOCK_LIMITS },
      mempool: { txs_max: 1000, bytes_max: 16 * 1024 * 1024, per_account_max: 100 },
    },
    {
      p,
      clock,
      rng: { next: Math.random },
      network: no_peers,
      store: { chain: store, signing },
      enclave: running,
      log: () => {},
      metrics,
    },
  );
  return { node, store, enclave: running };
}

let node: AssembledNode;
let url: string;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  const metrics = new NodeMetrics();
  const lone = await lone_validator(metrics);
  node = lone.node;
  const rpc = new RpcServer(
    {
      host: '127.0.0.1',
      port: 0,
      body_bytes_max: 1024 * 1024,
      wait_timeout_ms: 20_000,
      sse_clients_max: 4,
      cors_origin: '*',
    },
    { backend: node.backend, metrics },
  );
  url = (await rpc.start()).url;
  stops.push(
    () => lone.store.close(),
    () => lone.enclave.close(),
    () => node.stop(),
    () => rpc.stop(),
  );
  await node.start();
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
});

async function scrape(): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** Scrapes until `ok` holds (at most 20 s). */
async function scrape_until(ok: (text: string) => boolean): Promise<string> {
  for (let i = 0; ; i++) {
    const text = await scrape();
    if (ok(text) || i >= 200) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A signed `send` of 1 ucst from dev0, as the JSON text a client posts. */
function send_tx(sequence: number): string {
  const body = {
    chain_id: CHAIN_ID,
    sender: DEV0.public_key,
    sequence,
    gas_limit: 100_000,
    msg: { type: 'send' as const, to: 'f0'.repeat(20), amount: 1 },
  };
  return JSON.stringify(sign_tx(p, from_hex(DEV0.secret_key, 32), body));
}

describe("a node's GET /metrics", () => {
  it('serves every required metric, and the height moves as blocks commit', async () => {
    const first = await scrape();
    for (const name of REQUIRED_METRICS) expect(first).toContain(`# TYPE ${name} `);
    const text = await scrape_until((t) => (sample(t, 'cloister_consensus_height') ?? 0) >= 3);
    expect(sample(text, 'cloister_consensus_height')).toBeGreaterThanOrEqual(3);
    expect(sample(text, 'cloister_consensus_height')).toBeLessThanOrEqual(node.store.height());
    expect(sample(text, 'cloister_p2p_peers')).toBe(0);
    // Blocks after the first have an interval; every block was executed by the enclave.
    expect(sample(text, 'cloister_consensus_block_interval_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'cloister_enclave_execute_seconds_count')).toBeGreaterThanOrEqual(3);
  });

  it('counts a committed transaction by its code, and RPC requests by route template and status', async () => {
    const answer = await fetch(`${url}/v1/txs?wait=commit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: send_tx(0),
    });
    expect(answer.status).toBe(200);
    const { hash, code } = (await answer.json()) as { hash: string; code: number };
    expect(code).toBe(0);
    expect((await fetch(`${url}/v1/txs/${hash}`)).status).toBe(200);
    expect((await fetch(`${url}/v1/txs/${'00'.repeat(32)}`)).status).toBe(404);
    expect((await fetch(`${url}/no/such/${hash}`)).status).toBe(404);
    const text = await scrape();
    expect(sample(text, 'cloister_txs_committed_total', 'code="0"')).toBe(1);
    expect(sample(text, 'cloister_rpc_requests_total', 'route="/v1/txs",status="200"')).toBe(1);
    expect(sample(text, 'cloister_rpc_requests_total', 'route="/v1/txs/{hash}",status="200"')).toBe(1);
    expect(sample(text, 'cloister_rpc_requests_total', 'route="/v1/txs/{hash}",status="404"')).toBe(1);
    expect(sample(text, 'cloister_rpc_requests_total', 'route="unknown",status="404"')).toBe(1);
    // Earlier scrapes are counted too; no raw path ever becomes a label.
    expect(
      sample(text, 'cloister_rpc_requests_total', 'route="/metrics",status="200"'),
    ).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain(hash);
    expect(sample(text, 'cloister_mempool_size')).toBe(0);
  });
});
