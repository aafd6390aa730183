/**
 * Strict JSON: `JSON.parse` keeps the last of two equal keys in an object and says nothing, so a
 * text such as `{"signature":"00","body":…,"signature":"<real>"}` reads differently to a parser
 * that keeps the first. Cloister refuses such texts (docs/protocol-notes.md). The check is one pass
 * over text that `JSON.parse` has already accepted: strings are skipped with `indexOf`, and only
 * object keys are decoded and compared, so it costs a fraction of the parse itself.
 * @module
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** Keys an object's list holds before it is looked up through a Set instead (small objects stay cheap). */
const LINEAR_KEYS_MAX = 8;

/** A JSON text with an object that has two keys that decode to the same string. */
export class DuplicateKeyError extends SyntaxError {
  override readonly name = 'DuplicateKeyError';

  /** @param key the decoded key that occurs twice in one object. */
  constructor(readonly key: string) {
    super(`duplicate key ${JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key)} in a JSON object`);
  }
}

/** The keys seen so far in one open object: a short list, or a Set once it grows. */
class KeySet {
  #list: string[] = [];
  #set: Set<string> | null = null;

  /** Adds `key`; false if it was already there. */
  add(key: string): boolean {
    const set = this.#set;
    if (set !== null) {
      if (set.has(key)) return false;
      set.add(key);
      return true;
    }
    const list = this.#list;
    for (let i = 0; i < list.length; i++) if (list[i] === key) return false;
    list.push(key);
    if (list.length > LINEAR_KEYS_MAX) this.#set = new Set(list);
    return true;
  }
}

/** Index of the quote that closes the string opening at `start`, or the text's length if none. */
function string_end(text: string, start: number): number {
  let end = text.indexOf('"', start + 1);
  while (end !== -1) {
    // The quote is escaped when an odd number of backslashes precede it.
    let k = end - 1;
    while (text.charCodeAt(k) === BACKSLASH) k--;
    if ((end - 1 - k) % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
  return text.length;
}

/** The decoded string value of the JSON string literal text[start..end] (quotes included). */
function decode_string(text: string, start: number, end: number): string {
  // Keys are short: look for an escape in the key alone (indexOf could run on to the text's end).
  for (let k = start + 1; k < end; k++) {
    if (text.charCodeAt(k) === BACKSLASH) return JSON.parse(text.slice(start, end + 1)) as string;
  }
  return text.slice(start + 1, end);
}

/**
 * The first key, in text order, that occurs a second time in the same object of the JSON text
 * `text`, decoded (so `"a"` and `"\u0061"` are the same key); null if every object's keys are
 * distinct. Equal keys in different objects are not duplicates. `text` must be JSON that
 * `JSON.parse` accepts: on any other text the answer means nothing (it still returns, in linear
 * time, and throws nothing but a SyntaxError from decoding a broken escape).
 */
export function find_duplicate_key(text: string): string | null {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  // The key sets of the enclosing containers; null stands for an array.
  const stack: (KeySet | null)[] = [];
  let keys: KeySet | null = null;
  let expect_key = false;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = string_end(text, i);
      if (expect_key && keys !== null) {
        const key = decode_string(text, i, end);
        if (!keys.add(key)) return key;
        expect_key = false;
      }
      i = end + 1;
      continue;
    }
    if (c === OPEN_OBJECT) {
      stack.push(keys);
      keys = new KeySet();
      expect_key = true;
    } else if (c === OPEN_ARRAY) {
      stack.push(keys);
      keys = null;
      expect_key = false;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      keys = stack.pop() ?? null;
      expect_key = false;
    } else if (c === COMMA) {
      expect_key = keys !== null;
    }
    i++;
  }
  return null;
}

/**
 * `JSON.parse(text)`, refusing a text in which some object has two equal keys (after decoding
 * escapes). Throws SyntaxError if `text` is not JSON, {@link DuplicateKeyError} (a SyntaxError)
 * naming the first repeated key, TypeError if `text` is not a string.
 */
export function parse_json_strict(text: string): unknown {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  const value = JSON.parse(text) as unknown;
  // Only a text with at least two keys can repeat one: scalars and arrays of scalars skip the scan.
  if (typeof value === 'object' && value !== null) {
    const key = find_duplicate_key(text);
    if (key !== null) throw new DuplicateKeyError(key);
  }
  return value;
}
