import { describe, expect, it } from 'vitest';
import { compile_contract, default_engine } from '../../enclave/vm/compile.js';
import { compile_ok, data_of, error_of, MemoryStorage, make_env, run_body } from './harness.js';

describe('unavailable nondeterminism and escape hatches', () => {
  it.each([
    ['Math.random', 'typeof Math.random'],
    ['Date', 'typeof Date'],
    ['Intl', 'typeof Intl'],
    ['setTimeout', 'typeof setTimeout'],
    ['setInterval', 'typeof setInterval'],
    ['setImmediate', 'typeof setImmediate'],
    ['queueMicrotask', 'typeof queueMicrotask'],
    ['Promise', 'typeof Promise'],
    ['WeakRef', 'typeof WeakRef'],
    ['FinalizationRegistry', 'typeof FinalizationRegistry'],
    ['SharedArrayBuffer', 'typeof SharedArrayBuffer'],
    ['Atomics', 'typeof Atomics'],
    ['RegExp', 'typeof RegExp'],
    ['eval', 'typeof eval'],
    ['Function', 'typeof Function'],
    ['WebAssembly', 'typeof WebAssembly'],
    ['performance', 'typeof performance'],
    ['process', 'typeof process'],
    ['require', 'typeof require'],
    ['Proxy', 'typeof Proxy'],
    ['String.prototype.match', "typeof ''.match"],
    ['String.prototype.matchAll', "typeof ''.matchAll"],
    ['String.prototype.search', "typeof ''.search"],
    ['String.prototype.localeCompare', "typeof ''.localeCompare"],
    ['String.prototype.toLocaleUpperCase', "typeof ''.toLocaleUpperCase"],
    ['Number.prototype.toLocaleString', 'typeof (1).toLocaleString'],
    ['Array.prototype.toLocaleString', 'typeof [].toLocaleString'],
    ['Object.prototype.toLocaleString', 'typeof ({}).toLocaleString'],
    ['Error.captureStackTrace', 'typeof Error.captureStackTrace'],
  ])('%s is unavailable', (_name, expression) => {
    expect(data_of(run_body(`return ${expression};`))).toBe('undefined');
  });

  it('dynamic code generation fails even through hidden constructors', () => {
    const attempts = [
      "new Function('return 1')()",
      "eval('1')",
      "globalThis.eval('1')",
      "(function () {}).constructor('return 1')()",
      "Object.getPrototypeOf(function () {}).constructor('return 1')()",
      "(() => {}).constructor.constructor('return process')()",
      "ctx.storage.get.constructor.constructor('return process')()",
      "ctx.emit.constructor('return process')()",
      "ctx.random.constructor.constructor('return this')()",
    ];
    for (const attempt of attempts) {
      const outcome = run_body(`return ${attempt};`);
      expect(outcome.kind, attempt).toBe('error');
    }
  });

  it('the VM callbacks are not host functions', () => {
    const data = data_of(
      run_body(`
        const fns = [ctx.storage.get, ctx.storage.set, ctx.emit, ctx.random, ctx.gas_left];
        return fns.map((f) => [f.constructor === Object, Object.getPrototypeOf(f) === Object.getPrototypeOf(() => {})]);
      `),
    );
    expect(data).toEqual(Array(5).fill([true, true]));
  });

  it('import() and regex literals are rejected at compile time', () => {
    expect(compile_contract("export function execute() { return import('node:fs'); }").ok).toBe(false);
    expect(compile_contract("export function execute() { return 'a'.replace(/a/g, 'b'); }").ok).toBe(false);
  });

  it('stack traces name no host file', () => {
    const data = data_of(
      run_body(`
        let thrown;
        try { null.x; } catch (e) { thrown = e; }
        return [new Error('made').stack, thrown.stack];
      `),
    ) as string[];
    for (const stack of data) {
      expect(stack).not.toMatch(/\bat\b|\/|\\|\.ts\b|node:/);
    }
    if (default_engine() === 'v8') {
      expect(data[0]).toBe('Error: made');
      expect(data[1]).toBe("TypeError: Cannot read properties of null (reading 'x')");
    } else {
      // QuickJS leaves `stack` empty when Error.stackTraceLimit is 0.
      expect(data).toEqual(['', '']);
    }
  });
});

describe('frozen realm', () => {
  it.each([
    ['globalThis.x = 1', 'globalThis.x = 1;'],
    ['Object.prototype.polluted = 1', 'Object.prototype.polluted = 1;'],
    ['Array.prototype.push = null', 'Array.prototype.push = null;'],
    ['Math.PI = 3', 'Math.PI = 3;'],
    ['JSON.parse = null', 'JSON.parse = null;'],
    ['ctx.storage.get = null', 'ctx.storage.get = null;'],
    ['ctx.sender = "x"', "ctx.sender = 'x';"],
    ['ctx.emit.marker = 1', 'ctx.emit.marker = 1;'],
    ['Object.defineProperty(globalThis, ...)', "Object.defineProperty(globalThis, 'y', { value: 1 });"],
    ['Object.setPrototypeOf(Object.prototype, ...)', 'Object.setPrototypeOf(Object.prototype, {});'],
    ['Error.prototype.toString = ...', 'Error.prototype.toString = () => 1;'],
    ['Error.stackTraceLimit = 10', 'Error.stackTraceLimit = 10;'],
    [
      'the array iterator prototype',
      'Object.getPrototypeOf([][Symbol.iterator]()).next = () => ({ done: true });',
    ],
    ['undeclared assignment', 'leaked = 1;'],
  ])('%s fails', (_name, statement) => {
    expect(run_body(statement).kind).toBe('error');
  });

  it('every object reachable from the contract is frozen and belongs to the contract realm', () => {
    const outcome = run_body(
      `
      const roots = [globalThis, ctx, Object.getPrototypeOf([][Symbol.iterator]()),
        Object.getPrototypeOf(''[Symbol.iterator]()), Object.getPrototypeOf(new Map().entries()),
        Object.getPrototypeOf(new Set().values()), Object.getPrototypeOf(Uint8Array)];
      const seen = new Set();
      const queue = roots.slice();
      const unfrozen = [];
      const foreign = [];
      while (queue.length > 0) {
        const o = queue.pop();
        if (o === null || (typeof o !== 'object' && typeof o !== 'function') || seen.has(o)) continue;
        seen.add(o);
        if (!Object.isFrozen(o)) unfrozen.push(String(o.name ?? Object.prototype.toString.call(o)));
        let top = o;
        while (Object.getPrototypeOf(top) !== null) top = Object.getPrototypeOf(top);
        if (top !== o && top !== Object.prototype) foreign.push(String(o.name));
        for (const key of Reflect.ownKeys(o)) {
          const d = Object.getOwnPropertyDescriptor(o, key);
          queue.push(d.value, d.get, d.set);
        }
        queue.push(Object.getPrototypeOf(o));
      }
      return { count: seen.size, unfrozen, foreign };
    `,
      { gas_limit: 100_000_000 },
    );
    const data = data_of(outcome) as { count: number; unfrozen: string[]; foreign: string[] };
    expect(data.count).toBeGreaterThan(400);
    expect(data.unfrozen).toEqual([]);
    expect(data.foreign).toEqual([]);
  });

  it('nothing a call does survives to the next call', () => {
    const source = `
      let calls = 0;
      export function execute(ctx) {
        calls++;
        const before = [typeof globalThis.leak, Object.prototype.leak, calls];
        try { globalThis.leak = 1; } catch {}
        try { Object.prototype.leak = 1; } catch {}
        return before;
      }
    `;
    const program = compile_ok(source);
    for (let i = 0; i < 3; i++) expect(data_of(program.call(make_env()))).toEqual(['undefined', null, 1]);
  });

  it('module-level state is fresh on every call', () => {
    const program = compile_ok(
      'const seen = [];\nlet n = 0;\nexport function execute() { n++; seen.push(n); return seen; }',
    );
    expect(data_of(program.call(make_env()))).toEqual([1]);
    expect(data_of(program.call(make_env()))).toEqual([1]);
  });

  it('one contract cannot affect another', () => {
    const a = compile_ok('export function execute() { return typeof globalThis.shared; }');
    const b = compile_ok(
      "export function execute() { try { globalThis.shared = 1; } catch {} return 'tried'; }",
    );
    expect(data_of(b.call(make_env()))).toBe('tried');
    expect(data_of(a.call(make_env()))).toBe('undefined');
  });

  it('leaves the host realm unfrozen', () => {
    compile_ok('export function execute() {}');
    expect(Object.isFrozen(Object.prototype)).toBe(false);
    expect(Object.isFrozen(Array.prototype)).toBe(false);
    expect(Object.isFrozen(Function.prototype)).toBe(false);
    expect(typeof Math.random).toBe('function');
  });

  it('still lets instances override inherited names (Error subclasses, toString)', () => {
    const data = data_of(
      run_body(`
        class MyError extends Error { constructor(m) { super(m); this.name = 'MyError'; } }
        const o = {}; o.toString = () => 'custom';
        function Old() {} Old.prototype.constructor = Old;
        return [new MyError('x').toString(), String(o), new Old().constructor === Old];
      `),
    );
    expect(data).toEqual(['MyError: x', 'custom', true]);
  });

  it('globalThis is a frozen view with the usual globals', () => {
    const data = data_of(
      run_body(
        'return [Object.isFrozen(globalThis), globalThis.globalThis === globalThis, globalThis.JSON === JSON, typeof globalThis.Array];',
      ),
    );
    expect(data).toEqual([true, true, true, 'function']);
  });
});

describe('arguments are bounded however they are passed', () => {
  it.each([
    ['spread', 'Math.max(...new Array(2000).fill(1))'],
    ['apply', 'Math.max.apply(null, new Array(2000).fill(1))'],
    ['Reflect.apply', 'Reflect.apply(Math.max, null, new Array(2000).fill(1))'],
    ['Reflect.construct', 'Reflect.construct(Array, new Array(2000).fill(1))'],
    [
      'bind chains',
      'new Array(3).fill(0).reduce((f) => f.bind(null, ...new Array(500).fill(1)), Math.max)()',
    ],
  ])('%s', (_name, expression) => {
    expect(error_of(run_body(`return ${expression};`))).toContain('at most 1024 arguments');
  });

  it('within the bound they behave as usual', () => {
    const data = data_of(
      run_body(`
        const xs = [3, 9, 4];
        const bound = Math.max.bind(null, 1, 2);
        return [Math.max(...xs), Math.max.apply(null, xs), Reflect.apply(Math.max, null, xs),
                Reflect.construct(Array, [1, 2]).length, bound(10), Math.max.apply(null), [].concat(...[[1], [2]])];
      `),
    );
    expect(data).toEqual(
      [9, 9, 9, 2, 10, Number.NEGATIVE_INFINITY, [1, 2]].map((x) => (x === -Infinity ? null : x)),
    );
  });
});

describe('exceptions become error outcomes', () => {
  // run_body puts the statement at line 2, column 1.
  it.each([
    ["throw new Error('plain')", 'plain'],
    ["throw new TypeError('typed')", 'TypeError: typed'],
    ["throw 'a string'", 'a string'],
    ['throw 42', '42'],
    ['throw null', 'null'],
    ['throw undefined', 'undefined'],
    ["throw { message: 'object with message' }", 'object with message'],
    ['throw {}', 'uncaught exception'],
    ["throw Symbol('s')", 'Symbol(s)'],
    ['throw 10n', '10'],
    [
      'null.x',
      default_engine() === 'v8'
        ? "TypeError: Cannot read properties of null (reading 'x')"
        : "TypeError: cannot read property 'x' of null",
    ],
  ])('%s', (statement, message) => {
    expect(error_of(run_body(`${statement};`))).toBe(`${message} (at line 2, column 1)`);
  });

  it('reads no contract getter or toString while describing the error', () => {
    const outcome = run_body(`
      const e = new Error('kept');
      throw Object.defineProperty(e, 'name', { get() { for (;;) {} } });
    `);
    expect(outcome.kind).toBe('error');
  });

  it('bounds the message length, its position included, and keeps it well-formed', () => {
    const suffix = ' (at line 2, column 1)';
    const long = error_of(run_body("throw new Error('x'.repeat(5000));"));
    expect(long).toBe('x'.repeat(1024 - suffix.length) + suffix);
    const split = error_of(run_body(`throw new Error('x'.repeat(${1023 - suffix.length}) + '😀');`));
    expect(split).toBe('x'.repeat(1023 - suffix.length) + suffix);
    expect(error_of(run_body("throw new Error('a\\ud800b');"))).toBe(`a\ufffdb${suffix}`);
  });

  it('never throws out of call, even for a broken env', () => {
    const program = compile_ok('export function execute() { return 1; }');
    const broken = [
      make_env({ gas_limit: -1 }),
      make_env({ gas_limit: 1e12 }),
      make_env({ gas_limit: Number.NaN }),
      make_env({ entry: 'migrate' as never }),
      make_env({ msg_json: 5 as never }),
      make_env({ storage: {} as never }),
      make_env({ height: 1.5 }),
      null as never,
    ];
    for (const env of broken) {
      const outcome = program.call(env);
      expect(outcome.kind).toBe('error');
      expect(outcome.kind === 'aborted' ? -1 : outcome.gas_used).toBe(0);
      expect(error_of(outcome)).toMatch(/^invalid call env: /);
    }
  });

  it('reports a failing host storage or random source as an internal error', () => {
    const storage = new MemoryStorage();
    storage.get = () => {
      throw new Error('disk on fire');
    };
    const outcome = compile_ok(
      "export function execute(ctx) { try { ctx.storage.get('k'); } catch {} return 1; }",
    ).call(make_env({ storage }));
    expect(error_of(outcome)).toMatch(/^internal error/);
    expect(error_of(outcome)).not.toContain('disk on fire');
    const bad_random = compile_ok('export function execute(ctx) { return ctx.random(); }').call(
      make_env({ random: () => new Uint8Array(3) }),
    );
    expect(error_of(bad_random)).toMatch(/^internal error/);
  });
});
