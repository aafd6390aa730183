/**
 * A CometBFT v0.38 block header and its hash, the block id hash that validators sign.
 * Browser-safe.
 * @module
 */

import { BlockID } from 'cosmjs-types/tendermint/types/types';
import { Consensus } from 'cosmjs-types/tendermint/version/types';
import type { CryptoProvider } from '../provider.js';
import { check_header } from './checks.js';
import { merkle_root } from './merkle.js';
import { cdc_bytes, cdc_int64, cdc_string, timestamp_bytes } from './proto.js';
import type { CometBlockId, CometHeader } from './types.js';

/** `BlockID.ToProto().Marshal()` with cosmjs-types' BlockID (part_set_header is non-nullable: always written). */
function block_id_bytes(b: CometBlockId): Uint8Array {
  return BlockID.encode({
    hash: b.hash,
    partSetHeader: { total: b.part_set_header.total, hash: b.part_set_header.hash },
  }).finish();
}

/**
 * `Header.Hash` of CometBFT v0.38 (`types/block.go`): the Merkle root ({@link merkle_root}) of
 * the 14 fields in order, each encoded as `Header.Hash` does: `version` as a
 * `tendermint.version.Consensus` message, `time` as a `google.protobuf.Timestamp`,
 * `last_block_id` as a `tendermint.types.BlockID`, the rest through `cdcEncode`
 * (`types/encoding_helper.go`: a gogoproto StringValue / Int64Value / BytesValue, nothing for an
 * empty value). Like CometBFT, a header without `validators_hash` has no hash: empty bytes.
 * Checks `h` first ({@link check_header}; CometFormatError).
 */
export function header_hash(p: CryptoProvider, h: CometHeader): Uint8Array {
  check_header(h);
  if (h.validators_hash.length === 0) return new Uint8Array(0);
  return merkle_root(p, [
    Consensus.encode({ block: h.version.block, app: h.version.app }).finish(),
    cdc_string(h.chain_id),
    cdc_int64(h.height, 'header.height'),
    timestamp_bytes(h.time, 'header.time'),
    block_id_bytes(h.last_block_id),
    cdc_bytes(h.last_commit_hash, 'header.last_commit_hash'),
    cdc_bytes(h.data_hash, 'header.data_hash'),
    cdc_bytes(h.validators_hash, 'header.validators_hash'),
    cdc_bytes(h.next_validators_hash, 'header.next_validators_hash'),
    cdc_bytes(h.consensus_hash, 'header.consensus_hash'),
    cdc_bytes(h.app_hash, 'header.app_hash'),
    cdc_bytes(h.last_results_hash, 'header.last_results_hash'),
    cdc_bytes(h.evidence_hash, 'header.evidence_hash'),
    cdc_bytes(h.proposer_address, 'header.proposer_address'),
  ]);
}
