import { describe, expect, it } from 'vitest';
import { encode_frame, FrameDecoder, FrameTooLargeError } from '../../node/p2p/framing.js';
import {
  FRAME_OVERHEAD_BYTES_MAX,
  frame_sign_bytes,
  frame_sign_text,
  frame_text,
  hello_sign_bytes,
  parse_frame,
  parse_hello,
  parse_hello_auth,
  session_id,
} from '../../node/p2p/wire.js';
import { concat, to_hex, utf8 } from '../../protocol/bytes.js';
import { jcs } from '../../protocol/jcs.js';
import { get_provider } from '../../protocol/providers/index.js';

const p = get_provider('native');
const KEY_A = 'a'.repeat(64);
const KEY_B = 'b'.repeat(64);
const NONCE = '0123456789abcdef'.repeat(4);
const SIG = 'f'.repeat(128);

const BODIES: unknown[] = [
  null,
  true,
  0,
  -1.5e-7,
  1e21,
  'text with "quotes", \\ and \u2028 and 😀',
  [],
  { z: 1, a: [1, { y: null, b: 'é' }], '': {} },
  { '\u00e9': 1, e: 2, E: 3 },
];

describe('p2p signing bytes', () => {
  it('hello bytes are the documented prefix and JCS object', () => {
    const bytes = hello_sign_bytes('chain-1', KEY_A, KEY_B, NONCE);
    const expected = concat(
      utf8('cloister/p2p/hello/v1\n'),
      utf8(jcs({ chain_id: 'chain-1', from: KEY_A, to: KEY_B, nonce: NONCE })),
    );
    expect(to_hex(bytes)).toBe(to_hex(expected));
  });

  it('frame sign text equals jcs({session, seq, kind, id, body}) for every kind and body', () => {
    for (const body of BODIES) {
      for (const [kind, id] of [
        ['msg', null],
        ['req', 7],
        ['res', 9007199254740991],
        ['err', 1],
      ] as const) {
        const text = frame_sign_text(NONCE, 42, kind, id, jcs(body));
        expect(text).toBe(jcs({ session: NONCE, seq: 42, kind, id, body }));
        const bytes = frame_sign_bytes(NONCE, 42, kind, id, jcs(body));
        expect(to_hex(bytes)).toBe(to_hex(utf8(`cloister/p2p/frame/v1\n${text}`)));
        const wire = frame_text(42, kind, id, jcs(body), SIG);
        expect(wire).toBe(jcs({ seq: 42, kind, id, body, signature: SIG }));
        expect(parse_frame(JSON.parse(wire))).toEqual({ seq: 42, kind, id, body, signature: SIG });
      }
    }
  });

  it('the overhead bound covers the largest seq, id and kind', () => {
    const n = Number.MAX_SAFE_INTEGER;
    for (const [kind, id] of [
      ['msg', null],
      ['ping', null],
      ['req', n],
      ['res', n],
      ['err', n],
    ] as const) {
      expect(Buffer.byteLength(frame_text(n, kind, id, '', SIG))).toBeLessThanOrEqual(
        FRAME_OVERHEAD_BYTES_MAX,
      );
    }
  });

  it('refuses ids where they do not belong and bad seqs', () => {
    expect(() => frame_sign_text(NONCE, 1, 'msg', 3, 'null')).toThrow(RangeError);
    expect(() => frame_sign_text(NONCE, 1, 'req', null, 'null')).toThrow(RangeError);
    expect(() => frame_sign_text(NONCE, 0, 'msg', null, 'null')).toThrow(RangeError);
    expect(() => frame_sign_text('xyz', 1, 'msg', null, 'null')).toThrow(TypeError);
  });

  it('session ids differ whenever a nonce, a key or the chain differs', () => {
    const base = {
      chain_id: 'c',
      dialer: KEY_A,
      acceptor: KEY_B,
      dialer_nonce: NONCE,
      acceptor_nonce: NONCE,
    };
    const ids = new Set([
      session_id(p, base),
      session_id(p, { ...base, chain_id: 'd' }),
      session_id(p, { ...base, dialer: KEY_B, acceptor: KEY_A }),
      session_id(p, { ...base, dialer_nonce: '1'.repeat(64) }),
      session_id(p, { ...base, acceptor_nonce: '1'.repeat(64) }),
    ]);
    expect(ids.size).toBe(5);
    const text = jcs(base);
    expect(session_id(p, base)).toBe(to_hex(p.sha256(utf8(`cloister/p2p/session/v1\n${text}`))));
  });
});

describe('p2p message shapes', () => {
  it('hello and auth parse only in their exact form', () => {
    expect(parse_hello({ chain_id: 'c', pubkey: KEY_A, nonce: NONCE })).toEqual({
      chain_id: 'c',
      pubkey: KEY_A,
      nonce: NONCE,
    });
    expect(typeof parse_hello({ chain_id: 'c', pubkey: KEY_A, nonce: NONCE, x: 1 })).toBe('string');
    expect(typeof parse_hello({ chain_id: 'c', pubkey: KEY_A.toUpperCase(), nonce: NONCE })).toBe('string');
    expect(typeof parse_hello({ chain_id: '', pubkey: KEY_A, nonce: NONCE })).toBe('string');
    expect(typeof parse_hello([KEY_A])).toBe('string');
    expect(parse_hello_auth({ signature: SIG })).toEqual({ signature: SIG });
    expect(typeof parse_hello_auth({ signature: SIG.slice(2) })).toBe('string');
  });

  it('frames parse only in their exact form', () => {
    const ok = { seq: 1, kind: 'msg', id: null, body: { a: 1 }, signature: SIG };
    expect(typeof parse_frame(ok)).toBe('object');
    for (const bad of [
      { ...ok, extra: 1 },
      { ...ok, seq: 0 },
      { ...ok, seq: 1.5 },
      { ...ok, seq: '1' },
      { ...ok, kind: 'hello' },
      { ...ok, id: 1 },
      { ...ok, kind: 'req', id: null },
      { ...ok, kind: 'res', id: 0 },
      { ...ok, kind: 'ping', body: {} },
      { ...ok, signature: 'ab' },
      { seq: 1, kind: 'msg', id: null, signature: SIG },
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
