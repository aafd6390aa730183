/**
 * Error positions: a contract error ends with ` (at line L, column C)` of the original source,
 * the same on both engines (the vm-v8 project runs this file again on node:vm).
 */
import { describe, expect, it } from 'vitest';
import { compile_ok, error_of, make_env } from './harness.js';

/** Runs `source`'s execute with `msg`; the error message. */
function fail(source: string, msg: unknown = {}): string {
  return error_of(compile_ok(source).call(make_env({ msg_json: JSON.stringify(msg) })));
}

/** The position suffix of the `n`th line (1-based) of `source` that contains `marker`, at it. */
function where(source: string, marker: string): string {
  const lines = source.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const column = lines[i]!.indexOf(marker);
    if (column >= 0) return ` (at line ${i + 1}, column ${column + 1})`;
  }
  throw new Error(`${marker} not in source`);
}

describe('error positions', () => {
  it('give the line and column of a throw statement', () => {
    const source = [
      'function check(balance, amount) {',
      '  if (balance < amount) {',
      "    throw new Error('insufficient balance');",
      '  }',
      '}',
      'export function execute(ctx, msg) {',
      '  check(1, 2);',
      '}',
    ].join('\n');
    expect(fail(source)).toBe('insufficient balance (at line 3, column 5)');
  });

  it('give the throw inside a braceless if, else, loop body and switch case', () => {
    const source = `export function execute(ctx, msg) {
  if (msg.a) throw new Error('a');
  else if (msg.b) throw new Error('b');
  for (const x of [1]) if (msg.c) throw new Error('c');
  switch (msg.d) {
    case 1: throw new Error('d');
  }
  while (msg.e) throw new Error('e');
}`;
    expect(fail(source, { a: 1 })).toBe(`a${where(source, "throw new Error('a')")}`);
    expect(fail(source, { b: 1 })).toBe(`b${where(source, "throw new Error('b')")}`);
    expect(fail(source, { c: 1 })).toBe(`c${where(source, "throw new Error('c')")}`);
    expect(fail(source, { d: 1 })).toBe(`d${where(source, "throw new Error('d')")}`);
    expect(fail(source, { e: 1 })).toBe(`e${where(source, "throw new Error('e')")}`);
  });

  it('give the statement where the engine raised an error, in the innermost function', () => {
    const source = `function inner(o) {
  const a = 1;
  return o.missing.field;
}
export function execute(ctx, msg) {
  const x = 1;
  inner({});
}`;
    expect(fail(source)).toMatch(/^TypeError: .* \(at line 3, column 3\)$/);
  });

  it('give the caller statement, not a callee that already returned, for an error after a call', () => {
    const source = `function helper() {
  const a = 1;
  return undefined;
}
export function execute(ctx, msg) {
  const b = 2;
  const c = helper().x;
}`;
    expect(fail(source)).toMatch(/^TypeError: .* \(at line 7, column 3\)$/);
  });

  it('give positions in arrow functions, methods, getters, class fields and callbacks', () => {
    const source = `class Account {
  limit = this.compute();
  compute() { throw new RangeError('in method'); }
}
const parse = (s) => s.nope.nope;
export function execute(ctx, msg) {
  if (msg.k === 'arrow') parse('x');
  if (msg.k === 'class') new Account();
  if (msg.k === 'getter') return { get v() { throw new Error('in getter'); } }.v;
  if (msg.k === 'callback') [1, 2].map((x) => { if (x === 2) throw new Error('in callback'); });
  if (msg.k === 'toJSON') return { toJSON() { throw new Error('in toJSON'); } };
}`;
    expect(fail(source, { k: 'arrow' })).toMatch(
      new RegExp(`^TypeError: .*${esc(where(source, 's.nope'))}$`),
    );
    expect(fail(source, { k: 'class' })).toBe(
      `RangeError: in method${where(source, "throw new RangeError('in method')")}`,
    );
    expect(fail(source, { k: 'getter' })).toBe(`in getter${where(source, "throw new Error('in getter')")}`);
    expect(fail(source, { k: 'callback' })).toBe(
      `in callback${where(source, "throw new Error('in callback')")}`,
    );
    // Thrown while the VM serializes the result, after the entry point returned.
    expect(fail(source, { k: 'toJSON' })).toBe(`in toJSON${where(source, "throw new Error('in toJSON')")}`);
  });

  it('give the statement that called ctx for an error the VM raises', () => {
    const source = `export function execute(ctx, msg) {
  const key = 'k';
  ctx.storage.set(key, 5);
}`;
    expect(fail(source)).toBe('TypeError: storage value must be a string (at line 3, column 3)');
  });

  it('give module-level errors their statement', () => {
    const source = `const config = {};
const limit = config.a.b;
export function execute() { return limit; }`;
    expect(fail(source)).toMatch(/^TypeError: .* \(at line 2, column 1\)$/);
    const thrown = "export const x = 1;\nif (x) throw new Error('module');\nexport function execute() {}";
    expect(fail(thrown)).toBe('module (at line 2, column 8)');
  });

  it('keep where an error object was first thrown when it is caught and thrown again', () => {
    const source = `function risky() {
  throw new Error('original');
}
export function execute(ctx, msg) {
  try {
    risky();
  } catch (e) {
    ctx.emit('failed');
    throw e;
  }
}`;
    expect(fail(source)).toBe('original (at line 2, column 3)');
    const wrapped = `export function execute(ctx, msg) {
  try {
    null.x;
  } catch (e) {
    throw new Error('wrapped');
  }
}`;
    expect(fail(wrapped)).toBe('wrapped (at line 5, column 5)');
  });

  it('give a rethrown primitive the rethrow, and a handled one no stale position', () => {
    const source = `export function execute(ctx, msg) {
  try {
    throw 'first';
  } catch (e) {
  }
  const again = 'first';
  throw again;
}`;
    expect(fail(source)).toBe('first (at line 7, column 3)');
  });

  it('pass through finally blocks', () => {
    const source = `export function execute(ctx, msg) {
  try {
    throw new Error('inside');
  } finally {
    ctx.emit('cleanup');
  }
}`;
    expect(fail(source)).toBe('inside (at line 3, column 5)');
  });

  it('count columns in UTF-16 units and lines as ECMAScript does (CRLF, CR, U+2028)', () => {
    expect(fail("export function execute() {\r\n  const s = 'é😀'; throw new Error('x');\r\n}")).toBe(
      'x (at line 2, column 20)',
    );
    expect(fail("export function execute() {\r  throw new Error('cr');\r}")).toBe('cr (at line 2, column 3)');
    expect(fail("export function execute() {\u2028  throw new Error('ls');\n}")).toBe(
      'ls (at line 2, column 3)',
    );
  });

  it('are absent for errors outside contract code', () => {
    expect(error_of(compile_ok('export function execute() {}').call(make_env({ entry: 'query' })))).toBe(
      'contract has no query entry point',
    );
    expect(error_of(compile_ok('export function execute() { return () => 1; }').call(make_env()))).toBe(
      'result data is not JSON-serializable',
    );
    expect(error_of(compile_ok('export function execute() {}').call(make_env({ msg_json: '{' })))).toBe(
      'message is not valid JSON',
    );
  });

  it('do not change gas', () => {
    // The same statements with and without a line break before the throw: the same gas.
    const a = compile_ok("export function execute() { const x = 1; throw new Error('e'); }").call(make_env());
    const b = compile_ok("export function execute() {\n  const x = 1;\n  throw new Error('e');\n}").call(
      make_env(),
    );
    if (a.kind !== 'error' || b.kind !== 'error') throw new Error('expected errors');
    expect(a.gas_used).toBe(b.gas_used);
    expect(a.message).not.toBe(b.message);
  });
});

function esc(text: string): string {
  return text.replace(/[()]/g, '\\$&');
}
