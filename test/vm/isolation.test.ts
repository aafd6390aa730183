/**
 * Isolation of contract code in the default (QuickJS) engine, against the known escape patterns
 * of node:vm and SES-style sandboxes: reaching the worker's globals, `process`, `require` or
 * `import()`, the host functions' closures, an outer realm's `Function` constructor, V8's
 * stack-trace hooks, and prototype pollution that survives to the next call or another contract.
 * Each case is a contract that tries, and the test checks what it got.
 * (Run by the `all` project only; test/vm/sandbox.test.ts covers the shared realm on both engines.)
 */
import { describe, expect, it } from 'vitest';
import { compile_ok, data_of, error_of, make_env, run_body } from './harness.js';

/** Runs `body` as an execute entry point and returns its data, or `error: ...` if it failed. */
function attempt(body: string): unknown {
  let outcome: ReturnType<typeof run_body>;
  try {
    outcome = run_body(body);
  } catch (error) {
    // The harness throws when the contract does not compile: refused before it could run.
    return `error: ${(error as Error).message}`;
  }
  return outcome.kind === 'ok'
    ? data_of(outcome)
    : `error: ${outcome.kind === 'error' ? error_of(outcome) : outcome.kind}`;
}

describe('no way out of the realm', () => {
  it.each([
    ['constructor of a function', "return (function () {}).constructor('return globalThis')();"],
    ['constructor of an arrow', "return (() => 0).constructor('return 1')();"],
    ['constructor of a class', "class A {} return A.constructor('return 1')();"],
    ['constructor of a method', "return ({ m() {} }).m.constructor('return 1')();"],
    ['constructor of a bound function', "return (function () {}).bind(null).constructor('return 1')();"],
    ['constructor of ctx functions', "return ctx.storage.get.constructor('return 1')();"],
    ['constructor of a built-in', "return [].map.constructor('return 1')();"],
    [
      'constructor reached through an error',
      "try { null.x } catch (e) { return e.constructor.constructor('return 1')(); }",
    ],
    [
      'the prototype chain of Function.prototype',
      "return Object.getPrototypeOf(Object.getPrototypeOf(() => 0)).constructor.constructor('return 1')();",
    ],
    [
      'Reflect.construct on a function constructor',
      "return Reflect.construct(Object.getPrototypeOf(function () {}).constructor, ['return 1'])();",
    ],
    [
      'a generator function constructor',
      "function* g() {} return Object.getPrototypeOf(g).constructor('return 1')().next();",
    ],
  ])('%s cannot make code from a string', (_name, body) => {
    const result = attempt(body);
    expect(String(result)).toMatch(/^error: /);
    expect(result).not.toBe(1);
  });

  it('sees only its own globals: no process, require, module, import.meta, host console, timers or host objects', () => {
    const names = attempt(`
      const seen = [];
      for (const name of ['process', 'require', 'module', 'exports', 'Buffer', 'global', 'console', 'setTimeout',
        'setImmediate', 'queueMicrotask', 'WebAssembly', 'SharedArrayBuffer', 'Atomics', 'Date', 'performance',
        'Intl', 'fetch', 'Worker', 'postMessage', 'navigator', 'crypto', 'eval', 'Function', 'Proxy',
        'Promise', 'WeakRef', 'FinalizationRegistry', 'RegExp', 'InternalError', 'host_get', 'host_set',
        'host_remove', 'host_random', 'cfg', 'factory', 'gas_left', 'std', 'os', 'scriptArgs', 'print', 'gc']) {
        if (typeof globalThis[name] !== 'undefined') seen.push(name);
        try { if (typeof eval(name) !== 'undefined') seen.push(name + ' (free)'); } catch (e) { }
      }
      return seen;`);
    // console is the realm's own (debug lines), checked below.
    expect(names).toEqual(['console']);
  });

  it("has the realm's console: frozen, every method the realm's debug writer, no host function", () => {
    const result = attempt(`
      const methods = ['log', 'info', 'warn', 'error', 'debug'];
      return [
        Object.isFrozen(console),
        Object.getOwnPropertyNames(console).sort().join(','),
        methods.every((m) => console[m] === ctx.debug && Object.isFrozen(console[m])),
        Object.getOwnPropertyNames(console.log).sort().join(','),
        'prototype' in console.log,
        Object.getPrototypeOf(console) === Object.prototype,
        globalThis.console === console,
      ];`);
    expect(result).toEqual([true, 'debug,error,info,log,warn', true, 'length,name', false, true, true]);
  });

  it('cannot reach the host functions through ctx: they are realm functions with no closure to read', () => {
    const result = attempt(`
      const fns = [ctx.storage.get, ctx.storage.set, ctx.storage.remove, ctx.random, ctx.emit, ctx.gas_left];
      return fns.map((f) => Object.getOwnPropertyNames(f).sort().join(','));`);
    // No own property holds anything but the function's length and name (no closure, no caller).
    expect(result).toEqual(Array(6).fill('length,name'));
  });

  it('cannot use V8 stack-trace hooks to reach call sites', () => {
    const result = attempt(`
      const out = [];
      try { Error.prepareStackTrace = (e, frames) => frames; out.push('assigned'); } catch (e) { out.push('refused'); }
      try { Error.captureStackTrace({}); out.push('captured'); } catch (e) { out.push('no capture'); }
      out.push(typeof new Error('x').stack);
      return out;`);
    expect(result).toEqual(['refused', 'no capture', 'string']);
  });

  it('import() and dynamic module loading are refused at compile time', () => {
    expect(String(attempt("return import('node:fs');"))).toMatch(
      /^error: contract refused: import\(\) is not allowed/,
    );
  });

  it('prototype pollution neither persists to the next call nor reaches another contract', () => {
    const polluter = `
      const out = [];
      for (const [target, name] of [[Object.prototype, 'polluted'], [Array.prototype, 'polluted'],
        [Object.getPrototypeOf(() => 0), 'polluted'], [String.prototype, 'polluted'], [JSON, 'polluted'], [globalThis, 'polluted']]) {
        try { target[name] = 1; out.push('set'); } catch (e) { out.push('refused'); }
        try { Object.defineProperty(target, name + '2', { value: 1 }); out.push('defined'); } catch (e) { out.push('refused'); }
      }
      try { Object.setPrototypeOf(Object.prototype, { polluted: 1 }); out.push('reprotod'); } catch (e) { out.push('refused'); }
      return out;`;
    expect(attempt(polluter)).toEqual(Array(13).fill('refused'));
    const probe =
      'return [({}).polluted, [].polluted, (() => 0).polluted, "".polluted, JSON.polluted, globalThis.polluted, ({}).polluted2];';
    expect(attempt(probe)).toEqual([null, null, null, null, null, null, null]);
  });

  it('a contract that mutates what it can (its own module state) leaves nothing for the next call', () => {
    const source = `let calls = 0; const cache = new Map();
      export function execute(ctx, msg) { calls++; cache.set(calls, msg); return [calls, cache.size]; }`;
    const program = compile_ok(source);
    expect(data_of(program.call(make_env({ msg_json: '{}' })))).toEqual([1, 1]);
    expect(data_of(program.call(make_env({ msg_json: '{}' })))).toEqual([1, 1]);
  });

  it('cannot read another contract’s state or the enclave’s memory: only primitives cross', () => {
    const result = attempt(`
      const got = ctx.storage.get('k');
      return [typeof got, Object.isFrozen(ctx), Object.isFrozen(ctx.storage), Object.getPrototypeOf(ctx) === Object.prototype];`);
    expect(result).toEqual(['object', true, true, true]);
  });
});
