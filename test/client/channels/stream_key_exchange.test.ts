/**
 * Group-key requests and responses (client/sdk/channels/stream_key_exchange.ts): the honest
 * exchange over X25519 and ML-KEM-1024, the ACL's refusal, tampering, other signers, a scheme
 * downgrade (caught by the signature) and responses that answer another request.
 */

import { describe, expect, it } from 'vitest';
import { ChannelErrorCode } from '../../../client/sdk/channels/errors.js';
import {
  account_of,
  type GroupKey,
  NoGroupKeyError,
  new_group_key,
  StreamMessageInvalidError,
} from '../../../client/sdk/channels/stream_crypto.js';
import {
  type AnswerOptions,
  answer_key_request,
  KEY_EXCHANGE_SCHEMES,
  type KeyRequest,
  KeyRequestDeniedError,
  type KeyResponse,
  key_request_payload,
  make_key_request,
  open_key_response,
  request_id_of,
  verify_key_request,
} from '../../../client/sdk/channels/stream_key_exchange.js';
import { dev_keys } from '../../../client/sdk/keys.js';
import { from_base64, from_hex, to_base64 } from '../../../protocol/bytes.js';
import { noble_provider as p } from '../../../protocol/providers/noble.js';

const keys = dev_keys();
const dev0 = keys[0]!;
const dev1 = keys[1]!;
const dev2 = keys[2]!;
const publisher = account_of(dev0).address;
const subscriber = account_of(dev1).address;
const stream = `${publisher}/news`;
const k1 = new_group_key();
const k2 = new_group_key();
const store = new Map<string, GroupKey>([
  [k1.id, k1],
  [k2.id, k2],
]);
const allow: AnswerOptions = { acl: async () => true, keys: store };

async function expect_invalid(work: () => unknown, reason: string | RegExp): Promise<void> {
  let caught: unknown;
  try {
    await work();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(StreamMessageInvalidError);
  expect((caught as StreamMessageInvalidError).code).toBe(ChannelErrorCode.STREAM_MESSAGE_INVALID);
  if (typeof reason === 'string') expect((caught as StreamMessageInvalidError).reason).toBe(reason);
  else expect((caught as StreamMessageInvalidError).reason).toMatch(reason);
}

describe.each(KEY_EXCHANGE_SCHEMES)('key exchange (%s)', (scheme) => {
  it('the subscriber gets the keys it asked for, and only those', async () => {
    const { request, pending } = make_key_request(dev1, {
      stream,
      publisher,
      key_ids: [k1.id, k2.id],
      scheme,
    });
    expect(request.scheme).toBe(scheme);
    expect(request_id_of(JSON.stringify(request))).toBe(request.request_id);
    let asked: [string, string] | null = null;
    const response = await answer_key_request(dev0, JSON.stringify(request), {
      keys: store,
      acl: async (s, a) => {
        asked = [s, a];
        return true;
      },
    });
    expect(asked).toEqual([stream, subscriber]);
    expect(response.scheme).toBe(scheme);
    const got = open_key_response(dev1, pending, JSON.stringify(response));
    expect(got.map((k) => k.id)).toEqual([k1.id, k2.id]);
    expect(got[0]!.key).toEqual(k1.key);
    expect(got[1]!.key).toEqual(k2.key);
    // Another subscriber holding the response learns nothing: it is not for them.
    await expect_invalid(() => open_key_response(dev2, pending, response), 'is for another subscriber');
  });

  it('the publisher refuses when the ACL says no (KeyRequestDeniedError, code 332)', async () => {
    const { request } = make_key_request(dev1, { stream, publisher, key_ids: [k1.id], scheme });
    const denied = answer_key_request(dev0, request, { keys: store, acl: async () => false });
    await expect(denied).rejects.toBeInstanceOf(KeyRequestDeniedError);
    await expect(denied).rejects.toMatchObject({ code: ChannelErrorCode.KEY_REQUEST_DENIED });
  });

  it('no known key: NoGroupKeyError; a request to another publisher: invalid', async () => {
    const { request } = make_key_request(dev1, { stream, publisher, key_ids: [new_group_key().id], scheme });
    await expect(answer_key_request(dev0, request, allow)).rejects.toBeInstanceOf(NoGroupKeyError);
    await expect_invalid(() => answer_key_request(dev2, request, allow), /asks publisher/);
  });

  it('a tampered request or one signed by someone else is refused', async () => {
    const { request } = make_key_request(dev1, { stream, publisher, key_ids: [k1.id], scheme });
    await expect_invalid(
      () => answer_key_request(dev0, { ...request, key_ids: [k2.id] }, allow),
      'bad signature',
    );
    await expect_invalid(
      () => answer_key_request(dev0, { ...request, stream: `${publisher}/x` }, allow),
      'bad signature',
    );
    // dev2 asks in dev1's name (dev1's address, dev2's key): refused before the ACL is asked.
    const { request: r2 } = make_key_request(dev2, { stream, publisher, key_ids: [k1.id], scheme });
    await expect_invalid(
      () => answer_key_request(dev0, { ...r2, subscriber }, { keys: store, acl: async () => true }),
      'pub is not the subscriber’s key',
    );
  });

  it('a tampered or foreign response is refused', async () => {
    const { request, pending } = make_key_request(dev1, { stream, publisher, key_ids: [k1.id], scheme });
    const response = await answer_key_request(dev0, request, allow);
    const eph = from_base64(response.eph);
    eph[3]! ^= 1;
    await expect_invalid(
      () => open_key_response(dev1, pending, { ...response, eph: to_base64(eph) }),
      'bad signature',
    );
    const data = from_base64(response.keys[0]!.data);
    data[40]! ^= 1;
    await expect_invalid(
      () => open_key_response(dev1, pending, { ...response, keys: [{ id: k1.id, data: to_base64(data) }] }),
      'bad signature',
    );
    // A response to another request of the same subscriber (replayed): its id does not match.
    const other = make_key_request(dev1, { stream, publisher, key_ids: [k1.id], scheme });
    await expect_invalid(() => open_key_response(dev1, other.pending, response), 'answers another request');
    // ... and with the id rewritten, the signature (over the request's hash) does not hold.
    await expect_invalid(
      () => open_key_response(dev1, other.pending, { ...response, request_id: other.pending.request_id }),
      'bad signature',
    );
    // dev2 answers in dev0's place.
    const from_dev2 = await answer_key_request(
      dev2,
      make_key_request(dev1, { stream, publisher: account_of(dev2).address, key_ids: [k1.id], scheme })
        .request,
      allow,
    );
    await expect_invalid(
      () => open_key_response(dev1, pending, { ...from_dev2, request_id: pending.request_id }),
      'comes from another publisher than the one asked',
    );
    await expect_invalid(
      () =>
        open_key_response(dev1, pending, {
          ...from_dev2,
          request_id: pending.request_id,
          publisher,
        }),
      'pub is not the publisher’s key',
    );
  });
});

describe('sizes', () => {
  it('the largest request and response (ML-KEM-1024, 16 keys) fit one stream_acl message (8000 bytes)', async () => {
    const many = Array.from({ length: 16 }, () => new_group_key());
    const { request, pending } = make_key_request(dev1, {
      stream,
      publisher,
      key_ids: many.map((k) => k.id),
      scheme: 'ml-kem-1024',
    });
    const response = await answer_key_request(dev0, request, {
      acl: async () => true,
      keys: new Map(many.map((k) => [k.id, k])),
    });
    expect(JSON.stringify(request).length).toBeLessThanOrEqual(8000);
    expect(JSON.stringify(response).length).toBeLessThanOrEqual(8000);
    expect(open_key_response(dev1, pending, JSON.stringify(response))).toHaveLength(16);
  });
});

describe('scheme downgrade', () => {
  it('changing a post-quantum request to x25519 breaks its signature', async () => {
    const { request } = make_key_request(dev1, {
      stream,
      publisher,
      key_ids: [k1.id],
      scheme: 'ml-kem-1024',
    });
    // A man in the middle swaps in an X25519 key of its own and says x25519.
    const mitm = make_key_request(dev2, { stream, publisher, key_ids: [k1.id], scheme: 'x25519' });
    const downgraded: KeyRequest = { ...request, scheme: 'x25519', temp_pub: mitm.request.temp_pub };
    await expect_invalid(() => verify_key_request(downgraded), 'bad signature');
    await expect_invalid(() => answer_key_request(dev0, downgraded, allow), 'bad signature');
  });

  it('changing the response scheme is refused by the subscriber', async () => {
    const { request, pending } = make_key_request(dev1, {
      stream,
      publisher,
      key_ids: [k1.id],
      scheme: 'ml-kem-1024',
    });
    const response = await answer_key_request(dev0, request, allow);
    const downgraded: KeyResponse = { ...response, scheme: 'x25519' };
    await expect_invalid(
      () => open_key_response(dev1, pending, downgraded),
      /scheme "x25519" is not the one asked/,
    );
  });

  it('a publisher that requires post-quantum refuses x25519 requests', async () => {
    const { request } = make_key_request(dev1, { stream, publisher, key_ids: [k1.id], scheme: 'x25519' });
    await expect(answer_key_request(dev0, request, { ...allow, require_pq: true })).rejects.toBeInstanceOf(
      KeyRequestDeniedError,
    );
    const pq = make_key_request(dev1, { stream, publisher, key_ids: [k1.id], scheme: 'ml-kem-1024' });
    const response = await answer_key_request(dev0, pq.request, { ...allow, require_pq: true });
    expect(open_key_response(dev1, pq.pending, response)[0]!.key).toEqual(k1.key);
  });

  it('the signed bytes name the scheme (framed), so no two schemes share a payload', () => {
    const { request } = make_key_request(dev1, { stream, publisher, key_ids: [k1.id], scheme: 'x25519' });
    const { sig: _s, ...body } = request;
    const a = key_request_payload(body);
    const b = key_request_payload({ ...body, scheme: 'ml-kem-1024' });
    expect(a).not.toEqual(b);
    expect(p.ed25519_verify(from_base64(request.sig), b, from_base64(to_base64(from_hex(request.pub))))).toBe(
      false,
    );
    expect(p.ed25519_verify(from_base64(request.sig), a, from_hex(request.pub))).toBe(true);
  });
});
