/**
 * The chain store's discovery indexes (docs/storage.md "Indexes"): which index keys a contract
 * record and a committed transaction give. The store writes them in the batch of the record they
 * index (genesis, or a block's commit), builds them when it upgrades a format-2 store, and
 * `verify_all` recomputes them from the records, so these functions are the one definition.
 * @module
 */

import { from_hex, to_hex, utf8 } from '../../protocol/bytes.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { account_address, contract_address, parse_tx_json, type Tx } from '../../protocol/tx.js';
import {
  idx_contract_code_prefix,
  idx_contract_creator_prefix,
  idx_contract_label_prefix,
  idx_tx_contract_prefix,
  idx_tx_sender_prefix,
  tx_position,
} from './keys.js';

/** The key part of a label: hex(SHA-256(UTF-8 label)), so any label fits an ASCII key of fixed width. */
export function label_hash(p: CryptoProvider, label: string): string {
  return to_hex(p.sha256(utf8(label)));
}

/** The three index keys of a contract (each holds `true`): by code id, by creator, by label. */
export function contract_index_keys(
  p: CryptoProvider,
  info: { address: string; code_id: number; creator: string; label: string },
): string[] {
  return [
    idx_contract_code_prefix(info.code_id) + info.address,
    idx_contract_creator_prefix(info.creator) + info.address,
    idx_contract_label_prefix(label_hash(p, info.label)) + info.address,
  ];
}

/** Who sent a transaction (40 hex address) and the contract it is aimed at ({@link tx_parties}). */
export interface TxParties {
  sender: string;
  contract: string | null;
}

/**
 * Who sent a committed transaction and which contract it is aimed at, or null if its text does
 * not parse (such a transaction never counts). The contract is the top-level target: an
 * `execute`'s `contract`, or the address an `instantiate` creates (protocol.md §5: from the
 * sender and sequence; the contract's address when it succeeded); null for other messages.
 */
export function tx_parties(p: CryptoProvider, raw: string): TxParties | null {
  let tx: Tx;
  try {
    tx = parse_tx_json(raw);
  } catch {
    return null;
  }
  return tx_parties_of(p, tx);
}

/**
 * {@link tx_parties} of a transaction already parsed (`parse_tx_json` of its text). `addresses`,
 * when given, remembers account addresses by sender public key across calls (and is bounded by
 * its caller): the same few accounts send most of a block's transactions.
 */
export function tx_parties_of(p: CryptoProvider, tx: Tx, addresses?: Map<string, string>): TxParties {
  let sender = addresses?.get(tx.body.sender);
  if (sender === undefined) {
    sender = account_address(p, from_hex(tx.body.sender, 32));
    addresses?.set(tx.body.sender, sender);
  }
  const msg = tx.body.msg;
  let contract: string | null = null;
  if (msg.type === 'execute') contract = msg.contract;
  else if (msg.type === 'instantiate') contract = contract_address(p, tx.body.sender, tx.body.sequence);
  return { sender, contract };
}

/** The index keys of a counted transaction at `height`, `index` (each holds its hash). */
export function tx_index_keys(
  parties: { sender: string; contract: string | null },
  height: number,
  index: number,
): string[] {
  const position = tx_position(height, index);
  const keys = [idx_tx_sender_prefix(parties.sender) + position];
  if (parties.contract !== null) keys.push(idx_tx_contract_prefix(parties.contract) + position);
  return keys;
}
