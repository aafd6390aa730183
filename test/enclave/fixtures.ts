/**
 * Test fixtures for the enclave: deterministic accounts that sign transactions, client-side
 * encryption, an attestation service, and temporary node homes.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Enclave, PublicKeys } from '../../enclave/api.js';
import { AttestationService } from '../../enclave/attestation.js';
import { reference_codes } from '../../node/reference_contracts.js';
import { LocalChain } from '../../node/store/local_chain.js';
import { from_hex, to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { encrypt_message, type Scheme } from '../../protocol/envelope.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { account_address, sign_tx, type TxBody, type TxMsg } from '../../protocol/tx.js';

export const CHAIN_ID = 'cloister-test-1';
export const T0_MS = 1_790_000_000_000;

/** 32 bytes derived from a label: deterministic test keys. */
export function test_bytes(p: CryptoProvider, label: string): Uint8Array {
  return p.sha256(utf8(`cloister-test/${label}`));
}

/** A signing account with a local sequence counter. */
export class TestAccount {
  readonly sk: Uint8Array;
  readonly pubkey: string;
  readonly address: string;
  sequence = 0;

  constructor(
    readonly p: CryptoProvider,
    label: string,
  ) {
    this.sk = test_bytes(p, `account/${label}`);
    const pk = p.ed25519_public(this.sk);
    this.pubkey = to_hex(pk);
    this.address = account_address(p, pk);
  }

  /** Signs `msg` at the next sequence and returns the transaction's JSON text. */
  tx(
    msg: TxMsg,
    opts: { gas_limit?: number; chain_id?: string; sequence?: number; gas_price?: number } = {},
  ): string {
    const body: TxBody = {
      chain_id: opts.chain_id ?? CHAIN_ID,
      sender: this.pubkey,
      sequence: opts.sequence ?? this.sequence++,
      gas_limit: opts.gas_limit ?? 2_000_000,
      ...(opts.gas_price === undefined ? {} : { gas_price: opts.gas_price }),
      msg,
    };
    return JSON.stringify(sign_tx(this.p, this.sk, body));
  }
}

let nonce_counter = 0;

/** Encrypts `msg` to the network's io key; returns the base64 payload and the tx key. */
export function encrypt(
  p: CryptoProvider,
  keys: PublicKeys,
  code_hash: string,
  msg: unknown,
  opts: { scheme?: Scheme; chain_id?: string; label?: string } = {},
): { payload: string; envelope: Uint8Array; tx_key: Uint8Array; scheme: Scheme } {
  const scheme = opts.scheme ?? 'gcm';
  const label = opts.label ?? `n${nonce_counter++}`;
  const { envelope, tx_key } = encrypt_message(p, {
    scheme,
    sk_u: test_bytes(p, `client/${label}`),
    pk_io: from_hex(keys.io_pubkey, 32),
    nonce: test_bytes(p, `nonce/${label}`),
    chain_id: opts.chain_id ?? CHAIN_ID,
    code_hash,
    msg_json: JSON.stringify(msg),
  });
  return { payload: to_base64(envelope), envelope, tx_key, scheme };
}

/** A temporary node home; call `remove()` when done. */
export function temp_home(prefix = 'cloister-test-'): { dir: string; secret: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    secret: join(dir, 'platform_secret'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The test network's attestation root. */
export function test_attestation(p: CryptoProvider): AttestationService {
  return new AttestationService(p, test_bytes(p, 'attestation-root'));
}

/** A fresh chain (a ChainStore in memory, no consensus) with the reference contracts at genesis. */
export function new_chain(
  p: CryptoProvider,
  measurement: string,
  extra_roots: string[] = [],
  bank: { balances?: Record<string, number>; min_gas_price?: number; dev?: boolean } = {},
): Promise<LocalChain> {
  return LocalChain.open(p, {
    chain_id: CHAIN_ID,
    attestation: { roots: [test_attestation(p).root_pubkey, ...extra_roots], measurements: [measurement] },
    codes: reference_codes(),
    ...bank,
  });
}

/** Executes txs as one block on `enclave` and applies the output to `chain`. */
export async function commit_block(
  enclave: Enclave,
  chain: LocalChain,
  txs: string[],
  time_ms = T0_MS + chain.height() * 1000,
) {
  const { input, output } = await chain.execute(enclave, txs, time_ms);
  return { input, output };
}
