/**
 * protocol.md §9 in the enclave's block executor, through a chain without consensus: fees before
 * anything runs, funds and their return on failure, `send`, contract messages depth first with
 * `reply`, the depth limit, one gas limit, the lookups a message to an unnamed contract needs,
 * bindings and callee state a host cannot forge, public events and debug output.
 */

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { BlockInput, PublicKeys } from '../../enclave/api.js';
import { InProcessEnclave } from '../../enclave/in_process.js';
import { unwrap } from '../../enclave/result.js';
import type { LocalChain } from '../../node/store/local_chain.js';
import { fee_pool_address } from '../../protocol/bank.js';
import { from_base64, to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { ResultCode } from '../../protocol/codes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { open_result } from '../../protocol/result.js';
import { encrypt, new_chain, T0_MS, TestAccount, temp_home } from './fixtures.js';

const p = get_provider('native');
const home = temp_home();
const enclave = new InProcessEnclave({ provider: 'native', platform_secret_file: home.secret });
let keys: PublicKeys;
const FEE_POOL = fee_pool_address(p);

/** Shows what a call received; pays out; fails on demand. */
const PROBE = `
export function instantiate(ctx, msg) { return { funds: ctx.funds, balance: ctx.balance }; }
export function execute(ctx, msg) {
  if (msg.show) return { funds: ctx.funds, balance: ctx.balance };
  if (msg.pay) { ctx.send(msg.pay.to, msg.pay.amount); return null; }
  if (msg.fail) throw new Error('refused');
  throw new Error('unknown message');
}
export function query(ctx, msg) { ctx.debug('query sees', ctx.balance); return { balance: ctx.balance }; }
`;

/**
 * A link of a call chain: reads and writes \`msg.key\`, emits one public and one private event, writes a
 * debug line, then calls \`next[0]\` with the rest (asking for a reply when \`reply\` is set on this
 * link), or fails at the end of the chain if \`fail\`; \`burn\` spins until out of gas.
 */
const LINK = `
export function instantiate(ctx, msg) { return null; }
export function execute(ctx, msg) {
  const before = ctx.storage.get(msg.key);
  ctx.storage.set(msg.key, 'by ' + ctx.sender);
  ctx.emit('visited', { at: ctx.contract }, { public: true });
  ctx.emit('secret', { note: 'private ' + msg.key });
  ctx.debug('link', msg.key, msg.next.length);
  if (msg.pay) ctx.send(msg.pay.to, msg.pay.amount);
  if (msg.next.length > 0) {
    const rest = { ...msg, pay: undefined, next: msg.next.slice(1), reply: (msg.replies || [])[0] === true, replies: (msg.replies || []).slice(1) };
    ctx.execute(msg.next[0], rest, { reply: msg.reply === true, funds: msg.forward || 0 });
  } else if (msg.burn) {
    for (;;) {}
  } else if (msg.fail) {
    throw new Error('leaf failed');
  }
  return { left: msg.next.length, before };
}
export function reply(ctx, msg) {
  ctx.storage.set('replied', JSON.stringify(msg));
  ctx.emit('replied', { ok: String('ok' in msg) }, { public: true });
  return null;
}
export function query(ctx, msg) { return ctx.storage.get(msg.get); }
`;

/** Worlds opened, so each has its own accounts. */
let worlds = 0;

interface Deployed {
  code_id: number;
  code_hash: string;
}

/** A chain with its accounts and the two test codes. */
class World {
  readonly alice!: TestAccount;
  readonly bob!: TestAccount;
  probe!: Deployed;
  link!: Deployed;

  constructor(readonly chain: LocalChain) {}

  static async open(bank: { min_gas_price?: number; dev?: boolean } = {}): Promise<World> {
    worlds++;
    const alice = new TestAccount(p, `alice-${worlds}`);
    const bob = new TestAccount(p, `bob-${worlds}`);
    const chain = await new_chain(p, keys.measurement, [], {
      ...bank,
      balances: { [alice.address]: 1_000_000_000, [bob.address]: 0 },
    });
    const world = new World(chain);
    Object.assign(world, { alice, bob });
    world.probe = await world.store(PROBE);
    world.link = await world.store(LINK);
    return world;
  }

  async block(txs: string[]) {
    return this.chain.execute(enclave, txs, T0_MS + (this.chain.height() + 1) * 1000);
  }

  async store(source: string): Promise<Deployed> {
    const price = this.chain.rules.min_gas_price;
    const { output } = await this.block([
      this.alice.tx({ type: 'store_code', code: to_base64(utf8(source)) }, { gas_price: price }),
    ]);
    const r = output.results[0]!;
    expect(r.code).toBe(ResultCode.OK);
    return { code_id: r.code_id!, code_hash: r.code_hash! };
  }

  /** Instantiates `code` from alice with `funds`; answers the address and the decrypted result. */
  async instantiate(code: Deployed, msg: unknown = {}, funds = 0) {
    const e = encrypt(p, keys, code.code_hash, msg);
    const tx = this.alice.tx(
      {
        type: 'instantiate',
        code_id: code.code_id,
        label: 'x',
        scheme: 'gcm',
        payload: e.payload,
        ...(funds > 0 ? { funds } : {}),
      },
      { gas_price: this.chain.rules.min_gas_price },
    );
    const { output } = await this.block([tx]);
    const r = output.results[0]!;
    return {
      r,
      address: r.contract!,
      result: r.output === '' ? null : open_result(p, 'gcm', e.tx_key, from_base64(r.output)),
    };
  }

  /** Executes `msg` on `contract` from `who`; answers the result, decrypted, and the block. */
  async execute(
    who: TestAccount,
    contract: string,
    code: Deployed,
    msg: unknown,
    opts: { funds?: number; gas_price?: number; gas_limit?: number } = {},
  ) {
    const e = encrypt(p, keys, code.code_hash, msg);
    const tx = who.tx(
      {
        type: 'execute',
        contract,
        scheme: 'gcm',
        payload: e.payload,
        ...(opts.funds ? { funds: opts.funds } : {}),
      },
      {
        gas_price: opts.gas_price ?? this.chain.rules.min_gas_price,
        ...(opts.gas_limit ? { gas_limit: opts.gas_limit } : {}),
      },
    );
    const executed = await this.block([tx]);
    const r = executed.output.results[0]!;
    const result =
      r.output === ''
        ? null
        : (open_result(p, 'gcm', e.tx_key, from_base64(r.output)) as Record<string, unknown>);
    return { r, result, executed };
  }

  async query(contract: string, code: Deployed, msg: unknown): Promise<unknown> {
    const e = encrypt(p, keys, code.code_hash, msg, { scheme: 'siv' });
    const input = (await this.chain.query_input(contract, 'siv', e.payload, T0_MS))!;
    const answer = unwrap(await enclave.query(input));
    return (open_result(p, 'siv', e.tx_key, from_base64(answer.output)) as { data: unknown }).data;
  }

  balance(address: string): Promise<number> {
    return this.chain.store.get_balance(address);
  }

  async total(addresses: string[]): Promise<number> {
    let sum = 0;
    for (const a of addresses) sum += await this.balance(a);
    return sum;
  }
}

beforeAll(async () => {
  keys = unwrap(await enclave.create_seed()).keys;
});

afterAll(async () => {
  await enclave.close();
  home.remove();
});

describe('fees (protocol.md §9)', () => {
  test('a price under the minimum and an unpayable fee are refused without counting; a paid fee goes to the fee pool whatever the result', async () => {
    const w = await World.open({ min_gas_price: 2 });
    const pool_before = await w.balance(FEE_POOL);
    const alice_before = await w.balance(w.alice.address);

    // Under the minimum: code 8, no gas, the sequence not taken.
    const low = await w.block([
      w.alice.tx(
        { type: 'send', to: w.bob.address, amount: 5 },
        { gas_price: 1, sequence: w.alice.sequence },
      ),
    ]);
    expect(low.output.results[0]).toMatchObject({ code: ResultCode.INSUFFICIENT_FUNDS, gas_used: 0 });
    // Bob holds nothing: his fee cannot be paid.
    const broke = await w.block([
      w.bob.tx({ type: 'send', to: w.alice.address, amount: 1 }, { gas_price: 2, gas_limit: 100_000 }),
    ]);
    expect(broke.output.results[0]).toMatchObject({ code: ResultCode.INSUFFICIENT_FUNDS, gas_used: 0 });
    expect(await w.chain.store.get_account_sequence(w.bob.address)).toBe(0);
    w.bob.sequence = 0;

    // A send that pays: fee = gas_limit × gas_price, whatever gas it used.
    const sent = await w.block([
      w.alice.tx({ type: 'send', to: w.bob.address, amount: 1_000 }, { gas_price: 2, gas_limit: 100_000 }),
    ]);
    expect(sent.output.results[0]!.code).toBe(ResultCode.OK);
    expect(await w.balance(w.bob.address)).toBe(1_000);
    expect(await w.balance(w.alice.address)).toBe(alice_before - 1_000 - 200_000);
    expect(await w.balance(FEE_POOL)).toBe(pool_before + 200_000);

    // A failing contract keeps the fee and takes back nothing else.
    const probe = await w.instantiate(w.probe);
    const before = await w.balance(w.alice.address);
    const failed = await w.execute(w.alice, probe.address, w.probe, { fail: {} }, { gas_limit: 300_000 });
    expect(failed.r.code).toBe(ResultCode.CONTRACT_ERROR);
    expect(await w.balance(w.alice.address)).toBe(before - 600_000);
  });

  test('a fee of 2^53 or more is malformed (code 7)', async () => {
    const w = await World.open();
    const { output } = await w.block([
      w.alice.tx(
        { type: 'send', to: w.bob.address, amount: 1 },
        { gas_limit: 100_000_000, gas_price: 2 ** 30 },
      ),
    ]);
    expect(output.results[0]!.code).toBe(ResultCode.MALFORMED_TX);
  });

  test('at gas price 0 the v1 transaction model is unchanged: no fee, no balance needed', async () => {
    const w = await World.open();
    const { output } = await w.block([w.bob.tx({ type: 'store_code', code: to_base64(utf8(`${PROBE}\n`)) })]);
    expect(output.results[0]!.code).toBe(ResultCode.OK);
    expect(output.balances).toEqual({});
  });
});

describe('funds and send (protocol.md §9)', () => {
  test('funds reach the contract before it runs, are visible to it, and go back when the call fails', async () => {
    const w = await World.open();
    const made = await w.instantiate(w.probe, {}, 500);
    expect(made.result).toMatchObject({ data: { funds: 500, balance: 500 } });
    expect(await w.balance(made.address)).toBe(500);

    const shown = await w.execute(w.alice, made.address, w.probe, { show: {} }, { funds: 7 });
    expect(shown.result).toMatchObject({ data: { funds: 7, balance: 507 } });

    const alice = await w.balance(w.alice.address);
    const failed = await w.execute(w.alice, made.address, w.probe, { fail: {} }, { funds: 300 });
    expect(failed.r.code).toBe(ResultCode.CONTRACT_ERROR);
    expect(await w.balance(w.alice.address)).toBe(alice);
    expect(await w.balance(made.address)).toBe(507);
  });

  test('funds the sender cannot pay: code 8, the sequence advances, nothing moves', async () => {
    const w = await World.open();
    const made = await w.instantiate(w.probe);
    const out = await w.execute(w.bob, made.address, w.probe, { show: {} }, { funds: 1 });
    expect(out.r.code).toBe(ResultCode.INSUFFICIENT_FUNDS);
    expect(out.r.gas_used).toBeGreaterThan(0);
    expect(await w.chain.store.get_account_sequence(w.bob.address)).toBe(1);
    expect(await w.balance(made.address)).toBe(0);
  });

  test('a contract pays out with ctx.send; one that cannot pay fails with code 8', async () => {
    const w = await World.open();
    const made = await w.instantiate(w.probe, {}, 100);
    const paid = await w.execute(w.alice, made.address, w.probe, { pay: { to: w.bob.address, amount: 60 } });
    expect(paid.r.code).toBe(ResultCode.OK);
    expect(await w.balance(w.bob.address)).toBe(60);
    const over = await w.execute(w.alice, made.address, w.probe, { pay: { to: w.bob.address, amount: 41 } });
    expect(over.r.code).toBe(ResultCode.INSUFFICIENT_FUNDS);
    expect(await w.balance(w.bob.address)).toBe(60);
    expect(await w.balance(made.address)).toBe(40);
  });

  test('a send to a contract address credits the contract; more than the balance is code 8', async () => {
    const w = await World.open();
    const made = await w.instantiate(w.probe);
    const { output } = await w.block([
      w.alice.tx({ type: 'send', to: made.address, amount: 9 }),
      w.bob.tx({ type: 'send', to: made.address, amount: 1 }),
    ]);
    expect(output.results.map((r) => r.code)).toEqual([ResultCode.OK, ResultCode.INSUFFICIENT_FUNDS]);
    expect(await w.query(made.address, w.probe, {})).toEqual({ balance: 9 });
  });
});

describe('contract messages (protocol.md §9)', () => {
  /** Three link instances. */
  async function links(w: World, n = 3): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push((await w.instantiate(w.link)).address);
    return out;
  }

  test('a 3-deep chain runs depth first with public events from each link; only the first link is named by the transaction', async () => {
    const w = await World.open({ dev: true });
    const [a, b, c] = await links(w);
    const run = await w.execute(w.alice, a!, w.link, { key: 'k', next: [b, c] });
    expect(run.r.code).toBe(ResultCode.OK);
    // b and c came to the enclave through lookups: the host's first input named only a.
    expect(Object.keys(run.executed.input.contracts).sort()).toEqual([a, b, c].sort());
    expect(run.r.events).toEqual(
      [a, b, c].map((at) => ({ type: 'visited', attributes: [{ key: 'at', value: at }], contract: at })),
    );
    // The sender's sealed result holds every event, private ones too, and the debug lines.
    const events = run.result!['events'] as { type: string }[];
    expect(events.map((e) => e.type)).toEqual([
      'visited',
      'secret',
      'visited',
      'secret',
      'visited',
      'secret',
    ]);
    expect(run.result!['debug']).toEqual(['link k 2', 'link k 1', 'link k 0']);
    expect(await w.query(b!, w.link, { get: 'k' })).toBe(`by ${a}`);
    // Private events and debug lines never reach the host in plaintext.
    const host_view = JSON.stringify(run.executed.output);
    expect(host_view).not.toContain('private k');
    expect(host_view).not.toContain('link k');
  });

  test('a failing leaf reverts everything the chain did: state, balances, events, funds', async () => {
    const w = await World.open();
    const [a, b, c] = await links(w);
    const alice = await w.balance(w.alice.address);
    const run = await w.execute(
      w.alice,
      a!,
      w.link,
      { key: 'k', next: [b, c], fail: true, forward: 5, pay: { to: w.bob.address, amount: 1 } },
      { funds: 50 },
    );
    expect(run.r.code).toBe(ResultCode.CONTRACT_ERROR);
    expect(run.r.events).toBeUndefined();
    expect(run.result!['error']).toContain('leaf failed');
    for (const x of [a, b, c]) expect(await w.query(x!, w.link, { get: 'k' })).toBeNull();
    expect(await w.balance(w.alice.address)).toBe(alice);
    expect(await w.balance(w.bob.address)).toBe(0);
    expect(run.executed.output.balances).toEqual({});
    expect(run.executed.output.state_writes).toEqual({});
  });

  test('reply: the caller recovers from a failed message, which alone is taken back', async () => {
    const w = await World.open();
    const [a, b, c] = await links(w);
    const run = await w.execute(w.alice, a!, w.link, { key: 'k', next: [b, c], reply: true, fail: true });
    expect(run.r.code).toBe(ResultCode.OK);
    expect(await w.query(a!, w.link, { get: 'k' })).toBe(`by ${w.alice.address}`);
    expect(await w.query(b!, w.link, { get: 'k' })).toBeNull();
    expect(await w.query(c!, w.link, { get: 'k' })).toBeNull();
    const replied = JSON.parse((await w.query(a!, w.link, { get: 'replied' })) as string) as {
      error: string;
    };
    expect(replied.error).toContain('leaf failed');
    expect(run.r.events?.map((e) => [e.type, e.contract])).toEqual([
      ['visited', a],
      ['replied', a],
    ]);
  });

  test('reply on success gets the callee data and events', async () => {
    const w = await World.open();
    const [a, b] = await links(w, 2);
    const run = await w.execute(w.alice, a!, w.link, { key: 'k', next: [b], reply: true });
    expect(run.r.code).toBe(ResultCode.OK);
    const replied = JSON.parse((await w.query(a!, w.link, { get: 'replied' })) as string) as {
      ok: { data: unknown; events: { type: string }[] };
    };
    expect(replied.ok.data).toEqual({ left: 0, before: null });
    expect(replied.ok.events.map((e) => e.type)).toEqual(['visited', 'secret']);
  });

  test('8 calls deep run; the 9th is refused and fails the transaction', async () => {
    const w = await World.open();
    const [a] = await links(w, 1);
    const ok = await w.execute(w.alice, a!, w.link, { key: 'k', next: Array(7).fill(a) });
    expect(ok.r.code).toBe(ResultCode.OK);
    const deep = await w.execute(w.alice, a!, w.link, { key: 'j', next: Array(8).fill(a) });
    expect(deep.r.code).toBe(ResultCode.CONTRACT_ERROR);
    expect(deep.result!['error']).toContain('call depth limit exceeded');
    expect(await w.query(a!, w.link, { get: 'j' })).toBeNull();
  });

  test('one gas limit for the whole transaction: a callee out of gas ends it with code 2, whatever reply asked', async () => {
    const w = await World.open();
    const [a, b] = await links(w, 2);
    const run = await w.execute(
      w.alice,
      a!,
      w.link,
      { key: 'k', next: [b], reply: true, burn: true },
      { gas_limit: 400_000 },
    );
    expect(run.r).toMatchObject({ code: ResultCode.OUT_OF_GAS, gas_used: 400_000 });
    expect(await w.query(a!, w.link, { get: 'k' })).toBeNull();
  });

  test("one lookup pass fetches every callee a call's messages name", async () => {
    const w = await World.open();
    const targets = await links(w, 3);
    const fan = await w.store(
      'export function instantiate() { return null; }\n' +
        'export function execute(ctx, msg) { for (const to of msg.to) ctx.execute(to, { key: "f", next: [] }); return null; }',
    );
    const hub = (await w.instantiate(fan)).address;
    const e = encrypt(p, keys, fan.code_hash, { to: targets });
    const tx = w.alice.tx({ type: 'execute', contract: hub, scheme: 'gcm', payload: e.payload });
    let passes = 0;
    const counting = {
      execute_block: (input: BlockInput) => {
        passes++;
        return enclave.execute_block(input);
      },
    };
    const { output } = await w.chain.execute(counting, [tx], T0_MS + 30_000_000);
    expect(output.results[0]!.code).toBe(ResultCode.OK);
    expect(passes).toBe(2);
    for (const t of targets) expect(await w.query(t, w.link, { get: 'f' })).toBe(`by ${hub}`);
  });

  test('a message to an address with no contract fails with code 6', async () => {
    const w = await World.open();
    const [a] = await links(w, 1);
    const nowhere = to_hex(p.sha256(utf8('nowhere'))).slice(0, 40);
    const run = await w.execute(w.alice, a!, w.link, { key: 'k', next: [nowhere] });
    expect(run.r.code).toBe(ResultCode.UNKNOWN_CODE_OR_CONTRACT);
    expect(run.executed.input.no_contract).toContain(nowhere);
  });
});

describe('what crosses the host during execution cannot be forged', () => {
  /** The final input of a block where a calls b (b's record and state came by lookup). */
  async function chain_input(w: World): Promise<{ input: BlockInput; b: string }> {
    const a = (await w.instantiate(w.link)).address;
    const b = (await w.instantiate(w.link)).address;
    // Give b some state, then prepare (without committing) a block where a calls b.
    await w.execute(w.alice, b, w.link, { key: 'k', next: [] });
    const e = encrypt(p, keys, w.link.code_hash, { key: 'k', next: [b] });
    const tx = w.alice.tx({ type: 'execute', contract: a, scheme: 'gcm', payload: e.payload });
    let input = await w.chain.block_input([tx], T0_MS + 10_000_000);
    const first = unwrap(await enclave.execute_block(input));
    expect(first.need).toEqual({ contracts: [b], balances: [b] });
    input = await w.chain.store.extend_input(input, first.need!);
    expect(unwrap(await enclave.execute_block(input)).results[0]!.code).toBe(ResultCode.OK);
    return { input, b };
  }

  test("a callee's binding, code or state altered by the host is refused; nothing executes", async () => {
    const w = await World.open();
    const { input, b } = await chain_input(w);
    const forged_binding = structuredClone(input);
    forged_binding.contracts[b]!.binding = 'ab'.repeat(32);
    expect(await enclave.execute_block(forged_binding)).toMatchObject({
      ok: false,
      error: { code: 'BAD_INPUT' },
    });

    // Another code under b's address (the probe would answer anything it is sent): refused.
    const other_code = structuredClone(input);
    other_code.contracts[b]!.code_id = w.probe.code_id;
    other_code.contracts[b]!.code_hash = w.probe.code_hash;
    other_code.codes[String(w.probe.code_id)] = to_base64(utf8(PROBE));
    expect(await enclave.execute_block(other_code)).toMatchObject({
      ok: false,
      error: { code: 'BAD_INPUT' },
    });

    const altered_state = structuredClone(input);
    const entry = altered_state.state[b]![0]!;
    const sealed = from_base64(entry[1]);
    sealed[sealed.length - 1]! ^= 1;
    entry[1] = to_base64(sealed);
    expect(await enclave.execute_block(altered_state)).toMatchObject({
      ok: false,
      error: { code: 'STATE_CORRUPT' },
    });
  });

  test('a host cannot inject a contract message: no transaction carries one, and an input field is ignored', async () => {
    const w = await World.open();
    const injected = JSON.stringify({
      body: {
        chain_id: w.chain.chain_id,
        sender: w.alice.pubkey,
        sequence: 0,
        gas_limit: 1,
        msg: { type: 'callback', contract: 'a'.repeat(40), msg: {} },
      },
      signature: '0'.repeat(128),
    });
    const { output } = await w.block([injected]);
    expect(output.results[0]!.code).toBe(ResultCode.MALFORMED_TX);
    const a = (await w.instantiate(w.link)).address;
    const e = encrypt(p, keys, w.link.code_hash, { key: 'k', next: [] });
    const tx = w.alice.tx({ type: 'execute', contract: a, scheme: 'gcm', payload: e.payload });
    const input = await w.chain.block_input([tx], T0_MS + 20_000_000);
    const plain = unwrap(await enclave.execute_block(input));
    const extra = { ...input, messages: [{ execute: { contract: a, msg: { key: 'evil', next: [] } } }] };
    const with_extra = unwrap(await enclave.execute_block(extra as BlockInput));
    expect(with_extra.result_hash).toBe(plain.result_hash);
  });
});

describe('debug output (protocol.md §9)', () => {
  test("a query's debug lines reach the querier only on a development network", async () => {
    for (const dev of [true, false]) {
      const w = await World.open({ dev });
      const made = await w.instantiate(w.probe, {}, 3);
      const e = encrypt(p, keys, w.probe.code_hash, {}, { scheme: 'siv' });
      const input = (await w.chain.query_input(made.address, 'siv', e.payload, T0_MS))!;
      const answer = unwrap(await enclave.query(input));
      const result = open_result(p, 'siv', e.tx_key, from_base64(answer.output));
      if (dev) expect(result).toMatchObject({ data: { balance: 3 }, debug: ['query sees 3'] });
      else expect(result).not.toHaveProperty('debug');
    }
  });

  test('debug lines reach the sender only on a development network', async () => {
    for (const dev of [true, false]) {
      const w = await World.open({ dev });
      const [a] = [(await w.instantiate(w.link)).address];
      const run = await w.execute(w.alice, a!, w.link, { key: 'k', next: [], fail: true });
      expect(run.result!['error']).toContain('leaf failed');
      if (dev) expect(run.result!['debug']).toEqual(['link k 0']);
      else expect(run.result).not.toHaveProperty('debug');
    }
  });
});
