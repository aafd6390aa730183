/**
 * The generated Cloister vectors (test/vectors/*.json made by scripts/make-vectors.ts, confirmed
 * independently by scripts/confirm-vectors.py): both providers must regenerate every file
 * exactly, and every vector is checked again through the public API in the enclave's direction
 * (open, verify) as well as the client's.
 */

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { from_hex, to_base64, to_hex } from '../../protocol/bytes.js';
import { open_envelope, type Scheme } from '../../protocol/envelope.js';
import { derive_network_keys, iv, SALT } from '../../protocol/keys.js';
import { type ContractResult, open_result, seal_result, seal_result_json } from '../../protocol/result.js';
import { open_seed_share, seal_seed_share } from '../../protocol/seed_share.js';
import {
  account_address,
  contract_address,
  parse_tx_json,
  sign_bytes,
  type TxBody,
  tx_hash,
  verify_tx_signature,
} from '../../protocol/tx.js';
import { make_vectors, vector_file_text } from '../../scripts/make-vectors.js';
import { load_vectors, PROVIDERS } from './helpers.js';

interface KeysFile {
  salt: string;
  vectors: Record<string, string>[];
  iv: { i: number; iv: string }[];
}
interface EnvelopeFile {
  io_sk: string;
  io_pk: string;
  consensus_seed: string;
  vectors: {
    name: string;
    sk_u: string;
    pk_u: string;
    nonce: string;
    chain_id: string;
    code_hash: string;
    msg_json: string;
    tx_key: string;
    envelope: string;
    envelope_base64: string;
  }[];
}
interface ResultFile {
  tx_key: string;
  vectors: { name: string; result: ContractResult; result_jcs: string; gcm: string; siv: string }[];
}
interface TxFile {
  sk_account: string;
  public_key: string;
  address: string;
  vectors: {
    name: string;
    body: TxBody;
    sign_bytes: string;
    signature: string;
    tx_jcs: string;
    tx_hash: string;
  }[];
}
interface ContractAddressFile {
  vectors: { sender: string; sequence: number; address: string }[];
}
interface SeedShareFile {
  consensus_seed: string;
  seed_exchange_sk: string;
  seed_exchange_pk: string;
  vectors: { name: string; sk_reg: string; pk_reg: string; share: string }[];
}

describe.each(PROVIDERS)('Cloister vectors, %s provider', (_name, p) => {
  test('scripts/make-vectors.ts reproduces every committed file byte for byte', () => {
    for (const [file, value] of Object.entries(make_vectors(p))) {
      const committed = readFileSync(new URL(`../vectors/${file}`, import.meta.url), 'utf8');
      expect(vector_file_text(value), file).toBe(committed);
    }
  });

  test('keys.json: §2 network keys, §1 SALT and IV(i)', () => {
    const f = load_vectors<KeysFile>('keys.json');
    expect(to_hex(SALT)).toBe(f.salt);
    for (const v of f.vectors) {
      const k = derive_network_keys(p, from_hex(v['consensus_seed']!));
      for (const [field, bytes] of Object.entries(k))
        expect(to_hex(bytes as Uint8Array), field).toBe(v[field]);
    }
    for (const v of f.iv) expect(to_hex(iv(v.i))).toBe(v.iv);
  });

  test.each(['gcm', 'siv'] as const)(
    'envelope_%s.json: §3 the enclave opens every vector',
    (scheme: Scheme) => {
      const f = load_vectors<EnvelopeFile>(`envelope_${scheme}.json`);
      const keys = derive_network_keys(p, from_hex(f.consensus_seed));
      expect(to_hex(keys.io_pk)).toBe(f.io_pk);
      const io = p.x25519_secret(from_hex(f.io_sk));
      for (const v of f.vectors) {
        const envelope = from_hex(v.envelope);
        expect(to_base64(envelope)).toBe(v.envelope_base64);
        const opened = open_envelope(p, io, {
          scheme,
          envelope,
          chain_id: v.chain_id,
          code_hash: v.code_hash,
        });
        expect(opened.msg_json).toBe(v.msg_json);
        expect(to_hex(opened.tx_key)).toBe(v.tx_key);
      }
    },
  );

  test('result.json: §4 sealing and opening', () => {
    const f = load_vectors<ResultFile>('result.json');
    const tx_key = from_hex(f.tx_key);
    for (const v of f.vectors) {
      for (const scheme of ['gcm', 'siv'] as const) {
        expect(to_hex(seal_result(p, scheme, tx_key, v.result))).toBe(v[scheme]);
        expect(to_hex(seal_result_json(p, scheme, tx_key, v.result_jcs))).toBe(v[scheme]);
        expect(open_result(p, scheme, tx_key, from_hex(v[scheme]))).toEqual(v.result);
      }
    }
  });

  test('tx.json: §5 signatures verify, hashes and addresses match, JSON parses', () => {
    const f = load_vectors<TxFile>('tx.json');
    expect(account_address(p, from_hex(f.public_key))).toBe(f.address);
    expect(to_hex(p.ed25519_public(from_hex(f.sk_account)))).toBe(f.public_key);
    for (const v of f.vectors) {
      expect(to_hex(sign_bytes(v.body))).toBe(v.sign_bytes);
      const tx = parse_tx_json(v.tx_jcs);
      expect(tx).toEqual({ body: v.body, signature: v.signature });
      expect(verify_tx_signature(p, tx)).toBe(true);
      expect(tx_hash(p, tx)).toBe(v.tx_hash);
    }
  });

  test('contract_address.json: §5 contract addresses', () => {
    for (const v of load_vectors<ContractAddressFile>('contract_address.json').vectors) {
      expect(contract_address(p, v.sender, v.sequence)).toBe(v.address);
    }
  });

  test('seed_share.json: §8 sealing by a validator and opening by the new node', () => {
    const f = load_vectors<SeedShareFile>('seed_share.json');
    const seed = from_hex(f.consensus_seed);
    const exchange = p.x25519_secret(from_hex(f.seed_exchange_sk));
    expect(to_hex(exchange.public_key)).toBe(f.seed_exchange_pk);
    for (const v of f.vectors) {
      const reg = p.x25519_secret(from_hex(v.sk_reg));
      expect(to_hex(seal_seed_share(p, exchange, from_hex(v.pk_reg), seed)!)).toBe(v.share);
      expect(to_hex(open_seed_share(p, reg, from_hex(f.seed_exchange_pk), from_hex(v.share))!)).toBe(
        f.consensus_seed,
      );
    }
  });
});
