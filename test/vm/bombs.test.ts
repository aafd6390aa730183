/**
 * Resource bombs against the default (QuickJS) engine: memory of every shape, CPU made of heavy
 * built-ins, deep recursion. Each must end the call with code 2 (out_of_gas) at the same point
 * whatever ran before it on the thread, and leave the engine healthy for the next call.
 * (Run by the `all` project only: the node:vm engine has no deterministic memory bound.)
 */
import { describe, expect, it } from 'vitest';
import { compile_contract } from '../../enclave/vm/compile.js';
import { gas_limit_max } from '../../enclave/vm/limits.js';
import type { CallOutcome } from '../../enclave/vm/types.js';
import { compile_ok, data_of, make_env } from './harness.js';

const bombs: Record<string, string> = {
  'large arrays': 'const a = []; for (;;) a.push(new Array(1000000).fill(1));',
  'many typed arrays': 'const a = []; for (;;) a.push(new Uint8Array(2 * 1024 * 1024));',
  'one huge ArrayBuffer': 'return new ArrayBuffer(256 * 1024 * 1024).byteLength;',
  'strings doubled in a loop': "let s = 'x'; for (;;) s = s + s;",
  'strings doubled, each kept': "let s = 'xy'; const keep = []; for (;;) { s = s + s; keep.push(s + '!'); }",
  'tens of millions of small objects': 'const a = []; for (let i = 0; ; i++) a.push({ i });',
  'a map that never stops growing': 'const m = new Map(); for (let i = 0; ; i++) m.set(i, [i]);',
  'a set of strings': "const s = new Set(); for (let i = 0; ; i++) s.add('k' + i);",
  'caught and retried':
    'const a = []; for (let r = 0; r < 100; r++) { try { for (;;) a.push(new Array(100000).fill(r)); } catch (e) { a.length = 0; } }',
};

function bomb_program(body: string) {
  return compile_ok(`export function execute(ctx, msg) { ${body} }`);
}

const ordinary = compile_ok(
  'export function execute(ctx, msg) { const a = []; for (let i = 0; i < 1000; i++) a.push(i * 2); return a[999] + msg.n; }',
);

function run_ordinary(): CallOutcome {
  return ordinary.call(make_env({ msg_json: '{"n":1}', gas_limit: 1_000_000 }));
}

describe('memory bombs end with code 2, deterministically', () => {
  it.each(Object.entries(bombs))('%s', (_name, body) => {
    const program = bomb_program(body);
    const env = () => make_env({ gas_limit: gas_limit_max });
    const first = program.call(env());
    expect(first).toEqual({ kind: 'out_of_gas', gas_used: gas_limit_max });
    // Another history in between (an ordinary call, a different bomb): the same outcome again.
    expect(run_ordinary()).toMatchObject({ kind: 'ok', data_json: '1999' });
    bomb_program(bombs['large arrays']!).call(env());
    expect(program.call(env())).toEqual(first);
    expect(run_ordinary()).toMatchObject({ kind: 'ok', data_json: '1999' });
  });

  it('runs out at the same allocation whatever ran before: the count of arrays made is fixed', () => {
    const source = `export function execute(ctx, msg) {
      const a = [];
      try { for (;;) a.push(new Array(msg.n).fill(0)); } catch (e) { }
      return a.length;
    }`;
    // A contract cannot catch running out of memory, so count from outside: the largest n
    // of arrays that still fit is found by the same search on two different histories.
    const fits = (k: number) => {
      const program = compile_ok(`export function execute(ctx, msg) {
        const a = []; for (let i = 0; i < ${k}; i++) a.push(new Array(100000).fill(i)); return a.length; }`);
      return program.call(make_env({ gas_limit: gas_limit_max })).kind === 'ok';
    };
    const largest = (): number => {
      let lo = 1;
      let hi = 400;
      while (lo + 1 < hi) {
        const mid = (lo + hi) >> 1;
        if (fits(mid)) lo = mid;
        else hi = mid;
      }
      return lo;
    };
    const before = largest();
    compile_ok(source).call(make_env({ msg_json: '{"n":123457}', gas_limit: gas_limit_max }));
    bomb_program(bombs['many typed arrays']!).call(make_env({ gas_limit: gas_limit_max }));
    expect(largest()).toBe(before);
    expect(before).toBeGreaterThan(10);
    expect(before).toBeLessThan(400);
  });
});

describe('CPU made of heavy built-ins pays by work', () => {
  // Each call's cost in gas must grow with the input: twice the input, at least the difference in
  // elements (or characters / 16) more gas.
  const cases: [string, string, number][] = [
    ['Array fill', 'new Array(n).fill(0)', 1],
    ['Array sort', 'Array.from({ length: n }, (_, i) => n - i).sort((a, b) => 0)', 1],
    ['Array join', 'new Array(n).fill(1).join(",")', 1],
    ['Array indexOf', 'const a = new Array(n).fill(0); a.indexOf(1); a.indexOf(2)', 1],
    ['Array.prototype.indexOf on an array-like', 'Array.prototype.indexOf.call({ length: n }, 1)', 1],
    ['Array map', 'new Array(n).fill(0).map((x) => x)', 1],
    ['String repeat', "'ab'.repeat(n)", 1 / 8],
    ['String padStart', "'x'.padStart(n * 2, 'y')", 1 / 8],
    ['String split', "'a,'.repeat(n).split(',')", 1],
    ['String indexOf', "const s = 'a'.repeat(n); s.indexOf('b'); s.indexOf('c')", 1 / 8],
    ['JSON.parse', 'JSON.parse("[" + "1,".repeat(n) + "1]")', 1 / 2],
    ['JSON.stringify', 'JSON.stringify(new Array(n).fill(1))', 1],
    ['typed array fill', 'new Uint8Array(n).fill(7)', 1],
    ['typed array sort', 'new Float64Array(n).sort()', 1],
    [
      'Object.keys',
      'const o = {}; for (let i = 0; i < 16; i++) o[i] = i; Object.keys(new Array(n).fill(0))',
      1,
    ],
  ];
  it.each(cases)('%s', (_name, expression, per_element) => {
    const program = compile_ok(
      `export function execute(ctx, msg) { const n = msg.n; ${expression}; return 0; }`,
    );
    const gas = (n: number) => {
      const outcome = program.call(make_env({ msg_json: JSON.stringify({ n }), gas_limit: gas_limit_max }));
      if (outcome.kind !== 'ok') throw new Error(JSON.stringify(outcome));
      return outcome.gas_used;
    };
    const small = gas(20_000);
    const large = gas(40_000);
    expect(large - small).toBeGreaterThanOrEqual(20_000 * per_element);
  });

  it('a loop of sorts over a large array runs out of gas, not time', () => {
    const program = bomb_program('const a = new Array(1000000).fill(0).map((_, i) => i); for (;;) a.sort();');
    expect(program.call(make_env({ gas_limit: gas_limit_max }))).toEqual({
      kind: 'out_of_gas',
      gas_used: gas_limit_max,
    });
  });
});

describe('deep recursion ends with code 2', () => {
  it.each([
    ['plain recursion', 'function f(n) { return f(n + 1) + 1; } return f(0);'],
    ['recursion in default parameters', 'function f(a = f()) { return a; } return f();'],
    ['recursion through map', 'function h() { return [1].map(h); } return h();'],
    ['recursion through a getter', 'const o = { get x() { return this.x; } }; return o.x;'],
    ['recursion through toString', 'const o = { toString() { return String(o); } }; return String(o);'],
    [
      'deeply nested data serialized',
      'let a = []; for (let i = 0; i < 200000; i++) a = [a]; return JSON.stringify(a).length;',
    ],
    [
      'deeply nested data joined',
      'let a = []; for (let i = 0; i < 200000; i++) a = [a]; return String(a).length;',
    ],
    ['deeply nested JSON parsed', "return JSON.parse('['.repeat(200000)).length;"],
  ])('%s', (_name, body) => {
    const program = bomb_program(body);
    const outcome = program.call(make_env({ gas_limit: gas_limit_max }));
    expect(outcome).toEqual({ kind: 'out_of_gas', gas_used: gas_limit_max });
    expect(run_ordinary()).toMatchObject({ kind: 'ok', data_json: '1999' });
  });
});

describe('the engine is left healthy', () => {
  it('state a bomb left behind never reaches a later call or another program', () => {
    const program = compile_ok(`let leak = 0;
      export function execute(ctx, msg) { leak++; if (msg.bomb) { const a = []; for (;;) a.push(new Array(100000)); } return leak; }`);
    expect(program.call(make_env({ msg_json: '{"bomb":true}', gas_limit: gas_limit_max })).kind).toBe(
      'out_of_gas',
    );
    expect(data_of(program.call(make_env({ msg_json: '{}' })))).toBe(1);
    const other = compile_contract('export function execute() { return typeof globalThis.leak; }');
    if (!other.ok) throw new Error(other.message);
    expect(data_of(other.program.call(make_env({ msg_json: '{}' })))).toBe('undefined');
  });
});
