/** protocol/bytes.ts from_utf8: exact UTF-8 decoding (a BOM is kept, malformed input throws). */

import fc from 'fast-check';
import { expect, test } from 'vitest';
import { from_utf8, to_hex, utf8 } from '../../protocol/bytes.js';
import { fc_options } from './helpers.js';

test('a leading BOM is kept, not stripped', () => {
  const bytes = Uint8Array.of(0xef, 0xbb, 0xbf, 0x41);
  expect(from_utf8(bytes)).toBe('\ufeffA');
  expect(utf8(from_utf8(bytes))).toEqual(bytes);
});

test('malformed UTF-8 throws TypeError', () => {
  for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0x80], [0xf4, 0x90, 0x80, 0x80]]) {
    expect(() => from_utf8(Uint8Array.from(bad))).toThrow(TypeError);
  }
  expect(() => from_utf8('x' as unknown as Uint8Array)).toThrow(TypeError);
});

test('property: utf8(from_utf8(b)) = b whenever b decodes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), fc.string({ unit: 'binary' }), (b, s) => {
      let text: string | undefined;
      try {
        text = from_utf8(b);
      } catch {
        text = undefined;
      }
      if (text !== undefined) expect(to_hex(utf8(text))).toBe(to_hex(b));
      expect(from_utf8(utf8(`\ufeff${s}`))).toBe(`\ufeff${s}`);
    }),
    fc_options(300),
  );
});
