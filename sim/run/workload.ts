/**
 * The simulated clients: accounts that send real signed, encrypted transactions (protocol.md §3,
 * §5) to validators' RPC backends, as a user's SDK would, at a steady rate. The first account
 * instantiates a `counter` contract; then every account sends encrypted `increment`s to it. With
 * `calls_share` above 0 the first account also stores `contracts/relay.js` and makes two relays,
 * A and B, and that share of the stream are relay chains sent to A, which A passes on to B with a
 * contract message (protocol.md §9): the enclave must fetch B by a lookup, the path a host could
 * forge (`forge-callee`). At 0 (the default) no draw is made for it, so runs are unchanged. An
 * account has one transaction in flight at a time; it resends the same text to another validator
 * if it has not committed after a while, and moves to its next sequence once it commits.
 * Everything is drawn from the run's seeded random stream.
 * @module
 */

import { to_base64, to_hex } from '../../protocol/bytes.js';
import { result_counted } from '../../protocol/codes.js';
import { encrypt_message } from '../../protocol/envelope.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { contract_address, parse_tx_json, sign_tx, type Tx, type TxMsg } from '../../protocol/tx.js';
import type { SeededRng } from './rng.js';
import type { Scheduler } from './scheduler.js';

/** Where a simulated client can send a transaction: a validator's RPC backend. */
export interface SubmitTarget {
  submit(raw: string, tx: Tx): Promise<{ ok: true; hash: string } | { ok: false; message?: string }>;
}

/** Options of {@link Workload}. */
export interface WorkloadOptions {
  chain_id: string;
  /** The network's pk_io (hex), from genesis. */
  io_pubkey: string;
  /** Code id and hash of the counter contract in genesis. */
  counter_code_id: number;
  counter_code_hash: string;
  /** Transactions per simulated second (0: none). */
  tx_per_s: number;
  /** Share (0..1) of the stream that are relay chains A → B; 0 by default. */
  calls_share?: number;
  /** The relay contract's code (base64), hash and the code id it gets when stored: needed with calls_share. */
  relay?: { code_b64: string; code_hash: string; code_id: number };
  accounts: number;
  /** Resend a transaction that has not committed after this long. */
  resend_ms: number;
}

interface Account {
  sk: Uint8Array;
  pubkey: string;
  sequence: number;
  pending: { raw: string; tx: Tx; hash: string | null; sent_ms: number } | null;
}

/** Results of the workload. */
export interface WorkloadStats {
  submitted: number;
  refused: number;
  resent: number;
  committed: number;
}

/** Simulated clients sending encrypted transactions. */
export class Workload {
  readonly stats: WorkloadStats = { submitted: 0, refused: 0, resent: 0, committed: 0 };
  readonly #o: WorkloadOptions;
  readonly #p: CryptoProvider;
  readonly #sched: Scheduler;
  readonly #rng: SeededRng;
  readonly #targets: () => SubmitTarget[];
  readonly #accounts: Account[] = [];
  /** tx hash → account index, for transactions in flight. */
  readonly #in_flight = new Map<string, number>();
  #contract: string | null = null;
  #contract_ready = false;
  /** The first account's setup messages still to send, in order (the counter's instantiate first). */
  readonly #setup: TxMsg[] = [];
  /** Relays A and B, once the setup made them. */
  #relays: [string, string] | null = null;
  #next = 0;
  #stopped = false;

  constructor(
    opts: WorkloadOptions,
    m: { p: CryptoProvider; sched: Scheduler; rng: SeededRng; targets: () => SubmitTarget[] },
  ) {
    if (!(opts.tx_per_s >= 0) || opts.tx_per_s > 100_000) throw new RangeError('tx_per_s must be 0..100000');
    if (!Number.isInteger(opts.accounts) || opts.accounts < 1 || opts.accounts > 10_000) {
      throw new RangeError('accounts must be 1..10000');
    }
    const share = opts.calls_share ?? 0;
    if (!(share >= 0 && share <= 1)) throw new RangeError('calls_share must be 0..1');
    if (share > 0 && opts.relay === undefined) throw new RangeError('calls_share needs the relay code');
    this.#o = opts;
    this.#p = m.p;
    this.#sched = m.sched;
    this.#rng = m.rng;
    this.#targets = m.targets;
    for (let i = 0; i < opts.accounts; i++) {
      const sk = this.#rng.bytes(32);
      this.#accounts.push({ sk, pubkey: to_hex(this.#p.ed25519_public(sk)), sequence: 0, pending: null });
    }
  }

  /** Begins sending: the contract first, then a steady stream. */
  start(): void {
    if (this.#o.tx_per_s === 0) return;
    const first = this.#accounts[0] as Account;
    this.#contract = contract_address(this.#p, first.pubkey, first.sequence);
    this.#send(0, {
      type: 'instantiate',
      code_id: this.#o.counter_code_id,
      label: 'sim-counter',
      scheme: 'gcm',
      payload: this.#envelope({ count: 0 }),
    });
    const relay = this.#o.relay;
    if ((this.#o.calls_share ?? 0) > 0 && relay !== undefined) {
      // Sequences 1-3 of the first account: store the relay code, then relays A and B.
      this.#relays = [contract_address(this.#p, first.pubkey, 2), contract_address(this.#p, first.pubkey, 3)];
      this.#setup.push({ type: 'store_code', code: relay.code_b64 });
      for (const label of ['sim-relay-a', 'sim-relay-b']) {
        this.#setup.push({
          type: 'instantiate',
          code_id: relay.code_id,
          label,
          scheme: 'gcm',
          payload: this.#envelope({}, relay.code_hash),
        });
      }
    }
    this.#schedule();
  }

  /** Stops sending (what is in flight stays in flight). */
  stop(): void {
    this.#stopped = true;
  }

  /** A transaction committed somewhere (first sight is enough: agreement is checked elsewhere). */
  on_committed(hash: string, code: number, gas_used: number): void {
    const index = this.#in_flight.get(hash);
    if (index === undefined) return;
    this.#in_flight.delete(hash);
    const account = this.#accounts[index] as Account;
    account.pending = null;
    // A refusal did not count: the sequence did not move (protocol.md §5, §9).
    if (result_counted(code, gas_used)) {
      account.sequence++;
      this.stats.committed++;
      if (index === 0 && !this.#contract_ready) this.#setup_step(code);
    }
  }

  /** After each of the first account's setup transactions: the next one, or the stream starts. */
  #setup_step(code: number): void {
    if (code !== 0) return;
    const next = this.#setup.shift();
    if (next === undefined) this.#contract_ready = true;
    else this.#send(0, next);
  }

  #schedule(): void {
    if (this.#stopped) return;
    const gap_ms = Math.max(1, Math.round(this.#rng.exponential(1000 / this.#o.tx_per_s)));
    this.#sched.at(gap_ms, () => {
      this.#tick();
      this.#schedule();
    });
  }

  #tick(): void {
    // Resend what has waited too long; then give one idle account a new transaction.
    const now = this.#sched.now_ms();
    for (let i = 0; i < this.#accounts.length; i++) {
      const a = this.#accounts[i] as Account;
      if (a.pending !== null && now - a.pending.sent_ms > this.#o.resend_ms) {
        this.stats.resent++;
        this.#submit(i, a.pending.raw, a.pending.tx);
      }
    }
    if (!this.#contract_ready || this.#contract === null) return;
    for (let k = 0; k < this.#accounts.length; k++) {
      const i = (this.#next + k) % this.#accounts.length;
      if ((this.#accounts[i] as Account).pending !== null) continue;
      this.#next = i + 1;
      const relays = this.#relays;
      if (relays !== null && this.#rng.chance(this.#o.calls_share ?? 0)) {
        const chain = { relay: { next: [relays[1]], write: `from-${i}` } };
        this.#send(i, {
          type: 'execute',
          contract: relays[0],
          scheme: 'gcm',
          payload: this.#envelope(chain, this.#o.relay?.code_hash),
        });
        return;
      }
      this.#send(i, {
        type: 'execute',
        contract: this.#contract,
        scheme: 'gcm',
        payload: this.#envelope({ increment: {} }),
      });
      return;
    }
  }

  #envelope(msg: unknown, code_hash = this.#o.counter_code_hash): string {
    const { envelope } = encrypt_message(this.#p, {
      scheme: 'gcm',
      sk_u: this.#rng.bytes(32),
      pk_io: Uint8Array.from(Buffer.from(this.#o.io_pubkey, 'hex')),
      nonce: this.#rng.bytes(32),
      chain_id: this.#o.chain_id,
      code_hash,
      msg_json: JSON.stringify(msg),
    });
    return to_base64(envelope);
  }

  #send(index: number, msg: TxMsg): void {
    const a = this.#accounts[index] as Account;
    const tx = sign_tx(this.#p, a.sk, {
      chain_id: this.#o.chain_id,
      sender: a.pubkey,
      sequence: a.sequence,
      gas_limit: 2_000_000,
      msg,
    });
    const raw = JSON.stringify(tx);
    a.pending = { raw, tx: parse_tx_json(raw), hash: null, sent_ms: this.#sched.now_ms() };
    this.#submit(index, raw, a.pending.tx);
  }

  #submit(index: number, raw: string, tx: Tx): void {
    const a = this.#accounts[index] as Account;
    const targets = this.#targets();
    if (a.pending === null) return;
    a.pending.sent_ms = this.#sched.now_ms();
    if (targets.length === 0) return;
    const target = this.#rng.pick(targets);
    this.stats.submitted++;
    void target.submit(raw, tx).then(
      (answer) => {
        if (answer.ok) {
          if (a.pending !== null && a.pending.raw === raw) a.pending.hash = answer.hash;
          this.#in_flight.set(answer.hash, index);
        } else this.stats.refused++;
      },
      () => {
        this.stats.refused++;
      },
    );
  }
}
