/**
 * The development network's faucet (node/faucet.ts, protocol.md §9 `POST /v1/faucet`) on a virtual
 * clock and a scripted chain: what it signs, its queue, its retries when another validator's faucet
 * takes its sequence, its deadline, its rate limit; and the faucet and the §9 answers through
 * NodeBackend and a real RPC server.
 */

import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { Enclave } from '../../enclave/api.js';
import { NodeBackend } from '../../node/backend.js';
import { FAUCET_LIMITS, Faucet, type FaucetModules, RateLimiter } from '../../node/faucet.js';
import type { Genesis } from '../../node/genesis.js';
import type { Mempool } from '../../node/mempool.js';
import type { TxRecord } from '../../node/records.js';
import { RpcErrorCode, RpcServer } from '../../node/rpc/server.js';
import type { Refusal } from '../../node/rpc/types.js';
import type { ChainStore } from '../../node/store/chain_store.js';
import { FAUCET_AMOUNT_DEFAULT, faucet_account } from '../../protocol/bank.js';
import { ResultCode } from '../../protocol/codes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { parse_tx_json, type Tx, tx_hash, verify_tx_signature } from '../../protocol/tx.js';

const p = get_provider('native');
const FAUCET = faucet_account(p);
const CHAIN_ID = 'faucet-test-1';
const TO = 'f0'.repeat(20);
const T0 = 1_700_000_000_000;

/** Timers on a clock that moves only when told. */
class VirtualClock {
  now = T0;
  #timers: { at: number; fn: () => void; live: boolean }[] = [];

  now_ms = (): number => this.now;

  set_timer = (delay_ms: number, fn: () => void): (() => void) => {
    const timer = { at: this.now + delay_ms, fn, live: true };
    this.#timers.push(timer);
    return () => {
      timer.live = false;
    };
  };

  /** Moves the clock on, firing every timer due by then in order. */
  advance(ms: number): void {
    this.now += ms;
    const due = this.#timers.filter((t) => t.live && t.at <= this.now).sort((a, b) => a.at - b.at);
    this.#timers = this.#timers.filter((t) => !due.includes(t));
    for (const t of due) {
      t.live = false;
      t.fn();
    }
  }

  /** Timers armed and not yet fired or cancelled. */
  get armed(): number {
    return this.#timers.filter((t) => t.live).length;
  }
}

/** What a scripted submission answers instead of accepting. */
type Script = (tx: Tx) => Refusal | null;

/**
 * The faucet's chain, scripted: a committed sequence per account, this node's pending faucet
 * transactions, committed records; 'submit' fires on `events` with each submitted transaction.
 */
class ScriptedChain {
  readonly events = new EventEmitter();
  readonly clock = new VirtualClock();
  committed = 0;
  readonly pending: Tx[] = [];
  readonly records = new Map<string, TxRecord>();
  readonly submitted: { raw: string; tx: Tx }[] = [];
  readonly scripts: Script[] = [];
  /** The faucet's log lines. */
  readonly logs: [string, Record<string, unknown>][] = [];
  /** Commit every accepted transaction at once (code 0). */
  auto_commit = false;
  readonly #listeners = new Set<() => void>();
  #height = 0;

  modules(): FaucetModules {
    return {
      p,
      now_ms: this.clock.now_ms,
      set_timer: this.clock.set_timer,
      next_sequence: async (address) => {
        expect(address).toBe(FAUCET.address);
        return this.committed + this.pending.length;
      },
      committed_sequence: async () => this.committed,
      submit: async (raw, tx) => {
        this.submitted.push({ raw, tx });
        const refusal = this.scripts.shift()?.(tx) ?? null;
        queueMicrotask(() => this.events.emit('submit', tx));
        if (refusal !== null) return refusal;
        this.pending.push(tx);
        if (this.auto_commit) queueMicrotask(() => this.commit(tx));
        return { ok: true, hash: tx_hash(p, tx) };
      },
      get_tx: async (hash) => this.records.get(hash) ?? null,
      on_commit: (fn) => {
        this.#listeners.add(fn);
        return () => this.#listeners.delete(fn);
      },
      log: (event, fields) => this.logs.push([event, fields]),
    };
  }

  /** Commits a block holding `tx` with `code` (5: refused, the sequence does not advance). */
  commit(tx: Tx, code: ResultCode = ResultCode.OK): TxRecord {
    const hash = tx_hash(p, tx);
    const record: TxRecord = { hash, height: ++this.#height, index: 0, code, gas_used: 12_000, output: '' };
    this.records.set(hash, record);
    this.pending.splice(this.pending.indexOf(tx), 1);
    if (code !== ResultCode.WRONG_SEQUENCE) this.committed++;
    this.#announce();
    return record;
  }

  /** Another validator's faucet transaction takes the next sequence; this node's pending one at it is dropped. */
  lose(): void {
    const taken = this.pending.findIndex((tx) => tx.body.sequence === this.committed);
    if (taken >= 0) this.pending.splice(taken, 1);
    this.committed++;
    this.#height++;
    this.#announce();
  }

  #announce(): void {
    for (const fn of [...this.#listeners]) fn();
  }

  get listeners(): number {
    return this.#listeners.size;
  }

  /** Resolves with the next submitted transaction. */
  async next_submit(): Promise<Tx> {
    const [tx] = (await once(this.events, 'submit')) as [Tx];
    return tx;
  }
}

function request(faucet: Faucet, address = TO, amount = 1000, signal = new AbortController().signal) {
  return faucet.request(address, amount, { timeout_ms: 30_000, signal });
}

describe('Faucet', () => {
  it('signs a send from the faucet account at its next sequence, without gas_price, and answers the commit', async () => {
    const chain = new ScriptedChain();
    chain.committed = 7;
    const faucet = new Faucet({ chain_id: CHAIN_ID }, chain.modules());
    expect(faucet.address).toBe(FAUCET.address);
    const answer = request(faucet, TO, 1234);
    const tx = await chain.next_submit();
    const { raw } = chain.submitted[0]!;
    // The text submitted is a well-formed, validly signed transaction, exactly the one parsed.
    expect(parse_tx_json(raw)).toEqual(tx);
    expect(verify_tx_signature(p, tx)).toBe(true);
    expect(tx.body).toEqual({
      chain_id: CHAIN_ID,
      sender: FAUCET.public_key,
      sequence: 7,
      gas_limit: FAUCET_LIMITS.gas_limit,
      msg: { type: 'send', to: TO, amount: 1234 },
    });
    expect(JSON.parse(raw).body).not.toHaveProperty('gas_price');
    const record = chain.commit(tx);
    expect(await answer).toEqual({ ok: true, record });
    // Nothing left behind: no commit listener, no armed deadline.
    expect(chain.listeners).toBe(0);
    expect(chain.clock.armed).toBe(0);
    expect(faucet.pending).toBe(0);
  });

  it('takes one request at a time: concurrent requests get consecutive sequences', async () => {
    const chain = new ScriptedChain();
    const faucet = new Faucet({ chain_id: CHAIN_ID }, chain.modules());
    const first = request(faucet, TO, 1);
    const second = request(faucet, 'e1'.repeat(20), 2);
    const a = await chain.next_submit();
    const b = await chain.next_submit();
    expect([a.body.sequence, b.body.sequence]).toEqual([0, 1]);
    const ra = chain.commit(a);
    const rb = chain.commit(b);
    expect(await first).toEqual({ ok: true, record: ra });
    expect(await second).toEqual({ ok: true, record: rb });
  });

  it('signs again with a fresh sequence when the mempool refuses its sequence (code 5)', async () => {
    const chain = new ScriptedChain();
    // Another validator's faucet transaction is committed meanwhile: the mempool expects the next one.
    chain.scripts.push(() => {
      chain.committed++;
      return { ok: false, code: ResultCode.WRONG_SEQUENCE, message: 'wrong sequence 0: expected 1' };
    });
    const faucet = new Faucet({ chain_id: CHAIN_ID }, chain.modules());
    const answer = request(faucet);
    expect((await chain.next_submit()).body.sequence).toBe(0);
    const again = await chain.next_submit();
    expect(again.body.sequence).toBe(1);
    const record = chain.commit(again);
    expect(await answer).toEqual({ ok: true, record });
  });

  it("signs again when another validator's faucet takes its sequence in a block (its own is dropped)", async () => {
    const chain = new ScriptedChain();
    const faucet = new Faucet({ chain_id: CHAIN_ID }, chain.modules());
    const answer = request(faucet);
    const lost = await chain.next_submit();
    expect(lost.body.sequence).toBe(0);
    const resubmitted = chain.next_submit();
    chain.lose();
    const again = await resubmitted;
    expect(again.body.sequence).toBe(1);
    expect(chain.records.has(tx_hash(p, lost))).toBe(false);
    const record = chain.commit(again);
    expect(await answer).toEqual({ ok: true, record });
    expect(chain.logs.map(([event, f]) => [event, f['sequence'], f['reason']])).toEqual([
      ['faucet_sent', 0, undefined],
      ['faucet_retry', 0, 'lost'],
      ['faucet_sent', 1, undefined],
    ]);
  });

  it('signs again when its transaction commits with code 5', async () => {
    const chain = new ScriptedChain();
    const faucet = new Faucet({ chain_id: CHAIN_ID }, chain.modules());
    const answer = request(faucet);
    const first = await chain.next_submit();
    const resubmitted = chain.next_submit();
    // Another validator's faucet transaction at sequence 0 comes first in the same block: ours is refused there.
    chain.committed++;
    const refused = chain.commit(first, ResultCode.WRONG_SEQUENCE);
    expect(refused.code).toBe(ResultCode.WRONG_SEQUENCE);
    const again = await resubmitted;
    expect(again.body.sequence).toBe(1);
    const record = chain.commit(again);
    expect(await answer).toEqual({ ok: true, record });
  });

  it(`gives up after ${FAUCET_LIMITS.attempts_max} lost sequences with 'busy'`, async () => {
    const chain = new ScriptedChain();
    for (let i = 0; i < 2 * FAUCET_LIMITS.attempts_max; i++)
      chain.scripts.push(() => {
        chain.committed++;
        return { ok: false, code: ResultCode.WRONG_SEQUENCE, message: 'taken' };
      });
    const faucet = new Faucet({ chain_id: CHAIN_ID }, chain.modules());
    const answer = await request(faucet);
    expect(answer).toMatchObject({ ok: false, code: 'busy' });
    expect((answer as Refusal).message).toMatch(
      new RegExp(`taken by other validators' faucets ${FAUCET_LIMITS.attempts_max} times`),
    );
    expect(chain.submitted).toHaveLength(FAUCET_LIMITS.attempts_max);
  });

  it("answers 'timeout' when nothing commits before the deadline, on the node's clock", async () => {
    const chain = new ScriptedChain();
    const faucet = new Faucet({ chain_id: CHAIN_ID }, chain.modules());
    const answer = faucet.request(TO, 5, { timeout_ms: 10_000, signal: new AbortController().signal });
    await chain.next_submit();
    chain.clock.advance(9_999);
    chain.clock.advance(1);
    expect(await answer).toMatchObject({ ok: false, code: 'timeout' });
    expect(chain.listeners).toBe(0);
  });

  it("answers 'busy' at once when the signal aborts (the node stops, the client leaves)", async () => {
    const chain = new ScriptedChain();
    const faucet = new Faucet({ chain_id: CHAIN_ID }, chain.modules());
    const stop = new AbortController();
    const answer = request(faucet, TO, 5, stop.signal);
    await chain.next_submit();
    stop.abort();
    expect(await answer).toEqual({ ok: false, code: 'busy', message: 'node is stopping' });
    expect(chain.clock.armed).toBe(0);
  });

  it("passes the mempool's own refusals on, and throws on one that is the node's fault", async () => {
    const chain = new ScriptedChain();
    const faucet = new Faucet({ chain_id: CHAIN_ID }, chain.modules());
    chain.scripts.push(() => ({ ok: false, code: 'full', message: 'mempool holds its most transactions' }));
    expect(await request(faucet)).toEqual({
      ok: false,
      code: 'full',
      message: 'mempool holds its most transactions',
    });
    chain.scripts.push(() => ({ ok: false, code: ResultCode.MALFORMED_TX, message: 'gas_limit is over 10' }));
    await expect(request(faucet, 'e2'.repeat(20))).rejects.toThrow(/refused with code 7/);
    expect(faucet.pending).toBe(0);
  });

  it(`lets an address ask ${FAUCET_LIMITS.requests_max} times per ${FAUCET_LIMITS.window_ms / 1000} s, then answers 'rate_limited' with the wait`, async () => {
    const chain = new ScriptedChain();
    chain.auto_commit = true;
    const faucet = new Faucet({ chain_id: CHAIN_ID }, chain.modules());
    for (let i = 0; i < FAUCET_LIMITS.requests_max; i++) {
      expect((await request(faucet)).ok).toBe(true);
      chain.clock.advance(1_000);
    }
    // The first request leaves the window 55 s from now.
    const limited = await request(faucet);
    expect(limited).toMatchObject({ ok: false, code: 'rate_limited', retry_after_s: 55 });
    expect(chain.submitted).toHaveLength(FAUCET_LIMITS.requests_max);
    // Another address is not held back.
    expect((await request(faucet, 'e3'.repeat(20))).ok).toBe(true);
    chain.clock.advance(54_999);
    expect(await request(faucet)).toMatchObject({ code: 'rate_limited', retry_after_s: 1 });
    chain.clock.advance(1);
    expect((await request(faucet)).ok).toBe(true);
  });
});

describe('RateLimiter', () => {
  it('allows requests_max per sliding window and says how long to wait', () => {
    const clock = new VirtualClock();
    const limiter = new RateLimiter({ requests_max: 2, window_ms: 1_000, keys_max: 10 }, clock.now_ms);
    expect(limiter.take('a')).toBeNull();
    clock.advance(400);
    expect(limiter.take('a')).toBeNull();
    expect(limiter.take('a')).toBe(600);
    clock.advance(600);
    expect(limiter.take('a')).toBeNull();
    expect(limiter.take('a')).toBe(400);
  });

  it('tracks at most keys_max keys, forgetting the least recently seen', () => {
    const clock = new VirtualClock();
    const limiter = new RateLimiter({ requests_max: 1, window_ms: 60_000, keys_max: 3 }, clock.now_ms);
    for (const key of ['a', 'b', 'c']) expect(limiter.take(key)).toBeNull();
    // 'a' is seen again (refused), so 'b' is now the least recently seen.
    expect(limiter.take('a')).not.toBeNull();
    expect(limiter.take('d')).toBeNull();
    expect(limiter.size).toBe(3);
    expect(limiter.take('a')).not.toBeNull();
    expect(limiter.take('c')).not.toBeNull();
    // 'b' was forgotten: it may ask again.
    expect(limiter.take('b')).toBeNull();
    expect(limiter.size).toBe(3);
  });

  it('checks its options', () => {
    expect(() => new RateLimiter({ requests_max: 0, window_ms: 1, keys_max: 1 }, () => 0)).toThrow(
      RangeError,
    );
    expect(() => new RateLimiter({ requests_max: 1, window_ms: 1.5, keys_max: 1 }, () => 0)).toThrow(
      RangeError,
    );
  });
});

// ---- through NodeBackend and the RPC server -------------------------------------------------

const GENESIS = {
  chain_id: CHAIN_ID,
  io_pubkey: '0f'.repeat(32),
  seed_exchange_pubkey: '0e'.repeat(32),
  validators: [{ pubkey: '01'.repeat(32), power: 10, name: 'v0' }],
  codes: [],
} as unknown as Genesis;

const CONTRACT = 'c0'.repeat(20);

/**
 * A node in memory: a store of records, sequences, balances and one contract (with a binding), and
 * a mempool that commits each faucet transaction as a block at once, as the node would announce it.
 */
function memory_node(genesis: Genesis) {
  const clock = new VirtualClock();
  const records = new Map<string, TxRecord>();
  const sequences = new Map<string, number>();
  const balances = new Map<string, number>([
    [TO, 55],
    [CONTRACT, 900],
  ]);
  let height = 3;
  const store = {
    height: () => height,
    last_block: () => null,
    get_tx: async (hash: string) => records.get(hash) ?? null,
    get_account_sequence: async (address: string) => sequences.get(address) ?? 0,
    get_balance: async (address: string) => balances.get(address) ?? 0,
    get_contract: async (address: string) =>
      address === CONTRACT
        ? {
            address,
            code_id: 3,
            code_hash: '03'.repeat(32),
            label: 'token',
            creator: 'a1'.repeat(20),
            binding: 'bb'.repeat(32),
          }
        : null,
  } as unknown as ChainStore;
  let backend: NodeBackend;
  const mempool = {
    size: () => 0,
    next_sequence: async (address: string) => sequences.get(address) ?? 0,
    add: async (raw: string) => {
      const tx = parse_tx_json(raw);
      const hash = tx_hash(p, tx);
      queueMicrotask(() => {
        const sender = FAUCET.address;
        sequences.set(sender, (sequences.get(sender) ?? 0) + 1);
        if (tx.body.msg.type === 'send') {
          const { to, amount } = tx.body.msg;
          balances.set(to, (balances.get(to) ?? 0) + amount);
        }
        const record: TxRecord = { hash, height: ++height, index: 0, code: 0, gas_used: 12_000, output: '' };
        records.set(hash, record);
        backend.publish({ type: 'block', height, block_hash: 'bb'.repeat(32), time_ms: clock.now, txs: 1 }, [
          record,
        ]);
      });
      return { ok: true, hash };
    },
  } as unknown as Mempool;
  backend = new NodeBackend(
    { genesis, pubkey: '01'.repeat(32) },
    {
      store,
      mempool,
      enclave: {} as Enclave,
      now_ms: clock.now_ms,
      set_timer: clock.set_timer,
      gossip_tx: () => {},
      p,
    },
  );
  return { backend, clock, balances };
}

const servers: RpcServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function serve(backend: NodeBackend): Promise<string> {
  const server = new RpcServer(
    {
      host: '127.0.0.1',
      port: 0,
      body_bytes_max: 64 * 1024,
      wait_timeout_ms: 30_000,
      sse_clients_max: 4,
      cors_origin: '',
    },
    { backend },
  );
  servers.push(server);
  return (await server.start()).url;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  // biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary JSON
  json: any;
  text: string;
}

async function call(url: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const req = http.request(`${url}${path}`, {
    method,
    agent: false,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
  });
  req.end(body === undefined ? undefined : JSON.stringify(body));
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return { status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(text), text };
}

describe('NodeBackend §9 answers through the RPC server', () => {
  it('status says min_gas_price and dev; an account its balance; a contract its balance and never its binding', async () => {
    const { backend } = memory_node({ ...GENESIS, min_gas_price: 25 });
    const url = await serve(backend);
    const status = await call(url, 'GET', '/v1/status');
    expect(status.json).toMatchObject({ min_gas_price: 25, dev: false, contracts: {} });
    // §9's fields, then the additions (docs/protocol-notes.md): contracts, then peers, mempool, last block time.
    expect(Object.keys(status.json).slice(-6)).toEqual([
      'min_gas_price',
      'dev',
      'contracts',
      'peers',
      'mempool',
      'last_block_time_ms',
    ]);
    expect((await call(url, 'GET', `/v1/accounts/${TO}`)).text).toBe(
      JSON.stringify({ address: TO, sequence: 0, balance: 55 }),
    );
    const never_seen = 'd4'.repeat(20);
    expect((await call(url, 'GET', `/v1/accounts/${never_seen}`)).json).toEqual({
      address: never_seen,
      sequence: 0,
      balance: 0,
    });
    const contract = await call(url, 'GET', `/v1/contracts/${CONTRACT}`);
    expect(contract.text).toBe(
      JSON.stringify({
        address: CONTRACT,
        code_id: 3,
        code_hash: '03'.repeat(32),
        label: 'token',
        creator: 'a1'.repeat(20),
        balance: 900,
      }),
    );
    expect(contract.text).not.toContain('binding');
    expect(await backend.get_contract(CONTRACT)).not.toHaveProperty('binding');
  });

  it('answers POST /v1/faucet with 404 code 100 off a development network', async () => {
    const { backend } = memory_node(GENESIS);
    expect(backend.has_faucet()).toBe(false);
    const url = await serve(backend);
    const answer = await call(url, 'POST', '/v1/faucet', { address: TO });
    expect(answer.status).toBe(404);
    expect(answer.json.error.code).toBe(RpcErrorCode.NOT_FOUND);
  });

  it('on a development network sends the default amount, answers the committed record, and rate-limits with 429 code 112', async () => {
    const { backend, balances } = memory_node({ ...GENESIS, dev: true, min_gas_price: 0 });
    const url = await serve(backend);
    expect((await call(url, 'GET', '/v1/status')).json).toMatchObject({ min_gas_price: 0, dev: true });
    const first = await call(url, 'POST', '/v1/faucet', { address: TO });
    expect(first.status).toBe(200);
    expect(Object.keys(first.json)).toEqual([
      'hash',
      'height',
      'index',
      'code',
      'gas_used',
      'output',
      'events',
    ]);
    expect(first.json).toMatchObject({ code: 0, events: [] });
    expect(balances.get(TO)).toBe(55 + FAUCET_AMOUNT_DEFAULT);
    for (let i = 1; i < FAUCET_LIMITS.requests_max; i++) {
      const again = await call(url, 'POST', '/v1/faucet', { address: TO, amount: 10 });
      expect(again.status).toBe(200);
    }
    expect(balances.get(TO)).toBe(55 + FAUCET_AMOUNT_DEFAULT + 10 * (FAUCET_LIMITS.requests_max - 1));
    const limited = await call(url, 'POST', '/v1/faucet', { address: TO, amount: 10 });
    expect(limited.status).toBe(429);
    expect(limited.json.error.code).toBe(RpcErrorCode.RATE_LIMITED);
    expect(limited.headers['retry-after']).toBe(String(FAUCET_LIMITS.window_ms / 1000));
    expect(limited.json.error.message).toMatch(/asked the faucet 5 times/);
    // Bad input never reaches the faucet (nor counts against the address).
    const over = await call(url, 'POST', '/v1/faucet', { address: 'e5'.repeat(20), amount: 10 ** 9 + 1 });
    expect(over.status).toBe(400);
    expect(over.json.error.code).toBe(RpcErrorCode.BAD_REQUEST);
  });
});
