/**
 * The CometBFT v0.38 values Cloister's enclave checks before it executes a block under CometBFT
 * (issue #17): a block header, a commit, a validator. Field names follow CometBFT's JSON
 * (`types/block.go`, `types/validator.go`); byte strings are raw bytes, 64-bit integers bigints.
 * Also the one error type of `protocol/cometbft/` and its limits. Browser-safe.
 * @module
 */

/** A point in time as `google.protobuf.Timestamp` holds it: seconds since 1970 (UTC) and nanoseconds. */
export interface CometTime {
  seconds: bigint;
  nanos: number;
}

/** `PartSetHeader` of CometBFT's `types/part_set.go` (JSON name `parts`). */
export interface CometPartSetHeader {
  total: number;
  hash: Uint8Array;
}

/** `BlockID` of CometBFT's `types/block.go`. */
export interface CometBlockId {
  hash: Uint8Array;
  part_set_header: CometPartSetHeader;
}

/** `Header` of CometBFT's `types/block.go`, the fields in the order `header_hash` (header.ts) hashes them. */
export interface CometHeader {
  version: { block: bigint; app: bigint };
  chain_id: string;
  height: bigint;
  time: CometTime;
  last_block_id: CometBlockId;
  last_commit_hash: Uint8Array;
  data_hash: Uint8Array;
  validators_hash: Uint8Array;
  next_validators_hash: Uint8Array;
  consensus_hash: Uint8Array;
  app_hash: Uint8Array;
  last_results_hash: Uint8Array;
  evidence_hash: Uint8Array;
  proposer_address: Uint8Array;
}

/** `CommitSig` of CometBFT's `types/block.go`: one validator's slot in a commit. */
export interface CometCommitSig {
  block_id_flag: number;
  validator_address: Uint8Array;
  timestamp: CometTime;
  signature: Uint8Array;
}

/** `Commit` of CometBFT's `types/block.go`: one signature slot per validator, in the set's order. */
export interface CometCommit {
  height: bigint;
  round: number;
  block_id: CometBlockId;
  signatures: CometCommitSig[];
}

/** A validator as the commit check needs it: its Ed25519 public key (32 bytes) and voting power. */
export interface CometValidator {
  pubkey: Uint8Array;
  power: bigint;
}

/**
 * Malformed input to `protocol/cometbft/`: a field of the wrong kind, length or range. Names the
 * field (`commit.signatures[2].signature`) like protocol/checks.ts's FieldTypeError.
 */
export class CometFormatError extends Error {
  override readonly name = 'CometFormatError';
  /**
   * @param field the field's path in the input.
   * @param rule what the field must be, completing "`field` must be …".
   */
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(`${field} must be ${rule}`);
  }
}

/** `BlockIDFlag` values of CometBFT's `types/block.go` (proto `tendermint.types.BlockIDFlag`). */
export const BLOCK_ID_FLAG = { ABSENT: 1, COMMIT: 2, NIL: 3 } as const;

/** `version.BlockProtocol` of CometBFT v0.38 (`version/version.go`): every v0.38 header says 11. */
export const COMET_BLOCK_PROTOCOL = 11n;
/** `MaxChainIDLen` of CometBFT's `types/genesis.go`, in bytes. */
export const COMET_CHAIN_ID_BYTES_MAX = 50;
/** `MaxVotesCount` of CometBFT's `types/vote_set.go`: most validators, so most commit signatures. */
export const COMET_SIGNATURES_MAX = 10_000;
/** `MaxTotalVotingPower` of CometBFT's `types/validator_set.go`: `MaxInt64 / 8`. */
export const COMET_TOTAL_POWER_MAX = (2n ** 63n - 1n) / 8n;
/**
 * Longest app hash accepted. CometBFT leaves its length to the application (`types/block.go`,
 * Header.ValidateBasic: "AppHash is arbitrary length"; the kvstore app's is 8 bytes): a Cloister bound.
 */
export const COMET_APP_HASH_BYTES_MAX = 256;
/** Most items `merkle_root` (merkle.ts) hashes (transactions of one block): a Cloister bound. */
export const COMET_MERKLE_ITEMS_MAX = 1 << 20;

/** Go's zero `time.Time`, 0001-01-01T00:00:00Z: the timestamp of an absent signature. */
export const COMET_ZERO_TIME: Readonly<CometTime> = Object.freeze({ seconds: -62135596800n, nanos: 0 });
/** Last second a `google.protobuf.Timestamp` may hold, 9999-12-31T23:59:59Z. */
export const COMET_TIME_SECONDS_MAX = 253402300799n;

/** Smallest and largest int64. */
export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
/** Largest uint64. */
export const UINT64_MAX = 2n ** 64n - 1n;
