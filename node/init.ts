/**
 * `cloister init`: the genesis ceremony of a local network (./ceremony.ts: validator 0's enclave
 * makes the consensus seed; every other validator's enclave joins by simulated attestation, as
 * protocol.md §8 says), so every validator ends with its own sealed copy of the seed and no host
 * ever sees it; then it writes genesis.json and one home per validator.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InProcessEnclave } from '../enclave/in_process.js';
import type { ProviderName } from '../protocol/provider.js';
import { get_provider } from '../protocol/providers/index.js';
import { genesis_ceremony } from './ceremony.js';
import type { Genesis } from './genesis.js';
import { home_paths, type NodeConfig, write_secret_file } from './home.js';
import { system_clock } from './real_world.js';

export { GENESIS_CONTRACTS } from './ceremony.js';
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
  const now_ms = opts.now_ms ?? system_clock().now_ms();
  mkdirSync(opts.dir, { recursive: true });

  const homes = Array.from({ length: opts.validators }, (_, i) => join(opts.dir, `v${i}`));
  for (const home of homes) mkdirSync(home, { recursive: true });
  const ceremony = await genesis_ceremony(
    {
      validators: opts.validators,
      chain_id: opts.chain_id,
      now_ms,
      ...(opts.powers === undefined ? {} : { powers: opts.powers }),
    },
    {
      p,
      random_bytes: (n) => new Uint8Array(randomBytes(n)),
      enclave: (i) =>
        new InProcessEnclave({
          provider: opts.provider,
          platform_secret_file: home_paths(homes[i] as string).platform_secret,
        }),
    },
  );
  // The simulated attestation service's root key lives beside the homes, outside every node.
  write_secret_file(join(opts.dir, 'attestation_root_key'), ceremony.attestation_root_sk);
  const { genesis, validator_sks } = ceremony;
  const sealed = ceremony.sealed_seeds;
  const sealed_light = ceremony.sealed_lights;
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
}
