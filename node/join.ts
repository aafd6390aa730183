/**
 * `cloister node join`: a new node joins a running network by registration (protocol.md §8).
 * Its enclave makes a registration key and report; the (simulated) attestation service quotes
 * it; a `register_node` transaction goes to a validator's RPC; every validator's enclave checks
 * the quote and outputs the seed share, which only this node's enclave can open. The node then
 * seals the seed to its own platform and follows the chain like any other (node/follower.ts).
 * @module
 */

import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AttestationService } from '../enclave/attestation.js';
import { InProcessEnclave } from '../enclave/in_process.js';
import { unwrap } from '../enclave/result.js';
import { to_hex } from '../protocol/bytes.js';
import { get_provider } from '../protocol/providers/index.js';
import { rpc } from '../protocol/rpc_client.js';
import { sign_tx } from '../protocol/tx.js';
import { read_genesis } from './genesis.js';
import { home_paths, type NodeConfig, read_secret_file, write_secret_file } from './home.js';
import { BLOCK_LIMITS, LOCAL_TIMEOUTS } from './init.js';
import { system_clock } from './real_world.js';

export interface JoinOptions {
  home: string;
  genesis_file: string;
  /** Validators' RPC URLs: the registration goes to the first that answers; the node follows them. */
  from: string[];
  /** The simulated attestation service's root key (written by `cloister init`). */
  attestation_key_file: string;
  rpc: { host: string; port: number };
}

/** Registers a new node and writes its home; resolves with its public keys. */
export async function join_network(opts: JoinOptions): Promise<{ io_pubkey: string; height: number }> {
  if (existsSync(opts.home) && readdirSync(opts.home).length > 0)
    throw new Error(`${opts.home} is not empty; choose a new folder`);
  if (opts.from.length === 0) throw new TypeError('name at least one validator RPC URL to join through');
  const p = get_provider('native');
  const genesis = read_genesis(p, opts.genesis_file);
  const attestation = new AttestationService(p, read_secret_file(opts.attestation_key_file));
  mkdirSync(opts.home, { recursive: true });
  const paths = home_paths(opts.home);
  copyFileSync(opts.genesis_file, paths.genesis);
  const enclave = new InProcessEnclave({ provider: 'native', platform_secret_file: paths.platform_secret });
  try {
    const reg = unwrap(await enclave.attestation_report());
    const quote = attestation.quote(reg.report, system_clock().now_ms());
    const account = new Uint8Array(randomBytes(32));
    const tx = sign_tx(p, account, {
      chain_id: genesis.chain_id,
      sender: to_hex(p.ed25519_public(account)),
      sequence: 0,
      gas_limit: 1_000_000,
      msg: { type: 'register_node', pk_reg: reg.pk_reg, quote },
    });
    let record: { code: number; output: string; height: number } | null = null;
    let last_error: unknown = null;
    for (const url of opts.from) {
      try {
        record = await rpc(url, '/v1/txs?wait=commit', { body: tx, timeout_ms: 60_000 });
        break;
      } catch (error) {
        last_error = error;
      }
    }
    if (record === null)
      throw new Error(`no validator took the registration: ${(last_error as Error)?.message}`);
    if (record.code !== 0)
      throw new Error(`registration refused with code ${record.code} (4: the quote did not pass)`);
    const joined = unwrap(
      await enclave.accept_seed_share({
        sealed_reg: reg.sealed_reg,
        seed_share: record.output,
        seed_exchange_pubkey: genesis.seed_exchange_pubkey,
      }),
    );
    if (joined.keys.io_pubkey !== genesis.io_pubkey) throw new Error('the seed share is for another network');
    const bound = unwrap(
      await enclave.light_init({
        chain_id: genesis.chain_id,
        validators: genesis.validators.map(({ pubkey, power }) => ({ pubkey, power })),
      }),
    );
    writeFileSync(join(opts.home, 'sealed_seed'), `${bound.sealed_seed}\n`);
    writeFileSync(join(opts.home, 'sealed_light'), `${bound.sealed_light}\n`);
    write_secret_file(paths.validator_key, new Uint8Array(randomBytes(32)));
    const config: NodeConfig & { follow: string[] } = {
      chain_id: genesis.chain_id,
      index: -1,
      name: 'follower',
      p2p: { host: opts.rpc.host, port: 0 },
      rpc: opts.rpc,
      peers: [],
      follow: opts.from,
      enclave: { provider: 'native', workers: 1 },
      consensus: { ...LOCAL_TIMEOUTS },
      block: { ...BLOCK_LIMITS },
      mempool: { txs_max: 1000, bytes_max: 16 * 1024 * 1024, per_account_max: 100 },
      rpc_body_bytes_max: 1024 * 1024,
    };
    writeFileSync(paths.config, `${JSON.stringify(config, null, 2)}\n`);
    return { io_pubkey: joined.keys.io_pubkey, height: record.height };
  } finally {
    await enclave.close();
  }
}
