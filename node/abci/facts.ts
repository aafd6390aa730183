/**
 * What the host reads from a CometBFT block for Cloister's block input and record: its time, its
 * random seed (the parent's hash) and the proposer's Cloister key. The enclave's light client
 * checks the same facts against the signed header for itself (enclave/light_comet.ts); reading
 * them here only lets the host prepare the input it hands in.
 * @module
 */

import { comet_random_seed } from '../../enclave/light_comet.js';
import { from_hex, to_hex } from '../../protocol/bytes.js';
import type { Validator } from '../../protocol/chain.js';
import { parse_signed_header, time_ms, validator_address } from '../../protocol/cometbft/index.js';
import type { CryptoProvider } from '../../protocol/provider.js';

/** The proposer of a block that names no validator of the set. */
const NO_PROPOSER = '0'.repeat(64);

/**
 * The time (ms) and random seed of the block whose signed header (`/commit`'s
 * `result.signed_header`) is `signed_header`; throws if it is not one, or not of `height`.
 */
export function comet_block_facts(
  signed_header: unknown,
  height: number,
): { time_ms: number; random_seed: string } {
  const { header } = parse_signed_header(signed_header);
  if (Number(header.height) !== height)
    throw new Error(`CometBFT's signed header is for height ${header.height}, not ${height}`);
  return {
    time_ms: time_ms(header.time),
    random_seed: comet_random_seed(header.last_block_id.hash),
  };
}

/** The Cloister key (64 hex) of the validator whose CometBFT address is `address`. */
export function comet_proposer(
  p: CryptoProvider,
  validators: readonly Validator[],
  address: Uint8Array,
): string {
  const wanted = to_hex(address);
  for (const v of validators) {
    if (to_hex(validator_address(p, from_hex(v.pubkey, 32))) === wanted) return v.pubkey;
  }
  return NO_PROPOSER;
}
