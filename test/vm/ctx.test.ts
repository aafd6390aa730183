import { describe, expect, it } from 'vitest';
import {
  data_bytes_max,
  event_attributes_max,
  event_bytes_max,
  events_per_call_max,
  msg_size_bytes_max,
  storage_key_bytes_max,
  storage_value_bytes_max,
  storage_writes_per_call_max,
} from '../../enclave/vm/limits.js';
import {
  address,
  at,
  body_source,
  compile_ok,
  counter_random,
  data_of,
  error_of,
  MemoryStorage,
  make_env,
  run_body,
} from './harness.js';

describe('ctx fields', () => {
  it('exposes the call env as primitives, frozen', () => {
    const outcome = run_body(
      'return [ctx.sender, ctx.contract, ctx.chain_id, ctx.height, ctx.time_ms, Object.isFrozen(ctx), Object.isFrozen(ctx.storage)];',
      { height: 42, time_ms: 1234 },
    );
    expect(data_of(outcome)).toEqual([
      address('alice'),
      address('contract'),
      'cloister-test',
      42,
      1234,
      true,
      true,
    ]);
  });

  it('passes the message parsed', () => {
    const outcome = run_body('return [typeof msg, msg.a, Array.isArray(msg.b)];', {
      msg_json: '{"a":"é","b":[1]}',
    });
    expect(data_of(outcome)).toEqual(['object', 'é', true]);
  });

  it('has a null sender in queries', () => {
    const program = compile_ok('export function query(ctx) { return ctx.sender; }');
    expect(data_of(program.call(make_env({ entry: 'query', sender: null })))).toBeNull();
  });
});

describe('ctx.storage', () => {
  it('gets, sets and removes strings', () => {
    const storage = new MemoryStorage();
    storage.committed.set('a', '1');
    const outcome = run_body(
      `const before = ctx.storage.get('a');
       ctx.storage.set('b', 'two');
       ctx.storage.remove('a');
       return [before, ctx.storage.get('a'), ctx.storage.get('b'), ctx.storage.get('missing')];`,
      { storage },
    );
    expect(data_of(outcome)).toEqual(['1', null, 'two', null]);
    expect([...storage.writes]).toEqual([
      ['b', 'two'],
      ['a', null],
    ]);
  });

  it('get_json and set_json round-trip JSON values', () => {
    const outcome = run_body(
      `ctx.storage.set_json('cfg', { a: [1, 'x'], b: null });
       return [ctx.storage.get('cfg'), ctx.storage.get_json('cfg'), ctx.storage.get_json('missing')];`,
    );
    expect(data_of(outcome)).toEqual(['{"a":[1,"x"],"b":null}', { a: [1, 'x'], b: null }, null]);
    expect(error_of(run_body("ctx.storage.set_json('k', undefined);"))).toContain('not JSON-serializable');
    expect(error_of(run_body("ctx.storage.set_json('k', 1n);"))).toContain('BigInt');
  });

  it('is read-only in queries', () => {
    const source = `
      export function query(ctx, msg) {
        if (msg.op === 'set') ctx.storage.set('k', 'v');
        if (msg.op === 'remove') ctx.storage.remove('k');
        if (msg.op === 'set_json') ctx.storage.set_json('k', 1);
        return ctx.storage.get('k');
      }`;
    const program = compile_ok(source);
    const storage = new MemoryStorage();
    storage.committed.set('k', 'kept');
    const query = (op: string) =>
      program.call(make_env({ entry: 'query', sender: null, storage, msg_json: JSON.stringify({ op }) }));
    expect(data_of(query('get'))).toBe('kept');
    for (const op of ['set', 'remove', 'set_json']) {
      expect(error_of(query(op))).toBe(`storage is read-only in queries${at(source, `ctx.storage.${op}(`)}`);
    }
    expect(storage.writes.size).toBe(0);
  });

  it('refuses keys and values that are not strings, too big or not well-formed', () => {
    const cases: [string, string][] = [
      ['ctx.storage.get(1)', 'storage key must be a string'],
      ["ctx.storage.set('k', 1)", 'storage value must be a string'],
      [
        `ctx.storage.get('k'.repeat(${storage_key_bytes_max + 1}))`,
        `storage key exceeds ${storage_key_bytes_max} bytes`,
      ],
      // 129 two-byte characters: under the limit in characters, over it in bytes.
      [`ctx.storage.get('é'.repeat(${storage_key_bytes_max / 2 + 1}))`, 'storage key exceeds'],
      [`ctx.storage.set('k', 'v'.repeat(${storage_value_bytes_max + 1}))`, 'storage value exceeds'],
      ["ctx.storage.set('\\ud800', 'v')", 'well-formed'],
      ["ctx.storage.set('k', 'a\\udc00')", 'well-formed'],
    ];
    for (const [statement, message] of cases)
      expect(error_of(run_body(`${statement};`)), statement).toContain(message);
    expect(run_body(`ctx.storage.get('k'.repeat(${storage_key_bytes_max}));`).kind).toBe('ok');
    expect(run_body(`ctx.storage.set('k', 'v'.repeat(${storage_value_bytes_max}));`).kind).toBe('ok');
  });

  it('bounds the writes of one call', () => {
    const ok = run_body(
      `for (let i = 0; i < ${storage_writes_per_call_max}; i++) ctx.storage.set('k', 'v');`,
    );
    expect(ok.kind).toBe('ok');
    const over = run_body(
      `for (let i = 0; i <= ${storage_writes_per_call_max}; i++) ctx.storage.remove('k');`,
    );
    expect(error_of(over)).toContain(`more than ${storage_writes_per_call_max} storage writes`);
  });
});

describe('ctx.emit', () => {
  it('records events with attributes in order', () => {
    const outcome = run_body(`
      ctx.emit('first', { z: '1', a: '2', m: '3' });
      ctx.emit('second');
      ctx.emit('third', {});
    `);
    if (outcome.kind !== 'ok') throw new Error(JSON.stringify(outcome));
    expect(outcome.events).toEqual([
      {
        type: 'first',
        attributes: [
          { key: 'z', value: '1' },
          { key: 'a', value: '2' },
          { key: 'm', value: '3' },
        ],
      },
      { type: 'second', attributes: [] },
      { type: 'third', attributes: [] },
    ]);
  });

  it('refuses bad events', () => {
    const cases: [string, string][] = [
      ["ctx.emit('')", 'event type must not be empty'],
      ['ctx.emit(1)', 'event type must be a string'],
      ["ctx.emit('e', { a: 1 })", 'event attribute a must be a string'],
      ["ctx.emit('e', ['a'])", 'event attributes must be an object'],
      ["ctx.emit('e', { '': 'x' })", 'keys must not be empty'],
      ["ctx.emit('e', { a: '\\ud800' })", 'well-formed'],
      [
        `ctx.emit('e', Object.fromEntries(Array.from({ length: ${event_attributes_max + 1} }, (_, i) => ['k' + i, 'v'])))`,
        `more than ${event_attributes_max} attributes`,
      ],
      [`ctx.emit('e', { a: 'x'.repeat(${event_bytes_max}) })`, `event exceeds ${event_bytes_max} bytes`],
      [
        `for (let i = 0; i <= ${events_per_call_max}; i++) ctx.emit('e')`,
        `more than ${events_per_call_max} events`,
      ],
    ];
    for (const [statement, message] of cases)
      expect(error_of(run_body(`${statement};`)), statement).toContain(message);
    expect(run_body(`for (let i = 0; i < ${events_per_call_max}; i++) ctx.emit('e');`).kind).toBe('ok');
  });

  it('drops the events of a failed call', () => {
    const body = "ctx.emit('e'); throw new Error('no');";
    expect(run_body(body)).toEqual({
      kind: 'error',
      gas_used: expect.any(Number),
      message: `no${at(body_source(body), 'throw')}`,
      debug: [],
    });
  });
});

describe('ctx.random', () => {
  it('returns 64 lowercase hex characters from env.random, one draw per call', () => {
    const random = counter_random();
    const outcome = run_body('return [ctx.random(), ctx.random()];', { random });
    const [a, b] = data_of(outcome) as string[];
    const expected = counter_random();
    expect(a).toBe(Buffer.from(expected()).toString('hex'));
    expect(b).toBe(Buffer.from(expected()).toString('hex'));
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('message and result', () => {
  it('refuses invalid or oversized messages', () => {
    expect(error_of(run_body('return 1;', { msg_json: '{bad' }))).toBe('message is not valid JSON');
    const big = JSON.stringify('x'.repeat(msg_size_bytes_max));
    expect(error_of(run_body('return 1;', { msg_json: big }))).toBe(
      `message exceeds ${msg_size_bytes_max} bytes`,
    );
  });

  it('serializes data with the realm JSON.stringify, undefined as null', () => {
    expect(run_body('return;')).toMatchObject({ kind: 'ok', data_json: 'null' });
    expect(run_body("return { b: 1, a: [true, null, 'é'] };")).toMatchObject({
      kind: 'ok',
      data_json: '{"b":1,"a":[true,null,"é"]}',
    });
    expect(run_body("return { toJSON() { return 'custom'; } };")).toMatchObject({ data_json: '"custom"' });
    expect(run_body("return '\\ud800';")).toMatchObject({ data_json: '"\\ud800"' });
  });

  it('refuses data that is not JSON or too big', () => {
    expect(error_of(run_body('return () => 1;'))).toBe('result data is not JSON-serializable');
    expect(error_of(run_body('return 1n;'))).toContain('BigInt');
    expect(error_of(run_body('const a = []; a.push(a); return a;'))).toContain('circular');
    expect(error_of(run_body(`return 'x'.repeat(${data_bytes_max});`))).toBe(
      `result data exceeds ${data_bytes_max} bytes`,
    );
    expect(run_body(`return 'x'.repeat(${data_bytes_max - 2});`).kind).toBe('ok');
  });
});
