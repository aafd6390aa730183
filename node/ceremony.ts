/**
 * The genesis ceremony, in memory: validator 0's enclave creates the consensus seed; every other
 * validator's enclave joins by (simulated) attestation exactly as protocol.md §8 says, in
 * pre-genesis blocks executed by validator 0's enclave on a throwaway chain; then every seed is
 * bound to the chain's light client. Returns what each validator's home (or simulated disk) needs.
 * `cloister init` (./init.ts) writes it to files; the simulator (sim/run/) keeps it in memory, with
 * its randomness drawn from the run's seed. One ceremony for both.
 * @module
 */

import type { Enclave } from '../enclave/api.js';
import { AttestationService } from '../enclave/attestation.js';
import { unwrap } from '../enclave/result.js';
import { to_base64, to_hex } from '../protocol/bytes.js';
import { ResultCode } from '../protocol/codes.js';
import type { CryptoProvider } from '../protocol/provider.js';
import { SYSTEM_CONTRACTS } from '../protocol/system.js';
import { sign_tx } from '../protocol/tx.js';
import { check_genesis_funds, type Genesis, type GenesisFunds } from './genesis.js';
import { read_shipped_contract } from './reference_contracts.js';
import { LocalChain } from './store/local_chain.js';

/**
 * Contracts every network ships at genesis, in code-id order: the reference ones first, the system
 * contracts last (protocol/system.ts: instantiated at genesis at an address their code hash names).
 */
export const GENESIS_CONTRACTS: readonly string[] = [
  'echo',
  'counter',
  'token',
  'auction',
  ...SYSTEM_CONTRACTS,
];
/** Most validators a ceremony makes (genesis allows more; a local network is for experiments). */
export const CEREMONY_VALIDATORS_MAX = 100;

/** Options of {@link genesis_ceremony}. */
export interface CeremonyOptions {
  validators: number;
  chain_id: string;
  /** Genesis time, and the time the attestation quotes are issued at. */
  now_ms: number;
  /** Voting power of each validator (default 10 each). */
  powers?: readonly number[];
  /** The consensus engine every enclave's light client follows (enclave/light.ts); default Cloister's. */
  engine?: 'cloister' | 'cometbft';
  /** Root of the code the contracts are read from (default: this checkout). */
  code_root?: string;
  /** protocol.md §9 genesis `min_gas_price`; left out of genesis when absent (a v1 genesis: 0). */
  min_gas_price?: number;
  /** protocol.md §9 genesis balances, ucst by address; left out of genesis when absent (none). */
  balances?: Readonly<Record<string, number>>;
  /** protocol.md §9: a development network; left out of genesis when absent (false). */
  dev?: boolean;
}

/** What the ceremony uses: a hash provider, a random source, and each validator's enclave. */
export interface CeremonyModules {
  p: CryptoProvider;
  /** Entropy for validator keys, the attestation root and the operator account. */
  random_bytes: (n: number) => Uint8Array;
  /** Validator `i`'s enclave; the ceremony closes it when done. */
  enclave: (i: number) => Enclave;
}

/** What each validator takes away from the ceremony. */
export interface CeremonyResult {
  genesis: Genesis;
  /** Each validator's Ed25519 secret key (its consensus and p2p identity). */
  validator_sks: Uint8Array[];
  /** Each validator's seed, sealed to its own enclave and bound to the chain's light client. */
  sealed_seeds: string[];
  /** Each validator's sealed light-client state at genesis. */
  sealed_lights: string[];
  /** The simulated attestation service's root key (kept outside every node). */
  attestation_root_sk: Uint8Array;
}

/** Runs the ceremony; throws if any registration is refused or any enclave joins another network. */
export async function genesis_ceremony(opts: CeremonyOptions, m: CeremonyModules): Promise<CeremonyResult> {
  const n = opts.validators;
  if (!Number.isInteger(n) || n < 1 || n > CEREMONY_VALIDATORS_MAX) {
    throw new RangeError(`validators must be 1..${CEREMONY_VALIDATORS_MAX}`);
  }
  // The §9 fields genesis gets, each only when given; checked before any enclave work.
  const funds: GenesisFunds = {
    ...(opts.min_gas_price === undefined ? {} : { min_gas_price: opts.min_gas_price }),
    ...(opts.balances === undefined ? {} : { balances: { ...opts.balances } }),
    ...(opts.dev === undefined ? {} : { dev: opts.dev }),
  };
  check_genesis_funds(funds);
  const { p } = m;
  const attestation_root_sk = m.random_bytes(32);
  const attestation = new AttestationService(p, attestation_root_sk);
  const validator_sks = Array.from({ length: n }, () => m.random_bytes(32));
  const enclaves = Array.from({ length: n }, (_, i) => m.enclave(i));
  try {
    const measurement = unwrap(await (enclaves[0] as Enclave).measurement());
    const seed0 = unwrap(await (enclaves[0] as Enclave).create_seed());
    const keys = seed0.keys;
    const sealed = [seed0.sealed_seed];
    const codes = GENESIS_CONTRACTS.map((name) => read_shipped_contract(name, opts.code_root));
    const policy = { roots: [attestation.root_pubkey], measurements: [measurement] };
    // Blocks no validator set signs yet, on a store in memory that nobody keeps.
    const pre_genesis = await LocalChain.open(p, { chain_id: opts.chain_id, attestation: policy, codes });
    try {
      // Pre-genesis registrations, signed by a throwaway operator account (not part of the chain).
      const operator_sk = m.random_bytes(32);
      const operator = to_hex(p.ed25519_public(operator_sk));
      for (let i = 1; i < n; i++) {
        const enclave = enclaves[i] as Enclave;
        const reg = unwrap(await enclave.attestation_report());
        const tx = sign_tx(p, operator_sk, {
          chain_id: opts.chain_id,
          sender: operator,
          sequence: i - 1,
          gas_limit: 1_000_000,
          msg: {
            type: 'register_node',
            pk_reg: reg.pk_reg,
            quote: attestation.quote(reg.report, opts.now_ms),
          },
        });
        const input = await pre_genesis.block_input([JSON.stringify(tx)], opts.now_ms);
        const output = unwrap(await (enclaves[0] as Enclave).execute_block(input));
        await pre_genesis.apply(input, output);
        const share = output.results[0];
        if (share?.code !== ResultCode.OK)
          throw new Error(`registration of validator ${i} refused (code ${share?.code})`);
        const joined = unwrap(
          await enclave.accept_seed_share({
            sealed_reg: reg.sealed_reg,
            seed_share: share.output,
            seed_exchange_pubkey: keys.seed_exchange_pubkey,
          }),
        );
        if (joined.keys.io_pubkey !== keys.io_pubkey)
          throw new Error('a validator joined a different network');
        sealed.push(joined.sealed_seed);
      }
    } finally {
      await pre_genesis.close();
    }
    const genesis: Genesis = {
      chain_id: opts.chain_id,
      genesis_time_ms: opts.now_ms,
      validators: validator_sks.map((sk, i) => ({
        pubkey: to_hex(p.ed25519_public(sk)),
        power: opts.powers?.[i] ?? 10,
        name: `v${i}`,
      })),
      io_pubkey: keys.io_pubkey,
      seed_exchange_pubkey: keys.seed_exchange_pubkey,
      attestation: policy,
      codes: codes.map((c) => ({
        name: c.name,
        code_hash: to_hex(p.sha256(c.code)),
        code: to_base64(c.code),
      })),
      ...funds,
    };
    // Bind every validator's seed to this chain's light client: from now on each enclave executes
    // only blocks signed by the rightful proposer on top of commits it verified.
    const sealed_lights: string[] = [];
    for (let i = 0; i < n; i++) {
      const enclave = enclaves[i] as Enclave;
      unwrap(await enclave.load_seed(sealed[i] as string));
      const bound = unwrap(
        await enclave.light_init({
          chain_id: opts.chain_id,
          validators: genesis.validators.map(({ pubkey, power }) => ({ pubkey, power })),
          ...(opts.engine === undefined ? {} : { engine: opts.engine }),
        }),
      );
      sealed[i] = bound.sealed_seed;
      sealed_lights.push(bound.sealed_light);
    }
    return { genesis, validator_sks, sealed_seeds: sealed, sealed_lights, attestation_root_sk };
  } finally {
    await Promise.all(enclaves.map((e) => e.close()));
  }
}
