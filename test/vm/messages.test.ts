/**
 * The VM side of protocol.md §9: funds and balance in ctx, messages a call queues (`ctx.send`,
 * `ctx.execute`), public events and the `reply` entry point.
 */
import { describe, expect, it } from 'vitest';
import {
  event_base_gas,
  message_base_gas,
  messages_per_call_max,
  msg_byte_gas,
  msg_size_bytes_max,
} from '../../enclave/vm/limits.js';
import type { CallOutcome, EntryPoint } from '../../enclave/vm/types.js';
import { address, compile_ok, data_of, error_of, make_env, run_body } from './harness.js';

const bob = address('bob');
const token = address('token');

function ok(outcome: CallOutcome): Extract<CallOutcome, { kind: 'ok' }> {
  if (outcome.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(outcome)}`);
  return outcome;
}

/** Runs `body` as the given entry point of a one-off contract. */
function run_entry(entry: EntryPoint, body: string, msg: unknown = {}): CallOutcome {
  const program = compile_ok(`export function ${entry}(ctx, msg) {\n${body}\n}`);
  return program.call(
    make_env({ entry, msg_json: JSON.stringify(msg), sender: entry === 'query' ? null : address('alice') }),
  );
}

describe('ctx.funds and ctx.balance', () => {
  it('are the call env numbers', () => {
    expect(data_of(run_body('return [ctx.funds, ctx.balance];', { funds: 25, balance: 1_025 }))).toEqual([
      25, 1_025,
    ]);
    expect(data_of(run_body('return [ctx.funds, ctx.balance];'))).toEqual([0, 0]);
    const max = Number.MAX_SAFE_INTEGER;
    expect(data_of(run_body('return ctx.balance;', { funds: max, balance: max }))).toBe(max);
  });

  it('refuses an env whose funds or balance are not non-negative safe integers, or balance below funds', () => {
    const program = compile_ok('export function execute() { return 1; }');
    const cases: [number, number, string][] = [
      [-1, 0, 'funds must be a non-negative safe integer'],
      [1.5, 2, 'funds must be a non-negative safe integer'],
      [2 ** 53, 2 ** 53, 'funds must be a non-negative safe integer'],
      [0, -1, 'balance must be a non-negative safe integer'],
      [0, Number.NaN, 'balance must be a non-negative safe integer'],
      [5, 4, 'balance must include funds'],
    ];
    for (const [funds, balance, message] of cases) {
      expect(program.call(make_env({ funds, balance }))).toEqual({
        kind: 'error',
        gas_used: 0,
        message: `invalid call env: ${message}`,
        debug: [],
      });
    }
    expect(program.call(make_env({ funds: undefined as never })).kind).toBe('error');
  });
});

describe('ctx.send and ctx.execute', () => {
  it('queue messages in call order with their shapes and run nothing', () => {
    const outcome = ok(
      run_body(`
        ctx.send('${bob}', 5);
        ctx.execute('${token}', { transfer: { recipient: '${bob}', amount: '10' } });
        ctx.execute('${token}', [1, 'é'], { funds: 7, reply: true });
        ctx.execute('${token}', null, {});
        ctx.send('${bob}', ${Number.MAX_SAFE_INTEGER});
        return ctx.balance;
      `),
    );
    expect(outcome.data_json).toBe('0');
    expect(outcome.messages).toEqual([
      { kind: 'send', to: bob, amount: 5 },
      {
        kind: 'execute',
        contract: token,
        msg_json: `{"transfer":{"recipient":"${bob}","amount":"10"}}`,
        funds: 0,
        reply: false,
      },
      { kind: 'execute', contract: token, msg_json: '[1,"é"]', funds: 7, reply: true },
      { kind: 'execute', contract: token, msg_json: 'null', funds: 0, reply: false },
      { kind: 'send', to: bob, amount: Number.MAX_SAFE_INTEGER },
    ]);
  });

  it('serializes msg with the realm JSON (toJSON, key order) when execute is called', () => {
    const outcome = ok(
      run_body(`
        const inner = { b: 1, a: { toJSON() { return 'custom'; } } };
        ctx.execute('${token}', inner);
        inner.b = 2;
      `),
    );
    expect(outcome.messages).toEqual([
      { kind: 'execute', contract: token, msg_json: '{"b":1,"a":"custom"}', funds: 0, reply: false },
    ]);
  });

  it('are refused with clear errors, and the call fails with no messages', () => {
    const cases: [string, string][] = [
      ["ctx.send('ab', 1)", 'TypeError: send recipient must be 40 lowercase hex characters'],
      [
        `ctx.send('${bob.toUpperCase()}', 1)`,
        'TypeError: send recipient must be 40 lowercase hex characters',
      ],
      [`ctx.send(null, 1)`, 'TypeError: send recipient must be 40 lowercase hex characters'],
      [`ctx.send('${bob}', '5')`, 'TypeError: send amount must be a number'],
      [`ctx.send('${bob}', 0)`, 'RangeError: send amount must be a positive safe integer'],
      [`ctx.send('${bob}', -3)`, 'RangeError: send amount must be a positive safe integer'],
      [`ctx.send('${bob}', 1.5)`, 'RangeError: send amount must be a positive safe integer'],
      [`ctx.send('${bob}', 2 ** 53)`, 'RangeError: send amount must be a positive safe integer'],
      [`ctx.send('${bob}', NaN)`, 'RangeError: send amount must be a positive safe integer'],
      [`ctx.send('${bob}')`, 'TypeError: send amount must be a number'],
      ['ctx.execute(5, {})', 'TypeError: execute contract must be 40 lowercase hex characters'],
      [`ctx.execute('${token}', {}, 1)`, 'TypeError: execute options must be an object'],
      [`ctx.execute('${token}', {}, null)`, 'TypeError: execute options must be an object'],
      [`ctx.execute('${token}', {}, [])`, 'TypeError: execute options must be an object'],
      [
        `ctx.execute('${token}', {}, { fund: 1 })`,
        'TypeError: execute options has an unknown option fund (expected funds, reply)',
      ],
      [
        `ctx.execute('${token}', {}, { funds: -1 })`,
        'RangeError: execute funds must be a non-negative safe integer',
      ],
      [
        `ctx.execute('${token}', {}, { funds: 0.5 })`,
        'RangeError: execute funds must be a non-negative safe integer',
      ],
      [`ctx.execute('${token}', {}, { funds: '1' })`, 'TypeError: execute funds must be a number'],
      [`ctx.execute('${token}', {}, { reply: 1 })`, 'TypeError: execute option reply must be a boolean'],
      [`ctx.execute('${token}', undefined)`, 'TypeError: execute msg is not JSON-serializable'],
      [`ctx.execute('${token}', () => 1)`, 'TypeError: execute msg is not JSON-serializable'],
      [`ctx.execute('${token}', { a: 1n })`, 'BigInt'],
      [`const a = []; a.push(a); ctx.execute('${token}', a)`, 'circular'],
      [
        `ctx.execute('${token}', 'x'.repeat(${msg_size_bytes_max}))`,
        `execute msg exceeds ${msg_size_bytes_max} bytes`,
      ],
      // Under the limit in characters, over it in UTF-8 bytes.
      [
        `ctx.execute('${token}', 'é'.repeat(${msg_size_bytes_max / 2}))`,
        `execute msg exceeds ${msg_size_bytes_max} bytes`,
      ],
    ];
    for (const [statement, message] of cases) {
      const outcome = run_body(`ctx.send('${bob}', 1);\n${statement};`);
      expect(outcome.kind, statement).toBe('error');
      expect(error_of(outcome), statement).toContain(message);
      expect(outcome, statement).not.toHaveProperty('messages');
    }
    // The largest msg that fits: a JSON string of msg_size_bytes_max bytes with its quotes.
    const fits = ok(run_body(`ctx.execute('${token}', 'x'.repeat(${msg_size_bytes_max - 2}));`));
    expect(fits.messages[0]).toMatchObject({ kind: 'execute' });
  });

  it('can be caught like any error, keeping the messages queued before', () => {
    const outcome = ok(
      run_body(`
        ctx.send('${bob}', 1);
        try { ctx.send('${bob}', 0); } catch (e) { return e.message; }
      `),
    );
    expect(outcome.data_json).toBe('"send amount must be a positive safe integer"');
    expect(outcome.messages).toEqual([{ kind: 'send', to: bob, amount: 1 }]);
  });

  it(`allow at most ${messages_per_call_max} per call`, () => {
    const full = ok(
      run_body(`for (let i = 0; i < ${messages_per_call_max}; i++) ctx.send('${bob}', i + 1);`),
    );
    expect(full.messages.map((m) => (m.kind === 'send' ? m.amount : 0))).toEqual(
      Array.from({ length: messages_per_call_max }, (_, i) => i + 1),
    );
    for (const extra of [`ctx.send('${bob}', 1)`, `ctx.execute('${token}', {})`]) {
      const over = run_body(
        `for (let i = 0; i < ${messages_per_call_max}; i++) ctx.send('${bob}', 1);\n${extra};`,
      );
      expect(error_of(over)).toContain(`RangeError: more than ${messages_per_call_max} messages in one call`);
    }
    // A toJSON that sends while execute serializes its msg counts too.
    const sneaky = run_body(`
      for (let i = 0; i < ${messages_per_call_max - 1}; i++) ctx.send('${bob}', 1);
      ctx.execute('${token}', { toJSON() { ctx.send('${bob}', 1); return 1; } });`);
    expect(error_of(sneaky)).toContain(`more than ${messages_per_call_max} messages`);
  });

  it('are refused in queries', () => {
    for (const statement of [`ctx.send('${bob}', 1)`, `ctx.execute('${token}', {})`]) {
      expect(error_of(run_entry('query', `${statement};`))).toMatch(/^messages cannot be sent from queries/);
    }
  });

  it('are allowed from instantiate, execute and reply', () => {
    for (const entry of ['instantiate', 'execute', 'reply'] as const) {
      expect(ok(run_entry(entry, `ctx.send('${bob}', 3);`)).messages).toEqual([
        { kind: 'send', to: bob, amount: 3 },
      ]);
    }
  });

  it('cost message_base_gas, plus msg_byte_gas per byte of an execute msg', () => {
    // ctx.gas_left ignores its arguments: the same syntax, so the same ticks, without the message.
    const gas = (body: string) =>
      ok(run_body(`const a = '${bob}'; const m = 'é'.repeat(100);\n${body}`)).gas_used;
    expect(gas('ctx.send(a, 1);') - gas('ctx.gas_left(a, 1);')).toBe(message_base_gas);
    // A JSON string of 100 two-byte characters and its quotes: 202 bytes, and 100 characters the
    // realm JSON writes (1 gas per 16) after its 8 gas visit.
    const written = 8 + Math.ceil(100 / 16);
    expect(gas('ctx.execute(a, m);') - gas('ctx.gas_left(a, m);')).toBe(
      message_base_gas + 202 * msg_byte_gas + written,
    );
  });
});

describe('public events', () => {
  it('carry public: true only when asked', () => {
    const outcome = ok(
      run_body(`
        ctx.emit('deposit', { amount: '5' }, { public: true });
        ctx.emit('private', { a: 'b' }, { public: false });
        ctx.emit('plain', { a: 'b' });
        ctx.emit('empty', undefined, { public: true });
        ctx.emit('no_opts', {}, {});
      `),
    );
    expect(outcome.events).toEqual([
      { type: 'deposit', attributes: [{ key: 'amount', value: '5' }], public: true },
      { type: 'private', attributes: [{ key: 'a', value: 'b' }] },
      { type: 'plain', attributes: [{ key: 'a', value: 'b' }] },
      { type: 'empty', attributes: [], public: true },
      { type: 'no_opts', attributes: [] },
    ]);
    expect(outcome.events[1]).not.toHaveProperty('public');
  });

  it('refuses bad options', () => {
    const cases: [string, string][] = [
      ["ctx.emit('e', {}, 1)", 'TypeError: event options must be an object'],
      ["ctx.emit('e', {}, null)", 'TypeError: event options must be an object'],
      ["ctx.emit('e', {}, { public: 'yes' })", 'TypeError: event option public must be a boolean'],
      [
        "ctx.emit('e', {}, { pubic: true })",
        'TypeError: event options has an unknown option pubic (expected public)',
      ],
    ];
    for (const [statement, message] of cases)
      expect(error_of(run_body(`${statement};`)), statement).toContain(message);
  });

  it('cost the same as private ones', () => {
    const a = ok(run_body("ctx.emit('e', { k: 'v' }, { public: true });")).gas_used;
    const b = ok(run_body("ctx.emit('e', { k: 'v' }, { public: false });")).gas_used;
    expect(a).toBe(b);
    expect(a).toBeGreaterThan(event_base_gas);
  });
});

describe('the reply entry point', () => {
  const relayer = `
    export function execute(ctx, msg) { ctx.execute(msg.to, msg.inner, { reply: true }); return 'sent'; }
    export function reply(ctx, msg) {
      if (msg.error !== undefined) { ctx.storage.set('last', 'error: ' + msg.error); return 'recovered'; }
      ctx.storage.set('last', JSON.stringify(msg.ok.data));
      return { got: msg.ok.data, events: msg.ok.events.length };
    }`;

  it('runs with the executor msg and may write state', () => {
    const program = compile_ok(relayer);
    const ok_msg = { ok: { data: { n: 1 }, events: [{ type: 't', attributes: [] }] } };
    const first = ok(program.call(make_env({ entry: 'reply', msg_json: JSON.stringify(ok_msg) })));
    expect(JSON.parse(first.data_json)).toEqual({ got: { n: 1 }, events: 1 });
    const second = ok(program.call(make_env({ entry: 'reply', msg_json: '{"error":"insufficient funds"}' })));
    expect(second.data_json).toBe('"recovered"');
  });

  it('is a contract error for a contract without it', () => {
    const program = compile_ok('export function execute() { return 1; }');
    expect(program.call(make_env({ entry: 'reply', msg_json: '{"error":"x"}' }))).toEqual({
      kind: 'error',
      gas_used: expect.any(Number),
      message: 'contract has no reply entry point',
      debug: [],
    });
  });

  it('is not read-only', () => {
    expect(run_entry('reply', "ctx.storage.set('k', 'v'); return ctx.sender;").kind).toBe('ok');
  });
});

describe('a failed call', () => {
  it('returns no messages and no events, whatever it queued', () => {
    const outcome = run_body(`
      ctx.send('${bob}', 1);
      ctx.execute('${token}', {}, { reply: true });
      ctx.emit('e', {}, { public: true });
      throw new Error('changed my mind');`);
    expect(outcome).toEqual({
      kind: 'error',
      gas_used: expect.any(Number),
      message: expect.stringMatching(/^changed my mind/),
      debug: [],
    });
  });

  it('out of gas returns nothing but the gas', () => {
    expect(run_body(`ctx.send('${bob}', 1); for (;;) {}`)).toEqual({
      kind: 'out_of_gas',
      gas_used: expect.any(Number),
    });
  });
});
