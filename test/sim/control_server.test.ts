/**
 * The control plane of `sim up` (sim/control_server.ts) against a fake network: the token, each
 * route calling the network's own method, and clear errors; `/load` against a fake load generator
 * and a real one (on the fake validators of test/sim/load_fake_network.ts); the CLI side's
 * parsing, output and control file (client/cli/sim_control.ts); the port check of sim/network.ts.
 */

import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  format_load,
  format_status,
  parse_groups,
  parse_rate,
  read_control,
  SimControlError,
} from '../../client/cli/sim_control.js';
import {
  type ControlledNetwork,
  type ControlServer,
  type ControlStatus,
  describe_groups,
  type LoadControl,
  remove_control_file,
  start_control_server,
  token_matches,
  write_control_file,
} from '../../sim/control_server.js';
import { check_load_rate, LoadGenerator, type LoadStats } from '../../sim/load_generator.js';
import { check_ports_free, partition_problem } from '../../sim/network.js';
import { FakeLoadNetwork } from './load_fake_network.js';

const dir = mkdtempSync(join(tmpdir(), 'cloister-control-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A network of `n` validators in memory that records every call. */
function fake_network(n = 4) {
  const running = new Set(Array.from({ length: n }, (_, i) => i));
  const paused = new Set<number>();
  let groups: number[][] | null = null;
  const calls: string[] = [];
  let fail_start: string | null = null;
  const network: ControlledNetwork = {
    homes: Array.from({ length: n }, (_, i) => `/net/v${i}`),
    urls: () => Array.from({ length: n }, (_, i) => (running.has(i) ? `http://127.0.0.1:${26740 + i}` : '')),
    pid: (i) => (running.has(i) ? 1000 + i : undefined),
    is_running: (i) => running.has(i),
    is_paused: (i) => paused.has(i),
    partition_groups: () => groups,
    kill: async (i, signal) => {
      calls.push(`kill ${i} ${signal}`);
      running.delete(i);
      paused.delete(i);
    },
    start: async (i) => {
      calls.push(`start ${i}`);
      if (fail_start !== null) throw new Error(fail_start);
      running.add(i);
      return `http://127.0.0.1:${26740 + i}`;
    },
    pause: (i) => {
      calls.push(`pause ${i}`);
      paused.add(i);
    },
    resume: async (i) => {
      calls.push(`resume ${i}`);
      paused.delete(i);
    },
    partition: async (g) => {
      calls.push(`partition ${JSON.stringify(g)}`);
      groups = g.map((x) => [...x]);
    },
    heal: async () => {
      calls.push('heal');
      groups = null;
    },
  };
  return {
    network,
    calls,
    failing_start(message: string | null) {
      fail_start = message;
    },
  };
}

/** A control server answer: an action's, or an error. */
interface Answer {
  ok?: boolean;
  message?: string;
  load?: LoadStats;
  error: { code: string; message: string };
}

const servers: ControlServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function serve(n = 4, load?: LoadControl) {
  const fake = fake_network(n);
  let stops = 0;
  const actions: string[] = [];
  const server = await start_control_server({
    network: fake.network,
    token: 'secret-token',
    on_stop: () => {
      stops++;
    },
    on_action: (message) => actions.push(message),
    height: async (url) => Number(url.slice(-1)) * 10,
    ...(load === undefined ? {} : { load }),
  });
  servers.push(server);
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    token: string | null = 'secret-token',
  ) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Answer };
  };
  return { ...fake, server, call, actions, stops: () => stops };
}

/** Load generator numbers, all zero but what `over` says. */
function load_stats(over: Partial<LoadStats> = {}): LoadStats {
  return {
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
    ...over,
  };
}

/** A load generator that records the rates it is set to and checks them as the real one does. */
function fake_load() {
  const rates: number[] = [];
  let refuse: string | null = null;
  const load: LoadControl = {
    set_rate(rate) {
      check_load_rate(rate);
      if (refuse !== null) throw new Error(refuse);
      rates.push(rate);
    },
    stats: () => load_stats({ rate: rates.at(-1) ?? 0, state: (rates.at(-1) ?? 0) > 0 ? 'running' : 'idle' }),
  };
  return {
    load,
    rates,
    refusing(message: string | null) {
      refuse = message;
    },
  };
}

describe('control server: the token', () => {
  it('listens on loopback and answers 401 without the right bearer token, 200 with it', async () => {
    const { server, call } = await serve();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    for (const token of [null, 'wrong', 'secret-token-', 'secret-toke', '']) {
      const r = await call('GET', '/status', undefined, token);
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('unauthorized');
    }
    // Not a bearer token: refused even if the text matches.
    const basic = await fetch(`${server.url}/status`, { headers: { authorization: 'Basic secret-token' } });
    expect(basic.status).toBe(401);
    expect((await call('GET', '/status')).status).toBe(200);
  });

  it('refuses an action with a wrong token without calling the network', async () => {
    const { call, calls, stops } = await serve();
    expect((await call('POST', '/validators/1/kill', undefined, 'nope')).status).toBe(401);
    expect((await call('POST', '/stop', undefined, 'nope')).status).toBe(401);
    expect(calls).toEqual([]);
    expect(stops()).toBe(0);
  });

  it('compares tokens whole, whatever their lengths', () => {
    expect(token_matches('abc', 'abc')).toBe(true);
    expect(token_matches('abd', 'abc')).toBe(false);
    expect(token_matches('ab', 'abc')).toBe(false);
    expect(token_matches('', 'abc')).toBe(false);
  });

  it('listens on loopback only', async () => {
    await expect(
      start_control_server({ network: fake_network().network, host: '0.0.0.0', on_stop: () => {} }),
    ).rejects.toThrow('loopback only');
  });

  it('makes a fresh random token when given none', async () => {
    const a = await start_control_server({ network: fake_network().network, on_stop: () => {} });
    const b = await start_control_server({ network: fake_network().network, on_stop: () => {} });
    servers.push(a, b);
    expect(a.token).toMatch(/^[0-9a-f]{64}$/);
    expect(a.token).not.toBe(b.token);
  });
});

describe('control server: status and actions', () => {
  it('GET /status: each validator with its state, height, pid, URL and group', async () => {
    const { call } = await serve();
    await call('POST', '/validators/3/kill');
    await call('POST', '/validators/1/pause');
    const { status, body } = await call('GET', '/status');
    expect(status).toBe(200);
    const s = body as unknown as ControlStatus;
    expect(s.partition).toBeNull();
    expect(s.validators.map((v) => v.state)).toEqual(['up', 'paused', 'up', 'down']);
    expect(s.validators[0]).toEqual({
      index: 0,
      name: 'v0',
      pid: 1000,
      rpc: 'http://127.0.0.1:26740',
      state: 'up',
      group: null,
      height: 0,
    });
    expect(s.validators[2]!.height).toBe(20);
    // A paused validator is not asked (it would not answer); a down one has no pid or URL.
    expect(s.validators[1]!.height).toBeNull();
    expect(s.validators[3]).toMatchObject({ pid: null, rpc: null, height: null });
    await call('POST', '/validators/1/resume');
    await call('POST', '/partition', { groups: [[0, 1], [2]] });
    const parted = (await call('GET', '/status')).body as unknown as ControlStatus;
    expect(parted.partition).toEqual([[0, 1], [2]]);
    expect(parted.validators.map((v) => v.state)).toEqual([
      'partitioned',
      'partitioned',
      'partitioned',
      'down',
    ]);
    expect(parted.validators.map((v) => v.group)).toEqual([[0, 1], [0, 1], [2], [3]]);
  });

  it('each action calls the network method that applies it, and says what it did', async () => {
    const { call, calls } = await serve();
    const ok = async (path: string, body?: unknown) => {
      const r = await call('POST', path, body);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.ok).toBe(true);
      return r.body.message as string;
    };
    expect(await ok('/validators/2/kill')).toBe('v2 killed (SIGKILL)');
    expect(await ok('/validators/2/restart')).toBe('v2 restarted: http://127.0.0.1:26742 (pid 1002)');
    expect(await ok('/validators/1/pause')).toBe('v1 paused (SIGSTOP)');
    expect(await ok('/validators/1/resume')).toBe('v1 resumed (SIGCONT)');
    expect(
      await ok('/partition', {
        groups: [
          [0, 1],
          [2, 3],
        ],
      }),
    ).toBe('partitioned: [0,1] [2,3]');
    expect(await ok('/heal')).toBe('healed: every validator reaches every other');
    expect(calls).toEqual([
      'kill 2 SIGKILL',
      'start 2',
      'pause 1',
      'resume 1',
      'partition [[0,1],[2,3]]',
      'heal',
    ]);
  });

  it('POST /stop answers first, then calls on_stop once; later actions are refused as stopping', async () => {
    const { call, stops, calls } = await serve();
    const r = await call('POST', '/stop');
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stops()).toBe(1);
    const again = await call('POST', '/stop');
    expect(again.status).toBe(503);
    expect(again.body.error.code).toBe('stopping');
    expect((await call('POST', '/validators/0/kill')).status).toBe(503);
    expect(stops()).toBe(1);
    expect(calls).toEqual([]);
    // Status still answers while it stops.
    expect((await call('GET', '/status')).status).toBe(200);
  });

  it('actions run one at a time, in the order they arrive', async () => {
    const fake = fake_network();
    const order: string[] = [];
    const slow_kill = fake.network.kill;
    fake.network.kill = async (i, signal) => {
      order.push(`kill ${i} begins`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await slow_kill(i, signal);
      order.push(`kill ${i} ends`);
    };
    const slow_start = fake.network.start;
    fake.network.start = async (i) => {
      order.push(`start ${i}`);
      return slow_start(i);
    };
    const server = await start_control_server({ network: fake.network, token: 't', on_stop: () => {} });
    servers.push(server);
    const post = (path: string) =>
      fetch(`${server.url}${path}`, { method: 'POST', headers: { authorization: 'Bearer t' } });
    const [kill, restart] = await Promise.all([post('/validators/2/kill'), post('/validators/2/restart')]);
    expect(kill.status).toBe(200);
    // The restart saw v2 down, because it waited for the kill.
    expect(restart.status).toBe(200);
    expect(order).toEqual(['kill 2 begins', 'kill 2 ends', 'start 2']);
  });
});

describe('control server: errors', () => {
  it('names what is wrong, with a code', async () => {
    const { call, calls, failing_start } = await serve();
    const expect_error = async (
      method: string,
      path: string,
      status: number,
      code: string,
      text: string,
      body?: unknown,
    ) => {
      const r = await call(method, path, body);
      expect(r.status, `${method} ${path}`).toBe(status);
      expect(r.body.error.code).toBe(code);
      expect(r.body.error.message).toContain(text);
    };
    await expect_error(
      'POST',
      '/validators/4/kill',
      404,
      'unknown_validator',
      'no validator 4 (validators 0..3)',
    );
    await expect_error('POST', '/validators/x/kill', 404, 'unknown_validator', 'no validator x');
    await expect_error('POST', '/validators/1/explode', 404, 'not_found', 'no action explode');
    await expect_error('POST', '/validators/0/restart', 409, 'conflict', 'v0 is running: kill it first');
    await expect_error('POST', '/validators/0/resume', 409, 'conflict', 'v0 is not paused');
    await call('POST', '/validators/3/kill');
    await expect_error('POST', '/validators/3/kill', 409, 'conflict', 'v3 is down already');
    await expect_error('POST', '/validators/3/pause', 409, 'conflict', 'v3 is down: nothing to pause');
    await expect_error('POST', '/validators/3/resume', 409, 'conflict', 'v3 is down');
    await call('POST', '/validators/2/pause');
    await expect_error('POST', '/validators/2/pause', 409, 'conflict', 'v2 is paused already');
    await expect_error('POST', '/validators/2/restart', 409, 'conflict', 'v2 is running (paused)');
    await expect_error('POST', '/heal', 409, 'conflict', 'no partition is in force');
    await expect_error('POST', '/partition', 400, 'bad_request', 'non-empty list of groups', {});
    await expect_error('POST', '/partition', 400, 'bad_request', 'not JSON', '{groups');
    await expect_error('POST', '/partition', 400, 'bad_request', 'validator 1 is already in group 0', {
      groups: [
        [0, 1],
        [1, 2],
      ],
    });
    await expect_error('POST', '/partition', 400, 'bad_request', '7 is not a validator (validators 0..3)', {
      groups: [[0], [7]],
    });
    await expect_error('POST', '/partition', 400, 'bad_request', 'one group of every validator', {
      groups: [[0, 1, 2, 3]],
    });
    await expect_error('GET', '/validators/0/kill', 405, 'method_not_allowed', 'takes POST, not GET');
    await expect_error('POST', '/status', 405, 'method_not_allowed', 'takes GET');
    await expect_error('GET', '/nothing', 404, 'not_found', 'no GET /nothing');
    const big = { groups: [[0]], pad: 'x'.repeat(70_000) };
    await expect_error('POST', '/partition', 413, 'too_large', 'larger than', big);
    failing_start('validator 3 exited with code 1 while starting');
    await expect_error('POST', '/validators/3/restart', 500, 'failed', 'exited with code 1 while starting');
    // None of the refused ones reached the network (the failed restart did, and said why).
    expect(calls).toEqual(['kill 3 SIGKILL', 'pause 2', 'start 3']);
  });
});

describe('control server: the load generator', () => {
  it('POST /load sets the rate and answers with the numbers; GET /load and GET /status show them', async () => {
    const fake = fake_load();
    const { call, actions, calls } = await serve(4, fake.load);
    const r = await call('POST', '/load', { rate: 50 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({
      ok: true,
      message: 'load at 50 tx/s',
      load: load_stats({ rate: 50, state: 'running' }),
    });
    expect(fake.rates).toEqual([50]);
    expect(actions).toEqual(['load at 50 tx/s']);
    // Fractions are rates too; 0 pauses.
    expect((await call('POST', '/load', { rate: 0.5 })).body.message).toBe('load at 0.5 tx/s');
    expect((await call('POST', '/load', { rate: 0 })).body.load).toMatchObject({ rate: 0, state: 'idle' });
    expect(fake.rates).toEqual([50, 0.5, 0]);
    const got = await call('GET', '/load');
    expect(got.status).toBe(200);
    expect(got.body).toEqual(load_stats());
    const status = (await call('GET', '/status')).body as unknown as ControlStatus;
    expect(status.load).toEqual(load_stats());
    // Nothing of the network was touched.
    expect(calls).toEqual([]);
  });

  it('GET /status has load null, and /load answers 404, when sim up runs no generator', async () => {
    const { call } = await serve();
    const status = (await call('GET', '/status')).body as unknown as ControlStatus;
    expect(status.load).toBeNull();
    for (const method of ['GET', 'POST']) {
      const r = await call(method, '/load', method === 'POST' ? { rate: 5 } : undefined);
      expect(r.status).toBe(404);
      expect(r.body.error).toEqual({ code: 'not_found', message: 'this sim up runs no load generator' });
    }
  });

  it('refuses a body or rate it does not take, and says which routes exist', async () => {
    const fake = fake_load();
    const { call } = await serve(4, fake.load);
    const refused = async (body: unknown, status: number, code: string, text: string, method = 'POST') => {
      const r = await call(method, '/load', body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.body.error.code).toBe(code);
      expect(r.body.error.message).toContain(text);
    };
    for (const body of [{}, { rate: '5' }, [5], { rates: 5 }, { rate: null }])
      await refused(body, 400, 'bad_request', 'the body must be {"rate": R}');
    await refused(undefined, 400, 'bad_request', 'the body must be {"rate": R}');
    await refused('{rate', 400, 'bad_request', 'not JSON');
    await refused({ rate: -1 }, 400, 'bad_request', 'from 0 to 10000, not -1');
    await refused({ rate: 10_001 }, 400, 'bad_request', 'from 0 to 10000, not 10001');
    await refused(undefined, 405, 'method_not_allowed', '/load takes GET or POST, not DELETE', 'DELETE');
    fake.refusing('the load generator has stopped');
    await refused({ rate: 5 }, 409, 'conflict', 'the load generator has stopped');
    expect(fake.rates).toEqual([]);
    const none = await call('GET', '/nothing');
    expect(none.body.error.message).toBe(
      'no GET /nothing (GET /status, /load; POST /stop, /validators/{i}/{kill|restart|pause|resume}, /partition, /heal, /load)',
    );
    await call('POST', '/stop');
    await refused({ rate: 5 }, 503, 'stopping', 'sim up is stopping');
  });

  it('steers a real load generator: POST /load starts it, status shows it running', async () => {
    const net = new FakeLoadNetwork(2);
    net.auto_commit = true;
    const load = new LoadGenerator({ urls: () => net.urls(), fetch: net.fetch, tick_ms: 10 });
    try {
      const { call } = await serve(2, load);
      expect(((await call('GET', '/status')).body as unknown as ControlStatus).load?.state).toBe('idle');
      const r = await call('POST', '/load', { rate: 200 });
      expect(r.body).toMatchObject({
        ok: true,
        message: 'load at 200 tx/s',
        load: { rate: 200, state: 'preparing' },
      });
      await load.prepare();
      await new Promise<void>((resolve) => {
        const off = load.on_commit(() => {
          off();
          resolve();
        });
      });
      const status = (await call('GET', '/status')).body as unknown as ControlStatus;
      expect(status.load).toMatchObject({ rate: 200, state: 'running', refused: {} });
      expect(status.load!.committed).toBeGreaterThan(0);
      expect((await call('POST', '/load', { rate: 0 })).body.load).toMatchObject({ rate: 0, state: 'idle' });
    } finally {
      await load.stop();
    }
  });
});

describe('partition_problem', () => {
  it('accepts groups that split the network, isolated validators left out', () => {
    expect(
      partition_problem(
        [
          [0, 1],
          [2, 3],
        ],
        4,
      ),
    ).toBeNull();
    expect(partition_problem([[0, 1]], 4)).toBeNull();
    expect(partition_problem([[3], [0]], 4)).toBeNull();
  });
  it('refuses what is not a partition', () => {
    expect(partition_problem([], 4)).toContain('non-empty list of groups');
    expect(partition_problem('0,1', 4)).toContain('non-empty list of groups');
    expect(partition_problem([[0], []], 4)).toBe('group 1 must be a non-empty list of validator indices');
    expect(partition_problem([[0, 1.5]], 4)).toContain('1.5 is not a validator');
    expect(partition_problem([[0, -1]], 4)).toContain('-1 is not a validator');
    expect(partition_problem([[0, 4]], 4)).toContain('4 is not a validator (validators 0..3)');
    expect(
      partition_problem(
        [
          [0, 1],
          [2, 0],
        ],
        4,
      ),
    ).toBe('group 1: validator 0 is already in group 0');
    expect(partition_problem([[0, 1, 2, 3]], 4)).toContain('one group of every validator');
  });
  it('describes groups with the isolated validators alone', () => {
    expect(describe_groups([[0, 1]], 4)).toBe('[0,1] [2] [3]');
  });
});

describe('the CLI side (client/cli/sim_control.ts)', () => {
  it('parses 0,1/2,3 into groups, and refuses anything else as usage', () => {
    expect(parse_groups('0,1/2,3')).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect(parse_groups('2')).toEqual([[2]]);
    expect(parse_groups('0, 1 / 2')).toEqual([[0, 1], [2]]);
    for (const bad of ['', 'a', '0,,1', '0/', '-1', '0;1']) {
      let error: unknown;
      try {
        parse_groups(bad);
      } catch (e) {
        error = e;
      }
      expect(error, bad).toBeInstanceOf(SimControlError);
      expect((error as SimControlError).usage).toBe(true);
    }
  });

  it('prints status as a table', () => {
    const text = format_status({
      partition: [[0, 1]],
      validators: [
        {
          index: 0,
          name: 'v0',
          pid: 12,
          rpc: 'http://127.0.0.1:26740',
          state: 'partitioned',
          group: [0, 1],
          height: 42,
        },
        { index: 1, name: 'v1', pid: null, rpc: null, state: 'down', group: [0, 1], height: null },
      ],
    });
    expect(text.split('\n')).toEqual([
      'validator  state        height  pid  rpc                     group',
      'v0         partitioned  42      12   http://127.0.0.1:26740  0,1',
      'v1         down         -       -    -                       0,1',
    ]);
  });

  it('prints the load generator in one line under the table', () => {
    const busy = load_stats({
      rate: 50,
      state: 'running',
      submitted: 1200,
      committed: 1180,
      failed: 1,
      decrypted: 1179,
      pending: 12,
      dropped: 3,
      refused: { 'busy (code 102)': 4, unreachable: 1 },
      latency_ms: { p50: 41, p99: 180 },
    });
    expect(format_load(busy)).toBe(
      'load running at 50 tx/s: submitted 1200, committed 1180 (1 failed), pending 12, dropped 3, latency p50 41 ms p99 180 ms, refused 5 (4 busy (code 102), 1 unreachable)',
    );
    expect(format_load(load_stats())).toBe(
      'load idle at 0 tx/s: submitted 0, committed 0 (0 failed), pending 0, latency p50 - p99 -, refused 0',
    );
    expect(
      format_load(load_stats({ state: 'failed', rate: 5, skipped: 2, error: 'no validator is up' })),
    ).toBe(
      'load failed at 5 tx/s: submitted 0, committed 0 (0 failed), pending 0, skipped 2, latency p50 - p99 -, refused 0; no validator is up',
    );
    const validators = [
      {
        index: 0,
        name: 'v0',
        pid: 12,
        rpc: 'http://127.0.0.1:26740',
        state: 'up' as const,
        group: null,
        height: 4,
      },
    ];
    expect(format_status({ validators, partition: null, load: load_stats() }).split('\n')).toEqual([
      'validator  state  height  pid  rpc                     group',
      'v0         up     4       12   http://127.0.0.1:26740  -',
      'load idle at 0 tx/s: submitted 0, committed 0 (0 failed), pending 0, latency p50 - p99 -, refused 0',
    ]);
    // No generator, or a sim up older than the load generator: the table alone.
    expect(format_status({ validators, partition: null, load: null }).split('\n')).toHaveLength(2);
    expect(format_status({ validators, partition: null }).split('\n')).toHaveLength(2);
  });

  it('parses the rate of sim load, and refuses anything else as usage', () => {
    expect(parse_rate('50')).toBe(50);
    expect(parse_rate('0')).toBe(0);
    expect(parse_rate(' 0.5 ')).toBe(0.5);
    expect(parse_rate('10000')).toBe(10_000);
    for (const bad of ['', '-1', '10001', 'abc', '1e3', '0x10', '5 tx', 'NaN', 'Infinity']) {
      let error: unknown;
      try {
        parse_rate(bad);
      } catch (e) {
        error = e;
      }
      expect(error, bad).toBeInstanceOf(SimControlError);
      expect((error as SimControlError).usage).toBe(true);
      expect((error as SimControlError).message).toContain('from 0 to 10000');
    }
  });

  it('says when no sim up runs for a folder: no control.json, or one whose pid is gone', () => {
    const none = join(dir, 'none');
    expect(() => read_control(none)).toThrow(`no running \`sim up\` for ${none} (no control.json)`);
    const mk = (sub: string) => {
      const d = join(dir, sub);
      mkdirSync(d, { recursive: true });
      return d;
    };
    const s = mk('stale');
    // A pid above the kernel's pid_max never runs.
    writeFileSync(
      join(s, 'control.json'),
      JSON.stringify({ pid: 2 ** 30, url: 'http://127.0.0.1:1', token: 't' }),
    );
    expect(() => read_control(s)).toThrow(/is stale \(pid 1073741824 is gone\)/);
    const bad = mk('bad');
    writeFileSync(
      join(bad, 'control.json'),
      JSON.stringify({ pid: process.pid, url: 'http://10.0.0.1:80', token: 't' }),
    );
    expect(() => read_control(bad)).toThrow('loopback control server');
    const good = mk('good');
    writeFileSync(
      join(good, 'control.json'),
      JSON.stringify({ pid: process.pid, url: 'http://127.0.0.1:9', token: 't' }),
    );
    expect(read_control(good)).toEqual({ pid: process.pid, url: 'http://127.0.0.1:9', token: 't' });
  });

  it('writes control.json with mode 0600, and removes only its own', () => {
    const d = join(dir, 'own');
    mkdirSync(d, { recursive: true });
    // A file left by an earlier run, readable by all: replaced, not rewritten in place.
    writeFileSync(join(d, 'control.json'), '{}', { mode: 0o644 });
    const path = write_control_file(d, { pid: process.pid, url: 'http://127.0.0.1:9', token: 'mine' });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      pid: process.pid,
      url: 'http://127.0.0.1:9',
      token: 'mine',
    });
    remove_control_file(d, 'theirs');
    expect(statSync(path).isFile()).toBe(true);
    remove_control_file(d, 'mine');
    expect(() => statSync(path)).toThrow();
  });
});

describe('check_ports_free', () => {
  it('names a port in use and what it was for; passes free ones', async () => {
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
    const port = (busy.address() as { port: number }).port;
    try {
      await expect(check_ports_free([{ host: '127.0.0.1', port, what: 'v1 RPC' }])).rejects.toThrow(
        `port ${port} (v1 RPC) is in use`,
      );
    } finally {
      await new Promise<void>((resolve) => busy.close(() => resolve()));
    }
    await expect(check_ports_free([{ host: '127.0.0.1', port, what: 'v1 RPC' }])).resolves.toBeUndefined();
  });
});
