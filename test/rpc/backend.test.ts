/**
 * The node's RPC backend (node/backend.ts) behind a real RPC server: what a query answers when
 * its payload is over the store's limit or the enclave call fails, what a halted node answers,
 * and queries through a `wrong-results` validator's enclave (sim/byzantine.ts `byzantine_enclave`).
 */

import { once } from 'node:events';
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Enclave, PublicKeys, QueryInput } from '../../enclave/api.js';
import { InProcessEnclave } from '../../enclave/in_process.js';
import { type EnclaveErrorCode, fail, ok, unwrap } from '../../enclave/result.js';
import { NodeBackend } from '../../node/backend.js';
import type { Genesis } from '../../node/genesis.js';
import type { Mempool } from '../../node/mempool.js';
import { RpcErrorCode, RpcServer } from '../../node/rpc/server.js';
import { ChainStore, QUERY_PAYLOAD_CHARS_MAX } from '../../node/store/chain_store.js';
import { from_base64 } from '../../protocol/bytes.js';
import { ResultCode } from '../../protocol/codes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { open_result } from '../../protocol/result.js';
import { byzantine_enclave } from '../../sim/byzantine.js';
import {
  CHAIN_ID,
  commit_block,
  encrypt,
  new_chain,
  T0_MS,
  TestAccount,
  temp_home,
} from '../enclave/fixtures.js';

const p = get_provider('native');
const CONTRACT = 'c0'.repeat(20);

const GENESIS = {
  chain_id: CHAIN_ID,
  io_pubkey: '0f'.repeat(32),
  seed_exchange_pubkey: '0e'.repeat(32),
  validators: [{ pubkey: '01'.repeat(32), power: 10, name: 'v0' }],
  codes: [],
  genesis_time_ms: T0_MS - 5_000,
} as unknown as Genesis;

/** A query input for CONTRACT: what a store hands the enclave (the enclave here is a fake). */
const QUERY_INPUT = {
  chain_id: CHAIN_ID,
  height: 3,
  time_ms: T0_MS,
  contract: {
    address: CONTRACT,
    code_id: 1,
    code_hash: '01'.repeat(32),
    label: 'x',
    creator: 'a1'.repeat(20),
    binding: 'bb'.repeat(32),
  },
  balance: 0,
  code: '',
  state: [],
  scheme: 'gcm',
  payload: 'AAAA',
} as QueryInput;

/** Only what NodeBackend's query, status and submit read of a store. */
function fake_store(query_input: ChainStore['query_input']): ChainStore {
  return { query_input, height: () => 3, last_block: () => null } as unknown as ChainStore;
}

/** A mempool that counts the transactions offered to it and takes them all. */
function counting_mempool(): { mempool: Mempool; added: string[] } {
  const added: string[] = [];
  const mempool = {
    add: async (raw: string) => {
      added.push(raw);
      return { ok: true, hash: 'ab'.repeat(32) };
    },
    size: () => added.length,
  } as unknown as Mempool;
  return { mempool, added };
}

const servers: RpcServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function serve(modules: { store: ChainStore; enclave: Enclave; mempool?: Mempool }) {
  const backend = new NodeBackend(
    { genesis: GENESIS, pubkey: '01'.repeat(32) },
    {
      store: modules.store,
      enclave: modules.enclave,
      mempool: modules.mempool ?? counting_mempool().mempool,
      now_ms: () => T0_MS,
      gossip_tx: () => {},
    },
  );
  // A node's own body limit (node/init.ts): 1 MiB, well above the store's query payload limit.
  const server = new RpcServer(
    {
      host: '127.0.0.1',
      port: 0,
      body_bytes_max: 1024 * 1024,
      wait_timeout_ms: 1_000,
      sse_clients_max: 4,
      cors_origin: '',
    },
    { backend },
  );
  servers.push(server);
  const { url } = await server.start();
  return { backend, url };
}

// biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary JSON
async function post(url: string, path: string, body: string): Promise<{ status: number; json: any }> {
  const req = http.request(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    agent: false,
  });
  req.end(body);
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
}

function query_body(payload: string): string {
  return JSON.stringify({ scheme: 'gcm', payload });
}

/** An enclave whose every call answers `answer` to query and counts the queries. */
function query_enclave(answer: () => ReturnType<Enclave['query']>): Enclave & { queries: number } {
  const enclave = {
    queries: 0,
    query: () => {
      enclave.queries++;
      return answer();
    },
  };
  return enclave as unknown as Enclave & { queries: number };
}

describe('NodeBackend query limits (a real store)', () => {
  const home = temp_home();
  let store: ChainStore;
  beforeAll(async () => {
    store = await ChainStore.open(`${home.dir}/data`, { chain_id: CHAIN_ID });
  });
  afterAll(async () => {
    await store.close();
    home.remove();
  });

  it('answers a payload over the store limit (but under the body limit) with 400 code 7, not 500', async () => {
    const enclave = query_enclave(async () => fail('INTERNAL', 'never called'));
    const { url } = await serve({ store, enclave });
    const path = `/v1/contracts/${CONTRACT}/query`;
    // Base64 of the right form, 4 characters over the limit: the body is still far under 1 MiB.
    const over = await post(url, path, query_body('A'.repeat(QUERY_PAYLOAD_CHARS_MAX + 4)));
    expect(over.status).toBe(400);
    expect(over.json).toEqual({
      error: { code: 7, message: `query payload is longer than ${QUERY_PAYLOAD_CHARS_MAX} characters` },
    });
    // At the limit the store takes it (and finds no such contract).
    const at = await post(url, path, query_body('A'.repeat(QUERY_PAYLOAD_CHARS_MAX)));
    expect(at.status).toBe(404);
    expect(at.json.error.code).toBe(ResultCode.UNKNOWN_CODE_OR_CONTRACT);
    expect(enclave.queries).toBe(0);
  });
});

describe('NodeBackend query when the enclave call fails', () => {
  const cases: [EnclaveErrorCode, number, number][] = [
    ['WORKER_DIED', 503, RpcErrorCode.ENCLAVE_FAILED],
    ['TIMEOUT', 503, RpcErrorCode.ENCLAVE_FAILED],
    ['BUSY', 503, RpcErrorCode.BUSY],
    ['CLOSED', 503, RpcErrorCode.BUSY],
    // Not the query's doing: the node itself failed (the host handed in bad input, a bug).
    ['INTERNAL', 500, RpcErrorCode.INTERNAL],
    ['BAD_INPUT', 500, RpcErrorCode.INTERNAL],
  ];
  for (const [enclave_code, status, code] of cases) {
    it(`answers an enclave ${enclave_code} with ${status} code ${code}`, async () => {
      const enclave = query_enclave(async () => fail(enclave_code, 'worker 3 of /secret/path died'));
      const { url } = await serve({ store: fake_store(async () => QUERY_INPUT), enclave });
      const answer = await post(url, `/v1/contracts/${CONTRACT}/query`, query_body('AAAA'));
      expect(answer.status).toBe(status);
      expect(answer.json.error.code).toBe(code);
      // The enclave's own message never reaches the client.
      expect(answer.json.error.message).not.toContain('/secret/path');
      expect(enclave.queries).toBe(1);
    });
  }

  it("asks the store for consensus time (the committed block's, else genesis), never the node's clock", async () => {
    const asked: unknown[][] = [];
    const enclave = query_enclave(async () => ok({ code: ResultCode.OK, output: '', gas_used: 1 }));
    const store = fake_store(async (...args) => {
      asked.push(args);
      return QUERY_INPUT;
    });
    const { url } = await serve({ store, enclave });
    const answer = await post(url, `/v1/contracts/${CONTRACT}/query`, query_body('AAAA'));
    expect(answer.status).toBe(200);
    // serve() gives the node the clock T0_MS; genesis time is earlier, and the store picks the block's.
    expect(asked).toEqual([
      [CONTRACT, 'gcm', 'AAAA', GENESIS.genesis_time_ms, { dev: false, block_time: true }],
    ]);
  });

  it('answers a metered-resource failure reported as a result (code 2) with 200 {code: 2}', async () => {
    const enclave = query_enclave(async () => ok({ code: ResultCode.OUT_OF_GAS, output: '', gas_used: 10 }));
    const { url } = await serve({ store: fake_store(async () => QUERY_INPUT), enclave });
    const answer = await post(url, `/v1/contracts/${CONTRACT}/query`, query_body('AAAA'));
    expect(answer).toEqual({ status: 200, json: { code: 2, output: '' } });
  });
});

describe('NodeBackend on a halted node', () => {
  it('reports the first halt only, refuses submissions without touching the mempool, and says so in status', async () => {
    const { mempool, added } = counting_mempool();
    const enclave = query_enclave(async () => fail('INTERNAL', 'unused'));
    const { backend, url } = await serve({ store: fake_store(async () => null), enclave, mempool });
    const tx = JSON.stringify({ body: {}, signature: '' });
    expect(backend.halted()).toBeNull();
    expect(await backend.submit(tx, {} as never)).toEqual({ ok: true, hash: 'ab'.repeat(32) });
    const seen: unknown[] = [];
    backend.subscribe((event) => seen.push(event));
    backend.halt({ height: 4, reason: 'own results differ' });
    backend.halt({ height: 5, reason: 'a later halt changes nothing' });
    expect(backend.halted()).toEqual({ height: 4, reason: 'own results differ' });
    // Subscribers (the RPC's live streams) hear it once, and end their streams on it.
    expect(seen).toEqual([{ type: 'halted', height: 4, reason: 'own results differ' }]);
    expect(await backend.submit(tx, {} as never)).toMatchObject({ ok: false, code: 'halted' });
    expect(added).toEqual([tx]);
    const status = await new Promise<unknown>((resolve, reject) => {
      http
        .get(`${url}/v1/status`, { agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve(JSON.parse(text)));
        })
        .on('error', reject);
    });
    expect(status).toMatchObject({
      height: 3,
      peers: [],
      mempool: 1,
      last_block_time_ms: null,
      halted: { height: 4, reason: 'own results differ' },
    });
  });
});

describe('a wrong-results enclave (sim/byzantine.ts)', () => {
  const home = temp_home();
  let enclave: InProcessEnclave;
  let keys: PublicKeys;
  let measurement: string;
  beforeAll(async () => {
    enclave = new InProcessEnclave({ provider: 'native', platform_secret_file: home.secret });
    measurement = unwrap(await enclave.measurement());
    keys = unwrap(await enclave.create_seed()).keys;
  });
  afterAll(async () => {
    await enclave.close();
    home.remove();
  });

  it('answers queries as the honest enclave does, through the RPC', async () => {
    const chain = await new_chain(p, measurement);
    const counter = await chain.code(2);
    const init = encrypt(p, keys, counter.code_hash, { count: 5 });
    const alice = new TestAccount(p, 'alice-wrong-results');
    const inst = alice.tx({
      type: 'instantiate',
      code_id: 2,
      label: 'c',
      scheme: 'gcm',
      payload: init.payload,
    });
    const contract = (await commit_block(enclave, chain, [inst])).output.results[0]!.contract!;
    const wrong = byzantine_enclave('wrong-results', enclave, { p });
    // Calls that reach the class's private state through `this` (the bug was an unbound receiver).
    expect(unwrap(await wrong.public_keys())).toEqual(unwrap(await enclave.public_keys()));
    const { url } = await serve({
      store: fake_store(async (address, scheme, payload, time_ms) =>
        chain.query_input(address, scheme, payload, time_ms),
      ),
      enclave: wrong,
    });
    const q = encrypt(p, keys, counter.code_hash, { get_count: {} });
    const answer = await post(url, `/v1/contracts/${contract}/query`, query_body(q.payload));
    expect(answer.status).toBe(200);
    expect(answer.json.code).toBe(ResultCode.OK);
    expect(open_result(p, 'gcm', q.tx_key, from_base64(answer.json.output))).toEqual({
      data: { count: 5 },
      events: [],
    });
  });

  it('alters the result hash of a block, and nothing else', async () => {
    const chain = await new_chain(p, measurement);
    const echo = await chain.code(1);
    const alice = new TestAccount(p, 'alice-wrong-block');
    const init = encrypt(p, keys, echo.code_hash, {});
    const input = await chain.block_input(
      [alice.tx({ type: 'instantiate', code_id: 1, label: 'e', scheme: 'gcm', payload: init.payload })],
      T0_MS,
    );
    const honest = unwrap(await enclave.execute_block(input));
    const wrong = unwrap(await byzantine_enclave('wrong-results', enclave, { p }).execute_block(input));
    expect(wrong.result_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(wrong.result_hash).not.toBe(honest.result_hash);
    expect({ ...wrong, result_hash: honest.result_hash }).toEqual(honest);
  });
});
