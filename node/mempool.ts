/**
 * The validator's mempool: submitted transactions waiting for a block. It refuses at submission
 * what the enclave would refuse without counting (protocol.md §5 codes 7, 4 and 5), so a client
 * learns at once, and keeps every account's pending transactions as one run of consecutive
 * sequences starting at the committed one. Blocks are reaped in arrival order, never a higher
 * sequence of an account before its lower one, within the block's limits.
 *
 * The mempool only checks; the enclave decides. A transaction that passes here may still fail in
 * its block (a sequence taken by another node's block, a contract error): the enclave's answer is
 * what gets committed.
 *
 * Signatures are checked once per node that needs them, not once per node: a client's submission
 * (`origin: 'client'`) is verified at `add`, so the client hears code 4 at once; a transaction a
 * peer gossiped (`origin: 'peer'`) was verified by the peer that accepted it and is held
 * unverified, then verified here only if this node reaps it for a block it proposes (a bad one is
 * dropped with its account's later entries and never proposed) or if another transaction claims
 * its sequence (a forged one then gives way). Ed25519 verification was the largest host cost per
 * transaction, and a network of n validators paid it n times at `add`; every validator's enclave
 * verifies again anyway, so nothing unverified is ever executed.
 * @module
 */

import { ENCLAVE_LIMITS } from '../enclave/limits.js';
import { compile_contract } from '../enclave/vm/compile.js';
import { from_base64, from_hex, from_utf8, to_hex } from '../protocol/bytes.js';
import { jcs } from '../protocol/jcs.js';
import type { CryptoProvider } from '../protocol/provider.js';
import {
  account_address,
  check_tx_keys,
  MalformedTxError,
  parse_tx_json,
  type Tx,
  tx_fee,
  tx_hash,
  verify_tx_signature,
} from '../protocol/tx.js';
import { Quarantine } from './quarantine.js';

/** Bounds of a mempool; every one is checked at `add`. */
export interface MempoolLimits {
  /** Most transactions held. */
  txs_max: number;
  /** Most UTF-8 bytes of transaction JSON held in total. */
  bytes_max: number;
  /** Most pending transactions of one account. */
  per_account_max: number;
  /** Largest transaction JSON, in UTF-8 bytes; at most the enclave's own limit. */
  tx_bytes_max: number;
  /** Largest gas limit a transaction may ask for; at most the enclave's own limit. */
  gas_limit_max: number;
}

/**
 * What `add` answers: accepted (or already held) with the tx hash, refused with a code, full, or
 * quarantined (its execution made this validator's enclave fail: see node/quarantine.ts).
 */
export type MempoolAdd =
  | { ok: true; hash: string }
  | { ok: false; code: 4 | 5 | 7 | 8; message: string }
  | { ok: false; code: 'full'; message: string }
  | { ok: false; code: 'quarantined'; message: string };

/** Limits of one block that {@link Mempool.reap} fills. */
export interface ReapLimits {
  txs_max: number;
  /** UTF-8 bytes of all the transactions. */
  bytes_max: number;
  /** Sum of the gas limits. */
  gas_max: number;
  /** UTF-8 bytes of the `store_code` transactions; absent: only `bytes_max` bounds them. */
  store_code_bytes_max?: number;
}

/** Options of {@link Mempool}. */
export interface MempoolOptions {
  chain_id: string;
  limits: MempoolLimits;
  /** protocol.md §9: the chain's least gas price; a lower one is refused (code 8). 0 by default. */
  min_gas_price?: number;
}

/** Modules of {@link Mempool}. */
export interface MempoolModules {
  p: CryptoProvider;
  /** The committed sequence of an account (40 hex address), e.g. ChainStore.get_account_sequence. */
  committed_sequence(address: string): Promise<number>;
  /**
   * The committed balance of an address (ChainStore.get_balance), to refuse at `add` a fee the
   * sender cannot pay and to fill blocks only with fees that can be paid (protocol.md §9). Absent:
   * fees are not checked here (the enclave still charges them).
   */
  committed_balance?(address: string): Promise<number>;
  /** Hashes refused at `add` (default: a fresh one with the default bounds, on the wall clock). */
  quarantine?: Quarantine;
}

/** One held transaction. */
interface Entry {
  raw: string;
  hash: string;
  /** UTF-8 bytes of `raw`: what the byte limits count. */
  bytes: number;
  sender: string;
  sequence: number;
  gas_limit: number;
  /** A `store_code`: its bytes count toward a block's store_code limit too. */
  store_code: boolean;
  /** protocol.md §9 `gas_limit × gas_price`, paid before the transaction runs. */
  fee: number;
  /** The parsed transaction while its signature is unchecked (a peer's), else null. */
  unverified: Tx | null;
}

/** Where a submitted transaction came from: a client (verified now) or a peer's gossip. */
export type MempoolOrigin = 'client' | 'peer';

/** Sender addresses remembered (see `#address_of`); all are forgotten at once past it. */
const ADDRESSES_CACHED_MAX = 10_000;
/** Compile verdicts kept by code hash, so a resubmitted code is not compiled again. */
const COMPILE_CACHE_MAX = 64;
/**
 * Times `add` re-reads a committed sequence when a commit lands while it waits for one. Each
 * retry needs a commit inside one store read, so more than a few means the node is overloaded.
 */
const SEQUENCE_RETRIES_MAX = 4;

const LIMIT_NAMES = ['txs_max', 'bytes_max', 'per_account_max', 'tx_bytes_max', 'gas_limit_max'] as const;

function check_limit(value: unknown, name: string, max = Number.MAX_SAFE_INTEGER, min = 1): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number`);
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw new RangeError(`${name} must be an integer in ${min}..${max}`);
  return value;
}

function refuse(code: 4 | 5 | 7 | 8, message: string): MempoolAdd {
  return { ok: false, code, message };
}

/** The transactions waiting for a block, in arrival order. */
export class Mempool {
  readonly #chain_id: string;
  readonly #limits: Readonly<MempoolLimits>;
  readonly #m: MempoolModules;
  /** Every held entry by hash; a Map iterates in insertion order, which is arrival order. */
  readonly #entries = new Map<string, Entry>();
  /**
   * Every held entry by its exact text, so `update` finds a committed transaction without parsing
   * and hashing it again (it falls back to the hash for a text held in another spelling).
   */
  readonly #by_raw = new Map<string, Entry>();
  /** Each account's pending entries, by consecutive sequence from its committed one. */
  readonly #accounts = new Map<string, Entry[]>();
  #bytes = 0;
  /** Bumped by every `update`: an `add` that waited across one re-reads the committed sequence. */
  #epoch = 0;
  /** Tail of the queue of updates: they must apply in commit order. */
  #updates: Promise<unknown> = Promise.resolve();
  /** Updates queued or running; while any is, pending runs may still hold stale entries. */
  #updating = 0;
  readonly #compiled = new Map<string, boolean>();
  /** Account addresses by sender public key (hex), at most {@link ADDRESSES_CACHED_MAX}. */
  readonly #addresses = new Map<string, string>();
  #forged = 0;
  readonly #quarantine: Quarantine;
  readonly #min_gas_price: number;
  /**
   * The committed balance last read for each account with pending entries: what `reap` lets its
   * fees spend. Balances of senders only fall through their own transactions, so a stale value
   * errs low (a block leaves out what it could have paid), never high.
   */
  readonly #balances = new Map<string, number>();
  /** Called after each transaction `add` holds (blocks on demand: the engine's `txs_available`). */
  readonly #added_fns: (() => void)[] = [];

  constructor(opts: MempoolOptions, modules: MempoolModules) {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('opts must be an object');
    if (typeof opts.chain_id !== 'string' || opts.chain_id.length === 0)
      throw new TypeError('chain_id must be a non-empty string');
    if (typeof opts.limits !== 'object' || opts.limits === null)
      throw new TypeError('limits must be an object');
    if (typeof modules !== 'object' || modules === null) throw new TypeError('modules must be an object');
    if (typeof modules.committed_sequence !== 'function')
      throw new TypeError('modules.committed_sequence must be a function');
    if (typeof modules.p !== 'object' || modules.p === null)
      throw new TypeError('modules.p must be a CryptoProvider');
    if (modules.quarantine !== undefined && !(modules.quarantine instanceof Quarantine))
      throw new TypeError('modules.quarantine must be a Quarantine');
    const limits = {} as MempoolLimits;
    for (const name of LIMIT_NAMES) limits[name] = check_limit(opts.limits[name], `limits.${name}`);
    // Above the enclave's bounds a transaction would pass here and be refused in every block.
    check_limit(limits.tx_bytes_max, 'limits.tx_bytes_max', ENCLAVE_LIMITS.tx_bytes_max);
    check_limit(limits.gas_limit_max, 'limits.gas_limit_max', ENCLAVE_LIMITS.tx_gas_limit_max);
    this.#chain_id = opts.chain_id;
    this.#limits = Object.freeze(limits);
    this.#m = modules;
    this.#quarantine = modules.quarantine ?? new Quarantine();
    this.#min_gas_price = check_limit(opts.min_gas_price ?? 0, 'min_gas_price', Number.MAX_SAFE_INTEGER, 0);
    if (modules.committed_balance !== undefined && typeof modules.committed_balance !== 'function')
      throw new TypeError('modules.committed_balance must be a function');
  }

  /**
   * Checks and holds a submitted transaction (its exact JSON text). Checks in this order: size
   * (7, before parsing), parse (7), quarantine ('quarantined'), chain id (7), gas limit (7), a
   * store_code's code compiles (7), signature (4, `client` origin only), gas price at least the
   * minimum (8), sequence (5: committed + this account's pending count), the fee with the pending
   * ones' affordable from the committed balance (8, protocol.md §9), then limits ('full'). A transaction already held answers ok with its hash and is not held
   * twice. A `peer` transaction's signature is checked later (see the module doc). `parsed`, when
   * given, must be `parse_tx_json(raw)` (the RPC server has already parsed the text to check it).
   */
  async add(raw: string, origin: MempoolOrigin = 'client', parsed?: Tx): Promise<MempoolAdd> {
    if (typeof raw !== 'string') throw new TypeError('transaction must be a string');
    if (origin !== 'client' && origin !== 'peer') throw new TypeError("origin must be 'client' or 'peer'");
    // UTF-8 never takes fewer bytes than UTF-16 units, so the cheap length check bounds the
    // byte count work below for anything far over the limit.
    if (raw.length > this.#limits.tx_bytes_max)
      return refuse(7, `transaction is over ${this.#limits.tx_bytes_max} bytes`);
    const bytes = Buffer.byteLength(raw, 'utf8');
    if (bytes > this.#limits.tx_bytes_max)
      return refuse(7, `transaction is over ${this.#limits.tx_bytes_max} bytes`);
    let tx: Tx;
    try {
      tx = parsed ?? parse_tx_json(raw);
      // The RPC server's copy came from a plain JSON.parse: refuse duplicate keys here too.
      if (parsed !== undefined) check_tx_keys(raw);
    } catch (error) {
      if (error instanceof MalformedTxError) return refuse(7, error.message);
      throw error;
    }
    // One canonicalisation of the body serves the hash and the client's signature check.
    const body_text = jcs(tx.body);
    const hash = tx_hash(this.#m.p, tx, body_text);
    const quarantined = this.#quarantine.get(hash);
    if (quarantined !== null) {
      const seconds = Math.max(1, Math.ceil(quarantined.left_ms / 1000));
      return {
        ok: false,
        code: 'quarantined',
        message: `transaction ${hash} is quarantined for about ${seconds} s more: ${quarantined.reason}`,
      };
    }
    // Same hash means same body and signature, which passed every check below when first held,
    // except perhaps the signature of a peer's: a client resubmitting one is owed a real verdict.
    const held = this.#entries.get(hash);
    if (held !== undefined) {
      if (origin === 'peer' || this.#verify_held(held)) return { ok: true, hash };
      return refuse(4, 'signature does not verify');
    }
    const { body } = tx;
    if (body.chain_id !== this.#chain_id) return refuse(7, `chain_id must be ${this.#chain_id}`);
    if (body.gas_limit > this.#limits.gas_limit_max)
      return refuse(7, `gas_limit is over ${this.#limits.gas_limit_max}`);
    if (body.msg.type === 'store_code') {
      const verdict = this.#compiles(body.msg.code);
      if (verdict !== null) return refuse(7, `code does not compile: ${verdict}`);
    }
    if (origin === 'client' && !verify_tx_signature(this.#m.p, tx, body_text))
      return refuse(4, 'signature does not verify');
    const gas_price = body.gas_price ?? 0;
    if (gas_price < this.#min_gas_price)
      return refuse(8, `gas_price ${gas_price} is below the network's min_gas_price ${this.#min_gas_price}`);
    const fee = tx_fee(body);
    const sender = this.#address_of(body.sender);

    for (let attempt = 0; attempt < SEQUENCE_RETRIES_MAX; attempt++) {
      // Mid-update, pending runs may still hold entries the new commit made stale: wait it out.
      if (this.#updating > 0) await this.#updates;
      const epoch = this.#epoch;
      const [committed, balance] = await Promise.all([
        this.#m.committed_sequence(sender),
        fee > 0 ? this.#read_balance(sender) : undefined,
      ]);
      if (!Number.isSafeInteger(committed) || committed < 0)
        throw new RangeError('committed_sequence must answer a count');
      // An update ran while we waited: the answer may predate the entries it removed.
      if (epoch !== this.#epoch || this.#updating > 0) continue;
      // From here to the end nothing awaits, so the checks and the insert are one step.
      if (this.#entries.has(hash)) return { ok: true, hash };
      const pending = this.#accounts.get(sender) ?? [];
      // Between a block's store commit and this mempool's update, the run may still start with
      // entries that block committed: only entries at or above the committed sequence count.
      let last = pending[pending.length - 1];
      let expected = last === undefined ? committed : Math.max(committed, last.sequence + 1);
      if (body.sequence < expected && this.#drop_forged_at(sender, body.sequence)) {
        last = pending[pending.length - 1];
        expected = last === undefined ? committed : Math.max(committed, last.sequence + 1);
      }
      if (body.sequence !== expected) {
        return refuse(
          5,
          `wrong sequence ${body.sequence}: expected ${expected} (committed ${committed}, ${pending.length} pending)`,
        );
      }
      if (balance !== undefined) {
        // The fees of this account's pending entries come first: they are paid in sequence order.
        const owed = pending.reduce((sum, e) => (e.sequence >= committed ? sum + e.fee : sum), fee);
        if (owed > balance) {
          return refuse(
            8,
            `insufficient funds for the fee: ${fee} ucst (with ${owed - fee} owed by pending transactions), balance ${balance}`,
          );
        }
        this.#balances.set(sender, balance);
      }
      if (this.#entries.size >= this.#limits.txs_max)
        return { ok: false, code: 'full', message: 'mempool holds its most transactions' };
      if (this.#bytes + bytes > this.#limits.bytes_max)
        return { ok: false, code: 'full', message: 'mempool holds its most bytes' };
      if (pending.length >= this.#limits.per_account_max) {
        return {
          ok: false,
          code: 'full',
          message: `account has ${pending.length} pending transactions, the most held`,
        };
      }
      const entry: Entry = {
        raw,
        hash,
        bytes,
        sender,
        sequence: body.sequence,
        gas_limit: body.gas_limit,
        store_code: body.msg.type === 'store_code',
        fee,
        unverified: origin === 'peer' ? tx : null,
      };
      this.#entries.set(hash, entry);
      this.#by_raw.set(raw, entry);
      pending.push(entry);
      this.#accounts.set(sender, pending);
      this.#bytes += bytes;
      this.#assert_appended(pending, entry);
      this.#notify_added();
      return { ok: true, hash };
    }
    return { ok: false, code: 'full', message: 'mempool is busy with commits; retry' };
  }

  /**
   * protocol.md §5 `account_address` of a sender's hex public key, remembered: the same few
   * accounts send most transactions, and each one was a SHA-256 (and a hex decode) per `add`.
   */
  #address_of(sender: string): string {
    let address = this.#addresses.get(sender);
    if (address === undefined) {
      address = account_address(this.#m.p, from_hex(sender, 32));
      if (this.#addresses.size >= ADDRESSES_CACHED_MAX) this.#addresses.clear();
      this.#addresses.set(sender, address);
    }
    return address;
  }

  /** The committed balance of `address`, or undefined if this mempool cannot read balances. */
  async #read_balance(address: string): Promise<number | undefined> {
    if (this.#m.committed_balance === undefined) return undefined;
    const balance = await this.#m.committed_balance(address);
    if (!Number.isSafeInteger(balance) || balance < 0)
      throw new RangeError('committed_balance must answer a non-negative safe integer');
    return balance;
  }

  /**
   * The sequence the next transaction of `address` should carry: its committed sequence plus the
   * pending ones held here (what a node signing for an account, like the faucet, uses).
   */
  async next_sequence(address: string): Promise<number> {
    const committed = await this.#m.committed_sequence(address);
    const last = this.#accounts.get(address)?.at(-1);
    return last === undefined ? committed : Math.max(committed, last.sequence + 1);
  }

  /**
   * If `sender`'s pending entry at `sequence` is an unverified one whose signature fails, drops it
   * and its account's later entries (they can never apply without it) and answers true, so an
   * honest transaction is not refused for a sequence a forged one took.
   */
  #drop_forged_at(sender: string, sequence: number): boolean {
    const entry = this.#accounts.get(sender)?.find((e) => e.sequence === sequence);
    return entry !== undefined && !this.#verify_held(entry);
  }

  /**
   * Whether a held entry's signature verifies (checking it now if it is a peer's). One that fails
   * is dropped with its account's later entries.
   */
  #verify_held(entry: Entry): boolean {
    if (entry.unverified === null) return true;
    if (verify_tx_signature(this.#m.p, entry.unverified)) {
      entry.unverified = null;
      return true;
    }
    this.#drop_from(entry.sender, this.#accounts.get(entry.sender)!.indexOf(entry));
    this.#forged++;
    return false;
  }

  /**
   * Quarantines the transaction `raw` (see node/quarantine.ts): drops it, with its account's later
   * entries (they can never apply without it), and refuses its hash at `add` for a while. Answers
   * its hash, or null if `raw` is not a transaction (nothing could hold it).
   */
  quarantine(raw: string, reason: string): string | null {
    if (typeof raw !== 'string') throw new TypeError('transaction must be a string');
    const held = this.#by_raw.get(raw);
    const hash = held?.hash ?? this.#hash_of(raw);
    if (hash === null) return null;
    this.#quarantine.add(hash, reason);
    const entry = held ?? this.#entries.get(hash);
    if (entry !== undefined) this.#drop_from(entry.sender, this.#accounts.get(entry.sender)!.indexOf(entry));
    return hash;
  }

  /** Drops `sender`'s pending entries from `index` on. */
  #drop_from(sender: string, index: number): void {
    const pending = this.#accounts.get(sender)!;
    for (const entry of pending.slice(index)) {
      this.#entries.delete(entry.hash);
      this.#by_raw.delete(entry.raw);
      this.#bytes -= entry.bytes;
    }
    pending.length = index;
    if (index === 0) this.#accounts.delete(sender);
    this.#assert_account(sender);
  }

  /** Forged transactions found (unverified ones whose signature failed), each dropped with its account's later entries. */
  forged(): number {
    return this.#forged;
  }

  /** The compile error of base64 `code`, or null if it compiles (cached by code hash). */
  #compiles(code_b64: string): string | null {
    const bytes = from_base64(code_b64);
    const key = to_hex(this.#m.p.sha256(bytes));
    const cached = this.#compiled.get(key);
    if (cached === true) return null;
    let source: string;
    try {
      source = from_utf8(bytes);
    } catch {
      return 'code is not UTF-8';
    }
    const compiled = compile_contract(source);
    if (this.#compiled.size >= COMPILE_CACHE_MAX) this.#compiled.clear();
    // Only successes are cached: a failure's message is wanted in the answer, and failing
    // submissions are refused before any state changes anyway.
    if (compiled.ok) this.#compiled.set(key, true);
    return compiled.ok ? null : compiled.message;
  }

  /**
   * Transactions for the next block, in arrival order, within `limits` (count, UTF-8 bytes, sum
   * of gas limits, UTF-8 bytes of store_code transactions). An account's transaction is taken
   * only after all its lower sequences, so one that does not fit holds back that account's later
   * ones. Verifies any unverified (gossiped) transaction it takes; one that fails is dropped with
   * its account's later entries instead.
   */
  reap(limits: ReapLimits): string[] {
    if (typeof limits !== 'object' || limits === null) throw new TypeError('limits must be an object');
    const store_code_bytes_max = limits.store_code_bytes_max ?? limits.bytes_max;
    for (const [name, value] of [
      ['txs_max', limits.txs_max],
      ['bytes_max', limits.bytes_max],
      ['gas_max', limits.gas_max],
      ['store_code_bytes_max', store_code_bytes_max],
    ] as const) {
      if (typeof value !== 'number') throw new TypeError(`${name} must be a number`);
      if (!Number.isSafeInteger(value) || value < 0)
        throw new RangeError(`${name} must be a non-negative safe integer`);
    }
    const out: string[] = [];
    let bytes = 0;
    let gas = 0;
    let store_code_bytes = 0;
    /** Per account: the next sequence it may contribute, or -1 once one of its txs was skipped. */
    const next = new Map<string, number>();
    /** Per account: fees its taken transactions pay (protocol.md §9). */
    const spent = new Map<string, number>();
    for (const entry of this.#entries.values()) {
      if (out.length >= limits.txs_max) break;
      const want = next.get(entry.sender) ?? this.#accounts.get(entry.sender)![0]!.sequence;
      if (want !== entry.sequence) {
        // Arrival order already follows sequence order (add accepts only the next one), so this
        // is the account being held back after a skip.
        if (want !== -1)
          throw new Error(`invariant: ${entry.sender} sequence ${entry.sequence} arrived before ${want}`);
        continue;
      }
      const code_bytes = entry.store_code ? entry.bytes : 0;
      // Only gas that is paid for takes block space: a fee the sender cannot pay (as far as
      // this node knows) would be refused in the block, so its declared gas must not crowd others.
      const paid = (spent.get(entry.sender) ?? 0) + entry.fee;
      const balance = this.#balances.get(entry.sender);
      if (entry.fee > 0 && balance !== undefined && paid > balance) {
        next.set(entry.sender, -1);
        continue;
      }
      if (
        bytes + entry.bytes > limits.bytes_max ||
        gas + entry.gas_limit > limits.gas_max ||
        store_code_bytes + code_bytes > store_code_bytes_max
      ) {
        next.set(entry.sender, -1);
        continue;
      }
      // Map iteration skips entries deleted before it reaches them, so the dropped later ones
      // of a forged entry's account are never visited.
      if (!this.#verify_held(entry)) {
        next.set(entry.sender, -1);
        continue;
      }
      out.push(entry.raw);
      bytes += entry.bytes;
      gas += entry.gas_limit;
      store_code_bytes += code_bytes;
      spent.set(entry.sender, paid);
      next.set(entry.sender, entry.sequence + 1);
    }
    return out;
  }

  /**
   * After a block commits (its transactions' exact texts): drops the committed ones by hash, then
   * re-checks every account still pending against its new committed sequence, keeping only the
   * run that starts at it (stale lower ones and any after a gap go: they could never apply).
   * Updates run one at a time, in call order.
   */
  update(committed_txs: string[]): Promise<void> {
    if (!Array.isArray(committed_txs) || committed_txs.some((t) => typeof t !== 'string')) {
      throw new TypeError('committed_txs must be strings');
    }
    this.#updating++;
    const run = this.#updates.then(() => this.#update(committed_txs));
    this.#updates = run.catch(() => undefined);
    return run;
  }

  async #update(committed_txs: string[]): Promise<void> {
    try {
      await this.#apply_update(committed_txs);
    } finally {
      this.#updating--;
      this.#epoch++;
    }
  }

  async #apply_update(committed_txs: string[]): Promise<void> {
    this.#epoch++;
    for (const raw of committed_txs) {
      const hash = this.#by_raw.get(raw)?.hash ?? this.#hash_of(raw);
      if (hash !== null) this.#remove(hash);
    }
    const senders = [...this.#accounts.keys()];
    const committed = await Promise.all(senders.map((s) => this.#m.committed_sequence(s)));
    // Fees and sends of the block changed balances: read again those that pay fees.
    const payers = senders.filter((s) => this.#accounts.get(s)?.some((e) => e.fee > 0) === true);
    const balances = await Promise.all(payers.map((s) => this.#read_balance(s)));
    const paying = new Set(payers);
    for (const sender of [...this.#balances.keys()]) if (!paying.has(sender)) this.#balances.delete(sender);
    payers.forEach((sender, i) => {
      const balance = balances[i];
      if (balance !== undefined) this.#balances.set(sender, balance);
    });
    senders.forEach((sender, i) => {
      const sequence = committed[i]!;
      if (!Number.isSafeInteger(sequence) || sequence < 0)
        throw new RangeError('committed_sequence must answer a count');
      const pending = this.#accounts.get(sender);
      if (pending === undefined) return;
      let expected = sequence;
      const keep: Entry[] = [];
      for (const entry of pending) {
        if (entry.sequence === expected) {
          keep.push(entry);
          expected++;
        } else {
          this.#entries.delete(entry.hash);
          this.#by_raw.delete(entry.raw);
          this.#bytes -= entry.bytes;
        }
      }
      if (keep.length === 0) this.#accounts.delete(sender);
      else this.#accounts.set(sender, keep);
      this.#assert_account(sender);
    });
  }

  /** The hash a committed tx text is held under, or null if it never could be held. */
  #hash_of(raw: string): string | null {
    try {
      return tx_hash(this.#m.p, parse_tx_json(raw));
    } catch (error) {
      if (error instanceof MalformedTxError) return null;
      throw error;
    }
  }

  #remove(hash: string): void {
    const entry = this.#entries.get(hash);
    if (entry === undefined) return;
    this.#entries.delete(hash);
    this.#by_raw.delete(entry.raw);
    this.#bytes -= entry.bytes;
    const pending = this.#accounts.get(entry.sender)!;
    const rest = pending.filter((e) => e !== entry);
    if (rest.length === 0) this.#accounts.delete(entry.sender);
    else this.#accounts.set(entry.sender, rest);
  }

  /**
   * {@link #assert_account} for the step `add` takes: an account's run that held before gains
   * `entry` at its end. Only what the step changes is checked (the new entry follows the last one,
   * the run is within its limit, both indexes hold it), so `add` costs the same however many
   * entries the account has pending; a full check of every entry on every `add` was a measurable
   * share of a loaded host's main thread.
   */
  #assert_appended(pending: Entry[], entry: Entry): void {
    if (this.#by_raw.size !== this.#entries.size) throw new Error('invariant: text index out of step');
    const n = pending.length;
    const before = n >= 2 ? pending[n - 2]! : null;
    if (
      n > this.#limits.per_account_max ||
      pending[n - 1] !== entry ||
      this.#accounts.get(entry.sender) !== pending ||
      (before !== null && entry.sequence !== before.sequence + 1) ||
      this.#entries.get(entry.hash) !== entry ||
      this.#by_raw.get(entry.raw) !== entry
    ) {
      throw new Error(`invariant: ${entry.sender}'s pending sequences are not consecutive held entries`);
    }
  }

  /** Invariant: an account's pending entries are held, consecutive, and within its limit. */
  #assert_account(sender: string): void {
    const pending = this.#accounts.get(sender);
    if (this.#by_raw.size !== this.#entries.size) throw new Error('invariant: text index out of step');
    if (pending === undefined) return;
    if (pending.length === 0 || pending.length > this.#limits.per_account_max) {
      throw new Error(`invariant: ${sender} has ${pending.length} pending entries`);
    }
    pending.forEach((entry, i) => {
      if (
        entry.sequence !== pending[0]!.sequence + i ||
        this.#entries.get(entry.hash) !== entry ||
        this.#by_raw.get(entry.raw) !== entry
      ) {
        throw new Error(`invariant: ${sender}'s pending sequences are not consecutive held entries`);
      }
    });
  }

  /**
   * Registers a listener called (synchronously, after the entry is held) each time `add` holds a
   * new transaction. A listener that throws is ignored.
   */
  on_added(fn: () => void): void {
    if (typeof fn !== 'function') throw new TypeError('on_added needs a function');
    this.#added_fns.push(fn);
  }

  #notify_added(): void {
    for (const fn of this.#added_fns) {
      try {
        fn();
      } catch {
        // A listener's failure is not the submitter's.
      }
    }
  }

  /**
   * Whether `reap` could take a transaction now: some account's first pending entry (at its
   * committed sequence, after `update`) has a fee its committed balance, as last read, can pay.
   * Cheap (one entry per account, no signature check): a forged gossiped entry counts until a
   * reap drops it. Blocks on demand ask this at each height (node/consensus/engine.ts).
   */
  has_includable(): boolean {
    for (const pending of this.#accounts.values()) {
      const first = pending[0];
      if (first === undefined) continue;
      const balance = this.#balances.get(first.sender);
      if (first.fee === 0 || balance === undefined || first.fee <= balance) return true;
    }
    return false;
  }

  /** Whether a transaction with this hash is held. */
  has(hash: string): boolean {
    return this.#entries.has(hash);
  }

  /**
   * Whether the transaction `raw` is held: by its exact text, without parsing it (CometBFT's
   * recheck after every commit asks this of each text it holds), else by its hash (another
   * spelling of a held transaction). Null when the text is not a transaction.
   */
  holds(raw: string): boolean | null {
    if (this.#by_raw.has(raw)) return true;
    const hash = this.#hash_of(raw);
    return hash === null ? null : this.#entries.has(hash);
  }

  /** Transactions held. */
  size(): number {
    return this.#entries.size;
  }

  /** UTF-8 bytes of the transactions held. */
  bytes(): number {
    return this.#bytes;
  }
}
