/**
 * Stream messages (client/sdk/channels/stream_crypto.ts): sealed and signed by the publisher,
 * opened with the group key; tampering, another signer, a message moved to another stream, a
 * missing key and a rotation link.
 */

import { describe, expect, it } from 'vitest';
import { ChannelErrorCode } from '../../../client/sdk/channels/errors.js';
import {
  account_of,
  type GroupKey,
  NoGroupKeyError,
  new_group_key,
  open_stream_message,
  parse_stream_message,
  STREAM_PLAINTEXT_BYTES_MAX,
  type StreamMessage,
  StreamMessageInvalidError,
  seal_stream_message,
  stream_message_payload,
  verify_stream_message,
} from '../../../client/sdk/channels/stream_crypto.js';
import { dev_keys } from '../../../client/sdk/keys.js';
import { from_base64, to_base64 } from '../../../protocol/bytes.js';
import { noble_provider as p } from '../../../protocol/providers/noble.js';

const [dev0, dev1] = dev_keys() as [ReturnType<typeof dev_keys>[number], ReturnType<typeof dev_keys>[number]];
const owner = account_of(dev0).address;
const stream = `${owner}/news`;

function keys_of(...list: GroupKey[]): Map<string, GroupKey> {
  return new Map(list.map((k) => [k.id, k]));
}

function invalid_reason(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StreamMessageInvalidError);
    expect((error as StreamMessageInvalidError).code).toBe(ChannelErrorCode.STREAM_MESSAGE_INVALID);
    return (error as StreamMessageInvalidError).reason;
  }
  throw new Error('expected StreamMessageInvalidError');
}

/** `m` with its fields changed and signed again by `key` (a publisher that signs what it likes). */
function resign(m: StreamMessage, key = dev0, change: Partial<StreamMessage> = {}): StreamMessage {
  const { sig: _sig, ...body } = { ...m, ...change };
  return { ...body, sig: to_base64(p.ed25519_sign(key.account_sk, stream_message_payload(body))) };
}

describe('stream messages', () => {
  it('open with the group key: text, publisher, key id; the JSON round-trips', () => {
    const k = new_group_key();
    const m = seal_stream_message(dev0, stream, k, 'hello subscribers');
    expect(m.publisher).toBe(owner);
    expect(m.key_id).toBe(k.id);
    expect(Object.keys(m)).toEqual(['v', 'stream', 'publisher', 'pub', 'key_id', 'nonce', 'ct', 'sig']);
    const opened = open_stream_message(JSON.stringify(m), keys_of(k), { stream, publisher: owner });
    expect(opened.text).toBe('hello subscribers');
    expect(opened.key_id).toBe(k.id);
    expect(opened.new_key).toBeUndefined();
    expect(parse_stream_message(JSON.stringify(m))).toEqual(m);
  });

  it('carry the next key under the current one (rotate), and only its holders learn it', () => {
    const current = new_group_key();
    const next = new_group_key();
    const m = seal_stream_message(dev0, stream, current, 'rotating', { next_key: next });
    const opened = open_stream_message(m, keys_of(current));
    expect(opened.new_key?.id).toBe(next.id);
    expect(opened.new_key?.key).toEqual(next.key);
    // The next key opens the next message.
    const m2 = seal_stream_message(dev0, stream, next, 'after');
    expect(open_stream_message(m2, keys_of(opened.new_key!)).text).toBe('after');
    // Without the current key, the link reveals nothing: no key for the message.
    expect(() => open_stream_message(m, keys_of(next))).toThrow(NoGroupKeyError);
  });

  it('a missing key is NoGroupKeyError (code 330), after the signature is checked', () => {
    const k = new_group_key();
    const m = seal_stream_message(dev0, stream, k, 'x');
    try {
      open_stream_message(m, () => undefined);
      throw new Error('opened');
    } catch (error) {
      expect(error).toBeInstanceOf(NoGroupKeyError);
      expect((error as NoGroupKeyError).code).toBe(ChannelErrorCode.NO_GROUP_KEY);
      expect((error as NoGroupKeyError).key_id).toBe(k.id);
    }
    // A forged message without any key is invalid, not "no key".
    expect(
      invalid_reason(() =>
        open_stream_message({ ...m, sig: to_base64(new Uint8Array(64)) }, () => undefined),
      ),
    ).toBe('bad signature');
  });

  it('tampering with any signed field breaks the signature', () => {
    const k = new_group_key();
    const next = new_group_key();
    const m = seal_stream_message(dev0, stream, k, 'pay 10', { next_key: next });
    const ct = from_base64(m.ct);
    ct[0]! ^= 1;
    const other = new_group_key();
    const changes: Partial<StreamMessage>[] = [
      { ct: to_base64(ct) },
      { stream: `${owner}/other` },
      { key_id: other.id },
      { nonce: to_base64(new Uint8Array(24)) },
      { new_key: { id: other.id, data: m.new_key!.data } },
    ];
    for (const change of changes)
      expect(invalid_reason(() => open_stream_message({ ...m, ...change }, keys_of(k, other)))).toBe(
        'bad signature',
      );
    // Dropping the rotation link is a change too.
    const { new_key: _nk, ...without } = m;
    expect(invalid_reason(() => open_stream_message(without, keys_of(k)))).toBe('bad signature');
  });

  it('another signer cannot speak for the publisher', () => {
    const k = new_group_key();
    const m = seal_stream_message(dev0, stream, k, 'from dev0');
    // dev1 signs it with its own key but keeps publisher = dev0.
    const forged = resign(m, dev1, { pub: account_of(dev1).pub });
    expect(invalid_reason(() => open_stream_message(forged, keys_of(k)))).toBe(
      'pub is not the publisher’s key',
    );
    // dev1 claims dev0's pub but signs with its own key.
    expect(invalid_reason(() => open_stream_message(resign(m, dev1), keys_of(k)))).toBe('bad signature');
    // A message dev1 published itself, read as an event sent by dev0: refused.
    const own = seal_stream_message(dev1, stream, k, 'from dev1');
    expect(invalid_reason(() => verify_stream_message(own, { publisher: owner }))).toMatch(
      /claims publisher/,
    );
  });

  it('the ciphertext is bound to stream, publisher and key id (AEAD associated data)', () => {
    const k = new_group_key();
    const m = seal_stream_message(dev0, stream, k, 'only for news');
    // The publisher itself re-signs the ciphertext into another stream: it does not open there.
    const moved = resign(m, dev0, { stream: `${owner}/sport` });
    expect(invalid_reason(() => open_stream_message(moved, keys_of(k)))).toBe(
      'the ciphertext does not open under its group key',
    );
    // Another key under the same id (a store mixed up): the AEAD refuses.
    const impostor = { id: k.id, key: new_group_key().key };
    expect(invalid_reason(() => open_stream_message(m, keys_of(impostor)))).toBe(
      'the ciphertext does not open under its group key',
    );
    expect(() => open_stream_message(m, keys_of(k), { stream: `${owner}/sport` })).toThrow(
      /belongs to stream/,
    );
  });

  it('a rotation link that does not open is refused', () => {
    const k = new_group_key();
    const next = new_group_key();
    const m = seal_stream_message(dev0, stream, k, 'x', { next_key: next });
    const data = from_base64(m.new_key!.data);
    data[30]! ^= 1;
    const broken = resign(m, dev0, { new_key: { id: next.id, data: to_base64(data) } });
    expect(invalid_reason(() => open_stream_message(broken, keys_of(k)))).toBe(
      'the rotation link does not open under its group key',
    );
  });

  it('shapes: version, unknown fields, sizes, JSON', () => {
    const k = new_group_key();
    const m = seal_stream_message(dev0, stream, k, 'x');
    expect(invalid_reason(() => parse_stream_message({ ...m, v: 2 }))).toMatch(/version/);
    expect(invalid_reason(() => parse_stream_message({ ...m, extra: 1 }))).toMatch(/unknown field/);
    expect(invalid_reason(() => parse_stream_message('{'))).toBe('not JSON');
    expect(invalid_reason(() => parse_stream_message({ ...m, stream: 'news' }))).toMatch(/stream/);
    expect(invalid_reason(() => parse_stream_message({ ...m, nonce: 'AAAA' }))).toMatch(/nonce/);
    expect(() =>
      seal_stream_message(dev0, stream, k, new Uint8Array(STREAM_PLAINTEXT_BYTES_MAX + 1)),
    ).toThrow(RangeError);
    expect(() => seal_stream_message(dev0, 'news', k, 'x')).toThrow(TypeError);
    // The largest message, with a rotation link, fits stream_acl's 8000 bytes.
    const big = seal_stream_message(dev0, stream, k, new Uint8Array(STREAM_PLAINTEXT_BYTES_MAX), {
      next_key: new_group_key(),
    });
    expect(JSON.stringify(big).length).toBeLessThanOrEqual(8000);
    expect(open_stream_message(JSON.stringify(big), keys_of(k)).plaintext.length).toBe(
      STREAM_PLAINTEXT_BYTES_MAX,
    );
  });
});
