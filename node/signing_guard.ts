/**
 * The node's side of the last-signed record (./signing_record.ts): the durable store of the
 * consensus engine's signed state, the start-up check against the chain store, the sit-out after a
 * reset, and the reset itself (`cloister node reset-signing`).
 *
 * The record file is the authority for the double-signing guard. The chain store keeps a copy
 * (`consensus/state`), written after the file, for compatibility and so the two can be compared on
 * start: a crash between the two writes leaves the copy behind the file, never ahead of it.
 * @module
 */

import { existsSync } from 'node:fs';
import type { CryptoProvider } from '../protocol/provider.js';
import { get_provider } from '../protocol/providers/index.js';
import { DEFAULT_CONSENSUS_LIMITS } from './consensus/engine.js';
import type { BlockShapeLimits } from './consensus/shapes.js';
import {
  compare_position,
  type SignedState,
  type SignedStateStore,
  signed_state_error,
  signed_state_sign_bytes,
} from './consensus/signed_state.js';
import { is_quorum, total_power, type Validator, verify_hex } from './consensus/types.js';
import { read_genesis } from './genesis.js';
import { home_paths, read_config, read_secret_file } from './home.js';
import type { Clock } from './modules.js';
import { system_clock } from './real_world.js';
import {
  check_signing_start,
  file_record_io,
  read_signing_record,
  type SigningRecord,
  type SigningRecordIo,
  signing_record_path,
  write_signing_record,
} from './signing_record.js';
import { ChainStore } from './store/chain_store.js';

export { file_record_io, memory_record_io, type SigningRecordIo } from './signing_record.js';

/** What the guard needs of the chain store (ChainStore has it). */
export interface GuardStore {
  height(): number;
  get_consensus_state(): Promise<unknown | null>;
  put_consensus_state(value: unknown): Promise<void>;
}

/** Options of {@link SigningGuard.open}. */
export interface SigningGuardOptions {
  /**
   * The validator's home: its record is the file `signing_record.json` there, unless
   * {@link SigningGuardModules.record_io} keeps it elsewhere; refusals name the reset command for
   * it. Needed only without a `record_io`.
   */
  home?: string;
  chain_id: string;
  validators: readonly Validator[];
  /** This validator's public key (hex). */
  validator: string;
}

/** Modules of {@link SigningGuard.open}. */
export interface SigningGuardModules {
  /**
   * Where the record is kept: by default the file in `opts.home` ({@link file_record_io}); the
   * simulator keeps it on its disk ({@link memory_record_io}).
   */
  record_io?: SigningRecordIo;
}

/** What {@link SigningGuard.before_signing} uses of the running node. */
export interface HoldModules {
  /** Peers with an authenticated connection now. */
  peers(): string[];
  /** Registers a listener called whenever a peer connects. */
  on_peer(fn: () => void): void;
  /** Fetches and applies committed blocks from connected peers (the node's sync). */
  sync(): Promise<void>;
  log(event: string, fields: Record<string, unknown>): void;
  /** The node's clock (node/modules.ts): deadlines and pauses. Default: the system clock. */
  clock?: Clock;
}

/** Bounds of {@link SigningGuard.before_signing}. */
export interface HoldOptions {
  /** Longest wait for a first peer to sync from, ms. */
  peer_wait_ms: number;
  /** Longest wait, in all, for the chain to pass the floor, ms. */
  hold_ms_max: number;
  /** Pause between two syncs while waiting for the floor, ms. */
  poll_ms: number;
}

/** Defaults of {@link HoldOptions}: within the 60 s a local network waits for a validator to start. */
export const DEFAULT_HOLD: Readonly<HoldOptions> = Object.freeze({
  peer_wait_ms: 20_000,
  hold_ms_max: 45_000,
  poll_ms: 250,
});

/**
 * After a reset, the node could not sit out a height within its bounds (no peer to sync from, or
 * the network committed nothing). Nothing was signed; starting again later retries, no new reset
 * is needed (the record keeps what was decided).
 */
export class SigningHoldTimeoutError extends Error {
  override readonly name = 'SigningHoldTimeoutError';
}

/** Shape bounds for reading signed states of a network with `validators`. */
export function signed_state_limits(validators: readonly Validator[]): BlockShapeLimits {
  return {
    block_txs_max: DEFAULT_CONSENSUS_LIMITS.block_txs_max,
    tx_chars_max: DEFAULT_CONSENSUS_LIMITS.tx_chars_max,
    commit_signatures_max: validators.length,
  };
}

/** Whether the other validators hold more than 2/3 of the power, so can commit without `self`. */
export function others_can_decide(validators: readonly Validator[], self: string): boolean {
  const total = total_power(validators);
  const mine = validators.find((v) => v.pubkey === self)?.power ?? 0;
  return is_quorum(total - mine, total);
}

/** A promise that resolves after `ms` on `clock` (a pause between retries). */
function pause(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.set_timer(ms, () => resolve()));
}

/**
 * The durable store of the engine's signed state: the record file first, the store's copy second.
 * Open it with {@link SigningGuard.open}, which refuses a start that could sign twice.
 */
export class SigningGuard implements SignedStateStore {
  readonly #opts: SigningGuardOptions;
  readonly #store: GuardStore;
  readonly #io: SigningRecordIo;
  #record: SigningRecord;
  /** Writes one at a time, in call order. */
  #writing: Promise<void> = Promise.resolve();

  private constructor(
    opts: SigningGuardOptions,
    store: GuardStore,
    io: SigningRecordIo,
    record: SigningRecord,
  ) {
    this.#opts = opts;
    this.#store = store;
    this.#io = io;
    this.#record = record;
  }

  /**
   * Reads the record and checks it against the store (signing_record.ts `check_signing_start`):
   * throws SigningStartRefusedError where signing could repeat a lost signature. A brand-new home
   * gets its (empty) record here. The record is the file in `opts.home` unless
   * `modules.record_io` keeps it elsewhere; TypeError if neither is given.
   */
  static async open(
    opts: SigningGuardOptions,
    store: GuardStore,
    modules: SigningGuardModules = {},
  ): Promise<SigningGuard> {
    const home = opts.home ?? null;
    let io = modules.record_io;
    if (io === undefined) {
      if (typeof home !== 'string' || home.length === 0)
        throw new TypeError('opts.home is needed to find the signing record without a record_io');
      io = file_record_io(signing_record_path(home));
    }
    const limits = signed_state_limits(opts.validators);
    let read: SigningRecord | null | Error;
    try {
      read = await io.read(limits);
    } catch (error) {
      read = error as Error;
    }
    const record = check_signing_start({
      home,
      ...(io.where === undefined ? {} : { where: io.where }),
      chain_id: opts.chain_id,
      validator: opts.validator,
      record: read,
      store_height: store.height(),
      store_state: await store.get_consensus_state(),
      limits,
    });
    if (read === null) await io.write(record);
    return new SigningGuard(opts, store, io, record);
  }

  /** The record as it is now (a copy). */
  record(): SigningRecord {
    return structuredClone(this.#record);
  }

  /** The last signed state (a copy), or null. */
  async load(): Promise<SignedState | null> {
    return this.#record.state === null ? null : structuredClone(this.#record.state);
  }

  /**
   * Makes `state` durable. The engine awaits this before the signed message leaves the process
   * (engine.ts `#sign_guarded`: save, then send), so resolving only after the record is durable
   * (the file fsynced and renamed) is what keeps "nothing leaves that a restart could contradict". The store
   * copy is written after the file: a crash between them leaves the copy behind the record, which
   * start accepts; never ahead of it.
   */
  save(state: SignedState): Promise<void> {
    const next: SigningRecord = {
      ...this.#record,
      state: structuredClone(state),
      // Monotonic: the engine signs at height h only once the store holds h - 1.
      store_height_min: Math.max(this.#record.store_height_min, this.#store.height()),
    };
    return this.#write(next, async () => this.#store.put_consensus_state(state));
  }

  #write(next: SigningRecord, then?: () => Promise<void>): Promise<void> {
    const run = this.#writing.then(async () => {
      await this.#io.write(next);
      this.#record = next;
      await then?.();
    });
    // A failed write fails its caller (the engine halts); later writes still run in order.
    this.#writing = run.catch(() => undefined);
    return run;
  }

  /**
   * Resolves once this validator may sign. Immediately, unless `cloister node reset-signing` left
   * `sync_before_signing` or a floor above the store. Then, so that a signature lost with the disk
   * can never be contradicted: wait for a peer, sync, fix the floor at the height the network is
   * deciding now (store height + 1) durably, and sync until the chain has committed it, so this
   * node signs from the height after. A lost signature was at most at the height the network was
   * deciding when it was made, which is at or below that floor.
   *
   * Skipped (logged) when the other validators cannot commit without this one: waiting would stall
   * the chain for good. Throws SigningHoldTimeoutError past the bounds of `opts`.
   */
  async before_signing(m: HoldModules, opts: HoldOptions = DEFAULT_HOLD): Promise<void> {
    const clock = m.clock ?? system_clock();
    const deadline_ms = clock.now_ms() + opts.hold_ms_max;
    if (this.#record.sync_before_signing) {
      if (!others_can_decide(this.#opts.validators, this.#opts.validator)) {
        m.log('sit_out_skipped', { reason: 'the other validators cannot commit without this one' });
        await this.#write({ ...this.#record, sync_before_signing: false, floor_height: 0 });
        return;
      }
      await wait_for_peer(m, clock, Math.min(opts.peer_wait_ms, opts.hold_ms_max));
      await m.sync();
      const floor_height = Math.max(this.#record.floor_height, this.#store.height() + 1);
      // Durable before anything is signed: a restart during the wait keeps this floor.
      await this.#write({ ...this.#record, sync_before_signing: false, floor_height });
    }
    const floor = this.#record.floor_height;
    if (this.#store.height() >= floor) return;
    m.log('sit_out', { floor_height: floor, height: this.#store.height() });
    for (;;) {
      await m.sync();
      if (this.#store.height() >= floor) break;
      if (clock.now_ms() >= deadline_ms) {
        throw new SigningHoldTimeoutError(
          `after reset-signing this validator sits out height ${floor}, but the chain is still at ` +
            `${this.#store.height()} after ${opts.hold_ms_max} ms; start again once the network commits it`,
        );
      }
      await pause(clock, opts.poll_ms);
    }
    m.log('sit_out_done', { floor_height: floor, height: this.#store.height() });
  }
}

/** Resolves when a peer is connected; rejects with SigningHoldTimeoutError after `wait_ms`. */
function wait_for_peer(m: HoldModules, clock: Clock, wait_ms: number): Promise<void> {
  if (m.peers().length > 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    let settled = false;
    const cancel = clock.set_timer(wait_ms, () => {
      settled = true;
      reject(
        new SigningHoldTimeoutError(
          `after reset-signing this validator syncs from a peer before signing, and none connected ` +
            `within ${wait_ms} ms; start it again once its peers are reachable`,
        ),
      );
    });
    m.on_peer(() => {
      if (settled) return;
      settled = true;
      cancel();
      resolve();
    });
  });
}

/** What {@link reset_signing} did. */
export interface ResetReport {
  /** The record file written. */
  path: string;
  /** The store's committed height. */
  store_height: number;
  /** What the old record was: 'ok', 'missing', or why it could not be read. */
  previous: string;
  /** Where the kept signed state came from. */
  kept: 'record' | 'store' | 'none';
  /** The kept state's position `height/round/step`, or null. */
  signed: string | null;
  /** Whether the node syncs and sits out a height before signing (false with `sit_out: false`). */
  sit_out: boolean;
}

/** The state among `candidates` furthest ahead that is well formed and signed by `validator`. */
function furthest_signed(
  p: CryptoProvider,
  chain_id: string,
  validator: string,
  limits: BlockShapeLimits,
  candidates: readonly { from: 'record' | 'store'; state: unknown }[],
): { from: 'record' | 'store'; state: SignedState } | null {
  let best: { from: 'record' | 'store'; state: SignedState } | null = null;
  for (const c of candidates) {
    if (c.state === null || signed_state_error(c.state, limits) !== null) continue;
    const s = c.state as SignedState;
    if (!verify_hex(p, s.signature, signed_state_sign_bytes(chain_id, s), validator)) continue;
    if (best === null || compare_position(s, best.state) > 0) best = { from: c.from, state: s };
  }
  return best;
}

/**
 * `cloister node reset-signing`: rewrites the home's record so the node starts again. The node
 * must be stopped (the store is opened, which LevelDB's lock refuses while it runs). The new
 * record vouches for the store's height as it is and keeps the furthest signed state still known
 * (the old record's if it still reads, else the store's copy): the guard never moves back over
 * anything this validator can still see it signed. What it cannot see is what was lost; the
 * operator vouches for that, and unless `sit_out` is false the node syncs and sits out the height
 * the network is then deciding before it signs again.
 */
export async function reset_signing(home: string, opts: { sit_out: boolean }): Promise<ResetReport> {
  const p = get_provider('native');
  const paths = home_paths(home);
  const config = read_config(home);
  const genesis = read_genesis(p, paths.genesis);
  const validator = Buffer.from(p.ed25519_public(read_secret_file(paths.validator_key))).toString('hex');
  const validators = genesis.validators.map(({ pubkey, power }) => ({ pubkey, power }));
  if (!validators.some((v) => v.pubkey === validator))
    throw new Error('this home is not a validator in genesis');
  if (!existsSync(paths.data)) throw new Error(`${paths.data} does not exist: nothing to reset`);
  const limits = signed_state_limits(validators);
  const path = signing_record_path(home);
  let previous = 'ok';
  let old: SigningRecord | null = null;
  try {
    old = await read_signing_record(path, limits);
    if (old === null) previous = 'missing';
    else if (old.chain_id !== config.chain_id || old.validator !== validator) {
      previous = 'of another validator';
      old = null;
    }
  } catch (error) {
    previous = (error as Error).message;
  }
  const store = await ChainStore.open(paths.data, { chain_id: config.chain_id });
  let store_height: number;
  let store_state: unknown;
  try {
    store_height = store.height();
    store_state = await store.get_consensus_state();
  } finally {
    await store.close();
  }
  const kept = furthest_signed(p, config.chain_id, validator, limits, [
    { from: 'record', state: old?.state ?? null },
    { from: 'store', state: store_state },
  ]);
  const record: SigningRecord = {
    chain_id: config.chain_id,
    validator,
    store_height_min: store_height,
    state: kept?.state ?? null,
    sync_before_signing: opts.sit_out,
    // Without the sit-out the operator asks to sign at once: no floor either.
    floor_height: opts.sit_out ? (old?.floor_height ?? 0) : 0,
  };
  await write_signing_record(path, record);
  const s = kept?.state ?? null;
  return {
    path,
    store_height,
    previous,
    kept: kept?.from ?? 'none',
    signed: s === null ? null : `${s.height}/${s.round}/${s.step}`,
    sit_out: opts.sit_out,
  };
}
