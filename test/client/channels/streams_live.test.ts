/**
 * Streamr-style streams on a live 1-validator development network (RPC 26630), through the SDK and
 * the CLI: dev0 owns and publishes, dev1..dev3 subscribe. The honest flow; a rotation followed by
 * a subscriber that holds the old key (without asking the keeper); a subscriber removed by revoke
 * (re-key) reads what came before and not what comes after, and the publisher refuses its key
 * request; a subscriber added while the publisher is offline gets the key from the key keeper;
 * in-stream key requests over X25519 and ML-KEM-1024; expiry of a grant (the owner's next publish
 * re-keys by itself); a grant that takes subscribe away (re-keys like revoke); a revoke whose
 * re-key fails (the owner's next publish makes it first, other publishers refuse the old key); a
 * new subscriber that sets its viewing key once however many old keys it cannot read; a
 * publisher that answers key requests with no key from before a grant. Needs
 * `npx tsc -p tsconfig.build.json` first.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelErrorCode } from '../../../client/sdk/channels/errors.js';
import { MemoryStorage } from '../../../client/sdk/channels/storage.js';
import { NoGroupKeyError } from '../../../client/sdk/channels/stream_crypto.js';
import { KeyRequestDeniedError } from '../../../client/sdk/channels/stream_key_exchange.js';
import {
  type AnswerReport,
  StreamClient,
  type StreamReadItem,
} from '../../../client/sdk/channels/streams.js';
import {
  type ClientKey,
  CloisterClient,
  dev_keys,
  generate_key,
  key_info,
  web_random,
} from '../../../client/sdk/index.js';
import { LiveNetwork } from './live_network.js';

let net: LiveNetwork;
type Dev = 'dev0' | 'dev1' | 'dev2' | 'dev3';
let dev: Record<Dev, ClientKey>;
let address: Record<Dev, string>;

interface Party {
  s: StreamClient;
  client: CloisterClient;
  /** How many get_key queries it sent. */
  keeper_queries: () => number;
  /** The execute messages it sent (failed ones too). */
  sent: unknown[];
}

/**
 * A stream client of `name` (a dev key or any key) with a store of its own (or `storage`), a count
 * of its key keeper queries and a list of its execute messages; `fail` makes an execute throw
 * before it is sent (a network error or a crash between two transactions).
 */
function party(
  name: Dev | ClientKey,
  storage = new MemoryStorage(),
  fail?: (msg: unknown) => boolean,
): Party {
  const client = new CloisterClient({ nodes: [net.node] });
  let n = 0;
  const sent: unknown[] = [];
  const query = client.query.bind(client);
  client.query = (address, msg, ...rest) => {
    if (typeof msg === 'object' && msg !== null && 'get_key' in msg) n++;
    return query(address, msg, ...rest);
  };
  const execute = client.execute.bind(client);
  client.execute = (key, contract, msg, ...rest) => {
    sent.push(msg);
    if (fail?.(msg) === true) return Promise.reject(new Error('injected failure'));
    return execute(key, contract, msg, ...rest);
  };
  const key = typeof name === 'string' ? dev[name] : name;
  return { s: new StreamClient(client, key, { storage }), client, keeper_queries: () => n, sent };
}

/** How many of `sent` are `kind` messages (`{kind: {...}}`). */
function count(sent: unknown[], kind: string): number {
  return sent.filter((m) => typeof m === 'object' && m !== null && kind in m).length;
}

/**
 * Resolves once the latest committed block's time (`GET /v1/blocks/{h}`) is past `time_ms`. Blocks
 * come on demand, so each look that finds the chain's clock short sends a transaction that makes
 * one (a faucet drop to a fresh address: the faucet limits each address, not the whole network).
 */
async function until_block_time(time_ms: number): Promise<void> {
  const client = new CloisterClient({ nodes: [net.node] });
  for (let i = 0; ; i++) {
    const { height } = await client.status();
    const block = (await (await fetch(`${net.node}/v1/blocks/${height}`)).json()) as {
      header: { time_ms: number };
    };
    if (block.header.time_ms > time_ms) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
    await client.faucet(key_info(generate_key(`clock-${i}`, web_random)).address, 1);
  }
}

async function all(s: StreamClient, stream: string, from_seq?: number): Promise<StreamReadItem[]> {
  const out: StreamReadItem[] = [];
  for await (const item of s.read(stream, { from_seq })) out.push(item);
  return out;
}

/** `#seq text` or `#seq [no key <id>]`, as compact as the CLI's lines. */
function lines(items: StreamReadItem[]): string[] {
  return items.map((i) => ('text' in i ? `#${i.seq} ${i.text}` : `#${i.seq} [${i.undecryptable}]`));
}

beforeAll(async () => {
  net = await LiveNetwork.up(26630, 'cloister-streams-');
  const keys = dev_keys();
  const pick = (name: Dev) => keys.find((k) => k.name === name)!;
  dev = { dev0: pick('dev0'), dev1: pick('dev1'), dev2: pick('dev2'), dev3: pick('dev3') };
  address = {
    dev0: key_info(dev.dev0).address,
    dev1: key_info(dev.dev1).address,
    dev2: key_info(dev.dev2).address,
    dev3: key_info(dev.dev3).address,
  };
}, 180_000);

afterAll(async () => {
  await net?.down();
});

describe('streams, live', () => {
  it('honest flow, rotate, revoke (re-key), a subscriber added while the publisher is offline, key requests', async () => {
    const owner = party('dev0');
    const sub1 = party('dev1');
    const { stream } = await owner.s.create('news');
    expect(stream).toBe(`${address.dev0}/news`);
    await owner.s.grant(stream, address.dev1, { subscribe: true });

    // Honest: the first publish makes the first key; dev1 gets it from the keeper.
    const m1 = await owner.s.publish(stream, 'm1');
    expect(m1.seq).toBe(1);
    expect(lines(await all(sub1.s, stream))).toEqual(['#1 m1']);
    expect(sub1.keeper_queries()).toBeGreaterThan(0);

    // Rotate: the next message carries the next key under the current one; dev1 follows it
    // without asking the keeper again.
    const next = await owner.s.rotate(stream);
    const m2 = await owner.s.publish(stream, 'm2');
    expect(m2.key_id).toBe(m1.key_id);
    expect(m2.new_key_id).toBe(next);
    const m3 = await owner.s.publish(stream, 'm3');
    expect(m3.key_id).toBe(next);
    const asked = sub1.keeper_queries();
    expect(lines(await all(sub1.s, stream, 2))).toEqual(['#2 m2', '#3 m3']);
    expect(sub1.keeper_queries()).toBe(asked);
    expect((await sub1.s.local_keys(stream)).ids).toContain(next);

    // Revoke dev1: re-key. It still reads m1..m3 (its keys), not m4; the keeper refuses it, and so
    // does the publisher's key-request service.
    const { key_id: rekeyed } = await owner.s.revoke(stream, address.dev1);
    const m4 = await owner.s.publish(stream, 'm4');
    expect(m4.key_id).toBe(rekeyed);
    expect(m4.new_key_id).toBeNull();
    expect(lines(await all(sub1.s, stream))).toEqual(['#1 m1', '#2 m2', '#3 m3', `#4 [no key ${rekeyed}]`]);

    const serving = new AbortController();
    const reports: AnswerReport[] = [];
    const height = (await new CloisterClient({ nodes: [net.node] }).status()).height;
    const service = owner.s.answer_requests(stream, {
      signal: serving.signal,
      from_height: height,
      on_answer: (r) => reports.push(r),
    });
    expect(await sub1.s.request_keys(stream, address.dev0, [rekeyed], { timeout_ms: 8_000 })).toEqual([]);
    expect(reports.at(-1)?.subscriber).toBe(address.dev1);
    expect(reports.at(-1)?.error).toBeInstanceOf(KeyRequestDeniedError);

    // dev2 is granted (the owner re-keys), the owner publishes m5 and then does nothing more
    // for it: dev2 reads m5 through the keeper, and nothing from before its grant.
    serving.abort();
    await service;
    const g = await owner.s.grant(stream, address.dev2, { subscribe: true });
    expect(g.key_id).not.toBeNull();
    const m5 = await owner.s.publish(stream, 'm5');
    expect(m5.key_id).toBe(g.key_id);
    const sub2 = party('dev2');
    const read2 = await all(sub2.s, stream);
    // (seq 5 was dev1's key request: every kind takes a seq.)
    expect(m5.seq).toBe(6);
    expect(lines(read2).slice(-1)).toEqual(['#6 m5']);
    expect(read2.slice(0, 4).every((i) => 'undecryptable' in i && i.undecryptable.startsWith('no key'))).toBe(
      true,
    );

    // In-stream key requests, answered by a publisher that is online: X25519 and ML-KEM-1024.
    const serving2 = new AbortController();
    const service2 = owner.s.answer_requests(stream, {
      signal: serving2.signal,
      from_height: (await new CloisterClient({ nodes: [net.node] }).status()).height,
    });
    for (const scheme of ['x25519', 'ml-kem-1024'] as const) {
      const fresh = party('dev2');
      const got = await fresh.s.request_keys(stream, address.dev0, [m5.key_id], {
        scheme,
        timeout_ms: 30_000,
      });
      expect(got.map((k) => k.id)).toEqual([m5.key_id]);
      expect(lines(await all(fresh.s, stream, m5.seq))).toEqual(['#6 m5']);
      expect(fresh.keeper_queries()).toBe(0);
    }
    serving2.abort();
    await service2;
  }, 300_000);

  it('expiry: a grant that lapses gives no later key (the owner re-keys when it publishes), and its publish permission ends', async () => {
    const owner = party('dev0');
    const { stream } = await owner.s.create('expiring');
    const before = await owner.s.publish(stream, 'before');
    // Already expired: the keeper refuses, and the client sets no viewing key for it.
    await owner.s.grant(stream, address.dev2, { subscribe: true, expires_ms: Date.now() - 1_000 });
    // Long enough for the grant, its re-key and dev3's publish on a loaded machine.
    const expires_ms = Date.now() + 15_000;
    await owner.s.grant(stream, address.dev3, { subscribe: true, publish: true, expires_ms });
    const during = await owner.s.publish(stream, 'during');
    const sub3 = party('dev3');
    const p3 = await sub3.s.publish(stream, 'from dev3');
    // dev3 reads from its grant on (the owner re-keyed after it), its own message included.
    expect(lines(await all(sub3.s, stream))).toEqual([
      `#1 [no key ${before.key_id}]`,
      '#2 during',
      '#3 from dev3',
    ]);
    expect(lines(await all(owner.s, stream)).slice(-1)).toEqual(['#3 from dev3']);
    expect(p3.seq).toBe(3);
    expect(lines(await all(party('dev2').s, stream)).every((l) => l.includes('[no key'))).toBe(true);

    // dev2's grant lapsed before the current key was set: no re-key for it.
    expect(p3.key_id).toBe(during.key_id);

    // Wait out the grant on the chain's clock: until a committed block's time is past the expiry.
    // dev3 holds the current key; the owner's next publish sees the lapsed member and re-keys first.
    await until_block_time(expires_ms);
    const after = await owner.s.publish(stream, 'after');
    expect(after.key_id).not.toBe(during.key_id);
    expect((await owner.s.local_keys(stream)).current).toBe(after.key_id);
    // Once: the new key was set after the expiry.
    expect((await owner.s.publish(stream, 'later')).key_id).toBe(after.key_id);
    expect(lines(await all(sub3.s, stream, 2))).toEqual([
      '#2 during',
      '#3 from dev3',
      `#4 [no key ${after.key_id}]`,
      `#5 [no key ${after.key_id}]`,
    ]);
    await expect(sub3.s.publish(stream, 'too late')).rejects.toThrow();
  }, 180_000);

  it('a grant that cuts a subscriber off re-keys, as revoke does (an expiry in the past: CLI and SDK); publish alone is refused', async () => {
    await net.json(['stream', 'create', 'cut', '--key', 'dev0']);
    await net.ok(['stream', 'grant', 'cut', 'dev1', '--subscribe', '--key', 'dev0']);
    await net.ok(['stream', 'publish', 'cut', 'one', '--key', 'dev0']);
    expect(await net.ok(['stream', 'read', 'dev0/cut', '--key', 'dev1'])).toBe('#1 one\n');
    // Publish without subscribe: refused (a publisher needs the group key), and nothing changed.
    const publish_only = await net.cloister(['stream', 'grant', 'cut', 'dev1', '--publish', '--key', 'dev0']);
    expect(publish_only.code).toBe(2);
    expect(publish_only.stderr).toMatch(/--publish needs --subscribe/);
    expect(await net.ok(['stream', 'read', 'dev0/cut', '--key', 'dev1'])).toBe('#1 one\n');
    // An expiry already past: dev1 may no longer subscribe. The grant re-keys, and dev1 holds only the old key.
    const g = await net.json<{ rekeyed: string | null }>([
      ...['stream', 'grant', 'cut', 'dev1', '--subscribe', '--expires-ms', String(Date.now() - 1_000)],
      ...['--key', 'dev0'],
    ]);
    expect(g.rekeyed).toMatch(/^[0-9a-f]{32}$/);
    const two = await net.json<{ key_id: string }>(['stream', 'publish', 'cut', 'two', '--key', 'dev0']);
    expect(two.key_id).toBe(g.rekeyed);
    expect(await net.ok(['stream', 'read', 'dev0/cut', '--key', 'dev1'])).toBe(
      `#1 one\n#2 [cannot decrypt: no key ${g.rekeyed}]\n`,
    );

    // The SDK: a subscriber re-granted with an expiry already past is removed too, even with rekey false.
    const owner = party('dev0');
    const { stream } = await owner.s.create('cut-sdk');
    await expect(owner.s.grant(stream, address.dev2, { publish: true })).rejects.toThrow(TypeError);
    await owner.s.grant(stream, address.dev2, { subscribe: true });
    const m1 = await owner.s.publish(stream, 'm1');
    const sub2 = party('dev2');
    expect(lines(await all(sub2.s, stream))).toEqual(['#1 m1']);
    const lapsed = await owner.s.grant(
      stream,
      address.dev2,
      { subscribe: true, expires_ms: Date.now() - 1_000 },
      { rekey: false },
    );
    expect(lapsed.key_id).not.toBeNull();
    const m2 = await owner.s.publish(stream, 'm2');
    expect(m2.key_id).toBe(lapsed.key_id);
    expect(m2.key_id).not.toBe(m1.key_id);
    expect(lines(await all(sub2.s, stream))).toEqual(['#1 m1', `#2 [no key ${m2.key_id}]`]);
  }, 300_000);

  it('a revoke whose re-key fails: the next publish re-keys first, and other publishers refuse the old key', async () => {
    const store = new MemoryStorage();
    let failing = false;
    const owner = party(
      'dev0',
      store,
      (msg) => failing && typeof msg === 'object' && msg !== null && 'set_key' in msg,
    );
    const { stream } = await owner.s.create('crash');
    await owner.s.grant(stream, address.dev1, { subscribe: true });
    await owner.s.grant(stream, address.dev3, { subscribe: true, publish: true });
    const m1 = await owner.s.publish(stream, 'm1');
    const sub1 = party('dev1');
    expect(lines(await all(sub1.s, stream))).toEqual(['#1 m1']);

    // The revoke commits; the re-key's set_key never goes out (the owner crashed, or the network failed).
    failing = true;
    await expect(owner.s.revoke(stream, address.dev1)).rejects.toThrow('injected failure');
    failing = false;
    expect(count(owner.sent, 'revoke')).toBe(1);
    expect((await owner.s.info(stream)).removed_height).not.toBeNull();

    // dev3 publishes under the keeper's current key: set before the removal, so it refuses.
    const pub3 = party('dev3');
    await expect(pub3.s.publish(stream, 'from dev3')).rejects.toMatchObject({
      code: ChannelErrorCode.NO_GROUP_KEY,
      message: expect.stringContaining('removed at height'),
    });

    // The owner again, with a new client on the same store (a restart): the pending re-key comes first.
    const restarted = party('dev0', store);
    const m2 = await restarted.s.publish(stream, 'm2');
    expect(m2.key_id).not.toBe(m1.key_id);
    expect(count(restarted.sent, 'set_key')).toBe(1);
    expect(await restarted.s.local_keys(stream)).toMatchObject({ current: m2.key_id, rekey_pending: false });
    const p3 = await pub3.s.publish(stream, 'from dev3');
    expect(p3.key_id).toBe(m2.key_id);
    expect(lines(await all(sub1.s, stream))).toEqual([
      '#1 m1',
      `#2 [no key ${m2.key_id}]`,
      `#3 [no key ${m2.key_id}]`,
    ]);
    // Nothing pending any more: the next publish uses the same key.
    expect((await restarted.s.publish(stream, 'm3')).key_id).toBe(m2.key_id);
  }, 300_000);

  it('a new subscriber sets its viewing key once, however many old keys it cannot read', async () => {
    const owner = party('dev0');
    const { stream } = await owner.s.create('history');
    const old: string[] = [];
    for (const text of ['a', 'b', 'c']) {
      old.push((await owner.s.publish(stream, text)).key_id);
      await owner.s.rekey(stream);
    }
    const fresh = generate_key('stream-newcomer', web_random);
    await new CloisterClient({ nodes: [net.node] }).faucet(key_info(fresh).address);
    await owner.s.grant(stream, key_info(fresh).address, { subscribe: true });
    const d = await owner.s.publish(stream, 'd');
    const sub = party(fresh);
    const want = [...old.map((id, i) => `#${i + 1} [no key ${id}]`), '#4 d'];
    expect(lines(await all(sub.s, stream))).toEqual(want);
    expect(sub.sent).toEqual([{ set_viewing_key: { key: expect.any(String) } }]);
    // Read again (the same client, then a new one): the keeper knows the viewing key, nothing is sent.
    expect(lines(await all(sub.s, stream))).toEqual(want);
    const again = party(fresh);
    expect(lines(await all(again.s, stream))).toEqual(want);
    expect(sub.sent).toHaveLength(1);
    expect(again.sent).toEqual([]);
    expect(d.seq).toBe(4);
  }, 300_000);

  it('a publisher answers key requests with no key from before the grant, on a stream without a keeper', async () => {
    const owner = party('dev0');
    const { stream_acl } = await owner.s.contracts();
    await owner.client.execute(dev.dev0, stream_acl, { create: { name: 'keeperless' } });
    const stream = `${address.dev0}/keeperless`;
    expect(await owner.s.keeper_of(stream)).toBeNull();
    const m1 = await owner.s.publish(stream, 'before the grant');
    // No re-key after the grant: the only key is from before it.
    await owner.s.grant(stream, address.dev1, { subscribe: true }, { rekey: false });
    const serving = new AbortController();
    const reports: AnswerReport[] = [];
    const service = owner.s.answer_requests(stream, {
      signal: serving.signal,
      from_height: (await owner.client.status()).height,
      on_answer: (r) => reports.push(r),
    });
    const sub1 = party('dev1');
    expect(await sub1.s.request_keys(stream, address.dev0, [m1.key_id], { timeout_ms: 8_000 })).toEqual([]);
    expect(reports.at(-1)?.error).toBeInstanceOf(NoGroupKeyError);
    // A key made after the grant is answered.
    const k2 = await owner.s.rekey(stream);
    const m2 = await owner.s.publish(stream, 'after the grant');
    expect(m2.key_id).toBe(k2);
    const got = await sub1.s.request_keys(stream, address.dev0, [k2], { timeout_ms: 30_000 });
    expect(got.map((k) => k.id)).toEqual([k2]);
    serving.abort();
    await service;
    // (seq 2 was dev1's key request.)
    expect(lines(await all(sub1.s, stream))).toEqual([
      `#1 [no key ${m1.key_id}]`,
      `#${m2.seq} after the grant`,
    ]);
  }, 300_000);

  it('the CLI: create, grant, publish, read, rotate, revoke', async () => {
    const created = await net.json<{ stream: string }>(['stream', 'create', 'feed', '--key', 'dev0']);
    expect(created.stream).toBe(`${address.dev0}/feed`);
    expect(await net.ok(['stream', 'grant', 'feed', 'dev1', '--subscribe', '--key', 'dev0'])).toContain(
      'granted',
    );
    expect(await net.ok(['stream', 'publish', 'feed', 'hello', '--key', 'dev0'])).toContain('published #1');
    expect(await net.ok(['stream', 'read', 'dev0/feed', '--key', 'dev1'])).toBe('#1 hello\n');
    const rotated = await net.json<{ next_key_id: string }>(['stream', 'rotate', 'feed', '--key', 'dev0']);
    expect(await net.ok(['stream', 'publish', 'feed', 'two', '--key', 'dev0'])).toContain(
      `carries the next key ${rotated.next_key_id}`,
    );
    await net.ok(['stream', 'publish', 'feed', 'three', '--key', 'dev0']);
    expect(await net.ok(['stream', 'read', `${address.dev0}/feed`, '--key', 'dev1', '--from-seq', '2'])).toBe(
      '#2 two\n#3 three\n',
    );
    const revoked = await net.json<{ rekeyed: string }>([
      'stream',
      'revoke',
      'feed',
      'dev1',
      '--key',
      'dev0',
    ]);
    await net.ok(['stream', 'publish', 'feed', 'four', '--key', 'dev0']);
    const out = await net.ok(['stream', 'read', 'dev0/feed', '--key', 'dev1']);
    expect(out.split('\n')).toEqual([
      '#1 hello',
      '#2 two',
      '#3 three',
      `#4 [cannot decrypt: no key ${revoked.rekeyed}]`,
      '',
    ]);
    // rekey: a fresh key from the next message on.
    const rekeyed = await net.json<{ stream: string; key_id: string }>([
      ...['stream', 'rekey', 'feed', '--key', 'dev0'],
    ]);
    expect(rekeyed.stream).toBe(`${address.dev0}/feed`);
    expect(rekeyed.key_id).not.toBe(revoked.rekeyed);
    expect(await net.ok(['stream', 'publish', 'feed', 'five', '--key', 'dev0'])).toContain(
      `group key ${rekeyed.key_id}`,
    );
    const json = (await net.ok(['stream', 'read', 'dev0/feed', '--key', 'dev0', '--json']))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; text?: string });
    expect(json.map((j) => j.text)).toEqual(['hello', 'two', 'three', 'four', 'five']);
    const help = await net.ok(['stream', '--help']);
    for (const c of ['create', 'grant', 'revoke', 'publish', 'read', 'rotate', 'rekey'])
      expect(help).toContain(c);
    const bad = await net.cloister(['stream', 'grant', 'feed', 'dev1', '--key', 'dev0']);
    expect(bad.code).toBe(2);
  }, 300_000);
});
