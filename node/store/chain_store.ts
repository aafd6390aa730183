/**
 * The validator host's durable chain state: blocks with their commits, transaction results,
 * account sequences, contracts, codes, sealed contract state, sealed enclave blobs and the
 * consensus engine's signed state. The host is untrusted, so everything here is public or sealed
 * (ciphertext the enclave alone opens). It prepares every block's and query's enclave input and
 * plans every commit, on LevelDB in a node and on a simulated disk (./memory_disk.ts) in the
 * simulator, through one key-value seam (./kv.ts): one code path for both. One block is one
 * synchronous batch, so a crash leaves the old block or the new one, never part of one. Every value carries a checksum bound to its key and is shape-checked on
 * write and again on every read, so corrupt data fails loudly (StoreCorruptError) instead of being
 * served. Key layout: ./keys.ts and docs/storage.md.
 * @module
 */

import { hash as one_shot_hash } from 'node:crypto';
import type {
  AttestationPolicy,
  BlockInput,
  BlockOutput,
  BoundContract,
  QueryInput,
  StateEntry,
} from '../../enclave/api.js';
import { ENCLAVE_LIMITS } from '../../enclave/limits.js';
import { fee_pool_address } from '../../protocol/bank.js';
import { from_base64, to_base64, to_hex } from '../../protocol/bytes.js';
import { is_address_hex, is_hex64 } from '../../protocol/checks.js';
import { result_counted } from '../../protocol/codes.js';
import { is_scheme, type Scheme } from '../../protocol/envelope.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { native_provider } from '../../protocol/providers/native.js';
import {
  is_system_contract_name,
  SYSTEM_BINDING,
  SYSTEM_CREATOR,
  system_contract_address,
} from '../../protocol/system.js';
import { MalformedTxError, parse_tx_json, type Tx } from '../../protocol/tx.js';
import {
  type Block,
  block_hash,
  type Commit,
  commit_hash,
  GENESIS_PARENT_HASH,
  txs_hash,
} from '../consensus/types.js';
import type { BlockRecord, CodeRecord, TxRecord } from '../records.js';
import {
  base64,
  CODE_NAME_CHARS_MAX,
  check_block,
  check_block_record,
  chain_id as check_chain_id_shape,
  check_code_record,
  check_commit,
  check_contract_info,
  check_state_b64,
  check_tx_record,
  count,
  hex40,
  hex64,
  object,
  positive,
  ShapeError,
} from './checks.js';
import {
  CommitRejectedError,
  StoreClosedError,
  StoreCorruptError,
  StoreCursorError,
  StoreMismatchError,
  StoreOpenError,
} from './errors.js';
import {
  contract_index_keys,
  label_hash,
  type TxParties,
  tx_index_keys,
  tx_parties,
  tx_parties_of,
} from './indexes.js';
import {
  account_key,
  balance_key,
  block_key,
  check_address,
  code_key,
  contract_key,
  IDX,
  idx_contract_code_prefix,
  idx_contract_creator_prefix,
  idx_contract_label_prefix,
  idx_tx_contract_prefix,
  idx_tx_sender_prefix,
  KEYS,
  PREFIXES,
  parse_tx_position,
  parse_u64_hex,
  prefix_range,
  SEALED_NAME_RE,
  STORE_FORMAT,
  sealed_key,
  state_key,
  state_prefix,
  tx_key,
} from './keys.js';
import type { Kv, KvBatchOp } from './kv.js';
import { LevelKv } from './level_kv.js';

/** Longest stored value (checksum and JSON), in UTF-16 units: a full block, escaped, fits. */
export const STORE_VALUE_CHARS_MAX = 64 * 1024 * 1024;
/** Longest sealed enclave blob (base64 characters). */
export const SEALED_B64_CHARS_MAX = 64 * 1024;
/** Contract records kept in memory (a few hundred bytes each); all are forgotten at once past it. */
const CONTRACTS_CACHED_MAX = 10_000;
/** Code records kept in memory (each up to a store_code's size); all are forgotten at once past it. */
const CODES_CACHED_MAX = 32;
/** Committed account sequences, and balances, kept in memory (about 100 bytes each). */
const SEQUENCES_CACHED_MAX = 100_000;
/** Most codes one `list_codes` call returns; page with `after_code_id`. */
export const LIST_CODES_MAX = 1000;
/** Most genesis codes. */
export const GENESIS_CODES_MAX = ENCLAVE_LIMITS.block_codes_max;
/**
 * Most LevelDB operations one block's batch may hold (records, sequences, state writes): twice
 * what a block of 2e9 gas can write at 1,000 gas per storage write. Bounds the batch in memory.
 */
export const BLOCK_BATCH_OPS_MAX = 4_000_000;
/** Most contract state entries read for one contract: what the enclave accepts with a block. */
export const CONTRACT_STATE_ENTRIES_MAX = ENCLAVE_LIMITS.contract_state_entries_max;
/** Longest query payload (base64 characters): one transaction's worth. */
export const QUERY_PAYLOAD_CHARS_MAX = ENCLAVE_LIMITS.tx_bytes_max;

/**
 * Domain of the per-value checksum. Fixed since format 2: format 3 only added index keys, so a
 * format-2 store's values stay valid when it is upgraded (a new domain would change every value).
 */
const CHECKSUM_DOMAIN = 'cloister/store/v2\n';
/** Most texts the store's {@link tx_parties} memo holds: a few blocks' worth at the largest. */
const PARTIES_MEMO_MAX = 2 * ENCLAVE_LIMITS.block_txs_max;
/** The format a store is upgraded from on open (docs/storage.md "Format"). */
const UPGRADABLE_FORMAT = 2;
/** Operations per batch while an upgrade builds the indexes (the last batch is synced). */
const UPGRADE_BATCH_OPS = 10_000;

/** Most items one listing call returns, and its default (`list_contracts`, `list_txs`). */
export const LIST_LIMIT_MAX = 100;
export const LIST_LIMIT_DEFAULT = 20;
/**
 * Most keys one listing call scans. A filter the scanned index does not decide (e.g. `code_id`
 * while scanning a creator's contracts) may skip keys; past this many the call answers what it
 * found, perhaps nothing, with a cursor to go on from.
 */
export const LIST_SCAN_KEYS_MAX = 1000;
/** Longest cursor accepted (base64url characters): longer than any key a listing gives. */
const CURSOR_CHARS_MAX = 256;
const CURSOR_RE = /^[A-Za-z0-9_-]+$/;

/** Filters of {@link ChainStore.list_contracts}; all given ones must hold. */
export interface ContractFilter {
  code_id?: number | undefined;
  /** 40 lowercase hex. */
  creator?: string | undefined;
  /** Exact match. */
  label?: string | undefined;
}

/** Filters of {@link ChainStore.list_txs}: at least one; both given must hold. */
export interface TxFilter {
  /** The sender's account address, 40 lowercase hex. */
  sender?: string | undefined;
  /** The top-level target contract (docs/storage.md "Indexes"), 40 lowercase hex. */
  contract?: string | undefined;
}

/** A page of a listing: at most `limit` items (1..{@link LIST_LIMIT_MAX}) after `cursor`. */
export interface ListPage {
  limit?: number | undefined;
  /** From the previous page's answer; absent for the first page. */
  cursor?: string | null | undefined;
}

/** The opaque cursor of a listing: base64url (no padding) of the last key it scanned. */
function encode_cursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}
/** Hex characters of a value's checksum prefix. */
const CHECKSUM_CHARS = 64;

/** What a chain's genesis fixes for every block's execution (BlockInput's rules). */
export interface ChainRules {
  attestation: AttestationPolicy;
  /** protocol.md §9. */
  min_gas_price: number;
  /** A development network (protocol.md §9). */
  dev: boolean;
}

/** Most balances `init_genesis` takes. */
export const GENESIS_BALANCES_MAX = 10_000;

/** Options of {@link ChainStore.open}. */
export interface ChainStoreOptions {
  /** The chain this store belongs to: recorded at first open, checked at every later one. */
  chain_id: string;
}

/** Modules of {@link ChainStore.open}. */
export interface ChainStoreModules {
  /** Hashes for addresses and block hashes; `native` by default (the store is Node-only). */
  p?: CryptoProvider;
}

/** What {@link ChainStore.verify_all} read and checked. */
export interface StoreVerifyReport {
  keys: number;
  blocks: number;
  txs: number;
  accounts: number;
  /** Addresses holding a non-zero balance. */
  balances: number;
  contracts: number;
  codes: number;
  state_entries: number;
  sealed: number;
  /** Index entries (`idx/`), each checked against the records it indexes. */
  index_entries: number;
}

/** What a verify scan collects to check the indexes against the records afterwards. */
interface IndexCheck {
  /** Index key -> its decoded value. */
  found: Map<string, unknown>;
  /** Index key -> the value the records call for. */
  expected: Map<string, unknown>;
  /** `height/index` -> the hash and parties of the tx there. */
  positions: Map<string, { hash: string; parties: { sender: string; contract: string | null } | null }>;
  /** Counted tx records. */
  counted: { hash: string; height: number; index: number }[];
}

type BatchOp = KvBatchOp;

/** The chain id `opts` asks for, checked; null without opts. */
function wanted_chain_id(opts: ChainStoreOptions | undefined): string | null {
  if (opts === undefined) return null;
  if (typeof opts !== 'object' || opts === null) throw new TypeError('opts must be an object');
  return check_on_write(
    () => check_chain_id_shape(opts.chain_id, 'opts.chain_id'),
    (m) => new RangeError(m),
  );
}

/**
 * `hex(H(domain ‖ key ‖ "\n" ‖ json))`: catches a changed value and a value moved to another key.
 * Not a security measure (the host could recompute it); it stops disk faults and bugs from being
 * served as data.
 */
function checksum(key: string, json: string): string {
  // One-shot: the same bytes as four `update`s of a Hash object, without making one per record
  // (a block writes several records per transaction, and every read checks one).
  return one_shot_hash('sha256', `${CHECKSUM_DOMAIN}${key}\n${json}`, 'hex');
}

/**
 * The stored form of `value` under `key`: the 64-hex checksum, then the JSON text. Exported for
 * maintenance tools and tests that write raw records; TypeError if `value` is not JSON, RangeError
 * if the result would be over {@link STORE_VALUE_CHARS_MAX}.
 */
export function encode_value(key: string, value: unknown): string {
  const json = JSON.stringify(value);
  if (typeof json !== 'string') throw new TypeError(`value for ${key} is not JSON`);
  if (json.length + CHECKSUM_CHARS > STORE_VALUE_CHARS_MAX) {
    throw new RangeError(`value for ${key} is longer than ${STORE_VALUE_CHARS_MAX} characters`);
  }
  return checksum(key, json) + json;
}

/** Inverse of {@link encode_value}; StoreCorruptError if the checksum or JSON fails. */
function decode(key: string, raw: unknown): unknown {
  if (typeof raw !== 'string' || raw.length < CHECKSUM_CHARS) {
    throw new StoreCorruptError(key, 'value is too short to hold a checksum');
  }
  const json = raw.slice(CHECKSUM_CHARS);
  if (checksum(key, json) !== raw.slice(0, CHECKSUM_CHARS)) {
    throw new StoreCorruptError(key, 'checksum does not match the value');
  }
  try {
    return JSON.parse(json) as unknown;
  } catch (error) {
    throw new StoreCorruptError(key, 'value is not JSON', { cause: error });
  }
}

/** Runs a shape check on data about to be written; a failure is the caller's: `make` its error. */
function check_on_write<T>(
  check: () => T,
  make: (message: string) => Error = (m) => new CommitRejectedError(m),
): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof ShapeError) throw make(error.message);
    throw error;
  }
}

/**
 * A record that is never rewritten once committed, through `cache` (at most `entries_max`; all
 * are forgotten at once past it): found ones are kept, absent ones are not (they may be written
 * later). Each caller gets its own shallow copy.
 */
async function read_kept<K, V extends object>(
  cache: Map<K, V>,
  key: K,
  entries_max: number,
  read: () => Promise<V | null>,
): Promise<V | null> {
  const cached = cache.get(key);
  if (cached !== undefined) return { ...cached };
  const record = await read();
  if (record === null) return null;
  if (cache.size >= entries_max) cache.clear();
  cache.set(key, { ...record });
  return record;
}

/** Sets `key` in a cache of at most {@link SEQUENCES_CACHED_MAX} entries; past it the oldest goes. */
function cache_bounded(cache: Map<string, number>, key: string, value: number): void {
  // Map order is insertion order, so the first key is the oldest.
  if (!cache.has(key) && cache.size >= SEQUENCES_CACHED_MAX) {
    const oldest = cache.keys().next();
    if (oldest.done !== true) cache.delete(oldest.value);
  }
  cache.set(key, value);
}

/** Freezes a JSON value in depth: the cached last block is shared with callers. */
function deep_freeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deep_freeze(child);
    Object.freeze(value);
  }
  return value;
}

/** A refused transaction (protocol/codes.ts `result_counted`) did not advance a sequence, so it may count later. */
function counted(record: TxRecord): boolean {
  return result_counted(record.code, record.gas_used);
}

/**
 * The host's chain state of one validator, on LevelDB ({@link ChainStore.open}) or any other
 * key-value database ({@link ChainStore.open_kv}): one code path for both.
 */
export class ChainStore {
  readonly #db: Kv;
  readonly #p: CryptoProvider;
  #chain_id: string | null = null;
  #height = 0;
  /**
   * Committed sequences read or written, by address: the mempool asks for one per submitted
   * transaction, and a LevelDB read each time was a large share of a loaded node's host work.
   * Entries are updated only after a commit's batch is durable and read back; a read that a
   * commit overtook (`#commits` moved on) is not cached, since it may predate the commit.
   */
  readonly #sequences = new Map<string, number>();
  /**
   * Committed balances read or written, by address, kept as {@link #sequences} is: every block's
   * input reads the balance of each sender, contract and the fee pool, and its commit reads them
   * again to check the block moves tokens without minting any. Genesis, the only other writer of
   * balances, empties it.
   */
  readonly #balances = new Map<string, number>();
  /** Contract records found, by address (see `#read_contract`). */
  readonly #contracts = new Map<string, BoundContract>();
  /** Code records found, by id (see `#read_code`). */
  readonly #codes = new Map<number, CodeRecord>();
  /**
   * {@link tx_parties} by exact transaction text, for the texts block inputs parsed since the last
   * commit: a block's commit indexes its transactions by sender and contract, which `block_input`
   * already parsed and hashed out of the same texts, so the commit need not parse and hash each
   * one again. A pure function of the text, so any entry is right; emptied by every commit and
   * before it would hold more than {@link PARTIES_MEMO_MAX} texts, to bound its memory.
   */
  readonly #parties = new Map<string, TxParties | null>();
  /** Account addresses by sender public key (hex), for {@link tx_parties_of}; bounded as `#parties`. */
  readonly #addresses = new Map<string, string>();
  /** Commits done: bumps invalidate cache fills by reads that started before them. */
  #commits = 0;
  #next_code_id = 1;
  #last: BlockRecord | null = null;
  /** Why the store no longer serves (closed, or a failed read-back), or null while it does. */
  #stopped: string | null = null;
  /** What opening upgraded (see {@link ChainStore.upgraded}). */
  #upgraded: { from: number; contracts: number; txs: number } | null = null;
  /**
   * Tail of the queue of operations that need one consistent view: commits, genesis, and block
   * and query inputs (which read several keys, so must not see half of a commit's caches).
   */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(db: Kv, p: CryptoProvider) {
    this.#db = db;
    this.#p = p;
  }

  /**
   * Opens (creating if missing) the store in folder `path`, on LevelDB. With `opts.chain_id`, a
   * new store records it and an existing one must hold it (StoreMismatchError otherwise). Reads
   * back and checks the meta records and the last block: StoreCorruptError if they fail,
   * StoreOpenError if LevelDB cannot open the folder (e.g. another process holds it).
   */
  static async open(
    path: string,
    opts?: ChainStoreOptions,
    modules: ChainStoreModules = {},
  ): Promise<ChainStore> {
    if (typeof path !== 'string' || path.length === 0) throw new TypeError('path must be a non-empty string');
    const wanted = wanted_chain_id(opts);
    const db: Kv = new LevelKv(path);
    return ChainStore.#open_on(db, `at ${path}`, wanted, modules);
  }

  /**
   * Opens the store on any key-value database `kv` (./kv.ts; e.g. a handle of a simulated disk,
   * ./memory_disk.ts), not yet open: the same store, checks and commit path as {@link open}, which
   * is this over LevelDB. The store owns `kv` from here: it opens it, and closes it in `close`
   * (or when opening fails). Errors as {@link open}.
   */
  static async open_kv(
    kv: Kv,
    opts?: ChainStoreOptions,
    modules: ChainStoreModules = {},
  ): Promise<ChainStore> {
    if (typeof kv !== 'object' || kv === null || typeof kv.open !== 'function')
      throw new TypeError('kv must be a key-value database (node/store/kv.ts)');
    return ChainStore.#open_on(kv, 'on its database', wanted_chain_id(opts), modules);
  }

  /** Opens `db` and loads the store from it; `where` names the database in StoreOpenError. */
  static async #open_on(
    db: Kv,
    where: string,
    wanted: string | null,
    modules: ChainStoreModules,
  ): Promise<ChainStore> {
    const p = modules.p ?? native_provider;
    try {
      await db.open();
    } catch (error) {
      const reason = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
      throw new StoreOpenError(`cannot open store ${where}: ${reason}`, { cause: error });
    }
    const store = new ChainStore(db, p);
    try {
      await store.#load(wanted);
    } catch (error) {
      await db.close().catch(() => undefined);
      throw error;
    }
    return store;
  }

  /** Loads and checks the meta records and the last block; initializes an empty store. */
  async #load(wanted: string | null): Promise<void> {
    const db = this.#db;
    if ((await db.get(KEYS.format)) === undefined) {
      for await (const key of db.keys({ limit: 1 })) {
        throw new StoreCorruptError(null, `the store holds data (${key}) but no format marker`);
      }
      const ops: BatchOp[] = [
        { type: 'put', key: KEYS.format, value: encode_value(KEYS.format, STORE_FORMAT) },
        { type: 'put', key: KEYS.height, value: encode_value(KEYS.height, 0) },
        { type: 'put', key: KEYS.next_code_id, value: encode_value(KEYS.next_code_id, 1) },
      ];
      await db.batch(ops, { sync: true });
    }
    const format = await this.#read(KEYS.format, (v) => v);
    if (format !== STORE_FORMAT && format !== UPGRADABLE_FORMAT)
      throw new StoreCorruptError(
        KEYS.format,
        `unknown store format ${String(format)} (this version reads ${UPGRADABLE_FORMAT} and ${STORE_FORMAT}): re-initialize the data folder`,
      );

    const stored_chain_id = await this.#read(KEYS.chain_id, (v) => check_chain_id_shape(v));
    if (wanted !== null && stored_chain_id !== null && stored_chain_id !== wanted) {
      throw new StoreMismatchError(`the store belongs to chain ${stored_chain_id}, not ${wanted}`);
    }
    this.#chain_id = wanted ?? stored_chain_id;

    const height = await this.#read(KEYS.height, (v) => count(v, 'height'));
    const next_code_id = await this.#read(KEYS.next_code_id, (v) => positive(v, 'next_code_id'));
    if (height === null) throw new StoreCorruptError(KEYS.height, 'missing');
    if (next_code_id === null) throw new StoreCorruptError(KEYS.next_code_id, 'missing');

    if (height > 0) {
      const last = await this.#read_block(height);
      if (last === null)
        throw new StoreCorruptError(block_key(height), 'the committed height names a missing block');
      if (this.#chain_id !== null && last.block.header.chain_id !== this.#chain_id) {
        throw new StoreCorruptError(block_key(height), 'block of another chain');
      }
      this.#chain_id ??= last.block.header.chain_id;
      this.#last = deep_freeze(last);
    }
    // A block above the committed height, or a code at or above the next id, would mean the
    // meta records were rolled back or damaged: the batches write them together.
    if ((await db.get(block_key(height + 1))) !== undefined) {
      throw new StoreCorruptError(block_key(height + 1), 'a block above the committed height');
    }
    if ((await db.get(code_key(next_code_id))) !== undefined) {
      throw new StoreCorruptError(code_key(next_code_id), 'a code at the next code id');
    }
    if (next_code_id > 1 && (await this.#read_code(next_code_id - 1)) === null) {
      throw new StoreCorruptError(code_key(next_code_id - 1), 'the last code id names a missing code');
    }
    // Only a store that passed every check learns its chain id.
    if (wanted !== null && stored_chain_id === null) {
      await db.put(KEYS.chain_id, encode_value(KEYS.chain_id, wanted), { sync: true });
    }
    if (format === UPGRADABLE_FORMAT) this.#upgraded = await this.#build_indexes(height);
    this.#height = height;
    this.#next_code_id = next_code_id;
  }

  /**
   * Upgrades a format-2 store to format 3: writes the index entries of every contract record and
   * every counted transaction of blocks 1..height, in batches, then the format marker in a last
   * synced batch. A crash before that leaves format 2 and some index entries, which the next open
   * writes again (they are derived from the records, so the same keys and values).
   */
  async #build_indexes(height: number): Promise<{ from: number; contracts: number; txs: number }> {
    let ops: BatchOp[] = [];
    const flush = async (sync: boolean) => {
      if (ops.length > 0) await this.#db.batch(ops, { sync });
      ops = [];
    };
    let contracts = 0;
    let txs = 0;
    for await (const [key, raw] of this.#db.iterator(prefix_range(PREFIXES.contract))) {
      const address = hex40_key(key, key.slice(PREFIXES.contract.length));
      const info = this.#decode(key, raw, (v) => this.#contract_check(v, address));
      for (const k of contract_index_keys(this.#p, info)) ops.push(index_op(k, true));
      contracts++;
      if (ops.length >= UPGRADE_BATCH_OPS) await flush(false);
    }
    for (let h = 1; h <= height; h++) {
      const block = await this.#read_block(h);
      if (block === null) throw new StoreCorruptError(block_key(h), 'a committed block is missing');
      for (const [i, hash] of block.tx_hashes.entries()) {
        const record = await this.#read_tx(hash);
        if (record === null || record.height !== h || record.index !== i || !counted(record)) continue;
        const parties = tx_parties(this.#p, block.block.txs[i]!);
        if (parties === null) continue;
        for (const k of tx_index_keys(parties, h, i)) ops.push(index_op(k, hash));
        txs++;
      }
      if (ops.length >= UPGRADE_BATCH_OPS) await flush(false);
    }
    ops.push({ type: 'put', key: KEYS.format, value: encode_value(KEYS.format, STORE_FORMAT) });
    await flush(true);
    return { from: UPGRADABLE_FORMAT, contracts, txs };
  }

  /**
   * Whether this open upgraded the store (from format 2, building its indexes) and what it
   * indexed; null when the store already had format 3 or was new.
   */
  upgraded(): { from: number; contracts: number; txs: number } | null {
    return this.#upgraded === null ? null : { ...this.#upgraded };
  }

  /** Closes the store after the operations already queued; later calls throw StoreClosedError. */
  async close(): Promise<void> {
    if (this.#stopped !== null && this.#db.status !== 'open') return;
    await this.#queue.catch(() => undefined);
    this.#stopped ??= 'the store is closed';
    await this.#db.close();
  }

  /** The chain id this store belongs to, or null if none was given and no block is committed yet. */
  chain_id(): string | null {
    return this.#chain_id;
  }

  /** Last committed height (0 before the first block); in memory, loaded at open. */
  height(): number {
    return this.#height;
  }

  /** Last committed block record, cached and deeply frozen (read-only). */
  last_block(): BlockRecord | null {
    return this.#last;
  }

  /** The block record at `height`, or null above the committed height (and at 0). */
  async get_block(height: number): Promise<BlockRecord | null> {
    this.#assert_open();
    if (typeof height !== 'number') throw new TypeError('height must be a number');
    if (!Number.isSafeInteger(height) || height < 0)
      throw new RangeError('height must be a non-negative safe integer');
    if (height === 0 || height > this.#height) return null;
    const record = await this.#read_block(height);
    if (record === null) throw new StoreCorruptError(block_key(height), 'a committed block is missing');
    return record;
  }

  /** A committed transaction's record by its hash (64 hex), or null. */
  async get_tx(hash: string): Promise<TxRecord | null> {
    this.#assert_open();
    const key = tx_key(hash);
    return this.#read(key, (v) => {
      const record = check_tx_record(v);
      if (record.hash !== hash) throw new ShapeError('record of another tx');
      if (record.height > this.#height) throw new ShapeError('record above the committed height');
      return record;
    });
  }

  /** An account's committed sequence (0 if it never sent a counted transaction). */
  async get_account_sequence(address: string): Promise<number> {
    this.#assert_open();
    const cached = this.#sequences.get(address);
    if (cached !== undefined) return cached;
    const commits = this.#commits;
    const sequence = (await this.#read(account_key(address), (v) => count(v, 'sequence'))) ?? 0;
    if (commits === this.#commits) this.#cache_sequence(address, sequence);
    return sequence;
  }

  /** An address's committed balance in ucst (protocol.md §9); 0 if it never held any. */
  async get_balance(address: string): Promise<number> {
    this.#assert_open();
    const cached = this.#balances.get(address);
    if (cached !== undefined) return cached;
    const commits = this.#commits;
    const balance = (await this.#read(balance_key(address), (v) => positive(v, 'balance'))) ?? 0;
    if (commits === this.#commits) cache_bounded(this.#balances, address, balance);
    return balance;
  }

  #cache_sequence(address: string, sequence: number): void {
    cache_bounded(this.#sequences, address, sequence);
  }

  /** A contract's public facts, or null if there is no contract at `address`. */
  async get_contract(address: string): Promise<BoundContract | null> {
    this.#assert_open();
    return this.#read_contract(address);
  }

  /** A stored code by id, or null. */
  async get_code(code_id: number): Promise<CodeRecord | null> {
    this.#assert_open();
    if (typeof code_id !== 'number') throw new TypeError('code_id must be a number');
    if (!Number.isSafeInteger(code_id) || code_id < 0)
      throw new RangeError('code_id must be a non-negative safe integer');
    if (code_id === 0 || code_id >= this.#next_code_id) return null;
    return this.#read_code(code_id);
  }

  /**
   * Stored codes by code id, at most `limit` (≤ {@link LIST_CODES_MAX}, its default) with ids
   * above `after_code_id` (default 0): the genesis reference contracts come first.
   */
  async list_codes(opts: { after_code_id?: number; limit?: number } = {}): Promise<CodeRecord[]> {
    this.#assert_open();
    const after = opts.after_code_id ?? 0;
    const limit = opts.limit ?? LIST_CODES_MAX;
    if (typeof after !== 'number' || typeof limit !== 'number')
      throw new TypeError('after_code_id and limit must be numbers');
    if (!Number.isSafeInteger(after) || after < 0)
      throw new RangeError('after_code_id must be a non-negative safe integer');
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIST_CODES_MAX) {
      throw new RangeError(`limit must be 1..${LIST_CODES_MAX}`);
    }
    const out: CodeRecord[] = [];
    const range = prefix_range(PREFIXES.code);
    for await (const [key, raw] of this.#db.iterator({ gt: code_key(after), lt: range.lt, limit })) {
      const id = parse_u64_hex(key.slice(PREFIXES.code.length));
      if (id === null) throw new StoreCorruptError(key, 'not a code key');
      const expected = after + out.length + 1;
      if (id !== expected)
        throw new StoreCorruptError(key, `code ids are not contiguous (expected ${expected})`);
      out.push(this.#decode(key, raw, (v) => this.#code_check(v, id)));
    }
    return out;
  }

  /** A contract's sealed state entries, sorted by hidden key (LevelDB key order). */
  async contract_state(address: string): Promise<StateEntry[]> {
    this.#assert_open();
    return this.#read_state(address);
  }

  /** The id the next stored code gets. */
  next_code_id(): number {
    return this.#next_code_id;
  }

  /**
   * Stores the genesis codes as ids 1..n in one synchronous batch if the store holds no code;
   * otherwise checks that ids 1..n hold exactly these codes and names (StoreMismatchError if not).
   */
  async init_genesis(
    codes: { name: string; code: Uint8Array }[],
    balances: Readonly<Record<string, number>> = {},
  ): Promise<void> {
    if (!Array.isArray(codes)) throw new TypeError('codes must be an array');
    const balance_ops = this.#genesis_balance_ops(balances);
    if (codes.length > GENESIS_CODES_MAX) throw new RangeError(`at most ${GENESIS_CODES_MAX} genesis codes`);
    const records: CodeRecord[] = codes.map((c, i) => {
      if (typeof c !== 'object' || c === null || !(c.code instanceof Uint8Array)) {
        throw new TypeError(`codes[${i}] must be { name, code: Uint8Array }`);
      }
      if (typeof c.name !== 'string' || c.name.length === 0 || c.name.length > CODE_NAME_CHARS_MAX) {
        throw new RangeError(`codes[${i}].name must be 1-${CODE_NAME_CHARS_MAX} characters`);
      }
      const record: CodeRecord = {
        code_id: i + 1,
        code_hash: to_hex(this.#p.sha256(c.code)),
        code: to_base64(c.code),
        name: c.name,
      };
      return check_on_write(
        () => this.#code_check(record, i + 1),
        (m) => new RangeError(m),
      );
    });
    await this.#exclusive(async () => {
      this.#assert_open();
      if (this.#height === 0 && (await this.#db.get(KEYS.genesis)) === undefined) {
        // Balances and codes in one batch with the marker: a crash leaves all of genesis or none.
        if (this.#next_code_id !== 1) throw new StoreMismatchError('codes stored before genesis');
        const ops: BatchOp[] = records.map((r) => ({
          type: 'put',
          key: code_key(r.code_id),
          value: encode_value(code_key(r.code_id), r),
        }));
        ops.push({
          type: 'put',
          key: KEYS.next_code_id,
          value: encode_value(KEYS.next_code_id, records.length + 1),
        });
        ops.push(...this.#system_contract_ops(records));
        ops.push(...balance_ops, { type: 'put', key: KEYS.genesis, value: encode_value(KEYS.genesis, true) });
        // Genesis writes balances: a balance read overlapping the write is not cached, and none
        // cached before it (0, the balance of an address that never held any) stays.
        this.#commits++;
        try {
          await this.#db.batch(ops, { sync: true });
        } finally {
          this.#balances.clear();
          this.#commits++;
        }
        for (const r of records) {
          const back = await this.#read_code(r.code_id);
          if (back === null || back.code_hash !== r.code_hash) {
            this.#stop('genesis code read-back failed');
            throw new StoreCorruptError(code_key(r.code_id), 'genesis code did not read back');
          }
        }
        this.#next_code_id = records.length + 1;
        return;
      }
      for (const r of records) {
        const stored = r.code_id < this.#next_code_id ? await this.#read_code(r.code_id) : null;
        if (stored === null || stored.code_hash !== r.code_hash || stored.name !== r.name) {
          throw new StoreMismatchError(`code ${r.code_id} (${r.name}) in the store differs from genesis`);
        }
      }
    });
  }

  /**
   * The contract records of the system contracts among the genesis codes (protocol/system.ts):
   * each lives at the address its code hash names, with empty state, no creator and no binding MAC.
   */
  #system_contract_ops(records: readonly CodeRecord[]): BatchOp[] {
    return records
      .filter((r) => is_system_contract_name(r.name))
      .flatMap((r) => {
        const address = system_contract_address(this.#p, r.code_hash);
        const info: BoundContract = {
          address,
          code_id: r.code_id,
          code_hash: r.code_hash,
          label: r.name ?? 'system',
          creator: SYSTEM_CREATOR,
          binding: SYSTEM_BINDING,
        };
        const key = contract_key(address);
        return [
          { type: 'put', key, value: encode_value(key, check_contract_info(info)) } as BatchOp,
          ...contract_index_keys(this.#p, info).map((k) => index_op(k, true)),
        ];
      });
  }

  /** The genesis balances as batch operations; RangeError/TypeError for a bad list. */
  #genesis_balance_ops(balances: Readonly<Record<string, number>>): BatchOp[] {
    if (typeof balances !== 'object' || balances === null) throw new TypeError('balances must be an object');
    const entries = Object.entries(balances);
    if (entries.length > GENESIS_BALANCES_MAX)
      throw new RangeError(`at most ${GENESIS_BALANCES_MAX} genesis balances`);
    let total = 0;
    const ops: BatchOp[] = [];
    for (const [address, amount] of entries) {
      const key = balance_key(address);
      if (!Number.isSafeInteger(amount) || amount < 0)
        throw new RangeError(`balance of ${address} must be a safe integer`);
      total += amount;
      // protocol.md §9: every amount is below 2^53, so the sum of all balances must be too.
      if (!Number.isSafeInteger(total)) throw new RangeError('genesis balances sum to 2^53 or more');
      if (amount > 0) ops.push({ type: 'put', key, value: encode_value(key, amount) });
    }
    return ops;
  }

  /**
   * Prepares the enclave input for the next block: the committed sequence of every sender, and
   * every contract an `execute` names with its code and all its sealed state, and the code every
   * `instantiate` names. Malformed transactions are passed on
   * untouched for the enclave to refuse. `header.height` must be height() + 1.
   */
  async block_input(
    txs: string[],
    header: { chain_id: string; height: number; time_ms: number; random_seed: string },
    rules: ChainRules,
  ): Promise<BlockInput> {
    if (!Array.isArray(txs) || txs.some((t) => typeof t !== 'string'))
      throw new TypeError('txs must be strings');
    if (txs.length > ENCLAVE_LIMITS.block_txs_max)
      throw new RangeError(`at most ${ENCLAVE_LIMITS.block_txs_max} txs`);
    if (typeof header !== 'object' || header === null) throw new TypeError('header must be an object');
    const chain_id = check_on_write(
      () => check_chain_id_shape(header.chain_id, 'header.chain_id'),
      (m) => new RangeError(m),
    );
    check_on_write(
      () => count(header.time_ms, 'header.time_ms'),
      (m) => new RangeError(m),
    );
    const random_seed = check_on_write(
      () => hex64(header.random_seed, 'header.random_seed'),
      (m) => new TypeError(m),
    );
    if (typeof rules !== 'object' || rules === null || typeof rules.attestation !== 'object')
      throw new TypeError('rules must carry the attestation policy');
    if (!Number.isSafeInteger(rules.min_gas_price) || rules.min_gas_price < 0)
      throw new RangeError('rules.min_gas_price must be a non-negative safe integer');
    return this.#exclusive(async () => {
      this.#assert_open();
      if (this.#chain_id !== null && chain_id !== this.#chain_id) {
        throw new RangeError(`header.chain_id ${chain_id} is not this store's chain ${this.#chain_id}`);
      }
      if (header.height !== this.#height + 1) {
        throw new RangeError(`header.height must be ${this.#height + 1}, got ${String(header.height)}`);
      }
      const accounts: Record<string, number> = {};
      const input: BlockInput = {
        chain_id,
        height: header.height,
        time_ms: header.time_ms,
        random_seed,
        txs,
        accounts,
        balances: {},
        min_gas_price: rules.min_gas_price,
        dev: rules.dev === true,
        contracts: {},
        no_contract: [],
        codes: {},
        state: {},
        next_code_id: this.#next_code_id,
        attestation: rules.attestation,
      };
      const contracts = new Set<string>();
      const balances = new Set<string>([fee_pool_address(this.#p)]);
      if (this.#parties.size + txs.length > PARTIES_MEMO_MAX) this.#parties.clear();
      if (this.#addresses.size + txs.length > PARTIES_MEMO_MAX) this.#addresses.clear();
      for (const raw of txs) {
        let tx: Tx;
        try {
          tx = parse_tx_json(raw);
        } catch (error) {
          if (error instanceof MalformedTxError) {
            this.#parties.set(raw, null);
            continue;
          }
          throw error;
        }
        const parties = tx_parties_of(this.#p, tx, this.#addresses);
        this.#parties.set(raw, parties);
        const { sender } = parties;
        if (!Object.hasOwn(accounts, sender)) accounts[sender] = await this.get_account_sequence(sender);
        balances.add(sender);
        const msg = tx.body.msg;
        if (msg.type === 'execute') {
          contracts.add(msg.contract);
          balances.add(msg.contract);
        } else if (msg.type === 'instantiate') {
          await this.#add_code(input, msg.code_id);
          // Tokens may have been sent to the address before the contract exists.
          balances.add(parties.contract!);
        } else if (msg.type === 'send') {
          balances.add(msg.to);
        }
      }
      await this.#add_lookups(input, { contracts: [...contracts], balances: [...balances] });
      return input;
    });
  }

  /**
   * Answers an execution's BlockOutput.need: adds each contract (its record, code and state, or
   * its address to `no_contract`) and each balance to a copy of `input`. The store must still be
   * at the height `input` was prepared at.
   */
  async extend_input(
    input: BlockInput,
    need: { contracts: string[]; balances: string[] },
  ): Promise<BlockInput> {
    if (!Array.isArray(need?.contracts) || !Array.isArray(need.balances))
      throw new TypeError('need must list contracts and balances');
    return this.#exclusive(async () => {
      this.#assert_open();
      if (input.height !== this.#height + 1)
        throw new RangeError(`input is for height ${input.height}, the store is at ${this.#height}`);
      const next: BlockInput = {
        ...input,
        balances: { ...input.balances },
        contracts: { ...input.contracts },
        no_contract: [...input.no_contract],
        codes: { ...input.codes },
        state: { ...input.state },
      };
      await this.#add_lookups(next, need);
      return next;
    });
  }

  /** Adds balances, then contracts (with code, state and balance), to `input`, each once. */
  async #add_lookups(input: BlockInput, need: { contracts: string[]; balances: string[] }): Promise<void> {
    for (const address of need.balances) {
      check_address(address);
      if (!Object.hasOwn(input.balances, address)) input.balances[address] = await this.get_balance(address);
    }
    for (const address of need.contracts) {
      check_address(address);
      if (Object.hasOwn(input.contracts, address) || input.no_contract.includes(address)) continue;
      const info = await this.#read_contract(address);
      if (info === null) {
        input.no_contract.push(address);
        continue;
      }
      input.contracts[address] = info;
      input.state[address] = await this.#read_state(address);
      await this.#add_code(input, info.code_id);
      if (!Object.hasOwn(input.balances, address)) input.balances[address] = await this.get_balance(address);
    }
  }

  async #add_code(input: BlockInput, code_id: number): Promise<void> {
    if (Object.hasOwn(input.codes, String(code_id))) return;
    const code = code_id >= 1 && code_id < this.#next_code_id ? await this.#read_code(code_id) : null;
    if (code !== null) input.codes[String(code.code_id)] = code.code;
  }

  /**
   * Prepares a query input at the committed height; null if there is no contract at `address`.
   * With `block_time`, the query sees the committed block's time, read with the height under the
   * same lock, and `time_ms` serves only before the first block (a node passes its genesis time):
   * a contract's `ctx.time_ms` is consensus time in a query as in a transaction.
   */
  async query_input(
    address: string,
    scheme: Scheme,
    payload: string,
    time_ms: number,
    opts: { dev?: boolean; block_time?: boolean } = {},
  ): Promise<QueryInput | null> {
    check_address(address);
    if (!is_scheme(scheme)) throw new TypeError('scheme must be "gcm" or "siv"');
    if (typeof payload !== 'string') throw new TypeError('payload must be a string');
    if (payload.length > QUERY_PAYLOAD_CHARS_MAX)
      throw new RangeError(`payload is longer than ${QUERY_PAYLOAD_CHARS_MAX} characters`);
    check_on_write(
      () => count(time_ms, 'time_ms'),
      (m) => new RangeError(m),
    );
    return this.#exclusive(async () => {
      this.#assert_open();
      const contract = await this.#read_contract(address);
      if (contract === null) return null;
      const code = await this.#read_code(contract.code_id);
      if (code === null)
        throw new StoreCorruptError(code_key(contract.code_id), `contract ${address} has no code`);
      const chain_id = this.#chain_id;
      if (chain_id === null) throw new StoreCorruptError(KEYS.chain_id, 'a contract exists but no chain id');
      return {
        chain_id,
        height: this.#height,
        time_ms: opts.block_time === true ? (this.#last?.block.header.time_ms ?? time_ms) : time_ms,
        contract,
        balance: await this.get_balance(address),
        ...(opts.dev === true ? { dev: true } : {}),
        code: code.code,
        state: await this.#read_state(address),
        scheme,
        payload,
      };
    });
  }

  /**
   * Commits one block in ONE synchronous LevelDB batch: block record, every TxRecord (by hash,
   * with height and index), account sequences, new contracts, stored codes (bytes from the
   * store_code txs), state writes, next_code_id and height. Validates everything first and writes
   * nothing if a check fails (CommitRejectedError): the block must extend the last one (height,
   * parent hash, last commit), its hash, txs hash and commit must match, `input` must be this
   * store's input for exactly these txs, and `output` the enclave's output for it. Reads back the
   * height and the block record afterwards (StoreCorruptError if they differ; the store stops).
   */
  async commit_block(args: {
    block: Block;
    commit: Commit;
    block_hash: string;
    input: BlockInput;
    output: BlockOutput;
  }): Promise<void> {
    if (typeof args !== 'object' || args === null) throw new TypeError('args must be an object');
    await this.#exclusive(async () => {
      this.#assert_open();
      // Whatever happens, the next height's inputs parse other texts.
      const ops = await this.#commit_ops(args).finally(() => this.#parties.clear());
      this.#commits++;
      await this.#db.batch(ops.batch, { sync: true });
      await this.#read_back_commit(ops.height, ops.block_value, ops.next_code_id, ops.chain_id);
      for (const [address, sequence] of ops.sequences) this.#cache_sequence(address, sequence);
      for (const [address, balance] of ops.balances) cache_bounded(this.#balances, address, balance);
      // Bumped on both sides of the write: a read overlapping any part of it is not cached.
      this.#commits++;
    });
  }

  /** Checks a commit and builds its batch; throws CommitRejectedError before anything is written. */
  async #commit_ops(args: {
    block: Block;
    commit: Commit;
    block_hash: string;
    input: BlockInput;
    output: BlockOutput;
  }) {
    const reject = (message: string): never => {
      throw new CommitRejectedError(message);
    };
    const block = check_on_write(() => check_block(args.block));
    const commit = check_on_write(() => check_commit(args.commit));
    const hash = check_on_write(() => hex64(args.block_hash, 'block_hash'));
    const input = check_on_write(() => object(args.input, 'input')) as unknown as BlockInput;
    const output = check_on_write(() => object(args.output, 'output')) as unknown as BlockOutput;
    const { header } = block;
    const height = this.#height + 1;

    // The block extends this store's chain.
    if (header.height !== height) reject(`block height ${header.height} does not follow ${this.#height}`);
    if (this.#chain_id !== null && header.chain_id !== this.#chain_id)
      reject(`block of chain ${header.chain_id}`);
    if (block_hash(this.#p, header) !== hash) reject('block_hash is not the hash of the header');
    if (commit.block_hash !== hash || commit.height !== height) reject('commit is not for this block');
    const parent = this.#last?.block_hash ?? GENESIS_PARENT_HASH;
    if (header.prev_block_hash !== parent) reject('prev_block_hash is not the last block');
    if (header.txs_hash !== txs_hash(this.#p, block.txs)) reject('txs_hash does not match the txs');
    if (header.last_commit_hash !== commit_hash(this.#p, block.last_commit))
      reject('last_commit_hash mismatch');
    if (this.#last !== null && block.last_commit?.block_hash !== this.#last.block_hash) {
      reject('last_commit is not for the last block');
    }

    // The input is this store's input for these txs, and the output the enclave's for it.
    if (
      !Array.isArray(input.txs) ||
      input.txs.length !== block.txs.length ||
      input.txs.some((t, i) => t !== block.txs[i])
    ) {
      reject('input.txs differ from block.txs');
    }
    if (input.chain_id !== header.chain_id || input.height !== height || input.time_ms !== header.time_ms) {
      reject('input is not for this block header');
    }
    if (input.next_code_id !== this.#next_code_id)
      reject('input was prepared from another state (next_code_id)');
    if (!Array.isArray(output.results) || output.results.length !== block.txs.length) {
      reject('output.results must have one result per tx');
    }
    if (output.result_hash !== header.result_hash) reject('output.result_hash is not the header result_hash');

    const batch: BatchOp[] = [];
    const put = (key: string, value: unknown) =>
      batch.push({ type: 'put', key, value: encode_value(key, value) });

    // Codes: consecutive ids from next_code_id, bytes from the store_code tx that made each.
    let next_code_id = this.#next_code_id;
    const new_codes = new Map<number, CodeRecord>();
    const tx_records = new Map<string, TxRecord>();
    for (let index = 0; index < output.results.length; index++) {
      const r = check_on_write(() =>
        object(output.results[index], `output.results[${index}]`),
      ) as unknown as BlockOutput['results'][number];
      const record: TxRecord = {
        hash: r.hash,
        height,
        index,
        code: r.code,
        gas_used: r.gas_used,
        output: r.output,
      };
      if (r.contract !== undefined) record.contract = r.contract;
      if (r.code_id !== undefined) record.code_id = r.code_id;
      if (r.events !== undefined) {
        if (r.code !== 0) reject(`results[${index}] lists events but did not succeed`);
        record.events = r.events;
      }
      check_on_write(() => check_tx_record(record, `output.results[${index}]`));
      if (r.code_id !== undefined) {
        if (r.code_id !== next_code_id)
          reject(`stored code id ${r.code_id} is not the next id ${next_code_id}`);
        const code = this.#store_code_bytes(block.txs[index]!, index);
        const code_hash = to_hex(this.#p.sha256(from_base64(code)));
        if (r.code_hash !== code_hash) reject(`results[${index}].code_hash is not the hash of its code`);
        const code_record: CodeRecord = { code_id: r.code_id, code_hash, code };
        check_on_write(() => this.#code_check(code_record, r.code_id!));
        new_codes.set(r.code_id, code_record);
        put(code_key(r.code_id), code_record);
        next_code_id++;
      }
      // Keep the record of the occurrence that counted: a replay of a committed tx is refused
      // (code 5) and must not hide the original result; a refused one may count later. An
      // occurrence that counts is the first to (its sequence was unused), so only a refused one
      // needs the earlier record looked up, which spares a read per transaction.
      if (counted(record)) {
        tx_records.set(record.hash, record);
      } else {
        const prior = tx_records.get(record.hash) ?? (await this.#read_tx(record.hash));
        if (prior === null || !counted(prior)) tx_records.set(record.hash, record);
      }
    }
    for (const [hash_key, record] of tx_records) {
      put(tx_key(hash_key), record);
      // Indexes list the occurrence that counted, which no later occurrence replaces; a refused
      // one is not listed (its sender is not even proven for code 4).
      if (!counted(record)) continue;
      const raw = block.txs[record.index]!;
      const memo = this.#parties.get(raw);
      const parties = memo !== undefined ? memo : tx_parties(this.#p, raw);
      if (parties !== null)
        for (const k of tx_index_keys(parties, record.height, record.index)) put(k, record.hash);
    }
    const listed = Array.isArray(output.codes) ? output.codes : reject('output.codes must be a list');
    const derived = [...new_codes.values()].map((c) => ({ code_id: c.code_id, code_hash: c.code_hash }));
    if (JSON.stringify(listed) !== JSON.stringify(derived)) reject('output.codes do not match the results');

    // Accounts: sequences never go back (replay protection rests on them).
    const accounts = check_on_write(() => object(output.accounts, 'output.accounts'));
    const sequences = new Map<string, number>();
    for (const [address, value] of Object.entries(accounts)) {
      check_on_write(() => hex40(address, 'output.accounts key'));
      const sequence = check_on_write(() => count(value, `output.accounts[${address}]`));
      const before = await this.get_account_sequence(address);
      if (sequence < before) reject(`sequence of ${address} would go back from ${before} to ${sequence}`);
      put(account_key(address), sequence);
      sequences.set(address, sequence);
    }

    const balances = await this.#balance_ops(output, put, (key) => batch.push({ type: 'del', key }), reject);

    // New contracts: not existing yet, of a known code with the matching hash.
    if (!Array.isArray(output.contracts)) reject('output.contracts must be a list');
    const new_contracts = new Map<string, BoundContract>();
    for (const [i, value] of output.contracts.entries()) {
      const info = check_on_write(() => check_contract_info(value, `output.contracts[${i}]`));
      if (new_contracts.has(info.address) || (await this.#read_contract(info.address)) !== null) {
        reject(`contract ${info.address} already exists`);
      }
      const code =
        new_codes.get(info.code_id) ??
        (info.code_id < this.#next_code_id ? await this.#read_code(info.code_id) : null);
      if (code === null || code.code_hash !== info.code_hash)
        reject(`contract ${info.address} names an unknown code`);
      new_contracts.set(info.address, info);
      put(contract_key(info.address), info);
      for (const k of contract_index_keys(this.#p, info)) put(k, true);
    }

    // State writes, only to contracts that exist after this block.
    const writes = check_on_write(() => object(output.state_writes, 'output.state_writes'));
    for (const [address, list] of Object.entries(writes)) {
      check_on_write(() => hex40(address, 'output.state_writes key'));
      if (!new_contracts.has(address) && (await this.#read_contract(address)) === null) {
        reject(`state writes to ${address}, which is not a contract`);
      }
      if (!Array.isArray(list)) reject(`state_writes[${address}] must be a list`);
      const seen = new Set<string>();
      for (const entry of list as unknown[]) {
        if (!Array.isArray(entry) || entry.length !== 2)
          reject(`state_writes[${address}] entries must be pairs`);
        const [k, v] = entry as [unknown, unknown];
        const hidden = check_on_write(() => check_state_b64(k, `state_writes[${address}] key`));
        if (seen.has(hidden)) reject(`state_writes[${address}] writes a key twice`);
        seen.add(hidden);
        if (v === null) batch.push({ type: 'del', key: state_key(address, hidden) });
        else
          put(
            state_key(address, hidden),
            check_on_write(() => check_state_b64(v, `state_writes[${address}] value`)),
          );
      }
      if (batch.length > BLOCK_BATCH_OPS_MAX)
        reject(`the block writes more than ${BLOCK_BATCH_OPS_MAX} records`);
    }

    const record: BlockRecord = {
      block,
      commit,
      block_hash: hash,
      tx_hashes: output.results.map((r) => r.hash),
    };
    check_on_write(() => check_block_record(record));
    const block_value = encode_value(block_key(height), record);
    batch.push({ type: 'put', key: block_key(height), value: block_value });
    put(KEYS.next_code_id, next_code_id);
    if (this.#chain_id === null) put(KEYS.chain_id, header.chain_id);
    // Height last, for the reader of the batch: it is the record that says the block exists.
    put(KEYS.height, height);
    if (batch.length > BLOCK_BATCH_OPS_MAX)
      reject(`the block writes more than ${BLOCK_BATCH_OPS_MAX} records`);
    return { batch, height, block_value, next_code_id, chain_id: header.chain_id, sequences, balances };
  }

  /**
   * The block's new balances, written by `put` and `del` and answered by address. Tokens only
   * move (protocol.md §9: fees go to the fee pool, funds and sends from one address to another),
   * so the changed balances must sum to what they held before: a block that mints or burns is
   * refused before anything is written.
   */
  async #balance_ops(
    output: BlockOutput,
    put: (key: string, value: unknown) => void,
    del: (key: string) => void,
    reject: (message: string) => never,
  ): Promise<Map<string, number>> {
    const balances = check_on_write(() => object(output.balances, 'output.balances'));
    const changed = new Map<string, number>();
    let before_total = 0;
    let after_total = 0;
    for (const [address, value] of Object.entries(balances)) {
      check_on_write(() => hex40(address, 'output.balances key'));
      const amount = check_on_write(() => count(value, `output.balances[${address}]`));
      before_total += await this.get_balance(address);
      after_total += amount;
      if (amount === 0) del(balance_key(address));
      else put(balance_key(address), amount);
      changed.set(address, amount);
    }
    // Each total is of safe integers bounded by the genesis total, itself a safe integer.
    if (before_total !== after_total)
      reject(`the block changes the sum of balances from ${before_total} to ${after_total}`);
    return changed;
  }

  /** The base64 code of the store_code tx at `index`; the enclave reported it stored code. */
  #store_code_bytes(raw: string, index: number): string {
    let tx: Tx;
    try {
      tx = parse_tx_json(raw);
    } catch {
      throw new CommitRejectedError(`results[${index}] stored a code but tx ${index} is malformed`);
    }
    if (tx.body.msg.type !== 'store_code') {
      throw new CommitRejectedError(
        `results[${index}] stored a code but tx ${index} is a ${tx.body.msg.type}`,
      );
    }
    return tx.body.msg.code;
  }

  /** After a commit's batch: the height and block must read back as written, or the store stops. */
  async #read_back_commit(
    height: number,
    block_value: string,
    next_code_id: number,
    chain_id: string,
  ): Promise<void> {
    try {
      const stored_height = await this.#read(KEYS.height, (v) => count(v, 'height'));
      if (stored_height !== height)
        throw new StoreCorruptError(KEYS.height, `read back ${stored_height}, wrote ${height}`);
      const raw = await this.#db.get(block_key(height));
      if (raw !== block_value)
        throw new StoreCorruptError(block_key(height), 'block did not read back as written');
      const record = this.#decode(block_key(height), raw, (v) => this.#block_check(v, height));
      this.#height = height;
      this.#next_code_id = next_code_id;
      this.#chain_id ??= chain_id;
      this.#last = deep_freeze(record);
    } catch (error) {
      this.#stop(`read-back after commit of block ${height} failed`);
      throw error;
    }
  }

  /** Stores a sealed enclave blob (base64 ciphertext only), synchronously, and reads it back. */
  async put_sealed(name: string, value: string): Promise<void> {
    this.#assert_open();
    const key = sealed_key(name);
    if (typeof value === 'string' && value.length > SEALED_B64_CHARS_MAX) {
      throw new RangeError(`sealed blob is longer than ${SEALED_B64_CHARS_MAX} characters`);
    }
    check_on_write(
      () => base64(value, 'sealed value', SEALED_B64_CHARS_MAX),
      (m) => new TypeError(m),
    );
    const encoded = encode_value(key, value);
    await this.#db.put(key, encoded, { sync: true });
    if ((await this.#db.get(key)) !== encoded) {
      this.#stop(`read-back of ${key} failed`);
      throw new StoreCorruptError(key, 'sealed blob did not read back as written');
    }
  }

  /** A sealed enclave blob by name ('seed', 'registration', …), or null. */
  async get_sealed(name: string): Promise<string | null> {
    this.#assert_open();
    return this.#read(sealed_key(name), (v) => base64(v, 'sealed value', SEALED_B64_CHARS_MAX));
  }

  /**
   * Stores the consensus engine's signed state (any JSON value), synchronously: the engine calls
   * this before any signed message leaves, so a restart never signs twice for one step.
   */
  async put_consensus_state(value: unknown): Promise<void> {
    this.#assert_open();
    if (value === undefined) throw new TypeError('consensus state must be a JSON value');
    await this.#db.put(KEYS.consensus_state, encode_value(KEYS.consensus_state, value), { sync: true });
  }

  /** The consensus engine's signed state, or null if none was stored. */
  async get_consensus_state(): Promise<unknown | null> {
    this.#assert_open();
    return this.#read(KEYS.consensus_state, (v) => v);
  }

  /**
   * Reads and checks every record (checksum and shape by key kind) and the cross-record
   * invariants: blocks 1..height exist and nothing above, codes 1..next_code_id-1 exist. Costs a
   * full scan: for `cloister` maintenance tools and tests, not the serving path.
   */
  async verify_all(): Promise<StoreVerifyReport> {
    return this.#exclusive(async () => {
      this.#assert_open();
      const report: StoreVerifyReport = {
        keys: 0,
        blocks: 0,
        txs: 0,
        accounts: 0,
        balances: 0,
        contracts: 0,
        codes: 0,
        state_entries: 0,
        sealed: 0,
        index_entries: 0,
      };
      const idx: IndexCheck = { found: new Map(), expected: new Map(), positions: new Map(), counted: [] };
      for await (const [key, raw] of this.#db.iterator()) {
        report.keys++;
        this.#verify_entry(key, raw, report, idx);
      }
      this.#verify_indexes(idx);
      if (report.blocks !== this.#height)
        throw new StoreCorruptError(null, `${report.blocks} blocks for height ${this.#height}`);
      if (report.codes !== this.#next_code_id - 1) {
        throw new StoreCorruptError(null, `${report.codes} codes for next code id ${this.#next_code_id}`);
      }
      return report;
    });
  }

  /** The index entries found are exactly those the contract and counted tx records call for. */
  #verify_indexes(idx: IndexCheck): void {
    for (const record of idx.counted) {
      const at = idx.positions.get(`${record.height}/${record.index}`);
      if (at === undefined || at.hash !== record.hash)
        throw new StoreCorruptError(
          tx_key(record.hash),
          'the record names a place in a block that holds another tx',
        );
      if (at.parties === null) continue;
      for (const k of tx_index_keys(at.parties, record.height, record.index))
        idx.expected.set(k, record.hash);
    }
    for (const [key, value] of idx.expected) {
      if (!idx.found.has(key)) throw new StoreCorruptError(key, 'index entry missing');
      if (idx.found.get(key) !== value) throw new StoreCorruptError(key, 'index entry names another record');
    }
    for (const key of idx.found.keys())
      if (!idx.expected.has(key)) throw new StoreCorruptError(key, 'index entry of no record');
  }

  #verify_entry(key: string, raw: string, report: StoreVerifyReport, idx: IndexCheck): void {
    const rest = (prefix: string) => key.slice(prefix.length);
    if (key.startsWith(PREFIXES.meta) || key.startsWith(PREFIXES.consensus)) {
      const known: string[] = Object.values(KEYS);
      if (!known.includes(key)) throw new StoreCorruptError(key, 'unknown key');
      this.#decode(key, raw, (v) => v);
    } else if (key.startsWith(PREFIXES.block)) {
      const height = parse_u64_hex(rest(PREFIXES.block));
      if (height === null || height < 1 || height > this.#height)
        throw new StoreCorruptError(key, 'block key out of range');
      const block = this.#decode(key, raw, (v) => this.#block_check(v, height));
      for (const [i, hash] of block.tx_hashes.entries())
        idx.positions.set(`${height}/${i}`, { hash, parties: tx_parties(this.#p, block.block.txs[i]!) });
      report.blocks++;
    } else if (key.startsWith(PREFIXES.tx)) {
      const record = this.#decode(key, raw, (v) => check_tx_record(v));
      if (key !== tx_key(record.hash)) throw new StoreCorruptError(key, 'record of another tx');
      if (counted(record))
        idx.counted.push({ hash: record.hash, height: record.height, index: record.index });
      report.txs++;
    } else if (key.startsWith(PREFIXES.account)) {
      hex40_key(key, rest(PREFIXES.account));
      this.#decode(key, raw, (v) => count(v, 'sequence'));
      report.accounts++;
    } else if (key.startsWith(PREFIXES.balance)) {
      hex40_key(key, rest(PREFIXES.balance));
      this.#decode(key, raw, (v) => positive(v, 'balance'));
      report.balances++;
    } else if (key.startsWith(PREFIXES.contract)) {
      const address = hex40_key(key, rest(PREFIXES.contract));
      const info = this.#decode(key, raw, (v) => this.#contract_check(v, address));
      for (const k of contract_index_keys(this.#p, info)) idx.expected.set(k, true);
      report.contracts++;
    } else if (key.startsWith(PREFIXES.code)) {
      const id = parse_u64_hex(rest(PREFIXES.code));
      if (id === null || id < 1 || id >= this.#next_code_id)
        throw new StoreCorruptError(key, 'code key out of range');
      this.#decode(key, raw, (v) => this.#code_check(v, id));
      report.codes++;
    } else if (key.startsWith(PREFIXES.state)) {
      const address = hex40_key(key, rest(PREFIXES.state).slice(0, 40));
      const hidden = rest(state_prefix(address));
      this.#decode(key, raw, (v) => check_state_b64(v, 'state value'));
      check_shape(key, () => check_state_b64(hidden, 'state key'));
      report.state_entries++;
    } else if (key.startsWith(PREFIXES.sealed)) {
      if (!SEALED_NAME_RE.test(rest(PREFIXES.sealed)))
        throw new StoreCorruptError(key, 'bad sealed blob name');
      this.#decode(key, raw, (v) => base64(v, 'sealed value', SEALED_B64_CHARS_MAX));
      report.sealed++;
    } else if (key.startsWith(PREFIXES.idx)) {
      idx.found.set(key, this.#index_entry(key, raw));
      report.index_entries++;
    } else {
      throw new StoreCorruptError(key, 'unknown key');
    }
  }

  /** An index entry's value, checked against its key's form: `true` for a contract, a hash for a tx. */
  #index_entry(key: string, raw: string): unknown {
    for (const prefix of [IDX.contract_code, IDX.contract_creator, IDX.contract_label]) {
      if (!key.startsWith(prefix)) continue;
      const rest = key.slice(prefix.length);
      const [part, address, ...more] = rest.split('/');
      const ok =
        more.length === 0 &&
        is_address_hex(address) &&
        (prefix === IDX.contract_code
          ? (parse_u64_hex(part ?? '') ?? 0) >= 1
          : prefix === IDX.contract_creator
            ? is_address_hex(part)
            : is_hex64(part));
      if (!ok) throw new StoreCorruptError(key, 'bad index key');
      return this.#decode(key, raw, (v) => {
        if (v !== true) throw new ShapeError('contract index value must be true');
        return v;
      });
    }
    for (const prefix of [IDX.tx_sender, IDX.tx_contract]) {
      if (!key.startsWith(prefix)) continue;
      const [address, position, ...more] = key.slice(prefix.length).split('/');
      if (more.length !== 0 || !is_address_hex(address) || parse_tx_position(position ?? '') === null)
        throw new StoreCorruptError(key, 'bad index key');
      return this.#decode(key, raw, (v) => hex64(v, 'tx index value'));
    }
    throw new StoreCorruptError(key, 'unknown key');
  }

  // ---- listings ------------------------------------------------------------------------------

  /**
   * Contracts matching every given filter, at most `page.limit` (1..{@link LIST_LIMIT_MAX},
   * default {@link LIST_LIMIT_DEFAULT}), in the order of the index scanned: the label index if a
   * label is given, else the creator's, else the code's, else all contracts; within one, by
   * address. `cursor` (null when the listing is done) continues it; a page may hold fewer than
   * `limit` (even none) with a cursor when the other filters skipped many keys. StoreCursorError
   * for a cursor not from this listing.
   */
  async list_contracts(
    filter: ContractFilter = {},
    page: ListPage = {},
  ): Promise<{ contracts: BoundContract[]; cursor: string | null }> {
    this.#assert_open();
    const { code_id, creator, label } = filter;
    if (code_id !== undefined && (!Number.isSafeInteger(code_id) || code_id < 1))
      throw new RangeError('code_id must be a positive safe integer');
    if (creator !== undefined) check_address(creator);
    if (label !== undefined && (typeof label !== 'string' || label.length === 0))
      throw new TypeError('label must be a non-empty string');
    const limit = list_limit(page.limit);
    let prefix: string = PREFIXES.contract;
    if (label !== undefined) prefix = idx_contract_label_prefix(label_hash(this.#p, label));
    else if (creator !== undefined) prefix = idx_contract_creator_prefix(creator);
    else if (code_id !== undefined) prefix = idx_contract_code_prefix(code_id);
    const scan = await this.#scan(prefix, page.cursor, limit, is_address_hex, async (key, raw) => {
      const address = key.slice(prefix.length);
      let info: BoundContract | null;
      if (prefix === PREFIXES.contract)
        info = this.#decode(key, raw, (v) => this.#contract_check(v, address));
      else {
        this.#decode(key, raw, (v) => v);
        info = await this.#read_contract(address);
        if (info === null || !contract_index_keys(this.#p, info).includes(key))
          throw new StoreCorruptError(key, 'index entry does not match the contract record');
      }
      const matches =
        (code_id === undefined || info.code_id === code_id) &&
        (creator === undefined || info.creator === creator) &&
        (label === undefined || info.label === label);
      return matches ? info : null;
    });
    return { contracts: scan.items, cursor: scan.cursor };
  }

  /**
   * Counted transactions (docs/storage.md "Indexes") by sender and/or top-level target contract,
   * NEWEST FIRST (by height, then index within the block), at most `page.limit`; paged as
   * {@link list_contracts}. TypeError without a filter.
   */
  async list_txs(filter: TxFilter, page: ListPage = {}): Promise<{ txs: TxRecord[]; cursor: string | null }> {
    this.#assert_open();
    const { sender, contract } = filter ?? {};
    if (sender === undefined && contract === undefined)
      throw new TypeError('list_txs needs a sender or a contract');
    if (sender !== undefined) check_address(sender);
    if (contract !== undefined) check_address(contract);
    const limit = list_limit(page.limit);
    const prefix = sender !== undefined ? idx_tx_sender_prefix(sender) : idx_tx_contract_prefix(contract!);
    const both = sender !== undefined && contract !== undefined;
    const well_formed = (rest: string) => parse_tx_position(rest) !== null;
    const scan = await this.#scan(prefix, page.cursor, limit, well_formed, async (key, raw) => {
      const rest = key.slice(prefix.length);
      const at = parse_tx_position(rest);
      if (at === null) throw new StoreCorruptError(key, 'bad index key');
      const hash = this.#decode(key, raw, (v) => hex64(v, 'tx index value'));
      // Written by a commit whose read-back has not finished: not served yet.
      if (at.height > this.#height) return null;
      if (both && (await this.#db.get(idx_tx_contract_prefix(contract!) + rest)) === undefined) return null;
      const record = await this.#read_tx(hash);
      if (record === null || record.height !== at.height || record.index !== at.index)
        throw new StoreCorruptError(key, 'index entry does not match the tx record');
      return record;
    });
    return { txs: scan.items, cursor: scan.cursor };
  }

  /**
   * Scans `prefix` after the cursor's key: visits at most {@link LIST_SCAN_KEYS_MAX} keys and
   * keeps what `visit` answers (null: skipped) until `limit` items. The cursor is the last key
   * visited when keys remain, else null.
   */
  async #scan<T>(
    prefix: string,
    cursor: string | null | undefined,
    limit: number,
    well_formed: (rest: string) => boolean,
    visit: (key: string, raw: string) => Promise<T | null>,
  ): Promise<{ items: T[]; cursor: string | null }> {
    const after = cursor === undefined || cursor === null ? null : decode_cursor(cursor, prefix, well_formed);
    const range = prefix_range(prefix);
    const items: T[] = [];
    let last: string | null = null;
    let visited = 0;
    for await (const [key, raw] of this.#db.iterator({
      ...(after === null ? { gte: range.gte } : { gt: after }),
      lt: range.lt,
      limit: LIST_SCAN_KEYS_MAX + 1,
    })) {
      // One more key exists after the page: say where to go on.
      if (items.length === limit || visited === LIST_SCAN_KEYS_MAX)
        return { items, cursor: encode_cursor(last!) };
      visited++;
      last = key;
      const item = await visit(key, raw);
      if (item !== null) items.push(item);
    }
    return { items, cursor: null };
  }

  // ---- reads with checks ---------------------------------------------------------------------

  /** Reads `key`: null if missing, else the checked value; StoreCorruptError if a check fails. */
  async #read<T>(key: string, check: (value: unknown) => T): Promise<T | null> {
    // level 10 answers undefined (not an error) for a missing key.
    const raw: string | undefined = await this.#db.get(key);
    if (raw === undefined) return null;
    return this.#decode(key, raw, check);
  }

  #decode<T>(key: string, raw: unknown, check: (value: unknown) => T): T {
    const value = decode(key, raw);
    return check_shape(key, () => check(value));
  }

  #read_block(height: number): Promise<BlockRecord | null> {
    return this.#read(block_key(height), (v) => this.#block_check(v, height));
  }

  #block_check(value: unknown, height: number): BlockRecord {
    const record = check_block_record(value);
    if (record.block.header.height !== height)
      throw new ShapeError(`block ${record.block.header.height} stored at ${height}`);
    if (block_hash(this.#p, record.block.header) !== record.block_hash)
      throw new ShapeError('block_hash is not the hash of the header');
    return record;
  }

  #read_tx(hash: string): Promise<TxRecord | null> {
    return this.#read(tx_key(hash), (v) => check_tx_record(v));
  }

  /**
   * A contract record, or null. A record is never rewritten once committed (a commit refuses a
   * contract that exists), so found ones are kept: every block's input reads the record of each
   * contract its transactions call. Each caller gets its own copy.
   */
  #read_contract(address: string): Promise<BoundContract | null> {
    return read_kept(this.#contracts, address, CONTRACTS_CACHED_MAX, () =>
      this.#read(contract_key(address), (v) => this.#contract_check(v, address)),
    );
  }

  #contract_check(value: unknown, address: string): BoundContract {
    const info = check_contract_info(value);
    if (info.address !== address) throw new ShapeError('contract stored under another address');
    return info;
  }

  /**
   * A code record, or null. Code ids are given once and never rewritten, so found ones are kept:
   * every block's input reads the code of each contract it runs, and each read decoded and hashed
   * the whole code again to check it. Each caller gets its own copy.
   */
  #read_code(code_id: number): Promise<CodeRecord | null> {
    return read_kept(this.#codes, code_id, CODES_CACHED_MAX, () =>
      this.#read(code_key(code_id), (v) => this.#code_check(v, code_id)),
    );
  }

  #code_check(value: unknown, code_id: number): CodeRecord {
    const record = check_code_record(value);
    if (record.code_id !== code_id) throw new ShapeError(`code ${record.code_id} stored as ${code_id}`);
    if (to_hex(this.#p.sha256(from_base64(record.code))) !== record.code_hash) {
      throw new ShapeError('code_hash is not the hash of the code');
    }
    return record;
  }

  async #read_state(address: string): Promise<StateEntry[]> {
    const prefix = state_prefix(address);
    const out: StateEntry[] = [];
    // One more than the limit, to tell "exactly at the limit" from "over it".
    for await (const [key, raw] of this.#db.iterator({
      ...prefix_range(prefix),
      limit: CONTRACT_STATE_ENTRIES_MAX + 1,
    })) {
      if (out.length === CONTRACT_STATE_ENTRIES_MAX) {
        throw new RangeError(`contract ${address} has more than ${CONTRACT_STATE_ENTRIES_MAX} state entries`);
      }
      const hidden = check_shape(key, () => check_state_b64(key.slice(prefix.length), 'state key'));
      out.push([hidden, this.#decode(key, raw, (v) => check_state_b64(v, 'state value'))]);
    }
    return out;
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  #assert_open(): void {
    if (this.#stopped !== null) throw new StoreClosedError(this.#stopped);
  }

  /** Stops serving: after a failed read-back nothing this store says can be trusted. */
  #stop(reason: string): void {
    this.#stopped ??= reason;
  }

  /** Runs `fn` after every operation queued before it, alone among queued operations. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/** Runs a read-side shape check: a failure means the disk holds what the store never wrote. */
function check_shape<T>(key: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof ShapeError) throw new StoreCorruptError(key, error.message, { cause: error });
    throw error;
  }
}

function hex40_key(key: string, part: string): string {
  return check_shape(key, () => hex40(part, 'address in key'));
}

/** A write of one index entry. */
function index_op(key: string, value: unknown): BatchOp {
  return { type: 'put', key, value: encode_value(key, value) };
}

/** A listing's limit: 1..LIST_LIMIT_MAX, LIST_LIMIT_DEFAULT when absent. */
function list_limit(limit: number | undefined): number {
  if (limit === undefined) return LIST_LIMIT_DEFAULT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIST_LIMIT_MAX)
    throw new RangeError(`limit must be an integer from 1 to ${LIST_LIMIT_MAX}`);
  return limit;
}

/**
 * The key a cursor names, checked to be a key of this listing: base64url of `prefix` and a rest
 * that `well_formed` accepts. StoreCursorError otherwise (another listing's cursor, or made up).
 */
function decode_cursor(cursor: string, prefix: string, well_formed: (rest: string) => boolean): string {
  if (typeof cursor !== 'string' || cursor.length > CURSOR_CHARS_MAX || !CURSOR_RE.test(cursor))
    throw new StoreCursorError('cursor must be a cursor this listing gave (base64url)');
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (encode_cursor(key) !== cursor || !key.startsWith(prefix) || !well_formed(key.slice(prefix.length)))
    throw new StoreCursorError('cursor is not from this listing (other filters, or not a cursor)');
  return key;
}
