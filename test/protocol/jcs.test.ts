/** RFC 8785 canonical JSON (protocol/jcs.ts): rules, rejections and properties. */

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { to_hex } from '../../protocol/bytes.js';
import { is_well_formed, is_well_formed_regex, JCS_DEPTH_MAX, jcs, jcs_bytes } from '../../protocol/jcs.js';
import { fc_options } from './helpers.js';

describe('jcs', () => {
  test('literals, numbers and strings', () => {
    expect(jcs(null)).toBe('null');
    expect(jcs(true)).toBe('true');
    expect(jcs(false)).toBe('false');
    expect(jcs(-0)).toBe('0');
    expect(jcs(1e21)).toBe('1e+21');
    expect(jcs(1e-7)).toBe('1e-7');
    expect(jcs(123.456)).toBe('123.456');
    expect(jcs('a"b\\c\n\u0001\u2028')).toBe('"a\\"b\\\\c\\n\\u0001\u2028"');
    expect(jcs('\ud83d\ude00')).toBe('"\ud83d\ude00"');
  });

  test('sorts property names by UTF-16 code units (not code points), recursively, with no white space', () => {
    // U+FB33 (BMP) sorts after the surrogate pair of U+1F600 in UTF-16, though before it by code point.
    expect(jcs({ '\ufb33': 1, '\ud83d\ude00': 2, b: { d: [3, { z: 0, y: 1 }], c: null }, a: [] })).toBe(
      '{"a":[],"b":{"c":null,"d":[3,{"y":1,"z":0}]},"\ud83d\ude00":2,"\ufb33":1}',
    );
    expect(jcs({ 10: 'x', 9: 'y', '': 'z' })).toBe('{"":"z","10":"x","9":"y"}');
  });

  test('accepts null-prototype objects; ignores nothing, calls no toJSON', () => {
    const o = Object.create(null) as Record<string, unknown>;
    o['k'] = 1;
    expect(jcs(o)).toBe('{"k":1}');
    expect(() => jcs({ toJSON: () => 1 })).toThrow(TypeError);
  });

  test('jcs_bytes is the UTF-8 of jcs', () => {
    expect(to_hex(jcs_bytes({ '\u20ac': 1 }))).toBe('7b22e282ac223a317d');
  });

  test.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['undefined', undefined],
    ['undefined property', { a: undefined }],
    ['undefined in array', [undefined]],
    ['function', () => 1],
    ['bigint', 1n],
    ['symbol', Symbol('s')],
    ['symbol-keyed property', { [Symbol('s')]: 1 }],
    ['lone high surrogate', '\ud800'],
    ['lone low surrogate', 'a\udc00b'],
    ['lone surrogate in key', { '\ud800': 1 }],
    ['Date', new Date(0)],
    ['Map', new Map()],
    ['Uint8Array', new Uint8Array(1)],
    ['class instance', new (class A {})()],
    ['boxed string', Object('s') as unknown],
    ['array hole', new Array<number>(2)],
    ['array subclass', new (class B extends Array {})()],
  ])('rejects %s with TypeError', (_name, value) => {
    expect(() => jcs(value)).toThrow(TypeError);
  });

  test('rejects cycles with TypeError, but allows shared (acyclic) references', () => {
    const a: Record<string, unknown> = {};
    a['self'] = a;
    expect(() => jcs(a)).toThrow(TypeError);
    const shared = { x: 1 };
    expect(jcs({ a: shared, b: [shared] })).toBe('{"a":{"x":1},"b":[{"x":1}]}');
  });

  test(`nesting is limited to ${JCS_DEPTH_MAX} levels (RangeError), independent of the stack`, () => {
    const nest = (depth: number): unknown => {
      let v: unknown = 0;
      for (let i = 0; i < depth; i++) v = [v];
      return v;
    };
    expect(jcs(nest(JCS_DEPTH_MAX))).toBe(`${'['.repeat(JCS_DEPTH_MAX)}0${']'.repeat(JCS_DEPTH_MAX)}`);
    expect(() => jcs(nest(JCS_DEPTH_MAX + 1))).toThrow(RangeError);
  });

  test('is_well_formed', () => {
    expect(is_well_formed('a\ud83d\ude00')).toBe(true);
    expect(is_well_formed('\ude00\ud83d')).toBe(false);
    expect(() => is_well_formed(1 as unknown as string)).toThrow(TypeError);
  });

  test('property: the native is_well_formed answers as the regular expression does', () => {
    const surrogates = fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff', '\ud83d\ude00', 'a', '\u00e9');
    const text = fc.array(fc.oneof(fc.string({ unit: 'binary' }), surrogates), { maxLength: 12 });
    fc.assert(
      fc.property(text, (parts) => {
        const s = parts.join('');
        expect(is_well_formed(s)).toBe(is_well_formed_regex(s));
      }),
      fc_options(3000),
    );
  });

  test('property: a string is quoted exactly as JSON.stringify quotes it (the fast paths included)', () => {
    // Quotes, backslashes and control characters among plain text, so each quoting path is taken.
    const special = fc.constantFrom(
      '"',
      '\\',
      '\n',
      '\u0000',
      '\u001f',
      ' ',
      '\u007f',
      '\u2028',
      '\u00e9',
      '\ud83d\ude00',
    );
    const text = fc.array(fc.oneof(fc.string({ unit: 'binary' }), fc.base64String(), special), {
      maxLength: 12,
    });
    fc.assert(
      fc.property(text, (parts) => {
        const s = parts.join('');
        expect(jcs(s)).toBe(JSON.stringify(s));
        expect(jcs([s, { [s]: s }])).toBe(
          `[${JSON.stringify(s)},{${JSON.stringify(s)}:${JSON.stringify(s)}}]`,
        );
      }),
      fc_options(3000),
    );
    const tx_text = JSON.stringify({ body: { payload: 'QUJD', n: 1 }, signature: 'ab' });
    expect(jcs([tx_text])).toBe(JSON.stringify([tx_text]));
  });

  test.each([
    [{ a: [1, { b: '\ud800' }] }, TypeError, 'jcs: lone surrogate in string at $.a[1].b'],
    [{ a: { '\udc00': 1 } }, TypeError, 'jcs: lone surrogate in string at $.a.\udc00'],
    [[0, [Number.NaN]], TypeError, 'jcs: non-finite number at $[1][0]'],
    [{ z: { y: undefined } }, TypeError, 'jcs: undefined is not a JSON value at $.z.y'],
    [{ m: new Map() }, TypeError, 'jcs: non-plain object at $.m'],
    [[1, new Array<number>(2)], TypeError, 'jcs: hole in array at $[1][0]'],
    [{ k: [{}, { [Symbol('s')]: 1 }] }, TypeError, 'jcs: symbol-keyed property at $.k[1]'],
  ] as const)('names where a value has no canonical form: %s', (value, type, message) => {
    expect(() => jcs(value)).toThrow(type);
    expect(() => jcs(value)).toThrow(message);
  });

  test('names the place of a cycle and of nesting too deep', () => {
    const a: Record<string, unknown> = { list: [0] };
    (a['list'] as unknown[]).push(a);
    expect(() => jcs({ top: a })).toThrow('jcs: cyclic structure at $.top.list[1]');
    let deep: unknown = 0;
    for (let i = 0; i <= JCS_DEPTH_MAX; i++) deep = { d: deep };
    expect(() => jcs(deep)).toThrow(
      new RangeError(`jcs: nesting deeper than ${JCS_DEPTH_MAX} at $${'.d'.repeat(JCS_DEPTH_MAX)}`),
    );
  });

  const json = fc.jsonValue({ stringUnit: 'binary', maxDepth: 6 });

  test('property: output is JSON that parses back to the input, and jcs is idempotent', () => {
    fc.assert(
      fc.property(json, (v) => {
        const text = jcs(v);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(v)));
        expect(jcs(JSON.parse(text))).toBe(text);
      }),
      fc_options(300),
    );
  });

  test('property: property insertion order does not matter', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary' }), json, { maxKeys: 12 }), (o) => {
        const reversed = Object.fromEntries(Object.entries(o).reverse());
        expect(jcs(reversed)).toBe(jcs(o));
      }),
      fc_options(200),
    );
  });
});
