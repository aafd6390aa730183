/**
 * Verifying CometBFT v0.38 commits in pure TypeScript (issue #17): the enclave executes a block
 * under CometBFT only with the validator set's commit signatures over the block's header, fetched
 * by the host from CometBFT's RPC (`/commit`, `/validators`, `/block`), the header hash and the
 * transactions' Merkle root recomputed here. One concept per module; callers import this one,
 * which re-exports them all. Vectors:
 * test/vectors/cometbft/README.md. Browser-safe.
 * @module
 */

export { check_comet_chain_id, check_commit, check_commit_sig, check_hash, check_header } from './checks.js';
export { commit_hash, precommit_sign_bytes, verify_comet_commit } from './commit.js';
export { header_hash } from './header.js';
export { parse_signed_header, parse_validators } from './json.js';
export { merkle_root, txs_data_hash } from './merkle.js';
export { check_time, is_zero_time, parse_time, time_ms } from './time.js';
export * from './types.js';
export {
  type SortedCometValidator,
  sorted_validators,
  validator_address,
  validator_set_hash,
} from './validators.js';
