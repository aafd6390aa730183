/**
 * The ABCI socket server (node/abci/server.ts) and its framing (node/abci/codec.ts), driven over
 * real sockets by a small client that encodes `Request`s and decodes `Response`s with cosmjs-types,
 * as CometBFT v0.38's socket client would. TCP ports 28900–28949 only. Nothing here sleeps: every
 * wait is for an event (a response, a log line, a handler call, a socket closing).
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as abci from 'cosmjs-types/tendermint/abci/types';
import {
  Request,
  Response,
  ResponseApplySnapshotChunk_Result,
  ResponseCheckTx,
  ResponseCommit,
  ResponseFinalizeBlock,
  ResponseInfo,
  ResponseInitChain,
  ResponseOfferSnapshot_Result,
  ResponsePrepareProposal,
  ResponseProcessProposal,
  ResponseQuery,
  ResponseVerifyVoteExtension_VerifyStatus,
} from 'cosmjs-types/tendermint/abci/types';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AbciFrameError,
  decode_request,
  encode_frame,
  encode_response,
  FrameReader,
} from '../../node/abci/codec.js';
import {
  type AbciApp,
  AbciServer,
  type AbciServerOptions,
  parse_abci_address,
} from '../../node/abci/server.js';

const HOST = '127.0.0.1';
const text = new TextEncoder();
const untext = new TextDecoder();

/** A promise with its resolve at hand (Promise.withResolvers is Node 22). */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A list that can be awaited: `wait(pred)` resolves with the first entry (past or future) matching. */
class Book<T> {
  readonly entries: T[] = [];
  readonly #waiters: { pred: (e: T) => boolean; resolve: (e: T) => void }[] = [];

  add(entry: T): void {
    this.entries.push(entry);
    for (const w of [...this.#waiters]) {
      if (w.pred(entry)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(entry);
      }
    }
  }

  wait(pred: (e: T) => boolean): Promise<T> {
    const found = this.entries.find(pred);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => this.#waiters.push({ pred, resolve }));
  }
}

type LogLine = { event: string; fields: Record<string, unknown> };

/** An app whose every method answers an empty response, with `over` in place of some. */
function test_app(over: Partial<AbciApp> = {}): AbciApp {
  return {
    info: () => ResponseInfo.fromPartial({}),
    init_chain: () => ResponseInitChain.fromPartial({}),
    query: () => ResponseQuery.fromPartial({}),
    check_tx: () => ResponseCheckTx.fromPartial({}),
    prepare_proposal: (req) => ResponsePrepareProposal.fromPartial({ txs: req.txs }),
    process_proposal: () => ResponseProcessProposal.fromPartial({ status: 1 }),
    finalize_block: () => ResponseFinalizeBlock.fromPartial({}),
    commit: () => ResponseCommit.fromPartial({}),
    ...over,
  };
}

const servers: AbciServer[] = [];
const clients: TestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** Starts a server on `address` with `app`; its log lines go to the returned book. */
async function start(
  address: string,
  app: AbciApp,
  opts: Omit<AbciServerOptions, 'address'> = {},
): Promise<{ server: AbciServer; log: Book<LogLine> }> {
  const log = new Book<LogLine>();
  const server = new AbciServer(
    { address, ...opts },
    { app, log: (event, fields) => log.add({ event, fields }) },
  );
  servers.push(server);
  await server.listen();
  return { server, log };
}

/** CometBFT's side of one connection, reduced: framed Requests out, framed Responses in. */
class TestClient {
  readonly responses: abci.Response[] = [];
  readonly closed: Promise<void>;
  #waiter: { n: number; resolve: () => void } | null = null;
  readonly #reader = new FrameReader(64 * 1024 * 1024);

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#reader.push(chunk);
      for (let frame = this.#reader.next(); frame !== null; frame = this.#reader.next()) {
        this.responses.push(Response.decode(frame));
      }
      if (this.#waiter !== null && this.responses.length >= this.#waiter.n) this.#waiter.resolve();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Connects to a TCP port or a unix socket path. */
  static open(target: number | string): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = typeof target === 'number' ? connect(target, HOST) : connect(target);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        const client = new TestClient(socket);
        clients.push(client);
        resolve(client);
      });
    });
  }

  /** Sends the requests in one write. */
  send(...requests: abci.Request[]): void {
    this.socket.write(Buffer.concat(requests.map((r) => encode_frame(Request.encode(r).finish()))));
  }

  /** Resolves once `n` responses in all have come; rejects if the connection closes first. */
  async until(n: number): Promise<abci.Response[]> {
    if (this.responses.length < n) {
      const enough = new Promise<void>((resolve) => {
        this.#waiter = { n, resolve };
      });
      const gone = this.closed.then(() => {
        throw new Error(`connection closed after ${this.responses.length} of ${n} responses`);
      });
      await Promise.race([enough, gone]);
    }
    return this.responses.slice(0, n);
  }
}

const echo = (message: string) => Request.fromPartial({ echo: { message } });
const flush = () => Request.fromPartial({ flush: {} });
const check_tx = (tx: string) => Request.fromPartial({ checkTx: { tx: text.encode(tx) } });

describe('codec: CometBFT v0.38 framing (uvarint length ‖ protobuf)', () => {
  it('prefixes the length as an unsigned LEB128 varint', () => {
    expect([...encode_frame(new Uint8Array(0))]).toEqual([0x00]);
    expect([...encode_frame(new Uint8Array(127)).subarray(0, 1)]).toEqual([0x7f]);
    expect([...encode_frame(new Uint8Array(128)).subarray(0, 2)]).toEqual([0x80, 0x01]);
    expect([...encode_frame(new Uint8Array(300)).subarray(0, 2)]).toEqual([0xac, 0x02]);
    const big = encode_frame(new Uint8Array(2_097_152));
    expect([...big.subarray(0, 4)]).toEqual([0x80, 0x80, 0x80, 0x01]);
    expect(big.length).toBe(2_097_156);
  });

  it('frames Request{echo:"hello"} as CometBFT does, and uses v0.38 field numbers', () => {
    const frame = encode_frame(Request.encode(echo('hello')).finish());
    expect([...frame]).toEqual([0x09, 0x0a, 0x07, 0x0a, 0x05, ...text.encode('hello')]);
    // Request.finalize_block = 20 (tag 0xa2 0x01), Response.finalize_block = 21 (0xaa 0x01).
    expect(decode_request(Uint8Array.of(0xa2, 0x01, 0x00)).finalizeBlock).toBeDefined();
    expect(decode_request(Uint8Array.of(0x92, 0x01, 0x00)).extendVote).toBeDefined();
    expect(decode_request(Uint8Array.of(0x9a, 0x01, 0x00)).verifyVoteExtension).toBeDefined();
    const fin = encode_response({ finalizeBlock: ResponseFinalizeBlock.fromPartial({}) });
    expect([...fin]).toEqual([0xaa, 0x01, 0x00]);
    expect([...encode_response({ exception: { error: 'x' } })]).toEqual([0x0a, 0x03, 0x0a, 0x01, 0x78]);
  });

  it('reads frames pushed a byte at a time, and several in one chunk', () => {
    const payloads = [new Uint8Array(0), text.encode('a'), new Uint8Array(200).fill(7)];
    const stream = Buffer.concat(payloads.map((p) => encode_frame(p)));
    const reader = new FrameReader(1000);
    const got: Buffer[] = [];
    for (const byte of stream) {
      reader.push(Buffer.of(byte));
      for (let f = reader.next(); f !== null; f = reader.next()) got.push(f);
    }
    expect(got.map((f) => [...f])).toEqual(payloads.map((p) => [...p]));
    expect(reader.buffered_bytes).toBe(0);
    const whole = new FrameReader(1000);
    whole.push(stream);
    expect([whole.next()?.length, whole.next()?.length, whole.next()?.length, whole.next()]).toEqual([
      0,
      1,
      200,
      null,
    ]);
  });

  it('refuses a length over the limit before its payload, and a varint that overflows', () => {
    const reader = new FrameReader(1000);
    reader.push(encode_frame(new Uint8Array(1000)).subarray(0, 2));
    expect(reader.next()).toBeNull();
    const over = new FrameReader(1000);
    over.push(encode_frame(new Uint8Array(1001)).subarray(0, 2));
    expect(() => over.next()).toThrow(expect.objectContaining({ code: 'too_large' }));
    const long = new FrameReader(1000);
    long.push(Buffer.alloc(9, 0xff));
    expect(long.next()).toBeNull();
    long.push(Buffer.of(0xff));
    expect(() => long.next()).toThrow(AbciFrameError);
    const overflow = new FrameReader(1000);
    overflow.push(Buffer.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02));
    expect(() => overflow.next()).toThrow(expect.objectContaining({ code: 'bad_varint' }));
    expect(() => decode_request(Uint8Array.of(0x0a, 0x05, 0x01))).toThrow(
      expect.objectContaining({ code: 'bad_protobuf' }),
    );
  });
});

describe('parse_abci_address', () => {
  it('reads proxy_app addresses and refuses others', () => {
    expect(parse_abci_address('tcp://127.0.0.1:26658')).toEqual({
      kind: 'tcp',
      host: '127.0.0.1',
      port: 26658,
    });
    expect(parse_abci_address('tcp://[::1]:1')).toEqual({ kind: 'tcp', host: '::1', port: 1 });
    expect(parse_abci_address('unix:///run/app.sock')).toEqual({ kind: 'unix', path: '/run/app.sock' });
    for (const bad of ['127.0.0.1:26658', 'tcp://host:70000', 'unix://rel.sock', 'grpc://x:1', 'tcp://h']) {
      expect(() => parse_abci_address(bad)).toThrow(RangeError);
    }
    expect(
      () =>
        new AbciServer({ address: 'tcp://127.0.0.1:1', frame_bytes_max: 0 }, { app: test_app(), log() {} }),
    ).toThrow(RangeError);
  });
});

describe('AbciServer', () => {
  it('answers Echo, Info and Flush in order, with the request as the app saw it', async () => {
    const seen: abci.RequestInfo[] = [];
    const app_hash = Uint8Array.of(1, 2, 3);
    const app = test_app({
      info: (req) => {
        seen.push(req);
        return ResponseInfo.fromPartial({
          data: 'cloister',
          lastBlockHeight: 7n,
          lastBlockAppHash: app_hash,
        });
      },
    });
    const { log } = await start('tcp://127.0.0.1:28900', app);
    const client = await TestClient.open(28900);
    client.send(
      echo('hi'),
      Request.fromPartial({
        info: { version: '0.38.17', blockVersion: 11n, p2pVersion: 8n, abciVersion: '2.0.0' },
      }),
      flush(),
    );
    const [e, i, f] = await client.until(3);
    expect(e).toEqual(Response.fromPartial({ echo: { message: 'hi' } }));
    expect(i?.info?.data).toBe('cloister');
    expect(i?.info?.lastBlockHeight).toBe(7n);
    expect([...(i?.info?.lastBlockAppHash ?? [])]).toEqual([1, 2, 3]);
    expect(f?.flush).toEqual({});
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      version: '0.38.17',
      blockVersion: 11n,
      p2pVersion: 8n,
      abciVersion: '2.0.0',
    });
    expect((await log.wait((l) => l.event === 'abci_listening')).fields.address).toBe(
      'tcp://127.0.0.1:28900',
    );
  });

  it('handles one request at a time per connection; connections do not wait on each other', async () => {
    const slow = deferred<void>();
    const slow_called = deferred<void>();
    const calls: string[] = [];
    const app = test_app({
      check_tx: async (req) => {
        const tx = untext.decode(req.tx);
        calls.push(tx);
        if (tx === 'slow') {
          slow_called.resolve();
          await slow.promise;
        }
        return ResponseCheckTx.fromPartial({ code: tx === 'slow' ? 1 : 2, data: req.tx });
      },
    });
    await start('tcp://127.0.0.1:28901', app);
    const a = await TestClient.open(28901);
    const b = await TestClient.open(28901);
    a.send(check_tx('slow'));
    await slow_called.promise;
    // The fast request comes while the slow one is in the app.
    a.send(check_tx('fast'), flush());
    // Connection b is served while a waits on its slow handler.
    b.send(check_tx('b'), flush());
    const [bt, bf] = await b.until(2);
    expect(bt?.checkTx?.code).toBe(2);
    expect(bf?.flush).toEqual({});
    // a's later, fast request has not overtaken the slow one: not even handled yet.
    expect(calls).toEqual(['slow', 'b']);
    expect(a.responses).toHaveLength(0);
    slow.resolve();
    const [first, second, third] = await a.until(3);
    expect([first?.checkTx?.code, untext.decode(first?.checkTx?.data)]).toEqual([1, 'slow']);
    expect([second?.checkTx?.code, untext.decode(second?.checkTx?.data)]).toEqual([2, 'fast']);
    expect(third?.flush).toEqual({});
    expect(calls).toEqual(['slow', 'b', 'fast']);
  });

  it('answers a run of CheckTx (sync and async handlers mixed) and the Flush after it in order', async () => {
    const count = 1000;
    const app = test_app({
      check_tx: (req) => {
        const i = Number(untext.decode(req.tx));
        const res = ResponseCheckTx.fromPartial({ code: i % 7, data: req.tx, gasWanted: BigInt(i) });
        return i % 2 === 0 ? new Promise((resolve) => setImmediate(() => resolve(res))) : res;
      },
    });
    await start('tcp://127.0.0.1:28902', app);
    const client = await TestClient.open(28902);
    client.send(...Array.from({ length: count }, (_, i) => check_tx(String(i))), flush());
    const responses = await client.until(count + 1);
    responses.slice(0, count).forEach((r, i) => {
      expect([r.checkTx?.code, untext.decode(r.checkTx?.data), r.checkTx?.gasWanted]).toEqual([
        i % 7,
        String(i),
        BigInt(i),
      ]);
    });
    expect(responses[count]?.flush).toEqual({});
  });

  it('keeps order when the app falls behind the reads, and through large write batches', async () => {
    const hold = deferred<void>();
    const first = deferred<void>();
    const calls: number[] = [];
    const app = test_app({
      check_tx: async (req) => {
        const i = Number(untext.decode(req.tx));
        calls.push(i);
        if (i === 0) {
          first.resolve();
          await hold.promise;
        }
        return ResponseCheckTx.fromPartial({ code: i % 5, data: req.tx });
      },
    });
    // A 1000-byte frame limit: the 2000 requests held behind the first (~20 kB) pass the point
    // where the server stops reading, which must resume once the app catches up. Then 9 MB of
    // echoes: several write batches, in order.
    await start('tcp://127.0.0.1:28910', app, { frame_bytes_max: 1000 });
    const client = await TestClient.open(28910);
    const count = 2000;
    client.send(...Array.from({ length: count }, (_, i) => check_tx(String(i))), flush());
    await first.promise;
    hold.resolve();
    const answered = await client.until(count + 1);
    expect(answered.slice(0, count).map((r) => untext.decode(r.checkTx?.data))).toEqual(
      Array.from({ length: count }, (_, i) => String(i)),
    );
    expect(calls).toEqual(Array.from({ length: count }, (_, i) => i));
    const big = 'e'.repeat(900);
    client.send(...Array.from({ length: 10_000 }, (_, i) => echo(`${i}${big}`)), flush());
    const echoes = (await client.until(count + 1 + 10_001)).slice(count + 1);
    expect(echoes.slice(0, 10_000).every((r, i) => r.echo?.message === `${i}${big}`)).toBe(true);
    expect(echoes[10_000]?.flush).toEqual({});
  });

  it('answers a throwing or rejecting handler, or an unknown request, with an exception and serves on', async () => {
    const app = test_app({
      query: (req) => {
        if (req.path === 'throw') throw new Error('boom');
        return Promise.reject(new Error('async boom'));
      },
    });
    const { log } = await start('tcp://127.0.0.1:28903', app);
    const client = await TestClient.open(28903);
    client.send(
      Request.fromPartial({ query: { path: 'throw' } }),
      Request.fromPartial({ query: { path: 'reject' } }),
      echo('still here'),
      flush(),
    );
    const [thrown, rejected, after, f] = await client.until(4);
    expect(thrown).toEqual(Response.fromPartial({ exception: { error: 'boom' } }));
    expect(rejected).toEqual(Response.fromPartial({ exception: { error: 'async boom' } }));
    expect(after?.echo?.message).toBe('still here');
    expect(f?.flush).toEqual({});
    const logged = await log.wait((l) => l.event === 'abci_exception');
    expect(logged.fields).toMatchObject({ request: 'query', error: 'boom' });
    // An empty Request, and one with only SetOption's retired field 4: no method this server knows.
    client.socket.write(
      Buffer.concat([encode_frame(new Uint8Array(0)), encode_frame(Uint8Array.of(0x22, 0x00))]),
    );
    client.send(echo('and still'));
    const [, , , , empty, retired, last] = await client.until(7);
    expect(empty?.exception?.error).toMatch(/unknown request/);
    expect(retired?.exception?.error).toMatch(/unknown request/);
    expect(last?.echo?.message).toBe('and still');
  });

  it('answers a response that does not encode with an exception', async () => {
    // The app breaks its type: a partial response (no fromPartial), which the encoder cannot read.
    const bad = { code: 3 } as unknown as abci.ResponseCheckTx;
    await start('tcp://127.0.0.1:28904', test_app({ check_tx: () => bad }));
    const client = await TestClient.open(28904);
    client.send(check_tx('t'), echo('ok'), flush());
    const [r, e] = await client.until(3);
    expect(r?.exception?.error).toMatch(/undefined/);
    expect(e?.echo?.message).toBe('ok');
  });

  it('closes only the connection that sends an oversize frame or garbage', async () => {
    const { log } = await start('tcp://127.0.0.1:28905', test_app(), { frame_bytes_max: 1000 });
    const good = await TestClient.open(28905);
    // A request of exactly the limit is served.
    const at_limit = Array.from({ length: 50 }, (_, n) => check_tx('x'.repeat(980 + n))).find(
      (r) => Request.encode(r).finish().length === 1000,
    )!;
    good.send(at_limit, flush());
    expect((await good.until(2))[0]?.checkTx).toBeDefined();

    const cases: Array<[string, Buffer]> = [
      // The length alone, no payload: refused before the payload comes.
      ['too_large', encode_frame(new Uint8Array(1001)).subarray(0, 2)],
      ['bad_varint', Buffer.alloc(11, 0xff)],
      ['bad_protobuf', encode_frame(Uint8Array.of(0x0a, 0x05, 0x01))],
    ];
    for (const [code, bytes] of cases) {
      const bad = await TestClient.open(28905);
      bad.socket.write(bytes);
      await bad.closed;
      expect(
        (await log.wait((l) => l.event === 'abci_frame_error' && l.fields.code === code)).fields.code,
      ).toBe(code);
    }
    good.send(echo('alive'), flush());
    expect((await good.until(4))[2]?.echo?.message).toBe('alive');
    const fresh = await TestClient.open(28905);
    fresh.send(echo('new'), flush());
    expect((await fresh.until(2))[0]?.echo?.message).toBe('new');
  });

  it('answers vote extensions as absent and snapshots as none, unless the app serves them', async () => {
    await start('tcp://127.0.0.1:28906', test_app());
    const client = await TestClient.open(28906);
    client.send(
      Request.fromPartial({ extendVote: { height: 5n, txs: [text.encode('t')] } }),
      Request.fromPartial({ verifyVoteExtension: { height: 5n, voteExtension: text.encode('v') } }),
      Request.fromPartial({ listSnapshots: {} }),
      Request.fromPartial({ offerSnapshot: { snapshot: { height: 9n, format: 1 } } }),
      Request.fromPartial({ loadSnapshotChunk: { height: 9n, format: 1, chunk: 0 } }),
      Request.fromPartial({ applySnapshotChunk: { index: 0, chunk: text.encode('c') } }),
      flush(),
    );
    const [ev, vv, ls, os, lc, ac] = await client.until(7);
    expect(ev?.extendVote?.voteExtension).toEqual(new Uint8Array(0));
    expect(vv?.verifyVoteExtension?.status).toBe(ResponseVerifyVoteExtension_VerifyStatus.ACCEPT);
    expect(ls?.listSnapshots?.snapshots).toEqual([]);
    expect(os?.offerSnapshot?.result).toBe(ResponseOfferSnapshot_Result.ABORT);
    expect(lc?.loadSnapshotChunk?.chunk).toEqual(new Uint8Array(0));
    expect(ac?.applySnapshotChunk?.result).toBe(ResponseApplySnapshotChunk_Result.ABORT);

    const snapshot = {
      height: 4n,
      format: 2,
      chunks: 1,
      hash: Uint8Array.of(9),
      metadata: new Uint8Array(0),
    };
    await start(
      'tcp://127.0.0.1:28907',
      test_app({
        list_snapshots: () => ({ snapshots: [snapshot] }),
        offer_snapshot: () => ({ result: ResponseOfferSnapshot_Result.ACCEPT }),
      }),
    );
    const served = await TestClient.open(28907);
    served.send(
      Request.fromPartial({ listSnapshots: {} }),
      Request.fromPartial({ offerSnapshot: {} }),
      flush(),
    );
    const [list, offer] = await served.until(3);
    expect(list?.listSnapshots?.snapshots).toEqual([snapshot]);
    expect(offer?.offerSnapshot?.result).toBe(ResponseOfferSnapshot_Result.ACCEPT);
  });

  it('serves a unix socket (mode 0600), replacing a stale socket file and refusing a served or plain one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'abci-'));
    try {
      const path = join(dir, 'abci.sock');
      // A socket file left by a process that is gone.
      const child = spawnSync(process.execPath, [
        '-e',
        `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`,
      ]);
      expect(child.status).toBe(0);
      expect(statSync(path).isSocket()).toBe(true);
      const { server } = await start(`unix://${path}`, test_app());
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const client = await TestClient.open(path);
      client.send(echo('over unix'), flush());
      expect((await client.until(2))[0]?.echo?.message).toBe('over unix');

      const second = new AbciServer({ address: `unix://${path}` }, { app: test_app(), log() {} });
      await expect(second.listen()).rejects.toThrow(/another process serves/);
      await server.close();
      expect(existsSync(path)).toBe(false);

      const plain = join(dir, 'plain');
      writeFileSync(plain, 'not a socket');
      const third = new AbciServer({ address: `unix://${plain}` }, { app: test_app(), log() {} });
      await expect(third.listen()).rejects.toThrow(/is not a socket/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses connections past connections_max', async () => {
    const { log } = await start('tcp://127.0.0.1:28908', test_app(), { connections_max: 2 });
    const a = await TestClient.open(28908);
    const b = await TestClient.open(28908);
    a.send(echo('a'), flush());
    b.send(echo('b'), flush());
    await Promise.all([a.until(2), b.until(2)]);
    const c = await TestClient.open(28908);
    await c.closed;
    expect((await log.wait((l) => l.event === 'abci_connection_refused')).fields.connections_max).toBe(2);
    expect(c.responses).toHaveLength(0);
  });

  it('close() closes open connections, even with a handler in progress, and stops accepting', async () => {
    const hold = deferred<void>();
    const called = deferred<void>();
    const app = test_app({
      finalize_block: async () => {
        called.resolve();
        await hold.promise;
        return ResponseFinalizeBlock.fromPartial({ appHash: Uint8Array.of(1) });
      },
    });
    const { server, log } = await start('tcp://127.0.0.1:28909', app);
    const busy = await TestClient.open(28909);
    const idle = await TestClient.open(28909);
    idle.send(echo('x'), flush());
    await idle.until(2);
    busy.send(Request.fromPartial({ finalizeBlock: { height: 1n } }), flush());
    await called.promise;
    await server.close();
    await Promise.all([busy.closed, idle.closed]);
    expect(busy.responses).toHaveLength(0);
    await log.wait((l) => l.event === 'abci_closed');
    // The handler finishing after the close goes nowhere, and throws nothing.
    hold.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    await expect(TestClient.open(28909)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(server.listen()).rejects.toThrow(/listens once/);
  });
});
