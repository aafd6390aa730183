/**
 * What an enclave holds once a seed is loaded: the network keys, prepared key objects, and
 * caches keyed only by public values (code hash, contract address), so they can never make two
 * validators compute different results.
 * @module
 */

import { to_hex } from '../protocol/bytes.js';
import { derive_network_keys, type NetworkKeys } from '../protocol/keys.js';
import type { CryptoProvider, X25519Secret } from '../protocol/provider.js';
import type { PublicKeys } from './api.js';
import { type ContractStateKeys, derive_contract_state_keys } from './state.js';

/** Cached contract state keys before the cache is dropped and refilled. */
const CONTRACT_KEYS_CACHED_MAX = 10_000;

/** Keys and prepared objects derived from one consensus seed. */
export class KeyContext {
  readonly p: CryptoProvider;
  readonly seed: Uint8Array;
  readonly keys: NetworkKeys;
  readonly io: X25519Secret;
  readonly seed_exchange: X25519Secret;
  readonly #contract_keys = new Map<string, ContractStateKeys>();

  /** Whether this seed was sealed for light-client use only (enclave/light.ts). */
  readonly light_required: boolean;

  constructor(p: CryptoProvider, seed: Uint8Array, light_required = false) {
    if (seed.length !== 32) throw new RangeError('consensus seed must be 32 bytes');
    this.p = p;
    this.light_required = light_required;
    this.seed = seed;
    this.keys = derive_network_keys(p, seed);
    this.io = p.x25519_secret(this.keys.io_sk);
    this.seed_exchange = p.x25519_secret(this.keys.seed_exchange_sk);
  }

  /** The network's public keys with this enclave's measurement. */
  public_keys(measurement: string): PublicKeys {
    return {
      io_pubkey: to_hex(this.keys.io_pk),
      seed_exchange_pubkey: to_hex(this.keys.seed_exchange_pk),
      measurement,
    };
  }

  /** State keys of one contract, cached. */
  contract_keys(address: string): ContractStateKeys {
    let keys = this.#contract_keys.get(address);
    if (keys === undefined) {
      if (this.#contract_keys.size >= CONTRACT_KEYS_CACHED_MAX) this.#contract_keys.clear();
      keys = derive_contract_state_keys(this.p, this.keys.state, address);
      this.#contract_keys.set(address, keys);
    }
    return keys;
  }
}
