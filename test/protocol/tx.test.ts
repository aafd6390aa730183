/** Transactions (protocol.md §5, protocol/tx.ts): signatures, hashes, addresses, strict parsing. */

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { jcs } from '../../protocol/jcs.js';
import {
  account_address,
  contract_address,
  MalformedTxError,
  parse_tx,
  parse_tx_json,
  sign_bytes,
  sign_tx,
  TX_LABEL_CHARS_MAX,
  TX_SIGN_PREFIX,
  type Tx,
  type TxBody,
  tx_hash,
  verify_tx_signature,
} from '../../protocol/tx.js';
import { fc_options, PROVIDERS } from './helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: the parse_tx cases below edit arbitrary JSON on purpose
type Json = any;

const [noble, native] = [PROVIDERS[0]![1], PROVIDERS[1]![1]];
const SK = new Uint8Array(32).fill(0x61);
const SENDER = to_hex(noble.ed25519_public(SK));

function body(msg: TxBody['msg'], extra: Partial<TxBody> = {}): TxBody {
  return { chain_id: 'cloister-1', sender: SENDER, sequence: 4, gas_limit: 100_000, msg, ...extra };
}

const MSGS: TxBody['msg'][] = [
  { type: 'store_code', code: to_base64(utf8('code')) },
  {
    type: 'instantiate',
    code_id: 1,
    label: 'counter',
    scheme: 'gcm',
    payload: to_base64(new Uint8Array(100)),
  },
  { type: 'execute', contract: 'ab'.repeat(20), scheme: 'siv', payload: '' },
  { type: 'register_node', pk_reg: 'cd'.repeat(32), quote: { a: [1, { b: 'c' }], n: null } },
];

describe.each(PROVIDERS)('transactions, %s provider', (_name, p) => {
  test.each(MSGS)('sign and verify a $type transaction', (msg) => {
    const tx = sign_tx(p, SK, body(msg));
    expect(verify_tx_signature(p, tx)).toBe(true);
    expect(tx.signature).toBe(sign_tx(p === noble ? native : noble, SK, body(msg)).signature);
    expect(to_hex(sign_bytes(tx.body))).toBe(to_hex(utf8(TX_SIGN_PREFIX + jcs(tx.body))));
    expect(tx_hash(p, tx)).toBe(to_hex(p.sha256(utf8(jcs({ body: tx.body, signature: tx.signature })))));
    expect(parse_tx_json(JSON.stringify(tx))).toEqual(tx);
  });

  test('any change to the body invalidates the signature', () => {
    const tx = sign_tx(p, SK, body(MSGS[1]!));
    const other_sender = to_hex(p.ed25519_public(new Uint8Array(32).fill(0x62)));
    const changed: TxBody[] = [
      { ...tx.body, chain_id: 'cloister-2' },
      { ...tx.body, sender: other_sender },
      { ...tx.body, sequence: 5 },
      { ...tx.body, gas_limit: 100_001 },
      { ...tx.body, msg: { ...(tx.body.msg as object), code_id: 2 } as TxBody['msg'] },
      { ...tx.body, msg: { ...(tx.body.msg as object), label: 'counter ' } as TxBody['msg'] },
      { ...tx.body, msg: { ...(tx.body.msg as object), scheme: 'siv' } as TxBody['msg'] },
      {
        ...tx.body,
        msg: { ...(tx.body.msg as object), payload: to_base64(new Uint8Array(101)) } as TxBody['msg'],
      },
      { ...tx.body, msg: MSGS[2]! },
    ];
    for (const b of changed) expect(verify_tx_signature(p, { body: b, signature: tx.signature })).toBe(false);
  });

  test('property: random body changes never verify', () => {
    const tx = sign_tx(p, SK, body(MSGS[3]!));
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 40 }), fc.string({ maxLength: 10 }), (n, s) => {
        fc.pre(n !== 4 && s !== 'cloister-1');
        expect(verify_tx_signature(p, { body: { ...tx.body, sequence: n }, signature: tx.signature })).toBe(
          false,
        );
        expect(verify_tx_signature(p, { body: { ...tx.body, chain_id: s }, signature: tx.signature })).toBe(
          false,
        );
        const msg = { ...(tx.body.msg as object), quote: { s } } as unknown as TxBody['msg'];
        expect(verify_tx_signature(p, { body: { ...tx.body, msg }, signature: tx.signature })).toBe(false);
      }),
      fc_options(50),
    );
  });

  test('verify_tx_signature is false, not an exception, for malformed fields', () => {
    const tx = sign_tx(p, SK, body(MSGS[0]!));
    const bad: Tx[] = [
      { ...tx, signature: tx.signature.toUpperCase() },
      { ...tx, signature: tx.signature.slice(2) },
      { ...tx, body: { ...tx.body, sender: SENDER.toUpperCase() } },
      { ...tx, body: { ...tx.body, sequence: Number.NaN } },
      { ...tx, body: null as unknown as TxBody },
    ];
    for (const t of bad) expect(verify_tx_signature(p, t)).toBe(false);
    expect(() => verify_tx_signature(p, null as unknown as Tx)).toThrow(TypeError);
  });

  test('sign_tx refuses a body whose sender is not the signer', () => {
    expect(() => sign_tx(p, SK, body(MSGS[0]!, { sender: 'ee'.repeat(32) }))).toThrow(RangeError);
  });

  test('tx_hash depends on body and signature only', () => {
    const tx = sign_tx(p, SK, body(MSGS[0]!));
    expect(tx_hash(p, { ...tx, extra: 1 } as Tx)).toBe(tx_hash(p, tx));
    expect(tx_hash(p, { ...tx, signature: '00'.repeat(64) })).not.toBe(tx_hash(p, tx));
  });

  test('addresses', () => {
    const pk = p.ed25519_public(SK);
    expect(account_address(p, pk)).toBe(to_hex(p.sha256(pk).subarray(0, 20)));
    expect(account_address(p, pk)).toMatch(/^[0-9a-f]{40}$/);
    expect(contract_address(p, SENDER, 0)).not.toBe(contract_address(p, SENDER, 1));
    expect(() => contract_address(p, SENDER.toUpperCase(), 0)).toThrow(TypeError);
    expect(() => contract_address(p, SENDER, -1)).toThrow(RangeError);
    expect(() => contract_address(p, SENDER, 2 ** 53)).toThrow(RangeError);
    expect(() => account_address(p, new Uint8Array(31))).toThrow(RangeError);
  });
});

describe('parse_tx', () => {
  const valid = sign_tx(noble, SK, body(MSGS[1]!));

  /** A deep copy of the valid tx with `edit` applied. */
  function edited(edit: (t: Record<string, Json>) => void): unknown {
    const t = JSON.parse(JSON.stringify(valid)) as Record<string, Json>;
    edit(t);
    return t;
  }

  test('accepts valid transactions and returns a fresh copy', () => {
    for (const msg of MSGS) {
      const tx = sign_tx(noble, SK, body(msg));
      const input = JSON.parse(JSON.stringify(tx)) as unknown;
      const parsed = parse_tx(input);
      expect(parsed).toEqual(tx);
      expect(parsed).not.toBe(input);
    }
    expect(
      parse_tx(
        edited((t) => {
          t.body.msg.label = 'x'.repeat(TX_LABEL_CHARS_MAX);
        }),
      ).body.msg,
    ).toMatchObject({
      label: 'x'.repeat(TX_LABEL_CHARS_MAX),
    });
    // 128 astral characters are 256 UTF-16 units but 128 characters.
    expect(() =>
      parse_tx(
        edited((t) => {
          t.body.msg.label = '\ud83d\ude00'.repeat(128);
        }),
      ),
    ).not.toThrow();
  });

  test.each<[string, (t: Record<string, Json>) => void]>([
    [
      'extra top-level key',
      (t) => {
        t.extra = 1;
      },
    ],
    [
      'missing signature',
      (t) => {
        delete t.signature;
      },
    ],
    [
      'extra body key',
      (t) => {
        t.body.memo = '';
      },
    ],
    [
      'missing body key',
      (t) => {
        delete t.body.gas_limit;
      },
    ],
    [
      'extra msg key',
      (t) => {
        t.body.msg.funds = [];
      },
    ],
    [
      'missing msg key',
      (t) => {
        delete t.body.msg.label;
      },
    ],
    [
      'body is an array',
      (t) => {
        t.body = [];
      },
    ],
    [
      'body is null',
      (t) => {
        t.body = null;
      },
    ],
    [
      'msg is a string',
      (t) => {
        t.body.msg = 'instantiate';
      },
    ],
    [
      'unknown msg type',
      (t) => {
        t.body.msg.type = 'migrate';
      },
    ],
    [
      'chain_id empty',
      (t) => {
        t.body.chain_id = '';
      },
    ],
    [
      'chain_id a number',
      (t) => {
        t.body.chain_id = 1;
      },
    ],
    [
      'sender upper case',
      (t) => {
        t.body.sender = t.body.sender.toUpperCase();
      },
    ],
    [
      'sender 62 hex',
      (t) => {
        t.body.sender = t.body.sender.slice(2);
      },
    ],
    [
      'signature 126 hex',
      (t) => {
        t.signature = t.signature.slice(2);
      },
    ],
    [
      'signature with 0x',
      (t) => {
        t.signature = `0x${t.signature.slice(2)}`;
      },
    ],
    [
      'sequence negative',
      (t) => {
        t.body.sequence = -1;
      },
    ],
    [
      'sequence fractional',
      (t) => {
        t.body.sequence = 1.5;
      },
    ],
    [
      'sequence 2^53',
      (t) => {
        t.body.sequence = 2 ** 53;
      },
    ],
    [
      'sequence a string',
      (t) => {
        t.body.sequence = '1';
      },
    ],
    [
      'sequence -0',
      (t) => {
        t.body.sequence = -0;
      },
    ],
    [
      'gas_limit NaN',
      (t) => {
        t.body.gas_limit = Number.NaN;
      },
    ],
    [
      'code_id a float',
      (t) => {
        t.body.msg.code_id = 0.5;
      },
    ],
    [
      'label empty',
      (t) => {
        t.body.msg.label = '';
      },
    ],
    [
      'label too long',
      (t) => {
        t.body.msg.label = 'x'.repeat(TX_LABEL_CHARS_MAX + 1);
      },
    ],
    [
      'label lone surrogate',
      (t) => {
        t.body.msg.label = 'a\ud800';
      },
    ],
    [
      'scheme unknown',
      (t) => {
        t.body.msg.scheme = 'GCM';
      },
    ],
    [
      'payload url-safe base64',
      (t) => {
        t.body.msg.payload = '-_-_';
      },
    ],
    [
      'payload unpadded base64',
      (t) => {
        t.body.msg.payload = 'AAA';
      },
    ],
    [
      'payload with white space',
      (t) => {
        t.body.msg.payload = 'AA AA';
      },
    ],
    [
      'payload a byte array',
      (t) => {
        t.body.msg.payload = [1, 2];
      },
    ],
  ])('rejects %s with MalformedTxError (code 7)', (_name, edit) => {
    let caught: unknown;
    try {
      parse_tx(edited(edit));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MalformedTxError);
    expect((caught as MalformedTxError).code).toBe(7);
    expect((caught as Error).message.length).toBeGreaterThan(5);
  });

  test.each<[string, TxBody['msg'] | Record<string, unknown>]>([
    [
      'execute with a 42-hex contract',
      { type: 'execute', contract: 'ab'.repeat(21), scheme: 'gcm', payload: '' },
    ],
    [
      'execute with an upper-case contract',
      { type: 'execute', contract: 'AB'.repeat(20), scheme: 'gcm', payload: '' },
    ],
    ['store_code with non-base64 code', { type: 'store_code', code: '%%%%' }],
    ['register_node with a short pk_reg', { type: 'register_node', pk_reg: 'cd'.repeat(31), quote: {} }],
    ['register_node with an array quote', { type: 'register_node', pk_reg: 'cd'.repeat(32), quote: [] }],
    [
      'register_node with a non-JSON quote',
      { type: 'register_node', pk_reg: 'cd'.repeat(32), quote: { x: undefined } },
    ],
    [
      'register_node with a NaN in the quote',
      { type: 'register_node', pk_reg: 'cd'.repeat(32), quote: { x: Number.NaN } },
    ],
  ])('rejects %s', (_name, msg) => {
    expect(() => parse_tx({ body: { ...valid.body, msg }, signature: valid.signature })).toThrow(
      MalformedTxError,
    );
  });

  test('rejects non-plain objects and non-objects', () => {
    class Fake {
      body = valid.body;
      signature = valid.signature;
    }
    for (const v of [null, 1, 'tx', [], new Fake()]) expect(() => parse_tx(v)).toThrow(MalformedTxError);
  });

  test('parse_tx_json: bad JSON is MalformedTxError, a non-string TypeError', () => {
    expect(() => parse_tx_json('{"body":')).toThrow(MalformedTxError);
    expect(() => parse_tx_json('')).toThrow(MalformedTxError);
    expect(() => parse_tx_json(1 as unknown as string)).toThrow(TypeError);
    expect(parse_tx_json(JSON.stringify(valid))).toEqual(valid);
  });
});
