/**
 * Duplicate JSON keys (protocol/strict_json.ts, docs/protocol-notes.md): found at any depth, after
 * decoding escapes, never across different objects; a transaction with one is code 7. The
 * property test compares the scanner with a reference walk of the generated tree; it prints its
 * seed (FC_SEED=<seed> to replay).
 */

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ResultCode } from '../../protocol/codes.js';
import { DuplicateKeyError, find_duplicate_key, parse_json_strict } from '../../protocol/strict_json.js';
import { check_tx_keys, MalformedTxError, parse_tx_json, sign_tx, type TxMsg } from '../../protocol/tx.js';
import { fc_options, PROVIDERS } from './helpers.js';

const p = PROVIDERS[1]![1];
const SK = new Uint8Array(32).fill(0x42);

function signed(msg: TxMsg): string {
  const sender = Buffer.from(p.ed25519_public(SK)).toString('hex');
  return JSON.stringify(
    sign_tx(p, SK, { chain_id: 'cloister-1', sender, sequence: 3, gas_limit: 100_000, msg }),
  );
}

const EXECUTE: TxMsg = { type: 'execute', contract: 'ab'.repeat(20), scheme: 'gcm', payload: 'AAAA' };

/** `text` with `insert` placed right after the first occurrence of `after`. */
function insert_after(text: string, after: string, insert: string): string {
  const at = text.indexOf(after);
  if (at < 0) throw new Error(`${after} not in ${text}`);
  return text.slice(0, at + after.length) + insert + text.slice(at + after.length);
}

function expect_code_7(text: string, key: string): void {
  for (const check of [() => parse_tx_json(text), () => check_tx_keys(text)]) {
    let thrown: unknown;
    try {
      check();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(MalformedTxError);
    expect((thrown as MalformedTxError).code).toBe(ResultCode.MALFORMED_TX);
    expect((thrown as Error).message).toContain(`duplicate key ${JSON.stringify(key)}`);
  }
}

describe('find_duplicate_key', () => {
  test.each([
    ['{"a":1,"a":2}', 'a'],
    ['{"a":1,"b":{"c":1,"c":2}}', 'c'],
    ['[{"x":1},{"y":[{"z":1,"w":2,"z":3}]}]', 'z'],
    ['{"a":1,"\\u0061":2}', 'a'],
    ['{"\\u00e9":1,"é":2}', 'é'],
    ['{"😀":1,"\\ud83d\\ude00":2}', '😀'],
    ['{"\\ud83d😀":1, "\\ud83d\\ud83d\\ude00" :2}', '\ud83d😀'],
    ['{"a\\"":1,"a\\u0022":2}', 'a"'],
    ['{"\\\\":1,"\\u005c":2}', '\\'],
    ['{"":1,"":2}', ''],
    ['{"__proto__":1,"__proto__":2}', '__proto__'],
    [' {\n "a" : 1 ,\t"a" : 2 } ', 'a'],
    ['{"b":1,"a":{"a":{"a":1}},"b":2}', 'b'],
    ['{"a":{"b":1,"b":2},"a":3}', 'b'],
  ])('%s repeats %j', (text, key) => {
    expect(find_duplicate_key(text)).toBe(key);
    expect(() => parse_json_strict(text)).toThrow(DuplicateKeyError);
  });

  test.each([
    '{"a":{"a":1},"b":[{"a":1},{"a":2}],"c":{"b":{"a":1}}}',
    '{"a":"a","b":"a"}',
    '{"a":"b","b":"a"}',
    '{"a":"{\\"a\\":1,\\"a\\":2}","b":"\\"a\\""}',
    '{"a":1,"\\u0062":2,"\\u0041":3}',
    '{"a\\\\":1,"a":2,"a\\"":3}',
    '{"x":[],"y":{},"z":[{}, {}, []]}',
    '["a","a",{"a":1},{"a":1}]',
    '"a"',
    '17',
    '{}',
  ])('%s has none', (text) => {
    expect(find_duplicate_key(text)).toBeNull();
    expect(parse_json_strict(text)).toEqual(JSON.parse(text));
  });

  test('finds a duplicate in an object too large for its linear key list', () => {
    const pairs = Array.from({ length: 1000 }, (_, i) => `"k${i}":${i}`);
    expect(find_duplicate_key(`{${pairs.join(',')}}`)).toBeNull();
    expect(find_duplicate_key(`{${pairs.join(',')},"k500":0}`)).toBe('k500');
    expect(find_duplicate_key(`{${pairs.join(',')},"k\\u0035":0,"k5":1}`)).toBe('k5');
  });

  test('stays linear on a very large object and a run of escaped quotes', () => {
    // A quadratic key comparison would take minutes here; linear time is a few milliseconds.
    const pairs = Array.from({ length: 200_000 }, (_, i) => `"${i.toString(36)}":0`);
    const big = `{${pairs.join(',')}}`;
    const quotes = `{"a":"${'\\"'.repeat(200_000)}","a":1}`;
    const started = performance.now();
    expect(find_duplicate_key(big)).toBeNull();
    expect(find_duplicate_key(quotes)).toBe('a');
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  test('parse_json_strict: SyntaxError for text that is not JSON, TypeError for a non-string', () => {
    expect(() => parse_json_strict('{"a":')).toThrow(SyntaxError);
    expect(() => parse_json_strict('{"a":')).not.toThrow(DuplicateKeyError);
    expect(() => parse_json_strict(1 as unknown as string)).toThrow(TypeError);
    const error = new DuplicateKeyError('k');
    expect(error).toBeInstanceOf(SyntaxError);
    expect(error.key).toBe('k');
  });
});

// ---- property test against a reference -------------------------------------------------------

/** A JSON tree whose objects are lists of pairs, so they can hold a key twice. */
type Tree = null | number | string | Tree[] | { pairs: [string, number, Tree][] };

/** JSON string literal of `s`; bit i of `mask` escapes code unit i (mod 31) as \uXXXX. */
function literal(s: string, mask: number): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    if ((mask >>> (i % 31)) & 1 || unit < 0x20) out += `\\u${unit.toString(16).padStart(4, '0')}`;
    else if (unit === 0x22) out += '\\"';
    else if (unit === 0x5c) out += '\\\\';
    else out += s[i];
  }
  return `${out}"`;
}

function write(tree: Tree, space: string): string {
  if (tree === null || typeof tree === 'number') return JSON.stringify(tree);
  if (typeof tree === 'string') return literal(tree, 0);
  if (Array.isArray(tree)) return `[${space}${tree.map((t) => write(t, space)).join(`,${space}`)}]`;
  const body = tree.pairs.map(([k, mask, v]) => `${literal(k, mask)}${space}:${space}${write(v, space)}`);
  return `{${space}${body.join(`${space},`)}${space}}`;
}

/** The first key repeated within one object, in text order, by walking the tree. */
function reference(tree: Tree): string | null {
  if (tree === null || typeof tree !== 'object') return null;
  if (Array.isArray(tree)) {
    for (const t of tree) {
      const found = reference(t);
      if (found !== null) return found;
    }
    return null;
  }
  const seen = new Set<string>();
  for (const [key, , value] of tree.pairs) {
    if (seen.has(key)) return key;
    seen.add(key);
    const found = reference(value);
    if (found !== null) return found;
  }
  return null;
}

// A small alphabet, so keys repeat often; quotes, backslashes, a control character, a surrogate pair.
const KEY = fc.constantFrom('a', 'b', 'ab', 'é', '"', '\\', 'a\\"', '\n', '😀', '', '{"a":1}');
const { tree } = fc.letrec<{ tree: Tree; array: Tree[]; object: { pairs: [string, number, Tree][] } }>(
  (tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constant(null),
      fc.integer(),
      KEY,
      tie('array'),
      tie('object'),
    ),
    array: fc.array(tie('tree'), { maxLength: 4 }),
    object: fc.array(fc.tuple(KEY, fc.nat(), tie('tree')), { maxLength: 5 }).map((pairs) => ({ pairs })),
  }),
);

test('property: the scanner finds what a walk of the tree finds, escapes and spacing aside', () => {
  fc.assert(
    fc.property(tree, fc.constantFrom('', ' ', '\n\t '), (t, space) => {
      const text = write(t, space);
      JSON.parse(text); // the generator writes valid JSON
      expect(find_duplicate_key(text)).toBe(reference(t));
    }),
    fc_options(2000),
  );
});

// ---- transactions --------------------------------------------------------------------------

describe('transactions with a duplicate key are code 7', () => {
  const honest = signed(EXECUTE);

  test('the honest text parses', () => {
    expect(parse_tx_json(honest).signature).toBe(JSON.parse(honest).signature);
    expect(() => check_tx_keys(honest)).not.toThrow();
  });

  test('a bogus signature first, the real one last (JSON.parse keeps the last)', () => {
    const text = `{"signature":"${'0'.repeat(128)}",${honest.slice(1)}`;
    expect(JSON.parse(text).signature).toBe(JSON.parse(honest).signature);
    expect_code_7(text, 'signature');
  });

  test('at top level, in body, in msg, in a register_node quote, escaped', () => {
    expect_code_7(insert_after(honest, '{', '"body":{},'), 'body');
    expect_code_7(insert_after(honest, '"body":{', '"sequence":99,'), 'sequence');
    expect_code_7(insert_after(honest, '"msg":{', '"contract":"cd",'), 'contract');
    expect_code_7(insert_after(honest, '"msg":{', '"\\u0074ype":"store_code",'), 'type');
    const register = signed({ type: 'register_node', pk_reg: 'cd'.repeat(32), quote: { a: { b: 1 } } });
    expect_code_7(insert_after(register, '"quote":{"a":{', '"b":2,'), 'b');
    // Equal keys in different objects are fine.
    expect(
      parse_tx_json(signed({ type: 'register_node', pk_reg: 'cd'.repeat(32), quote: { a: { a: 1 } } })),
    ).toBeTruthy();
  });
});
