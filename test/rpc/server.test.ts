import { createHash } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { TxRecord } from '../../node/records.js';
import { bad_request } from '../../node/rpc/errors.js';
import {
  type ContractAnswer,
  type ContractListFilter,
  type FaucetAnswer,
  type HaltInfo,
  type ListPage,
  type LiveEvent,
  type QueryAnswer,
  type Refusal,
  type RpcBackend,
  RpcErrorCode,
  type RpcOptions,
  RpcServer,
  type RpcStatus,
  type SubmitRefusal,
  type TxListFilter,
} from '../../node/rpc/server.js';
import { FAUCET_AMOUNT_DEFAULT, FAUCET_AMOUNT_MAX } from '../../protocol/bank.js';

const ORIGIN = 'https://wallet.example';
const HASH = 'ab'.repeat(32);
const CONTRACT = 'c0'.repeat(20);
const ACCOUNT = 'a1'.repeat(20);
const IO_PUBKEY = '0f'.repeat(32);

/** A well-formed transaction (protocol.md §5); the RPC checks its shape, never its signature. */
const TX = JSON.stringify({
  body: {
    chain_id: 'test-1',
    sender: '11'.repeat(32),
    sequence: 0,
    gas_limit: 100_000,
    msg: { type: 'execute', contract: CONTRACT, scheme: 'gcm', payload: 'AAAA' },
  },
  signature: '22'.repeat(64),
});

function record(hash: string, extra: Partial<TxRecord> = {}): TxRecord {
  return { hash, height: 3, index: 0, code: 0, gas_used: 1234, output: 'c2VhbGVk', ...extra };
}

function sha256_hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

type Method = keyof RpcBackend;

/**
 * An in-memory RpcBackend. It reports every call on `events` ('call', name) so tests await the
 * server reaching it; `gate(name)` holds a method until released; `fail(name)` makes it reject.
 */
class FakeBackend implements RpcBackend {
  readonly events = new EventEmitter();
  readonly calls = new Map<Method, number>();
  readonly txs = new Map<string, TxRecord>();
  readonly contracts = new Map<string, ContractAnswer>();
  readonly blocks = new Map<
    number,
    { header: unknown; block_hash: string; tx_hashes: string[]; commit: unknown }
  >();
  readonly submitted: string[] = [];
  submit_answer: SubmitRefusal | null = null;
  query_answer: QueryAnswer | Refusal | null = { code: 0, output: 'cmVzdWx0' };
  /** What halted() answers: set it to make the node halted. */
  halt: HaltInfo | null = null;
  /** A development network: has_faucet() answers it, status() says so. */
  dev = false;
  /** What faucet() answers (null: a committed record for the request). */
  faucet_answer: FaucetAnswer | null = null;
  /** Every faucet() call's address and amount. */
  readonly faucet_calls: { address: string; amount: number }[] = [];
  io_key = IO_PUBKEY;
  subscribers = new Set<(event: LiveEvent) => void>();
  readonly #failing = new Set<Method>();
  readonly #gates = new Map<Method, Promise<void>>();
  readonly #waiters = new Map<string, (record: TxRecord) => void>();

  count(name: Method): number {
    return this.calls.get(name) ?? 0;
  }

  fail(name: Method): void {
    this.#failing.add(name);
  }

  /** Holds `name` until the returned function is called. */
  gate(name: Method): () => void {
    let release!: () => void;
    this.#gates.set(name, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      this.#gates.delete(name);
      release();
    };
  }

  /** Resolves when the server calls `name`. */
  called(name: Method): Promise<unknown> {
    return new Promise((resolve) => {
      const on_call = (called: Method) => {
        if (called !== name) return;
        this.events.off('call', on_call);
        resolve(undefined);
      };
      this.events.on('call', on_call);
    });
  }

  async #enter(name: Method): Promise<void> {
    this.calls.set(name, this.count(name) + 1);
    this.events.emit('call', name);
    const gate = this.#gates.get(name);
    if (gate !== undefined) await gate;
    if (this.#failing.has(name)) throw new Error('disk /var/secret/db.ldb is corrupt');
  }

  /** Commits a transaction: wakes its waiter and streams it. */
  commit(tx: TxRecord): void {
    this.txs.set(tx.hash, tx);
    this.#waiters.get(tx.hash)?.(tx);
    this.emit({ type: 'tx', ...tx });
  }

  emit(event: LiveEvent): void {
    for (const fn of this.subscribers) fn(event);
  }

  async status(): Promise<RpcStatus> {
    await this.#enter('status');
    return {
      chain_id: 'test-1',
      height: 7,
      io_pubkey: IO_PUBKEY,
      seed_exchange_pubkey: '0e'.repeat(32),
      validator: '01'.repeat(32),
      validators: [{ pubkey: '01'.repeat(32), power: 10 }],
      min_gas_price: this.dev ? 0 : 25,
      dev: this.dev,
      // Out of order on purpose: the answer puts them in the documented order.
      last_block_time_ms: 1_700_000_000_000,
      mempool: 3,
      peers: ['02'.repeat(32)],
    };
  }

  halted(): HaltInfo | null {
    this.calls.set('halted', this.count('halted') + 1);
    return this.halt;
  }

  async io_pubkey(): Promise<string> {
    await this.#enter('io_pubkey');
    return this.io_key;
  }

  async submit(raw: string): Promise<{ ok: true; hash: string } | SubmitRefusal> {
    await this.#enter('submit');
    this.submitted.push(raw);
    return this.submit_answer ?? { ok: true, hash: sha256_hex(raw) };
  }

  async get_tx(hash: string): Promise<TxRecord | null> {
    await this.#enter('get_tx');
    return this.txs.get(hash) ?? null;
  }

  async wait_tx(hash: string, timeout_ms: number): Promise<TxRecord | null> {
    await this.#enter('wait_tx');
    const done = this.txs.get(hash);
    if (done !== undefined) return done;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeout_ms);
      this.#waiters.set(hash, (tx) => {
        clearTimeout(timer);
        resolve(tx);
      });
      this.events.emit('waiting', hash);
    });
  }

  async query(address: string, body: { scheme: 'gcm' | 'siv'; payload: string }) {
    await this.#enter('query');
    this.events.emit('query_body', address, body);
    return this.contracts.has(address) ? this.query_answer : null;
  }

  async get_contract(address: string): Promise<ContractAnswer | null> {
    await this.#enter('get_contract');
    return this.contracts.get(address) ?? null;
  }

  /** What list_contracts/list_txs answer, and the filters and pages they were called with. */
  contracts_page: { contracts: ContractAnswer[]; cursor: string | null } = { contracts: [], cursor: null };
  txs_page: { txs: TxRecord[]; cursor: string | null } = { txs: [], cursor: null };
  readonly list_calls: { filter: unknown; page: ListPage }[] = [];

  async list_contracts(filter: ContractListFilter, page: ListPage) {
    await this.#enter('list_contracts');
    this.list_calls.push({ filter, page });
    if (page.cursor === 'bm90LW1pbmU') throw bad_request('cursor is not from this listing');
    return this.contracts_page;
  }

  async list_txs(filter: TxListFilter, page: ListPage) {
    await this.#enter('list_txs');
    this.list_calls.push({ filter, page });
    return this.txs_page;
  }

  async codes() {
    await this.#enter('codes');
    return [
      { code_id: 1, code_hash: '01'.repeat(32), name: 'echo' },
      { code_id: 2, code_hash: '02'.repeat(32), name: 'counter' },
      { code_id: 3, code_hash: '03'.repeat(32) },
    ];
  }

  async account(address: string) {
    await this.#enter('account');
    return { address, sequence: 4, balance: 1_250_000 };
  }

  async block(height: number) {
    await this.#enter('block');
    return this.blocks.get(height) ?? null;
  }

  readonly block_texts = new Map<number, string[]>();

  async block_txs(height: number) {
    await this.#enter('block_txs');
    return this.block_texts.get(height) ?? null;
  }

  subscribe(fn: (event: LiveEvent) => void): () => void {
    this.subscribers.add(fn);
    this.events.emit('subscribed');
    return () => {
      this.subscribers.delete(fn);
      this.events.emit('unsubscribed');
    };
  }

  has_faucet(): boolean {
    this.calls.set('has_faucet', this.count('has_faucet') + 1);
    return this.dev;
  }

  async faucet(address: string, amount: number): Promise<FaucetAnswer> {
    await this.#enter('faucet');
    this.faucet_calls.push({ address, amount });
    return this.faucet_answer ?? { ok: true, record: record(HASH, { height: 9 }) };
  }
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary JSON
  json: any;
}

async function read_answer(res: http.IncomingMessage): Promise<Answer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode ?? 0, headers: res.headers, text, json };
}

/** One HTTP request on its own connection. */
async function call(
  base: string,
  method: string,
  path: string,
  opts: { body?: string | Buffer; headers?: Record<string, string>; agent?: http.Agent } = {},
): Promise<Answer & { reused: boolean }> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.body !== undefined && headers['content-type'] === undefined)
    headers['content-type'] = 'application/json';
  const req = http.request(`${base}${path}`, { method, headers, agent: opts.agent ?? false });
  req.end(opts.body);
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  return { ...(await read_answer(res)), reused: req.reusedSocket };
}

const servers: RpcServer[] = [];

async function setup(
  opts: Partial<RpcOptions> = {},
  log?: (event: string, fields: Record<string, unknown>) => void,
) {
  const backend = new FakeBackend();
  const server = new RpcServer(
    {
      host: '127.0.0.1',
      port: 0,
      body_bytes_max: 64 * 1024,
      wait_timeout_ms: 10_000,
      sse_clients_max: 4,
      cors_origin: ORIGIN,
      ...opts,
    },
    log === undefined ? { backend } : { backend, log },
  );
  servers.push(server);
  const { url } = await server.start();
  return { backend, server, url };
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

function expect_error(answer: Answer, status: number, code: number): void {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(Object.keys(answer.json)).toEqual(['error']);
  expect(Object.keys(answer.json.error)).toEqual(['code', 'message']);
  expect(answer.json.error.code).toBe(code);
  expect(typeof answer.json.error.message).toBe('string');
  expect(answer.headers['access-control-allow-origin']).toBe(ORIGIN);
}

describe('RPC routes (protocol.md §6)', () => {
  it('GET /v1/status answers the status fields in order', async () => {
    const { url } = await setup();
    const answer = await call(url, 'GET', '/v1/status');
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(
      JSON.stringify({
        chain_id: 'test-1',
        height: 7,
        io_pubkey: IO_PUBKEY,
        seed_exchange_pubkey: '0e'.repeat(32),
        validator: '01'.repeat(32),
        validators: [{ pubkey: '01'.repeat(32), power: 10 }],
        min_gas_price: 25,
        dev: false,
        contracts: {},
        peers: ['02'.repeat(32)],
        mempool: 3,
        last_block_time_ms: 1_700_000_000_000,
      }),
    );
  });

  it('GET /registration/v1beta1/tx-key answers base64 of pk_io', async () => {
    const { url } = await setup();
    const answer = await call(url, 'GET', '/registration/v1beta1/tx-key');
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ key: Buffer.from(IO_PUBKEY, 'hex').toString('base64') });
  });

  it('POST /v1/txs answers 202 with the hash and hands the exact text to the backend', async () => {
    const { url, backend } = await setup();
    const answer = await call(url, 'POST', '/v1/txs', { body: TX });
    expect(answer.status).toBe(202);
    expect(answer.text).toBe(JSON.stringify({ hash: sha256_hex(TX) }));
    expect(backend.submitted).toEqual([TX]);
  });

  it('POST /v1/txs maps refusals: 4, 5, 7, 8 to 400, a full mempool to 503 code 102', async () => {
    const { url, backend } = await setup();
    for (const code of [4, 5, 7, 8]) {
      backend.submit_answer = { ok: false, code, message: `refused ${code}` };
      const answer = await call(url, 'POST', '/v1/txs', { body: TX });
      expect_error(answer, 400, code);
      expect(answer.json.error.message).toBe(`refused ${code}`);
    }
    backend.submit_answer = { ok: false, code: 'full', message: 'mempool is full' };
    const full = await call(url, 'POST', '/v1/txs', { body: TX });
    expect_error(full, 503, RpcErrorCode.BUSY);
    expect(full.headers['retry-after']).toBe('1');
  });

  it('POST /v1/txs refuses malformed JSON and wrong shapes with 400 code 7, before the backend', async () => {
    const { url, backend } = await setup();
    const bad_json = await call(url, 'POST', '/v1/txs', { body: '{"body": ' });
    expect_error(bad_json, 400, 7);
    expect(bad_json.json.error.message).toMatch(/not valid JSON/);
    const not_object = await call(url, 'POST', '/v1/txs', { body: '[1, 2]' });
    expect_error(not_object, 400, 7);
    expect(not_object.json.error.message).toMatch(/tx must be an object/);
    const tx = JSON.parse(TX);
    tx.body.sequence = -1;
    const bad_field = await call(url, 'POST', '/v1/txs', { body: JSON.stringify(tx) });
    expect_error(bad_field, 400, 7);
    expect(bad_field.json.error.message).toMatch(/body\.sequence/);
    const bom = await call(url, 'POST', '/v1/txs', { body: `\uFEFF${TX}` });
    expect_error(bom, 400, 7);
    const bad_utf8 = await call(url, 'POST', '/v1/txs', { body: Buffer.from([0x7b, 0xff, 0x7d]) });
    expect_error(bad_utf8, 400, 7);
    expect(bad_utf8.json.error.message).toMatch(/UTF-8/);
    expect(backend.count('submit')).toBe(0);
  });

  it('POST bodies must be application/json (or untyped) in UTF-8', async () => {
    const { url, backend } = await setup();
    const text = await call(url, 'POST', '/v1/txs', { body: TX, headers: { 'content-type': 'text/plain' } });
    expect_error(text, 415, RpcErrorCode.UNSUPPORTED_MEDIA_TYPE);
    const latin1 = await call(url, 'POST', '/v1/txs', {
      body: TX,
      headers: { 'content-type': 'application/json; charset=iso-8859-1' },
    });
    expect_error(latin1, 415, RpcErrorCode.UNSUPPORTED_MEDIA_TYPE);
    expect(backend.count('submit')).toBe(0);
    const utf8 = await call(url, 'POST', '/v1/txs', {
      body: TX,
      headers: { 'content-type': 'Application/JSON; charset="UTF-8"' },
    });
    expect(utf8.status).toBe(202);
    // http.request sends no Content-Type unless told: the untyped case.
    const req = http.request(`${url}/v1/txs`, { method: 'POST', agent: false });
    req.end(TX);
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    expect((await read_answer(res)).status).toBe(202);
  });

  it('POST /v1/txs?wait=commit answers 200 and the tx record once the backend commits it', async () => {
    const { url, backend } = await setup();
    const hash = sha256_hex(TX);
    const waiting = once(backend.events, 'waiting');
    const pending = call(url, 'POST', '/v1/txs?wait=commit', { body: TX });
    expect(await waiting).toEqual([hash]);
    const committed = record(hash, { contract: CONTRACT });
    backend.commit(committed);
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(JSON.stringify({ ...committed, events: [] }));
  });

  it('POST /v1/txs?wait=commit answers 504 code 103 naming the hash when the commit does not come', async () => {
    const { url } = await setup({ wait_timeout_ms: 50 });
    const answer = await call(url, 'POST', '/v1/txs?wait=commit', { body: TX });
    expect_error(answer, 504, RpcErrorCode.TIMEOUT);
    expect(answer.json.error.message).toContain(sha256_hex(TX));
  });

  it('POST /v1/txs refuses an unknown wait value', async () => {
    const { url, backend } = await setup();
    expect_error(
      await call(url, 'POST', '/v1/txs?wait=forever', { body: TX }),
      400,
      RpcErrorCode.BAD_REQUEST,
    );
    expect(backend.count('submit')).toBe(0);
  });

  it('GET /v1/txs/{hash} answers the record, 404 code 100 until committed', async () => {
    const { url, backend } = await setup();
    expect_error(await call(url, 'GET', `/v1/txs/${HASH}`), 404, RpcErrorCode.NOT_FOUND);
    // Extra backend fields never reach the wire; optional fields appear only when set.
    backend.txs.set(HASH, { ...record(HASH, { code_id: 5 }), secret: 'x' } as TxRecord);
    const answer = await call(url, 'GET', `/v1/txs/${HASH}`);
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(
      `{"hash":"${HASH}","height":3,"index":0,"code":0,"gas_used":1234,"output":"c2VhbGVk","code_id":5,"events":[]}`,
    );
  });

  it('GET /v1/txs/{hash} lists the public events (protocol.md §9) field by field, after the other fields', async () => {
    const { url, backend } = await setup();
    const events = [
      { type: 'transfer', attributes: [{ key: 'to', value: ACCOUNT }], contract: CONTRACT },
      { type: 'bid', attributes: [], contract: CONTRACT },
    ];
    const leaky = [{ ...events[0]!, private: 'x', attributes: [{ key: 'to', value: ACCOUNT, extra: 1 }] }];
    backend.txs.set(HASH, record(HASH, { contract: CONTRACT, events: [...leaky, events[1]!] } as TxRecord));
    const answer = await call(url, 'GET', `/v1/txs/${HASH}`);
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.json)).toEqual([
      'hash',
      'height',
      'index',
      'code',
      'gas_used',
      'output',
      'contract',
      'events',
    ]);
    expect(answer.text).toContain(`"events":${JSON.stringify(events)}}`);
  });

  it('POST /v1/contracts/{address}/query answers codes 0, 1, 2 with 200 {code, output}', async () => {
    const { url, backend } = await setup();
    backend.contracts.set(CONTRACT, contract_info());
    for (const code of [0, 1, 2]) {
      backend.query_answer = { code, output: code === 2 ? '' : 'b3V0' };
      const answer = await call(url, 'POST', `/v1/contracts/${CONTRACT}/query`, {
        body: JSON.stringify({ scheme: 'siv', payload: 'AAAA' }),
      });
      expect(answer.status).toBe(200);
      expect(answer.text).toBe(JSON.stringify({ code, output: code === 2 ? '' : 'b3V0' }));
    }
  });

  it('a query that cannot be decrypted answers exactly the one code 3 error', async () => {
    const { url, backend } = await setup();
    backend.contracts.set(CONTRACT, contract_info());
    backend.query_answer = { code: 3, output: '' };
    const answer = await call(url, 'POST', `/v1/contracts/${CONTRACT}/query`, {
      body: JSON.stringify({ scheme: 'gcm', payload: 'AAAA' }),
    });
    expect(answer.status).toBe(400);
    expect(answer.text).toBe('{"error":{"code":3,"message":"cannot decrypt message"}}');
  });

  it('a query to an unknown contract answers 404 code 6', async () => {
    const { url } = await setup();
    const answer = await call(url, 'POST', `/v1/contracts/${CONTRACT}/query`, {
      body: JSON.stringify({ scheme: 'gcm', payload: 'AAAA' }),
    });
    expect_error(answer, 404, 6);
  });

  it('a query body must be {"scheme", "payload"} (scheme defaults to gcm), else 400 code 7', async () => {
    const { url, backend } = await setup();
    backend.contracts.set(CONTRACT, contract_info());
    const path = `/v1/contracts/${CONTRACT}/query`;
    const cases: [string, RegExp][] = [
      ['nope', /not valid JSON/],
      ['"text"', /must be a JSON object/],
      ['{"scheme": "rot13", "payload": "AAAA"}', /scheme/],
      ['{"scheme": "gcm"}', /payload/],
      ['{"scheme": "gcm", "payload": "AAA"}', /base64/],
      ['{"scheme": "gcm", "payload": "AAAA", "extra": 1}', /unexpected field "extra"/],
    ];
    for (const [body, message] of cases) {
      const answer = await call(url, 'POST', path, { body });
      expect_error(answer, 400, 7);
      expect(answer.json.error.message).toMatch(message);
    }
    expect(backend.count('query')).toBe(0);
    const seen = once(backend.events, 'query_body');
    expect((await call(url, 'POST', path, { body: '{"payload": "AAAA"}' })).status).toBe(200);
    expect(await seen).toEqual([CONTRACT, { scheme: 'gcm', payload: 'AAAA' }]);
  });

  it('GET /v1/contracts/{address} answers the contract, 404 code 6 when unknown', async () => {
    const { url, backend } = await setup();
    expect_error(await call(url, 'GET', `/v1/contracts/${CONTRACT}`), 404, 6);
    backend.contracts.set(CONTRACT, contract_info());
    const answer = await call(url, 'GET', `/v1/contracts/${CONTRACT}`);
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(JSON.stringify(contract_info()));
    expect(Object.keys(answer.json)).toEqual([
      'address',
      'code_id',
      'code_hash',
      'label',
      'creator',
      'balance',
    ]);
  });

  it('GET /v1/contracts/{address} never shows what else the backend holds (the store binding)', async () => {
    const { url, backend } = await setup();
    backend.contracts.set(CONTRACT, { ...contract_info(), binding: 'ee'.repeat(32) } as ContractAnswer);
    const answer = await call(url, 'GET', `/v1/contracts/${CONTRACT}`);
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(JSON.stringify(contract_info()));
    expect(answer.text).not.toContain('binding');
    expect(answer.text).not.toContain('ee'.repeat(32));
  });

  it('GET /v1/codes answers the codes in order, name only where set', async () => {
    const { url } = await setup();
    const answer = await call(url, 'GET', '/v1/codes');
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual([
      { code_id: 1, code_hash: '01'.repeat(32), name: 'echo' },
      { code_id: 2, code_hash: '02'.repeat(32), name: 'counter' },
      { code_id: 3, code_hash: '03'.repeat(32) },
    ]);
  });

  it('GET /v1/accounts/{address} answers {address, sequence, balance}', async () => {
    const { url } = await setup();
    const answer = await call(url, 'GET', `/v1/accounts/${ACCOUNT}`);
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(JSON.stringify({ address: ACCOUNT, sequence: 4, balance: 1_250_000 }));
  });

  it('GET /v1/blocks/{height}/txs (extension) answers the committed transaction texts; 404 until committed', async () => {
    const { url, backend } = await setup();
    expect_error(await call(url, 'GET', '/v1/blocks/3/txs'), 404, RpcErrorCode.NOT_FOUND);
    backend.block_texts.set(3, ['{"body":1}', '{"body":2}']);
    const answer = await call(url, 'GET', '/v1/blocks/3/txs');
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ height: 3, txs: ['{"body":1}', '{"body":2}'] });
    expect_error(await call(url, 'GET', '/v1/blocks/0/txs'), 400, RpcErrorCode.BAD_REQUEST);
  });

  it('GET /v1/blocks/{height} answers header, block hash, tx hashes and commit; 404 code 100 until committed', async () => {
    const { url, backend } = await setup();
    expect_error(await call(url, 'GET', '/v1/blocks/2'), 404, RpcErrorCode.NOT_FOUND);
    const block = {
      header: { chain_id: 'test-1', height: 2 },
      block_hash: 'bb'.repeat(32),
      tx_hashes: [HASH],
      commit: {
        height: 2,
        round: 0,
        block_hash: 'bb'.repeat(32),
        signatures: [{ validator: '01'.repeat(32), signature: '99'.repeat(64) }],
      },
    };
    backend.blocks.set(2, block);
    const answer = await call(url, 'GET', '/v1/blocks/2');
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(JSON.stringify(block));
  });
});

function contract_info(): ContractAnswer {
  return {
    address: CONTRACT,
    code_id: 2,
    code_hash: '02'.repeat(32),
    label: 'counter #1',
    creator: ACCOUNT,
    balance: 7,
  };
}

describe('RPC request checks', () => {
  it('validates path parameters with 400 code 106, before asking the backend', async () => {
    const { url, backend } = await setup();
    const bad = [
      `/v1/txs/${HASH.toUpperCase()}`,
      `/v1/txs/${HASH.slice(2)}`,
      '/v1/txs/%41%42',
      `/v1/contracts/${CONTRACT}0`,
      `/v1/accounts/${ACCOUNT.slice(1)}`,
      '/v1/accounts/zz',
      '/v1/blocks/0',
      '/v1/blocks/01',
      '/v1/blocks/-1',
      '/v1/blocks/1.5',
      '/v1/blocks/1e3',
      '/v1/blocks/9007199254740992',
      '/v1/blocks/12345678901234567',
    ];
    for (const path of bad) {
      const answer = await call(url, 'GET', path);
      expect_error(answer, 400, RpcErrorCode.BAD_REQUEST);
    }
    const query = await call(url, 'POST', '/v1/contracts/XYZ/query', { body: '{"payload": "AAAA"}' });
    expect_error(query, 400, RpcErrorCode.BAD_REQUEST);
    expect([...backend.calls.keys()]).toEqual([]);
    expect((await call(url, 'GET', '/v1/blocks/9007199254740991')).status).toBe(404);
  });

  it('answers 404 code 100 for unknown routes and 405 code 105 with Allow for wrong methods', async () => {
    const { url } = await setup();
    for (const path of ['/', '/v1', '/v1/status/', '/v2/status', '/v1/txs/abc/def', '/V1/STATUS']) {
      expect_error(await call(url, 'GET', path), 404, RpcErrorCode.NOT_FOUND);
    }
    const del = await call(url, 'DELETE', '/v1/status');
    expect_error(del, 405, RpcErrorCode.METHOD_NOT_ALLOWED);
    expect(del.headers['allow']).toBe('GET, OPTIONS');
    const put_txs = await call(url, 'PUT', '/v1/txs');
    expect_error(put_txs, 405, RpcErrorCode.METHOD_NOT_ALLOWED);
    expect(put_txs.headers['allow']).toBe('POST, GET, OPTIONS');
  });

  it('refuses a request target over url_chars_max with 414 code 106', async () => {
    const { url } = await setup({ url_chars_max: 100 });
    expect_error(await call(url, 'GET', `/v1/status?${'x'.repeat(100)}`), 414, RpcErrorCode.BAD_REQUEST);
  });

  it('answers CORS on every answer and preflights with 204', async () => {
    const { url } = await setup();
    for (const answer of [
      await call(url, 'GET', '/v1/status'),
      await call(url, 'GET', '/nowhere'),
      await call(url, 'PUT', '/v1/codes'),
    ]) {
      expect(answer.headers['access-control-allow-origin']).toBe(ORIGIN);
      expect(answer.headers['vary']).toBe('Origin');
    }
    const preflight = await call(url, 'OPTIONS', `/v1/contracts/${CONTRACT}/query`, {
      headers: {
        origin: ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.text).toBe('');
    expect(preflight.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(preflight.headers['access-control-allow-methods']).toBe('POST, OPTIONS');
    expect(preflight.headers['access-control-allow-headers']).toMatch(/Content-Type/);
    expect(preflight.headers['access-control-max-age']).toBe('600');
  });

  it('with cors_origin "*" sends no Vary, with "" no CORS headers', async () => {
    const any = await setup({ cors_origin: '*' });
    const star = await call(any.url, 'GET', '/v1/codes');
    expect(star.headers['access-control-allow-origin']).toBe('*');
    expect(star.headers['vary']).toBeUndefined();
    const none = await setup({ cors_origin: '' });
    const plain = await call(none.url, 'GET', '/v1/codes');
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('answers a backend rejection with 500 code 104 and keeps the details in the log only', async () => {
    const logged: [string, Record<string, unknown>][] = [];
    const { url, backend } = await setup({}, (event, fields) => logged.push([event, fields]));
    backend.fail('status');
    const answer = await call(url, 'GET', '/v1/status');
    expect_error(answer, 500, RpcErrorCode.INTERNAL);
    expect(answer.text).not.toMatch(/secret|corrupt|Error/);
    expect(
      logged.some(
        ([event, fields]) => event === 'rpc_internal_error' && String(fields['error']).includes('corrupt'),
      ),
    ).toBe(true);
    // And it keeps serving.
    expect((await call(url, 'GET', '/v1/codes')).status).toBe(200);
  });

  it('answers a malformed pk_io from the backend with 500, not a crash', async () => {
    const { url, backend } = await setup();
    backend.io_key = 'not hex';
    expect_error(await call(url, 'GET', '/registration/v1beta1/tx-key'), 500, RpcErrorCode.INTERNAL);
  });

  it('answers an unknown refusal code from the backend with 500', async () => {
    const { url, backend } = await setup();
    backend.submit_answer = { ok: false, code: 42, message: 'internal detail' };
    const answer = await call(url, 'POST', '/v1/txs', { body: TX });
    expect_error(answer, 500, RpcErrorCode.INTERNAL);
    expect(answer.text).not.toContain('internal detail');
  });
});

describe('RPC body limit', () => {
  it('refuses a declared Content-Length over the limit with 413 before reading a byte', async () => {
    const { url, backend } = await setup({ body_bytes_max: 1024 });
    const req = http.request(`${url}/v1/txs`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024) },
    });
    req.on('error', () => {}); // The server closes while the body is still owed.
    req.flushHeaders();
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    const answer = await read_answer(res);
    req.destroy();
    expect_error(answer, 413, RpcErrorCode.BODY_TOO_LARGE);
    expect(answer.headers['connection']).toBe('close');
    expect(backend.count('submit')).toBe(0);
  });

  it('refuses a streamed (chunked) body once it passes the limit, never parsing it', async () => {
    const { url, backend } = await setup({ body_bytes_max: 1024 });
    const req = http.request(`${url}/v1/txs`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json' },
    });
    req.on('error', () => {});
    // Not JSON: had it been parsed, the answer would be 400 code 7.
    req.write('x'.repeat(4096));
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    const answer = await read_answer(res);
    req.destroy();
    expect_error(answer, 413, RpcErrorCode.BODY_TOO_LARGE);
    expect(backend.count('submit')).toBe(0);
  });

  it('refuses an over-limit query body with 413', async () => {
    const { url, backend } = await setup({ body_bytes_max: 100 });
    backend.contracts.set(CONTRACT, contract_info());
    const answer = await call(url, 'POST', `/v1/contracts/${CONTRACT}/query`, {
      body: JSON.stringify({ scheme: 'gcm', payload: 'A'.repeat(200) }),
    });
    expect_error(answer, 413, RpcErrorCode.BODY_TOO_LARGE);
    expect(backend.count('query')).toBe(0);
  });

  it('accepts a body of exactly the limit', async () => {
    const { url } = await setup({ body_bytes_max: Buffer.byteLength(TX) });
    expect((await call(url, 'POST', '/v1/txs', { body: TX })).status).toBe(202);
  });

  it('answers Expect: 100-continue with 413 instead of inviting a body over the limit', async () => {
    const { url } = await setup({ body_bytes_max: 1024 });
    const req = http.request(`${url}/v1/txs`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': '5000', expect: '100-continue' },
    });
    req.on('error', () => {});
    let invited = false;
    req.on('continue', () => (invited = true));
    req.flushHeaders();
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    const answer = await read_answer(res);
    req.destroy();
    expect_error(answer, 413, RpcErrorCode.BODY_TOO_LARGE);
    expect(invited).toBe(false);
  });
});

describe('RPC connections', () => {
  it('keeps connections alive between requests', async () => {
    const { url } = await setup();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect((await call(url, 'GET', '/v1/codes', { agent })).reused).toBe(false);
      const second = await call(url, 'GET', '/v1/codes', { agent });
      expect(second.status).toBe(200);
      expect(second.reused).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it('answers a client too slow to send its request with 408 code 103', async () => {
    const { url } = await setup({ headers_timeout_ms: 100, request_timeout_ms: 150 });
    const { port } = new URL(url);
    const socket = net.connect(Number(port), '127.0.0.1');
    socket.write(
      'POST /v1/txs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
    );
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'end');
    socket.destroy();
    const text = Buffer.concat(chunks).toString('utf8');
    expect(text.startsWith('HTTP/1.1 408 ')).toBe(true);
    expect(text).toContain(`access-control-allow-origin: ${ORIGIN}`);
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toEqual({
      error: { code: RpcErrorCode.TIMEOUT, message: 'request was not received in time' },
    });
  });

  it('answers malformed HTTP with a JSON 400 code 106', async () => {
    const { url } = await setup();
    const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
    socket.write('NOT HTTP AT ALL\r\n\r\n');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'end');
    socket.destroy();
    const text = Buffer.concat(chunks).toString('utf8');
    expect(text.startsWith('HTTP/1.1 400 ')).toBe(true);
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).error.code).toBe(RpcErrorCode.BAD_REQUEST);
  });

  it('bounds requests in flight: the one over requests_max gets 503 code 102', async () => {
    const { url, backend } = await setup({ requests_max: 1 });
    const release = backend.gate('codes');
    const reached = backend.called('codes');
    const first = call(url, 'GET', '/v1/codes');
    await reached;
    expect_error(await call(url, 'GET', '/v1/status'), 503, RpcErrorCode.BUSY);
    release();
    expect((await first).status).toBe(200);
    expect((await call(url, 'GET', '/v1/status')).status).toBe(200);
  });

  it('stop() waits for in-flight requests, answering them with Connection: close', async () => {
    const { url, backend, server } = await setup();
    const release = backend.gate('codes');
    const reached = backend.called('codes');
    const pending = call(url, 'GET', '/v1/codes');
    await reached;
    let stopped = false;
    const stopping = server.stop().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    release();
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(answer.headers['connection']).toBe('close');
    await stopping;
    expect(stopped).toBe(true);
    await expect(call(url, 'GET', '/v1/codes')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('stop() ends a commit wait at once with 503 code 102 naming the hash', async () => {
    const { url, backend, server } = await setup();
    const waiting = once(backend.events, 'waiting');
    const pending = call(url, 'POST', '/v1/txs?wait=commit', { body: TX });
    await waiting;
    await server.stop();
    const answer = await pending;
    expect_error(answer, 503, RpcErrorCode.BUSY);
    expect(answer.json.error.message).toContain(sha256_hex(TX));
  });

  it('checks its options', () => {
    const backend = new FakeBackend();
    const base: RpcOptions = {
      host: '127.0.0.1',
      port: 0,
      body_bytes_max: 1,
      wait_timeout_ms: 1,
      sse_clients_max: 1,
      cors_origin: '*',
    };
    expect(() => new RpcServer({ ...base, body_bytes_max: 0 }, { backend })).toThrow(RangeError);
    expect(() => new RpcServer({ ...base, requests_max: undefined }, { backend })).not.toThrow();
    expect(() => new RpcServer({ ...base, sse_clients_max: 1.5 }, { backend })).toThrow(RangeError);
    expect(() => new RpcServer({ ...base, cors_origin: '*\r\nx-evil: 1' }, { backend })).toThrow(RangeError);
    expect(
      () => new RpcServer({ ...base, headers_timeout_ms: 200, request_timeout_ms: 100 }, { backend }),
    ).toThrow(RangeError);
  });
});

/** Reads server-sent events from a response, frame by frame. */
class SseReader {
  readonly #frames: string[] = [];
  #buffer = '';
  #wake: (() => void) | null = null;
  #ended = false;

  constructor(readonly res: http.IncomingMessage) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      this.#buffer += chunk;
      for (let end = this.#buffer.indexOf('\n\n'); end >= 0; end = this.#buffer.indexOf('\n\n')) {
        this.#frames.push(this.#buffer.slice(0, end));
        this.#buffer = this.#buffer.slice(end + 2);
      }
      this.#wake?.();
    });
    res.on('end', () => {
      this.#ended = true;
      this.#wake?.();
    });
  }

  /** The next frame, or null once the stream has ended. */
  async next(): Promise<string | null> {
    for (;;) {
      const frame = this.#frames.shift();
      if (frame !== undefined) return frame;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = null;
    }
  }

  /** The next frame that is not a comment. */
  async next_event(): Promise<{ event: string; data: unknown } | null> {
    for (;;) {
      const frame = await this.next();
      if (frame === null) return null;
      if (frame.startsWith(':')) continue;
      const lines = frame.split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^event: /);
      expect(lines[1]).toMatch(/^data: /);
      return { event: lines[0]!.slice('event: '.length), data: JSON.parse(lines[1]!.slice('data: '.length)) };
    }
  }
}

async function open_stream(url: string): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
  const req = http.request(`${url}/v1/events`, { agent: false });
  req.on('error', () => {});
  req.end();
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  return { req, res };
}

describe('RPC live events (GET /v1/events)', () => {
  it('streams block and tx events in order and ends the stream on stop', async () => {
    const { url, backend, server } = await setup();
    const { res } = await open_stream(url);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(res.headers['access-control-allow-origin']).toBe(ORIGIN);
    const reader = new SseReader(res);
    expect(await reader.next()).toMatch(/^:/);
    const block: LiveEvent = {
      type: 'block',
      height: 3,
      block_hash: 'bb'.repeat(32),
      time_ms: 1_700_000_000_000,
      txs: 2,
    };
    const tx1 = record('01'.repeat(32));
    const tx2 = record('02'.repeat(32), { index: 1, code: 1, contract: CONTRACT });
    backend.emit(block);
    backend.commit(tx1);
    backend.commit(tx2);
    expect(await reader.next_event()).toEqual({
      event: 'block',
      data: { height: 3, block_hash: 'bb'.repeat(32), time_ms: 1_700_000_000_000, txs: 2 },
    });
    // A tx event's data is the GET /v1/txs/{hash} answer: `events` always there.
    expect(await reader.next_event()).toEqual({ event: 'tx', data: { ...tx1, events: [] } });
    expect(await reader.next_event()).toEqual({ event: 'tx', data: { ...tx2, events: [] } });
    const ended = once(res, 'end');
    await server.stop();
    await ended;
    expect(await reader.next_event()).toBeNull();
    expect(backend.subscribers.size).toBe(0);
  });

  it('sends a comment heartbeat', async () => {
    const { url } = await setup({ sse_heartbeat_ms: 20 });
    const { res } = await open_stream(url);
    const reader = new SseReader(res);
    expect(await reader.next()).toBe(': live');
    expect(await reader.next()).toBe(': ping');
    res.destroy();
  });

  it('bounds the streams: one over sse_clients_max gets 503 code 102; a closed one frees its place', async () => {
    const { url, backend } = await setup({ sse_clients_max: 1 });
    const first = await open_stream(url);
    expect(backend.subscribers.size).toBe(1);
    expect_error(await call(url, 'GET', '/v1/events'), 503, RpcErrorCode.BUSY);
    const unsubscribed = once(backend.events, 'unsubscribed');
    first.req.destroy();
    await unsubscribed;
    const second = await open_stream(url);
    expect(second.res.statusCode).toBe(200);
    second.req.destroy();
  });

  it('drops a client that does not read once its queue passes sse_buffer_bytes_max', async () => {
    const logged: string[] = [];
    const { url, backend } = await setup({ sse_buffer_bytes_max: 64 * 1024 }, (event) => logged.push(event));
    const { res } = await open_stream(url);
    res.pause();
    // 'aborted' is the server cutting the stream, which is the point (and once() would reject on it).
    res.on('error', () => {});
    const closed = new Promise((resolve) => res.on('close', resolve));
    const big = record(HASH, { output: 'A'.repeat(256 * 1024) });
    // Each event is larger than the socket buffers take at once, so the queue grows until the drop.
    for (let i = 0; i < 256 && backend.subscribers.size > 0; i++) backend.emit({ type: 'tx', ...big });
    expect(backend.subscribers.size).toBe(0);
    expect(logged).toContain('rpc_sse_slow_client_dropped');
    res.resume();
    await closed;
  });
});

/** Opens a live stream from the local address `from` (any 127.0.0.0/8 address reaches 127.0.0.1 on Linux). */
async function open_stream_from(url: string, from: string): Promise<Answer | http.ClientRequest> {
  const req = http.request(`${url}/v1/events`, { agent: false, localAddress: from });
  req.on('error', () => {});
  req.end();
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  if (res.statusCode === 200) return req;
  return read_answer(res);
}

describe('RPC live streams per remote address', () => {
  it('one address over sse_clients_per_address_max gets 429 code 110 with Retry-After; others still get streams', async () => {
    const { url, backend } = await setup({ sse_clients_max: 4, sse_clients_per_address_max: 2 });
    const first = await open_stream_from(url, '127.0.0.1');
    const second = await open_stream_from(url, '127.0.0.1');
    expect(first).toBeInstanceOf(http.ClientRequest);
    expect(second).toBeInstanceOf(http.ClientRequest);
    const third = (await open_stream_from(url, '127.0.0.1')) as Answer;
    expect_error(third, 429, RpcErrorCode.TOO_MANY_STREAMS);
    expect(third.headers['retry-after']).toBe('5');
    expect(backend.subscribers.size).toBe(1);
    // Another client is not starved by the first one's streams.
    const other = await open_stream_from(url, '127.0.0.2');
    expect(other).toBeInstanceOf(http.ClientRequest);
    // Closed streams free their address's places (the last one closing unsubscribes the backend).
    const unsubscribed = once(backend.events, 'unsubscribed');
    for (const req of [first, second, other]) (req as http.ClientRequest).destroy();
    await unsubscribed;
    const again = await open_stream_from(url, '127.0.0.1');
    expect(again).toBeInstanceOf(http.ClientRequest);
    (again as http.ClientRequest).destroy();
  });

  it('checks the option', () => {
    const backend = new FakeBackend();
    const base: RpcOptions = {
      host: '127.0.0.1',
      port: 0,
      body_bytes_max: 1,
      wait_timeout_ms: 1,
      sse_clients_max: 1,
      cors_origin: '*',
    };
    expect(() => new RpcServer({ ...base, sse_clients_per_address_max: 0 }, { backend })).toThrow(RangeError);
    expect(() => new RpcServer({ ...base, sse_clients_per_address_max: 2.5 }, { backend })).toThrow(
      RangeError,
    );
    expect(
      () => new RpcServer({ ...base, sse_clients_per_address_max: undefined }, { backend }),
    ).not.toThrow();
  });
});

describe('discovery: GET /v1/contracts and GET /v1/txs', () => {
  it('passes the filters and page on and answers {contracts, cursor} with contract shapes', async () => {
    const { url, backend } = await setup();
    const leaky = { ...contract_info(), binding: 'bb'.repeat(32) } as ContractAnswer;
    backend.contracts_page = { contracts: [leaky], cursor: 'Y3Vyc29y' };
    const answer = await call(
      url,
      'GET',
      `/v1/contracts?code_id=12&creator=${ACCOUNT}&label=my%20l%C3%A4bel&limit=7`,
    );
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.json)).toEqual(['contracts', 'cursor']);
    expect(answer.json).toEqual({ contracts: [contract_info()], cursor: 'Y3Vyc29y' });
    expect(backend.list_calls.at(-1)).toEqual({
      filter: { code_id: 12, creator: ACCOUNT, label: 'my läbel' },
      page: { limit: 7, cursor: null },
    });
    await call(url, 'GET', '/v1/contracts?cursor=Y3Vyc29y');
    expect(backend.list_calls.at(-1)).toEqual({ filter: {}, page: { limit: 20, cursor: 'Y3Vyc29y' } });
  });

  it('answers {txs, cursor} with the GET /v1/txs/{hash} shape of each, in the backend order', async () => {
    const { url, backend } = await setup();
    backend.txs_page = {
      txs: [record(HASH, { height: 9, contract: CONTRACT }), record('cd'.repeat(32))],
      cursor: null,
    };
    const answer = await call(url, 'GET', `/v1/txs?sender=${ACCOUNT}&contract=${CONTRACT}&limit=100`);
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(
      JSON.stringify({
        txs: [
          { ...record(HASH, { height: 9, contract: CONTRACT }), events: [] },
          { ...record('cd'.repeat(32)), events: [] },
        ],
        cursor: null,
      }),
    );
    expect(backend.list_calls.at(-1)).toEqual({
      filter: { sender: ACCOUNT, contract: CONTRACT },
      page: { limit: 100, cursor: null },
    });
    // POST on the same path still submits.
    expect((await call(url, 'POST', '/v1/txs', { body: TX })).status).toBe(202);
  });

  it('refuses bad filters, limits and cursors with 400 code 106 before the backend', async () => {
    const { url, backend } = await setup();
    for (const path of [
      '/v1/contracts?limit=0',
      '/v1/contracts?limit=101',
      '/v1/contracts?limit=abc',
      '/v1/contracts?limit=05',
      '/v1/contracts?limit=',
      '/v1/contracts?code_id=0',
      '/v1/contracts?code_id=-1',
      '/v1/contracts?code_id=1&code_id=2',
      `/v1/contracts?creator=${ACCOUNT.toUpperCase()}`,
      '/v1/contracts?label=',
      `/v1/contracts?label=${'x'.repeat(129)}`,
      '/v1/contracts?cursor=not%20base64url!',
      '/v1/contracts?cursor=',
      '/v1/contracts?owner=x',
      '/v1/txs',
      '/v1/txs?limit=5',
      '/v1/txs?sender=abc',
      `/v1/txs?contract=${CONTRACT}&code_id=1`,
    ]) {
      const answer = await call(url, 'GET', path);
      expect_error(answer, 400, RpcErrorCode.BAD_REQUEST);
      expect(answer.json.error.message.length, path).toBeGreaterThan(10);
    }
    expect(backend.count('list_contracts') + backend.count('list_txs')).toBe(0);
    expect((await call(url, 'GET', '/v1/contracts?limit=1')).status).toBe(200);
    expect((await call(url, 'GET', `/v1/txs?contract=${CONTRACT}&limit=100`)).status).toBe(200);
  });

  it('answers a cursor the backend refuses with 400 code 106 and its reason', async () => {
    const { url } = await setup();
    const answer = await call(url, 'GET', '/v1/contracts?cursor=bm90LW1pbmU');
    expect_error(answer, 400, RpcErrorCode.BAD_REQUEST);
    expect(answer.json.error.message).toBe('cursor is not from this listing');
  });

  it('allows GET and POST on /v1/txs, GET on /v1/contracts', async () => {
    const { url } = await setup();
    const txs = await call(url, 'OPTIONS', '/v1/txs');
    expect(txs.headers['allow']).toBe('POST, GET, OPTIONS');
    expect_error(
      await call(url, 'POST', '/v1/contracts', { body: '{}' }),
      405,
      RpcErrorCode.METHOD_NOT_ALLOWED,
    );
  });
});

describe('RPC on a halted node', () => {
  const HALT: HaltInfo = {
    height: 12,
    reason: 'own results differ from the committed block at height 12: refusing to apply them',
  };

  it('GET /v1/status says halted {height, reason} last; a healthy node has no halted field', async () => {
    const { url, backend } = await setup();
    expect((await call(url, 'GET', '/v1/status')).json).not.toHaveProperty('halted');
    backend.halt = HALT;
    const answer = await call(url, 'GET', '/v1/status');
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.json)).toEqual([
      'chain_id',
      'height',
      'io_pubkey',
      'seed_exchange_pubkey',
      'validator',
      'validators',
      'min_gas_price',
      'dev',
      'contracts',
      'peers',
      'mempool',
      'last_block_time_ms',
      'halted',
    ]);
    expect(answer.json.halted).toEqual(HALT);
  });

  it('refuses POST /v1/txs (with or without wait) with 503 code 108 and no Retry-After, before the backend', async () => {
    const { url, backend } = await setup();
    backend.halt = HALT;
    for (const path of ['/v1/txs', '/v1/txs?wait=commit']) {
      const answer = await call(url, 'POST', path, { body: TX });
      expect_error(answer, 503, RpcErrorCode.HALTED);
      expect(answer.json.error.message).toContain('height 12');
      expect(answer.headers['retry-after']).toBeUndefined();
    }
    expect(backend.count('submit')).toBe(0);
    expect(backend.submitted).toEqual([]);
  });

  it('maps a backend that halts between the check and the submission to 503 code 108 too', async () => {
    const { url, backend } = await setup();
    backend.submit_answer = { ok: false, code: 'halted', message: 'halted at height 12' };
    const release = backend.gate('submit');
    const pending = call(url, 'POST', '/v1/txs', { body: TX });
    await backend.called('submit');
    backend.halt = HALT;
    release();
    expect_error(await pending, 503, RpcErrorCode.HALTED);
  });

  it('refuses a new live stream with 503 code 108: a halted node streams nothing more', async () => {
    const { url, backend } = await setup();
    backend.halt = HALT;
    expect_error(await call(url, 'GET', '/v1/events'), 503, RpcErrorCode.HALTED);
    expect(backend.subscribers.size).toBe(0);
  });

  it('answers only what cannot have changed since it halted; the rest is 503 code 108', async () => {
    const { url, backend } = await setup();
    backend.halt = HALT;
    backend.contracts.set(CONTRACT, contract_info());
    backend.txs.set(HASH, record(HASH));
    backend.blocks.set(3, { header: {}, block_hash: 'bb'.repeat(32), tx_hashes: [HASH], commit: {} });
    backend.block_texts.set(3, [TX]);
    // What it committed stays true.
    for (const path of [`/v1/txs/${HASH}`, '/v1/blocks/3', '/v1/blocks/3/txs', `/v1/contracts/${CONTRACT}`])
      expect((await call(url, 'GET', path)).status).toBe(200);
    expect((await call(url, 'GET', '/registration/v1beta1/tx-key')).status).toBe(200);
    // What it has not committed, it never will; state that moves with blocks stopped where it halted.
    for (const path of [
      `/v1/txs/${'cd'.repeat(32)}`,
      '/v1/blocks/4',
      '/v1/blocks/4/txs',
      `/v1/contracts/${'c1'.repeat(20)}`,
      `/v1/accounts/${ACCOUNT}`,
      '/v1/codes',
      '/v1/contracts?code_id=1',
      `/v1/txs?sender=${ACCOUNT}`,
    ])
      expect_error(await call(url, 'GET', path), 503, RpcErrorCode.HALTED);
    const query = await call(url, 'POST', `/v1/contracts/${CONTRACT}/query`, {
      body: '{"scheme": "gcm", "payload": "AAAA"}',
    });
    expect_error(query, 503, RpcErrorCode.HALTED);
    for (const name of ['query', 'account', 'codes', 'list_contracts', 'list_txs'] as const)
      expect(backend.count(name)).toBe(0);
  });

  it('ends open live streams when the node halts', async () => {
    const { url, backend } = await setup();
    const { res } = await open_stream(url);
    const reader = new SseReader(res);
    expect(await reader.next()).toBe(': live');
    const unsubscribed = once(backend.events, 'unsubscribed');
    backend.emit({ type: 'halted', ...HALT });
    expect(await reader.next()).toBeNull();
    await unsubscribed;
    expect(backend.subscribers.size).toBe(0);
  });
});

describe('RPC refusals of queries and submissions by the node', () => {
  it('maps a query refusal: code 7 to 400, enclave_failed to 503 code 109, busy to 503 code 102', async () => {
    const { url, backend } = await setup();
    backend.contracts.set(CONTRACT, contract_info());
    const path = `/v1/contracts/${CONTRACT}/query`;
    const body = '{"scheme": "gcm", "payload": "AAAA"}';
    backend.query_answer = { ok: false, code: 7, message: 'query payload is longer than 524288 characters' };
    const malformed = await call(url, 'POST', path, { body });
    expect_error(malformed, 400, 7);
    expect(malformed.json.error.message).toBe('query payload is longer than 524288 characters');
    backend.query_answer = { ok: false, code: 'enclave_failed', message: 'its worker died' };
    const failed = await call(url, 'POST', path, { body });
    expect_error(failed, 503, RpcErrorCode.ENCLAVE_FAILED);
    expect(failed.json.error.message).toBe('its worker died');
    backend.query_answer = { ok: false, code: 'busy', message: 'the enclave call queue is full' };
    const busy = await call(url, 'POST', path, { body });
    expect_error(busy, 503, RpcErrorCode.BUSY);
    expect(busy.headers['retry-after']).toBe('1');
  });

  it('maps a quarantined submission to 422 code 111', async () => {
    const { url, backend } = await setup();
    backend.submit_answer = { ok: false, code: 'quarantined', message: 'transaction is quarantined' };
    const answer = await call(url, 'POST', '/v1/txs', { body: TX });
    expect_error(answer, 422, RpcErrorCode.QUARANTINED);
    expect(answer.json.error.message).toBe('transaction is quarantined');
  });
});

describe('RPC faucet (POST /v1/faucet, protocol.md §9)', () => {
  const ADDRESS = 'f0'.repeat(20);

  it('answers 404 code 100 on a network that is not a development network, before reading the body', async () => {
    const { url, backend } = await setup();
    const answer = await call(url, 'POST', '/v1/faucet', { body: JSON.stringify({ address: ADDRESS }) });
    expect_error(answer, 404, RpcErrorCode.NOT_FOUND);
    expect(answer.json.error.message).toMatch(/no faucet/);
    // Even a bad body: the route is not there.
    expect_error(await call(url, 'POST', '/v1/faucet', { body: 'nope' }), 404, RpcErrorCode.NOT_FOUND);
    expect(backend.count('faucet')).toBe(0);
  });

  it('on a development network answers 200 and the committed record, like POST /v1/txs?wait=commit', async () => {
    const { url, backend } = await setup();
    backend.dev = true;
    const status = await call(url, 'GET', '/v1/status');
    expect(status.json.min_gas_price).toBe(0);
    expect(status.json.dev).toBe(true);
    const answer = await call(url, 'POST', '/v1/faucet', { body: JSON.stringify({ address: ADDRESS }) });
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(JSON.stringify({ ...record(HASH, { height: 9 }), events: [] }));
    const max = await call(url, 'POST', '/v1/faucet', {
      body: JSON.stringify({ address: ADDRESS, amount: FAUCET_AMOUNT_MAX }),
    });
    expect(max.status).toBe(200);
    // The default amount when left out; the asked one otherwise.
    expect(backend.faucet_calls).toEqual([
      { address: ADDRESS, amount: FAUCET_AMOUNT_DEFAULT },
      { address: ADDRESS, amount: FAUCET_AMOUNT_MAX },
    ]);
  });

  it('refuses a bad address or amount with 400 code 106 saying what is wrong, before the backend', async () => {
    const { url, backend } = await setup();
    backend.dev = true;
    const cases: [string, RegExp][] = [
      ['nope', /not valid JSON/],
      ['[1]', /JSON object/],
      ['{}', /address/],
      [JSON.stringify({ address: ADDRESS.toUpperCase() }), /40 lowercase hex/],
      [JSON.stringify({ address: ADDRESS.slice(2) }), /40 lowercase hex/],
      [JSON.stringify({ address: ADDRESS, amount: 0 }), /positive integer/],
      [JSON.stringify({ address: ADDRESS, amount: -5 }), /positive integer/],
      [JSON.stringify({ address: ADDRESS, amount: 1.5 }), /positive integer/],
      [JSON.stringify({ address: ADDRESS, amount: '5' }), /positive integer/],
      [JSON.stringify({ address: ADDRESS, amount: null }), /positive integer/],
      [JSON.stringify({ address: ADDRESS, amount: FAUCET_AMOUNT_MAX + 1 }), /at most 1000000000/],
      [JSON.stringify({ address: ADDRESS, memo: 'hi' }), /unexpected field "memo"/],
    ];
    for (const [body, message] of cases) {
      const answer = await call(url, 'POST', '/v1/faucet', { body });
      expect_error(answer, 400, RpcErrorCode.BAD_REQUEST);
      expect(answer.json.error.message).toMatch(message);
    }
    expect(backend.count('faucet')).toBe(0);
  });

  it('maps a rate-limited address to 429 code 112 with Retry-After', async () => {
    const { url, backend } = await setup();
    backend.dev = true;
    backend.faucet_answer = {
      ok: false,
      code: 'rate_limited',
      message: 'asked too often',
      retry_after_s: 42,
    };
    const answer = await call(url, 'POST', '/v1/faucet', { body: JSON.stringify({ address: ADDRESS }) });
    expect_error(answer, 429, RpcErrorCode.RATE_LIMITED);
    expect(RpcErrorCode.RATE_LIMITED).toBe(112);
    expect(answer.headers['retry-after']).toBe('42');
    expect(answer.json.error.message).toBe('asked too often');
  });

  it('maps the faucet giving up: timeout 504 code 103, busy 503 code 102, halted 503 code 108', async () => {
    const { url, backend } = await setup();
    backend.dev = true;
    const body = JSON.stringify({ address: ADDRESS });
    backend.faucet_answer = { ok: false, code: 'timeout', message: 'did not commit in time' };
    expect_error(await call(url, 'POST', '/v1/faucet', { body }), 504, RpcErrorCode.TIMEOUT);
    backend.faucet_answer = { ok: false, code: 'busy', message: 'sequence taken 4 times' };
    const busy = await call(url, 'POST', '/v1/faucet', { body });
    expect_error(busy, 503, RpcErrorCode.BUSY);
    expect(busy.headers['retry-after']).toBe('1');
    backend.faucet_answer = null;
    backend.halt = { height: 5, reason: 'diverged' };
    expect_error(await call(url, 'POST', '/v1/faucet', { body }), 503, RpcErrorCode.HALTED);
    expect(backend.count('faucet')).toBe(2);
  });

  it('streams a tx event with its public events', async () => {
    const { url, backend } = await setup();
    const { res } = await open_stream(url);
    const reader = new SseReader(res);
    expect(await reader.next()).toBe(': live');
    const events = [{ type: 'transfer', attributes: [{ key: 'amount', value: '5' }], contract: CONTRACT }];
    backend.commit(record(HASH, { events }));
    expect(await reader.next_event()).toEqual({ event: 'tx', data: { ...record(HASH), events } });
    res.destroy();
  });
});
