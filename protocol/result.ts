/**
 * Encrypted results, enclave → client (protocol.md §4): `utf8(jcs(result))` sealed under the
 * message's `tx_key`, with `GCM(tx_key, IV(1), empty, ·)` or `SIV(tx_key, empty, ·)`.
 * Deterministic, so every honest validator produces the same bytes.
 * @module
 */

import { assert_bytes, from_utf8, utf8 } from './bytes.js';
import { DecryptError, SCHEMES, type Scheme, TX_KEY_BYTES } from './envelope.js';
import { is_well_formed, jcs } from './jcs.js';
import { iv } from './keys.js';
import type { CryptoProvider } from './provider.js';

/** One contract event of protocol.md §4; `public: true` (§9, present only when true) is also listed in plaintext. */
export interface ContractEventJson {
  type: string;
  attributes: { key: string; value: string }[];
  public?: true;
}

/**
 * The result object of protocol.md §4: success with `data` and `events`, or a contract error;
 * on a development network either may carry `debug`, the contract's debug lines (§9).
 */
export type ContractResult =
  | { data: unknown; events: ContractEventJson[]; debug?: string[] }
  | { error: string; debug?: string[] };

const EMPTY = new Uint8Array(0);

function has_exact_keys(value: object, keys: readonly string[]): boolean {
  const own = Reflect.ownKeys(value);
  return own.length === keys.length && keys.every((k) => Object.hasOwn(value, k));
}

function is_plain_object(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function is_text(value: unknown): value is string {
  return typeof value === 'string' && is_well_formed(value);
}

/**
 * Whether `value` has exactly the shape of protocol.md §4: `{data, events}` with events
 * `[{type, attributes: [{key, value}], public?: true}]` of strings, or `{error: string}`, either
 * with an optional `debug: [string]` (§9), and no other keys. (Whether `data` is a JSON value is
 * for {@link jcs} to say.)
 */
export function is_contract_result(value: unknown): value is ContractResult {
  if (!is_plain_object(value)) return false;
  const debug = Object.hasOwn(value, 'debug') ? ['debug'] : [];
  if (debug.length > 0 && !(Array.isArray(value['debug']) && value['debug'].every(is_text))) return false;
  if (has_exact_keys(value, ['error', ...debug])) return is_text(value['error']);
  if (!has_exact_keys(value, ['data', 'events', ...debug])) return false;
  const events = value['events'];
  if (!Array.isArray(events)) return false;
  return events.every((event: unknown) => {
    if (!is_plain_object(event)) return false;
    const flag = Object.hasOwn(event, 'public') ? ['public'] : [];
    if (flag.length > 0 && event['public'] !== true) return false;
    if (!has_exact_keys(event, ['type', 'attributes', ...flag])) return false;
    const attributes = event['attributes'];
    if (!is_text(event['type']) || !Array.isArray(attributes)) return false;
    return attributes.every(
      (a: unknown) =>
        is_plain_object(a) && has_exact_keys(a, ['key', 'value']) && is_text(a['key']) && is_text(a['value']),
    );
  });
}

function check_scheme_and_key(scheme: unknown, tx_key: unknown): void {
  if (typeof scheme !== 'string') throw new TypeError('scheme must be a string');
  if (!SCHEMES.includes(scheme as Scheme)) throw new RangeError(`unknown scheme ${JSON.stringify(scheme)}`);
  assert_bytes(tx_key, 'tx_key', TX_KEY_BYTES);
}

/**
 * Seals `result_jcs`, which must already be the canonical text `jcs(result)` of a
 * {@link ContractResult} (protocol.md §4; the caller's duty, not checked here): `gcm` gives
 * `GCM(tx_key, IV(1), empty, utf8(result_jcs))`, `siv` gives `SIV(tx_key, empty, utf8(result_jcs))`.
 */
export function seal_result_json(
  p: CryptoProvider,
  scheme: Scheme,
  tx_key: Uint8Array,
  result_jcs: string,
): Uint8Array {
  check_scheme_and_key(scheme, tx_key);
  if (typeof result_jcs !== 'string') throw new TypeError('result_jcs must be a string');
  if (!is_well_formed(result_jcs)) throw new TypeError('result_jcs must not contain lone surrogates');
  const plaintext = utf8(result_jcs);
  return scheme === 'gcm'
    ? p.gcm_seal(tx_key, iv(1), EMPTY, plaintext)
    : p.siv_seal(tx_key, EMPTY, plaintext);
}

/**
 * Seals a contract result under `tx_key` (protocol.md §4): `utf8(jcs(result))` with
 * `GCM(tx_key, IV(1), empty, ·)` or `SIV(tx_key, empty, ·)`. Throws TypeError if `result` is not
 * of the §4 shape or not a JSON value (see {@link jcs}).
 */
export function seal_result(
  p: CryptoProvider,
  scheme: Scheme,
  tx_key: Uint8Array,
  result: ContractResult,
): Uint8Array {
  check_scheme_and_key(scheme, tx_key);
  if (!is_contract_result(result))
    throw new TypeError('result must be {data, events} or {error} (protocol.md §4)');
  return seal_result_json(p, scheme, tx_key, jcs(result));
}

/**
 * Opens a sealed result (protocol.md §4) with the `tx_key` of the message that produced it, as a
 * client does. Throws {@link DecryptError} if it does not authenticate, is not UTF-8 JSON, or is
 * not of the §4 shape; TypeError/RangeError for bad arguments. The text need not be canonical.
 */
export function open_result(
  p: CryptoProvider,
  scheme: Scheme,
  tx_key: Uint8Array,
  output: Uint8Array,
): ContractResult {
  check_scheme_and_key(scheme, tx_key);
  assert_bytes(output, 'output');
  const result = try_open_result(p, scheme, tx_key, output);
  if (result === null) throw new DecryptError();
  return result;
}

function try_open_result(
  p: CryptoProvider,
  scheme: Scheme,
  tx_key: Uint8Array,
  output: Uint8Array,
): ContractResult | null {
  const plaintext =
    scheme === 'gcm' ? p.gcm_open(tx_key, iv(1), EMPTY, output) : p.siv_open(tx_key, EMPTY, output);
  if (plaintext === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(from_utf8(plaintext));
  } catch {
    return null;
  }
  return is_contract_result(value) ? value : null;
}
