/**
 * The host side of the call set, shared by both enclave implementations: it keeps the sealed seed
 * (ciphertext the host may hold) and turns each call into a task for `run`. Subclasses only say
 * how a task reaches the enclave code.
 * @module
 */

import type {
  Base64,
  BlockInput,
  BlockOutput,
  Enclave,
  Hex,
  PublicKeys,
  QueryInput,
  QueryOutput,
  Registration,
  RegistrationCheck,
  SealedSeed,
} from './api.js';
import { EnclaveErrorCode, fail, type Result } from './result.js';
import type { EnclaveTask } from './tasks.js';

/** Implements the call set over a task runner. */
export abstract class TaskEnclave implements Enclave {
  #sealed_seed: Base64 | null = null;

  /** Delivers one task to enclave code and returns its answer; never throws. */
  protected abstract run<T>(task: EnclaveTask): Promise<Result<T>>;
  abstract close(): Promise<void>;

  /** The sealed seed the host keeps (ciphertext), or null before create/load. */
  get sealed_seed(): Base64 | null {
    return this.#sealed_seed;
  }

  measurement(): Promise<Result<Hex>> {
    return this.run({ call: 'measurement' });
  }

  async create_seed(): Promise<Result<SealedSeed>> {
    if (this.#sealed_seed !== null)
      return fail(EnclaveErrorCode.SEED_EXISTS, 'this enclave already has a seed');
    const result = await this.run<SealedSeed>({ call: 'create_seed' });
    if (result.ok) this.#sealed_seed = result.value.sealed_seed;
    return result;
  }

  async load_seed(sealed_seed: Base64): Promise<Result<PublicKeys>> {
    const result = await this.run<PublicKeys>({ call: 'load_seed', sealed_seed });
    if (result.ok) this.#sealed_seed = sealed_seed;
    return result;
  }

  public_keys(): Promise<Result<PublicKeys>> {
    return this.#with_seed((sealed_seed) => this.run({ call: 'public_keys', sealed_seed }));
  }

  attestation_report(): Promise<Result<Registration>> {
    return this.run({ call: 'attestation_report' });
  }

  async accept_seed_share(args: {
    sealed_reg: Base64;
    seed_share: Base64;
    seed_exchange_pubkey: Hex;
  }): Promise<Result<SealedSeed>> {
    const result = await this.run<SealedSeed>({ call: 'accept_seed_share', ...args });
    if (result.ok) this.#sealed_seed = result.value.sealed_seed;
    return result;
  }

  check_registration(args: RegistrationCheck): Promise<Result<{ valid: boolean; reason: string }>> {
    return this.run({ call: 'check_registration', args });
  }

  async light_init(args: {
    chain_id: string;
    validators: { pubkey: string; power: number }[];
  }): Promise<Result<{ sealed_seed: Base64; sealed_light: Base64 }>> {
    const sealed_seed = this.#sealed_seed;
    if (sealed_seed === null)
      return fail(EnclaveErrorCode.NO_SEED, 'no seed loaded: call create_seed or load_seed first');
    const result = await this.run<{ sealed_seed: Base64; sealed_light: Base64 }>({
      call: 'light_init',
      sealed_seed,
      ...args,
    });
    if (result.ok) this.#sealed_seed = result.value.sealed_seed;
    return result;
  }

  execute_block(input: BlockInput): Promise<Result<BlockOutput>> {
    return this.#with_seed((sealed_seed) => this.run({ call: 'execute_block', sealed_seed, input }));
  }

  query(input: QueryInput): Promise<Result<QueryOutput>> {
    return this.#with_seed((sealed_seed) => this.run({ call: 'query', sealed_seed, input }));
  }

  #with_seed<T>(fn: (sealed_seed: Base64) => Promise<Result<T>>): Promise<Result<T>> {
    if (this.#sealed_seed === null) {
      return Promise.resolve(
        fail(EnclaveErrorCode.NO_SEED, 'no seed loaded: call create_seed or load_seed first'),
      );
    }
    return fn(this.#sealed_seed);
  }
}
