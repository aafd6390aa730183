/** Sealed results (protocol.md §4, protocol/result.ts) in both schemes and providers. */

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { concat, to_hex, utf8 } from '../../protocol/bytes.js';
import { CANNOT_DECRYPT_MESSAGE } from '../../protocol/codes.js';
import { DecryptError, SCHEMES } from '../../protocol/envelope.js';
import { jcs } from '../../protocol/jcs.js';
import { iv } from '../../protocol/keys.js';
import {
  type ContractResult,
  is_contract_result,
  open_result,
  seal_result,
  seal_result_json,
} from '../../protocol/result.js';
import { fc_options, PROVIDERS } from './helpers.js';

const TX_KEY = new Uint8Array(32).fill(0x5a);
const text = fc.string({ unit: 'binary', maxLength: 12 });
const result_arb: fc.Arbitrary<ContractResult> = fc.oneof(
  fc.record({
    data: fc.jsonValue({ stringUnit: 'binary', maxDepth: 3 }),
    events: fc.array(
      fc.record({
        type: text,
        attributes: fc.array(fc.record({ key: text, value: text }), { maxLength: 3 }),
      }),
      { maxLength: 3 },
    ),
  }),
  fc.record({ error: text }),
);

describe.each(PROVIDERS)('results, %s provider', (_name, p) => {
  test.each(SCHEMES)('%s: seal is GCM(IV(1)) / SIV of utf8(jcs(result)), and opens', (scheme) => {
    const result: ContractResult = {
      events: [{ type: 'wasm', attributes: [{ key: 'k', value: 'v' }] }],
      data: { b: 1, a: 2 },
    };
    const sealed = seal_result(p, scheme, TX_KEY, result);
    const pt = utf8(
      '{"data":{"a":2,"b":1},"events":[{"attributes":[{"key":"k","value":"v"}],"type":"wasm"}]}',
    );
    const expected =
      scheme === 'gcm'
        ? p.gcm_seal(TX_KEY, iv(1), new Uint8Array(), pt)
        : p.siv_seal(TX_KEY, new Uint8Array(), pt);
    expect(to_hex(sealed)).toBe(to_hex(expected));
    expect(open_result(p, scheme, TX_KEY, sealed)).toEqual(result);
    expect(open_result(p, scheme, TX_KEY, seal_result(p, scheme, TX_KEY, { error: 'boom' }))).toEqual({
      error: 'boom',
    });
  });

  test.each(SCHEMES)('%s: tampering, the wrong key or the wrong scheme throw DecryptError', (scheme) => {
    const sealed = seal_result(p, scheme, TX_KEY, { data: 1, events: [] });
    const expect_decrypt_error = (f: () => unknown) => {
      expect(f).toThrow(DecryptError);
      expect(f).toThrow(CANNOT_DECRYPT_MESSAGE);
    };
    for (let i = 0; i < sealed.length; i++) {
      const bad = Uint8Array.from(sealed);
      bad[i]! ^= 0x01;
      expect_decrypt_error(() => open_result(p, scheme, TX_KEY, bad));
    }
    for (let n = 0; n < sealed.length; n++)
      expect_decrypt_error(() => open_result(p, scheme, TX_KEY, sealed.subarray(0, n)));
    expect_decrypt_error(() => open_result(p, scheme, new Uint8Array(32), sealed));
    expect_decrypt_error(() => open_result(p, scheme === 'gcm' ? 'siv' : 'gcm', TX_KEY, sealed));
  });

  test.each(SCHEMES)('%s: authentic but not JSON, or not of the §4 shape, throws DecryptError', (scheme) => {
    for (const body of [
      'not json',
      '{"data":1}',
      '{"data":1,"events":[],"x":1}',
      '{"error":1}',
      '[]',
      '{"data":1,"events":[{"type":"t"}]}',
    ]) {
      expect(() => open_result(p, scheme, TX_KEY, seal_result_json(p, scheme, TX_KEY, body))).toThrow(
        DecryptError,
      );
    }
    const invalid_utf8 =
      scheme === 'gcm'
        ? p.gcm_seal(TX_KEY, iv(1), new Uint8Array(), Uint8Array.of(0xff))
        : p.siv_seal(TX_KEY, new Uint8Array(), Uint8Array.of(0xff));
    expect(() => open_result(p, scheme, TX_KEY, invalid_utf8)).toThrow(DecryptError);
    const bom = concat(Uint8Array.of(0xef, 0xbb, 0xbf), utf8('{"error":"x"}'));
    const with_bom =
      scheme === 'gcm'
        ? p.gcm_seal(TX_KEY, iv(1), new Uint8Array(), bom)
        : p.siv_seal(TX_KEY, new Uint8Array(), bom);
    expect(() => open_result(p, scheme, TX_KEY, with_bom)).toThrow(DecryptError);
  });

  test('seal_result refuses results that are not of the §4 shape or not JSON (TypeError)', () => {
    const bad: unknown[] = [
      null,
      {},
      { data: 1 },
      { error: 'x', data: 1, events: [] },
      { error: 2 },
      { data: 1, events: [{ type: 't', attributes: [{ key: 'k' }] }] },
      { data: 1, events: [{ type: 't', attributes: [], extra: 1 }] },
      { data: undefined, events: [] },
      { data: Number.NaN, events: [] },
      { data: new Date(), events: [] },
    ];
    for (const r of bad)
      expect(() => seal_result(p, 'gcm', TX_KEY, r as ContractResult), JSON.stringify(r)).toThrow(TypeError);
    expect(() => seal_result(p, 'gcm', new Uint8Array(16), { error: 'x' })).toThrow(RangeError);
    expect(() => seal_result(p, 'aes' as never, TX_KEY, { error: 'x' })).toThrow(RangeError);
  });
});

describe('results: noble and native agree', () => {
  test('property: identical sealed bytes; each opens the other’s; seal_result = seal_result_json(jcs)', () => {
    const [noble, native] = [PROVIDERS[0]![1], PROVIDERS[1]![1]];
    fc.assert(
      fc.property(
        fc.constantFrom(...SCHEMES),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        result_arb,
        (scheme, key, result) => {
          expect(is_contract_result(result)).toBe(true);
          const a = seal_result(noble, scheme, key, result);
          const b = seal_result(native, scheme, key, result);
          expect(to_hex(b)).toBe(to_hex(a));
          expect(to_hex(seal_result_json(native, scheme, key, jcs(result)))).toBe(to_hex(a));
          const expected = JSON.parse(jcs(result)) as unknown;
          expect(open_result(native, scheme, key, a)).toEqual(expected);
          expect(open_result(noble, scheme, key, b)).toEqual(expected);
        },
      ),
      fc_options(150),
    );
  });
});
