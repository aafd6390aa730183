/**
 * The enclave's light client (issue #3): it executes a block only if the block is signed by the
 * rightful proposer of its height and round (an exec signature over the header before execution)
 * and extends the last commit it verified (more than 2/3 of the voting power of the validator set
 * it was initialised with). So a host cannot feed its own enclave a fork of its making, or
 * replay transactions in blocks nobody proposed.
 *
 * The light client's state (chain id, last verified height and block hash, hash of the validator
 * set) is sealed like the seed and handed back to the host after each call; a worker also
 * remembers the highest height it verified and refuses states more than one height older.
 * @module
 */

import { concat, from_utf8, to_hex, utf8 } from '../protocol/bytes.js';
import {
  type BlockHeader,
  block_hash,
  type Commit,
  commit_hash,
  exec_sign_bytes,
  GENESIS_PARENT_HASH,
  txs_hash,
  type Validator,
} from '../protocol/chain.js';
import { check_validator_set, is_field_error } from '../protocol/checks.js';
import { jcs } from '../protocol/jcs.js';
import type { CryptoProvider } from '../protocol/provider.js';
import { proposer_at, verify_commit, verify_hex } from '../protocol/quorum.js';
import type { BlockInput } from './api.js';
import { EnclaveErrorCode, EnclaveFault } from './result.js';

/**
 * The consensus engine a light client follows: Cloister's own (absent, the default) or CometBFT
 * (enclave/light_comet.ts, docs/cometbft.md). Fixed by `light_init`: a sealed state of one engine
 * never accepts the other's evidence.
 */
export type LightEngine = 'cloister' | 'cometbft';

/** What the light client knows. */
export interface LightState {
  chain_id: string;
  /**
   * Last verified committed height (0 at genesis). Cloister's engine: the parent of the last block
   * executed, whose commit came with it. CometBFT: the last block executed, whose own commit came with it.
   */
  height: number;
  /** That block's hash: Cloister's `block_hash`, or CometBFT's header hash (lowercase hex). */
  block_hash: string;
  validators_hash: string;
  /** Present only for CometBFT: a state without it follows Cloister's engine. */
  engine?: 'cometbft';
}

/** What the host hands in with a block for the light client to check. */
export interface LightInput {
  /** The block's header without result_hash (unknown before execution), with its exec signature. */
  header: Omit<BlockHeader, 'result_hash'>;
  /** The committed parent (null at height 1) and its commit (the block's last_commit). */
  parent: BlockHeader | null;
  last_commit: Commit | null;
  validators: Validator[];
  sealed_light: string;
}

/** `hex(H(utf8("cloister/validators/v1\n") ‖ utf8(jcs(validators))))`. */
export function validators_hash(p: CryptoProvider, validators: readonly Validator[]): string {
  return to_hex(p.sha256(concat(utf8('cloister/validators/v1\n'), utf8(jcs(validators)))));
}

function refuse(why: string): never {
  throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, `light client: ${why}`);
}

/** Encodes a light state for sealing. */
export function encode_light(state: LightState): Uint8Array {
  return utf8(jcs(state));
}

/** Decodes an unsealed light state (it was sealed by us: a bad shape is a bug, not an attack). */
export function decode_light(bytes: Uint8Array): LightState {
  const s = JSON.parse(from_utf8(bytes)) as LightState;
  if (
    typeof s.chain_id !== 'string' ||
    !Number.isSafeInteger(s.height) ||
    typeof s.block_hash !== 'string' ||
    typeof s.validators_hash !== 'string' ||
    (s.engine !== undefined && s.engine !== 'cometbft')
  ) {
    throw new Error('invariant: sealed light state has the wrong shape');
  }
  return s;
}

/**
 * Checks that `input` is a block the light client accepts from `state`, and returns the state
 * after it (advanced to the block's parent, whose commit it just verified).
 */
export function check_light(
  p: CryptoProvider,
  state: LightState,
  input: BlockInput,
  light: LightInput,
): LightState {
  const { header, parent, last_commit, validators } = light;
  try {
    check_validator_set(validators);
  } catch (error) {
    if (is_field_error(error)) refuse(`bad validator set: ${error.message}`);
    throw error;
  }
  if (validators_hash(p, validators) !== state.validators_hash)
    refuse('not the validator set this enclave follows');
  if (typeof header !== 'object' || header === null) refuse('no header');
  if (header.chain_id !== state.chain_id || input.chain_id !== state.chain_id) refuse('another chain');
  if (
    header.height !== input.height ||
    header.time_ms !== input.time_ms ||
    header.prev_block_hash !== input.random_seed
  ) {
    refuse('header does not describe this block');
  }
  if (header.txs_hash !== txs_hash(p, input.txs)) refuse('txs do not match the header');
  if (!Number.isSafeInteger(header.round) || header.round < 0 || header.round > 10_000) refuse('bad round');
  if (header.proposer !== proposer_at(validators, header.height, header.round))
    refuse('not the rightful proposer of this height and round');
  if (!verify_hex(p, header.exec_signature, exec_sign_bytes(header), header.proposer))
    refuse('exec signature does not verify');
  if (header.last_commit_hash !== commit_hash(p, last_commit))
    refuse('last commit does not match the header');
  if (header.height === 1) {
    if (
      parent !== null ||
      last_commit !== null ||
      header.prev_block_hash !== GENESIS_PARENT_HASH ||
      state.height !== 0
    ) {
      refuse('block 1 must start from genesis');
    }
    return state;
  }
  if (parent === null || last_commit === null) refuse('a parent and its commit are required');
  const parent_hash = block_hash(p, parent);
  if (parent.height !== header.height - 1 || parent_hash !== header.prev_block_hash)
    refuse("parent is not this block's parent");
  if (last_commit.height !== parent.height || last_commit.block_hash !== parent_hash)
    refuse('commit is not for the parent');
  const why = verify_commit(p, state.chain_id, validators, last_commit);
  if (why !== null) refuse(why);
  // The parent must extend what we verified: either we verified the parent itself (another round
  // of this height), or it is the child of the block we verified last.
  const extends_known =
    (state.height === parent.height && state.block_hash === parent_hash) ||
    (state.height === parent.height - 1 && state.block_hash === parent.prev_block_hash);
  if (!extends_known) refuse(`block does not extend the last verified block (height ${state.height})`);
  return { ...state, height: parent.height, block_hash: parent_hash };
}
