/**
 * The network benchmark's open-loop load generator: signing accounts, transactions signed and
 * encrypted before a run starts, submission on a fixed schedule over keep-alive HTTP, and commit
 * detection on one validator's live event stream (protocol.md §6).
 *
 * Method, and why:
 *
 * - **Open loop.** Transaction i is due at `t0 + i / rate`, whatever happened to earlier ones, so
 *   a slow network meets the same offered load as a fast one. Latency is measured from that due
 *   time, not from when the POST actually left: a transaction held back because the client was
 *   late or busy still counts its whole wait (no coordinated omission).
 * - **One POST at a time per account.** A validator's mempool accepts only an account's next
 *   sequence, so two POSTs of one account racing on two connections could arrive swapped and be
 *   refused (code 5). Each account therefore sends its next transaction once the previous one was
 *   answered, and every account is pinned to one validator. Below saturation an answer takes a few
 *   milliseconds and an account's transactions are due tens of milliseconds apart, so this queue
 *   is empty; when the node is too slow to answer, the queueing shows up in latency, as it would
 *   for a real wallet. The delay from due time to send is reported (`submit_delay_p99_ms`).
 * - **Commit = the `tx` event** of the subscribed validator's stream, matched by the hash the
 *   client computes itself (protocol.md §5), so no polling and no extra requests. The stream is
 *   open (its headers received, so no later event is missed) before the first transaction is due.
 * - **Committed tx/s** is the commit rate while the network had the run's transactions to commit.
 *   Commits are grouped by block height, each block timed by its first `tx` event; with blocks
 *   h_1 … h_m, rate = (transactions in h_2 … h_{m−1}) ÷ (time of h_{m−1} − time of h_1). Block j
 *   holds what was due between the proposals of blocks j−1 and j, so the inner blocks hold exactly
 *   rate × the time between h_1 and h_{m−1}: the estimate is the offered rate when the network
 *   keeps up, and its capacity when it does not (the backlog keeps blocks full while it drains).
 *   The first and last blocks are left out because they are partial (the load starts and ends
 *   inside their intervals): counting them, or taking committed ÷ (last commit − first
 *   submission), understates the rate by about a block interval or a latency over the run's
 *   length. With fewer than three blocks it falls back to committed ÷ (last commit − first due).
 * - **Limits**: at most `in_flight_max` transactions due but not yet committed (reaching it stops
 *   the run: the network is far behind); a POST gets `post_timeout_ms`; after the last one is due
 *   the run waits at most `drain_timeout_ms` for commits, then counts the rest as lost.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { type Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { to_base64, to_hex } from '../../protocol/bytes.js';
import { encrypt_message } from '../../protocol/envelope.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { read_events } from '../../protocol/rpc_client.js';
import { account_address, sign_tx, type TxMsg, tx_hash } from '../../protocol/tx.js';
import { log } from './report.js';

/** A signing account of the load, pinned to one validator. */
export class LoadAccount {
  readonly sk: Uint8Array;
  readonly pubkey: string;
  readonly address: string;
  /** The sequence of the next transaction this account signs. */
  sequence = 0;

  /** @param node index of the validator this account submits to. */
  constructor(
    readonly p: CryptoProvider,
    readonly node: number,
  ) {
    this.sk = new Uint8Array(randomBytes(32));
    const pk = p.ed25519_public(this.sk);
    this.pubkey = to_hex(pk);
    this.address = account_address(p, pk);
  }

  /** Signs the next transaction of this account. */
  sign(chain_id: string, msg: TxMsg, gas_limit: number) {
    const body = { chain_id, sender: this.pubkey, sequence: this.sequence++, gas_limit, msg };
    return sign_tx(this.p, this.sk, body);
  }
}

/** A transaction ready to send: its exact JSON text, its hash, and which account sends it. */
export interface PreparedTx {
  raw: string;
  hash: string;
  account: number;
}

/** What every load transaction calls: the contract and the network's io key. */
export interface LoadTarget {
  chain_id: string;
  /** pk_io, 32 bytes. */
  pk_io: Uint8Array;
  contract: string;
  code_hash: string;
  /** The execute message (JSON value) every transaction carries, encrypted afresh each time. */
  msg: unknown;
  gas_limit: number;
}

/** Prepared transactions between progress lines while signing a large batch. */
const PREPARE_PROGRESS_EVERY = 20_000;

/**
 * Signs and encrypts `count` execute transactions, round-robin over `accounts` (so each
 * account's transactions keep their sequence order in the list), each with a fresh X25519 client
 * key and nonce and the gcm scheme. Client work: done before a run, never timed.
 */
export function prepare_txs(
  p: CryptoProvider,
  target: LoadTarget,
  accounts: readonly LoadAccount[],
  count: number,
  what: string,
): PreparedTx[] {
  const msg_json = JSON.stringify(target.msg);
  const out: PreparedTx[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const a = i % accounts.length;
    const { envelope } = encrypt_message(p, {
      scheme: 'gcm',
      sk_u: new Uint8Array(randomBytes(32)),
      pk_io: target.pk_io,
      nonce: new Uint8Array(randomBytes(32)),
      chain_id: target.chain_id,
      code_hash: target.code_hash,
      msg_json,
    });
    const tx = accounts[a]!.sign(
      target.chain_id,
      { type: 'execute', contract: target.contract, scheme: 'gcm', payload: to_base64(envelope) },
      target.gas_limit,
    );
    out.push({ raw: JSON.stringify(tx), hash: tx_hash(p, tx), account: a });
    if ((i + 1) % PREPARE_PROGRESS_EVERY === 0 && i + 1 < count) {
      const s = (performance.now() - started) / 1000;
      log(`  ${what}: signed and encrypted ${i + 1}/${count} transactions (${s.toFixed(1)} s)`);
    }
  }
  return out;
}

/** An HTTP answer: status and body text. */
interface Answer {
  status: number;
  text: string;
}

/** Largest answer body read (answers here are small JSON objects). */
const ANSWER_CHARS_MAX = 1024 * 1024;

/**
 * One HTTP request over `agent`. Rejects on a network error or after `timeout_ms`. A request on
 * a reused keep-alive connection that the server had just closed (ECONNRESET) is sent once more on
 * a new one, as Node's documentation advises: the server never read it.
 */
export function http_request(
  agent: Agent,
  url: string,
  path: string,
  init: { method: 'GET' | 'POST'; body?: string; timeout_ms: number },
  retried = false,
): Promise<Answer> {
  const u = new URL(path, url);
  return new Promise<Answer>((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (init.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(init.body);
    }
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        method: init.method,
        agent,
        headers,
      },
      (res) => {
        res.setEncoding('utf8');
        let text = '';
        res.on('data', (chunk: string) => {
          text += chunk;
          if (text.length > ANSWER_CHARS_MAX) res.destroy(new Error('answer too large'));
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.setTimeout(init.timeout_ms, () => req.destroy(new Error(`no answer within ${init.timeout_ms} ms`)));
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (!retried && req.reusedSocket && error.code === 'ECONNRESET') {
        http_request(agent, url, path, init, true).then(resolve, reject);
      } else reject(error);
    });
    req.end(init.body);
  });
}

/** A JSON request; rejects with the node's error message on a non-2xx answer. */
export async function request_json<T>(
  agent: Agent,
  url: string,
  path: string,
  init: { method: 'GET' | 'POST'; body?: string; timeout_ms: number },
): Promise<T> {
  const answer = await http_request(agent, url, path, init);
  let value: unknown;
  try {
    value = JSON.parse(answer.text);
  } catch {
    throw new Error(`${url}${path}: HTTP ${answer.status}, not JSON: ${answer.text.slice(0, 200)}`);
  }
  if (answer.status < 200 || answer.status > 299) {
    const e = (value as { error?: { code?: number; message?: string } }).error;
    throw new Error(`${url}${path}: HTTP ${answer.status} code ${e?.code}: ${e?.message}`);
  }
  return value as T;
}

/** One committed transaction as the live stream reports it. */
export interface CommitEvent {
  hash: string;
  height: number;
  code: number;
}

/**
 * A subscription to `GET /v1/events`. {@link EventStream.open} resolves once the answer's headers
 * arrived: the node subscribes before it sends them, so no later commit is missed.
 */
export class EventStream {
  readonly #abort: AbortController;
  /** Resolves with why the stream ended (never rejects); after close() with 'closed'. */
  readonly ended: Promise<string>;

  private constructor(abort: AbortController, ended: Promise<string>) {
    this.#abort = abort;
    this.ended = ended;
  }

  static async open(
    url: string,
    on_tx: (e: CommitEvent) => void,
    timeout_ms: number,
    retried = false,
  ): Promise<EventStream> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error('timeout')), timeout_ms);
    let response: Response;
    try {
      response = await fetch(`${url}/v1/events`, {
        signal: abort.signal,
        headers: { accept: 'text/event-stream' },
      });
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok || response.body === null) {
      abort.abort();
      // 408: Node's server timed out a kept-alive connection that fetch reused after a long idle
      // spell (seen after a soak spent a minute signing); the request was never handled, so it is
      // safe to send once more, on a new connection.
      if (response.status === 408 && !retried) return EventStream.open(url, on_tx, timeout_ms, true);
      throw new Error(`${url}/v1/events: HTTP ${response.status}`);
    }
    const body = response.body;
    const ended = (async (): Promise<string> => {
      try {
        // The one parser of the stream's frames (protocol/rpc_client.ts): one reading of the format.
        for await (const event of read_events(body)) {
          if (event.type !== 'tx') continue;
          const data = JSON.parse(event.data) as CommitEvent;
          on_tx({ hash: data.hash, height: data.height, code: data.code });
        }
        return abort.signal.aborted ? 'closed' : 'the node ended the event stream';
      } catch (error) {
        return abort.signal.aborted ? 'closed' : `event stream failed: ${(error as Error).message}`;
      }
    })();
    return new EventStream(abort, ended);
  }

  close(): Promise<string> {
    this.#abort.abort();
    return this.ended;
  }
}

/** Options of one open-loop run. */
export interface RunOptions {
  /** RPC URL of each validator, by index. */
  urls: readonly string[];
  /** One keep-alive agent per validator. */
  agents: readonly Agent[];
  /** The subscribed validator's event stream URL. */
  stream_url: string;
  accounts: readonly LoadAccount[];
  /** In due order; each account's transactions in sequence order. */
  txs: readonly PreparedTx[];
  rate_tx_per_s: number;
  in_flight_max: number;
  drain_timeout_ms: number;
  post_timeout_ms: number;
  stream_timeout_ms: number;
  /** Called once the first transaction is due (e.g. to start memory sampling). */
  on_start?: () => void;
}

/** What one run measured. */
export interface RunResult {
  rate_tx_per_s: number;
  /** Transactions whose due time came and that were handed to their account (≤ txs.length). */
  due: number;
  /** Answered 202 by their validator. */
  accepted: number;
  /** Refused at submission, failed to submit, or not sent because their account's earlier one was. */
  refused: number;
  /** Committed (any code), seen on the event stream. */
  committed: number;
  /** Committed with a non-zero result code. */
  failed: number;
  /** Due and not refused, but not committed by the end of the drain. */
  lost: number;
  /** Due time → commit event, ms, ascending. */
  latencies_ms: number[];
  /** Due time → POST sent, ms, ascending (the client-side queue). */
  submit_delays_ms: number[];
  /** See the module doc. */
  tx_per_s: number;
  /** First due time to last commit, seconds. */
  span_s: number;
  /** Blocks that hold this run's committed transactions. */
  blocks: number;
  /** Why the run counts as broken regardless of its numbers, or null. */
  fault: string | null;
}

/** A wait for a condition that the code changing it re-checks by calling poke(); no polling. */
class Waiter {
  #pred: (() => boolean) | null = null;
  #resolve: (() => void) | null = null;

  /** Re-checks the condition of the wait in progress, if any. */
  poke(): void {
    if (this.#resolve && this.#pred?.()) this.#resolve();
  }

  /** Resolves once `pred` holds (checked now and at each poke()) or after `timeout_ms`. */
  wait(pred: () => boolean, timeout_ms: number): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#pred = null;
        this.#resolve = null;
        resolve();
      };
      const timer = setTimeout(done, timeout_ms);
      this.#pred = pred;
      this.#resolve = done;
    });
  }
}

/** Longest pause of the dispatch loop between checks for due transactions. */
const DISPATCH_TICK_MS = 5;
/** The first transaction is due this long after the run starts (the loop is then settled). */
const START_LEAD_MS = 20;

/** Runs `opts.txs` open loop at `opts.rate_tx_per_s`; see the module doc. */
export async function run_open_loop(opts: RunOptions): Promise<RunResult> {
  const n = opts.txs.length;
  const interval_ms = 1000 / opts.rate_tx_per_s;
  /** Due time (performance.now()) of each pending transaction, by hash. */
  const pending = new Map<string, number>();
  const latencies: number[] = [];
  const delays: number[] = [];
  /** Per height: the time its first event arrived, and how many of this run's txs it held. */
  const blocks = new Map<number, { t_ms: number; count: number }>();
  let committed = 0;
  let failed = 0;
  let accepted = 0;
  let refused = 0;
  let due = 0;
  let fault: string | null = null;
  let last_commit_ms = 0;
  const drained = new Waiter();
  const note_fault = (why: string) => {
    fault ??= why;
  };

  const stream = await EventStream.open(
    opts.stream_url,
    (e) => {
      const t_due = pending.get(e.hash);
      if (t_due === undefined) return;
      const now = performance.now();
      pending.delete(e.hash);
      committed++;
      if (e.code !== 0) {
        failed++;
        note_fault(`committed with code ${e.code}`);
      }
      latencies.push(now - t_due);
      last_commit_ms = now;
      const b = blocks.get(e.height);
      if (b === undefined) blocks.set(e.height, { t_ms: now, count: 1 });
      else b.count++;
      drained.poke();
    },
    opts.stream_timeout_ms,
  );
  let stream_dead = false;
  void stream.ended.then((why) => {
    stream_dead = true;
    if (why !== 'closed') note_fault(why);
    drained.poke();
  });

  // Per account: its queue of due transactions, whether a POST is out, whether it was refused.
  const queues = opts.accounts.map(() => ({
    txs: [] as { tx: PreparedTx; t_due: number }[],
    busy: false,
    dead: false,
  }));

  const drop_account = (a: number, why: string) => {
    const q = queues[a]!;
    q.dead = true;
    note_fault(why);
    for (const { tx } of q.txs) {
      pending.delete(tx.hash);
      refused++;
    }
    q.txs = [];
  };

  const pump = (a: number) => {
    const q = queues[a]!;
    if (q.busy || q.dead) return;
    const next = q.txs.shift();
    if (next === undefined) return;
    q.busy = true;
    const account = opts.accounts[a]!;
    delays.push(performance.now() - next.t_due);
    http_request(opts.agents[account.node]!, opts.urls[account.node]!, '/v1/txs', {
      method: 'POST',
      body: next.tx.raw,
      timeout_ms: opts.post_timeout_ms,
    }).then(
      (answer) => {
        q.busy = false;
        if (answer.status === 202) {
          accepted++;
          // The node's hash must be the one computed here, or no commit would ever match.
          let hash: unknown;
          try {
            hash = (JSON.parse(answer.text) as { hash?: unknown }).hash;
          } catch {
            hash = `(not JSON: ${answer.text.slice(0, 80)})`;
          }
          if (hash !== next.tx.hash)
            note_fault(`node answered hash ${String(hash)}, expected ${next.tx.hash}`);
          pump(a);
          return;
        }
        pending.delete(next.tx.hash);
        refused++;
        let message = answer.text.slice(0, 200);
        try {
          const e = (JSON.parse(answer.text) as { error: { code: number; message: string } }).error;
          message = `code ${e.code}: ${e.message}`;
        } catch {}
        drop_account(a, `refused at submission: HTTP ${answer.status} ${message}`);
        drained.poke();
      },
      (error: unknown) => {
        q.busy = false;
        // It may or may not have reached the node: it stays pending (it may still commit), but the
        // account's later sequences would be refused, so the account stops.
        drop_account(a, `submission failed: ${(error as Error).message}`);
        drained.poke();
      },
    );
  };

  const t0 = performance.now() + START_LEAD_MS;
  let first_due = true;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const target = Math.min(n, Math.floor((now - t0) / interval_ms) + 1);
      if (target > 0 && first_due) {
        first_due = false;
        opts.on_start?.();
      }
      while (due < target) {
        if (stream_dead) {
          resolve();
          return;
        }
        if (pending.size >= opts.in_flight_max) {
          note_fault(`${opts.in_flight_max} transactions in flight (the bound): submission stopped`);
          resolve();
          return;
        }
        const tx = opts.txs[due]!;
        const t_due = t0 + due * interval_ms;
        due++;
        const q = queues[tx.account]!;
        if (q.dead) {
          refused++;
          continue;
        }
        pending.set(tx.hash, t_due);
        q.txs.push({ tx, t_due });
        pump(tx.account);
      }
      if (due >= n) {
        resolve();
        return;
      }
      const next_ms = t0 + due * interval_ms - performance.now();
      setTimeout(tick, Math.max(0, Math.min(DISPATCH_TICK_MS, next_ms)));
    };
    setTimeout(tick, START_LEAD_MS);
  });
  // Without the stream no commit can be seen any more: stop waiting at once.
  await drained.wait(() => pending.size === 0 || stream_dead, opts.drain_timeout_ms);
  const lost = pending.size;
  await stream.close();

  latencies.sort((x, y) => x - y);
  delays.sort((x, y) => x - y);
  const heights = [...blocks.keys()].sort((x, y) => x - y);
  const span_s = committed > 0 ? (last_commit_ms - t0) / 1000 : 0;
  let tx_per_s = span_s > 0 ? committed / span_s : 0;
  if (heights.length >= 3) {
    const first = blocks.get(heights[0]!)!;
    const second_last = blocks.get(heights[heights.length - 2]!)!;
    let inner = 0;
    for (const h of heights.slice(1, -1)) inner += blocks.get(h)!.count;
    if (second_last.t_ms > first.t_ms) tx_per_s = inner / ((second_last.t_ms - first.t_ms) / 1000);
  }
  return {
    rate_tx_per_s: opts.rate_tx_per_s,
    due,
    accepted,
    refused,
    committed,
    failed,
    lost,
    latencies_ms: latencies,
    submit_delays_ms: delays,
    tx_per_s,
    span_s,
    blocks: heights.length,
    fault,
  };
}
