/**
 * A fake network of validators behind one `fetch`, for the load generator's tests
 * (test/sim/load_generator.test.ts): validator i is `http://127.0.0.1:(26760 + i)`, but nothing
 * listens there, every request stays in this process. The validators share one chain; each
 * checks a submission's sequence against the committed one and what it took itself (no gossip:
 * a validator learns of another's transactions when they commit), and a killed validator loses
 * what it took. A validator can be killed (its requests refused, its streams cut), paused (its
 * requests and streams hang) and restarted. The contracts are
 * `counter` and `echo` run in plain JS over the real envelopes and sealed results, so the
 * generator's clients decrypt what comes back. Blocks come on `commit()`, or after every
 * submission with `auto_commit`, or every few ms with `blocks_every`; each goes to the live streams of the validators up, as
 * `event: block` then one `event: tx` per transaction (docs/protocol-notes.md "Live events").
 */

import { from_base64, to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { open_envelope } from '../../protocol/envelope.js';
import { jcs } from '../../protocol/jcs.js';
import { noble_provider as p } from '../../protocol/providers/noble.js';
import { seal_result_json } from '../../protocol/result.js';
import { contract_address, parse_tx_json, type Tx, tx_hash } from '../../protocol/tx.js';

/** validator 0's port; validator i answers at this + i. */
export const FAKE_PORT = 26760;
/** The fake chain's id. */
export const FAKE_CHAIN_ID = 'load-fake-1';
const CODES = [
  { code_id: 1, name: 'counter', code_hash: to_hex(p.sha256(utf8('counter'))) },
  { code_id: 2, name: 'echo', code_hash: to_hex(p.sha256(utf8('echo'))) },
];

/** A committed transaction as `GET /v1/txs/{hash}` shows it. */
export interface FakeRecord {
  hash: string;
  height: number;
  index: number;
  code: number;
  gas_used: number;
  output: string;
  contract?: string;
}

/** A refusal to answer a submission with. */
export interface FakeRefusal {
  status: number;
  code: number;
  message: string;
}

interface Stream {
  validator: number;
  controller: ReadableStreamDefaultController<Uint8Array>;
  closed: boolean;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

function error(status: number, code: number, message: string): Response {
  return json(status, { error: { code, message } });
}

/** What undici's fetch rejects with when nothing listens on the port. */
function refused_connection(): TypeError {
  return new TypeError('fetch failed', {
    cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
  });
}

/** `validators` fake validators over one chain; see the module documentation. */
export class FakeLoadNetwork {
  readonly io = p.x25519_secret(p.sha256(utf8('load fake io')));
  /** What `GET /v1/status` says. */
  min_gas_price = 0;
  /** A block after every submission, before its answer; else blocks only on `commit()`. */
  auto_commit = false;
  /** Every request, as `vI METHOD /path`. */
  readonly requests: string[] = [];
  /** Execute submissions each validator took. */
  readonly taken: number[];
  /** Requests that reached a validator while it was down or paused. */
  readonly while_down: number[];
  /** Submissions (`POST /v1/txs`, not instantiations) waiting for a block. */
  readonly pending: { tx: Tx; hash: string; via: number }[] = [];
  readonly records = new Map<string, FakeRecord>();
  /** Each block's transaction hashes. */
  readonly blocks: string[][] = [];
  /** Instantiated contracts by address. */
  readonly contracts = new Map<string, { name: string; label: string; scheme: string; count: number }>();
  readonly #down = new Set<number>();
  readonly #paused = new Map<number, (() => void)[]>();
  readonly #sequences = new Map<string, number>();
  readonly #streams: Stream[] = [];
  readonly #refusals: FakeRefusal[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(readonly validators: number) {
    this.taken = Array.from({ length: validators }, () => 0);
    this.while_down = Array.from({ length: validators }, () => 0);
  }

  url(i: number): string {
    return `http://127.0.0.1:${FAKE_PORT + i}`;
  }

  /** What `LocalNetwork.urls()` gives: '' for a validator down (a paused one is listed). */
  urls(): string[] {
    return Array.from({ length: this.validators }, (_, i) => (this.#down.has(i) ? '' : this.url(i)));
  }

  /** Live streams open on validator i. */
  streams_at(i: number): number {
    return this.#streams.filter((s) => s.validator === i && !s.closed).length;
  }

  /** Answers the next `count` execute submissions with `refusal`. */
  refuse_next(count: number, refusal: FakeRefusal): void {
    for (let k = 0; k < count; k++) this.#refusals.push(refusal);
  }

  /** Resolves once `pred()` holds, checked after every request and block. */
  until(pred: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!pred()) return;
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** SIGKILL: requests to it are refused, its streams cut, its held requests fail, what it took is lost. */
  kill(i: number): void {
    this.#down.add(i);
    const kept = this.pending.filter((x) => x.via !== i);
    this.pending.splice(0, this.pending.length, ...kept);
    for (const wake of this.#paused.get(i) ?? []) wake();
    this.#paused.delete(i);
    for (const s of this.#streams.filter((x) => x.validator === i))
      this.#close(s, new TypeError('terminated'));
  }

  restart(i: number): void {
    this.#down.delete(i);
  }

  /** SIGSTOP: its requests wait for `resume`; its streams get nothing while it is paused. */
  pause(i: number): void {
    if (!this.#paused.has(i)) this.#paused.set(i, []);
  }

  resume(i: number): void {
    const held = this.#paused.get(i) ?? [];
    this.#paused.delete(i);
    for (const wake of held) wake();
  }

  fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    const i = Number(url.port) - FAKE_PORT;
    const method = init?.method ?? 'GET';
    this.requests.push(`v${i} ${method} ${url.pathname}`);
    if (init?.signal?.aborted) throw new DOMException('aborted', 'AbortError');
    if (this.#down.has(i) || this.#paused.has(i)) this.while_down[i]!++;
    if (this.#paused.has(i)) await this.#held(i, init?.signal ?? undefined);
    if (this.#down.has(i)) throw refused_connection();
    try {
      return this.#route(i, method, url, init);
    } finally {
      this.#notify();
    }
  };

  /** Waits while validator i is paused; rejects when the request is aborted. */
  #held(i: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#paused.get(i)!.push(resolve);
      signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')), {
        once: true,
      });
    });
  }

  #route(i: number, method: string, url: URL, init: RequestInit | undefined): Response {
    const parts = url.pathname.split('/').slice(1);
    if (url.pathname === '/v1/status')
      return json(200, {
        chain_id: FAKE_CHAIN_ID,
        height: this.blocks.length,
        io_pubkey: to_hex(this.io.public_key),
        min_gas_price: this.min_gas_price,
        dev: this.min_gas_price === 0,
      });
    if (url.pathname === '/v1/codes') return json(200, CODES);
    if (url.pathname === '/v1/events') return this.#stream(i, init?.signal ?? undefined);
    if (url.pathname === '/v1/txs' && method === 'POST')
      return this.#submit(i, String(init?.body), url.searchParams.get('wait') === 'commit');
    if (parts[1] === 'txs' && parts.length === 3) {
      const record = this.records.get(parts[2]!);
      return record === undefined ? error(404, 100, 'not committed') : json(200, record);
    }
    if (parts[1] === 'blocks' && parts.length === 3) {
      const hashes = this.blocks[Number(parts[2]) - 1];
      if (hashes === undefined) return error(404, 100, 'no such block');
      return json(200, {
        header: { height: Number(parts[2]) },
        block_hash: 'cd'.repeat(32),
        tx_hashes: hashes,
        commit: {},
      });
    }
    return error(404, 100, 'no such route');
  }

  #submit(i: number, text: string, wait: boolean): Response {
    const tx = parse_tx_json(text);
    const hash = tx_hash(p, tx);
    if (!wait && this.#refusals.length > 0) {
      const r = this.#refusals.shift()!;
      return error(r.status, r.code, r.message);
    }
    const sender = tx.body.sender;
    const expected =
      (this.#sequences.get(sender) ?? 0) +
      this.pending.filter((x) => x.tx.body.sender === sender && x.via === i).length;
    if (tx.body.sequence !== expected)
      return error(400, 5, `wrong sequence ${tx.body.sequence}: expected ${expected}`);
    this.pending.push({ tx, hash, via: i });
    if (wait) {
      this.commit();
      return json(200, this.records.get(hash));
    }
    this.taken[i]!++;
    if (this.auto_commit) this.commit();
    return json(202, { hash });
  }

  /** Commits a block every `ms` while anything is pending, as a network under load does; returns the stop. */
  blocks_every(ms: number): () => void {
    const timer = setInterval(() => {
      if (this.pending.length > 0) this.commit();
    }, ms);
    return () => clearInterval(timer);
  }

  /** Commits every pending transaction in one block; announces it on the streams of validators up. */
  commit(): number {
    const height = this.blocks.length + 1;
    const records = this.pending.splice(0).map(({ tx, hash }, index) => this.#apply(tx, hash, height, index));
    this.blocks.push(records.map((r) => r.hash));
    const frames = [
      `event: block\ndata: ${JSON.stringify({ height, block_hash: 'cd'.repeat(32), time_ms: 0, txs: records.length })}\n\n`,
      ...records.map((r) => `event: tx\ndata: ${JSON.stringify(r)}\n\n`),
    ].join('');
    for (const s of this.#streams) {
      if (s.closed || this.#down.has(s.validator) || this.#paused.has(s.validator)) continue;
      try {
        s.controller.enqueue(utf8(frames));
      } catch {
        s.closed = true;
      }
    }
    this.#notify();
    return height;
  }

  #apply(tx: Tx, hash: string, height: number, index: number): FakeRecord {
    const sender = tx.body.sender;
    this.#sequences.set(sender, (this.#sequences.get(sender) ?? 0) + 1);
    const base: FakeRecord = { hash, height, index, code: 0, gas_used: 1000, output: '' };
    const msg = tx.body.msg;
    if (msg.type !== 'instantiate' && msg.type !== 'execute') return { ...base, code: 7 };
    const address = msg.type === 'execute' ? msg.contract : contract_address(p, sender, tx.body.sequence);
    const code =
      msg.type === 'instantiate'
        ? CODES.find((c) => c.code_id === msg.code_id)
        : CODES.find((c) => c.name === this.contracts.get(address)?.name);
    if (code === undefined) return { ...base, code: 6 };
    let opened: { tx_key: Uint8Array; msg_json: string };
    try {
      opened = open_envelope(p, this.io, {
        scheme: msg.scheme,
        envelope: from_base64(msg.payload),
        chain_id: FAKE_CHAIN_ID,
        code_hash: code.code_hash,
      });
    } catch {
      return { ...base, code: 3 };
    }
    const input = JSON.parse(opened.msg_json) as { echo?: { value: unknown } };
    let data: unknown = null;
    if (msg.type === 'instantiate') {
      this.contracts.set(address, { name: code.name, label: msg.label, scheme: msg.scheme, count: 0 });
    } else if (code.name === 'counter') {
      const c = this.contracts.get(address)!;
      c.count++;
      data = { count: c.count };
    } else {
      data = input.echo?.value ?? null;
    }
    const output = to_base64(seal_result_json(p, msg.scheme, opened.tx_key, jcs({ data, events: [] })));
    const record: FakeRecord = {
      ...base,
      output,
      ...(msg.type === 'instantiate' ? { contract: address } : {}),
    };
    this.records.set(hash, record);
    return record;
  }

  #stream(i: number, signal: AbortSignal | undefined): Response {
    let stream: Stream | undefined;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        controller.enqueue(utf8(': live\n\n'));
        stream = { validator: i, controller, closed: false };
        this.#streams.push(stream);
      },
      cancel: () => {
        if (stream !== undefined) stream.closed = true;
      },
    });
    signal?.addEventListener('abort', () => {
      if (stream !== undefined) this.#close(stream, new DOMException('aborted', 'AbortError'));
    });
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  }

  #close(s: Stream, reason: Error): void {
    if (s.closed) return;
    s.closed = true;
    try {
      s.controller.error(reason);
    } catch {
      // closed already
    }
    this.#notify();
  }

  #notify(): void {
    for (const check of [...this.#waiters]) check();
  }
}
