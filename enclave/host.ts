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
    /** The consensus engine it follows: Cloister's (default) or CometBFT (docs/cometbft.md). */
    engine?: 'cloister' | 'cometbft';
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

  /**
   * Executes a block. With a stage plan (see {@link stage_plan}), ranges of its transactions are
   * first staged in parallel (enclave/speculate.ts) and the sealed records handed to the worker
   * that executes the block; a stage that fails only leaves its range to be done in order.
   */
  execute_block(input: BlockInput): Promise<Result<BlockOutput>> {
    return this.#with_seed(async (sealed_seed) => {
      const staged = await this.#stage(sealed_seed, input);
      return this.run({
        call: 'execute_block',
        sealed_seed,
        input,
        ...(staged === null ? {} : { staged }),
      });
    });
  }

  /** Ranges `[from, to)` of a block of `txs` transactions to stage in parallel, or null for none. */
  protected stage_plan(_txs: number): [number, number][] | null {
    return null;
  }

  async #stage(sealed_seed: Base64, input: BlockInput): Promise<Uint8Array[] | null> {
    const plan = Array.isArray(input?.txs) ? this.stage_plan(input.txs.length) : null;
    if (plan === null) return null;
    const answers = await Promise.all(
      plan.map(([from, to]) => this.run<Uint8Array[]>({ call: 'stage_txs', sealed_seed, input, from, to })),
    );
    const none = new Uint8Array(0);
    const staged: Uint8Array[] = new Array<Uint8Array>(input.txs.length).fill(none);
    let any = false;
    plan.forEach(([from, to], i) => {
      const answer = answers[i]!;
      if (!answer.ok || answer.value.length !== to - from) return;
      for (let j = from; j < to; j++) staged[j] = answer.value[j - from]!;
      any = true;
    });
    return any ? staged : null;
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

/**
 * Splits `txs` transactions into at most `chunks_max` ranges of at least `chunk_txs_min` each (the
 * last ones one longer where they do not divide evenly); null when that makes fewer than two.
 */
export function plan_stages(
  txs: number,
  chunks_max: number,
  chunk_txs_min: number,
): [number, number][] | null {
  const chunks = Math.min(chunks_max, Math.floor(txs / Math.max(1, chunk_txs_min)));
  if (chunks < 2) return null;
  const plan: [number, number][] = [];
  const base = Math.floor(txs / chunks);
  const longer_from = chunks - (txs % chunks);
  let from = 0;
  for (let i = 0; i < chunks; i++) {
    const to = from + base + (i >= longer_from ? 1 : 0);
    plan.push([from, to]);
    from = to;
  }
  // The ranges cover the block exactly, in order:
  if (from !== txs) throw new Error('invariant: stage plan does not cover the block');
  return plan;
}
