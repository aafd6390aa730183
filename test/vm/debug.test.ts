/** Debug lines: `ctx.debug` and the realm's `console`, their format, bounds and gas. */
import { describe, expect, it } from 'vitest';
import {
  builtin_chars_per_gas,
  debug_base_gas,
  debug_line_chars_max,
  debug_lines_per_call_max,
} from '../../enclave/vm/limits.js';
import type { CallOutcome } from '../../enclave/vm/types.js';
import { compile_ok, make_env, run_body } from './harness.js';

function debug_of(outcome: CallOutcome): string[] {
  if (outcome.kind === 'out_of_gas' || outcome.kind === 'aborted')
    throw new Error(`no debug in ${JSON.stringify(outcome)}`);
  return outcome.debug;
}

function gas_of(outcome: CallOutcome): number {
  if (outcome.kind === 'aborted') throw new Error('aborted');
  return outcome.gas_used;
}

describe('ctx.debug', () => {
  it('writes one line per call, values formatted like console.log and joined by spaces', () => {
    const outcome = run_body(`
      ctx.debug('plain', 'two words');
      ctx.debug(1, -2.5, 1e21, NaN, -Infinity, true, false, null, undefined);
      ctx.debug({ b: 1, a: [1, 'x', null] }, [], {});
      ctx.debug(12345678901234567890n, Symbol('s'));
      ctx.debug(function named() {}, () => 1, Math.max);
      ctx.debug(new TypeError('bad thing'), new Error('plain'));
      ctx.debug({ toJSON() { return 'custom'; } }, { big: 1n }, { toString() { return 'str'; }, x: 1n });
      ctx.debug();
      ctx.debug('a\\nb');
      return 1;
    `);
    expect(outcome.kind).toBe('ok');
    expect(debug_of(outcome)).toEqual([
      'plain two words',
      '1 -2.5 1e+21 NaN -Infinity true false null undefined',
      '{"b":1,"a":[1,"x",null]} [] {}',
      '12345678901234567890n Symbol(s)',
      '[Function: named] [Function (anonymous)] [Function: max]',
      'TypeError: bad thing plain',
      // JSON when it has a text, else String(value).
      '"custom" [object Object] str',
      '',
      'a\nb',
    ]);
  });

  it('is what every console method writes', () => {
    const outcome = run_body(`
      console.log('log', 1);
      console.info('info');
      console.warn('warn');
      console.error('error', { e: 1 });
      console.debug('debug');
      globalThis.console.log('via globalThis');
    `);
    expect(debug_of(outcome)).toEqual(['log 1', 'info', 'warn', 'error {"e":1}', 'debug', 'via globalThis']);
  });

  it('returns the lines of a failed call, and none when out of gas', () => {
    const failed = run_body("console.log('before'); ctx.debug('state', { n: 1 }); throw new Error('boom');");
    expect(failed).toMatchObject({ kind: 'error', debug: ['before', 'state {"n":1}'] });
    expect(run_body("console.log('before'); for (;;) {}")).toEqual({
      kind: 'out_of_gas',
      gas_used: expect.any(Number),
    });
  });

  it('works in every entry point, queries included', () => {
    const program = compile_ok(`
      export function instantiate(ctx) { ctx.debug('i'); }
      export function query(ctx) { ctx.debug('q'); }
      export function reply(ctx) { ctx.debug('r'); }`);
    for (const entry of ['instantiate', 'query', 'reply'] as const) {
      const outcome = program.call(make_env({ entry, sender: entry === 'query' ? null : make_env().sender }));
      expect(debug_of(outcome)).toEqual([entry[0]]);
    }
  });

  it(`cuts a line to ${debug_line_chars_max} characters, never inside a surrogate pair`, () => {
    const outcome = run_body(`
      ctx.debug('x'.repeat(5000));
      ctx.debug('a'.repeat(${debug_line_chars_max - 2}), 'bc');
      ctx.debug('a'.repeat(${debug_line_chars_max - 1}) + '😀');
      ctx.debug('y'.repeat(600), 'z'.repeat(600), 'never seen');
      ctx.debug('a\\ud800b');
    `);
    expect(debug_of(outcome)).toEqual([
      'x'.repeat(debug_line_chars_max),
      `${'a'.repeat(debug_line_chars_max - 2)} b`,
      'a'.repeat(debug_line_chars_max - 1),
      `${'y'.repeat(600)} ${'z'.repeat(debug_line_chars_max - 601)}`,
      // Lines are well-formed Unicode.
      'a\ufffdb',
    ]);
  });

  it(`keeps at most ${debug_lines_per_call_max} lines, the last saying how many were dropped`, () => {
    const exact = debug_of(run_body(`for (let i = 0; i < ${debug_lines_per_call_max}; i++) ctx.debug(i);`));
    expect(exact).toEqual(Array.from({ length: debug_lines_per_call_max }, (_, i) => String(i)));
    const over = debug_of(
      run_body(`for (let i = 0; i < ${debug_lines_per_call_max + 10}; i++) ctx.debug(i);`),
    );
    expect(over).toHaveLength(debug_lines_per_call_max);
    expect(over.slice(0, -1)).toEqual(
      Array.from({ length: debug_lines_per_call_max - 1 }, (_, i) => String(i)),
    );
    expect(over.at(-1)).toBe('… 11 more debug lines dropped');
  });

  it('costs debug_base_gas plus the characters of each value, kept, cut or dropped alike', () => {
    // ctx.gas_left ignores its arguments: the same syntax, so the same ticks, without the line.
    const gas = (body: string) => gas_of(run_body(`const s = 'x'.repeat(100);\n${body}`));
    const one = gas('ctx.debug(s, s);') - gas('ctx.gas_left(s, s);');
    expect(one).toBe(debug_base_gas + 2 * Math.ceil(100 / builtin_chars_per_gas));
    // A value far over the line limit pays for all of it.
    const long = gas("ctx.debug('x'.repeat(10000));") - gas("ctx.gas_left('x'.repeat(10000));");
    expect(long).toBe(debug_base_gas + 10000 / builtin_chars_per_gas);
    // A line past the line limit costs what a kept one does.
    const loop = (n: number, call: string) =>
      gas(`for (let i = 0; i < ${n}; i++) ${call};`) - gas(`for (let i = 0; i < ${n}; i++) ctx.gas_left(s);`);
    const n = debug_lines_per_call_max + 20;
    expect(loop(n, 'ctx.debug(s)')).toBe(n * (debug_base_gas + Math.ceil(100 / builtin_chars_per_gas)));
    // console.log and ctx.debug cost the same.
    expect(gas('console.log(s, s);')).toBe(gas('ctx.debug(s, s);'));
  });

  it('is metered: a toJSON that loops runs out of gas', () => {
    expect(run_body('ctx.debug({ toJSON() { for (;;) {} } });').kind).toBe('out_of_gas');
    expect(run_body('ctx.debug({ toString() { for (;;) {} }, x: 1n });').kind).toBe('out_of_gas');
  });

  it('survives a toString that throws, falling back to a fixed text', () => {
    const outcome = run_body("ctx.debug({ toString() { throw new Error('no'); }, x: 1n }); return 1;");
    expect(debug_of(outcome)).toEqual(['[object]']);
  });
});
