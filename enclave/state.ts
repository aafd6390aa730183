/**
 * Contract state as the host stores it: hidden keys and sealed values (issue: contract state).
 *
 *   (k_hide ‖ k_seal) = HKDF(k_state, SALT, utf8("cloister/state/" + address), 64)
 *   hidden_key        = HMAC-SHA256(k_hide, utf8(key))
 *   sealed_value      = AES-SIV(k_seal, utf8("cloister/state/v1\n" + address) ‖ hidden_key, utf8(value))
 *
 * Deterministic, so every validator stores the same bytes; the AD binds a value to its contract
 * and key, so the host cannot move values between keys or contracts without the enclave noticing
 * on read-back. (Rolling a key back to an older value of itself is caught by consensus: results
 * computed on stale state do not match the other validators'.) Equal values of one key encrypt
 * equally, so the host can see that a key returned to an earlier value; it learns nothing else.
 * @module
 */

import { concat, from_base64, from_utf8, to_base64, utf8 } from '../protocol/bytes.js';
import { SALT } from '../protocol/keys.js';
import type { CryptoProvider } from '../protocol/provider.js';
import type { StateEntry, StateWrite } from './api.js';
import { ENCLAVE_LIMITS } from './limits.js';
import { EnclaveErrorCode, EnclaveFault } from './result.js';
import type { VmStorage } from './vm/types.js';

const HIDDEN_KEY_BYTES = 32;

/** The two per-contract keys. */
export interface ContractStateKeys {
  hide: Uint8Array;
  seal: Uint8Array;
  ad_prefix: Uint8Array;
}

/** Derives a contract's state keys from the network's `state` key. */
export function derive_contract_state_keys(
  p: CryptoProvider,
  k_state: Uint8Array,
  address: string,
): ContractStateKeys {
  const okm = p.hkdf(k_state, SALT, utf8(`cloister/state/${address}`), 64);
  return { hide: okm.slice(0, 32), seal: okm.slice(32), ad_prefix: utf8(`cloister/state/v1\n${address}`) };
}

/** The hidden form of a plaintext key, base64. */
export function hide_key(p: CryptoProvider, keys: ContractStateKeys, key: string): string {
  return to_base64(p.hmac_sha256(keys.hide, utf8(key)));
}

/** Seals a value under its hidden key. */
export function seal_value(
  p: CryptoProvider,
  keys: ContractStateKeys,
  hidden_b64: string,
  value: string,
): string {
  return to_base64(p.siv_seal(keys.seal, concat(keys.ad_prefix, from_base64(hidden_b64)), utf8(value)));
}

/** Opens a sealed value; a value that does not authenticate is the host's fault: STATE_CORRUPT. */
export function open_value(
  p: CryptoProvider,
  keys: ContractStateKeys,
  hidden_b64: string,
  sealed_b64: string,
): string {
  let plain: Uint8Array | null = null;
  try {
    plain = p.siv_open(keys.seal, concat(keys.ad_prefix, from_base64(hidden_b64)), from_base64(sealed_b64));
  } catch {
    plain = null;
  }
  if (plain === null)
    throw new EnclaveFault(EnclaveErrorCode.STATE_CORRUPT, 'a sealed state value does not authenticate');
  try {
    return from_utf8(plain);
  } catch {
    throw new EnclaveFault(EnclaveErrorCode.STATE_CORRUPT, 'a sealed state value is not UTF-8');
  }
}

/**
 * One contract's state during a block: the sealed entries the host handed in, a plaintext cache
 * of what was read, and the block's committed writes (sealed only once, at the end of the block).
 */
export class ContractState {
  readonly address: string;
  readonly #p: CryptoProvider;
  readonly #keys: ContractStateKeys;
  readonly #sealed: Map<string, string>;
  /** hidden key → plaintext value (null: absent or removed), for reads and committed writes. */
  readonly #plain = new Map<string, string | null>();
  /** hidden keys written by committed transactions in this block. */
  readonly #dirty = new Set<string>();

  constructor(p: CryptoProvider, keys: ContractStateKeys, address: string, entries: readonly StateEntry[]) {
    if (entries.length > ENCLAVE_LIMITS.contract_state_entries_max) {
      throw new EnclaveFault(
        EnclaveErrorCode.LIMIT,
        `contract ${address} has more state entries than the limit`,
      );
    }
    this.#p = p;
    this.#keys = keys;
    this.address = address;
    this.#sealed = new Map();
    for (const entry of entries) {
      if (
        !Array.isArray(entry) ||
        entry.length !== 2 ||
        typeof entry[0] !== 'string' ||
        typeof entry[1] !== 'string'
      ) {
        throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, 'a state entry is not [key, value]');
      }
      if (this.#sealed.has(entry[0]))
        throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, 'duplicate state key');
      this.#sealed.set(entry[0], entry[1]);
    }
  }

  /** Committed value of `key` (as of the last committed transaction), or null. */
  read(key: string): string | null {
    const hidden = hide_key(this.#p, this.#keys, key);
    const cached = this.#plain.get(hidden);
    if (cached !== undefined) return cached;
    const sealed = this.#sealed.get(hidden);
    const value = sealed === undefined ? null : open_value(this.#p, this.#keys, hidden, sealed);
    this.#plain.set(hidden, value);
    return value;
  }

  /** Applies a successful transaction's writes. */
  commit(writes: ReadonlyMap<string, string | null>): void {
    for (const [key, value] of writes) {
      const hidden = hide_key(this.#p, this.#keys, key);
      this.#plain.set(hidden, value);
      this.#dirty.add(hidden);
    }
  }

  /** The block's final writes, sealed, sorted by hidden key. */
  sealed_writes(): StateWrite[] {
    const out: StateWrite[] = [];
    for (const hidden of [...this.#dirty].sort()) {
      const value = this.#plain.get(hidden);
      if (value === undefined) throw new Error('invariant: dirty key without a value');
      out.push([hidden, value === null ? null : seal_value(this.#p, this.#keys, hidden, value)]);
    }
    return out;
  }
}

/** What a call's storage reads through: a contract's state as the call starts. */
export interface StateReader {
  read(key: string): string | null;
}

/**
 * The storage one call sees: reads go through its own buffered writes to the committed state;
 * writes stay buffered until the enclave commits them (success) or drops them (any failure).
 */
export class TxStorage implements VmStorage {
  readonly writes = new Map<string, string | null>();
  /**
   * A host fault met while reading (corrupt sealed state). The VM turns every exception into a
   * contract error, so the fault is kept here and re-raised by the caller after the call.
   */
  fault: EnclaveFault | null = null;
  readonly #state: StateReader;
  readonly #read_only: boolean;

  constructor(state: StateReader, read_only: boolean) {
    this.#state = state;
    this.#read_only = read_only;
  }

  get(key: string): string | null {
    const buffered = this.writes.get(key);
    if (buffered !== undefined) return buffered;
    try {
      return this.#state.read(key);
    } catch (error) {
      if (error instanceof EnclaveFault) this.fault ??= error;
      throw error;
    }
  }

  set(key: string, value: string): void {
    if (this.#read_only) throw new Error('storage is read-only in a query');
    this.writes.set(key, value);
  }

  remove(key: string): void {
    if (this.#read_only) throw new Error('storage is read-only in a query');
    this.writes.set(key, null);
  }
}

export { HIDDEN_KEY_BYTES };
