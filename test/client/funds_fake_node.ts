/**
 * An in-memory node that answers the RPC shapes of protocol.md §6 and §9 (balances, fees, funds,
 * `send`, the faucet, public events, blocks and the live stream), for the SDK and CLI tests of
 * test/client/funds*.test.ts. Its "enclave" opens envelopes with the protocol modules and runs a
 * tiny contract: `{"echo": {"value"}}` answers the value, `{"fail": msg, "debug"?}` fails,
 * `{"emit": [event…], "debug"?}` emits events (those marked `"public": true` are listed in the
 * record). `serve()` puts it behind a real HTTP server for the `cloister` binary.
 */

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { FAUCET_AMOUNT_DEFAULT, FAUCET_AMOUNT_MAX, type PublicEvent } from '../../protocol/bank.js';
import { from_base64, from_hex, to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { open_envelope, type Scheme } from '../../protocol/envelope.js';
import { jcs } from '../../protocol/jcs.js';
import { noble_provider as p } from '../../protocol/providers/noble.js';
import { seal_result_json } from '../../protocol/result.js';
import {
  account_address,
  contract_address,
  MalformedTxError,
  parse_tx_json,
  type Tx,
  tx_fee,
  tx_funds,
  tx_hash,
} from '../../protocol/tx.js';

export const FAKE_CHAIN_ID = 'funds-chain-1';
export const ECHO_CODE = utf8('export function execute(_c, m) { return m; }');
export const ECHO_HASH = to_hex(p.sha256(ECHO_CODE));
/** The fake's faucet account (any fixed address will do here). */
export const FAKE_FAUCET = 'fa'.repeat(20);

export interface FakeRecord {
  hash: string;
  height: number;
  index: number;
  code: number;
  gas_used: number;
  output: string;
  contract?: string;
  events?: PublicEvent[];
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

function error(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return json(status, { error: { code, message } }, headers);
}

/** Deterministic 32 bytes for tests. */
export function bytes_of(label: string, n = 32): Uint8Array {
  return p.sha256(utf8(label)).slice(0, n);
}

/** A deterministic `random` for keys and nonces. */
export function seeded_random(seed: string): (n: number) => Uint8Array {
  let i = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let o = 0; o < n; o += 32) out.set(bytes_of(`${seed}/${i++}`).subarray(0, Math.min(32, n - o)), o);
    return out;
  };
}

interface Stream {
  controller: ReadableStreamDefaultController<Uint8Array>;
  closed: boolean;
}

export class FundsFakeNode {
  readonly io = p.x25519_secret(bytes_of('io'));
  min_gas_price = 0;
  dev = true;
  /** Answer like a node older than §9: no balance, min_gas_price, dev or events fields. */
  old = false;
  /** Answer the next faucet request with 429 code 112 and this Retry-After. */
  rate_limit_s: number | null = null;
  auto_commit = true;
  readonly balances = new Map<string, number>();
  readonly sequences = new Map<string, number>();
  readonly contracts = new Map<string, { code_hash: string; creator: string }>();
  readonly records = new Map<string, FakeRecord>();
  /** Each committed block: its transactions' texts and hashes. */
  readonly blocks: { texts: string[]; hashes: string[] }[] = [];
  readonly pending: { text: string; tx: Tx; faucet?: { to: string; amount: number } }[] = [];
  /** Every request, as `METHOD /path`. */
  readonly requests: string[] = [];
  /** The exact body text of every transaction submitted. */
  readonly submitted: string[] = [];
  /** Faucet request bodies. */
  readonly faucet_bodies: unknown[] = [];
  /** Runs (once) before the next `GET /v1/status` is answered: a commit racing a reader of the height. */
  before_status: (() => Promise<void>) | null = null;
  /** Heights whose events the live streams leave out (a stream that lost them). */
  readonly unstreamed = new Set<number>();
  readonly #streams: Stream[] = [];
  #stream_waiters: (() => void)[] = [];
  #faucet_sequence = 0;

  /** Resolves once `count` live streams have been opened in all. */
  streams_opened(count = 1): Promise<void> {
    return new Promise((resolve) => {
      if (this.#streams.length >= count) resolve();
      else
        this.#stream_waiters.push(() => {
          if (this.#streams.length >= count) resolve();
        });
    });
  }

  /** Ends every open live stream, as a node that restarts does. */
  break_streams(): void {
    for (const s of this.#streams) {
      if (s.closed) continue;
      s.closed = true;
      try {
        s.controller.close();
      } catch {
        // already closed
      }
    }
  }

  fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    const method = init?.method ?? 'GET';
    const path = url.pathname;
    this.requests.push(`${method} ${path}`);
    const parts = path.split('/').slice(1);
    if (path === '/v1/status') {
      const hook = this.before_status;
      this.before_status = null;
      if (hook !== null) await hook();
      const status: Record<string, unknown> = {
        chain_id: FAKE_CHAIN_ID,
        height: this.blocks.length,
        io_pubkey: to_hex(this.io.public_key),
        seed_exchange_pubkey: '00'.repeat(32),
        validator: null,
        validators: [],
      };
      if (!this.old) Object.assign(status, { min_gas_price: this.min_gas_price, dev: this.dev });
      return json(200, status);
    }
    if (path === '/registration/v1beta1/tx-key') return json(200, { key: to_base64(this.io.public_key) });
    if (path === '/v1/codes') return json(200, [{ code_id: 1, code_hash: ECHO_HASH, name: 'echo' }]);
    if (parts[1] === 'accounts' && parts.length === 3) {
      const a = parts[2]!;
      const body: Record<string, unknown> = { address: a, sequence: this.sequences.get(a) ?? 0 };
      if (!this.old) body['balance'] = this.balances.get(a) ?? 0;
      return json(200, body);
    }
    if (parts[1] === 'contracts' && parts.length === 3) {
      const c = this.contracts.get(parts[2]!);
      if (c === undefined) return error(404, 6, `unknown contract ${parts[2]}`);
      const body: Record<string, unknown> = {
        address: parts[2],
        code_id: 1,
        code_hash: c.code_hash,
        label: 'x',
        creator: c.creator,
      };
      if (!this.old) body['balance'] = this.balances.get(parts[2]!) ?? 0;
      return json(200, body);
    }
    if (path === '/v1/txs' && method === 'POST') return this.#submit(String(init?.body));
    if (path === '/v1/faucet' && method === 'POST') return this.#faucet(String(init?.body));
    if (parts[1] === 'txs' && parts.length === 3) {
      const record = this.records.get(parts[2]!);
      if (record === undefined) return error(404, 100, `transaction ${parts[2]} is not committed`);
      return json(200, this.#shown(record));
    }
    if (parts[1] === 'blocks' && (parts.length === 3 || parts[3] === 'txs')) {
      const height = Number(parts[2]);
      const block = this.blocks[height - 1];
      if (block === undefined) return error(404, 100, `block ${height} is not committed`);
      if (parts[3] === 'txs') return json(200, { height, txs: block.texts });
      return json(200, {
        header: { height },
        block_hash: 'cd'.repeat(32),
        tx_hashes: block.hashes,
        commit: {},
      });
    }
    if (path === '/v1/events') {
      let stream: Stream | undefined;
      const body = new ReadableStream<Uint8Array>({
        start: (controller) => {
          controller.enqueue(utf8(': live\n\n'));
          stream = { controller, closed: false };
          this.#streams.push(stream);
          for (const w of this.#stream_waiters.splice(0)) w();
        },
        cancel: () => {
          if (stream !== undefined) stream.closed = true;
        },
      });
      init?.signal?.addEventListener('abort', () => {
        if (stream === undefined || stream.closed) return;
        stream.closed = true;
        try {
          stream.controller.error(new Error('aborted'));
        } catch {
          // already closed
        }
      });
      return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    }
    return error(404, 100, 'no such route');
  };

  #shown(record: FakeRecord): FakeRecord {
    if (!this.old) return record;
    const { events: _, ...older } = record;
    return older;
  }

  #run(
    scheme: Scheme,
    payload: string,
    code_hash: string,
    contract: string,
  ): { code: number; output: string; events: PublicEvent[] } | null {
    let opened: { tx_key: Uint8Array; msg_json: string };
    try {
      opened = open_envelope(p, this.io, {
        scheme,
        envelope: from_base64(payload),
        chain_id: FAKE_CHAIN_ID,
        code_hash,
      });
    } catch {
      return null;
    }
    const msg = JSON.parse(opened.msg_json) as {
      echo?: { value: unknown };
      fail?: string;
      emit?: { type: string; attributes: { key: string; value: string }[]; public?: true }[];
      debug?: string[];
    };
    const debug = msg.debug === undefined ? {} : { debug: msg.debug };
    const result =
      msg.fail !== undefined
        ? { error: msg.fail, ...debug }
        : { data: msg.echo?.value ?? null, events: msg.emit ?? [], ...debug };
    const events =
      'events' in result
        ? result.events
            .filter((e) => e.public === true)
            .map((e) => ({ type: e.type, attributes: e.attributes, contract }))
        : [];
    return {
      code: 'error' in result ? 1 : 0,
      output: to_base64(seal_result_json(p, scheme, opened.tx_key, jcs(result))),
      events: 'error' in result ? [] : events,
    };
  }

  #submit(text: string): Response {
    this.submitted.push(text);
    let tx: Tx;
    try {
      tx = parse_tx_json(text);
    } catch (e) {
      if (e instanceof MalformedTxError) return error(400, 7, `malformed transaction: ${e.message}`);
      throw e;
    }
    const sender = account_address(p, from_hex(tx.body.sender, 32));
    const pending = this.pending.filter((x) => x.tx.body.sender === tx.body.sender).length;
    const expected = (this.sequences.get(sender) ?? 0) + pending;
    if (tx.body.sequence !== expected)
      return error(400, 5, `wrong sequence ${tx.body.sequence}: expected ${expected}`);
    if ((tx.body.gas_price ?? 0) < this.min_gas_price)
      return error(400, 8, `gas price ${tx.body.gas_price ?? 0} is below the minimum ${this.min_gas_price}`);
    if (tx_fee(tx.body) > (this.balances.get(sender) ?? 0))
      return error(400, 8, `balance ${this.balances.get(sender) ?? 0} cannot pay the fee ${tx_fee(tx.body)}`);
    this.pending.push({ text, tx });
    if (this.auto_commit) this.commit();
    return json(202, { hash: tx_hash(p, tx) });
  }

  #faucet(text: string): Response {
    const body = JSON.parse(text) as { address?: unknown; amount?: unknown };
    this.faucet_bodies.push(body);
    if (!this.dev) return error(404, 100, 'no such route');
    if (this.rate_limit_s !== null) {
      const s = this.rate_limit_s;
      this.rate_limit_s = null;
      return error(429, 112, 'this address asked the faucet too often', { 'retry-after': String(s) });
    }
    const amount = body.amount ?? FAUCET_AMOUNT_DEFAULT;
    if (
      typeof body.address !== 'string' ||
      typeof amount !== 'number' ||
      amount < 1 ||
      amount > FAUCET_AMOUNT_MAX
    )
      return error(400, 106, 'bad address or amount');
    // The faucet's transaction: a send from the faucet account, committed at once.
    const tx: Tx = {
      body: {
        chain_id: FAKE_CHAIN_ID,
        sender: '0f'.repeat(32),
        sequence: this.#faucet_sequence++,
        gas_limit: 1,
        msg: { type: 'send', to: body.address, amount },
      },
      signature: '00'.repeat(64),
    };
    const text_tx = JSON.stringify(tx);
    this.pending.push({ text: text_tx, tx, faucet: { to: body.address, amount } });
    this.commit();
    return json(200, this.#shown(this.records.get(tx_hash(p, tx))!));
  }

  /** Commits every pending transaction in one block and announces it on the live streams. */
  commit(): number {
    const height = this.blocks.length + 1;
    const texts: string[] = [];
    const hashes: string[] = [];
    const frames: string[] = [];
    this.pending.splice(0).forEach(({ text, tx, faucet }, index) => {
      texts.push(text);
      const hash = tx_hash(p, tx);
      hashes.push(hash);
      let record: FakeRecord = { hash, height, index, code: 0, gas_used: 1000, output: '', events: [] };
      if (faucet !== undefined) {
        this.balances.set(faucet.to, (this.balances.get(faucet.to) ?? 0) + faucet.amount);
      } else {
        record = this.#apply(tx, record);
      }
      this.records.set(hash, record);
      frames.push(`event: tx\ndata: ${JSON.stringify(this.#shown(record))}\n\n`);
    });
    this.blocks.push({ texts, hashes });
    if (!this.unstreamed.has(height)) {
      const text = `event: block\ndata: ${JSON.stringify({ height, block_hash: 'cd'.repeat(32), time_ms: 0, txs: texts.length })}\n\n${frames.join('')}`;
      for (const s of this.#streams) {
        if (s.closed) continue;
        try {
          s.controller.enqueue(utf8(text));
        } catch {
          s.closed = true;
        }
      }
    }
    return height;
  }

  #apply(tx: Tx, base: FakeRecord): FakeRecord {
    const sender = account_address(p, from_hex(tx.body.sender, 32));
    this.sequences.set(sender, (this.sequences.get(sender) ?? 0) + 1);
    const fee = tx_fee(tx.body);
    const balance = this.balances.get(sender) ?? 0;
    if (fee > balance) return { ...base, code: 8 };
    this.balances.set(sender, balance - fee);
    const msg = tx.body.msg;
    const move = (from: string, to: string, amount: number): boolean => {
      const have = this.balances.get(from) ?? 0;
      if (have < amount) return false;
      this.balances.set(from, have - amount);
      this.balances.set(to, (this.balances.get(to) ?? 0) + amount);
      return true;
    };
    if (msg.type === 'send') return move(sender, msg.to, msg.amount) ? base : { ...base, code: 8 };
    if (msg.type !== 'instantiate' && msg.type !== 'execute') return base;
    const address =
      msg.type === 'execute' ? msg.contract : contract_address(p, tx.body.sender, tx.body.sequence);
    const code_hash = msg.type === 'instantiate' ? ECHO_HASH : this.contracts.get(address)?.code_hash;
    if (code_hash === undefined) return { ...base, code: 6 };
    const funds = tx_funds(tx.body);
    if (!move(sender, address, funds)) return { ...base, code: 8 };
    const run = this.#run(msg.scheme, msg.payload, code_hash, address);
    if (run === null) {
      move(address, sender, funds);
      return { ...base, code: 3 };
    }
    if (run.code !== 0) move(address, sender, funds);
    else if (msg.type === 'instantiate') this.contracts.set(address, { code_hash, creator: sender });
    return {
      ...base,
      code: run.code,
      output: run.output,
      events: run.events,
      ...(msg.type === 'instantiate' && run.code === 0 ? { contract: address } : {}),
    };
  }

  /** Serves this node over HTTP on 127.0.0.1 (for the `cloister` binary); resolves with its URL. */
  async serve(): Promise<{ url: string; server: Server; close(): Promise<void> }> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const abort = new AbortController();
        res.on('close', () => abort.abort());
        const body = chunks.length === 0 ? undefined : Buffer.concat(chunks).toString('utf8');
        void this.fetch(`http://fake${req.url}`, {
          method: req.method ?? 'GET',
          ...(body === undefined ? {} : { body }),
          signal: abort.signal,
        }).then((answer) => {
          const headers: Record<string, string> = {};
          answer.headers.forEach((value, key) => {
            headers[key] = value;
          });
          res.writeHead(answer.status, headers);
          if (answer.body === null) return res.end();
          Readable.fromWeb(answer.body as import('node:stream/web').ReadableStream<Uint8Array>)
            .on('error', () => res.destroy())
            .pipe(res);
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
      url,
      server,
      close: () =>
        new Promise<void>((resolve) => {
          this.break_streams();
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }
}
