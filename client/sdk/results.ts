/**
 * Opening a sealed result (protocol.md §4) as a v1.1 client reads it (§9): besides `data` and
 * `events`, a result may carry `debug` lines (development networks only) and its events may be
 * marked `"public": true`; an `{"error"}` result may carry `debug` too. Browser-safe.
 * @module
 */

import { from_utf8 } from '../../protocol/bytes.js';
import { DecryptError, type Scheme } from '../../protocol/envelope.js';
import { is_well_formed } from '../../protocol/jcs.js';
import { iv } from '../../protocol/keys.js';
import { noble_provider as p } from '../../protocol/providers/noble.js';
import type { ContractEventJson } from '../../protocol/result.js';

/**
 * An event inside a sealed result (protocol.md §4). `public: true` marks one the network also
 * lists in plaintext (§9: `GET /v1/txs/{hash}` `events`, and the live stream).
 */
export interface SealedEvent extends ContractEventJson {
  public?: true;
}

/**
 * A decrypted result (protocol.md §4, §9): `{data, events, debug?}` on success, `{error, debug?}`
 * on a contract failure. `debug` holds the lines the contract wrote for its developer; only a
 * development network fills it, and only the sender can read it (it is sealed like the rest).
 */
export type DecodedResult =
  | { data: unknown; events: SealedEvent[]; debug?: string[] }
  | { error: string; debug?: string[] };

const EMPTY = new Uint8Array(0);

function is_plain_object(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function is_text(value: unknown): value is string {
  return typeof value === 'string' && is_well_formed(value);
}

/** Whether `value`'s own keys are all `required` ones, each present, plus any of `optional`. */
function has_keys(value: object, required: readonly string[], optional: readonly string[]): boolean {
  const own = Reflect.ownKeys(value);
  return (
    required.every((k) => Object.hasOwn(value, k)) &&
    own.every((k) => typeof k === 'string' && (required.includes(k) || optional.includes(k)))
  );
}

function is_debug(value: unknown): boolean {
  return value === undefined || (Array.isArray(value) && value.every(is_text));
}

function is_event(event: unknown): boolean {
  if (!is_plain_object(event) || !has_keys(event, ['type', 'attributes'], ['public'])) return false;
  if (event['public'] !== undefined && event['public'] !== true) return false;
  const attributes = event['attributes'];
  if (!is_text(event['type']) || !Array.isArray(attributes)) return false;
  return attributes.every(
    (a: unknown) =>
      is_plain_object(a) && has_keys(a, ['key', 'value'], []) && is_text(a['key']) && is_text(a['value']),
  );
}

/**
 * Whether `value` is a result of protocol.md §4 as §9 extends it: `{data, events, debug?}` with
 * events `[{type, attributes: [{key, value}], public?: true}]`, or `{error, debug?}`, `debug`
 * being an array of strings; no other keys. A v1.0 result is one too.
 */
export function is_decoded_result(value: unknown): value is DecodedResult {
  if (!is_plain_object(value) || !is_debug(value['debug'])) return false;
  if (Object.hasOwn(value, 'error')) return has_keys(value, ['error'], ['debug']) && is_text(value['error']);
  if (!has_keys(value, ['data', 'events'], ['debug'])) return false;
  const events = value['events'];
  return Array.isArray(events) && events.every(is_event);
}

/**
 * Opens a sealed result with the `tx_key` of the message that produced it: `GCM(tx_key, IV(1),
 * empty, ·)` or `SIV(tx_key, empty, ·)` (protocol.md §4), then checks its shape
 * ({@link is_decoded_result}). Throws {@link DecryptError} if it does not authenticate, is not
 * UTF-8 JSON, or is not of that shape.
 */
export function open_decoded_result(scheme: Scheme, tx_key: Uint8Array, output: Uint8Array): DecodedResult {
  const plaintext =
    scheme === 'gcm' ? p.gcm_open(tx_key, iv(1), EMPTY, output) : p.siv_open(tx_key, EMPTY, output);
  if (plaintext === null) throw new DecryptError();
  let value: unknown;
  try {
    value = JSON.parse(from_utf8(plaintext));
  } catch {
    throw new DecryptError();
  }
  if (!is_decoded_result(value)) throw new DecryptError();
  return value;
}
