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

function serialize_string(text: string, where: string): string {
  if (!is_well_formed(text)) throw new TypeError(`jcs: lone surrogate in string at ${where}`);
  // RFC 8785 §3.2.2.2: exactly the escaping of ECMAScript JSON.stringify for well-formed strings.
  return JSON.stringify(text);
}

function is_plain_object(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function serialize(value: unknown, where: string, depth: number, ancestors: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return serialize_string(value, where);
    case 'number':
      // RFC 8785 §3.2.2.3: ECMAScript Number::toString; -0 serializes as "0".
      if (!Number.isFinite(value)) throw new TypeError(`jcs: non-finite number at ${where}`);
      return Object.is(value, -0) ? '0' : String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      // undefined, function, bigint, symbol: not JSON values (RFC 8259 §3).
      throw new TypeError(`jcs: ${typeof value} is not a JSON value at ${where}`);
  }
  if (value === null) return 'null';
  if (depth >= JCS_DEPTH_MAX) throw new RangeError(`jcs: nesting deeper than ${JCS_DEPTH_MAX} at ${where}`);
  if (ancestors.has(value)) throw new TypeError(`jcs: cyclic structure at ${where}`);
  ancestors.add(value);
  let out: string;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype)
      throw new TypeError(`jcs: non-plain array at ${where}`);
    const parts: string[] = [];
    for (let i = 0; i < value.length; i++) {
      if (!Object.hasOwn(value, i)) throw new TypeError(`jcs: hole in array at ${where}[${i}]`);
      parts.push(serialize(value[i], `${where}[${i}]`, depth + 1, ancestors));
    }
    out = `[${parts.join(',')}]`;
  } else {
    if (!is_plain_object(value)) throw new TypeError(`jcs: non-plain object at ${where}`);
    if (Object.getOwnPropertySymbols(value).length > 0) {
      throw new TypeError(`jcs: symbol-keyed property at ${where}`);
    }
    const record = value as Record<string, unknown>;
    // RFC 8785 §3.2.3: sort property names by their UTF-16 code units, which is exactly the
    // default comparison of Array.prototype.sort on strings.
    const keys = Object.keys(record).sort();
    const parts: string[] = [];
    for (const key of keys) {
      const child = `${where}.${key}`;
      parts.push(`${serialize_string(key, child)}:${serialize(record[key], child, depth + 1, ancestors)}`);
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
  return serialize(value, '$', 0, new Set());
}

/** `utf8(jcs(value))` (protocol.md §1), the bytes that are signed, hashed and sealed. */
export function jcs_bytes(value: unknown): Uint8Array {
  return utf8(jcs(value));
}
