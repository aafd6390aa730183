/**
 * The enclave's light client under CometBFT (issue #17, docs/cometbft.md "Trust"): the enclave
 * executes a block only with CometBFT's commit of it, the precommit signatures of more than 2/3 of
 * the voting power over the block's header, which the host fetches from its CometBFT node's RPC
 * (`/commit?height=H`, since ABCI's `FinalizeBlock` does not carry them). The enclave recomputes
 * the header's hash and its transactions' Merkle root itself (protocol/cometbft/), so a host can
 * neither feed its enclave a block CometBFT did not commit nor change one transaction of it.
 *
 * The validator set is Cloister's genesis set, the same Ed25519 keys CometBFT's validators sign
 * with: the enclave was bound to its hash by `light_init`, and the header's `validators_hash` must
 * be CometBFT's hash of that same set (a fixed set: CometBFT validator updates are not supported).
 * @module
 */

import { from_hex, to_hex, utf8 } from '../protocol/bytes.js';
import { GENESIS_PARENT_HASH, type Validator } from '../protocol/chain.js';
import { check_validator_set, is_field_error } from '../protocol/checks.js';
import {
  CometFormatError,
  type CometValidator,
  parse_signed_header,
  time_ms,
  txs_data_hash,
  verify_comet_commit,
} from '../protocol/cometbft/index.js';
import type { CryptoProvider } from '../protocol/provider.js';
import type { BlockInput } from './api.js';
import { type LightState, validators_hash } from './light.js';
import { ENCLAVE_LIMITS } from './limits.js';
import { EnclaveErrorCode, EnclaveFault } from './result.js';

/** What the host hands in with a block under CometBFT for the light client to check. */
export interface CometLightInput {
  engine: 'cometbft';
  /**
   * `result.signed_header` of CometBFT's `/commit?height=H` answer, as JSON: the block's header
   * and the commit that decided it. Parsed and checked here, every field (it is the host's).
   */
  signed_header: unknown;
  /** The chain's validator set, as in genesis (checked against the hash the enclave was bound to). */
  validators: Validator[];
  sealed_light: string;
}

function refuse(why: string): never {
  throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, `light client: ${why}`);
}

/** The random seed of a CometBFT block: its parent's hash (zeros at the first height). */
export function comet_random_seed(last_block_hash: Uint8Array): string {
  return last_block_hash.length === 0 ? GENESIS_PARENT_HASH : to_hex(last_block_hash);
}

/**
 * Checks that `input` is the block CometBFT committed at its height, by more than 2/3 of the
 * validators the enclave follows, extending the last block this light client verified (or that
 * block itself, executed again after a crash before the host committed it); returns the state
 * after it. Any failure is a BAD_INPUT fault.
 */
export function check_light_comet(
  p: CryptoProvider,
  state: LightState,
  input: BlockInput,
  light: CometLightInput,
): LightState {
  let validators: Validator[];
  try {
    validators = check_validator_set(light.validators);
  } catch (error) {
    if (is_field_error(error)) refuse(`bad validator set: ${error.message}`);
    throw error;
  }
  if (validators_hash(p, validators) !== state.validators_hash)
    refuse('not the validator set this enclave follows');
  let parsed: ReturnType<typeof parse_signed_header>;
  try {
    parsed = parse_signed_header(light.signed_header);
  } catch (error) {
    if (error instanceof CometFormatError) refuse(`bad signed header: ${(error as Error).message}`);
    throw error;
  }
  const { header, commit } = parsed;
  // The input's shape is checked after the light client: its transactions must be texts to hash here.
  if (
    !Array.isArray(input.txs) ||
    input.txs.length > ENCLAVE_LIMITS.block_txs_max ||
    input.txs.some((raw) => typeof raw !== 'string')
  ) {
    refuse(`txs must be at most ${ENCLAVE_LIMITS.block_txs_max} strings`);
  }
  if (header.chain_id !== state.chain_id || input.chain_id !== state.chain_id) refuse('another chain');
  const comet: CometValidator[] = validators.map((v) => ({
    pubkey: from_hex(v.pubkey),
    power: BigInt(v.power),
  }));
  const why = verify_comet_commit(p, state.chain_id, comet, header, commit);
  if (why !== null) refuse(`not committed by CometBFT: ${why}`);
  // The commit is for this header: now the header must describe the block handed in.
  const height = Number(header.height);
  if (height !== input.height) refuse('header does not describe this block (height)');
  if (time_ms(header.time) !== input.time_ms) refuse('header does not describe this block (time)');
  if (comet_random_seed(header.last_block_id.hash) !== input.random_seed)
    refuse('header does not describe this block (random seed)');
  const data_hash = txs_data_hash(
    p,
    input.txs.map((raw) => utf8(raw)),
  );
  if (to_hex(data_hash) !== to_hex(header.data_hash)) refuse('txs do not match the header');
  const hash = to_hex(commit.block_id.hash);
  const parent = comet_random_seed(header.last_block_id.hash);
  // The block extends what we verified (its parent is our last block), or is that block again.
  const extends_known =
    (state.height === height - 1 && state.block_hash === parent) ||
    (state.height === height && state.block_hash === hash);
  if (!extends_known) refuse(`block does not extend the last verified block (height ${state.height})`);
  return { ...state, height, block_hash: hash };
}
