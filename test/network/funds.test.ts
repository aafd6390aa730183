/**
 * protocol.md §9 on 4-validator networks of real processes, through the SDK: fees and the code 8
 * refusals, deposits returned on failure, a 3-deep call chain whose failing leaf reverts
 * everything, a `reply` that recovers, depth 9 refused, public events seen by a third party and
 * private ones not, debug output only for the sender and only on a development network, and the
 * faucet, and a validator whose host forges the callees it hands its enclave (sim/byzantine
 * `forge-callee`) refused by its own enclave while the others commit.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClientKey,
  CloisterClient,
  ContractError,
  generate_key,
  InsufficientFundsError,
  key_info,
  web_random,
} from '../../client/sdk/index.js';
import { fee_pool_address } from '../../protocol/bank.js';
import { utf8 } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';
import { LocalNetwork } from '../../sim/network.js';
import type { NodeBehaviour } from '../../sim/sim_node.js';

const p = get_provider('native');
const FEE_POOL = fee_pool_address(p);

/**
 * A link of a call chain: writes `msg.key`, emits a public and a private event, writes a debug
 * line, then calls `next[0]` with the rest (asking for a reply if `reply`), or fails at the end
 * if `fail`; `reply` records what it was told.
 */
const LINK = `
export function instantiate(ctx, msg) { return null; }
export function execute(ctx, msg) {
  ctx.storage.set(msg.key, 'set');
  ctx.emit('visited', { at: ctx.contract }, { public: true });
  ctx.emit('secret', { note: 'private-' + msg.key });
  ctx.debug('debug-' + msg.key, ctx.funds);
  if (msg.next.length > 0) {
    ctx.execute(msg.next[0], { key: msg.key, next: msg.next.slice(1), fail: msg.fail }, { reply: msg.reply === true, funds: ctx.funds });
  } else if (msg.fail) {
    throw new Error('leaf failed');
  }
  return { funds: ctx.funds };
}
export function reply(ctx, msg) { ctx.storage.set('replied', JSON.stringify(msg)); return null; }
export function query(ctx, msg) { return ctx.storage.get(msg.get); }
`;

async function network(
  port: number,
  opts: { dev: boolean; min_gas_price?: number; balances?: Record<string, number> },
  behaviours = new Map<number, NodeBehaviour>(),
) {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-funds-'));
  const net = await LocalNetwork.up({ validators: 4, dir: join(dir, 'net'), port, behaviours, ...opts });
  return {
    net,
    async down() {
      await net.down();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Deploys LINK and makes `n` instances; answers their addresses. */
async function links(client: CloisterClient, key: ClientKey, n: number): Promise<string[]> {
  const code = await client.store_code(key, utf8(LINK), { gas_limit: 5_000_000 });
  const out: string[] = [];
  for (let i = 0; i < n; i++)
    out.push((await client.instantiate(key, code.code_id!, `link${i}`, {})).contract!);
  return out;
}

describe('funds, fees and contract messages on a 4-validator network (min_gas_price 1)', () => {
  const alice = generate_key('alice', web_random);
  const bob = generate_key('bob', web_random);
  const carol = generate_key('carol', web_random);
  const A = key_info(alice).address;
  const B = key_info(bob).address;
  let up: Awaited<ReturnType<typeof network>>;
  let client: CloisterClient;
  let chain: string[];

  beforeAll(async () => {
    up = await network(26300, { dev: false, min_gas_price: 1, balances: { [A]: 10 ** 12, [B]: 10 ** 9 } });
    client = new CloisterClient({ nodes: up.net.urls(), gas_price: 'auto', keys: [alice, bob, carol] });
    chain = await links(client, alice, 3);
  }, 240_000);

  afterAll(async () => {
    await up?.down();
  });

  it('charges gas_limit × gas_price into the fee pool, and refuses a low price or an unpayable fee with code 8', async () => {
    const pool = await client.balance(FEE_POOL);
    const before = await client.balance(A);
    const sent = await client.send(alice, B, 1_000, { gas_limit: 100_000 });
    expect(sent.record?.code).toBe(0);
    expect(sent.fee).toBe(100_000);
    expect(await client.balance(A)).toBe(before - 1_000 - 100_000);
    expect(await client.balance(FEE_POOL)).toBe(pool + 100_000);

    await expect(client.send(alice, B, 1, { gas_price: 0 })).rejects.toBeInstanceOf(InsufficientFundsError);
    // Carol holds nothing: her fee cannot be paid, and her sequence stays 0.
    await expect(client.send(carol, A, 1)).rejects.toBeInstanceOf(InsufficientFundsError);
    expect((await client.account(key_info(carol).address)).sequence).toBe(0);
  }, 120_000);

  it('returns deposits when the call fails, and keeps the fee', async () => {
    const before = await client.balance(A);
    const error = await client
      .execute(alice, chain[0]!, { key: 'd', next: [], fail: true }, { funds: 5_000, gas_limit: 1_000_000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ContractError);
    expect(await client.balance(chain[0]!)).toBe(0);
    expect(await client.balance(A)).toBe(before - 1_000_000);
  }, 120_000);

  it('a 3-deep chain with a failing leaf reverts everything; a reply recovers; depth 9 is refused', async () => {
    const [a, b, c] = chain as [string, string, string];
    const failed = await client
      .execute(alice, a, { key: 'k', next: [b, c], fail: true }, { funds: 300, gas_limit: 3_000_000 })
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ContractError);
    expect((failed as ContractError).contract_message).toContain('leaf failed');
    for (const x of chain) {
      expect(await client.query(x, { get: 'k' })).toBeNull();
      expect(await client.balance(x)).toBe(0);
    }

    const recovered = await client.execute(
      alice,
      a,
      { key: 'r', next: [b, c], fail: true, reply: true },
      { gas_limit: 3_000_000 },
    );
    expect(recovered.record?.code).toBe(0);
    expect(await client.query(a, { get: 'r' })).toBe('set');
    expect(await client.query(b, { get: 'r' })).toBeNull();
    expect(String(await client.query(a, { get: 'replied' }))).toContain('leaf failed');

    const deep = await client
      .execute(alice, a, { key: 'z', next: Array(8).fill(a) }, { gas_limit: 5_000_000 })
      .catch((e: unknown) => e);
    expect((deep as ContractError).contract_message).toContain('call depth limit exceeded');
  }, 180_000);

  it('public events are plaintext for a third party; private events and debug lines are not, and off a development network there is no debug', async () => {
    const [a, b] = chain as [string, string];
    const done = await client.execute(alice, a, { key: 'e', next: [b] }, { gas_limit: 3_000_000 });
    // The sender reads every event, private ones too, but no debug: not a development network.
    expect(done.events?.map((e) => e.type)).toEqual(['visited', 'secret', 'visited', 'secret']);
    expect(done.debug).toBeUndefined();
    // A third party (a client without the sender's keys) sees the public events only.
    const stranger = new CloisterClient({ nodes: [up.net.urls()[2]!] });
    // Its node commits the block a moment after the sender's: wait for it there, then read.
    const record = await stranger.wait_for(done.hash);
    expect(record.events).toEqual([
      { type: 'visited', attributes: [{ key: 'at', value: a }], contract: a },
      { type: 'visited', attributes: [{ key: 'at', value: b }], contract: b },
    ]);
    expect(JSON.stringify(record)).not.toContain('private-e');
    // And can follow them by contract, replaying from the block that holds them.
    const seen = [];
    const stop = new AbortController();
    for await (const event of stranger.contract_events(b, {
      from_height: record.height,
      signal: stop.signal,
    })) {
      seen.push(event);
      stop.abort();
    }
    expect(seen[0]).toMatchObject({ hash: done.hash, contract: b, type: 'visited' });
  }, 120_000);
});

describe('a development network (min_gas_price 0)', () => {
  let up: Awaited<ReturnType<typeof network>>;
  let client: CloisterClient;

  beforeAll(async () => {
    up = await network(26400, { dev: true });
    client = new CloisterClient({ nodes: up.net.urls() });
  }, 240_000);

  afterAll(async () => {
    await up?.down();
  });

  it('funds a new account from the faucet; the sender alone reads debug lines, which the host never sees', async () => {
    const dana = generate_key('dana', web_random);
    const D = key_info(dana).address;
    const funded = await client.faucet(D, 2_000_000);
    expect(funded.record.code).toBe(0);
    expect(await client.balance(D)).toBe(2_000_000);

    const [a] = await links(client, dana, 1);
    const done = await client.execute(dana, a!, { key: 'x', next: [] }, { funds: 10 });
    expect(done.debug).toEqual(['debug-x 10']);
    const failed = await client
      .execute(dana, a!, { key: 'y', next: [], fail: true })
      .catch((e: unknown) => e);
    expect((failed as ContractError).debug).toEqual(['debug-y 0']);
    // Everything the network publishes about the transaction holds no debug line.
    const stranger = new CloisterClient({ nodes: [up.net.urls()[3]!] });
    const record = await stranger.get_tx(done.hash);
    expect(JSON.stringify(record)).not.toContain('debug-x');
    expect(JSON.stringify(await stranger.block_txs(record.height))).not.toContain('debug-x');
  }, 180_000);
});

describe('a host that forges callees (validator 3 of 4 runs forge-callee)', () => {
  let up: Awaited<ReturnType<typeof network>>;
  let client: CloisterClient;

  beforeAll(async () => {
    up = await network(26500, { dev: true }, new Map([[3, 'forge-callee']]));
    client = new CloisterClient({ nodes: up.net.urls().slice(0, 3) });
  }, 240_000);

  afterAll(async () => {
    await up?.down();
  });

  it('its enclave refuses the forged callee code, binding and state; the honest validators commit the call', async () => {
    const dana = generate_key('dana', web_random);
    await client.faucet(key_info(dana).address, 5_000_000);
    const [a, b] = await links(client, dana, 2);
    const refused = up.net.wait_for(
      (e) => e.index === 3 && e.event === 'block_execution_failed' && e['code'] === 'BAD_INPUT',
      120_000,
      "the forging validator's enclave to refuse its input",
    );
    const done = await client.execute(dana, a!, { key: 'f', next: [b] }, { gas_limit: 3_000_000 });
    expect(done.record?.code).toBe(0);
    expect(await client.query(b!, { get: 'f' })).toBe('set');
    const failure = await refused;
    expect(String(failure['message'] ?? failure['error'] ?? '')).toMatch(/binding|code of contract/);
  }, 180_000);
});
