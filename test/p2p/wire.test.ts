import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encode_frame, FrameDecoder, FrameTooLargeError } from '../../node/p2p/framing.js';
import {
  body_fault,
  body_text,
  encode_session_frame,
  FRAME_OVERHEAD_BYTES_MAX,
  FRAME_TAG_BYTES,
  FRAME_TEXT_BYTES_MIN,
  type FrameKind,
  frame_tag,
  frame_text,
  hello_sign_bytes,
  mac_key,
  open_session_frame,
  parse_frame,
  parse_hello,
  parse_hello_auth,
  type SessionParams,
  session_id,
  session_keys,
} from '../../node/p2p/wire.js';
import { from_hex, to_hex, utf8 } from '../../protocol/bytes.js';
import { jcs } from '../../protocol/jcs.js';
import { get_provider } from '../../protocol/providers/index.js';

const p = get_provider('native');
const noble = get_provider('noble');
const KEY_A = 'a'.repeat(64);
const KEY_B = 'b'.repeat(64);
const EPH_C = 'c'.repeat(64);
const EPH_D = 'd'.repeat(64);
const NONCE = '0123456789abcdef'.repeat(4);
const SIG = 'f'.repeat(128);

const BODIES: unknown[] = [
  null,
  true,
  0,
  -0,
  -1.5e-7,
  1e21,
  'text with "quotes", \\ and \u2028 and 😀',
  [],
  { z: 1, a: [1, { y: null, b: 'é' }], '': {} },
  { '\u00e9': 1, e: 2, E: 3 },
  Object.assign(Object.create(null) as object, { k: [true] }),
];

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const node_sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());
const node_hmac = (k: Uint8Array, b: Uint8Array) =>
  new Uint8Array(createHmac('sha256', k).update(b).digest());

function nested(levels: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

describe('p2p handshake bytes and session keys', () => {
  it('hello bytes are the documented prefix and JCS object, v2 with the signer ephemeral', () => {
    const bytes = hello_sign_bytes('chain-1', KEY_A, KEY_B, NONCE, EPH_C);
    // JCS sorts the names: chain_id, ephemeral, from, nonce, to.
    const literal = `cloister/p2p/hello/v2\n{"chain_id":"chain-1","ephemeral":"${EPH_C}","from":"${KEY_A}","nonce":"${NONCE}","to":"${KEY_B}"}`;
    expect(Buffer.from(bytes).toString('utf8')).toBe(literal);
    // Every input is in the bytes.
    const variants = [
      hello_sign_bytes('chain-2', KEY_A, KEY_B, NONCE, EPH_C),
      hello_sign_bytes('chain-1', KEY_B, KEY_A, NONCE, EPH_C),
      hello_sign_bytes('chain-1', KEY_A, KEY_B, '1'.repeat(64), EPH_C),
      hello_sign_bytes('chain-1', KEY_A, KEY_B, NONCE, EPH_D),
    ].map(hex);
    expect(new Set([hex(bytes), ...variants]).size).toBe(5);
    expect(() => hello_sign_bytes('c', KEY_A, KEY_B, NONCE, 'C'.repeat(64))).toThrow(TypeError);
    expect(() => hello_sign_bytes('c', KEY_A, KEY_B, NONCE, undefined as unknown as string)).toThrow(
      TypeError,
    );
  });

  const base: SessionParams = {
    chain_id: 'c',
    dialer: KEY_A,
    acceptor: KEY_B,
    dialer_nonce: NONCE,
    acceptor_nonce: NONCE,
    dialer_ephemeral: EPH_C,
    acceptor_ephemeral: EPH_D,
  };

  it('the session id is the documented hash, v2 binding both ephemerals', () => {
    const literal =
      'cloister/p2p/session/v2\n' +
      `{"acceptor":"${KEY_B}","acceptor_ephemeral":"${EPH_D}","acceptor_nonce":"${NONCE}","chain_id":"c",` +
      `"dialer":"${KEY_A}","dialer_ephemeral":"${EPH_C}","dialer_nonce":"${NONCE}"}`;
    expect(session_id(p, base)).toBe(hex(node_sha256(utf8(literal))));
    expect(session_id(noble, base)).toBe(session_id(p, base));
  });

  it('session ids differ whenever a nonce, a key, an ephemeral or the chain differs', () => {
    const other = '1'.repeat(64);
    const ids = new Set([
      session_id(p, base),
      session_id(p, { ...base, chain_id: 'd' }),
      session_id(p, { ...base, dialer: KEY_B, acceptor: KEY_A }),
      session_id(p, { ...base, dialer: other }),
      session_id(p, { ...base, acceptor: other }),
      session_id(p, { ...base, dialer_nonce: other }),
      session_id(p, { ...base, acceptor_nonce: other }),
      session_id(p, { ...base, dialer_ephemeral: other }),
      session_id(p, { ...base, acceptor_ephemeral: other }),
      session_id(p, { ...base, dialer_ephemeral: EPH_D, acceptor_ephemeral: EPH_C }),
    ]);
    expect(ids.size).toBe(10);
    expect(() => session_id(p, { ...base, dialer_ephemeral: 'x' })).toThrow(TypeError);
    expect(() => session_id(p, { ...base, acceptor_ephemeral: undefined as unknown as string })).toThrow(
      TypeError,
    );
  });

  it('MAC keys are HKDF-SHA256(shared, session id bytes, prefix ‖ direction), one per direction', () => {
    const shared = p.sha256(utf8('shared'));
    const session = session_id(p, base);
    const keys = session_keys(p, shared, session);
    for (const [direction, key] of [
      ['dialer->acceptor', keys.dialer_to_acceptor],
      ['acceptor->dialer', keys.acceptor_to_dialer],
    ] as const) {
      const expected = new Uint8Array(
        hkdfSync('sha256', shared, from_hex(session, 32), utf8(`cloister/p2p/mac/v1\n${direction}`), 32),
      );
      expect(hex(key)).toBe(hex(expected));
      expect(hex(mac_key(noble, shared, session, direction))).toBe(hex(expected));
    }
    const all = new Set([
      hex(keys.dialer_to_acceptor),
      hex(keys.acceptor_to_dialer),
      hex(session_keys(p, shared, session_id(p, { ...base, chain_id: 'd' })).dialer_to_acceptor),
      hex(session_keys(p, p.sha256(utf8('other')), session).dialer_to_acceptor),
    ]);
    expect(all.size).toBe(4);
    expect(() => mac_key(p, shared.slice(1), session, 'dialer->acceptor')).toThrow(TypeError);
    expect(() => mac_key(p, shared, session, 'sideways' as 'dialer->acceptor')).toThrow(RangeError);
  });

  it('both ends of an ephemeral exchange derive the same keys; small-order points yield none', () => {
    const d = p.x25519_secret(p.sha256(utf8('dialer eph')));
    const a = p.x25519_secret(p.sha256(utf8('acceptor eph')));
    const session = session_id(p, {
      ...base,
      dialer_ephemeral: to_hex(d.public_key),
      acceptor_ephemeral: to_hex(a.public_key),
    });
    const at_dialer = session_keys(p, d.shared(a.public_key)!, session);
    const at_acceptor = session_keys(p, a.shared(d.public_key)!, session);
    expect(hex(at_dialer.dialer_to_acceptor)).toBe(hex(at_acceptor.dialer_to_acceptor));
    expect(hex(at_dialer.acceptor_to_dialer)).toBe(hex(at_acceptor.acceptor_to_dialer));
    expect(d.shared(new Uint8Array(32))).toBe(null);
    expect(d.shared(from_hex(`01${'00'.repeat(31)}`, 32))).toBe(null);
  });
});

describe('p2p session frames', () => {
  const KINDS: readonly [FrameKind, number | null][] = [
    ['msg', null],
    ['req', 7],
    ['res', 9007199254740991],
    ['err', 1],
  ];

  it('frame text is {"seq","kind","id","body"} around the body text, and parses back', () => {
    expect(frame_text(3, 'ping', null, 'null')).toBe('{"seq":3,"kind":"ping","id":null,"body":null}');
    expect(frame_text(12, 'req', 5, '{"b":1,"a":[2]}')).toBe(
      '{"seq":12,"kind":"req","id":5,"body":{"b":1,"a":[2]}}',
    );
    for (const body of BODIES) {
      for (const [kind, id] of KINDS) {
        const text = frame_text(42, kind, id, body_text(body));
        expect(text).toBe(JSON.stringify({ seq: 42, kind, id, body }));
        const parsed = parse_frame(JSON.parse(text));
        expect(parsed).toEqual({ seq: 42, kind, id, body: JSON.parse(JSON.stringify(body)) });
      }
    }
  });

  it('a frame is u32_be(32 + n) ‖ HMAC-SHA256(key, text) ‖ text, and opens only under its key', () => {
    const key = p.sha256(utf8('k1'));
    const other = p.sha256(utf8('k2'));
    const text = frame_text(1, 'msg', null, body_text({ q: 'é😀' }));
    const text_bytes = utf8(text);
    const buf = encode_session_frame(p, key, text);
    expect(buf.readUInt32BE(0)).toBe(32 + text_bytes.length);
    expect(buf.length).toBe(4 + 32 + text_bytes.length);
    expect(hex(buf.subarray(4, 36))).toBe(hex(node_hmac(key, text_bytes)));
    expect(hex(frame_tag(noble, key, text_bytes))).toBe(hex(buf.subarray(4, 36)));
    expect(buf.subarray(36).toString('utf8')).toBe(text);

    const payload = buf.subarray(4);
    const opened = open_session_frame(p, key, payload);
    expect(opened instanceof Uint8Array && Buffer.from(opened).toString('utf8')).toBe(text);
    expect(open_session_frame(p, other, payload)).toBe('bad mac');
    // Any one bit changed, in the tag or in the text, fails.
    for (const at of [0, 31, 32, payload.length - 1]) {
      const bad = Buffer.from(payload);
      bad[at]! ^= 1;
      expect(open_session_frame(p, key, bad)).toBe('bad mac');
    }
    expect(open_session_frame(p, key, payload.subarray(0, payload.length - 1))).toBe('bad mac');
    // The shortest real frame text opens; anything shorter is refused before any HMAC.
    const min = frame_text(1, 'req', 1, '0');
    for (const [kind, id] of [...KINDS, ['ping', null] as const]) {
      const shortest = kind === 'ping' ? 'null' : '0';
      expect(utf8(frame_text(1, kind, id === null ? null : 1, shortest)).length).toBeGreaterThanOrEqual(
        FRAME_TEXT_BYTES_MIN,
      );
    }
    expect(utf8(min).length).toBe(FRAME_TEXT_BYTES_MIN);
    expect(open_session_frame(p, key, encode_session_frame(p, key, min).subarray(4))).toBeInstanceOf(
      Uint8Array,
    );
    const short = encode_session_frame(p, key, min.slice(1)).subarray(4);
    expect(open_session_frame(p, key, short)).toBe('short');
    expect(open_session_frame(p, key, new Uint8Array(0))).toBe('short');
    expect(() => encode_session_frame(p, key.slice(1), text)).toThrow(TypeError);
  });

  it('the overhead bound covers the tag and the largest seq, id and kind', () => {
    const n = Number.MAX_SAFE_INTEGER;
    for (const [kind, id] of [
      ['msg', null],
      ['ping', null],
      ['req', n],
      ['res', n],
      ['err', n],
    ] as const) {
      const overhead = FRAME_TAG_BYTES + Buffer.byteLength(frame_text(n, kind, id, ''));
      expect(overhead).toBeLessThanOrEqual(FRAME_OVERHEAD_BYTES_MAX);
    }
  });

  it('refuses ids where they do not belong and bad seqs', () => {
    expect(() => frame_text(1, 'msg', 3, 'null')).toThrow(RangeError);
    expect(() => frame_text(1, 'req', null, 'null')).toThrow(RangeError);
    expect(() => frame_text(1, 'res', 0, 'null')).toThrow(RangeError);
    expect(() => frame_text(0, 'msg', null, 'null')).toThrow(RangeError);
    expect(() => frame_text(1.5, 'msg', null, 'null')).toThrow(RangeError);
    expect(() => frame_text(1, 'hello' as FrameKind, null, 'null')).toThrow(RangeError);
  });
});

describe('p2p bodies', () => {
  it('body_text is JSON.stringify of exactly the values jcs accepts', () => {
    const sym_keyed = { a: 1, [Symbol('s')]: 2 };
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    class Thing {
      x = 1;
    }
    const values: unknown[] = [
      ...BODIES,
      nested(512),
      undefined,
      () => 1,
      { f: () => 1 },
      { u: undefined },
      [undefined],
      // biome-ignore lint/suspicious/noSparseArray: a hole is what is tested
      [1, , 2],
      Number.NaN,
      Number.POSITIVE_INFINITY,
      [Number.NEGATIVE_INFINITY],
      10n,
      { n: 10n },
      Symbol('s'),
      'lone \ud800',
      { '\udc00': 1 },
      new Date(0),
      new Map(),
      new Thing(),
      new Uint8Array(2),
      sym_keyed,
      cyclic,
      nested(513),
    ];
    for (const value of values) {
      let jcs_ok = true;
      try {
        jcs(value);
      } catch {
        jcs_ok = false;
      }
      expect(body_fault(value) === null).toBe(jcs_ok);
      if (jcs_ok) {
        expect(body_text(value)).toBe(JSON.stringify(value));
        expect(JSON.parse(body_text(value))).toEqual(JSON.parse(jcs(value)));
      } else {
        expect(() => body_text(value)).toThrow(TypeError);
      }
    }
    expect(body_fault({ a: [0, { b: Number.NaN }] })).toBe('non-finite number at $.a[1].b');
  });

  it('catches what JSON.parse yields but no sender sends', () => {
    expect(body_fault(JSON.parse('1e999'))).toBe('non-finite number at $');
    expect(body_fault(JSON.parse('["\\ud800"]'))).toBe('lone surrogate in string at $[0]');
    expect(body_fault(JSON.parse(`${'['.repeat(513)}${']'.repeat(513)}`))).not.toBe(null);
    expect(body_fault(JSON.parse('{"__proto__":{"a":1}}'))).toBe(null);
  });
});

describe('p2p message shapes', () => {
  it('hello and auth parse only in their exact form', () => {
    const ok = { chain_id: 'c', pubkey: KEY_A, nonce: NONCE, ephemeral: EPH_C };
    expect(parse_hello(ok)).toEqual(ok);
    for (const bad of [
      { ...ok, x: 1 },
      { chain_id: 'c', pubkey: KEY_A, nonce: NONCE },
      { ...ok, pubkey: KEY_A.toUpperCase() },
      { ...ok, chain_id: '' },
      { ...ok, nonce: NONCE.slice(2) },
      { ...ok, ephemeral: EPH_C.toUpperCase() },
      { ...ok, ephemeral: EPH_C.slice(2) },
      { ...ok, ephemeral: `${EPH_C}00` },
      { ...ok, ephemeral: null },
      [KEY_A],
    ]) {
      expect(typeof parse_hello(bad)).toBe('string');
    }
    expect(parse_hello({ chain_id: 'c', pubkey: KEY_A, nonce: NONCE })).toBe(
      'hello must be exactly {chain_id, pubkey, nonce, ephemeral}',
    );
    expect(parse_hello({ ...ok, ephemeral: 'zz' })).toBe('hello has a malformed ephemeral key');
    expect(parse_hello_auth({ signature: SIG })).toEqual({ signature: SIG });
    expect(typeof parse_hello_auth({ signature: SIG.slice(2) })).toBe('string');
  });

  it('frames parse only in their exact form', () => {
    const ok = { seq: 1, kind: 'msg', id: null, body: { a: 1 } };
    expect(parse_frame(ok)).toEqual(ok);
    for (const bad of [
      { ...ok, extra: 1 },
      { ...ok, signature: SIG },
      { ...ok, seq: 0 },
      { ...ok, seq: 1.5 },
      { ...ok, seq: '1' },
      { ...ok, kind: 'hello' },
      { ...ok, id: 1 },
      { ...ok, kind: 'req', id: null },
      { ...ok, kind: 'res', id: 0 },
      { ...ok, kind: 'ping', body: {} },
      { seq: 1, kind: 'msg', id: null },
      null,
      [ok],
    ]) {
      expect(typeof parse_frame(bad)).toBe('string');
    }
  });
});

describe('p2p framing', () => {
  it('reassembles frames split at every byte and joined in one chunk', () => {
    const texts = ['{"a":1}', '', 'x'.repeat(300), '"é😀"'];
    const stream = Buffer.concat(texts.map((t) => encode_frame(t)));
    const one_by_one = new FrameDecoder(1000);
    const out: string[] = [];
    for (const byte of stream) {
      one_by_one.push(Buffer.from([byte]));
      for (let f = one_by_one.next(); f !== null; f = one_by_one.next()) out.push(f.toString('utf8'));
    }
    expect(out).toEqual(texts);
    expect(one_by_one.buffered_bytes).toBe(0);
    const whole = new FrameDecoder(1000);
    whole.push(stream);
    const again: string[] = [];
    for (let f = whole.next(); f !== null; f = whole.next()) again.push(f.toString('utf8'));
    expect(again).toEqual(texts);
  });

  it('refuses a header over the limit before its payload arrives', () => {
    const decoder = new FrameDecoder(10);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(11, 0);
    decoder.push(header);
    expect(() => decoder.next()).toThrow(FrameTooLargeError);
    const at_limit = new FrameDecoder(10);
    at_limit.push(encode_frame('0123456789'));
    expect(at_limit.next()?.toString()).toBe('0123456789');
  });

  it('checks its arguments', () => {
    expect(() => new FrameDecoder(-1)).toThrow(RangeError);
    expect(() => new FrameDecoder(2 ** 32)).toThrow(RangeError);
    expect(() => new FrameDecoder(10).push('x' as unknown as Buffer)).toThrow(TypeError);
    expect(() => encode_frame(1 as unknown as string)).toThrow(TypeError);
  });
});
