/**
 * The native token (protocol.md §9): the fee pool's address, the development network's fixed
 * accounts and faucet, the faucet's limits, and the public event shape. Browser-safe: the SDK,
 * the CLI, the node and the enclave all read these from here.
 *
 * Development keys are derived from public strings, so anyone can rebuild them: they are for
 * local networks only, and a network that is not a development network neither funds them nor
 * has a faucet (docs/protocol-notes.md "Funds and fees").
 * @module
 */

import { to_hex, utf8 } from './bytes.js';
import type { CryptoProvider } from './provider.js';
import { account_address } from './tx.js';

/** The native token's smallest unit (protocol.md §9). */
export const DENOM = 'ucst';

/**
 * Where fees go: `hex(H(utf8("cloister/fee-pool"))[0..20])`. No key hashes to it, so nothing can
 * spend from it; it only grows (docs/protocol-notes.md "Funds and fees").
 */
export function fee_pool_address(p: CryptoProvider): string {
  return to_hex(p.sha256(utf8('cloister/fee-pool')).subarray(0, 20));
}

/** Development accounts a development network funds, in this order. */
export const DEV_ACCOUNTS_COUNT = 4;
/** What genesis gives each development account on a development network, in ucst. */
export const DEV_ACCOUNT_BALANCE = 1_000_000_000_000;
/** What genesis gives the faucet account on a development network, in ucst. */
export const FAUCET_BALANCE = 1_000_000_000_000_000;
/** Default amount of one `POST /v1/faucet` (protocol.md §9). */
export const FAUCET_AMOUNT_DEFAULT = 1_000_000;
/** Largest amount of one `POST /v1/faucet` (protocol.md §9). */
export const FAUCET_AMOUNT_MAX = 1_000_000_000;

/** A fixed, public development key: its 32-byte Ed25519 secret key and its address. */
export interface DevAccount {
  /** `dev0` … `dev3`, or `faucet`. */
  name: string;
  /** Ed25519 secret key, 64 hex: `hex(H(utf8("cloister/dev-account/" + name)))`. Public knowledge. */
  secret_key: string;
  /** Ed25519 public key, 64 hex. */
  public_key: string;
  /** Account address (protocol.md §5). */
  address: string;
}

function dev_account(p: CryptoProvider, name: string): DevAccount {
  const sk = p.sha256(utf8(`cloister/dev-account/${name}`));
  const pk = p.ed25519_public(sk);
  return { name, secret_key: to_hex(sk), public_key: to_hex(pk), address: account_address(p, pk) };
}

/** The development accounts `dev0` … `dev3` (docs/client.md "Development accounts"). */
export function dev_accounts(p: CryptoProvider): DevAccount[] {
  return Array.from({ length: DEV_ACCOUNTS_COUNT }, (_, i) => dev_account(p, `dev${i}`));
}

/** The development network's faucet account, which `POST /v1/faucet` sends from. */
export function faucet_account(p: CryptoProvider): DevAccount {
  return dev_account(p, 'faucet');
}

/**
 * A public event of a committed transaction (protocol.md §9) as `GET /v1/txs/{hash}` and the live
 * stream list it. `contract` names the contract that emitted it (docs/protocol-notes.md).
 */
export interface PublicEvent {
  type: string;
  attributes: { key: string; value: string }[];
  contract: string;
}
