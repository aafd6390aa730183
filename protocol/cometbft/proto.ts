/**
 * The few protobuf messages CometBFT v0.38 hashes or signs that `cosmjs-types` lacks, written
 * field by field with cosmjs-types' own `BinaryWriter`: the gogoproto wrappers of
 * `types/encoding_helper.go` (cdcEncode) and the canonical vote of `types/canonical.go` /
 * `proto/tendermint/types/canonical.proto`. Like Go's gogoproto Marshal, a proto3 scalar or
 * bytes field that holds its zero value is left out; a `(gogoproto.nullable) = false` message
 * field is always written. Every integer is range-checked first: BinaryWriter wraps silently.
 * Browser-safe.
 * @module
 */

import { BinaryWriter } from 'cosmjs-types/binary';
import { Timestamp } from 'cosmjs-types/google/protobuf/timestamp';
import { check_time } from './time.js';
import {
  type CometBlockId,
  CometFormatError,
  type CometTime,
  INT64_MAX,
  INT64_MIN,
  UINT64_MAX,
} from './types.js';

const EMPTY = new Uint8Array(0);
/** Protobuf wire types (protobuf encoding spec): varint, 64-bit, length-delimited. */
const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;

/** The key of a field: `(field_number << 3) | wire_type`. */
function key(field: number, wire: number): number {
  return (field << 3) | wire;
}

/** Throws CometFormatError unless `v` is a bigint in [min, max]. */
export function check_bigint(v: bigint, min: bigint, max: bigint, field: string): bigint {
  if (typeof v !== 'bigint' || v < min || v > max)
    throw new CometFormatError(field, `a bigint ${min}..${max}`);
  return v;
}

/** Throws CometFormatError unless `v` is an integer in [min, max]. */
export function check_int(v: number, min: number, max: number, field: string): number {
  if (!Number.isSafeInteger(v) || v < min || v > max)
    throw new CometFormatError(field, `an integer ${min}..${max}`);
  return v;
}

/** Throws CometFormatError unless `v` is a Uint8Array of at most `max` bytes. */
export function check_bytes(v: Uint8Array, max: number, field: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length > max) throw new CometFormatError(field, `at most ${max} bytes`);
  return v;
}

/**
 * `cdcEncode(string)`: nil for "", else `message StringValue { string value = 1; }`
 * (gogoproto types, google/protobuf/wrappers.proto).
 */
export function cdc_string(v: string): Uint8Array {
  if (typeof v !== 'string') throw new CometFormatError('string', 'a string');
  if (v === '') return EMPTY;
  return BinaryWriter.create().uint32(key(1, LEN)).string(v).finish();
}

/** `cdcEncode(int64)`: nil for 0, else `message Int64Value { int64 value = 1; }`. */
export function cdc_int64(v: bigint, field: string): Uint8Array {
  check_bigint(v, INT64_MIN, INT64_MAX, field);
  if (v === 0n) return EMPTY;
  return BinaryWriter.create().uint32(key(1, VARINT)).int64(v).finish();
}

/** `cdcEncode(HexBytes)`: nil for empty bytes, else `message BytesValue { bytes value = 1; }`. */
export function cdc_bytes(v: Uint8Array, field: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new CometFormatError(field, 'a Uint8Array');
  if (v.length === 0) return EMPTY;
  return BinaryWriter.create().uint32(key(1, LEN)).bytes(v).finish();
}

/** `google.protobuf.Timestamp` bytes of `t` (gogoproto StdTimeMarshal), after range checks. */
export function timestamp_bytes(t: CometTime, field: string): Uint8Array {
  check_time(t, field);
  return Timestamp.encode({ seconds: t.seconds, nanos: t.nanos }).finish();
}

/** Checks a block id's shape: hash and part set hash of at most 32 bytes, total a uint32. */
export function check_block_id(b: CometBlockId, field: string): void {
  if (
    typeof b !== 'object' ||
    b === null ||
    typeof b.part_set_header !== 'object' ||
    b.part_set_header === null
  )
    throw new CometFormatError(field, 'a block id {hash, part_set_header}');
  check_bytes(b.hash, 32, `${field}.hash`);
  check_bytes(b.part_set_header.hash, 32, `${field}.part_set_header.hash`);
  check_int(b.part_set_header.total, 0, 0xffffffff, `${field}.part_set_header.total`);
}

/** `BlockID.IsZero` of `types/block.go`: no hash and a zero part set header. */
export function is_zero_block_id(b: CometBlockId): boolean {
  return b.hash.length === 0 && b.part_set_header.total === 0 && b.part_set_header.hash.length === 0;
}

/**
 * ```proto
 * message CanonicalPartSetHeader { uint32 total = 1; bytes hash = 2; }
 * message CanonicalBlockID {
 *   bytes                  hash            = 1;
 *   CanonicalPartSetHeader part_set_header = 2 [(gogoproto.nullable) = false];
 * }
 * ```
 */
function write_canonical_block_id(w: BinaryWriter, b: CometBlockId): void {
  if (b.hash.length !== 0) w.uint32(key(1, LEN)).bytes(b.hash);
  w.uint32(key(2, LEN)).fork();
  if (b.part_set_header.total !== 0) w.uint32(key(1, VARINT)).uint32(b.part_set_header.total);
  if (b.part_set_header.hash.length !== 0) w.uint32(key(2, LEN)).bytes(b.part_set_header.hash);
  w.ldelim();
}

/** The fields of a precommit that CometBFT signs (`types/vote.go` VoteSignBytes). */
export interface CanonicalVote {
  height: bigint;
  round: number;
  /** null for a vote for nil: CanonicalizeBlockID turns a zero BlockID into no field. */
  block_id: CometBlockId | null;
  timestamp: CometTime;
  chain_id: string;
}

/** `SignedMsgType` PrecommitType (`proto/tendermint/types/types.proto`). */
const PRECOMMIT_TYPE = 2;

/**
 * `protoio.MarshalDelimited(CanonicalVote)` (`types/vote.go` VoteSignBytes): uvarint length ‖
 * ```proto
 * message CanonicalVote {
 *   SignedMsgType             type      = 1;  // type alias for byte
 *   sfixed64                  height    = 2;  // canonicalization requires fixed size encoding here
 *   sfixed64                  round     = 3;  // canonicalization requires fixed size encoding here
 *   CanonicalBlockID          block_id  = 4 [(gogoproto.customname) = "BlockID"];
 *   google.protobuf.Timestamp timestamp = 5 [(gogoproto.nullable) = false, (gogoproto.stdtime) = true];
 *   string                    chain_id  = 6 [(gogoproto.customname) = "ChainID"];
 * }
 * ```
 * for a precommit (type 2). Vote extensions are off: nothing else is signed.
 */
export function canonical_precommit_delimited(v: CanonicalVote): Uint8Array {
  check_bigint(v.height, INT64_MIN, INT64_MAX, 'height');
  check_int(v.round, -(2 ** 31), 2 ** 31 - 1, 'round');
  const ts = timestamp_bytes(v.timestamp, 'timestamp');
  if (typeof v.chain_id !== 'string') throw new CometFormatError('chain_id', 'a string');
  const w = BinaryWriter.create();
  w.uint32(key(1, VARINT)).int32(PRECOMMIT_TYPE);
  if (v.height !== 0n) w.uint32(key(2, FIXED64)).sfixed64(v.height);
  // why: Round is int32 in Vote but widened to int64 (sfixed64) by CanonicalizeVote.
  if (v.round !== 0) w.uint32(key(3, FIXED64)).sfixed64(BigInt(v.round));
  if (v.block_id !== null) {
    w.uint32(key(4, LEN)).fork();
    write_canonical_block_id(w, v.block_id);
    w.ldelim();
  }
  // why: a non-nullable message field is written even when its encoding is empty.
  w.uint32(key(5, LEN)).bytes(ts);
  if (v.chain_id !== '') w.uint32(key(6, LEN)).string(v.chain_id);
  return BinaryWriter.create().bytes(w.finish()).finish();
}

/** Range check of a uint64 (header version fields). */
export function check_uint64(v: bigint, field: string): bigint {
  return check_bigint(v, 0n, UINT64_MAX, field);
}
