/**
 * CometBFT v0.38 commits: the bytes each validator signs, the commit's hash, and the check that a
 * commit is CometBFT's commit of a header by more than 2/3 of a validator set's power. This is
 * what lets Cloister's enclave believe the host that CometBFT decided a block. Browser-safe.
 * @module
 */

import { CommitSig } from 'cosmjs-types/tendermint/types/types';
import type { BlockIDFlag } from 'cosmjs-types/tendermint/types/validator';
import { equal_bytes, to_hex } from '../bytes.js';
import type { CryptoProvider } from '../provider.js';
import { check_commit, check_commit_sig, check_header } from './checks.js';
import { header_hash } from './header.js';
import { merkle_root } from './merkle.js';
import { canonical_precommit_delimited, check_block_id, is_zero_block_id } from './proto.js';
import {
  BLOCK_ID_FLAG,
  COMET_BLOCK_PROTOCOL,
  type CometCommit,
  CometFormatError,
  type CometHeader,
  type CometValidator,
} from './types.js';
import { type SortedCometValidator, sorted_set_hash, sorted_validators } from './validators.js';

/**
 * The bytes validator `index` of `commit` signed: `Commit.VoteSignBytes` of CometBFT v0.38
 * (`types/block.go` GetVote, `types/vote.go` VoteSignBytes, `types/canonical.go`
 * CanonicalizeVote), vote extensions off: the length-delimited `CanonicalVote` of a precommit at
 * the commit's height and round, for the commit's block id if the slot's flag is COMMIT and for
 * nil otherwise, at the slot's timestamp, on `chain_id`. Throws CometFormatError for an index
 * out of range or a malformed slot.
 */
export function precommit_sign_bytes(chain_id: string, commit: CometCommit, index: number): Uint8Array {
  if (typeof commit !== 'object' || commit === null || !Array.isArray(commit.signatures))
    throw new CometFormatError('commit', 'a commit');
  if (!Number.isSafeInteger(index) || index < 0 || index >= commit.signatures.length)
    throw new CometFormatError('index', `an integer 0..${commit.signatures.length - 1}`);
  const s = commit.signatures[index]!;
  check_commit_sig(s, `commit.signatures[${index}]`);
  check_block_id(commit.block_id, 'commit.block_id');
  // why: CommitSig.BlockID gives the commit's block id only for COMMIT, and CanonicalizeBlockID
  // turns a zero block id (nil and absent slots) into no field at all.
  const for_block = s.block_id_flag === BLOCK_ID_FLAG.COMMIT && !is_zero_block_id(commit.block_id);
  return canonical_precommit_delimited({
    height: commit.height,
    round: commit.round,
    block_id: for_block ? commit.block_id : null,
    timestamp: s.timestamp,
    chain_id,
  });
}

/**
 * `Commit.Hash` of CometBFT v0.38 (`types/block.go`), what the next header's `last_commit_hash`
 * holds: the Merkle root of the signature slots, each a `tendermint.types.CommitSig` message.
 * Checks the commit first ({@link check_commit}; CometFormatError).
 */
export function commit_hash(p: CryptoProvider, commit: CometCommit): Uint8Array {
  check_commit(commit);
  return merkle_root(
    p,
    commit.signatures.map((s) =>
      CommitSig.encode({
        blockIdFlag: s.block_id_flag as BlockIDFlag,
        validatorAddress: s.validator_address,
        timestamp: { seconds: s.timestamp.seconds, nanos: s.timestamp.nanos },
        signature: s.signature,
      }).finish(),
    ),
  );
}

/** Why COMMIT slot `i` cannot count for validator `v`, or null if it counts. */
function slot_fault(
  p: CryptoProvider,
  chain_id: string,
  v: SortedCometValidator,
  commit: CometCommit,
  i: number,
): string | null {
  const s = commit.signatures[i]!;
  // why: slot i belongs to validator i of the sorted set (VerifyCommit looks it up by index).
  if (!equal_bytes(s.validator_address, v.address))
    return `signature ${i} names ${to_hex(s.validator_address).toUpperCase()}, not validator ${i} of the set`;
  if (!p.ed25519_verify(s.signature, precommit_sign_bytes(chain_id, commit, i), v.pubkey))
    return `signature ${i} does not verify`;
  return null;
}

/**
 * Adds up the power of the COMMIT slots of `commit` that name their validator of `sorted`
 * (CometBFT's order) and verify; null if it is more than 2/3 of the total, else why not.
 */
function tally(
  p: CryptoProvider,
  chain_id: string,
  sorted: SortedCometValidator[],
  commit: CometCommit,
): string | null {
  let signed = 0n;
  let total = 0n;
  const faults: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const v = sorted[i]!;
    total += v.power;
    // why: NIL and ABSENT slots never count, so their signatures are not checked (as in
    // VerifyCommitLight; VerifyCommit checks NIL ones only to report them).
    if (commit.signatures[i]!.block_id_flag !== BLOCK_ID_FLAG.COMMIT) continue;
    // why: a slot that fails is left out rather than failing the commit. The power counted is
    // still only real signatures, so nothing is accepted that should not be; and one Byzantine
    // validator cannot stop the enclave with a signature CometBFT's ZIP-215 check accepts and
    // strict RFC 8032 refuses, nor a Byzantine proposer with a wrong address in its last commit
    // (CometBFT's VerifyCommit checks neither a slot's address nor more than ZIP-215).
    const fault = slot_fault(p, chain_id, v, commit, i);
    if (fault === null) signed += v.power;
    else faults.push(fault);
  }
  // why: CometBFT wants signed > total * 2 / 3 in Go's integer division (types/validation.go);
  // for integers, signed > floor(2T/3) holds exactly when 3 * signed > 2 * T, and this needs no
  // division. Bigints: total is at most MaxInt64 / 8, so nothing overflows either way.
  if (3n * signed > 2n * total) return null;
  const why = `commit has ${signed} of ${total} voting power in valid signatures, not more than 2/3`;
  return faults.length === 0 ? why : `${why} (not counted: ${faults.slice(0, 3).join('; ')})`;
}

function verify_unchecked(
  p: CryptoProvider,
  chain_id: string,
  validators: readonly CometValidator[],
  header: CometHeader,
  commit: CometCommit,
): string | null {
  check_header(header);
  check_commit(commit);
  if (header.version.block !== COMET_BLOCK_PROTOCOL)
    return `header block protocol is ${header.version.block}, not ${COMET_BLOCK_PROTOCOL}`;
  if (header.chain_id !== chain_id) return `header is for chain ${JSON.stringify(header.chain_id)}`;
  if (commit.height !== header.height)
    return `commit is for height ${commit.height}, header is ${header.height}`;
  const hash = header_hash(p, header);
  if (hash.length !== 32) return 'header has no validators_hash';
  if (!equal_bytes(hash, commit.block_id.hash))
    return 'commit is for another block: block_id.hash is not the header hash';
  const sorted = sorted_validators(p, validators);
  if (!equal_bytes(sorted_set_hash(p, sorted), header.validators_hash))
    return 'validator set does not hash to header.validators_hash';
  if (commit.signatures.length !== sorted.length)
    return `commit has ${commit.signatures.length} signature slots for ${sorted.length} validators`;
  return tally(p, chain_id, sorted, commit);
}

/**
 * Why `commit` is not CometBFT's commit of `header` by more than 2/3 of `validators`' power, or
 * null. Follows `VerifyCommit` / `VerifyCommitLight` of CometBFT v0.38 (`types/validation.go`)
 * plus the header checks a light client makes (`light/verifier.go`, `types/block.go`
 * Header.ValidateBasic):
 * header and commit well-formed (block protocol 11); `header.chain_id === chain_id`; equal
 * heights; `header_hash(header)` equals `commit.block_id.hash`; `header.validators_hash` equals
 * `validator_set_hash(validators)`; one signature slot per validator (CometBFT orders them like
 * the sorted set), each well-formed (`CommitSig.ValidateBasic`); then the power of the COMMIT
 * slots that name their validator's address and whose signature verifies (Ed25519 over
 * {@link precommit_sign_bytes}, strict RFC 8032: a subset of CometBFT's ZIP-215) is more than
 * 2/3 of the total (`3 * signed > 2 * total`). A COMMIT slot that fails either test is not
 * counted, and named in the reason if the rest fall short: the counted power is real signatures
 * all the same, and so one Byzantine validator cannot make the enclave refuse a commit
 * CometBFT accepted. Never throws: malformed input is a reason too.
 */
export function verify_comet_commit(
  p: CryptoProvider,
  chain_id: string,
  validators: readonly CometValidator[],
  header: CometHeader,
  commit: CometCommit,
): string | null {
  try {
    return verify_unchecked(p, chain_id, validators, header, commit);
  } catch (error) {
    return `malformed input: ${error instanceof Error ? error.message : String(error)}`;
  }
}
