/**
 * Voting power and who decides: the two-thirds quorum, commit verification and the proposer of a
 * height and round. Shared by the host's consensus engine and the enclave's light client, so both
 * count power, check precommits and pick proposers the same way (docs/consensus.md).
 * @module
 */

import { from_hex } from './bytes.js';
import { type Commit, type Hex, type Validator, vote_sign_bytes } from './chain.js';
import type { CryptoProvider } from './provider.js';

/** Verifies an Ed25519 signature given as hex (protocol.md §1), never throwing: malformed hex is false. */
export function verify_hex(p: CryptoProvider, signature: Hex, message: Uint8Array, pubkey: Hex): boolean {
  try {
    return p.ed25519_verify(from_hex(signature, 64), message, from_hex(pubkey, 32));
  } catch {
    return false;
  }
}

/** A signature check with {@link verify_hex}'s signature (the host passes a caching one). */
export type VerifyHex = (p: CryptoProvider, signature: Hex, message: Uint8Array, pubkey: Hex) => boolean;

/** Total voting power. */
export function total_power(validators: readonly Validator[]): number {
  return validators.reduce((sum, v) => sum + v.power, 0);
}

/** True when `power` is more than two thirds of `total` (integer arithmetic, no rounding). */
export function is_quorum(power: number, total: number): boolean {
  return 3 * power > 2 * total;
}

/**
 * Checks a commit: every signature is a precommit by a distinct validator of the set for
 * `commit.block_hash`, and their power is more than 2/3. Returns why not, or null if it holds.
 */
export function verify_commit(
  p: CryptoProvider,
  chain_id: string,
  validators: readonly Validator[],
  commit: Commit,
  verify: VerifyHex = verify_hex,
): string | null {
  const by_key = new Map(validators.map((v) => [v.pubkey, v.power]));
  const seen = new Set<Hex>();
  let power = 0;
  const bytes = vote_sign_bytes(chain_id, {
    type: 'precommit',
    height: commit.height,
    round: commit.round,
    block_hash: commit.block_hash,
  });
  for (const sig of commit.signatures) {
    const validator_power = by_key.get(sig.validator);
    if (validator_power === undefined)
      return `commit signed by unknown validator ${sig.validator.slice(0, 8)}`;
    if (seen.has(sig.validator)) return 'commit has a validator twice';
    seen.add(sig.validator);
    if (!verify(p, sig.signature, bytes, sig.validator)) return 'commit signature does not verify';
    power += validator_power;
  }
  return is_quorum(power, total_power(validators)) ? null : 'commit lacks 2/3 of the voting power';
}

/**
 * Weighted round-robin proposer (Tendermint's priority algorithm, deterministic): every validator
 * starts at priority 0; for each step, add each validator's power to its priority, pick the
 * highest (ties: lowest pubkey), subtract the total power from the pick. The proposer of
 * (height, round) is the pick at step `(height - 1) + round` counted from genesis.
 * Cost is O(steps × validators); callers cache by height.
 */
export function proposer_at(validators: readonly Validator[], height: number, round: number): Hex {
  if (validators.length === 0) throw new RangeError('empty validator set');
  const sorted = [...validators].sort((a, b) => (a.pubkey < b.pubkey ? -1 : a.pubkey > b.pubkey ? 1 : 0));
  const total = total_power(sorted);
  const steps = height - 1 + round;
  // The sequence is periodic with period `total` (every validator is picked exactly power
  // times per period), so only the remainder needs simulating.
  const remaining = steps % total;
  const priority = new Array<number>(sorted.length).fill(0);
  let pick = 0;
  for (let step = 0; step <= remaining; step++) {
    for (let i = 0; i < sorted.length; i++) priority[i]! += sorted[i]!.power;
    pick = 0;
    for (let i = 1; i < sorted.length; i++) if (priority[i]! > priority[pick]!) pick = i;
    priority[pick]! -= total;
  }
  return sorted[pick]!.pubkey;
}
