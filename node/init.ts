/**
 * `cloister init`: the genesis ceremony of a local network. Validator 0's enclave makes the
 * consensus seed; every other validator's enclave joins by (simulated) attestation exactly as
 * protocol.md §8 says, in a pre-genesis block executed by validator 0's enclave, so every
 * validator ends with its own sealed copy of the seed and no host ever sees it. Then it writes
 * genesis.json and one home per validator.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AttestationService } from '../enclave/attestation.js';
import { InProcessEnclave } from '../enclave/in_process.js';
import { unwrap } from '../enclave/result.js';
import { to_base64, to_hex } from '../protocol/bytes.js';
import { ResultCode } from '../protocol/codes.js';
import type { ProviderName } from '../protocol/provider.js';
import { get_provider } from '../protocol/providers/index.js';
import { sign_tx } from '../protocol/tx.js';
import type { Genesis } from './genesis.js';
import { home_paths, type NodeConfig, write_secret_file } from './home.js';
import { read_shipped_contract } from './reference_contracts.js';
import { LocalChain } from './store/local_chain.js';

/** Contracts every network ships at genesis, in code-id order: the reference ones first. */
export const GENESIS_CONTRACTS: readonly string[] = ['echo', 'counter', 'token', 'auction'];
/** A validator's p2p port is its RPC port plus this. */
export const P2P_PORT_OFFSET = 1000;

export interface InitOptions {
  dir: string;
  validators: number;
  chain_id: string;
  /** RPC port of validator 0; validator i uses base_port + i, and p2p base_port + 1000 + i. */
  base_port: number;
  host: string;
  provider: ProviderName;
  workers: number;
  powers?: number[];
  now_ms?: number;
}

/** Default consensus timeouts for a local network (ms). */
export const LOCAL_TIMEOUTS = Object.freeze({
  // A proposer must execute its block before proposing, and every validator before prevoting:
  // on 2 shared cores with 4 validators a full block (BLOCK_LIMITS) takes up to ~1.5 s, so the
  // first round allows 3 s, and each further round 1 s more. The pause after a commit is idle
  // time in every block: 50 ms rather than CometBFT's usual 1 s keeps the pipeline busy.
  propose_ms: 3000,
  prevote_ms: 1000,
  precommit_ms: 1000,
  round_increment_ms: 1000,
  commit_ms: 50,
});

/**
 * Block limits. Bounded so one block's execution always fits a round: a proposer that reaps an
 * unbounded backlog makes rounds time out, and each failed round's backlog grows (a livelock).
 * `gas_max` counts declared gas limits, not gas paid for (there are no fees yet: see
 * docs/consensus.md "Block space without fees"). A block's `store_code` bytes are capped by a
 * chain rule every validator checks, not by this node setting: `STORE_CODE_BLOCK_BYTES_MAX` in
 * node/app.ts.
 */
export const BLOCK_LIMITS = Object.freeze({ txs_max: 500, bytes_max: 2 * 1024 * 1024, gas_max: 500_000_000 });

/** Writes a new network into `dir` (which must be empty or absent); returns the home folders. */
export async function init_network(opts: InitOptions): Promise<{ homes: string[]; genesis: Genesis }> {
  if (!Number.isInteger(opts.validators) || opts.validators < 1 || opts.validators > 64) {
    throw new RangeError('validators must be 1..64');
  }
  if (
    !Number.isInteger(opts.base_port) ||
    opts.base_port < 1 ||
    opts.base_port + P2P_PORT_OFFSET + opts.validators > 65535
  ) {
    throw new RangeError('base port out of range');
  }
  if (existsSync(opts.dir) && readdirSync(opts.dir).length > 0) {
    throw new Error(`${opts.dir} is not empty; choose a new folder`);
  }
  const p = get_provider(opts.provider);
  const now_ms = opts.now_ms ?? Date.now();
  mkdirSync(opts.dir, { recursive: true });

  // The simulated attestation service's root key lives beside the homes, outside every node.
  const root_sk = new Uint8Array(randomBytes(32));
  write_secret_file(join(opts.dir, 'attestation_root_key'), root_sk);
  const attestation = new AttestationService(p, root_sk);

  const homes = Array.from({ length: opts.validators }, (_, i) => join(opts.dir, `v${i}`));
  const validator_sks = homes.map(() => new Uint8Array(randomBytes(32)));
  const enclaves = homes.map((home) => {
    mkdirSync(home, { recursive: true });
    return new InProcessEnclave({
      provider: opts.provider,
      platform_secret_file: home_paths(home).platform_secret,
    });
  });
  try {
    const measurement = unwrap(await enclaves[0]!.measurement());
    const seed0 = unwrap(await enclaves[0]!.create_seed());
    const keys = seed0.keys;
    const sealed = [seed0.sealed_seed];
    const codes = GENESIS_CONTRACTS.map((name) => read_shipped_contract(name));
    // Blocks no validator set signs yet, on a store in memory that nobody keeps.
    const pre_genesis = await LocalChain.open(p, {
      chain_id: opts.chain_id,
      attestation: { roots: [attestation.root_pubkey], measurements: [measurement] },
      codes,
    });
    // Pre-genesis registrations, signed by a throwaway operator account (not part of the chain).
    const operator_sk = new Uint8Array(randomBytes(32));
    const operator = to_hex(p.ed25519_public(operator_sk));
    for (let i = 1; i < opts.validators; i++) {
      const reg = unwrap(await enclaves[i]!.attestation_report());
      const quote = attestation.quote(reg.report, now_ms);
      const tx = sign_tx(p, operator_sk, {
        chain_id: opts.chain_id,
        sender: operator,
        sequence: i - 1,
        gas_limit: 1_000_000,
        msg: { type: 'register_node', pk_reg: reg.pk_reg, quote },
      });
      const input = await pre_genesis.block_input([JSON.stringify(tx)], now_ms);
      const output = unwrap(await enclaves[0]!.execute_block(input));
      await pre_genesis.apply(input, output);
      const share = output.results[0]!;
      if (share.code !== ResultCode.OK)
        throw new Error(`registration of validator ${i} refused (code ${share.code})`);
      const joined = unwrap(
        await enclaves[i]!.accept_seed_share({
          sealed_reg: reg.sealed_reg,
          seed_share: share.output,
          seed_exchange_pubkey: keys.seed_exchange_pubkey,
        }),
      );
      if (joined.keys.io_pubkey !== keys.io_pubkey) throw new Error('a validator joined a different network');
      sealed.push(joined.sealed_seed);
    }
    await pre_genesis.close();

    const genesis: Genesis = {
      chain_id: opts.chain_id,
      genesis_time_ms: now_ms,
      validators: homes.map((_, i) => ({
        pubkey: to_hex(p.ed25519_public(validator_sks[i]!)),
        power: opts.powers?.[i] ?? 10,
        name: `v${i}`,
      })),
      io_pubkey: keys.io_pubkey,
      seed_exchange_pubkey: keys.seed_exchange_pubkey,
      attestation: { roots: [attestation.root_pubkey], measurements: [measurement] },
      codes: codes.map((c) => ({
        name: c.name,
        code_hash: to_hex(p.sha256(c.code)),
        code: to_base64(c.code),
      })),
    };
    // Bind every validator's seed to this chain's light client: from now on each enclave executes
    // only blocks signed by the rightful proposer on top of commits it verified.
    const sealed_light: string[] = [];
    for (let i = 0; i < opts.validators; i++) {
      unwrap(await enclaves[i]!.load_seed(sealed[i]!));
      const bound = unwrap(
        await enclaves[i]!.light_init({
          chain_id: opts.chain_id,
          validators: genesis.validators.map(({ pubkey, power }) => ({ pubkey, power })),
        }),
      );
      sealed[i] = bound.sealed_seed;
      sealed_light.push(bound.sealed_light);
    }
    const genesis_text = `${JSON.stringify(genesis, null, 2)}\n`;
    homes.forEach((home, i) => {
      const paths = home_paths(home);
      writeFileSync(paths.genesis, genesis_text);
      write_secret_file(paths.validator_key, validator_sks[i]!);
      writeFileSync(join(home, 'sealed_seed'), `${sealed[i]!}\n`);
      writeFileSync(join(home, 'sealed_light'), `${sealed_light[i]!}\n`);
      const config: NodeConfig = {
        chain_id: opts.chain_id,
        index: i,
        name: `v${i}`,
        p2p: { host: opts.host, port: opts.base_port + P2P_PORT_OFFSET + i },
        rpc: { host: opts.host, port: opts.base_port + i },
        peers: homes
          .map((_, j) => ({
            pubkey: genesis.validators[j]!.pubkey,
            host: opts.host,
            port: opts.base_port + P2P_PORT_OFFSET + j,
          }))
          .filter((_, j) => j !== i),
        enclave: { provider: opts.provider, workers: opts.workers },
        consensus: { ...LOCAL_TIMEOUTS },
        block: { ...BLOCK_LIMITS },
        mempool: { txs_max: 20_000, bytes_max: 64 * 1024 * 1024, per_account_max: 1000 },
        rpc_body_bytes_max: 1024 * 1024,
      };
      writeFileSync(paths.config, `${JSON.stringify(config, null, 2)}\n`);
    });
    return { homes, genesis };
  } finally {
    await Promise.all(enclaves.map((e) => e.close()));
  }
}
