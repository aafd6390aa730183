/**
 * RFC 8785 JSON Canonicalization Scheme (protocol.md §1 `jcs(v)`): the one text form of a JSON
 * value that is signed (§5 transactions), hashed (§5 `tx_hash`) and sealed (§4 results).
 * Pure and browser-safe.
 * @module
 */

import { utf8 } from './bytes.js';

/**
 * Deepest nesting of arrays and objects that {@link jcs} accepts. A fixed limit (instead of the
 * engine's stack size, which differs between threads and machines) keeps every validator's
 * answer the same for the same input.
 */
export const JCS_DEPTH_MAX = 512;

/** A lone surrogate is a code point in category Cs once the `u` flag pairs the valid ones. */
const LONE_SURROGATE_RE = /\p{Cs}/u;

/**
 * ES2024 `String.prototype.isWellFormed` where the engine has it (Node 20+, current browsers): a
 * native scan, many times faster than the regular expression on the kilobytes of base64 and JSON
 * a block canonicalises. Both answer exactly the same question.
 */
const native_is_well_formed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;

/**
 * True when `text` has no lone surrogate, i.e. it is valid Unicode and so has a UTF-8 encoding
 * (RFC 8785 §3.2.2.2 requires this of every string and property name).
 */
export function is_well_formed(text: string): boolean {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  if (native_is_well_formed !== undefined) return native_is_well_formed.call(text);
  return !LONE_SURROGATE_RE.test(text);
}

/** The regular-expression form of {@link is_well_formed}, for engines without the native one (and tests). */
export function is_well_formed_regex(text: string): boolean {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  return !LONE_SURROGATE_RE.test(text);
}

/**
 * Why a value has no canonical form, thrown inside {@link serialize} without its place: the path
 * (`[3].body.msg`) is built only on the way out of a failure, segment by segment as the recursion
 * unwinds, so canonicalising a valid value (every call but a refusal) makes no path strings.
 */
class Fault {
  /** Path below the value where the fault was found; `$` and the segments above are prepended. */
  path = '';
  constructor(
    readonly kind: 'type' | 'range',
    readonly why: string,
  ) {}
}

/** A string JSON.stringify escapes nothing of (once well-formed): no quote, backslash or control character. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what JSON escapes
const NOTHING_TO_ESCAPE_RE = /^[^"\\\u0000-\u001f]*$/;
/** A string whose only characters JSON.stringify escapes (once well-formed) are quotes. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what JSON escapes
const ONLY_QUOTES_TO_ESCAPE_RE = /^[^\\\u0000-\u001f]*$/;

/**
 * RFC 8785 §3.2.2.2: exactly `JSON.stringify(text)` for a well-formed string, which escapes only
 * the quote, the backslash and U+0000..U+001F (and lone surrogates, refused before). A string with
 * none of them (base64, hex: most of what is signed and hashed) is quoted as it is, several times
 * faster than Node 20's JSON.stringify of it; one whose only such characters are quotes (a
 * transaction's JSON text in a block's list) has each one escaped, a little faster.
 */
function quote_string(text: string): string {
  if (NOTHING_TO_ESCAPE_RE.test(text)) return `"${text}"`;
  if (ONLY_QUOTES_TO_ESCAPE_RE.test(text)) return `"${text.replaceAll('"', '\\"')}"`;
  return JSON.stringify(text);
}

function serialize_string(text: string): string {
  if (!is_well_formed(text)) throw new Fault('type', 'lone surrogate in string');
  return quote_string(text);
}

function is_plain_object(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Prepends `segment` to the path of a {@link Fault} passing through; anything else goes on as is. */
function at(error: unknown, segment: string): unknown {
  if (error instanceof Fault) error.path = segment + error.path;
  return error;
}

function serialize(value: unknown, depth: number, ancestors: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return serialize_string(value);
    case 'number':
      // RFC 8785 §3.2.2.3: ECMAScript Number::toString; -0 serializes as "0".
      if (!Number.isFinite(value)) throw new Fault('type', 'non-finite number');
      return Object.is(value, -0) ? '0' : String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      // undefined, function, bigint, symbol: not JSON values (RFC 8259 §3).
      throw new Fault('type', `${typeof value} is not a JSON value`);
  }
  if (value === null) return 'null';
  if (depth >= JCS_DEPTH_MAX) throw new Fault('range', `nesting deeper than ${JCS_DEPTH_MAX}`);
  if (ancestors.has(value)) throw new Fault('type', 'cyclic structure');
  ancestors.add(value);
  let out: string;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) throw new Fault('type', 'non-plain array');
    const parts: string[] = [];
    for (let i = 0; i < value.length; i++) {
      try {
        if (!Object.hasOwn(value, i)) throw new Fault('type', 'hole in array');
        parts.push(serialize(value[i], depth + 1, ancestors));
      } catch (error) {
        throw at(error, `[${i}]`);
      }
    }
    out = `[${parts.join(',')}]`;
  } else {
    if (!is_plain_object(value)) throw new Fault('type', 'non-plain object');
    if (Object.getOwnPropertySymbols(value).length > 0) throw new Fault('type', 'symbol-keyed property');
    const record = value as Record<string, unknown>;
    // RFC 8785 §3.2.3: sort property names by their UTF-16 code units, which is exactly the
    // default comparison of Array.prototype.sort on strings.
    const keys = Object.keys(record).sort();
    const parts: string[] = [];
    for (const key of keys) {
      try {
        parts.push(`${serialize_string(key)}:${serialize(record[key], depth + 1, ancestors)}`);
      } catch (error) {
        throw at(error, `.${key}`);
      }
    }
    out = `{${parts.join(',')}}`;
  }
  ancestors.delete(value);
  return out;
}

/**
 * RFC 8785 canonical JSON text of `value` (protocol.md §1 `jcs(v)`): property names sorted by
 * UTF-16 code units (§3.2.3), numbers as ECMAScript `Number::toString` (§3.2.2.3), strings escaped
 * as `JSON.stringify` does (§3.2.2.2), no white space.
 *
 * Accepts only JSON values made of `null`, booleans, finite numbers, well-formed strings, arrays
 * without holes and plain objects (prototype `Object.prototype` or `null`). Throws TypeError for
 * non-finite numbers, `undefined` (also as a property value), functions, bigints, symbols, lone
 * surrogates, cycles and any other object (Date, Map, class instances, typed arrays …); `toJSON`
 * is never called. Throws RangeError past {@link JCS_DEPTH_MAX} levels of nesting.
 */
export function jcs(value: unknown): string {
  try {
    return serialize(value, 0, new Set());
  } catch (error) {
    if (!(error instanceof Fault)) throw error;
    const message = `jcs: ${error.why} at $${error.path}`;
    throw error.kind === 'range' ? new RangeError(message) : new TypeError(message);
  }
}

/** `utf8(jcs(value))` (protocol.md §1), the bytes that are signed, hashed and sealed. */
export function jcs_bytes(value: unknown): Uint8Array {
  return utf8(jcs(value));
}
