/**
 * `cloister init`: the genesis ceremony of a local network (./ceremony.ts: validator 0's enclave
 * makes the consensus seed; every other validator's enclave joins by simulated attestation, as
 * protocol.md §8 says), so every validator ends with its own sealed copy of the seed and no host
 * ever sees it; then it writes genesis.json and one home per validator. Genesis also fixes the
 * network's fees and balances (protocol.md §9): `min_gas_price`, the balances at genesis, and, for
 * a development network (`--dev`), the funded development accounts and the faucet.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InProcessEnclave } from '../enclave/in_process.js';
import { DEV_ACCOUNT_BALANCE, dev_accounts, FAUCET_BALANCE, faucet_account } from '../protocol/bank.js';
import { is_address_hex } from '../protocol/checks.js';
import type { CryptoProvider, ProviderName } from '../protocol/provider.js';
import { get_provider } from '../protocol/providers/index.js';
import { genesis_ceremony } from './ceremony.js';
import { TIMEOUT_MS_MAX } from './consensus/engine.js';
import { check_genesis_funds, type Genesis, type GenesisFunds } from './genesis.js';
import { type CometEngineConfig, home_paths, type NodeConfig, write_secret_file } from './home.js';
import { system_clock } from './real_world.js';

export { GENESIS_CONTRACTS } from './ceremony.js';
/** A validator's p2p port is its RPC port plus this. */
export const P2P_PORT_OFFSET = 1000;
/** Under CometBFT: validator i's CometBFT ports start at RPC base port + this + 10 i. */
export const COMET_PORT_OFFSET = 2000;

/** Validator `i`'s CometBFT ports in a local network whose Cloister RPC base port is `base_port`. */
export function comet_ports(base_port: number, i: number): { rpc: number; p2p: number; abci: number } {
  const rpc = base_port + COMET_PORT_OFFSET + 10 * i;
  return { rpc, p2p: rpc + 1, abci: rpc + 2 };
}

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
  /**
   * The consensus engine (docs/cometbft.md): Cloister's own (default), or CometBFT, each validator
   * then the ABCI application of a CometBFT node whose RPC is `http://host:comet_port(i)` and which
   * finds its app at `tcp://host:comet_port(i) + 2` ({@link comet_ports}). The CometBFT homes
   * themselves are written by the simulator (sim/cometbft/testnet.ts).
   */
  engine?: 'cloister' | 'cometbft';
  /**
   * A development network (protocol.md §9): `min_gas_price` 0, the development accounts dev0..dev3
   * and the faucet account funded at genesis (protocol/bank.ts), and `POST /v1/faucet` on every
   * validator. Default false.
   */
  dev?: boolean;
  /** Genesis `min_gas_price` (ucst per unit of gas), default 0; above 0 with `dev` is an error. */
  min_gas_price?: number;
  /** Balances at genesis, ucst by address; on a development network they add to the dev accounts'. */
  balances?: Readonly<Record<string, number>>;
  /**
   * Blocks on demand (issue #15): a height waits for a transaction, and makes an empty block only
   * after this many ms without a block; 0 (the default): never an empty block. Every validator's
   * config.json gets the same value (`consensus.empty_block_interval_ms`). At most 1 hour.
   */
  empty_block_interval_ms?: number;
  /**
   * Fixed pacing instead: a block every this many ms, transactions or not
   * (`consensus.block_time_ms`); 0 (the default): off. Not together with a non-zero
   * `empty_block_interval_ms`. At most 1 hour.
   */
  block_time_ms?: number;
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

/** Default of {@link InitOptions.empty_block_interval_ms}: a new network makes no empty blocks. */
export const EMPTY_BLOCK_INTERVAL_MS_DEFAULT = 0;

/**
 * The block pacing a new network's config.json carries (docs/consensus.md "Block pacing"):
 * `empty_block_interval_ms` (default 0: blocks only when there are transactions) and
 * `block_time_ms` (default 0: no fixed pacing). Throws a RangeError for a value that is not an
 * integer in [0, 1 hour], or for both above 0.
 */
export function block_pacing_config(opts: Pick<InitOptions, 'empty_block_interval_ms' | 'block_time_ms'>): {
  empty_block_interval_ms: number;
  block_time_ms: number;
} {
  const empty_block_interval_ms = opts.empty_block_interval_ms ?? EMPTY_BLOCK_INTERVAL_MS_DEFAULT;
  const block_time_ms = opts.block_time_ms ?? 0;
  for (const [name, value] of [
    ['empty_block_interval_ms', empty_block_interval_ms],
    ['block_time_ms', block_time_ms],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0 || value > TIMEOUT_MS_MAX)
      throw new RangeError(`${name} must be an integer number of ms in [0, ${TIMEOUT_MS_MAX}], not ${value}`);
  }
  if (empty_block_interval_ms > 0 && block_time_ms > 0)
    throw new RangeError(
      'choose one: empty_block_interval_ms (blocks on demand) or block_time_ms (a block every block time)',
    );
  return { empty_block_interval_ms, block_time_ms };
}

/**
 * Block limits. Bounded so one block's execution always fits a round: a proposer that reaps an
 * unbounded backlog makes rounds time out, and each failed round's backlog grows (a livelock).
 * `gas_max` counts declared gas limits whose fees can be paid (on a network whose min_gas_price
 * is 0, all of them: see docs/consensus.md "Block space and fees"). A block's `store_code` bytes are capped by a
 * chain rule every validator checks, not by this node setting: `STORE_CODE_BLOCK_BYTES_MAX` in
 * node/app.ts.
 */
export const BLOCK_LIMITS = Object.freeze({ txs_max: 500, bytes_max: 2 * 1024 * 1024, gas_max: 500_000_000 });

/**
 * The protocol.md §9 fields of a new network's genesis, from `init`'s options: `min_gas_price`
 * (default 0), the balances (on a development network dev0..dev3 get DEV_ACCOUNT_BALANCE each and
 * the faucet account FAUCET_BALANCE, and `balances` add to them), and `dev`. Throws a RangeError
 * for a development network with a `min_gas_price` above 0, a TypeError naming any bad balance.
 */
export function genesis_funds(
  p: CryptoProvider,
  opts: Pick<InitOptions, 'dev' | 'min_gas_price' | 'balances'>,
): Required<GenesisFunds> {
  const dev = opts.dev === true;
  const min_gas_price = opts.min_gas_price ?? 0;
  if (dev && min_gas_price !== 0) {
    throw new RangeError(
      `a development network has min_gas_price 0 (its faucet and development accounts pay no fees), not ${min_gas_price}`,
    );
  }
  const funded: Record<string, number> = {};
  if (dev) {
    for (const account of dev_accounts(p)) funded[account.address] = DEV_ACCOUNT_BALANCE;
    funded[faucet_account(p).address] = FAUCET_BALANCE;
  }
  const balances = sum_balances(funded, opts.balances ?? {});
  const funds = { min_gas_price, balances, dev };
  check_genesis_funds(funds);
  return funds;
}

/**
 * Adds balance lists address by address (an address in several adds up). Throws a TypeError for
 * a key that is not an address, an amount that is not a positive safe integer, or a sum of 2^53
 * or more.
 */
export function sum_balances(...lists: Readonly<Record<string, number>>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const list of lists) {
    for (const [address, amount] of Object.entries(list)) {
      if (!is_address_hex(address))
        throw new TypeError(
          `balance address ${JSON.stringify(String(address).slice(0, 64))} must be 40 lowercase hex`,
        );
      if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0)
        throw new TypeError(`balance of ${address} must be a positive integer below 2^53 (ucst)`);
      const total = (out[address] ?? 0) + amount;
      if (!Number.isSafeInteger(total)) throw new TypeError(`balance of ${address} adds up to 2^53 or more`);
      out[address] = total;
    }
  }
  return out;
}

/** One `--balance ADDRESS=AMOUNT` (40 lowercase hex, a positive integer of ucst); TypeError naming what is wrong. */
export function parse_balance_flag(value: string): [address: string, amount: number] {
  const m = /^([^=]*)=([^=]*)$/.exec(value);
  if (m === null) throw new TypeError(`--balance takes ADDRESS=AMOUNT, got ${JSON.stringify(value)}`);
  const [, address, text] = m as unknown as [string, string, string];
  if (!is_address_hex(address))
    throw new TypeError(`--balance ${value}: the address must be 40 lowercase hex characters`);
  const amount = /^[0-9]{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(amount) || amount <= 0)
    throw new TypeError(`--balance ${value}: the amount must be a positive integer of ucst below 2^53`);
  return [address, amount];
}

/** Largest `--balances` file read, in bytes (GENESIS_BALANCES_MAX entries fit easily). */
export const BALANCES_FILE_BYTES_MAX = 4 * 1024 * 1024;

/**
 * A `--balances FILE`: a JSON object of address (40 lowercase hex) → ucst (a positive integer).
 * Throws an Error naming the file and the first problem.
 */
export function read_balances_file(path: string): Record<string, number> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read balances file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (Buffer.byteLength(text) > BALANCES_FILE_BYTES_MAX)
    throw new Error(`balances file ${path} is over ${BALANCES_FILE_BYTES_MAX} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`balances file ${path} is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`balances file ${path} must hold a JSON object {"<address>": <ucst>, …}`);
  try {
    return sum_balances(value as Record<string, number>);
  } catch (error) {
    throw new Error(`balances file ${path}: ${(error as Error).message}`);
  }
}

/** Validator `i`'s `engine` settings in a new local network under CometBFT. */
function comet_engine_config(opts: InitOptions, i: number): CometEngineConfig {
  const url = (j: number) => `http://${opts.host}:${comet_ports(opts.base_port, j).rpc}`;
  return {
    kind: 'cometbft',
    abci: `tcp://${opts.host}:${comet_ports(opts.base_port, i).abci}`,
    rpc: url(i),
    peer_rpcs: Array.from({ length: opts.validators }, (_, j) => j)
      .filter((j) => j !== i)
      .map(url),
  };
}

/** Writes a new network into `dir` (which must be empty or absent); returns the home folders. */
export async function init_network(opts: InitOptions): Promise<{ homes: string[]; genesis: Genesis }> {
  if (!Number.isInteger(opts.validators) || opts.validators < 1 || opts.validators > 64) {
    throw new RangeError('validators must be 1..64');
  }
  if (
    !Number.isInteger(opts.base_port) ||
    opts.base_port < 1 ||
    opts.base_port + P2P_PORT_OFFSET + opts.validators > 65535 ||
    (opts.engine === 'cometbft' && opts.base_port + COMET_PORT_OFFSET + 10 * opts.validators > 65535)
  ) {
    throw new RangeError('base port out of range');
  }
  if (existsSync(opts.dir) && readdirSync(opts.dir).length > 0) {
    throw new Error(`${opts.dir} is not empty; choose a new folder`);
  }
  const p = get_provider(opts.provider);
  // Before anything is written: conflicting or bad fee and balance options are the caller's.
  const funds = genesis_funds(p, opts);
  const pacing = block_pacing_config(opts);
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
      ...(opts.engine === undefined ? {} : { engine: opts.engine }),
      ...funds,
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
      consensus: { ...LOCAL_TIMEOUTS, ...pacing },
      block: { ...BLOCK_LIMITS },
      mempool: { txs_max: 20_000, bytes_max: 64 * 1024 * 1024, per_account_max: 1000 },
      rpc_body_bytes_max: 1024 * 1024,
      ...(opts.engine === 'cometbft' ? { engine: comet_engine_config(opts, i) } : {}),
    };
    writeFileSync(paths.config, `${JSON.stringify(config, null, 2)}\n`);
  });
  return { homes, genesis };
}
