/**
 * Generates the Cloister known-answer vectors in test/vectors/ (keys.json, envelope_gcm.json,
 * envelope_siv.json, result.json, tx.json, contract_address.json, seed_share.json) for
 * protocol.md §1–5 and §8.
 *
 * Every input is fixed: a named input is `fixed(name) = SHA-256(utf8("cloister/vectors/" + name))`
 * (32 bytes), or a literal below. No randomness, so running it again gives the same files.
 * test/protocol/vectors.test.ts imports {@link make_vectors} and checks, with both providers,
 * that it reproduces the committed files exactly, and checks each vector through the public API.
 *
 * Run from the repository root: `npx tsc -p tsconfig.build.json && node dist/scripts/make-vectors.js [out_dir]`
 * (out_dir defaults to test/vectors). It refuses to write unless the `noble` and `native`
 * providers produce identical vectors.
 * @module
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { to_base64, to_hex, utf8 } from '../protocol/bytes.js';
import { derive_tx_key, encrypt_message, type Scheme } from '../protocol/envelope.js';
import { jcs } from '../protocol/jcs.js';
import { derive_network_keys, iv, SALT } from '../protocol/keys.js';
import type { CryptoProvider } from '../protocol/provider.js';
import { native_provider } from '../protocol/providers/native.js';
import { noble_provider } from '../protocol/providers/noble.js';
import { type ContractResult, seal_result } from '../protocol/result.js';
import { SEED_SHARE_INFO, seal_seed_share } from '../protocol/seed_share.js';
import {
  account_address,
  contract_address,
  sign_bytes,
  sign_tx,
  type TxBody,
  tx_hash,
} from '../protocol/tx.js';

/** Prefix of every named fixed input: `fixed(name) = SHA-256(utf8(VECTOR_INPUT_PREFIX + name))`. */
export const VECTOR_INPUT_PREFIX = 'cloister/vectors/';

/** The 32-byte fixed input called `name` (see the module comment). */
export function fixed(p: CryptoProvider, name: string): Uint8Array {
  return p.sha256(utf8(VECTOR_INPUT_PREFIX + name));
}

/** The fixed network seed every envelope, result and seed-share vector uses. */
const NETWORK_SEED_NAME = 'consensus_seed';

interface MessageCase {
  name: string;
  sk_u: string;
  nonce: string;
  chain_id: string;
  code_name: string;
  msg_json: string;
}

const MESSAGE_CASES: readonly MessageCase[] = [
  {
    name: 'echo execute',
    sk_u: 'user/alice',
    nonce: 'nonce/1',
    chain_id: 'cloister-1',
    code_name: 'echo',
    msg_json: '{"echo":{"value":"hello"}}',
  },
  {
    name: 'empty init msg',
    sk_u: 'user/alice',
    nonce: 'nonce/2',
    chain_id: 'cloister-1',
    code_name: 'echo',
    msg_json: '{}',
  },
  {
    name: 'counter increment, other user and chain',
    sk_u: 'user/bob',
    nonce: 'nonce/3',
    chain_id: 'cloister-testnet-7',
    code_name: 'counter',
    msg_json: '{"increment":{}}',
  },
  {
    name: 'non-ASCII message',
    sk_u: 'user/bob',
    nonce: 'nonce/4',
    chain_id: 'cloister-1',
    code_name: 'echo',
    msg_json: '{"echo":{"value":"h\u00e9llo \u2713 \ud83d\ude00 \u20ac"}}',
  },
  {
    name: 'longer message (several blocks)',
    sk_u: 'user/carol',
    nonce: 'nonce/5',
    chain_id: 'cloister-1',
    code_name: 'echo',
    msg_json: JSON.stringify({
      echo: { value: 'x'.repeat(200), list: [1, 2, 3, 1e21, 0.5, -7], nested: { a: null } },
    }),
  },
  {
    name: 'empty message text',
    sk_u: 'user/carol',
    nonce: 'nonce/6',
    chain_id: 'c',
    code_name: 'counter',
    msg_json: '',
  },
];

function code_hash(p: CryptoProvider, code_name: string): string {
  return to_hex(p.sha256(utf8(`reference contract code: ${code_name}`)));
}

function make_keys(p: CryptoProvider): unknown {
  const seeds = [
    { name: 'all-zero seed', seed: new Uint8Array(32) },
    { name: 'bytes 01..20', seed: Uint8Array.from({ length: 32 }, (_, i) => i + 1) },
    { name: `fixed("${NETWORK_SEED_NAME}")`, seed: fixed(p, NETWORK_SEED_NAME) },
  ];
  return {
    description:
      'protocol.md §2: k(label) = HKDF(consensus_seed, SALT, utf8("cloister/" + label), 32); io_pk and seed_exchange_pk = X25519(sk, 9). §1 SALT and IV(i).',
    salt: to_hex(SALT),
    vectors: seeds.map(({ name, seed }) => {
      const k = derive_network_keys(p, seed);
      return {
        name,
        consensus_seed: to_hex(seed),
        io_sk: to_hex(k.io_sk),
        io_pk: to_hex(k.io_pk),
        seed_exchange_sk: to_hex(k.seed_exchange_sk),
        seed_exchange_pk: to_hex(k.seed_exchange_pk),
        state: to_hex(k.state),
        callback: to_hex(k.callback),
        random: to_hex(k.random),
      };
    }),
    iv: [0, 1, 2, 0x01020304, 0xffffffff].map((i) => ({ i, iv: to_hex(iv(i)) })),
  };
}

function make_envelopes(p: CryptoProvider, scheme: Scheme): unknown {
  const network = derive_network_keys(p, fixed(p, NETWORK_SEED_NAME));
  return {
    description:
      scheme === 'gcm'
        ? 'protocol.md §3 gcm: envelope = 0x01 || nonce || pk_u || GCM(tx_key, IV(0), utf8(chain_id), utf8(code_hash || msg_json))'
        : 'protocol.md §3 siv: envelope = nonce || pk_u || SIV(tx_key, empty, utf8(code_hash || msg_json)); chain_id is not bound',
    consensus_seed: to_hex(fixed(p, NETWORK_SEED_NAME)),
    io_sk: to_hex(network.io_sk),
    io_pk: to_hex(network.io_pk),
    vectors: MESSAGE_CASES.map((c) => {
      const sk_u = fixed(p, c.sk_u);
      const nonce = fixed(p, c.nonce);
      const user = p.x25519_secret(sk_u);
      const shared = user.shared(network.io_pk);
      if (shared === null) throw new Error('unreachable: io_pk has small order');
      const hash = code_hash(p, c.code_name);
      const { envelope, tx_key } = encrypt_message(p, {
        scheme,
        sk_u,
        pk_io: network.io_pk,
        nonce,
        chain_id: c.chain_id,
        code_hash: hash,
        msg_json: c.msg_json,
      });
      if (to_hex(tx_key) !== to_hex(derive_tx_key(p, shared, nonce))) throw new Error('tx_key mismatch');
      return {
        name: c.name,
        sk_u: to_hex(sk_u),
        pk_u: to_hex(user.public_key),
        nonce: to_hex(nonce),
        chain_id: c.chain_id,
        code_hash: hash,
        msg_json: c.msg_json,
        shared: to_hex(shared),
        tx_key: to_hex(tx_key),
        plaintext: to_hex(utf8(hash + c.msg_json)),
        envelope: to_hex(envelope),
        envelope_base64: to_base64(envelope),
      };
    }),
  };
}

const RESULTS: readonly { name: string; result: ContractResult }[] = [
  { name: 'counter data, no events', result: { data: { count: 1 }, events: [] } },
  {
    name: 'string data with events',
    result: {
      data: 'h\u00e9llo \ud83d\ude00',
      events: [
        {
          type: 'wasm',
          attributes: [
            { key: 'action', value: 'echo' },
            { key: 'contract', value: '00112233445566778899aabbccddeeff00112233' },
          ],
        },
        { type: 'transfer', attributes: [] },
      ],
    },
  },
  {
    name: 'unsorted keys and ES number forms',
    result: {
      events: [],
      data: { z: [1.5, 1e21, 1e-7, 100, -3], a: { y: true, b: null }, '\u20ac': 'euro', '1': 'one' },
    },
  },
  { name: 'null data', result: { data: null, events: [] } },
  { name: 'contract error', result: { error: 'counter overflow' } },
];

function make_results(p: CryptoProvider): unknown {
  const tx_key = fixed(p, 'tx_key');
  return {
    description:
      'protocol.md §4: output = GCM(tx_key, IV(1), empty, utf8(jcs(result))) or SIV(tx_key, empty, utf8(jcs(result)))',
    tx_key: to_hex(tx_key),
    vectors: RESULTS.map(({ name, result }) => ({
      name,
      result,
      result_jcs: jcs(result),
      gcm: to_hex(seal_result(p, 'gcm', tx_key, result)),
      siv: to_hex(seal_result(p, 'siv', tx_key, result)),
    })),
  };
}

function make_txs(p: CryptoProvider): unknown {
  const sk_account = fixed(p, 'account/alice');
  const public_key = p.ed25519_public(sk_account);
  const sender = to_hex(public_key);
  const network = derive_network_keys(p, fixed(p, NETWORK_SEED_NAME));
  const payload = encrypt_message(p, {
    scheme: 'gcm',
    sk_u: fixed(p, 'user/alice'),
    pk_io: network.io_pk,
    nonce: fixed(p, 'nonce/tx'),
    chain_id: 'cloister-1',
    code_hash: code_hash(p, 'counter'),
    msg_json: '{"count":5}',
  }).envelope;
  const bodies: TxBody[] = [
    {
      chain_id: 'cloister-1',
      sender,
      sequence: 0,
      gas_limit: 1_000_000,
      msg: { type: 'store_code', code: to_base64(utf8('export function execute() {}')) },
    },
    {
      chain_id: 'cloister-1',
      sender,
      sequence: 1,
      gas_limit: 500_000,
      msg: {
        type: 'instantiate',
        code_id: 2,
        label: 'my counter \u2713',
        scheme: 'gcm',
        payload: to_base64(payload),
      },
    },
    {
      chain_id: 'cloister-1',
      sender,
      sequence: 2,
      gas_limit: 200_000,
      msg: {
        type: 'execute',
        contract: contract_address(p, sender, 1),
        scheme: 'siv',
        payload: to_base64(fixed(p, 'opaque payload')),
      },
    },
    {
      chain_id: 'cloister-1',
      sender,
      sequence: 3,
      gas_limit: 9007199254740991,
      msg: {
        type: 'register_node',
        pk_reg: to_hex(p.x25519_secret(fixed(p, 'node/reg')).public_key),
        quote: {
          measurement: to_hex(fixed(p, 'measurement')),
          issued_at: 1700000000,
          nested: { list: [1, 'two'] },
        },
      },
    },
  ];
  return {
    description:
      'protocol.md §5: signature = Ed25519.sign(sk, utf8("cloister/tx/v1\\n") || utf8(jcs(body))); tx_hash = hex(H(utf8(jcs({body, signature})))); address = hex(H(pk)[0..20])',
    sk_account: to_hex(sk_account),
    public_key: sender,
    address: account_address(p, public_key),
    vectors: bodies.map((body) => {
      const tx = sign_tx(p, sk_account, body);
      return {
        name: body.msg.type,
        body,
        sign_bytes: to_hex(sign_bytes(body)),
        signature: tx.signature,
        tx_jcs: jcs(tx),
        tx_hash: tx_hash(p, tx),
      };
    }),
  };
}

function make_contract_addresses(p: CryptoProvider): unknown {
  const senders = [to_hex(p.ed25519_public(fixed(p, 'account/alice'))), '00'.repeat(32)];
  const sequences = [0, 1, 255, 256, 2 ** 32, 2 ** 53 - 1];
  return {
    description:
      'protocol.md §5: address = hex(H(utf8("cloister/contract\\n") || utf8(sender) || u64_be(sequence))[0..20])',
    vectors: senders.flatMap((sender) =>
      sequences.map((sequence) => ({ sender, sequence, address: contract_address(p, sender, sequence) })),
    ),
  };
}

function make_seed_share(p: CryptoProvider): unknown {
  const seed = fixed(p, NETWORK_SEED_NAME);
  const network = derive_network_keys(p, seed);
  const exchange = p.x25519_secret(network.seed_exchange_sk);
  const vectors = ['node/reg', 'node/reg-2'].map((name) => {
    const sk_reg = fixed(p, name);
    const reg = p.x25519_secret(sk_reg);
    const shared = exchange.shared(reg.public_key);
    const share = seal_seed_share(p, exchange, reg.public_key, seed);
    if (shared === null || share === null) throw new Error('unreachable: small-order key');
    return {
      name,
      sk_reg: to_hex(sk_reg),
      pk_reg: to_hex(reg.public_key),
      shared: to_hex(shared),
      key: to_hex(p.hkdf(shared, SALT, utf8(SEED_SHARE_INFO), 32)),
      share: to_hex(share),
    };
  });
  return {
    description:
      'protocol.md §8: share = GCM(HKDF(X25519(sk_seed_exchange, pk_reg), SALT, utf8("cloister/seed-share"), 32), IV(0), pk_reg, consensus_seed)',
    consensus_seed: to_hex(seed),
    seed_exchange_sk: to_hex(network.seed_exchange_sk),
    seed_exchange_pk: to_hex(network.seed_exchange_pk),
    vectors,
  };
}

/**
 * Every generated vector file, by file name, as computed with provider `p` (protocol.md §1–5,
 * §8). Pure: writes nothing.
 */
export function make_vectors(p: CryptoProvider): Record<string, unknown> {
  return {
    'keys.json': make_keys(p),
    'envelope_gcm.json': make_envelopes(p, 'gcm'),
    'envelope_siv.json': make_envelopes(p, 'siv'),
    'result.json': make_results(p),
    'tx.json': make_txs(p),
    'contract_address.json': make_contract_addresses(p),
    'seed_share.json': make_seed_share(p),
  };
}

/** The text a vector file is written as: two-space JSON and a final newline. */
export function vector_file_text(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function main(out_dir: string): void {
  const noble = make_vectors(noble_provider);
  const native = make_vectors(native_provider);
  if (!isDeepStrictEqual(noble, native))
    throw new Error('noble and native providers disagree; nothing written');
  for (const [name, value] of Object.entries(noble)) {
    writeFileSync(join(out_dir, name), vector_file_text(value));
    console.log(`wrote ${join(out_dir, name)}`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv[2] ?? 'test/vectors');
}
