/**
 * The transport over real sockets on 127.0.0.1. Listeners bind port 0: each transport starts with
 * no peers, and once every port is known the test calls `add_peer` on each. Nothing here sleeps:
 * every wait is for an event (a log line, a peer event, a message, a socket closing).
 */

import { createHmac } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encode_frame, FrameDecoder } from '../../node/p2p/framing.js';
import {
  Transport,
  TransportError,
  type TransportErrorCode,
  type TransportOptions,
} from '../../node/p2p/transport.js';
import {
  body_text,
  encode_session_frame,
  FRAME_TAG_BYTES,
  type FrameKind,
  frame_text,
  type Hello,
  hello_sign_bytes,
  open_session_frame,
  session_id,
  session_keys,
  verify_signature_hex,
} from '../../node/p2p/wire.js';
import { from_hex, to_hex, utf8 } from '../../protocol/bytes.js';
import { jcs } from '../../protocol/jcs.js';
import { get_provider } from '../../protocol/providers/index.js';

const p = get_provider('native');
const CHAIN = 'cloister-p2p-test';
const HOST = '127.0.0.1';

const BASE: Omit<TransportOptions, 'peers' | 'listen_port'> = {
  chain_id: CHAIN,
  listen_host: HOST,
  frame_bytes_max: 64 * 1024,
  send_queue_frames_max: 64,
  handshake_timeout_ms: 5_000,
  connect_timeout_ms: 5_000,
  reconnect_min_ms: 20,
  reconnect_max_ms: 200,
  request_timeout_ms: 5_000,
};

/** A list that can be awaited: `wait(pred)` resolves with the first entry (past or future) matching. */
class Book<T> {
  readonly entries: T[] = [];
  readonly #waiters: { pred: (e: T) => boolean; from: number; resolve: (e: T) => void }[] = [];

  add(entry: T): void {
    this.entries.push(entry);
    const index = this.entries.length - 1;
    for (const w of [...this.#waiters]) {
      if (index >= w.from && w.pred(entry)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(entry);
      }
    }
  }

  /** The first entry at index ≥ `from` matching `pred`. */
  wait(pred: (e: T) => boolean, from = 0): Promise<T> {
    const found = this.entries.slice(from).find(pred);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => this.#waiters.push({ pred, from, resolve }));
  }

  /** The `n`th entry (0-based) matching `pred`. */
  async nth(pred: (e: T) => boolean, n: number): Promise<T> {
    let from = 0;
    for (;;) {
      const entry = await this.wait(pred, from);
      from = this.entries.indexOf(entry) + 1;
      if (this.entries.filter(pred).indexOf(entry) === n) return entry;
    }
  }
}

interface Key {
  sk: Uint8Array;
  pubkey: string;
  signer: { pubkey: string; sign(m: Uint8Array): Uint8Array };
}

let key_counter = 0;

/** `n` fresh keys, sorted by public key (so `[0]` dials everyone else). */
function make_keys(n: number): Key[] {
  const out: Key[] = [];
  for (let i = 0; i < n; i++) {
    const sk = p.sha256(utf8(`p2p-test-key-${key_counter++}`));
    const pubkey = to_hex(p.ed25519_public(sk));
    out.push({ sk, pubkey, signer: { pubkey, sign: (m) => p.ed25519_sign(sk, m) } });
  }
  return out.sort((a, b) => (a.pubkey < b.pubkey ? -1 : 1));
}

interface LogEntry {
  event: string;
  fields: Record<string, unknown>;
}

interface PeerEvent {
  pubkey: string;
  connected: boolean;
}

interface Message {
  from: string;
  body: unknown;
}

interface TestNode {
  key: Key;
  t: Transport;
  port: number;
  logs: Book<LogEntry>;
  peers: Book<PeerEvent>;
  inbox: Book<Message>;
}

const live_transports: Transport[] = [];
const live_sockets: Socket[] = [];

afterEach(async () => {
  for (const s of live_sockets.splice(0)) s.destroy();
  await Promise.all(live_transports.splice(0).map((t) => t.stop()));
});

async function start_node(key: Key, overrides: Partial<TransportOptions> = {}): Promise<TestNode> {
  const logs = new Book<LogEntry>();
  const peers = new Book<PeerEvent>();
  const inbox = new Book<Message>();
  const t = new Transport(
    { ...BASE, listen_port: 0, peers: [], ...overrides },
    { p, signer: key.signer, log: (event, fields) => logs.add({ event, fields }) },
  );
  live_transports.push(t);
  t.on_peer((pubkey, connected) => peers.add({ pubkey, connected }));
  t.on_message((from, body) => inbox.add({ from, body }));
  const { port } = await t.start();
  return { key, t, port, logs, peers, inbox };
}

function address(node: TestNode) {
  return { pubkey: node.key.pubkey, host: HOST, port: node.port };
}

/** Resolves once `a` has an authenticated connection to `b` (at once if it has one now). */
function linked(a: TestNode, b: TestNode | Key): Promise<unknown> {
  const pubkey = 'pubkey' in b ? b.pubkey : b.key.pubkey;
  if (a.t.connected_peers().includes(pubkey)) return Promise.resolve();
  return a.peers.wait((e) => e.pubkey === pubkey && e.connected, a.peers.entries.length);
}

/** The next on_peer event for `pubkey` with `connected`, from now on. */
function next_peer_event(node: TestNode, pubkey: string, connected: boolean): Promise<PeerEvent> {
  return node.peers.wait((e) => e.pubkey === pubkey && e.connected === connected, node.peers.entries.length);
}

/** `n` transports, all listing each other, all connected. */
async function network(n: number, overrides: Partial<TransportOptions> = {}): Promise<TestNode[]> {
  const nodes = await Promise.all(make_keys(n).map((k) => start_node(k, overrides)));
  for (const a of nodes) for (const b of nodes) if (a !== b) a.t.add_peer(address(b));
  await Promise.all(nodes.flatMap((a) => nodes.filter((b) => b !== a).map((b) => linked(a, b))));
  return nodes;
}

function log_with(node: TestNode, event: string, reason: string | RegExp): Promise<LogEntry> {
  return node.logs.wait(
    (e) =>
      e.event === event &&
      (typeof reason === 'string'
        ? e.fields['reason'] === reason
        : typeof e.fields['reason'] === 'string' && reason.test(e.fields['reason'])),
  );
}

async function expect_code(promise: Promise<unknown>, code: TransportErrorCode): Promise<TransportError> {
  const err = await promise.then(
    () => {
      throw new Error(`expected TransportError ${code}, got a result`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TransportError);
  expect((err as TransportError).code).toBe(code);
  return err as TransportError;
}

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** What a raw peer's hello says beyond its key and chain; each field can be overridden to misbehave. */
interface HelloFields {
  nonce?: string;
  ephemeral?: string;
}

/**
 * A hand-driven peer over a raw socket: it speaks the protocol from docs/p2p.md step by step, so
 * tests can complete a real handshake and then misbehave.
 */
class RawPeer {
  /** Every frame payload received, in order (handshake frames are JSON, session frames tag ‖ text). */
  readonly frames = new Book<Buffer>();
  readonly closed: Promise<void>;
  session = '';
  /** MAC key of the frames this peer (the dialer) sends, and of the ones it receives. */
  send_key: Uint8Array = new Uint8Array(0);
  recv_key: Uint8Array = new Uint8Array(0);
  #ended = false;

  private constructor(readonly socket: Socket) {
    const decoder = new FrameDecoder(1 << 20);
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      for (let f = decoder.next(); f !== null; f = decoder.next()) this.frames.add(f);
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#ended = true;
        resolve();
      }),
    );
  }

  static async connect(port: number): Promise<RawPeer> {
    const socket = connect({ host: HOST, port });
    live_sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawPeer(socket);
  }

  get ended(): boolean {
    return this.#ended;
  }

  write_json(value: unknown): void {
    this.socket.write(encode_frame(jcs(value)));
  }

  /** The `n`th frame payload received, or null if the connection closes first. */
  async payload(n: number): Promise<Buffer | null> {
    return Promise.race([this.frames.nth(() => true, n), this.closed.then(() => null)]);
  }

  /** The `n`th frame received, parsed as a JSON handshake message, or null if the connection closes first. */
  async frame(n: number): Promise<unknown> {
    const payload = await this.payload(n);
    return payload === null ? null : (JSON.parse(payload.toString('utf8')) as unknown);
  }

  /** The `n`th frame received as a session frame: its tag checked under `recv_key`, its text parsed. */
  async session_frame(n: number): Promise<unknown> {
    const payload = await this.payload(n);
    if (payload === null) return null;
    const text = open_session_frame(p, this.recv_key, payload);
    if (typeof text === 'string') throw new Error(`session frame ${n}: ${text}`);
    return JSON.parse(Buffer.from(text).toString('utf8')) as unknown;
  }

  /** A fresh hello as `key`: its nonce, ephemeral secret and the message itself. */
  static hello(key: Key, chain = CHAIN, fields: HelloFields = {}) {
    const nonce = fields.nonce ?? to_hex(p.sha256(utf8(`nonce-${key_counter++}`)));
    const secret = p.x25519_secret(p.sha256(utf8(`ephemeral-${key_counter++}`)));
    const ephemeral = fields.ephemeral ?? to_hex(secret.public_key);
    return { nonce, secret, message: { chain_id: chain, pubkey: key.pubkey, nonce, ephemeral } };
  }

  /** Runs both handshake steps as `key` (the dialer) towards `server`. Returns the server's hello. */
  async handshake(key: Key, server: string, chain = CHAIN): Promise<Hello> {
    const own = RawPeer.hello(key, chain);
    this.write_json(own.message);
    const hello = (await this.frame(0)) as Hello | null;
    if (hello === null) throw new Error('closed before the hello');
    expect(Object.keys(hello).sort()).toEqual(['chain_id', 'ephemeral', 'nonce', 'pubkey']);
    const sig = p.ed25519_sign(
      key.sk,
      hello_sign_bytes(chain, key.pubkey, server, hello.nonce, own.message.ephemeral),
    );
    this.write_json({ signature: to_hex(sig) });
    const auth = (await this.frame(1)) as { signature: string } | null;
    if (auth === null) throw new Error('closed before the signature');
    expect(
      verify_signature_hex(
        p,
        auth.signature,
        hello_sign_bytes(chain, server, key.pubkey, own.nonce, hello.ephemeral),
        server,
      ),
    ).toBe(true);
    this.session = session_id(p, {
      chain_id: chain,
      dialer: key.pubkey,
      acceptor: server,
      dialer_nonce: own.nonce,
      acceptor_nonce: hello.nonce,
      dialer_ephemeral: own.message.ephemeral,
      acceptor_ephemeral: hello.ephemeral,
    });
    const shared = own.secret.shared(from_hex(hello.ephemeral, 32));
    if (shared === null) throw new Error('the server sent a small-order ephemeral key');
    const keys = session_keys(p, shared, this.session);
    this.send_key = keys.dialer_to_acceptor;
    this.recv_key = keys.acceptor_to_dialer;
    return hello;
  }

  /** A MAC'd session frame; `wire_body` (if given) replaces the body after the tag is made. */
  frame_bytes(seq: number, kind: FrameKind, id: number | null, body: unknown, wire_body?: unknown): Buffer {
    const honest = encode_session_frame(p, this.send_key, frame_text(seq, kind, id, body_text(body)));
    if (wire_body === undefined) return honest;
    const tag = honest.subarray(4, 4 + FRAME_TAG_BYTES);
    const text = Buffer.from(frame_text(seq, kind, id, body_text(wire_body)), 'utf8');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(tag.length + text.length, 0);
    return Buffer.concat([header, tag, text]);
  }
}

/** `u32_be(length) ‖ payload`. */
function encode_frame_bytes(payload: Uint8Array): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length, 0);
  return Buffer.concat([header, payload]);
}

/** A session frame of arbitrary text bytes (not necessarily UTF-8) under `key`. */
function encode_session_frame_raw(key: Uint8Array, text: Uint8Array): Buffer {
  return encode_frame_bytes(Buffer.concat([createHmac('sha256', key).update(text).digest(), text]));
}

/** A transport (the higher key) listing a lower key, and a raw peer connected to it as that key. */
async function raw_pair(overrides: Partial<TransportOptions> = {}) {
  const [raw_key, node_key] = make_keys(2) as [Key, Key];
  const node = await start_node(node_key, overrides);
  // Port 1 is never dialed: the node has the higher key, so it only accepts from this peer.
  node.t.add_peer({ pubkey: raw_key.pubkey, host: HOST, port: 1 });
  const raw = await RawPeer.connect(node.port);
  return { node, raw, raw_key };
}

describe('Transport over TCP', { timeout: 20_000 }, () => {
  it('connects four transports that broadcast, send and request', async () => {
    const nodes = await network(4);
    const [a, b, c, d] = nodes as [TestNode, TestNode, TestNode, TestNode];
    for (const n of nodes) {
      expect(n.t.connected_peers()).toEqual(
        nodes
          .filter((m) => m !== n)
          .map((m) => m.key.pubkey)
          .sort(),
      );
    }
    a.t.broadcast({ hello: 'all', n: [1, 2.5, null] });
    for (const n of [b, c, d]) {
      const m = await n.inbox.wait(() => true);
      expect(m).toEqual({ from: a.key.pubkey, body: { hello: 'all', n: [1, 2.5, null] } });
    }
    expect(d.t.send(b.key.pubkey, 'just b')).toBe(true);
    expect(await b.inbox.wait((m) => m.from === d.key.pubkey)).toEqual({
      from: d.key.pubkey,
      body: 'just b',
    });
    expect(c.inbox.entries.some((m) => m.body === 'just b')).toBe(false);

    for (const n of nodes) n.t.on_request(async (from, body) => ({ by: n.key.pubkey, from, body }));
    // Both directions of one link, and every pair.
    for (const x of nodes) {
      for (const y of nodes) {
        if (x === y) continue;
        expect(await x.t.request(y.key.pubkey, { q: 'é😀' })).toEqual({
          by: y.key.pubkey,
          from: x.key.pubkey,
          body: { q: 'é😀' },
        });
      }
    }
    const up = a.logs.entries.filter((e) => e.event === 'p2p.peer_up');
    expect(up.length).toBe(3);
    // Logs carry shortened keys, never bodies.
    expect(JSON.stringify(a.logs.entries)).not.toContain('just b');
    expect(JSON.stringify(b.logs.entries)).not.toContain('hello');
  });

  it('refuses a key it does not list, without signing for it', async () => {
    const [stranger, node_key] = make_keys(2) as [Key, Key];
    const node = await start_node(node_key);
    const raw = await RawPeer.connect(node.port);
    raw.write_json(RawPeer.hello(stranger).message);
    await raw.closed;
    await log_with(node, 'p2p.handshake_failed', 'unknown key');
    // Only the node's hello came back: no signature over the stranger's challenge.
    expect(raw.frames.entries.length).toBe(1);

    // A transport dialing with a key the other does not list never connects either.
    const other = await start_node(stranger);
    other.t.add_peer(address(node));
    await node.logs.nth((e) => e.event === 'p2p.handshake_failed' && e.fields['reason'] === 'unknown key', 1);
    expect(other.t.connected_peers()).toEqual([]);
    expect(node.t.connected_peers()).toEqual([]);
  });

  it('refuses a wrong chain id', async () => {
    const { node, raw, raw_key } = await raw_pair();
    raw.write_json(RawPeer.hello(raw_key, 'other-chain').message);
    await raw.closed;
    await log_with(node, 'p2p.handshake_failed', 'wrong chain id');
    expect(raw.frames.entries.length).toBe(1);

    const [a_key, b_key] = make_keys(2) as [Key, Key];
    const a = await start_node(a_key);
    const b = await start_node(b_key, { chain_id: 'other-chain' });
    a.t.add_peer(address(b));
    b.t.add_peer(address(a));
    // Each side refuses the other's hello; whichever reads it first logs the chain id.
    await Promise.race([
      log_with(a, 'p2p.handshake_failed', 'wrong chain id'),
      log_with(b, 'p2p.handshake_failed', 'wrong chain id'),
    ]);
    expect(a.peers.entries).toEqual([]);
    expect(b.peers.entries).toEqual([]);
  });

  it('refuses a bad handshake signature, the wrong direction and a silent stranger', async () => {
    const { node, raw, raw_key } = await raw_pair();
    const own = RawPeer.hello(raw_key, CHAIN, { nonce: 'ef'.repeat(32) });
    raw.write_json(own.message);
    await raw.frame(1);
    // Signed, but over a nonce that is not the node's challenge.
    const sig = p.ed25519_sign(
      raw_key.sk,
      hello_sign_bytes(CHAIN, raw_key.pubkey, node.key.pubkey, 'ef'.repeat(32), own.message.ephemeral),
    );
    raw.write_json({ signature: to_hex(sig) });
    await raw.closed;
    await log_with(node, 'p2p.handshake_failed', 'bad handshake signature');

    // A listed key that is higher than the node's must be dialed, not dial.
    let higher = make_keys(1)[0]!;
    while (higher.pubkey < node.key.pubkey) higher = make_keys(1)[0]!;
    node.t.add_peer({ pubkey: higher.pubkey, host: HOST, port: 1 });
    const wrong_way = await RawPeer.connect(node.port);
    wrong_way.write_json(RawPeer.hello(higher).message);
    await wrong_way.closed;
    await log_with(node, 'p2p.handshake_failed', 'wrong direction: the lower key dials');
    expect(wrong_way.frames.entries.length).toBe(1);

    // A separate node with a short deadline, so a slow machine cannot turn the cases above into timeouts.
    const hasty = await start_node(make_keys(1)[0]!, { handshake_timeout_ms: 100 });
    const silent = await RawPeer.connect(hasty.port);
    await silent.closed;
    await log_with(hasty, 'p2p.handshake_failed', 'handshake timeout');

    const oversize = await RawPeer.connect(node.port);
    oversize.socket.write(Buffer.from([0, 0, 0x08, 0x00]));
    await oversize.closed;
    await log_with(node, 'p2p.handshake_failed', /^frame of 2048 bytes exceeds/);
    expect(node.peers.entries).toEqual([]);
  });

  it('refuses a hello without a usable ephemeral key, without signing anything', async () => {
    const { node, raw_key } = await raw_pair();
    const { nonce } = RawPeer.hello(raw_key);
    const cases: [unknown, string][] = [
      [
        { chain_id: CHAIN, pubkey: raw_key.pubkey, nonce },
        'hello must be exactly {chain_id, pubkey, nonce, ephemeral}',
      ],
      [
        RawPeer.hello(raw_key, CHAIN, { ephemeral: 'AB'.repeat(32) }).message,
        'hello has a malformed ephemeral key',
      ],
      [
        RawPeer.hello(raw_key, CHAIN, { ephemeral: 'ab'.repeat(31) }).message,
        'hello has a malformed ephemeral key',
      ],
      [
        RawPeer.hello(raw_key, CHAIN, { ephemeral: '00'.repeat(32) }).message,
        'hello has a small-order ephemeral key',
      ],
      // u = 1 is a point of order 4; with the top bit set it is the same point (RFC 7748 §5).
      [
        RawPeer.hello(raw_key, CHAIN, { ephemeral: `01${'00'.repeat(30)}80` }).message,
        'hello has a small-order ephemeral key',
      ],
    ];
    for (const [hello, reason] of cases) {
      const raw = await RawPeer.connect(node.port);
      raw.write_json(hello);
      await raw.closed;
      await log_with(node, 'p2p.handshake_failed', reason);
      // Only the node's hello came back: no signature.
      expect(raw.frames.entries.length).toBe(1);
    }
    expect(node.peers.entries).toEqual([]);
  });

  it('refuses a handshake signature over another ephemeral key or in the v1 form', async () => {
    const { node, raw_key } = await raw_pair();
    const other = RawPeer.hello(raw_key).message.ephemeral;
    const sign_bytes: ((hello: Hello, own: ReturnType<typeof RawPeer.hello>) => Uint8Array)[] = [
      // What a relay that swapped our ephemeral key for its own would need us to have signed.
      (hello) => hello_sign_bytes(CHAIN, raw_key.pubkey, node.key.pubkey, hello.nonce, other),
      (hello) =>
        utf8(
          `cloister/p2p/hello/v1\n${jcs({ chain_id: CHAIN, from: raw_key.pubkey, to: node.key.pubkey, nonce: hello.nonce })}`,
        ),
    ];
    for (const bytes of sign_bytes) {
      const raw = await RawPeer.connect(node.port);
      const own = RawPeer.hello(raw_key);
      raw.write_json(own.message);
      const hello = (await raw.frame(0)) as Hello;
      await raw.frame(1);
      raw.write_json({ signature: to_hex(p.ed25519_sign(raw_key.sk, bytes(hello, own))) });
      await raw.closed;
      await node.logs.nth(
        (e) => e.event === 'p2p.handshake_failed' && e.fields['reason'] === 'bad handshake signature',
        sign_bytes.indexOf(bytes),
      );
    }
    expect(node.peers.entries).toEqual([]);
  });

  it('closes the link on a tampered frame, a replayed or reordered seq, or a replay from an old session', async () => {
    const { node, raw, raw_key } = await raw_pair();
    const who = raw_key.pubkey;
    await raw.handshake(raw_key, node.key.pubkey);
    await linked(node, raw_key);
    const first = raw.frame_bytes(1, 'msg', null, { n: 1 });
    raw.socket.write(first);
    expect(await node.inbox.wait((m) => m.from === who)).toEqual({ from: who, body: { n: 1 } });
    // Tampered: MAC'd { n: 2 }, carries { n: 3 }.
    const down = next_peer_event(node, who, false);
    raw.socket.write(raw.frame_bytes(2, 'msg', null, { n: 2 }, { n: 3 }));
    await raw.closed;
    await down;
    await log_with(node, 'p2p.peer_down', 'bad frame mac');
    expect(node.inbox.entries.length).toBe(1);

    // Within one session: the same frame twice.
    const again = await RawPeer.connect(node.port);
    await again.handshake(raw_key, node.key.pubkey);
    again.socket.write(again.frame_bytes(1, 'msg', null, 'once'));
    again.socket.write(again.frame_bytes(1, 'msg', null, 'once'));
    await again.closed;
    await log_with(node, 'p2p.peer_down', 'frame seq 1 where 2 was due');

    // Reordered: seq 2 before seq 1.
    const reorder = await RawPeer.connect(node.port);
    await reorder.handshake(raw_key, node.key.pubkey);
    reorder.socket.write(reorder.frame_bytes(2, 'msg', null, 'second'));
    await reorder.closed;
    await log_with(node, 'p2p.peer_down', 'frame seq 2 where 1 was due');

    // Across sessions: a valid seq-1 frame of the first session, replayed into a new one.
    const later = await RawPeer.connect(node.port);
    await later.handshake(raw_key, node.key.pubkey);
    later.socket.write(first);
    await later.closed;
    await node.logs.nth((e) => e.event === 'p2p.peer_down' && e.fields['reason'] === 'bad frame mac', 1);
    expect(node.inbox.entries.map((m) => m.body)).toEqual([{ n: 1 }, 'once']);
  });

  it('refuses its own frames reflected back at it', async () => {
    const { node, raw, raw_key } = await raw_pair();
    await raw.handshake(raw_key, node.key.pubkey);
    await linked(node, raw_key);
    expect(node.t.send(raw_key.pubkey, 'echo me')).toBe(true);
    // A valid frame of this session (seq 1, the number the node expects next from its peer) …
    expect(await raw.session_frame(2)).toEqual({ seq: 1, kind: 'msg', id: null, body: 'echo me' });
    const payload = raw.frames.entries[2]!;
    const header = Buffer.alloc(4);
    header.writeUInt32BE(payload.length, 0);
    // … but MAC'd with the node's sending key, which is never the key it accepts with.
    raw.socket.write(Buffer.concat([header, payload]));
    await raw.closed;
    await log_with(node, 'p2p.peer_down', 'bad frame mac');
    expect(node.inbox.entries).toEqual([]);
  });

  it('checks a frame with a valid tag for its text, shape, seq and body', async () => {
    const { node, raw_key } = await raw_pair();
    const cases: [string | ((peer: RawPeer) => Buffer), string][] = [
      ['{"seq":1,"kind":"msg","id":null,"body":', 'frame is not UTF-8 JSON'],
      ['{"seq":1,"kind":"msg","id":null,"body":0,"x":1}', 'frame must be exactly {seq, kind, id, body}'],
      ['{"seq":1,"kind":"msg","id":null,"body":1e999}', 'frame body has no canonical form'],
      ['{"seq":1,"kind":"msg","id":null,"body":"\\ud800"}', 'frame body has no canonical form'],
      ['{"seq":1,"kind":"msg","id":7,"body":0}', 'msg frame must have a null id'],
      ['{"seq":1,"kind":"ping","id":null,"body":0}', 'ping frame must have a null body'],
      ['{}', 'session frame of 34 bytes is too short'],
      [
        (peer) => {
          const frame = encode_session_frame(p, peer.send_key, '{"seq":1,"kind":"msg","id":null,"body":"é"}');
          // Invalid UTF-8 (a lone continuation byte) under a tag that matches it.
          const text = Buffer.from(frame.subarray(4 + FRAME_TAG_BYTES));
          text[text.length - 4] = 0x80;
          return encode_session_frame_raw(peer.send_key, text);
        },
        'frame is not UTF-8 JSON',
      ],
    ];
    for (const [text, reason] of cases) {
      const peer = await RawPeer.connect(node.port);
      await peer.handshake(raw_key, node.key.pubkey);
      peer.socket.write(typeof text === 'string' ? encode_session_frame(p, peer.send_key, text) : text(peer));
      await peer.closed;
      await log_with(node, 'p2p.peer_down', reason);
    }
    expect(node.inbox.entries).toEqual([]);
  });

  it('closes the link on an oversize frame and on silence', async () => {
    const { node, raw, raw_key } = await raw_pair({ ping_interval_ms: 20, idle_timeout_ms: 100 });
    await raw.handshake(raw_key, node.key.pubkey);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(BASE.frame_bytes_max + 1, 0);
    raw.socket.write(header);
    await raw.closed;
    await log_with(
      node,
      'p2p.peer_down',
      `frame of ${BASE.frame_bytes_max + 1} bytes exceeds the limit of ${BASE.frame_bytes_max} bytes`,
    );

    // A peer that completes the handshake and then says nothing (a dead host) is dropped.
    const mute = await RawPeer.connect(node.port);
    await mute.handshake(raw_key, node.key.pubkey);
    await mute.closed;
    await log_with(node, 'p2p.peer_down', 'nothing received for 100 ms');
    // It was pinged meanwhile, with frames that match the documented bytes.
    const ping = mute.frames.entries[2]!;
    const text = '{"seq":1,"kind":"ping","id":null,"body":null}';
    expect(ping.subarray(FRAME_TAG_BYTES).toString('utf8')).toBe(text);
    expect(to_hex(ping.subarray(0, FRAME_TAG_BYTES))).toBe(
      createHmac('sha256', mute.recv_key).update(text).digest('hex'),
    );
  });

  it('times a request out, passes remote errors on, and refuses bodies over the limit', async () => {
    const [a, b] = (await network(2)) as [TestNode, TestNode];
    const to_b = b.key.pubkey;
    b.t.on_request((_from, body) => {
      if (body === 'hang') return new Promise(() => {});
      if (body === 'throw') throw new Error('handler says no');
      if (body === 'big') return Promise.resolve('x'.repeat(BASE.frame_bytes_max));
      if (body === 'void') return Promise.resolve(undefined);
      return Promise.reject(new Error('rejected'));
    });
    const err = await expect_code(a.t.request(to_b, 'hang', 50), 'TIMEOUT');
    expect(err.message).toContain('50 ms');
    expect((await expect_code(a.t.request(to_b, 'throw'), 'REMOTE_ERROR')).message).toContain(
      'handler says no',
    );
    expect((await expect_code(a.t.request(to_b, 'other'), 'REMOTE_ERROR')).message).toContain('rejected');
    expect((await expect_code(a.t.request(to_b, 'big'), 'REMOTE_ERROR')).message).toContain(
      'response too large',
    );
    expect(await a.t.request(to_b, 'void')).toBe(null);
    // No handler on a: the request is answered with an error rather than left to time out.
    expect((await expect_code(b.t.request(a.key.pubkey, 'q'), 'REMOTE_ERROR')).message).toContain(
      'no request handler',
    );

    const too_big = 'y'.repeat(BASE.frame_bytes_max);
    expect(() => a.t.send(to_b, too_big)).toThrow(TransportError);
    expect(() => a.t.broadcast(too_big)).toThrow(TransportError);
    await expect_code(a.t.request(to_b, too_big), 'TOO_LARGE');
    expect(() => a.t.send(to_b, undefined)).toThrow(TypeError);
    expect(() => a.t.send(to_b, { f: () => 1 })).toThrow(TypeError);
    expect(() => a.t.send('nope', 1)).toThrow(TypeError);
    expect(() => a.t.request(to_b, 1, 0)).toThrow(RangeError);
    // The link survived all of it.
    expect(a.t.connected_peers()).toEqual([to_b]);
  });

  it('rejects pending requests and reports the peer down when a peer stops; CLOSED when we stop', async () => {
    const [a, b, c] = (await network(3)) as [TestNode, TestNode, TestNode];
    const received = deferred();
    b.t.on_request(() => {
      received.resolve();
      return new Promise(() => {});
    });
    const pending = a.t.request(b.key.pubkey, 'wait for me');
    await received.promise;
    const down = next_peer_event(a, b.key.pubkey, false);
    await b.t.stop();
    await expect_code(pending, 'NOT_CONNECTED');
    await down;
    await log_with(a, 'p2p.peer_down', /.+/);
    expect(a.t.connected_peers()).toEqual([c.key.pubkey]);
    expect(a.t.send(b.key.pubkey, 'gone')).toBe(false);
    await expect_code(a.t.request(b.key.pubkey, 'gone'), 'NOT_CONNECTED');

    const c_received = deferred();
    c.t.on_request(() => {
      c_received.resolve();
      return new Promise(() => {});
    });
    const ours = a.t.request(c.key.pubkey, 'wait');
    await c_received.promise;
    const c_down = next_peer_event(c, a.key.pubkey, false);
    await a.t.stop();
    await expect_code(ours, 'CLOSED');
    await c_down;
    await expect_code(a.t.request(c.key.pubkey, 'after'), 'CLOSED');
    expect(a.logs.entries.at(-1)?.event).toBe('p2p.stop');
  });

  it('reconnects by itself when a peer restarts on the same port, either side', async () => {
    const [lo, hi] = (await network(2)) as [TestNode, TestNode];
    // hi accepts; lo dials. Restart hi: lo must redial on its own.
    const hi_down = next_peer_event(lo, hi.key.pubkey, false);
    await hi.t.stop();
    await hi_down;
    const lo_up = next_peer_event(lo, hi.key.pubkey, true);
    const hi2 = await start_node(hi.key, { listen_port: hi.port });
    expect(hi2.port).toBe(hi.port);
    hi2.t.add_peer(address(lo));
    await lo_up;
    await linked(hi2, lo);
    hi2.t.on_request(async (_from, body) => ({ hi2: body }));
    expect(await lo.t.request(hi.key.pubkey, 1)).toEqual({ hi2: 1 });

    // Restart lo (the dialer): it dials again when it starts; hi2 takes the new connection.
    const lo_down = next_peer_event(hi2, lo.key.pubkey, false);
    await lo.t.stop();
    await lo_down;
    const hi2_up = next_peer_event(hi2, lo.key.pubkey, true);
    const lo2 = await start_node(lo.key, { listen_port: lo.port, peers: [address(hi2)] });
    await hi2_up;
    await linked(lo2, hi2);
    expect(await lo2.t.request(hi.key.pubkey, 2)).toEqual({ hi2: 2 });
    expect(lo.logs.entries.some((e) => e.event === 'p2p.peer_down')).toBe(true);
  });

  it('keeps only the newest connection when the dialer comes back before its old link is seen to die', async () => {
    const { node, raw, raw_key } = await raw_pair();
    await raw.handshake(raw_key, node.key.pubkey);
    await linked(node, raw_key);
    const down = next_peer_event(node, raw_key.pubkey, false);
    const up = next_peer_event(node, raw_key.pubkey, true);
    // A second, complete handshake with the same key while the first socket is still open.
    const second = await RawPeer.connect(node.port);
    await second.handshake(raw_key, node.key.pubkey);
    await raw.closed;
    await down;
    await up;
    await log_with(node, 'p2p.peer_down', 'replaced by a newer connection');
    second.socket.write(second.frame_bytes(1, 'msg', null, 'via the new link'));
    expect((await node.inbox.wait(() => true)).body).toBe('via the new link');
    expect(second.ended).toBe(false);
  });

  it('drops frames the outgoing filter refuses', async () => {
    const [a, b, c] = (await network(3)) as [TestNode, TestNode, TestNode];
    a.t.set_outgoing_filter((to, body) => !(to === b.key.pubkey || body === 'to nobody'));
    a.t.broadcast('first');
    expect(await c.inbox.wait((m) => m.from === a.key.pubkey)).toEqual({ from: a.key.pubkey, body: 'first' });
    // A filtered send still reports success: the silent node believes it spoke.
    expect(a.t.send(b.key.pubkey, 'filtered send')).toBe(true);
    expect(a.t.send(c.key.pubkey, 'to nobody')).toBe(true);
    c.t.on_request(async () => 'c answers');
    b.t.on_request(async () => 'b answers');
    await expect_code(a.t.request(b.key.pubkey, 'q', 100), 'TIMEOUT');
    a.t.set_outgoing_filter(null);
    a.t.broadcast('second');
    // TCP keeps order, so if b's first message from a is 'second', everything before was dropped.
    expect((await b.inbox.wait((m) => m.from === a.key.pubkey)).body).toBe('second');
    expect((await c.inbox.nth((m) => m.from === a.key.pubkey, 1)).body).toBe('second');
    expect(await a.t.request(b.key.pubkey, 'q')).toBe('b answers');

    // Responses are filtered too: c goes silent, so a's request to c times out.
    c.t.set_outgoing_filter(() => false);
    await expect_code(a.t.request(c.key.pubkey, 'q', 100), 'TIMEOUT');
    // A throwing filter drops (fails closed) and is logged.
    c.t.set_outgoing_filter(() => {
      throw new Error('broken filter');
    });
    expect(c.t.send(a.key.pubkey, 'x')).toBe(true);
    await log_with(c, 'p2p.filter_error', 'broken filter');
  });

  it('drops frames for a peer whose queue is full instead of growing it', async () => {
    const [a, b] = (await network(2, { send_queue_frames_max: 8 })) as [TestNode, TestNode];
    const to_b = b.key.pubkey;
    // Writes complete asynchronously, so within one synchronous loop the queue only fills.
    const sent = Array.from({ length: 100 }, (_, i) => a.t.send(to_b, i));
    expect(sent.filter(Boolean).length).toBe(8);
    expect(sent.slice(0, 8).every(Boolean)).toBe(true);
    expect(a.t.queue_depth(to_b)).toBe(8);
    await expect_code(a.t.request(to_b, 'no room'), 'BUSY');
    await a.t.drained(to_b);
    expect(a.t.queue_depth(to_b)).toBe(0);
    expect((await a.logs.wait((e) => e.event === 'p2p.queue_full')).fields['queue_frames']).toBe(8);
    expect(a.logs.entries.find((e) => e.event === 'p2p.queue_drained')?.fields['dropped_frames']).toBe(93);
    expect(a.t.send(to_b, 'after')).toBe(true);
    const ninth = await b.inbox.nth(() => true, 8);
    expect(ninth.body).toBe('after');
    expect(b.inbox.entries.map((m) => m.body)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 'after']);
  });

  it('bounds the queue in bytes too, always letting one frame into an empty queue', async () => {
    const [a, b] = (await network(2, { send_queue_bytes_max: 10_000 })) as [TestNode, TestNode];
    const to_b = b.key.pubkey;
    const body = 'q'.repeat(3_000);
    // Each frame is at most 4 + 3002 + 256 bytes: three fit in 10 000 bytes, a fourth does not.
    const sent = Array.from({ length: 20 }, () => a.t.send(to_b, body));
    expect(sent.filter(Boolean).length).toBe(3);
    expect(a.t.queue_bytes(to_b)).toBeLessThanOrEqual(10_000);
    await a.t.drained(to_b);
    expect(a.t.queue_bytes(to_b)).toBe(0);
    // Larger than the byte limit but within frame_bytes_max: it goes when the queue is empty.
    expect(a.t.send(to_b, 'w'.repeat(20_000))).toBe(true);
    expect(a.t.send(to_b, 'w')).toBe(false);
    expect((await b.inbox.nth(() => true, 3)).body).toBe('w'.repeat(20_000));
  });

  it('bounds the queue to a peer that stops reading', async () => {
    const { node, raw, raw_key } = await raw_pair({ send_queue_frames_max: 16 });
    await raw.handshake(raw_key, node.key.pubkey);
    await linked(node, raw_key);
    raw.socket.pause();
    const chunk = 'z'.repeat(60 * 1024);
    let accepted = 0;
    let refused = 0;
    let max_depth = 0;
    // Until the OS buffers are full every frame goes through; after that the queue must stay at
    // its limit however long we keep sending.
    for (let i = 0; i < 4000 && refused < 200; i++) {
      if (node.t.send(raw_key.pubkey, chunk)) accepted++;
      else refused++;
      max_depth = Math.max(max_depth, node.t.queue_depth(raw_key.pubkey));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    expect(refused).toBe(200);
    expect(accepted).toBeGreaterThan(16);
    expect(max_depth).toBe(16);
    expect(node.t.queue_depth(raw_key.pubkey)).toBe(16);
    expect(node.logs.entries.filter((e) => e.event === 'p2p.queue_full').length).toBe(1);
    expect(node.t.connected_peers()).toEqual([raw_key.pubkey]);
  });

  it('checks its options and arguments', () => {
    const [k] = make_keys(1) as [Key];
    const make = (o: Partial<TransportOptions>, signer: unknown = k.signer) =>
      new Transport({ ...BASE, listen_port: 0, peers: [], ...o }, { p, signer: signer as Key['signer'] });
    expect(() => make({ chain_id: 'bad chain' })).toThrow(TypeError);
    expect(() => make({ frame_bytes_max: 10 })).toThrow(RangeError);
    expect(() => make({ send_queue_frames_max: 0 })).toThrow(RangeError);
    expect(() => make({ send_queue_bytes_max: 0 })).toThrow(RangeError);
    expect(() => make({ ping_interval_ms: 1000, idle_timeout_ms: 1500 })).toThrow(RangeError);
    expect(() => make({ handshake_timeout_ms: 1.5 })).toThrow(RangeError);
    expect(() => make({ reconnect_min_ms: 500, reconnect_max_ms: 100 })).toThrow(RangeError);
    expect(() => make({ listen_port: 70000 })).toThrow(RangeError);
    expect(() => make({ connect_timeout_ms: '5' as unknown as number })).toThrow(TypeError);
    expect(() => make({ peers: [{ pubkey: 'AB', host: HOST, port: 1 }] })).toThrow(TypeError);
    expect(() => make({ peers: [{ pubkey: k.pubkey, host: HOST, port: 0 }] })).toThrow(RangeError);
    const other = 'c'.repeat(64);
    expect(() =>
      make({
        peers: [
          { pubkey: other, host: HOST, port: 1 },
          { pubkey: other, host: HOST, port: 2 },
        ],
      }),
    ).toThrow(RangeError);
    expect(() => make({}, { pubkey: 'x', sign: () => new Uint8Array(64) })).toThrow(TypeError);
    // Its own key in the list is ignored, so a node may be given the whole validator set.
    const t = make({ peers: [{ pubkey: k.pubkey, host: HOST, port: 1 }] });
    expect(t.connected_peers()).toEqual([]);
    expect(t.send(other, 1)).toBe(false);
  });
});

describe('Transport lifecycle', { timeout: 20_000 }, () => {
  it('remove_peer drops the link and refuses the peer until it is added again', async () => {
    const [lo, hi] = (await network(2)) as [TestNode, TestNode];
    const hi_sees_down = next_peer_event(hi, lo.key.pubkey, false);
    const lo_sees_down = next_peer_event(lo, hi.key.pubkey, false);
    hi.t.remove_peer(lo.key.pubkey);
    await hi_sees_down;
    await lo_sees_down;
    // lo still lists hi and redials; hi no longer knows lo's key.
    await log_with(hi, 'p2p.handshake_failed', 'unknown key');
    expect(hi.t.connected_peers()).toEqual([]);
    hi.t.add_peer(address(lo));
    await linked(lo, hi);
    await linked(hi, lo);
  });

  it('stop during start leaves nothing listening, and a stopped transport cannot start again', async () => {
    const [k] = make_keys(1) as [Key];
    const t = new Transport({ ...BASE, listen_port: 0, peers: [] }, { p, signer: k.signer });
    const started = t.start();
    await t.stop();
    await expect_code(started, 'CLOSED');
    await expect(t.start()).rejects.toThrow(/stopped/);
    await t.stop();
  });
});
