/**
 * Secret Network compatibility of the `siv` scheme (protocol.md §3, §4): secretjs's own
 * EncryptionUtilsImpl (curve25519-js, @noble/hashes, miscreant AES-SIV) encrypts for a Cloister
 * `pk_io` fetched from `GET /registration/v1beta1/tx-key`; both providers open its envelopes, make
 * byte-identical ones from the same key pair and nonce, and seal results secretjs decrypts.
 */

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EncryptionUtilsImpl } from 'secretjs/dist/encryption.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { from_hex, from_utf8, to_base64, to_hex } from '../../protocol/bytes.js';
import { encrypt_message, open_envelope } from '../../protocol/envelope.js';
import { jcs } from '../../protocol/jcs.js';
import { derive_network_keys } from '../../protocol/keys.js';
import { noble_provider } from '../../protocol/providers/noble.js';
import { type ContractResult, seal_result } from '../../protocol/result.js';
import { load_vectors, PROVIDERS } from './helpers.js';

/** Fixed network seed and secretjs wallet seed (secretjs derives its X25519 pair from it). */
const NETWORK_SEED = Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + 3) & 0xff);
const WALLET_SEED = Uint8Array.from({ length: 32 }, (_, i) => (i * 13 + 200) & 0xff);
const keys = derive_network_keys(noble_provider, NETWORK_SEED);
const CODE_HASH = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';

const MESSAGES: object[] = [
  { echo: { value: 'hello' } },
  {},
  { increment: {} },
  { echo: { value: 'h\u00e9llo \u2713 \ud83d\ude00', list: [1, 2.5, null, true], long: 'x'.repeat(300) } },
];

const RESULTS: ContractResult[] = [
  { data: { count: 2 }, events: [] },
  { data: 'h\u00e9llo', events: [{ type: 'wasm', attributes: [{ key: 'action', value: 'echo' }] }] },
  { error: 'counter overflow' },
];

let server: Server;
let url: string;
let requests = 0;
/** The pk_io the tiny node answers with. */
let served_pk_io = keys.io_pk;

beforeAll(async () => {
  server = createServer((req, res) => {
    requests++;
    if (req.method === 'GET' && req.url?.split('?')[0] === '/registration/v1beta1/tx-key') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ key: to_base64(served_pk_io) }));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"code":404,"message":"not found"}}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('secretjs EncryptionUtilsImpl interoperates with the siv scheme', () => {
  test('secretjs fetched pk_io from GET /registration/v1beta1/tx-key', async () => {
    const utils = new EncryptionUtilsImpl(url, WALLET_SEED);
    const envelope = await utils.encrypt(CODE_HASH, {});
    expect(requests).toBeGreaterThan(0);
    expect(envelope.length).toBe(32 + 32 + 16 + 64 + 2);
  });

  test('the wallet key pair secretjs derives from its seed is ours for sk_u = seed', () => {
    const utils = new EncryptionUtilsImpl(url, WALLET_SEED);
    for (const [, p] of PROVIDERS)
      expect(to_hex(p.x25519_secret(WALLET_SEED).public_key)).toBe(to_hex(utils.pubkey));
  });

  test.each(PROVIDERS)(
    '%s: opens secretjs envelopes, and encrypt_message gives the same bytes',
    async (_name, p) => {
      const utils = new EncryptionUtilsImpl(url, WALLET_SEED);
      const io = p.x25519_secret(keys.io_sk);
      for (const msg of MESSAGES) {
        const envelope = await utils.encrypt(CODE_HASH, msg);
        const nonce = envelope.slice(0, 32);
        // The chain id is not bound by siv; any value opens it.
        const opened = open_envelope(p, io, {
          scheme: 'siv',
          envelope,
          chain_id: 'secret-4',
          code_hash: CODE_HASH,
        });
        expect(opened.msg_json).toBe(JSON.stringify(msg));
        expect(to_hex(opened.tx_key)).toBe(to_hex(await utils.getTxEncryptionKey(nonce)));

        const ours = encrypt_message(p, {
          scheme: 'siv',
          sk_u: WALLET_SEED,
          pk_io: keys.io_pk,
          nonce,
          chain_id: 'cloister-1',
          code_hash: CODE_HASH,
          msg_json: JSON.stringify(msg),
        });
        expect(to_hex(ours.envelope)).toBe(to_hex(envelope));
      }
    },
  );

  test.each(PROVIDERS)('%s: secretjs decrypts results sealed with seal_result(siv)', async (_name, p) => {
    const utils = new EncryptionUtilsImpl(url, WALLET_SEED);
    const io = p.x25519_secret(keys.io_sk);
    for (const result of RESULTS) {
      const envelope = await utils.encrypt(CODE_HASH, { echo: { value: 1 } });
      const { tx_key } = open_envelope(p, io, {
        scheme: 'siv',
        envelope,
        chain_id: '',
        code_hash: CODE_HASH,
      });
      const sealed = seal_result(p, 'siv', tx_key, result);
      const plaintext = await utils.decrypt(sealed, envelope.slice(0, 32));
      expect(from_utf8(plaintext)).toBe(jcs(result));
    }
  });

  test('secretjs confirms every vector of test/vectors/envelope_siv.json', async () => {
    const f = load_vectors<{
      io_pk: string;
      vectors: {
        sk_u: string;
        pk_u: string;
        nonce: string;
        code_hash: string;
        msg_json: string;
        tx_key: string;
        envelope: string;
      }[];
    }>('envelope_siv.json');
    served_pk_io = from_hex(f.io_pk);
    try {
      for (const v of f.vectors) {
        const utils = new EncryptionUtilsImpl(url, from_hex(v.sk_u));
        expect(to_hex(utils.pubkey)).toBe(v.pk_u);
        const envelope = from_hex(v.envelope);
        const nonce = from_hex(v.nonce);
        expect(to_hex(await utils.getTxEncryptionKey(nonce))).toBe(v.tx_key);
        expect(from_utf8(await utils.decrypt(envelope.slice(64), nonce))).toBe(v.code_hash + v.msg_json);
      }
    } finally {
      served_pk_io = keys.io_pk;
    }
  });
});
