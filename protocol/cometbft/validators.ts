/**
 * A CometBFT v0.38 validator set: addresses, CometBFT's order, and the set's hash that a header's
 * `validators_hash` holds. Browser-safe.
 * @module
 */

import { SimpleValidator } from 'cosmjs-types/tendermint/types/validator';
import { to_hex } from '../bytes.js';
import type { CryptoProvider } from '../provider.js';
import { merkle_root } from './merkle.js';
import {
  COMET_SIGNATURES_MAX,
  COMET_TOTAL_POWER_MAX,
  CometFormatError,
  type CometValidator,
} from './types.js';

/** A validator with its address, in the order CometBFT keeps a set. */
export interface SortedCometValidator extends CometValidator {
  address: Uint8Array;
}

/**
 * The address of an Ed25519 validator key: the first 20 bytes of sha256(pubkey)
 * (`PubKey.Address` of CometBFT v0.38's `crypto/ed25519/ed25519.go`, `tmhash.SumTruncated`).
 * Throws CometFormatError unless `pubkey` is 32 bytes.
 */
export function validator_address(p: CryptoProvider, pubkey: Uint8Array): Uint8Array {
  if (!(pubkey instanceof Uint8Array) || pubkey.length !== 32)
    throw new CometFormatError('pubkey', '32 bytes (an Ed25519 public key)');
  return p.sha256(pubkey).slice(0, 20);
}

/** -1, 0 or 1 as `a` sorts before, with or after `b` byte by byte (Go's bytes.Compare). */
function compare_bytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/**
 * `validators` checked and in CometBFT's order, `ValidatorsByVotingPower` of
 * `types/validator_set.go`: power descending, then address ascending. A commit's signatures
 * come in this order. Checks (CometFormatError): 1 to {@link COMET_SIGNATURES_MAX} validators,
 * 32-byte keys, powers of at least 1, a total of at most `MaxTotalVotingPower`, no address twice.
 */
export function sorted_validators(
  p: CryptoProvider,
  validators: readonly CometValidator[],
): SortedCometValidator[] {
  if (!Array.isArray(validators) || validators.length === 0)
    throw new CometFormatError('validators', 'a non-empty list');
  if (validators.length > COMET_SIGNATURES_MAX)
    throw new CometFormatError('validators', `a list of at most ${COMET_SIGNATURES_MAX}`);
  const seen = new Set<string>();
  let total = 0n;
  const out = validators.map((v, i): SortedCometValidator => {
    if (typeof v !== 'object' || v === null) throw new CometFormatError(`validators[${i}]`, 'a validator');
    if (typeof v.power !== 'bigint' || v.power < 1n || v.power > COMET_TOTAL_POWER_MAX)
      throw new CometFormatError(`validators[${i}].power`, `a bigint 1..${COMET_TOTAL_POWER_MAX}`);
    total += v.power;
    if (total > COMET_TOTAL_POWER_MAX)
      throw new CometFormatError('validators', `of total power at most ${COMET_TOTAL_POWER_MAX}`);
    const address = validator_address(p, v.pubkey);
    const hex = to_hex(address);
    // why: a key listed twice would count its power twice in the total but sign only once.
    if (seen.has(hex)) throw new CometFormatError(`validators[${i}].pubkey`, 'listed once');
    seen.add(hex);
    return { pubkey: v.pubkey, power: v.power, address };
  });
  return out.sort((a, b) =>
    a.power !== b.power ? (a.power > b.power ? -1 : 1) : compare_bytes(a.address, b.address),
  );
}

/**
 * `ValidatorSet.Hash` of CometBFT v0.38 (`types/validator_set.go`): the Merkle root of
 * `Validator.Bytes` (`types/validator.go`: a `tendermint.types.SimpleValidator` message holding
 * the `tendermint.crypto.PublicKey` and the voting power) of the validators in CometBFT's order
 * ({@link sorted_validators}, which also checks them).
 */
export function validator_set_hash(p: CryptoProvider, validators: readonly CometValidator[]): Uint8Array {
  return sorted_set_hash(p, sorted_validators(p, validators));
}

/** {@link validator_set_hash} of validators already in CometBFT's order. */
export function sorted_set_hash(p: CryptoProvider, sorted: readonly SortedCometValidator[]): Uint8Array {
  return merkle_root(
    p,
    sorted.map((v) =>
      SimpleValidator.encode({ pubKey: { ed25519: v.pubkey }, votingPower: v.power }).finish(),
    ),
  );
}
