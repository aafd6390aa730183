/**
 * Discovery over RPC with the node's own backend on a real chain store driven by an in-process
 * enclave (docs/protocol-notes.md "Discovery and status"): `GET /v1/contracts` by code id,
 * creator and label, `GET /v1/txs` by sender and contract newest first with the
 * `GET /v1/txs/{hash}` shape, paging with limit and an opaque cursor, a cursor from another
 * listing refused with 400 code 106, the status additions, and the routes counted by template.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PublicKeys } from '../../enclave/api.js';
import { InProcessEnclave } from '../../enclave/in_process.js';
import { unwrap } from '../../enclave/result.js';
import { NodeBackend } from '../../node/backend.js';
import type { Genesis } from '../../node/genesis.js';
import type { Mempool } from '../../node/mempool.js';
import { RpcErrorCode, type RpcMetrics, RpcServer } from '../../node/rpc/server.js';
import type { LocalChain } from '../../node/store/local_chain.js';
import { to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { CHAIN_ID, encrypt, new_chain, T0_MS, TestAccount, temp_home } from '../enclave/fixtures.js';

const p = get_provider('native');
const home = temp_home('cloister-discovery-');
const enclave = new InProcessEnclave({ provider: 'native', platform_secret_file: home.secret });
const alice = new TestAccount(p, 'disc-alice');
const bob = new TestAccount(p, 'disc-bob');
const PLAIN =
  'export function instantiate(ctx, msg) { return null; }\nexport function execute(ctx, msg) { return null; }';
const PLAIN_HASH = to_hex(p.sha256(utf8(PLAIN)));
const PEERS = ['02'.repeat(32), '03'.repeat(32)];
let keys: PublicKeys;
let chain: LocalChain;
let server: RpcServer;
let url = '';
let code_id = 0;
const counted: string[] = [];
const contracts: string[] = [];
const instantiate_hashes: string[] = [];

const metrics: RpcMetrics = {
  rpc_request: (route, status) => counted.push(`${route} ${status}`),
  exposition: async () => ({ content_type: 'text/plain', body: '' }),
};

async function block(txs: string[]) {
  return chain.execute(enclave, txs, T0_MS + (chain.height() + 1) * 1000);
}

function instantiate(who: TestAccount, label: string): string {
  const e = encrypt(p, keys, PLAIN_HASH, {});
  return who.tx({ type: 'instantiate', code_id, label, scheme: 'gcm', payload: e.payload });
}

// biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary JSON
async function get(path: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}${path}`);
  return { status: res.status, json: await res.json() };
}

beforeAll(async () => {
  keys = unwrap(await enclave.create_seed()).keys;
  chain = await new_chain(p, keys.measurement);
  code_id = (await block([alice.tx({ type: 'store_code', code: to_base64(utf8(PLAIN)) })])).output.results[0]!
    .code_id!;
  const made = await block([
    instantiate(alice, 'first'),
    instantiate(alice, 'second'),
    instantiate(bob, 'first'),
  ]);
  for (const r of made.output.results) {
    contracts.push(r.contract!);
    instantiate_hashes.push(r.hash);
  }
  const genesis = {
    chain_id: CHAIN_ID,
    io_pubkey: keys.io_pubkey,
    seed_exchange_pubkey: keys.seed_exchange_pubkey,
    validators: [{ pubkey: '01'.repeat(32), power: 10, name: 'v0' }],
    codes: [],
  } as unknown as Genesis;
  const backend = new NodeBackend(
    { genesis, pubkey: '01'.repeat(32) },
    {
      store: chain.store,
      enclave,
      mempool: { size: () => 5 } as unknown as Mempool,
      now_ms: () => T0_MS,
      gossip_tx: () => {},
      peers: () => PEERS,
    },
  );
  server = new RpcServer(
    {
      host: '127.0.0.1',
      port: 0,
      body_bytes_max: 65_536,
      wait_timeout_ms: 1_000,
      sse_clients_max: 2,
      cors_origin: '',
    },
    { backend, metrics },
  );
  url = (await server.start()).url;
});

afterAll(async () => {
  await server.stop();
  await chain.close();
  await enclave.close();
  home.remove();
});

describe('GET /v1/contracts', () => {
  it('lists by code id, creator and label with the GET /v1/contracts/{address} shape', async () => {
    const [a1, a2, b1] = contracts as [string, string, string];
    const by_code = await get(`/v1/contracts?code_id=${code_id}`);
    expect(by_code.status).toBe(200);
    expect(Object.keys(by_code.json)).toEqual(['contracts', 'cursor']);
    expect(by_code.json.cursor).toBeNull();
    expect(by_code.json.contracts.map((c: { address: string }) => c.address)).toEqual([a1, a2, b1].sort());
    for (const c of by_code.json.contracts) expect(c).toEqual((await get(`/v1/contracts/${c.address}`)).json);
    const by_creator = await get(`/v1/contracts?creator=${alice.address}&label=first`);
    expect(by_creator.json.contracts.map((c: { address: string }) => c.address)).toEqual([a1]);
    const by_label = await get('/v1/contracts?label=first');
    expect(by_label.json.contracts.map((c: { address: string }) => c.address)).toEqual([a1, b1].sort());
  });

  it('pages with limit 1: each page one contract, the cursor leads on, the last is null', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor === null ? '' : `&cursor=${cursor}`;
      const page = await get(`/v1/contracts?code_id=${code_id}&limit=1${q}`);
      expect(page.status).toBe(200);
      expect(page.json.contracts.length).toBe(1);
      seen.push(page.json.contracts[0].address);
      cursor = page.json.cursor;
      if (cursor !== null) expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    } while (cursor !== null && seen.length < 10);
    expect(seen).toEqual([...contracts].sort());
  });

  it('refuses a cursor from another listing with 400 code 106 saying so', async () => {
    const first = await get(`/v1/contracts?creator=${alice.address}&limit=1`);
    const answer = await get(`/v1/contracts?code_id=${code_id}&cursor=${first.json.cursor}`);
    expect(answer.status).toBe(400);
    expect(answer.json.error.code).toBe(RpcErrorCode.BAD_REQUEST);
    expect(answer.json.error.message).toMatch(/cursor/);
    const made_up = await get(`/v1/contracts?cursor=${Buffer.from('contract/zz').toString('base64url')}`);
    expect(made_up.json.error.code).toBe(RpcErrorCode.BAD_REQUEST);
  });
});

describe('GET /v1/txs', () => {
  it('lists by sender newest first, each as GET /v1/txs/{hash} answers it', async () => {
    const answer = await get(`/v1/txs?sender=${alice.address}`);
    expect(answer.status).toBe(200);
    expect(answer.json.cursor).toBeNull();
    expect(answer.json.txs.map((t: { height: number; index: number }) => [t.height, t.index])).toEqual([
      [2, 1],
      [2, 0],
      [1, 0],
    ]);
    for (const tx of answer.json.txs) expect(tx).toEqual((await get(`/v1/txs/${tx.hash}`)).json);
    const on_b1 = await get(`/v1/txs?contract=${contracts[2]}&limit=100`);
    expect(on_b1.json.txs.map((t: { hash: string }) => t.hash)).toEqual([instantiate_hashes[2]]);
    const none = await get(`/v1/txs?sender=${alice.address}&contract=${contracts[2]}`);
    expect(none.json).toEqual({ txs: [], cursor: null });
  });

  it('pages with limit 1 and refuses a contracts cursor', async () => {
    const first = await get(`/v1/txs?sender=${alice.address}&limit=1`);
    expect(first.json.txs.length).toBe(1);
    const second = await get(`/v1/txs?sender=${alice.address}&limit=1&cursor=${first.json.cursor}`);
    expect(second.json.txs[0].hash).toBe(instantiate_hashes[0]);
    const other = await get(`/v1/contracts?limit=1`);
    const bad = await get(`/v1/txs?sender=${alice.address}&cursor=${other.json.cursor}`);
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe(RpcErrorCode.BAD_REQUEST);
  });
});

describe('status and metrics', () => {
  it('GET /v1/status adds peers, mempool and the last block time after contracts', async () => {
    const status = await get('/v1/status');
    expect(Object.keys(status.json).slice(-4)).toEqual([
      'contracts',
      'peers',
      'mempool',
      'last_block_time_ms',
    ]);
    expect(status.json).toMatchObject({
      height: 2,
      peers: PEERS,
      mempool: 5,
      last_block_time_ms: chain.store.last_block()!.block.header.time_ms,
    });
  });

  it('counts the listings by route template', () => {
    expect(counted).toContain('/v1/contracts 200');
    expect(counted).toContain('/v1/contracts 400');
    expect(counted).toContain('/v1/txs 200');
    expect(counted).toContain('/v1/txs 400');
  });
});
