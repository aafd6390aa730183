import { describe, expect, it } from 'vitest';
import { compile_contract } from '../../enclave/vm/compile.js';
import { instrument_module } from '../../enclave/vm/instrument.js';
import { ast_depth_max, call_args_max, code_size_bytes_max } from '../../enclave/vm/limits.js';
import { compile_ok, data_of, error_of, make_env } from './harness.js';

function refusal(source: string): string {
  const result = compile_contract(source);
  if (result.ok) throw new Error(`expected refusal of: ${source}`);
  return result.message;
}

describe('compile_contract refuses', () => {
  it.each([
    ['import declarations', "import x from 'y';\nexport function execute() {}", 'import declarations'],
    ['import()', "export function execute() { return import('fs'); }", 'import() is not allowed'],
    ['import.meta', 'export function execute() { return import.meta.url; }', 'import.meta'],
    ['export default', 'export default function () {}', 'export default'],
    ['export default via specifier', 'function f() {}\nexport { f as default };', 'export default'],
    ['export *', "export * from 'y';", 'export *'],
    ['re-exports', "export { a } from 'y';", 're-exporting'],
    ['async functions', 'export async function execute() {}', 'async functions'],
    ['async arrows', 'export const execute = async () => 1;', 'async functions'],
    ['async methods', 'const o = { async m() {} };', 'async functions'],
    ['top-level await', 'await 1;', 'await'],
    ['generators', 'export function* execute() {}', 'generators'],
    ['generator methods', 'class A { *m() {} }', 'generators'],
    ['regex literals', "export function execute() { return /a+/.test('a'); }", 'regular expression'],
    ['with (a syntax error in a module)', 'with (Math) {}', 'syntax error'],
    ['debugger', 'export function execute() { debugger; }', 'debugger'],
    ['reserved identifiers', 'export function execute() { return __cloister_tick; }', 'reserved'],
    ['reserved identifiers spelled with escapes', 'const \\u005f_cloister_x = 1;', 'reserved'],
    ['reserved property names', 'const o = {}; o.__cloister_x = 1;', 'reserved'],
    ['reserved private names', 'class A { #__cloister_x = 1; }', 'reserved'],
    ['arguments at module level', 'export const execute = () => arguments[0];', 'arguments'],
    ['arguments inside functions', 'export function execute() { return arguments.length; }', 'arguments'],
    ['destructuring catch parameters', 'try {} catch ({ message }) {}', 'catch parameter'],
    ['HTML open comments', 'let a = 1, b = 2;\nexport const x = a <!--b;', 'HTML-like comment'],
    ['syntax errors', 'export function execute( {', 'syntax error'],
    ['hashbangs', '#!/usr/bin/env node\nexport function execute() {}', 'syntax error'],
  ])('%s', (_name, source, fragment) => {
    expect(refusal(source)).toContain(fragment);
  });

  it('for await', () => {
    // Only parses inside async functions, which are refused first.
    expect(refusal('export async function execute(ctx) { for await (const x of []) {} }')).toContain('async');
  });

  it('code over the size limit, counted in UTF-8 bytes', () => {
    const filler = `// ${'é'.repeat(code_size_bytes_max / 2)}\n`;
    expect(filler.length).toBeLessThan(code_size_bytes_max);
    expect(refusal(`${filler}export function execute() {}`)).toContain(
      `exceeds ${code_size_bytes_max} bytes`,
    );
  });

  it('nesting deeper than the limit, whether or not the parser itself overflows', () => {
    const shallow = `export const x = ${'['.repeat(ast_depth_max - 10)}${']'.repeat(ast_depth_max - 10)};`;
    expect(compile_contract(shallow).ok).toBe(true);
    const deep = `export const x = ${'['.repeat(ast_depth_max)}${']'.repeat(ast_depth_max)};`;
    expect(refusal(deep)).toContain('nests deeper');
    const very_deep = `export const x = ${'('.repeat(50_000)}1${')'.repeat(50_000)};`;
    expect(refusal(very_deep)).toContain('nests deeper');
  });

  it('calls with more literal arguments than the limit', () => {
    const args = Array.from({ length: call_args_max + 1 }, () => '0').join(',');
    expect(refusal(`Math.max(${args});`)).toContain(`at most ${call_args_max} arguments`);
    const parts = Array.from({ length: call_args_max }, () => `\${0}`).join('');
    expect(refusal(`String.raw\`${parts}\`;`)).toContain(`at most ${call_args_max} arguments`);
  });

  it('rejects non-string source with TypeError', () => {
    expect(() => compile_contract(42 as unknown as string)).toThrow(TypeError);
  });

  it('names the position of the offending construct', () => {
    expect(refusal('const a = 1;\nconst b = /x/;')).toContain('(at 2:11)');
  });
});

describe('compile_contract accepts and runs', () => {
  it('every export form for entry points', () => {
    const sources = [
      'export function execute() { return 1; }',
      'export const execute = () => 1;',
      'function run() { return 1; }\nexport { run as execute };',
      "function run() { return 1; }\nexport { run as 'execute' };",
      'export const { execute } = { execute: () => 1 };',
      'export const [execute] = [function () { return 1; }];',
      'export class Helper {}\nexport let execute = () => 0;\nexecute = () => 1;',
    ];
    for (const source of sources) expect(data_of(compile_ok(source).call(make_env()))).toBe(1);
  });

  it('reports a missing entry point as a contract error when called', () => {
    const program = compile_ok('export function execute() { return 1; }');
    expect(error_of(program.call(make_env({ entry: 'query', sender: null })))).toBe(
      'contract has no query entry point',
    );
    expect(data_of(program.call(make_env()))).toBe(1);
  });

  it('keeps semantics through instrumentation', () => {
    const source = `
      const double = (x) => x * 2;
      const object = () => ({ a: 1 });
      const nested = (a) => (b) => (c) => a + b + c;
      const seq = (x) => (x, x + 1);
      function empty() {}
      class Base { base = 1; static s = double(2); static { Base.t = 3; } m() { return this.base; } }
      class Derived extends Base { extra = this.base + 1; get g() { return this.extra; } }
      export function execute(ctx, msg) {
        let loops = 0;
        for (let i = 0; i < 3; i++) loops++;
        for (const k in { a: 1, b: 2 }) loops++;
        for (const v of [1, 2]) loops++;
        let w = 0; while (w < 2) w++;
        let d = 0; do d++; while (d < 2);
        outer: for (;;) { for (;;) { break outer; } }
        let caught = '';
        try { null.x; } catch { caught += 'a'; }
        try { throw new Error('b'); } catch (e) { caught += e.message; }
        let fin = 0;
        try { fin = 1; } finally { fin += 1; }
        const d2 = new Derived();
        const label = \`\${double(2)}-\${[1, 2, 3].map(double).join(',')}\`;
        return [double(3), object(), nested(1)(2)(3), seq(1), empty(), Base.s, Base.t, d2.m(), d2.g,
                loops, w, d, caught, fin, label, Math.max(...[1, 5, 2]), typeof this];
      }
    `;
    expect(data_of(compile_ok(source).call(make_env()))).toEqual([
      6,
      { a: 1 },
      6,
      2,
      null,
      4,
      3,
      1,
      2,
      7,
      2,
      2,
      'ab',
      2,
      '4-2,4,6',
      5,
      'undefined',
    ]);
  });

  it('leaves `arguments` usable as a property name', () => {
    expect(
      data_of(compile_ok('export const execute = () => ({ arguments: 1 }).arguments;').call(make_env())),
    ).toBe(1);
  });

  it('instruments every function body and loop body (white-box)', () => {
    const { factory_source } = instrument_module(
      'export function a() { while (x) y(); }\nconst b = () => 1;\nclass C { f = 1; static { } }\ntry {} finally {}',
    );
    const tick = 'if((__cloister_gas.left-=1)<0)__cloister_tick();';
    // Each function body declares its position variable, starting at the body's offset.
    expect(factory_source).toContain(`function a() {var __cloister_p=20;${tick}try{`);
    // A statement records its offset before it runs; so does a loop body that is not a block.
    expect(factory_source).toContain(`__cloister_p=22;while (x) {${tick}__cloister_p=32;y();}`);
    expect(factory_source).toContain(`const b = () => {var __cloister_p=55;${tick}try{`);
    expect(factory_source).toContain(`static {${tick}`);
    expect(factory_source).toContain(
      'catch(__cloister_e){__cloister_caught(__cloister_e,__cloister_p);throw __cloister_e}',
    );
    // An exception leaving a function body is marked with the position of its statement.
    expect(factory_source).toContain(
      '}catch(__cloister_e){__cloister_mark(__cloister_e,__cloister_p);throw __cloister_e}finally{',
    );
  });
});
