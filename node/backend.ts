/**
 * What the RPC server asks of a node (protocol.md §6, §9), answered from the store, the mempool and
 * the enclave, and on a development network the faucet (./faucet.ts). Waiting for a commit is
 * event-driven: a waiter is resolved by the commit itself.
 * @module
 */

import { EventEmitter } from 'node:events';
import type { Enclave } from '../enclave/api.js';
import { type EnclaveError, EnclaveErrorCode } from '../enclave/result.js';
import { from_hex, to_base64 } from '../protocol/bytes.js';
import { ResultCode } from '../protocol/codes.js';
import { jcs } from '../protocol/jcs.js';
import type { CryptoProvider } from '../protocol/provider.js';
import { get_provider } from '../protocol/providers/index.js';
import { type SystemContracts, system_contracts_of } from '../protocol/system.js';
import type { Tx } from '../protocol/tx.js';
import { Faucet } from './faucet.js';
import type { Genesis } from './genesis.js';
import type { Mempool } from './mempool.js';
import type { Log } from './modules.js';
import { system_clock } from './real_world.js';
import type { TxRecord } from './records.js';
import { bad_request } from './rpc/errors.js';
import type {
  AccountAnswer,
  ContractAnswer,
  ContractListFilter,
  FaucetAnswer,
  HaltInfo,
  ListPage,
  LiveEvent,
  QueryAnswer,
  Refusal,
  RpcBackend,
  RpcStatus,
  TxListFilter,
} from './rpc/server.js';
import { type ChainStore, QUERY_PAYLOAD_CHARS_MAX } from './store/chain_store.js';
import { StoreCursorError } from './store/errors.js';

/** A JSON value with its object keys in RFC 8785 order. */
function canonical<T>(value: T): T {
  return JSON.parse(jcs(value)) as T;
}

/** Concurrent `?wait=commit` waiters (each holds a timer and a closure). */
export const TX_WAITERS_MAX = 10_000;

/**
 * What a query answers when the enclave call failed: enclave errors that are not a result of the
 * query (a dead worker, a passed deadline, a full queue, a closing enclave) become a named refusal;
 * any other (the host handed in bad input, a broken seed, a bug) is the node's failure and throws.
 */
export function query_failure(error: EnclaveError): Refusal {
  switch (error.code) {
    case EnclaveErrorCode.WORKER_DIED:
    case EnclaveErrorCode.TIMEOUT:
      return {
        ok: false,
        code: 'enclave_failed',
        message:
          error.code === EnclaveErrorCode.TIMEOUT
            ? 'the enclave could not run this query: it ran past the enclave deadline; nothing changed'
            : 'the enclave could not run this query: its worker died; nothing changed',
      };
    case EnclaveErrorCode.BUSY:
      return { ok: false, code: 'busy', message: 'the enclave call queue is full' };
    case EnclaveErrorCode.CLOSED:
      return { ok: false, code: 'busy', message: 'node is stopping' };
    default:
      throw new Error(`enclave ${error.code}: ${error.message}`);
  }
}

/** What a {@link NodeBackend} reads and calls. */
export interface BackendModules {
  store: ChainStore;
  mempool: Mempool;
  enclave: Enclave;
  now_ms: () => number;
  /** Arms a timer (the node's clock, ./modules.ts); the returned function cancels it. Default: the system clock's. */
  set_timer?: (delay_ms: number, fn: () => void) => () => void;
  /** Gossips an accepted transaction to the other validators. */
  gossip_tx: (raw: string) => void;
  /**
   * Under CometBFT (docs/cometbft.md): submits to CometBFT's mempool instead of this node's, whose
   * CheckTx comes back to this node's mempool checks. Absent: the mempool and `gossip_tx`.
   */
  forward_tx?: (raw: string, tx: Tx) => Promise<{ ok: true; hash: string } | Refusal>;
  /**
   * The highest height whose results are final, what `wait_tx` waits for. Default: the store's
   * height (Cloister's engine agrees results in the block itself); under CometBFT, one less while
   * the next height has not committed the last one's app hash.
   */
  final_height?: () => number;
  /** Signs the faucet's transactions on a development network. Default: the `native` provider. */
  p?: CryptoProvider;
  /** The node's log: the faucet's `faucet_sent` and `faucet_retry` lines. Default: none. */
  log?: Log;
  /** The consensus keys of the validators connected now, sorted (`GET /v1/status`'s `peers`). Default: none. */
  peers?: () => string[];
}

/** The node's RpcBackend. `publish` is called by the node for every commit. */
export class NodeBackend implements RpcBackend {
  readonly #genesis: Genesis;
  /** The system contracts genesis made (protocol/system.ts), by name. */
  readonly #system: Partial<SystemContracts>;
  readonly #pubkey: string;
  readonly #m: BackendModules;
  readonly #events = new EventEmitter();
  readonly #waiters = new Map<string, Set<(record: TxRecord) => void>>();
  #waiting = 0;
  #halted: HaltInfo | null = null;
  readonly #set_timer: (delay_ms: number, fn: () => void) => () => void;
  /** `POST /v1/faucet`'s sender on a development network; null on any other. */
  readonly #faucet: Faucet | null;

  constructor(opts: { genesis: Genesis; pubkey: string }, modules: BackendModules) {
    this.#genesis = opts.genesis;
    this.#system = system_contracts_of(modules.p ?? get_provider('native'), opts.genesis.codes);
    this.#pubkey = opts.pubkey;
    this.#m = modules;
    this.#set_timer = modules.set_timer ?? system_clock().set_timer;
    this.#events.setMaxListeners(0);
    this.#faucet = opts.genesis.dev === true ? this.#make_faucet(modules.p ?? get_provider('native')) : null;
  }

  #make_faucet(p: CryptoProvider): Faucet {
    const { store, mempool } = this.#m;
    return new Faucet(
      { chain_id: this.#genesis.chain_id },
      {
        p,
        now_ms: this.#m.now_ms,
        set_timer: this.#set_timer,
        next_sequence: (address) => mempool.next_sequence(address),
        committed_sequence: (address) => store.get_account_sequence(address),
        submit: (raw, tx) => this.submit(raw, tx),
        get_tx: (hash) => store.get_tx(hash),
        ...(this.#m.log === undefined ? {} : { log: this.#m.log }),
        on_commit: (fn) => {
          const listener = (event: LiveEvent) => {
            if (event.type === 'block') fn();
          };
          this.#events.on('event', listener);
          return () => this.#events.off('event', listener);
        },
      },
    );
  }

  /** Publishes a committed block's events and wakes its waiters. */
  publish(block_event: Extract<LiveEvent, { type: 'block' }>, txs: TxRecord[]): void {
    this.#events.emit('event', block_event);
    for (const tx of txs) {
      this.#events.emit('event', { type: 'tx', ...tx });
      const waiters = this.#waiters.get(tx.hash);
      if (waiters !== undefined) {
        this.#waiters.delete(tx.hash);
        for (const wake of waiters) wake(tx);
      }
    }
  }

  /**
   * Marks the node halted (the first call wins; later ones change nothing): from now on status
   * says so, submissions and new live streams are refused, open streams end, and what it has not
   * committed is answered as halted rather than "not yet" (node/rpc/server.ts).
   */
  halt(info: HaltInfo): void {
    if (this.#halted !== null) return;
    this.#halted = { height: info.height, reason: info.reason };
    // Live streams end on it: no more events will come from this node.
    this.#events.emit('event', { type: 'halted', ...this.#halted });
  }

  halted(): HaltInfo | null {
    return this.#halted === null ? null : { ...this.#halted };
  }

  async status(): Promise<RpcStatus> {
    return {
      chain_id: this.#genesis.chain_id,
      height: this.#m.store.height(),
      io_pubkey: this.#genesis.io_pubkey,
      seed_exchange_pubkey: this.#genesis.seed_exchange_pubkey,
      validator: this.#pubkey,
      validators: this.#genesis.validators.map(({ pubkey, power }) => ({ pubkey, power })),
      min_gas_price: this.#genesis.min_gas_price ?? 0,
      dev: this.#genesis.dev === true,
      contracts: { ...this.#system },
      peers: this.#m.peers?.() ?? [],
      mempool: this.#m.mempool.size(),
      last_block_time_ms: this.#m.store.last_block()?.block.header.time_ms ?? null,
    };
  }

  async io_pubkey(): Promise<string> {
    return this.#genesis.io_pubkey;
  }

  /** base64 of pk_io, for `GET /registration/v1beta1/tx-key`. */
  io_pubkey_base64(): string {
    return to_base64(from_hex(this.#genesis.io_pubkey, 32));
  }

  async submit(raw: string, tx: Tx): Promise<{ ok: true; hash: string } | Refusal> {
    if (this.#halted !== null)
      return { ok: false, code: 'halted', message: `halted at height ${this.#halted.height}` };
    if (this.#m.forward_tx !== undefined) return this.#m.forward_tx(raw, tx);
    const added = await this.#m.mempool.add(raw, 'client', tx);
    if (added.ok) this.#m.gossip_tx(raw);
    return added;
  }

  get_tx(hash: string) {
    return this.#m.store.get_tx(hash);
  }

  /** Whether a committed transaction's result is final (see {@link BackendModules.final_height}). */
  #final(record: TxRecord): boolean {
    return this.#m.final_height === undefined || record.height <= this.#m.final_height();
  }

  async wait_tx(hash: string, timeout_ms: number): Promise<TxRecord | null> {
    const done = await this.#m.store.get_tx(hash);
    if (done !== null && this.#final(done)) return done;
    if (this.#waiting >= TX_WAITERS_MAX) return null;
    return new Promise((resolve) => {
      this.#waiting++;
      let set = this.#waiters.get(hash);
      if (set === undefined) {
        set = new Set();
        this.#waiters.set(hash, set);
      }
      const finish = (record: TxRecord | null) => {
        cancel();
        set!.delete(wake);
        if (set!.size === 0 && this.#waiters.get(hash) === set) this.#waiters.delete(hash);
        this.#waiting--;
        resolve(record);
      };
      const wake = (record: TxRecord) => finish(record);
      const cancel = this.#set_timer(timeout_ms, () => finish(null));
      set.add(wake);
      // It may have committed between the first look and registering the waiter.
      void this.#m.store.get_tx(hash).then((record) => {
        if (record !== null && this.#final(record) && set!.has(wake)) finish(record);
      });
    });
  }

  async query(
    address: string,
    body: { scheme: 'gcm' | 'siv'; payload: string },
  ): Promise<QueryAnswer | Refusal | null> {
    // The store takes no larger payload (and would throw); the client's input is at fault: code 7.
    if (body.payload.length > QUERY_PAYLOAD_CHARS_MAX) {
      return {
        ok: false,
        code: ResultCode.MALFORMED_TX,
        message: `query payload is longer than ${QUERY_PAYLOAD_CHARS_MAX} characters`,
      };
    }
    // Block time, not this node's clock: expiries in contracts (a stream grant, a key keeper's
    // member) must read the same on every honest node.
    const input = await this.#m.store.query_input(
      address,
      body.scheme,
      body.payload,
      this.#genesis.genesis_time_ms,
      { dev: this.#genesis.dev === true, block_time: true },
    );
    if (input === null) return null;
    const answer = await this.#m.enclave.query(input);
    if (!answer.ok) return query_failure(answer.error);
    return { code: answer.value.code, output: answer.value.output };
  }

  /** The contract's public facts and balance; its `binding` (the enclave's MAC) stays in the store. */
  async get_contract(address: string): Promise<ContractAnswer | null> {
    const contract = await this.#m.store.get_contract(address);
    if (contract === null) return null;
    const { code_id, code_hash, label, creator } = contract;
    return { address, code_id, code_hash, label, creator, balance: await this.#m.store.get_balance(address) };
  }

  async list_contracts(
    filter: ContractListFilter,
    page: ListPage,
  ): Promise<{ contracts: ContractAnswer[]; cursor: string | null }> {
    const { store } = this.#m;
    const found = await cursor_checked(() => store.list_contracts(filter, page));
    const contracts: ContractAnswer[] = [];
    for (const { address, code_id, code_hash, label, creator } of found.contracts)
      contracts.push({
        address,
        code_id,
        code_hash,
        label,
        creator,
        balance: await store.get_balance(address),
      });
    return { contracts, cursor: found.cursor };
  }

  list_txs(filter: TxListFilter, page: ListPage): Promise<{ txs: TxRecord[]; cursor: string | null }> {
    return cursor_checked(() => this.#m.store.list_txs(filter, page));
  }

  async codes() {
    const codes = await this.#m.store.list_codes();
    const system = this.#system as Record<string, string | undefined>;
    return codes.map(({ code_id, code_hash, name }) => {
      if (name === undefined) return { code_id, code_hash };
      const contract = code_id <= this.#genesis.codes.length ? system[name] : undefined;
      return contract === undefined ? { code_id, code_hash, name } : { code_id, code_hash, name, contract };
    });
  }

  async account(address: string): Promise<AccountAnswer> {
    const [sequence, balance] = await Promise.all([
      this.#m.store.get_account_sequence(address),
      this.#m.store.get_balance(address),
    ]);
    return { address, sequence, balance };
  }

  async block(height: number) {
    const record = await this.#m.store.get_block(height);
    if (record === null) return null;
    // Each node decides on whichever 2/3+ precommits it collected first, so local commits differ in
    // which signatures they hold. The canonical commit is the one the next block carries (its
    // last_commit), identical on every node: serve it once it exists.
    const next = await this.#m.store.get_block(height + 1);
    const commit = next?.block.last_commit ?? record.commit;
    // Key order depends on where a node got the block (built it, or parsed it off the wire):
    // serve the canonical (RFC 8785) form so every node's answer is byte for byte the same.
    return {
      header: canonical(record.block.header),
      block_hash: record.block_hash,
      tx_hashes: record.tx_hashes,
      commit: canonical(commit),
    };
  }

  async block_txs(height: number): Promise<string[] | null> {
    return (await this.#m.store.get_block(height))?.block.txs ?? null;
  }

  subscribe(fn: (event: LiveEvent) => void): () => void {
    this.#events.on('event', fn);
    return () => this.#events.off('event', fn);
  }

  has_faucet(): boolean {
    return this.#faucet !== null;
  }

  async faucet(
    address: string,
    amount: number,
    opts: { timeout_ms: number; signal: AbortSignal },
  ): Promise<FaucetAnswer> {
    if (this.#faucet === null) throw new Error('this network has no faucet');
    return this.#faucet.request(address, amount, opts);
  }
}

/** Runs a store listing; a cursor it refuses is the client's mistake: 400 code 106 with its reason. */
async function cursor_checked<T>(list: () => Promise<T>): Promise<T> {
  try {
    return await list();
  } catch (error) {
    if (error instanceof StoreCursorError) throw bad_request(error.message);
    throw error;
  }
}
