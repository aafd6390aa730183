/**
 * Secret Network compatibility against a live network (protocol.md §3, §4, §6): secretjs 1.22.1's
 * own EncryptionUtilsImpl fetches `pk_io` from a real node's `GET /registration/v1beta1/tx-key`,
 * encrypts for the echo contract, and its envelope goes into a signed Cloister `execute`
 * transaction (scheme `siv`) and a query; secretjs decrypts what the enclaves sealed. A wrong
 * code hash gets the one decrypt error, code 3.
 */

import { randomBytes } from 'node:crypto';
import { EncryptionUtilsImpl } from 'secretjs/dist/encryption.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { from_base64, from_hex, from_utf8, to_base64, to_hex } from '../../protocol/bytes.js';
import { CANNOT_DECRYPT_MESSAGE, ResultCode } from '../../protocol/codes.js';
import { derive_tx_key, encrypt_message } from '../../protocol/envelope.js';
import { get_provider } from '../../protocol/providers/index.js';
import { rpc } from '../../protocol/rpc_client.js';
import { sign_tx, type TxMsg } from '../../protocol/tx.js';
import { reach, temp_network } from '../network/helpers.js';

const p = get_provider('native');
/** This file's port block: RPC 22900-22903, p2p 23900-23903. */
const PORT = 22900;
const TIMEOUT = 120_000;
const MSG = { echo: { value: 'from secretjs' } };

interface TxRecord {
  hash: string;
  height: number;
  index: number;
  code: number;
  gas_used: number;
  output: string;
  contract?: string;
}

let net: Awaited<ReturnType<typeof temp_network>>;
let urls: string[];
let status: { chain_id: string; io_pubkey: string };
let echo: { code_id: number; code_hash: string };
let contract: string;

/** Our account: an Ed25519 key we made, and its next sequence. */
const account_sk = new Uint8Array(randomBytes(32));
const sender = to_hex(p.ed25519_public(account_sk));
let sequence = 0;

/** Signs `msg` with protocol/tx.ts sign_tx and submits it to validator `i`, waiting for the commit. */
async function submit(msg: TxMsg, i = 0): Promise<TxRecord> {
  const tx = sign_tx(p, account_sk, {
    chain_id: status.chain_id,
    sender,
    sequence: sequence++,
    gas_limit: 2_000_000,
    msg,
  });
  return rpc<TxRecord>(urls[i]!, '/v1/txs?wait=commit', { body: tx, timeout_ms: TIMEOUT });
}

/** secretjs's encryption utils with a known seed, its io-key lookup on validator 0. */
function secretjs(seed = new Uint8Array(randomBytes(32))) {
  return { seed, utils: new EncryptionUtilsImpl(urls[0]!, seed) };
}

beforeAll(async () => {
  net = await temp_network(PORT, [], 4);
  urls = net.network.urls();
  status = await rpc(urls[0]!, '/v1/status');
  const codes = await rpc<{ code_id: number; code_hash: string; name?: string }[]>(urls[0]!, '/v1/codes');
  const found = codes.find((c) => c.name === 'echo');
  if (found === undefined) throw new Error('no echo code on the network');
  echo = found;
  // Instantiate the echo contract with our own client code (siv), so the contract exists.
  const { envelope } = encrypt_message(p, {
    scheme: 'siv',
    sk_u: new Uint8Array(randomBytes(32)),
    pk_io: from_hex(status.io_pubkey, 32),
    nonce: new Uint8Array(randomBytes(32)),
    chain_id: status.chain_id,
    code_hash: echo.code_hash,
    msg_json: '{}',
  });
  const record = await submit({
    type: 'instantiate',
    code_id: echo.code_id,
    label: 'secretjs-live',
    scheme: 'siv',
    payload: to_base64(envelope),
  });
  expect(record.code).toBe(ResultCode.OK);
  contract = record.contract!;
  expect(contract).toMatch(/^[0-9a-f]{40}$/);
  // Queries go to every validator: let each reach the block that created the contract.
  await Promise.all(urls.map((url) => reach(url, record.height)));
}, TIMEOUT);

afterAll(async () => {
  await net?.down();
}, TIMEOUT);

describe('secretjs EncryptionUtilsImpl against a live 4-validator network (siv)', () => {
  test(
    "the node's tx-key is status's io_pubkey, and secretjs derives its tx_key from it",
    async () => {
      for (const url of urls) {
        const { key } = await rpc<{ key: string }>(url, '/registration/v1beta1/tx-key');
        expect(to_hex(from_base64(key))).toBe(status.io_pubkey);
        expect((await rpc<{ io_pubkey: string }>(url, '/v1/status')).io_pubkey).toBe(status.io_pubkey);
      }
      // secretjs's X25519 secret is its seed (clamped), so we can redo its key derivation with
      // the io key from /v1/status: equal tx keys mean secretjs used the node's pk_io.
      const { seed, utils } = secretjs();
      const nonce = new Uint8Array(randomBytes(32));
      const wallet = p.x25519_secret(seed);
      expect(to_hex(wallet.public_key)).toBe(to_hex(utils.pubkey));
      const shared = wallet.shared(from_hex(status.io_pubkey, 32))!;
      expect(to_hex(await utils.getTxEncryptionKey(nonce))).toBe(to_hex(derive_tx_key(p, shared, nonce)));
    },
    TIMEOUT,
  );

  test(
    'an execute encrypted by secretjs commits, and secretjs decrypts its output',
    async () => {
      const { utils } = secretjs();
      const envelope = await utils.encrypt(echo.code_hash, MSG);
      // nonce(32) ‖ pk_u(32) ‖ tag(16) ‖ ciphertext(code hash ‖ JSON)
      expect(envelope.length).toBe(32 + 32 + 16 + 64 + JSON.stringify(MSG).length);
      expect(to_hex(envelope.slice(32, 64))).toBe(to_hex(utils.pubkey));
      const nonce = envelope.slice(0, 32);

      const record = await submit({
        type: 'execute',
        contract,
        scheme: 'siv',
        payload: to_base64(envelope),
      });
      expect(record.code).toBe(ResultCode.OK);
      const plaintext = from_utf8(await utils.decrypt(from_base64(record.output), nonce));
      expect(plaintext).toBe('{"data":"from secretjs","events":[]}');
      expect(JSON.parse(plaintext)).toEqual({ data: 'from secretjs', events: [] });

      // Every validator committed the same sealed bytes (each once it has reached that block).
      for (const url of urls) {
        await reach(url, record.height);
        const other = await rpc<TxRecord>(url, `/v1/txs/${record.hash}`);
        expect(other.output).toBe(record.output);
      }
    },
    TIMEOUT,
  );

  test(
    'a query encrypted by secretjs is answered, and secretjs decrypts the answer',
    async () => {
      const { utils } = secretjs();
      const envelope = await utils.encrypt(echo.code_hash, MSG);
      const body = { scheme: 'siv', payload: to_base64(envelope) };
      const answers = await Promise.all(
        urls.map((url) =>
          rpc<{ code: number; output: string }>(url, `/v1/contracts/${contract}/query`, { body }),
        ),
      );
      for (const answer of answers) {
        expect(answer.code).toBe(ResultCode.OK);
        // SIV is deterministic: every validator seals the same bytes for the same envelope.
        expect(answer.output).toBe(answers[0]!.output);
      }
      const plaintext = from_utf8(
        await utils.decrypt(from_base64(answers[0]!.output), envelope.slice(0, 32)),
      );
      expect(plaintext).toBe('{"data":"from secretjs","events":[]}');
    },
    TIMEOUT,
  );

  test(
    'secretjs encrypting for a wrong code hash gets code 3 on a query and in a transaction',
    async () => {
      const { utils } = secretjs();
      const counter = (await rpc<{ name?: string; code_hash: string }[]>(urls[0]!, '/v1/codes')).find(
        (c) => c.name === 'counter',
      )!;
      const wrong_hashes = [counter.code_hash, 'ab'.repeat(32), echo.code_hash.toUpperCase()];
      for (const code_hash of wrong_hashes) {
        const envelope = await utils.encrypt(code_hash, MSG);
        const response = await fetch(`${urls[0]}/v1/contracts/${contract}/query`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ scheme: 'siv', payload: to_base64(envelope) }),
          signal: AbortSignal.timeout(30_000),
        });
        expect(response.status).toBe(400);
        expect(await response.json()).toEqual({
          error: { code: ResultCode.CANNOT_DECRYPT, message: CANNOT_DECRYPT_MESSAGE },
        });
      }

      // The same in a committed transaction: code 3 and no output. Note that secretjs's decrypt
      // answers an empty ciphertext with empty bytes rather than an error, so a secretjs client
      // must look at `code`, not at whether decrypt succeeded.
      const envelope = await utils.encrypt(counter.code_hash, MSG);
      const record = await submit({ type: 'execute', contract, scheme: 'siv', payload: to_base64(envelope) });
      expect(record.code).toBe(ResultCode.CANNOT_DECRYPT);
      expect(record.output).toBe('');
      expect((await utils.decrypt(from_base64(record.output), envelope.slice(0, 32))).length).toBe(0);
      // The contract still works afterwards.
      const ok = await utils.encrypt(echo.code_hash, MSG);
      const after = await rpc<{ code: number; output: string }>(urls[1]!, `/v1/contracts/${contract}/query`, {
        body: { scheme: 'siv', payload: to_base64(ok) },
      });
      expect(from_utf8(await utils.decrypt(from_base64(after.output), ok.slice(0, 32)))).toBe(
        '{"data":"from secretjs","events":[]}',
      );
    },
    TIMEOUT,
  );
});
