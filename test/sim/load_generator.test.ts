/**
 * The load generator (sim/load_generator.ts) against a fake network of validators in this process
 * (test/sim/load_fake_network.ts: nothing listens on its ports), and once against one real
 * validator process (RPC port 26760, p2p 27760).
 */

import { afterEach, describe, expect, it } from 'vitest';
import {
  LATENCY_WINDOW,
  LOAD_RATE_MAX,
  type LoadCommit,
  LoadGenerator,
  type LoadGeneratorOptions,
} from '../../sim/load_generator.js';
import { temp_network } from '../network/helpers.js';
import { FakeLoadNetwork } from './load_fake_network.js';

const generators: LoadGenerator[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const g of generators.splice(0)) await g.stop();
  for (const c of cleanups.splice(0)) c();
});

/** A generator on `net`, ticking every 10 ms. */
function generator(net: FakeLoadNetwork, opts: Partial<LoadGeneratorOptions> = {}): LoadGenerator {
  const g = new LoadGenerator({
    urls: () => net.urls(),
    fetch: net.fetch,
    tick_ms: 10,
    stream_retry_ms: 10,
    ...opts,
  });
  generators.push(g);
  return g;
}

/** Resolves with the next `n` commits the generator reports. */
function commits(g: LoadGenerator, n: number): Promise<LoadCommit[]> {
  return new Promise((resolve) => {
    const seen: LoadCommit[] = [];
    const off = g.on_commit((c) => {
      seen.push(c);
      if (seen.length < n) return;
      off();
      resolve(seen);
    });
  });
}

/** Polls `pred` (state inside the generator, which no event announces) until it holds. */
async function eventually(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise((r) => setTimeout(r, 5));
}

const posts = (net: FakeLoadNetwork) => net.requests.filter((r) => r.endsWith('POST /v1/txs')).length;

describe('LoadGenerator: rate and state', () => {
  it('stays idle at rate 0: sends nothing and opens no stream', async () => {
    const net = new FakeLoadNetwork(3);
    const implicit = generator(net);
    const zero = generator(net, { rate: 0 });
    for (const g of [implicit, zero]) {
      expect(g.stats()).toEqual({
        rate: 0,
        state: 'idle',
        submitted: 0,
        committed: 0,
        failed: 0,
        decrypted: 0,
        pending: 0,
        dropped: 0,
        skipped: 0,
        refused: {},
        latency_ms: { p50: null, p99: null },
        height: null,
        watching: null,
      });
    }
    // Nothing announces that nothing happens: five ticks' worth of time.
    await new Promise((r) => setTimeout(r, 50));
    expect(net.requests).toEqual([]);
    expect(implicit.stats().state).toBe('idle');
  });

  it('prepares on the first rate above 0, then runs round-robin over the validators', async () => {
    const net = new FakeLoadNetwork(3);
    net.auto_commit = true;
    const g = generator(net);
    g.set_rate(300);
    expect(g.stats().state).toBe('preparing');
    await g.prepare();
    expect(g.stats().state).toBe('running');
    // A counter and an echo under each envelope scheme, instantiated before any load.
    expect([...net.contracts.values()].map((c) => c.label).sort()).toEqual([
      'counter-gcm',
      'counter-siv',
      'echo-gcm',
      'echo-siv',
    ]);
    const seen = await commits(g, 60);
    for (const c of seen) {
      expect(c.code).toBe(0);
      expect(c.latency_ms).toBeGreaterThanOrEqual(0);
      expect(net.records.get(c.hash)?.code).toBe(0);
    }
    const s = g.stats();
    expect(s.committed).toBeGreaterThanOrEqual(60);
    // Every result opened by its client, echoes answering what they sent.
    expect(s.decrypted).toBe(s.committed);
    expect(s.failed).toBe(0);
    // Sequences reached their validators in order: nothing refused.
    expect(s.refused).toEqual({});
    expect(s.watching).toBe(net.url(0));
    expect(s.height).toBeGreaterThan(4);
    expect(net.taken.every((n) => n >= 10)).toBe(true);
  });

  it('set_rate changes the rate; 0 pauses submission, a rate above 0 resumes it', async () => {
    const net = new FakeLoadNetwork(2);
    net.auto_commit = true;
    const g = generator(net, { rate: 200 });
    await g.prepare();
    await commits(g, 5);
    g.set_rate(20);
    expect(g.stats()).toMatchObject({ rate: 20, state: 'running' });
    g.set_rate(0);
    expect(g.stats()).toMatchObject({ rate: 0, state: 'idle' });
    const sent = posts(net);
    await new Promise((r) => setTimeout(r, 50));
    expect(posts(net)).toBe(sent);
    g.set_rate(0.5);
    expect(g.stats()).toMatchObject({ rate: 0.5, state: 'running' });
    g.set_rate(LOAD_RATE_MAX);
    await net.until(() => posts(net) > sent + 20);
  });

  it('refuses rates outside 0..10000 with a RangeError, and keeps the rate it had', () => {
    const net = new FakeLoadNetwork(1);
    const g = generator(net);
    for (const bad of [-1, -0.001, LOAD_RATE_MAX + 1, Number.NaN, Number.POSITIVE_INFINITY, '5', null]) {
      expect(() => g.set_rate(bad as number), String(bad)).toThrow(RangeError);
      expect(g.stats().rate).toBe(0);
    }
    expect(() => g.set_rate(-1)).toThrow(/from 0 to 10000, not -1/);
    expect(() => new LoadGenerator({ urls: () => [], rate: 20_000 })).toThrow(RangeError);
    expect(() => new LoadGenerator({ urls: () => [], tick_ms: 0 })).toThrow(RangeError);
    expect(() => new LoadGenerator({ urls: 'x' as unknown as () => string[] })).toThrow(TypeError);
    expect(LoadGenerator.RATE_MAX).toBe(LOAD_RATE_MAX);
  });

  it('stop() ends submission and the stream, is idempotent, and refuses a rate afterwards', async () => {
    const net = new FakeLoadNetwork(2);
    net.auto_commit = true;
    const g = generator(net, { rate: 100 });
    await g.prepare();
    await commits(g, 3);
    expect(net.streams_at(0)).toBe(1);
    const first = g.stop();
    expect(g.stop()).toBe(first);
    await first;
    expect(net.streams_at(0) + net.streams_at(1)).toBe(0);
    const requests = net.requests.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(net.requests.length).toBe(requests);
    expect(g.stats()).toMatchObject({ rate: 0, state: 'idle', watching: null });
    expect(() => g.set_rate(5)).toThrow('stopped');
    await expect(g.prepare()).rejects.toThrow('stopped');
  });
});

describe('LoadGenerator: latency', () => {
  it('measures commit observed − submission on its clock, over the last commits', async () => {
    const net = new FakeLoadNetwork(2);
    let clock = 1_000_000;
    const g = generator(net, { now_ms: () => clock });
    const all: LoadCommit[] = [];
    g.on_commit((c) => all.push(c));
    g.set_rate(10);
    await g.prepare();
    // One second later on its clock, ten are due; none commits until the block.
    clock += 1000;
    await net.until(() => net.pending.length === 10);
    clock += 250;
    const ten = commits(g, 10);
    net.commit();
    const seen = await ten;
    expect(seen.map((c) => c.latency_ms)).toEqual(Array(10).fill(250));
    expect(seen.every((c) => c.at_ms === clock)).toBe(true);
    expect(g.stats().latency_ms).toEqual({ p50: 250, p99: 250 });
    // The next ten wait 40 ms: the percentiles cover both.
    clock += 750;
    await net.until(() => net.pending.length === 10);
    clock += 40;
    const next = commits(g, 10);
    net.commit();
    await next;
    expect(g.stats().latency_ms).toEqual({ p50: 250, p99: 250 });
    expect(all.map((c) => c.latency_ms).sort((a, b) => a - b)[9]).toBe(40);
    expect(LATENCY_WINDOW).toBe(1000);
  });

  it('counts a commit announced before its submission was answered', async () => {
    const net = new FakeLoadNetwork(1);
    // The fake commits each submission before it answers it: the tx event comes first.
    net.auto_commit = true;
    const g = generator(net, { rate: 100 });
    await g.prepare();
    await commits(g, 10);
    expect(g.stats().dropped).toBe(0);
  });
});

describe('LoadGenerator: validators that die', () => {
  it('skips a killed validator and keeps going; a restarted one gets load again', async () => {
    const net = new FakeLoadNetwork(3);
    // A block every 20 ms, three clients at 300 tx/s: each has transactions uncommitted at its
    // validator at any time, and a validator killed loses those it took.
    cleanups.push(net.blocks_every(20));
    const g = generator(net, { rate: 300, clients: 3 });
    await g.prepare();
    await commits(g, 10);
    expect(g.stats().watching).toBe(net.url(0));
    // v0 holds the stream: it moves to another validator, and no request goes to v0. It dies
    // with transactions taken and not committed, as v1 has some of its clients.
    await net.until(() => [0, 1].every((i) => net.pending.some((x) => x.via === i)));
    net.kill(0);
    const taken = [...net.taken];
    await commits(g, 60);
    expect(g.stats().watching).toBe(net.url(1));
    expect(net.while_down[0]).toBe(0);
    expect(net.taken[1]! - taken[1]!).toBeGreaterThan(10);
    expect(net.taken[2]! - taken[2]!).toBeGreaterThan(10);
    net.restart(0);
    const back = net.taken[0]!;
    await net.until(() => net.taken[0]! > back + 10);
    await commits(g, 10);
    // Clients that changed validator took fresh keys: no sequence went astray.
    expect(g.stats().refused).toEqual({});
    expect(g.stats().decrypted).toBe(g.stats().committed);
    expect(g.stats().failed).toBe(0);
  });

  it("catches up on blocks committed while it had no stream (its validator's death)", async () => {
    const net = new FakeLoadNetwork(3);
    const g = generator(net, { rate: 100 });
    await g.prepare();
    await net.until(() => net.pending.filter((x) => x.via !== 0).length >= 4);
    // The stream's validator dies (what it took is lost) and a block commits before any other
    // stream is open.
    net.kill(0);
    expect(net.streams_at(1) + net.streams_at(2)).toBe(0);
    const height = net.commit();
    const missed = new Set(net.blocks[height - 1]);
    expect(missed.size).toBeGreaterThanOrEqual(4);
    const found = new Set<string>();
    const all_found = new Promise<void>((resolve) => {
      g.on_commit((c) => {
        if (missed.has(c.hash)) found.add(c.hash);
        if (found.size === missed.size) resolve();
      });
    });
    await all_found;
    expect(net.requests).toContain(`v1 GET /v1/blocks/${height}`);
    expect(g.stats().watching).toBe(net.url(1));
  });

  it('moves on from a stream that shows no block while submissions wait (a paused validator)', async () => {
    const net = new FakeLoadNetwork(3);
    const g = generator(net, { rate: 100, stream_stale_ms: 100, submit_timeout_ms: 200 });
    await g.prepare();
    await net.until(() => net.pending.length >= 3);
    net.pause(0);
    await net.until(() => net.streams_at(1) > 0);
    const height = net.commit();
    const ours = new Set(net.blocks[height - 1]);
    await eventually(() => g.stats().committed >= ours.size);
    net.resume(0);
    expect(g.stats().watching).toBe(net.url(1));
  });

  it('waits while no validator is up, then goes on', async () => {
    const net = new FakeLoadNetwork(2);
    net.auto_commit = true;
    const g = generator(net, { rate: 200 });
    await g.prepare();
    net.kill(0);
    net.kill(1);
    await eventually(() => g.stats().skipped > 5);
    expect(g.stats().watching).toBeNull();
    net.restart(1);
    await commits(g, 10);
    expect(g.stats().watching).toBe(net.url(1));
  });
});

describe('LoadGenerator: refusals and limits', () => {
  it('counts refusals by reason and goes on with fresh keys', async () => {
    const net = new FakeLoadNetwork(2);
    net.auto_commit = true;
    const g = generator(net, { rate: 200 });
    await g.prepare();
    net.refuse_next(3, { status: 503, code: 102, message: 'mempool full' });
    net.refuse_next(2, { status: 400, code: 8, message: 'balance 0 cannot pay the fee' });
    await net.until(() => net.taken[0]! + net.taken[1]! > 40);
    await commits(g, 10);
    const s = g.stats();
    expect(s.refused).toEqual({ 'busy (code 102)': 3, 'insufficient funds or fee (code 8)': 2 });
    expect(s.committed + s.pending + 5).toBe(s.submitted);
  });

  it('fails with a clear reason on a network that charges fees, and tries again at the next rate', async () => {
    const net = new FakeLoadNetwork(2);
    net.min_gas_price = 5;
    const g = generator(net, { rate: 10 });
    await expect(g.prepare()).rejects.toThrow('min_gas_price 5');
    expect(g.stats()).toMatchObject({ state: 'failed', submitted: 0 });
    expect(g.stats().error).toMatch(/charges fees \(min_gas_price 5\).*development network/);
    expect(posts(net)).toBe(0);
    g.set_rate(0);
    expect(g.stats().state).toBe('failed');
    net.min_gas_price = 0;
    g.set_rate(10);
    await g.prepare();
    expect(g.stats().state).toBe('running');
    expect(g.stats().error).toBeUndefined();
  });

  it('fails naming the refusal when an instantiation is refused', async () => {
    const net = new FakeLoadNetwork(1);
    const refusing = (input: string | URL | Request, init?: RequestInit) =>
      String(input).endsWith('/v1/txs?wait=commit')
        ? Promise.resolve(
            new Response(JSON.stringify({ error: { code: 8, message: 'balance 0' } }), { status: 400 }),
          )
        : net.fetch(input, init);
    const g = generator(net, { fetch: refusing });
    g.set_rate(5);
    await expect(g.prepare()).rejects.toThrow(
      'instantiating counter (gcm) was refused: insufficient funds or fee (code 8)',
    );
    expect(g.stats().state).toBe('failed');
  });

  it('prepares again while the rate is above 0 after a failure that may pass (its validator killed mid-way)', async () => {
    const net = new FakeLoadNetwork(2);
    let cut = 1;
    // The first instantiation dies with its validator; the next attempt finds the network whole.
    const flaky = (input: string | URL | Request, init?: RequestInit) =>
      String(input).endsWith('/v1/txs?wait=commit') && cut-- > 0
        ? Promise.reject(new TypeError('fetch failed'))
        : net.fetch(input, init);
    net.auto_commit = true;
    const g = generator(net, { fetch: flaky, prepare_retry_ms: 20 });
    const first = commits(g, 3);
    g.set_rate(50);
    expect((await first).length).toBe(3);
    expect(g.stats()).toMatchObject({ state: 'running' });
    expect(g.stats().error).toBeUndefined();
  });

  it('does not prepare again on a network that cannot take its transactions (fees)', async () => {
    const net = new FakeLoadNetwork(1);
    net.min_gas_price = 5;
    const g = generator(net, { prepare_retry_ms: 5 });
    g.set_rate(10);
    await eventually(() => g.stats().state === 'failed');
    const asked = net.requests.filter((r) => r.endsWith('GET /v1/status')).length;
    // Many retry periods later, nobody asked again.
    await new Promise((r) => setTimeout(r, 100));
    expect(net.requests.filter((r) => r.endsWith('GET /v1/status')).length).toBe(asked);
  });

  it('fails when no validator is up to prepare on', async () => {
    const g = new LoadGenerator({ urls: () => ['', ''], prepare_timeout_ms: 30, stream_retry_ms: 5 });
    generators.push(g);
    g.set_rate(1);
    await expect(g.prepare()).rejects.toThrow('no validator');
    expect(g.stats().state).toBe('failed');
  });

  it('holds at most pending_max submissions: the oldest beyond it is dropped and counted', async () => {
    const net = new FakeLoadNetwork(2);
    const g = generator(net, { rate: 500, pending_max: 5 });
    await g.prepare();
    await net.until(() => net.pending.length >= 20);
    const s = g.stats();
    expect(s.pending).toBeLessThanOrEqual(5);
    expect(s.dropped).toBeGreaterThanOrEqual(15);
    expect(s.pending + s.dropped).toBe(s.submitted);
  });

  it('drops a submission older than pending_timeout_ms', async () => {
    const net = new FakeLoadNetwork(1);
    let clock = 0;
    const g = generator(net, { now_ms: () => clock, pending_timeout_ms: 5000 });
    g.set_rate(5);
    await g.prepare();
    clock += 1000;
    await net.until(() => net.pending.length === 5);
    g.set_rate(0);
    clock += 10_000;
    await eventually(() => g.stats().dropped === 5);
    expect(g.stats().pending).toBe(0);
  });

  it('a listener that throws harms nothing; unsubscribing stops the calls', async () => {
    const net = new FakeLoadNetwork(1);
    net.auto_commit = true;
    const g = generator(net, { rate: 100 });
    let calls = 0;
    const off = g.on_commit(() => {
      calls++;
      throw new Error('listener failure');
    });
    await commits(g, 5);
    off();
    const after = calls;
    await commits(g, 5);
    expect(calls).toBe(after);
    expect(g.stats().committed).toBeGreaterThanOrEqual(10);
  });
});

describe('LoadGenerator against a real validator', () => {
  it('instantiates, sends, and its clients decrypt what commits', async () => {
    const net = await temp_network(26760, [], 1);
    try {
      const g = new LoadGenerator({ urls: () => net.network.urls(), rate: 20 });
      generators.push(g);
      await g.prepare();
      const seen = await commits(g, 15);
      expect(seen.every((c) => c.code === 0)).toBe(true);
      await g.stop();
      const s = g.stats();
      expect(s.decrypted).toBe(s.committed);
      expect(s.refused).toEqual({});
      expect(s.latency_ms.p50).not.toBeNull();
    } finally {
      await net.down();
    }
  }, 120_000);
});
