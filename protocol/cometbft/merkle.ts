/**
 * CometBFT's Merkle tree (RFC 6962 hashing, CometBFT's split rule) and the data hash of a block's
 * transactions. Browser-safe.
 * @module
 */

import type { CryptoProvider } from '../provider.js';
import { COMET_MERKLE_ITEMS_MAX, CometFormatError } from './types.js';

const LEAF_PREFIX = 0x00;
const INNER_PREFIX = 0x01;

/**
 * `getSplitPoint` of CometBFT's `crypto/merkle/tree.go`: the largest power of two strictly less
 * than `n` (n ≥ 2).
 */
function split_point(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** sha256(prefix ‖ a ‖ b). */
function prefixed_hash(p: CryptoProvider, prefix: number, a: Uint8Array, b?: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + a.length + (b?.length ?? 0));
  out[0] = prefix;
  out.set(a, 1);
  if (b !== undefined) out.set(b, 1 + a.length);
  return p.sha256(out);
}

function root_of(p: CryptoProvider, items: readonly Uint8Array[], from: number, to: number): Uint8Array {
  const n = to - from;
  if (n === 1) return prefixed_hash(p, LEAF_PREFIX, items[from]!);
  const k = split_point(n);
  return prefixed_hash(p, INNER_PREFIX, root_of(p, items, from, from + k), root_of(p, items, from + k, to));
}

/**
 * `merkle.HashFromByteSlices` of CometBFT v0.38 (`crypto/merkle/tree.go`, `crypto/merkle/hash.go`):
 * sha256 of nothing for no items; a leaf is sha256(0x00 ‖ item); an inner node is
 * sha256(0x01 ‖ left ‖ right), the left subtree holding the largest power of two of the items
 * that is less than their number. At most {@link COMET_MERKLE_ITEMS_MAX} items (CometFormatError).
 */
export function merkle_root(p: CryptoProvider, items: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(items)) throw new CometFormatError('items', 'a list');
  if (items.length > COMET_MERKLE_ITEMS_MAX)
    throw new CometFormatError('items', `a list of at most ${COMET_MERKLE_ITEMS_MAX}`);
  items.forEach((item, i) => {
    if (!(item instanceof Uint8Array)) throw new CometFormatError(`items[${i}]`, 'a Uint8Array');
  });
  // why: the empty tree is sha256("") with no prefix (RFC 6962 §2.1), not a leaf of "".
  if (items.length === 0) return p.sha256(new Uint8Array(0));
  return root_of(p, items, 0, items.length);
}

/**
 * A block's `data_hash`: `Txs.Hash` of CometBFT v0.38 (`types/tx.go`, `Data.Hash` of
 * `types/block.go`), the Merkle root of the transactions' sha256 hashes (not of the
 * transactions themselves).
 */
export function txs_data_hash(p: CryptoProvider, txs: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(txs)) throw new CometFormatError('txs', 'a list');
  if (txs.length > COMET_MERKLE_ITEMS_MAX)
    throw new CometFormatError('txs', `a list of at most ${COMET_MERKLE_ITEMS_MAX}`);
  return merkle_root(
    p,
    txs.map((tx, i) => {
      if (!(tx instanceof Uint8Array)) throw new CometFormatError(`txs[${i}]`, 'a Uint8Array');
      return p.sha256(tx);
    }),
  );
}
