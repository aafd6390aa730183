/**
 * The enclave's entry point: one `dispatch(task)` that answers every call of the call set with a
 * Result and never throws. Runs inside a worker thread (enclave/worker.ts) or on the caller's
 * thread (enclave/in_process.ts); the code and the answers are the same.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { equal_bytes, from_base64, from_hex, to_base64, to_hex } from '../protocol/bytes.js';
import { GENESIS_PARENT_HASH } from '../protocol/chain.js';
import { is_hex64 } from '../protocol/checks.js';
import { derive_network_keys } from '../protocol/keys.js';
import type { CryptoProvider } from '../protocol/provider.js';
import { get_provider } from '../protocol/providers/index.js';
import { open_seed_share } from '../protocol/seed_share.js';
import type { BlockInput, PublicKeys, Registration, SealedSeed } from './api.js';
import { verify_quote } from './attestation.js';
import { execute_block } from './block.js';
import { KeyContext } from './context.js';
import {
  check_light,
  decode_light,
  encode_light,
  type LightInput,
  type LightState,
  validators_hash,
} from './light.js';
import { type CometLightInput, check_light_comet } from './light_comet.js';
import { compute_measurement, find_code_root } from './measurement.js';
import { ProgramCache } from './programs.js';
import { execute_query } from './query.js';
import { EnclaveErrorCode, EnclaveFault, fail, ok, type Result } from './result.js';
import {
  derive_seal_key,
  load_platform_secret,
  type SealPurpose,
  seal_secret,
  unseal_secret,
} from './sealing.js';
import { stage_txs } from './speculate.js';
import { derive_stage_key } from './stage_record.js';
import type { EnclaveOptions, EnclaveTask } from './tasks.js';
import { check_chain_id, check_policy, check_validators } from './validate.js';

/** Seeds kept unsealed at once (a node normally has one). */
const SEEDS_CACHED_MAX = 4;
const SEALED_B64_CHARS_MAX = 2048;

/** Injected sources of nondeterminism, so simulations can replay them. */
export interface EnclaveModules {
  /** Entropy for new seeds, registration keys and sealing IVs (never for anything validators compare). */
  random_bytes?: (n: number) => Uint8Array;
  /**
   * SIMULATION: this node's platform secret held in memory rather than read from
   * `opts.platform_secret_file` (the in-process simulator runs many enclaves without a disk).
   */
  platform_secret?: Uint8Array;
  /** The measurement, when the caller already computed it for this code root (it reads every measured file). */
  measurement?: Uint8Array;
  /**
   * SIMULATION: the crypto provider, instead of `opts.provider`'s (the simulator's shares its
   * signature checks between its in-process enclaves: same bytes, same answer, checked once). It
   * must implement the same algorithms: it is a cache, never another answer.
   */
  provider?: CryptoProvider;
}

/** The enclave's state: measurement, sealing key and caches. */
export class EnclaveCore {
  readonly #p: CryptoProvider;
  readonly #random_bytes: (n: number) => Uint8Array;
  readonly #measurement: Uint8Array;
  readonly #seal_key: Uint8Array;
  /** Seals stage records between this node's workers (enclave/stage_record.ts). */
  readonly #stage_key: Uint8Array;
  readonly #seeds = new Map<string, KeyContext>();
  readonly #programs: ProgramCache;
  /** Highest height each chain's light client verified in this worker: older sealed states are refused. */
  readonly #light_seen = new Map<string, number>();

  constructor(opts: EnclaveOptions, modules: EnclaveModules = {}) {
    if (opts.provider !== 'noble' && opts.provider !== 'native')
      throw new TypeError('provider must be noble or native');
    if (typeof opts.platform_secret_file !== 'string' && modules.platform_secret === undefined)
      throw new TypeError('platform_secret_file must be a path');
    if (modules.platform_secret !== undefined && modules.platform_secret.length !== 32)
      throw new RangeError('platform_secret must be 32 bytes');
    this.#p = modules.provider ?? get_provider(opts.provider);
    this.#random_bytes = modules.random_bytes ?? ((n) => new Uint8Array(randomBytes(n)));
    this.#programs = new ProgramCache(opts.vm_engine);
    this.#measurement =
      modules.measurement?.slice() ?? compute_measurement(this.#p, opts.code_root ?? find_code_root());
    const platform_secret =
      modules.platform_secret?.slice() ?? load_platform_secret(opts.platform_secret_file, this.#random_bytes);
    this.#seal_key = derive_seal_key(this.#p, platform_secret, this.#measurement);
    this.#stage_key = derive_stage_key(this.#p, this.#seal_key);
  }

  /** Answers one task. Never throws. */
  dispatch(task: EnclaveTask): Result<unknown> {
    try {
      if (typeof task !== 'object' || task === null)
        return fail(EnclaveErrorCode.BAD_INPUT, 'task must be an object');
      switch (task.call) {
        case 'measurement':
          return ok(to_hex(this.#measurement));
        case 'create_seed':
          return ok(this.#create_seed());
        case 'load_seed':
        case 'public_keys':
          return ok(this.#context(task.sealed_seed).public_keys(to_hex(this.#measurement)));
        case 'attestation_report':
          return ok(this.#attestation_report());
        case 'accept_seed_share':
          return ok(this.#accept_seed_share(task.sealed_reg, task.seed_share, task.seed_exchange_pubkey));
        case 'check_registration': {
          const { pk_reg, quote, time_ms, attestation } = task.args ?? {};
          if (!is_hex64(pk_reg)) return fail(EnclaveErrorCode.BAD_INPUT, 'pk_reg must be 64 hex');
          if (!Number.isSafeInteger(time_ms) || time_ms < 0)
            return fail(EnclaveErrorCode.BAD_INPUT, 'time_ms must be a safe integer');
          const verdict = verify_quote(this.#p, quote, from_hex(pk_reg), check_policy(attestation), time_ms);
          return ok(verdict.valid ? { valid: true, reason: '' } : { valid: false, reason: verdict.reason });
        }
        case 'execute_block':
          return ok(this.#execute(task.sealed_seed, task.input, task.staged));
        case 'stage_txs':
          return ok(this.#stage(task.sealed_seed, task.input, task.from, task.to));
        case 'light_init':
          return ok(this.#light_init(task.sealed_seed, task.chain_id, task.validators, task.engine));
        case 'query':
          return ok(execute_query(this.#context(task.sealed_seed), this.#programs, task.input));
        default:
          return fail(EnclaveErrorCode.BAD_INPUT, 'unknown call');
      }
    } catch (error) {
      if (error instanceof EnclaveFault) return fail(error.code, error.message);
      // Anything else is a bug. Say which kind of error without echoing its message: a message
      // could quote a secret or plaintext value the failing code was handling.
      const kind = error instanceof Error ? error.name : typeof error;
      return fail(EnclaveErrorCode.INTERNAL, `internal enclave error (${kind})`);
    }
  }

  #seal(purpose: SealPurpose, secret: Uint8Array): string {
    return to_base64(seal_secret(this.#p, this.#seal_key, purpose, secret, this.#random_bytes(12)));
  }

  #unseal(purpose: SealPurpose, sealed_b64: unknown): Uint8Array {
    if (typeof sealed_b64 !== 'string' || sealed_b64.length > SEALED_B64_CHARS_MAX) {
      throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, 'sealed blob must be a short base64 string');
    }
    let secret: Uint8Array | null = null;
    try {
      secret = unseal_secret(this.#p, this.#seal_key, purpose, from_base64(sealed_b64));
    } catch {
      secret = null;
    }
    if (secret === null) {
      throw new EnclaveFault(
        EnclaveErrorCode.UNSEAL_FAILED,
        'sealed blob does not open: sealed on another node, by another enclave build, or altered',
      );
    }
    return secret;
  }

  #context(sealed_seed: unknown): KeyContext {
    if (typeof sealed_seed === 'string') {
      const cached = this.#seeds.get(sealed_seed);
      if (cached !== undefined) return cached;
    }
    // A seed sealed for light-client use opens only under that purpose, and stays bound to it.
    let seed: Uint8Array;
    let light_required = true;
    try {
      seed = this.#unseal('consensus-seed/light', sealed_seed);
    } catch (error) {
      if (!(error instanceof EnclaveFault) || error.code !== EnclaveErrorCode.UNSEAL_FAILED) throw error;
      seed = this.#unseal('consensus-seed', sealed_seed);
      light_required = false;
    }
    const context = new KeyContext(this.#p, seed, light_required);
    if (this.#seeds.size >= SEEDS_CACHED_MAX) this.#seeds.clear();
    this.#seeds.set(sealed_seed as string, context);
    return context;
  }

  /**
   * Binds a seed to a chain's light client: returns the seed sealed for light-client use only and
   * the light client's initial state (genesis of `chain_id` with `validators`).
   */
  #light_init(
    sealed_seed: unknown,
    chain_id: unknown,
    validators: unknown,
    engine: unknown,
  ): { sealed_seed: string; sealed_light: string } {
    const id = check_chain_id(chain_id);
    const set = check_validators(validators);
    if (engine !== undefined && engine !== 'cloister' && engine !== 'cometbft')
      throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, "engine must be 'cloister' or 'cometbft'");
    const context = this.#context(sealed_seed);
    return {
      sealed_seed: this.#seal('consensus-seed/light', context.seed),
      sealed_light: this.#seal(
        'light-client',
        encode_light({
          chain_id: id,
          height: 0,
          block_hash: GENESIS_PARENT_HASH,
          validators_hash: validators_hash(this.#p, set),
          ...(engine === 'cometbft' ? { engine: 'cometbft' as const } : {}),
        }),
      ),
    };
  }

  /**
   * The light client's check of a block (enclave/light.ts): the state after it, or null when the
   * block goes without (the seed does not require it and the host sent none).
   */
  #check_light(
    context: KeyContext,
    value: unknown,
  ): { chain_id: string; seen: number; next: LightState } | null {
    const input = value as BlockInput & { light?: LightInput | CometLightInput };
    const light = typeof input === 'object' && input !== null ? input.light : undefined;
    if (light === undefined) {
      if (context.light_required) {
        throw new EnclaveFault(
          EnclaveErrorCode.BAD_INPUT,
          'light client: this enclave executes only blocks its light client checked',
        );
      }
      return null;
    }
    if (typeof light !== 'object' || light === null)
      throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, 'light client: bad input');
    check_validators(light.validators);
    const state = decode_light(this.#unseal('light-client', light.sealed_light));
    const seen = this.#light_seen.get(state.chain_id) ?? 0;
    if (state.height + 1 < seen) {
      throw new EnclaveFault(
        EnclaveErrorCode.BAD_INPUT,
        `light client: state at height ${state.height} is older than ${seen} seen`,
      );
    }
    // The engine is the sealed state's: evidence of the other engine's kind is refused.
    const comet = (light as { engine?: unknown }).engine === 'cometbft';
    if (comet !== (state.engine === 'cometbft'))
      throw new EnclaveFault(
        EnclaveErrorCode.BAD_INPUT,
        'light client: evidence of another consensus engine',
      );
    const next = comet
      ? check_light_comet(this.#p, state, input, light as unknown as CometLightInput)
      : check_light(this.#p, state, input, light as LightInput);
    return { chain_id: state.chain_id, seen, next };
  }

  /** Executes a block, through the light client when the seed requires it or the host asks. */
  #execute(sealed_seed: unknown, value: unknown, staged: unknown): unknown {
    const context = this.#context(sealed_seed);
    const light = this.#check_light(context, value);
    const records =
      staged === undefined ? undefined : { records: staged as Uint8Array[], stage_key: this.#stage_key };
    const output = execute_block(context, this.#programs, value, records);
    // Not a result: the host asks again with what was missing, so the light state stays put.
    if (light === null || output.need !== undefined) return output;
    this.#light_seen.set(light.chain_id, Math.max(light.seen, light.next.height));
    return { ...output, sealed_light: this.#seal('light-client', encode_light(light.next)) };
  }

  /**
   * Stages a range of a block's transactions for parallel execution (enclave/speculate.ts). The
   * light client checks the block first, as for executing it: a host cannot have a block it may
   * not execute speculated either.
   */
  #stage(sealed_seed: unknown, value: unknown, from: unknown, to: unknown): Uint8Array[] {
    const context = this.#context(sealed_seed);
    this.#check_light(context, value);
    return stage_txs(context, this.#programs, this.#stage_key, this.#random_bytes, value, from, to);
  }

  #create_seed(): SealedSeed {
    const seed = this.#random_bytes(32);
    const sealed_seed = this.#seal('consensus-seed', seed);
    return { sealed_seed, keys: this.#context(sealed_seed).public_keys(to_hex(this.#measurement)) };
  }

  #attestation_report(): Registration {
    const sk_reg = this.#random_bytes(32);
    const pk_reg = this.#p.x25519_secret(sk_reg).public_key;
    return {
      pk_reg: to_hex(pk_reg),
      sealed_reg: this.#seal('registration-key', sk_reg),
      report: { measurement: to_hex(this.#measurement), report_data: to_hex(this.#p.sha256(pk_reg)) },
    };
  }

  #accept_seed_share(sealed_reg: unknown, seed_share: unknown, seed_exchange_pubkey: unknown): SealedSeed {
    if (!is_hex64(seed_exchange_pubkey)) {
      throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, 'seed_exchange_pubkey must be 64 hex');
    }
    if (typeof seed_share !== 'string' || seed_share.length > SEALED_B64_CHARS_MAX) {
      throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, 'seed_share must be a short base64 string');
    }
    const reg = this.#p.x25519_secret(this.#unseal('registration-key', sealed_reg));
    const pk_seed_exchange = from_hex(seed_exchange_pubkey, 32);
    let seed: Uint8Array | null = null;
    try {
      seed = open_seed_share(this.#p, reg, pk_seed_exchange, from_base64(seed_share));
    } catch {
      seed = null;
    }
    if (seed === null || seed.length !== 32) {
      throw new EnclaveFault(
        EnclaveErrorCode.BAD_SEED_SHARE,
        'seed share does not open for this registration key',
      );
    }
    // The share must carry the seed of the network we asked to join, not one the host chose.
    if (!equal_bytes(derive_network_keys(this.#p, seed).seed_exchange_pk, pk_seed_exchange)) {
      throw new EnclaveFault(EnclaveErrorCode.BAD_SEED_SHARE, 'seed share is for another network');
    }
    const sealed_seed = this.#seal('consensus-seed', seed);
    return { sealed_seed, keys: this.#context(sealed_seed).public_keys(to_hex(this.#measurement)) };
  }
}

export type { PublicKeys };
