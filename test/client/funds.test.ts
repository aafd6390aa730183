/**
 * The SDK's side of protocol.md §9 against an in-memory node (test/client/funds_fake_node.ts):
 * gas price and funds in the signed JSON only when above 0, local checks before anything is sent,
 * `send`, balances, the faucet and its refusals, code 8, debug lines and public events in results,
 * public events in records, and the public event follower (live, replayed from a height, across a
 * broken stream and a block the stream missed, without gap or duplicate).
 */

import { describe, expect, it } from 'vitest';
import {
  BadAnswerError,
  ClientErrorCode,
  type ClientKey,
  CloisterClient,
  ContractError,
  dev_keys,
  error_from_code,
  generate_key,
  InsufficientFundsError,
  key_info,
  MalformedTransactionError,
  NoFaucetError,
  type PublicEventAt,
  RateLimitedError,
} from '../../client/sdk/index.js';
import { dev_accounts, FAUCET_AMOUNT_MAX } from '../../protocol/bank.js';
import { noble_provider as p } from '../../protocol/providers/noble.js';
import { parse_retry_after } from '../../protocol/rpc_client.js';
import { parse_tx_json, verify_tx_signature } from '../../protocol/tx.js';
import { FundsFakeNode, seeded_random } from './funds_fake_node.js';

const GAS_LIMIT = 1_000;

function setup(opts: { gas_price?: number | 'auto' } = {}) {
  const node = new FundsFakeNode();
  const alice = generate_key('alice', seeded_random('alice'));
  const bob = generate_key('bob', seeded_random('bob'));
  const client = new CloisterClient(
    {
      nodes: ['http://fake.test:1'],
      keys: [alice],
      gas_limit: GAS_LIMIT,
      ...(opts.gas_price === undefined ? {} : { gas_price: opts.gas_price }),
    },
    { fetch: node.fetch, random: seeded_random('client') },
  );
  const a = key_info(alice).address;
  const b = key_info(bob).address;
  node.balances.set(a, 1_000_000);
  return { node, client, alice, bob, a, b };
}

/** The body of the last transaction the node received, as the exact text was signed. */
function last_body(node: FundsFakeNode): Record<string, unknown> {
  const text = node.submitted.at(-1)!;
  return (JSON.parse(text) as { body: Record<string, unknown> }).body;
}

async function echo(client: CloisterClient, key: ClientKey): Promise<string> {
  return (await client.instantiate(key, 1, 'echo', {})).contract!;
}

async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('gas price and funds in the signed transaction (protocol.md §9)', () => {
  it('are absent from the signed JSON when unused or 0, so a v1 transaction is unchanged', async () => {
    const { node, client, alice } = setup();
    const contract = await echo(client, alice);
    await client.execute(alice, contract, { echo: { value: 1 } });
    await client.execute(alice, contract, { echo: { value: 2 } }, { gas_price: 0, funds: 0 });
    await client.send(alice, 'ab'.repeat(20), 5, { gas_price: 0 });
    expect(node.submitted).toHaveLength(4);
    for (const text of node.submitted) {
      expect(text).not.toContain('"gas_price"');
      expect(text).not.toContain('"funds"');
      const { body } = JSON.parse(text) as { body: Record<string, unknown> };
      expect(Object.keys(body).sort()).toEqual(['chain_id', 'gas_limit', 'msg', 'sender', 'sequence']);
    }
  });

  it('are present when above 0, signed, charged, and reported in the outcome', async () => {
    const { node, client, alice, a } = setup();
    const contract = await echo(client, alice);
    const before = node.balances.get(a)!;
    const out = await client.execute(
      alice,
      contract,
      { echo: { value: 'paid' } },
      { scheme: 'siv', gas_price: 2, funds: 25 },
    );
    const body = last_body(node);
    expect(body['gas_price']).toBe(2);
    expect((body['msg'] as Record<string, unknown>)['funds']).toBe(25);
    const tx = parse_tx_json(node.submitted.at(-1)!);
    expect(verify_tx_signature(p, tx)).toBe(true);
    expect(out).toMatchObject({ data: 'paid', gas_price: 2, fee: 2 * GAS_LIMIT, funds: 25 });
    expect(node.balances.get(a)).toBe(before - 2 * GAS_LIMIT - 25);
    expect((await client.contract(contract)).balance).toBe(25);
    const inst = await client.instantiate(alice, 1, 'funded', {}, { funds: 7 });
    expect((last_body(node)['msg'] as Record<string, unknown>)['funds']).toBe(7);
    expect(inst.funds).toBe(7);
    expect(await client.balance(inst.contract!)).toBe(7);
  });

  it("'auto' signs with the network's min_gas_price; the client's gas_price is the default", async () => {
    const { node, client, alice } = setup({ gas_price: 'auto' });
    node.min_gas_price = 3;
    expect(await client.min_gas_price()).toBe(3);
    const out = await client.send(alice, 'ab'.repeat(20), 1);
    expect(last_body(node)['gas_price']).toBe(3);
    expect(out).toMatchObject({ gas_price: 3, fee: 3 * GAS_LIMIT, to: 'ab'.repeat(20), amount: 1 });
    await client.send(alice, 'ab'.repeat(20), 1, { gas_price: 4 });
    expect(last_body(node)['gas_price']).toBe(4);
    const tx = await client.sign(alice, { type: 'send', to: 'ab'.repeat(20), amount: 1 }, { gas_price: 9 });
    expect(tx.body.gas_price).toBe(9);
  });

  it('refuses a bad gas price, funds or fee before anything is sent', async () => {
    const { node, client, alice } = setup();
    const contract = await echo(client, alice);
    const posts = () => node.requests.filter((r) => r.startsWith('POST')).length;
    const before = posts();
    const to = 'ab'.repeat(20);
    await expect(client.send(alice, to, 1, { gas_price: -1 })).rejects.toBeInstanceOf(RangeError);
    await expect(client.send(alice, to, 1, { gas_price: 1.5 })).rejects.toBeInstanceOf(TypeError);
    await expect(client.send(alice, to, 1, { gas_price: 'cheap' as 'auto' })).rejects.toBeInstanceOf(
      TypeError,
    );
    await expect(client.execute(alice, contract, {}, { funds: -1 })).rejects.toBeInstanceOf(RangeError);
    await expect(client.execute(alice, contract, {}, { funds: 0.5 })).rejects.toBeInstanceOf(TypeError);
    await expect(client.send(alice, to, 1, { funds: 3 })).rejects.toBeInstanceOf(RangeError);
    const overflow = await client
      .send(alice, to, 1, { gas_limit: 2 ** 30, gas_price: 2 ** 23 })
      .catch((e: unknown) => e);
    expect(overflow).toBeInstanceOf(MalformedTransactionError);
    expect((overflow as MalformedTransactionError).code).toBe(7);
    expect((overflow as Error).message).toContain('below 2^53');
    // 'auto' is checked once the minimum is known, still before sending.
    node.min_gas_price = 2 ** 40;
    const auto = new CloisterClient(
      { nodes: ['http://fake.test:1'], gas_price: 'auto', gas_limit: 2 ** 20 },
      { fetch: node.fetch },
    );
    await expect(auto.send(alice, to, 1)).rejects.toBeInstanceOf(MalformedTransactionError);
    await expect(client.send(alice, to, 0)).rejects.toBeInstanceOf(RangeError);
    await expect(client.send(alice, 'AB'.repeat(20), 1)).rejects.toBeInstanceOf(RangeError);
    expect(() => new CloisterClient({ nodes: ['http://x.test'], gas_price: -2 })).toThrow(RangeError);
    expect(posts()).toBe(before);
  });
});

describe('send, balances and code 8', () => {
  it('moves tokens with send and reads balances of accounts and contracts', async () => {
    const { node, client, alice, a, b } = setup();
    const out = await client.send(alice, b, 1234);
    expect(out.record?.code).toBe(0);
    expect(last_body(node)['msg']).toEqual({ type: 'send', to: b, amount: 1234 });
    expect(await client.balance(b)).toBe(1234);
    expect(await client.account(a)).toEqual({ address: a, sequence: 1, balance: 1_000_000 - 1234 });
    // An account never seen: sequence 0, balance 0.
    expect(await client.account('00'.repeat(20))).toEqual({
      address: '00'.repeat(20),
      sequence: 0,
      balance: 0,
    });
  });

  it('code 8 refused at submission is an InsufficientFundsError, and the sequence is asked again', async () => {
    const { node, client, alice } = setup();
    node.min_gas_price = 5;
    const error = await client.send(alice, 'ab'.repeat(20), 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientFundsError);
    expect((error as InsufficientFundsError).code).toBe(ClientErrorCode.INSUFFICIENT_FUNDS);
    expect((error as InsufficientFundsError).status).toBe(400);
    expect((error as Error).message).toContain('below the minimum 5');
    expect((error as Error).message).toContain('--gas-price');
    // Nothing was committed; the next transaction is signed at sequence 0 again.
    const ok = await client.send(alice, 'ab'.repeat(20), 1, { gas_price: 5 });
    expect(ok.sequence).toBe(0);
  });

  it('code 8 committed (funds or amount above the balance) is an InsufficientFundsError with the hash', async () => {
    const { client, alice, bob } = setup();
    const error = await client.send(alice, key_info(bob).address, 10_000_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientFundsError);
    expect((error as InsufficientFundsError).hash).toMatch(/^[0-9a-f]{64}$/);
    expect((error as Error).message).toMatch(/^insufficient funds or fee: check the balance/);
    const contract = await echo(client, alice);
    await expect(client.execute(alice, contract, {}, { funds: 10_000_000 })).rejects.toBeInstanceOf(
      InsufficientFundsError,
    );
    expect(error_from_code(8, 'm')).toBeInstanceOf(InsufficientFundsError);
    expect(error_from_code(8, 'm').to_json()).toMatchObject({ code: 8, name: 'InsufficientFundsError' });
  });

  it('reads status, accounts and contracts of a node older than §9 with their defaults', async () => {
    const { node, client, alice, a } = setup();
    const contract = await echo(client, alice);
    node.old = true;
    const status = await client.status();
    expect(status).toMatchObject({ min_gas_price: 0, dev: false });
    expect(await client.account(a)).toEqual({ address: a, sequence: 1, balance: 0 });
    expect((await client.contract(contract)).balance).toBe(0);
    const out = await client.execute(alice, contract, { echo: { value: 3 } });
    expect(out.record?.events).toEqual([]);
    node.old = false;
    expect(await client.status()).toMatchObject({ min_gas_price: 0, dev: true });
  });

  it('refuses a balance or events field of the wrong shape', async () => {
    const { node, client, a } = setup();
    node.balances.set(a, -5);
    await expect(client.account(a)).rejects.toBeInstanceOf(BadAnswerError);
    const fetch = async (input: string | URL | Request): Promise<Response> => {
      const path = new URL(String(input)).pathname;
      if (path.startsWith('/v1/txs/'))
        return Response.json({
          hash: 'ab'.repeat(32),
          height: 1,
          index: 0,
          code: 0,
          gas_used: 1,
          output: '',
          events: [{ type: 't', attributes: [] }],
        });
      return node.fetch(input);
    };
    const odd = new CloisterClient({ nodes: ['http://fake.test:1'] }, { fetch });
    await expect(odd.get_tx('ab'.repeat(32))).rejects.toBeInstanceOf(BadAnswerError);
  });
});

describe('the faucet', () => {
  it('sends the default or the asked amount and answers with the committed record', async () => {
    const { node, client, b } = setup();
    const got = await client.faucet(b);
    expect(node.faucet_bodies.at(-1)).toEqual({ address: b });
    expect(got).toMatchObject({ address: b, amount: undefined, record: { code: 0 } });
    expect(got.hash).toBe(got.record.hash);
    expect(await client.balance(b)).toBe(1_000_000);
    await client.faucet(b, 5);
    expect(node.faucet_bodies.at(-1)).toEqual({ address: b, amount: 5 });
    expect(await client.balance(b)).toBe(1_000_005);
  });

  it('is a NoFaucetError on a network without one', async () => {
    const { node, client, b } = setup();
    node.dev = false;
    const error = await client.faucet(b).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoFaucetError);
    expect((error as NoFaucetError).code).toBe(100);
    expect((error as Error).message).toContain('this network has no faucet (not a development network)');
  });

  it('is a RateLimitedError with the Retry-After seconds when asked too often', async () => {
    const { node, client, b } = setup();
    node.rate_limit_s = 7;
    const error = await client.faucet(b).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ code: 112, status: 429, retry_after_s: 7 });
    expect((error as Error).message).toContain('retry in 7 s');
    expect((error as RateLimitedError).to_json()).toMatchObject({ code: 112, retry_after_s: 7 });
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parse_retry_after('12', 0)).toBe(12);
    expect(parse_retry_after(' 3 ', 0)).toBe(3);
    const now = Date.parse('Fri, 04 Dec 2026 10:00:00 GMT');
    expect(parse_retry_after('Fri, 04 Dec 2026 10:00:30 GMT', now)).toBe(30);
    expect(parse_retry_after('Fri, 04 Dec 2026 09:00:00 GMT', now)).toBe(0);
    expect(parse_retry_after('soon', now)).toBeUndefined();
    expect(parse_retry_after(null, now)).toBeUndefined();
  });

  it('checks the address and amount before asking', async () => {
    const { node, client, b } = setup();
    await expect(client.faucet('nope')).rejects.toBeInstanceOf(RangeError);
    await expect(client.faucet(b, 0)).rejects.toBeInstanceOf(RangeError);
    await expect(client.faucet(b, FAUCET_AMOUNT_MAX + 1)).rejects.toBeInstanceOf(RangeError);
    expect(node.faucet_bodies).toEqual([]);
  });
});

describe('results and records with §9 fields', () => {
  it('exposes debug lines, public flags on events, and the public events of the record', async () => {
    const { client, alice } = setup();
    const contract = await echo(client, alice);
    const out = await client.execute(alice, contract, {
      emit: [
        { type: 'transfer', attributes: [{ key: 'amount', value: '5' }], public: true },
        { type: 'secret', attributes: [] },
      ],
      debug: ['step 1', 'step 2'],
    });
    expect(out.debug).toEqual(['step 1', 'step 2']);
    expect(out.events).toEqual([
      { type: 'transfer', attributes: [{ key: 'amount', value: '5' }], public: true },
      { type: 'secret', attributes: [] },
    ]);
    expect(out.record?.events).toEqual([
      { type: 'transfer', attributes: [{ key: 'amount', value: '5' }], contract },
    ]);
    expect((await client.get_tx(out.hash)).events).toEqual(out.record?.events);
    const plain = await client.execute(alice, contract, { echo: { value: 1 } });
    expect(plain.debug).toBeUndefined();
  });

  it('a contract error carries its debug lines', async () => {
    const { client, alice } = setup();
    const contract = await echo(client, alice);
    const error = await client
      .execute(alice, contract, { fail: 'no', debug: ['why'] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ContractError);
    expect((error as ContractError).debug).toEqual(['why']);
    expect((error as ContractError).to_json()).toMatchObject({ code: 1, debug: ['why'] });
  });
});

describe('development keys', () => {
  it('are the bank module’s accounts dev0..dev3 with a fixed encryption key', () => {
    const keys = dev_keys();
    expect(keys.map((k) => k.name)).toEqual(['dev0', 'dev1', 'dev2', 'dev3']);
    expect(keys.map((k) => key_info(k).address)).toEqual(dev_accounts(p).map((d) => d.address));
    expect(dev_keys().map((k) => key_info(k).encryption_pubkey)).toEqual(
      keys.map((k) => key_info(k).encryption_pubkey),
    );
  });
});

describe('following public events', () => {
  /** Runs a follower in the background, collecting what it yields. */
  function follow(client: CloisterClient, contract: string, from_height?: number) {
    const abort = new AbortController();
    const got: PublicEventAt[] = [];
    const statuses: string[] = [];
    const done = (async () => {
      for await (const e of client.contract_events(contract, {
        signal: abort.signal,
        from_height,
        on_status: (s) => statuses.push(s.type),
      }))
        got.push(e);
    })();
    return {
      got,
      statuses,
      stop: async () => {
        abort.abort();
        await done;
      },
    };
  }

  const emit = (n: number | string, is_public = true) => ({
    emit: [
      { type: 'tick', attributes: [{ key: 'n', value: String(n) }], ...(is_public ? { public: true } : {}) },
    ],
  });

  it("yields only the followed contract's public events, live", async () => {
    const { node, client, alice } = setup();
    const mine = await echo(client, alice);
    const other = await echo(client, alice);
    const f = follow(client, mine);
    await node.streams_opened(1);
    await until(() => f.statuses.includes('live'), 'the follower to be live');
    await client.execute(alice, other, emit('other'));
    await client.execute(alice, mine, emit(1));
    await client.execute(alice, mine, emit('private', false));
    await client.execute(alice, mine, emit(2));
    await until(() => f.got.length >= 2, 'two events');
    await f.stop();
    expect(f.got.map((e) => e.attributes[0]!.value)).toEqual(['1', '2']);
    expect(f.got[0]).toMatchObject({ contract: mine, type: 'tick', index: 0, event_index: 0 });
    expect(f.got[0]!.height).toBeLessThan(f.got[1]!.height);
  });

  it('replays from a height, then goes on live, without duplicates, across a broken stream and a missed block', async () => {
    const { node, client, alice } = setup();
    const mine = await echo(client, alice); // block 1
    for (let i = 0; i < 3; i++) await client.execute(alice, mine, emit(`old${i}`)); // blocks 2-4
    // Two transactions in one block (5).
    node.auto_commit = false;
    await client.execute(alice, mine, emit('old3a'), { wait: false });
    await client.execute(alice, mine, emit('old3b'), { wait: false });
    node.commit();
    node.auto_commit = true;
    // Committed once the follower's stream is open and before its node tells it the height: it
    // reaches the follower both by the stream and by its catch-up, and is delivered once.
    let raced = false;
    node.before_status = async () => {
      await client.execute(alice, mine, emit('race'));
      raced = true;
    };
    const f = follow(client, mine, 3);
    await until(() => f.statuses.includes('live'), 'the follower to be live');
    expect(raced).toBe(true);
    await client.execute(alice, mine, emit('live1'));
    await until(() => f.got.some((e) => e.attributes[0]!.value === 'live1'), 'live1');
    // The stream drops a block, then breaks: both are fetched again, once.
    node.unstreamed.add(node.blocks.length + 1);
    await client.execute(alice, mine, emit('missed'));
    await client.execute(alice, mine, emit('after-missed'));
    await until(() => f.got.some((e) => e.attributes[0]!.value === 'after-missed'), 'after-missed');
    node.break_streams();
    await client.execute(alice, mine, emit('while-down'));
    await node.streams_opened(2);
    await until(() => f.got.some((e) => e.attributes[0]!.value === 'while-down'), 'while-down');
    await client.execute(alice, mine, emit('live2'));
    await until(() => f.got.some((e) => e.attributes[0]!.value === 'live2'), 'live2');
    await f.stop();
    expect(f.got.map((e) => e.attributes[0]!.value)).toEqual([
      'old1',
      'old2',
      'old3a',
      'old3b',
      'race',
      'live1',
      'missed',
      'after-missed',
      'while-down',
      'live2',
    ]);
    expect(f.got.map((e) => e.height)).toEqual([3, 4, 5, 5, 6, 7, 8, 9, 10, 11]);
    expect(f.got.map((e) => e.index)).toEqual([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(f.statuses.filter((s) => s === 'retrying').length).toBeGreaterThanOrEqual(1);
  });

  it('yields nothing more once its signal aborts, even in the middle of a replay', async () => {
    const { client, alice } = setup();
    const mine = await echo(client, alice);
    for (let i = 0; i < 3; i++) await client.execute(alice, mine, emit(i));
    const stop = new AbortController();
    const seen: PublicEventAt[] = [];
    for await (const e of client.contract_events(mine, { from_height: 1, signal: stop.signal })) {
      seen.push(e);
      stop.abort();
    }
    expect(seen.map((e) => e.attributes[0]!.value)).toEqual(['0']);
  });

  it('checks its arguments, and ends when the caller stops iterating', async () => {
    const { node, client, alice } = setup();
    const mine = await echo(client, alice);
    expect(() => client.contract_events('nope')).toThrow(RangeError);
    expect(() => client.contract_events(mine, { from_height: 0 })).toThrow(RangeError);
    await client.execute(alice, mine, emit('first'));
    const events = client.contract_events(mine, { from_height: 1 });
    for await (const e of events) {
      expect(e.attributes[0]!.value).toBe('first');
      break;
    }
    // The stream it held is closed.
    await until(() => node.requests.includes('GET /v1/events'), 'the stream request');
  });
});
