import { type AnyNode, parse } from 'acorn';
import { describe, expect, it } from 'vitest';
import { straight_line_nodes } from '../../enclave/vm/ast.js';
import {
  builtin_element_gas,
  call_base_gas,
  call_depth_units_max,
  catch_gas,
  data_byte_gas,
  event_base_gas,
  event_byte_gas,
  message_base_gas,
  msg_byte_gas,
  random_gas,
  storage_read_base_gas,
  storage_read_byte_gas,
  storage_remove_base_gas,
  storage_write_base_gas,
  storage_write_byte_gas,
  straight_line_nodes_per_gas,
  tick_gas,
} from '../../enclave/vm/limits.js';
import type { CallOutcome } from '../../enclave/vm/types.js';
import { compile_ok, data_of, MemoryStorage, make_env } from './harness.js';

/** Runs `source`'s execute on two independently compiled programs and checks they agree. */
function run_twice(source: string, gas_limit: number): CallOutcome {
  const first = compile_ok(source).call(make_env({ gas_limit }));
  const second = compile_ok(source).call(make_env({ gas_limit }));
  expect(JSON.stringify(second)).toBe(JSON.stringify(first));
  return first;
}

describe('out of gas', () => {
  const endless = {
    'an endless loop': 'export function execute() { while (true) {} }',
    'an endless for(;;) with an empty statement body': 'export function execute() { for (;;); }',
    'unbounded recursion through a loop':
      'export function execute() { const f = () => { for (;;) f(); }; f(); }',
    'a catch-and-continue loop': `export function execute() {
        for (;;) { try { for (;;) {} } catch (e) { /* swallow and go on */ } }
      }`,
    'a catch without binding': 'export function execute() { for (;;) { try { for (;;) {} } catch {} } }',
    'a finally that returns normally': `export function execute() {
        const f = () => { try { for (;;) {} } finally { return 'escaped'; } };
        return f();
      }`,
    'catching in a callback of a builtin': `export function execute() {
        for (;;) { [1].forEach(() => { try { for (;;) {} } catch {} }); }
      }`,
    'catching at module level': 'try { for (;;) {} } catch {}\nexport function execute() { return 1; }',
    'a toJSON that loops': 'export function execute() { return { toJSON() { for (;;) {} } }; }',
    'a getter read by emit': `export function execute(ctx) {
        ctx.emit('e', { get a() { for (;;) {} } });
      }`,
    'set_json of a looping toJSON': `export function execute(ctx) {
        ctx.storage.set_json('k', { toJSON() { while (true) {} } });
      }`,
    'a sort comparator that loops': 'export function execute() { [2, 1].sort(() => { for (;;) {} }); }',
    'a field initializer that loops':
      'class A { x = (() => { for (;;) {} })(); }\nexport function execute() { new A(); }',
  };

  for (const [name, source] of Object.entries(endless)) {
    it(`${name}: gas_used === gas_limit, identically on two compiles`, () => {
      for (const gas_limit of [0, 5_000, 123_457, 1_000_000]) {
        expect(run_twice(source, gas_limit)).toEqual({ kind: 'out_of_gas', gas_used: gas_limit });
      }
    });
  }

  it('stays out of gas when the contract catches it and returns normally', () => {
    const source = `export function execute() {
      try { while (true) {} } catch (e) { return 'recovered'; }
    }`;
    expect(run_twice(source, 50_000)).toEqual({ kind: 'out_of_gas', gas_used: 50_000 });
  });

  it('is never seen by contract code, even through a finally', () => {
    const source = `export function execute(ctx) {
      let seen = 'nothing';
      try { try { for (;;) {} } finally { seen = 'finally ran'; } } catch (e) { seen = e; }
      ctx.storage.set('seen', String(seen));
      return seen;
    }`;
    const storage = new MemoryStorage();
    const outcome = compile_ok(source).call(make_env({ gas_limit: 20_000, storage }));
    expect(outcome).toEqual({ kind: 'out_of_gas', gas_used: 20_000 });
    expect(storage.writes.size).toBe(0);
  });

  it('charges the base before anything runs', () => {
    const program = compile_ok('export function execute() { return 1; }');
    expect(program.call(make_env({ gas_limit: call_base_gas - 1 }))).toEqual({
      kind: 'out_of_gas',
      gas_used: call_base_gas - 1,
    });
  });
});

/** Straight-line nodes of the first function declared (or exported) in `source`. */
function nodes(source: string): number {
  const program = parse(source, { ecmaVersion: 2022, sourceType: 'module', preserveParens: true });
  const first = program.body[0] as unknown as { declaration?: unknown; params: AnyNode[]; body: AnyNode };
  const fn = (first.declaration ?? first) as { params: AnyNode[]; body: AnyNode };
  return straight_line_nodes([...fn.params, fn.body]);
}

describe('gas accounting', () => {
  it('a tick covers the straight-line code it starts: 1 gas plus 1 per 8 syntax nodes', () => {
    expect(nodes('function f(ctx, msg) { for (let i = 0; i < 3; i++) {} f(1); f(2); return 7; }')).toBe(18);
    // A loop body's nodes are its own tick's; a nested function's are its own too.
    expect(nodes('function f() { while (x) { a(); b(); c(); } function g() { d(); e(); } }')).toBe(3);
    // Long straight-line bodies pay in proportion: a loop of 40 statements costs far more per
    // iteration than a loop of one.
    const body = (n: number) => Array.from({ length: n }, (_, i) => `x = x * ${i} | 0;`).join(' ');
    const run = (n: number) =>
      compile_ok(
        `export function execute() { let x = 1; for (let i = 0; i < 1000; i++) { ${body(n)} } return x; }`,
      ).call(make_env({ gas_limit: 10_000_000 }));
    const one = run(1);
    const forty = run(40);
    if (one.kind !== 'ok' || forty.kind !== 'ok') throw new Error('expected ok');
    expect(forty.gas_used - one.gas_used).toBeGreaterThan(1000 * 10);
  });

  it('charges exactly base + message bytes + ticks + data bytes', () => {
    // Entering execute pays for its 18 straight-line nodes (3 gas: 1 + 18 / 8), three loop
    // iterations 1 each, each call of f 1 (twice); one value visited by JSON.stringify when the
    // result is serialized (8 elements).
    const source =
      'const f = (x) => x;\nexport function execute(ctx, msg) { for (let i = 0; i < 3; i++) {} f(1); f(2); return 7; }';
    const msg_json = '{"a":"é"}';
    const outcome = compile_ok(source).call(make_env({ msg_json }));
    const expected =
      call_base_gas +
      Buffer.byteLength(msg_json) * msg_byte_gas +
      (3 + 3 + 2) * tick_gas +
      8 * builtin_element_gas +
      1 * data_byte_gas;
    expect(outcome).toEqual({
      kind: 'ok',
      gas_used: expected,
      data_json: '7',
      events: [],
      messages: [],
      debug: [],
    });
  });

  it('charges storage, events and randomness per use and per byte', () => {
    const storage = new MemoryStorage();
    storage.committed.set('old', 'value');
    const source = `export function execute(ctx) {
      ctx.storage.get('old');
      ctx.storage.get('missing');
      ctx.storage.set('kk', 'vvv');
      ctx.storage.remove('old');
      ctx.emit('ev', { a: 'bc' });
      ctx.random();
    }`;
    const outcome = compile_ok(source).call(make_env({ storage, msg_json: '{}' }));
    const expected =
      call_base_gas +
      2 * msg_byte_gas +
      // execute's entry: 1 tick plus 1 per 8 straight-line nodes of its body.
      (1 + Math.floor(nodes(source) / straight_line_nodes_per_gas)) * tick_gas +
      (storage_read_base_gas + (3 + 5) * storage_read_byte_gas) +
      (storage_read_base_gas + 7 * storage_read_byte_gas) +
      (storage_write_base_gas + (2 + 3) * storage_write_byte_gas) +
      (storage_remove_base_gas + 3 * storage_write_byte_gas) +
      (event_base_gas + 5 * event_byte_gas) +
      random_gas +
      4 * data_byte_gas;
    expect(outcome.kind === 'aborted' ? -1 : outcome.gas_used).toBe(expected);
  });

  it('ctx.gas_left() reports what remains', () => {
    const outcome = compile_ok('export function execute(ctx) { return ctx.gas_left(); }').call(
      make_env({ gas_limit: 100_000, msg_json: '{}' }),
    );
    expect(data_of(outcome)).toBe(100_000 - call_base_gas - 2 * msg_byte_gas - tick_gas);
  });

  it('refuses an operation it cannot pay for, before doing it', () => {
    const storage = new MemoryStorage();
    const gas_limit = call_base_gas + 2 * msg_byte_gas + tick_gas + storage_write_base_gas;
    const outcome = compile_ok("export function execute(ctx) { ctx.storage.set('k', 'v'); }").call(
      make_env({ gas_limit, storage, msg_json: '{}' }),
    );
    expect(outcome).toEqual({ kind: 'out_of_gas', gas_used: gas_limit });
    expect(storage.writes.size).toBe(0);
  });
});

describe('call depth and stack overflow', () => {
  it('ends unbounded recursion out of gas at the depth limit, identically on two compiles', () => {
    const source = 'export function execute() { const f = (n) => f(n + 1) + 1; return f(0); }';
    for (const gas_limit of [10_000, 10_000_000]) {
      expect(run_twice(source, gas_limit)).toEqual({ kind: 'out_of_gas', gas_used: gas_limit });
    }
  });

  it('allows recursion up to the limit', () => {
    const source =
      'export function execute(ctx, msg) { const f = (n) => (n === 0 ? 0 : 1 + f(n - 1)); return f(msg.n); }';
    const program = compile_ok(source);
    // execute holds one unit and each call of f one more.
    const deepest = call_depth_units_max - 2;
    expect(data_of(program.call(make_env({ msg_json: JSON.stringify({ n: deepest }) })))).toBe(deepest);
    expect(program.call(make_env({ msg_json: JSON.stringify({ n: deepest + 1 }) })).kind).toBe('out_of_gas');
  });

  it('counts bigger functions as deeper', () => {
    const padding = `/*${' '.repeat(1024)}*/`;
    const source = `export function execute(ctx, msg) { const f = (n) => { ${padding} return n === 0 ? 0 : 1 + f(n - 1); }; return f(msg.n); }`;
    const program = compile_ok(source);
    expect(data_of(program.call(make_env({ msg_json: '{"n":40}' })))).toBe(40);
    expect(program.call(make_env({ msg_json: '{"n":100}' })).kind).toBe('out_of_gas');
  });

  it('cannot be caught', () => {
    const source = `export function execute() {
      const f = (n) => f(n + 1);
      for (let i = 0; i < 3; i++) { try { f(0); } catch (e) { } }
      return 'survived';
    }`;
    expect(run_twice(source, 10_000_000)).toEqual({ kind: 'out_of_gas', gas_used: 10_000_000 });
  });

  it('turns an engine stack overflow into out of gas (code 2) that uses all the gas', () => {
    // Default parameters run before the body, so this recursion never reaches a depth check.
    const source = 'export function execute() { function f(a = f()) { return a; } return f(); }';
    expect(run_twice(source, 1_000_000)).toEqual({ kind: 'out_of_gas', gas_used: 1_000_000 });
  });

  it('keeps a caught engine stack overflow out of gas', () => {
    const source = `export function execute() {
      function f(a = f()) { return a; }
      try { f(); } catch (e) { return 'caught ' + e.message; }
    }`;
    expect(run_twice(source, 1_000_000)).toEqual({ kind: 'out_of_gas', gas_used: 1_000_000 });
  });
});

/** Gas of an outcome that has some (every kind but `aborted`). */
function gas_of(outcome: CallOutcome): number {
  if (outcome.kind === 'aborted') throw new Error(`aborted: ${outcome.message}`);
  return outcome.gas_used;
}

describe('prices that keep time per gas bounded (docs/contracts.md "Time per gas")', () => {
  const loop = (throws: boolean) =>
    `export function execute(ctx, msg) {
      let o = null; let n = 0;
      for (let i = 0; i < 100; i++) { try { if (${throws ? 'i >= 0' : 'i < 0'}) o.x = 1; } catch (e) { n++; } }
      return n;
    }`;

  it('each caught exception pays catch_gas', () => {
    const thrown = compile_ok(loop(true)).call(make_env({ gas_limit: 10_000_000 }));
    const quiet = compile_ok(loop(false)).call(make_env({ gas_limit: 10_000_000 }));
    expect(data_of(thrown)).toBe(100);
    expect(data_of(quiet)).toBe(0);
    expect(gas_of(thrown) - gas_of(quiet)).toBeGreaterThanOrEqual(100 * catch_gas);
  });

  it('a refused message pays its base: the 17th send and after cost what accepted ones do', () => {
    const sends = (n: number) =>
      `export function execute(ctx, msg) {
        const to = 'ab'.repeat(20);
        for (let i = 0; i < ${n}; i++) { try { ctx.send(to, 1); } catch (e) {} }
        return null;
      }`;
    const env = () => make_env({ gas_limit: 10_000_000, balance: 100, funds: 0 });
    const at_limit = compile_ok(sends(16)).call(env());
    const past = compile_ok(sends(36)).call(env());
    expect(at_limit.kind).toBe('ok');
    expect(gas_of(past) - gas_of(at_limit)).toBeGreaterThanOrEqual(20 * (message_base_gas + catch_gas));
  });
});
