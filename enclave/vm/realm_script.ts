/**
 * The trusted script that runs inside each contract's `node:vm` context, as source text.
 *
 * It is text rather than a host function's `toString()` because test runners and bundlers
 * rewrite host functions (inserting helpers that do not exist in the context). It runs once per
 * context, before any contract code, and:
 *
 * 1. removes what differs between validators or escapes metering (clocks, randomness, locale,
 *    timers, promises, weak references, shared memory, regular expressions, code generation,
 *    WebAssembly, the host's console, proxies) and stops stack traces from naming host files; the
 *    contracts' `console` is the realm's own, writing debug lines;
 * 2. turns the data properties people commonly assign on instances (`this.name = ...` in an
 *    Error subclass, `toString`, `constructor`) into accessors, so freezing their prototypes does
 *    not make such assignments throw;
 * 3. deep-freezes every object reachable from the global object and from syntax-only intrinsics,
 *    and locks the global object's properties (a vm global cannot be frozen, so contracts see a
 *    frozen copy of it as `globalThis` instead);
 * 4. builds the contract-facing `ctx` API, the gas counter and the call driver from functions
 *    of this realm. Host callbacks arrive as closure arguments, take and return only primitives,
 *    and never become reachable from contract code.
 *
 * It evaluates to `function (host_get, host_set, host_remove, host_random, host_utf8, cfg)` returning
 * `{ install(outer), run(entry, msg_json, gas_limit, msg_bytes, sender, contract, chain_id,
 * height, time_ms, funds, balance) }`. `run` never throws; it returns the JSON text
 *
 *     [kind, gas_used, data_json_or_message, events, messages, debug, position]
 *
 * with `events` `[[type, [key, value, ...], public (0 or 1)], ...]`, `messages`
 * `[['send', to, amount] | ['execute', contract, msg_json, funds, reply], ...]`, `debug` the
 * debug lines, and `position` the offset in the contract's source where an error was first seen
 * (the instrumentation's statement offsets), or -1.
 * @module
 */

/**
 * Globals the realm script deletes, so contracts cannot name them (`console` is replaced, not
 * in this list). `cloister contract check` warns about sources that use them.
 */
export const removed_global_names: readonly string[] = Object.freeze([
  'Date',
  'Intl',
  'Promise',
  'WeakRef',
  'FinalizationRegistry',
  'SharedArrayBuffer',
  'Atomics',
  'RegExp',
  'eval',
  'Function',
  'InternalError',
  'WebAssembly',
  'Proxy',
  'performance',
  'process',
  'require',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'clearImmediate',
  'queueMicrotask',
  'structuredClone',
  'fetch',
  'crypto',
  'navigator',
]);

/** Source of the realm script (see the module documentation). */
export const realm_script_source = `(function (host_get, host_set, host_remove, host_random, host_utf8, cfg) {
'use strict';
const G = globalThis;
const ObjectC = Object;
const freeze = ObjectC.freeze;
const get_proto = ObjectC.getPrototypeOf;
const get_own = ObjectC.getOwnPropertyDescriptor;
const define = ObjectC.defineProperty;
const create = ObjectC.create;
const keys = ObjectC.keys;
const own_keys = Reflect.ownKeys;
const is_array = Array.isArray;
const json_parse = JSON.parse;
const json_stringify = JSON.stringify;
let contract_stringify = null;
const ErrorC = Error;
const TypeErrorC = TypeError;
const RangeErrorC = RangeError;
const StringC = String;
const string_slice = StringC.prototype.slice;
const symbol_to_string = Symbol.prototype.toString;
const is_safe_integer = Number.isSafeInteger;
const WeakMapC = WeakMap;
const error_proto = ErrorC.prototype;
const range_error_proto = RangeError.prototype;
// Kept for the VM's own constructor wrappers; contracts never see Proxy.
const ProxyC = G.Proxy;
// QuickJS reports running out of memory (and other engine limits) as an InternalError.
const internal_error_proto = typeof InternalError === 'function' ? InternalError.prototype : null;

const TICK = cfg.tick_gas;
const CALL_BASE = cfg.call_base_gas;
const CATCH = cfg.catch_gas;
const MSG_BYTE = cfg.msg_byte_gas;
const READ_BASE = cfg.storage_read_base_gas;
const READ_BYTE = cfg.storage_read_byte_gas;
const WRITE_BASE = cfg.storage_write_base_gas;
const WRITE_BYTE = cfg.storage_write_byte_gas;
const REMOVE_BASE = cfg.storage_remove_base_gas;
const EVENT_BASE = cfg.event_base_gas;
const EVENT_BYTE = cfg.event_byte_gas;
const RANDOM = cfg.random_gas;
const DATA_BYTE = cfg.data_byte_gas;
const MSG_MAX = cfg.msg_size_bytes_max;
const KEY_MAX = cfg.storage_key_bytes_max;
const VALUE_MAX = cfg.storage_value_bytes_max;
const WRITES_MAX = cfg.storage_writes_per_call_max;
const EVENTS_MAX = cfg.events_per_call_max;
const ATTRIBUTES_MAX = cfg.event_attributes_max;
const EVENT_BYTES_MAX = cfg.event_bytes_max;
const DATA_MAX = cfg.data_bytes_max;
const MESSAGE_MAX = cfg.error_message_chars_max;
const ARGS_MAX = cfg.call_args_max;
const MESSAGE_BASE = cfg.message_base_gas;
const MESSAGES_MAX = cfg.messages_per_call_max;
const DEBUG_BASE = cfg.debug_base_gas;
const DEBUG_LINES_MAX = cfg.debug_lines_per_call_max;
const DEBUG_LINE_MAX = cfg.debug_line_chars_max;

// ---- 1. Remove what differs between validators or runs outside metering.

// Zero frames: a stack trace would name host files, whose paths differ between validators.
ErrorC.stackTraceLimit = 0;
// QuickJS keeps the limit behind an accessor pair that freezing does not lock: drop the setter.
const limit_d = get_own(ErrorC, 'stackTraceLimit');
if (limit_d !== undefined && !('value' in limit_d)) {
  define(ErrorC, 'stackTraceLimit', { get: limit_d.get, set: undefined, enumerable: false, configurable: false });
}
// QuickJS's V8-style hook would hand a contract the call sites, and with them the realm's own
// functions (getFunction, getThis): unset it and drop its setter the same way.
const prepare_d = get_own(ErrorC, 'prepareStackTrace');
if (prepare_d !== undefined && !('value' in prepare_d)) {
  if (typeof prepare_d.set === 'function') prepare_d.set.call(ErrorC, undefined);
  define(ErrorC, 'prepareStackTrace', { get: prepare_d.get, set: undefined, enumerable: false, configurable: false });
} else if (prepare_d !== undefined) delete ErrorC.prepareStackTrace;
delete ErrorC.captureStackTrace;

// Intrinsics reachable only through syntax or instances; collected before 'constructor' goes.
const function_proto = get_proto(function () {});
const hidden_roots = [
  function_proto,
  get_proto(function* () {}),
  get_proto((function* () {})()),
  get_proto(async function () {}),
  get_proto(async function* () {}),
  get_proto((async function* () {})()),
  get_proto([][Symbol.iterator]()),
  get_proto(''[Symbol.iterator]()),
  get_proto(new Map()[Symbol.iterator]()),
  get_proto(new Set()[Symbol.iterator]()),
];
// Iterator helpers (newer engines than Node 20) have prototypes reachable only through instances.
if (typeof G.Iterator === 'function') {
  const values = [][Symbol.iterator]();
  if (typeof values.map === 'function') hidden_roots.push(get_proto(values.map((x) => x)));
  if (typeof G.Iterator.from === 'function') hidden_roots.push(get_proto(G.Iterator.from({ next() { return { done: true }; } })));
}
for (let i = 0; i < 6; i++) {
  // Function constructors: code generation is off anyway, but leave no way to reach them.
  if (i !== 2 && i !== 5) delete hidden_roots[i].constructor;
}

const removed_globals = ${JSON.stringify(removed_global_names)};
for (let i = 0; i < removed_globals.length; i++) delete G[removed_globals[i]];
// The host's console (if any) goes; contracts get this realm's, whose every method writes one
// debug line (write_debug, section 4). Defined before hardening, so it is frozen with the globals.
delete G.console;
const debug_method = { debug(...values) { write_debug(values); } }.debug;
define(G, 'console', {
  value: { log: debug_method, info: debug_method, warn: debug_method, error: debug_method, debug: debug_method },
  writable: true,
  enumerable: false,
  configurable: true,
});
delete Math.random;
// Returns a promise (newer engines): work that would run after the call.
delete Array.fromAsync;
// These turn a string argument into a regular expression.
delete StringC.prototype.match;
delete StringC.prototype.matchAll;
delete StringC.prototype.search;

// Arguments live on the native stack: bound how many one call may pass, whatever the route.
const real_apply = Reflect.apply;
const real_construct = Reflect.construct;
const real_bind = function_proto.bind;
const floor = Math.floor;
const NumberC = Number;
function too_many_arguments() {
  return new RangeErrorC('a call may pass at most ' + ARGS_MAX + ' arguments');
}
// CreateListFromArrayLike, bounded: one read of length, then one read per index.
function to_list(args) {
  if ((typeof args !== 'object' || args === null) && typeof args !== 'function') {
    throw new TypeErrorC('CreateListFromArrayLike called on non-object');
  }
  const length = NumberC(args.length);
  const n = length > 0 ? floor(length) : 0;
  if (n > ARGS_MAX) throw too_many_arguments();
  const list = [];
  for (let i = 0; i < n; i++) list.push(args[i]);
  return list;
}
// The instrumentation wraps every spread argument in this.
function spread(iterable) {
  const list = [];
  for (const value of iterable) {
    if (list.length >= ARGS_MAX) throw too_many_arguments();
    list.push(value);
  }
  return list;
}
const bound_counts = new WeakMap();
const call_wrappers = {
  apply(this_arg, args) {
    return real_apply(this, this_arg, args === undefined || args === null ? [] : to_list(args));
  },
  bind(this_arg, ...args) {
    const target = this;
    const total = (bound_counts.get(target) || 0) + args.length;
    if (total > ARGS_MAX) throw too_many_arguments();
    const bound = real_apply(real_bind, target, [this_arg].concat(args));
    if (total > 0) bound_counts.set(bound, total);
    return bound;
  },
};
const reflect_wrappers = {
  apply(target, this_arg, args) {
    return real_apply(target, this_arg, to_list(args));
  },
  construct(target, args, ...rest) {
    return real_construct(target, to_list(args), rest.length > 0 ? rest[0] : target);
  },
};
function replace_method(target, key, value) {
  define(target, key, { value: value, writable: true, enumerable: false, configurable: true });
}
replace_method(function_proto, 'apply', call_wrappers.apply);
replace_method(function_proto, 'bind', call_wrappers.bind);
replace_method(Reflect, 'apply', reflect_wrappers.apply);
replace_method(Reflect, 'construct', reflect_wrappers.construct);

// ---- 1b. Built-ins that work in proportion to their input pay in proportion (docs/contracts.md, "Gas").

// Off while this script sets the realm up (it calls some of these built-ins itself).
let metering = false;
const ELEMENT_GAS = cfg.builtin_element_gas;
const CHARS_PER_GAS = cfg.builtin_chars_per_gas;
const ceil = Math.ceil;
const clz32 = Math.clz32;
// ToLength of x.length (strings and array-likes); may run a contract getter, which is metered.
function len_of(x) {
  if (typeof x === 'string') return x.length;
  if (x === null || (typeof x !== 'object' && typeof x !== 'function')) return 0;
  const n = NumberC(x.length);
  return n > 0 ? (n < 9007199254740991 ? floor(n) : 9007199254740991) : 0;
}
function elements(n) {
  if (metering) charge(n * ELEMENT_GAS);
}
function chars(n) {
  if (metering) charge(ceil(n / CHARS_PER_GAS));
}
// What a result cost to build: its elements, or its characters.
function built(result) {
  if (typeof result === 'string') chars(result.length);
  else if (is_array(result)) elements(result.length);
  else if (result !== null && typeof result === 'object' && typeof result.byteLength === 'number') elements(result.length || 0);
  return result;
}
function sorting(n) {
  return n <= 1 ? 0 : n * (32 - clz32(n));
}
// Replaces target[key] by a method that charges before(this, args) gas first and, if after is
// true, the size of what it built. Methods: not constructible, no prototype, like the built-ins.
function metered(target, key, before, after) {
  const original = target[key];
  if (typeof original !== 'function') return;
  const wrapper = {
    [key](...args) {
      before(this, args);
      const result = real_apply(original, this, args);
      return after ? built(result) : result;
    },
  }[key];
  replace_method(target, key, wrapper);
}
const by_this = (self) => elements(len_of(self));
const by_this_chars = (self) => chars(len_of(self));
const by_sort = (self) => elements(sorting(len_of(self)));
const nothing = () => {};
const array_proto = Array.prototype;
const array_slice = array_proto.slice;
const typed_proto = get_proto(Uint8Array.prototype);
for (const key of ['copyWithin', 'every', 'fill', 'filter', 'find', 'findIndex', 'findLast', 'findLastIndex',
  'forEach', 'includes', 'indexOf', 'join', 'lastIndexOf', 'map', 'reduce', 'reduceRight', 'reverse', 'shift',
  'some', 'splice', 'toReversed', 'toSpliced', 'unshift', 'with', 'flat', 'flatMap', 'concat', 'slice', 'toString']) {
  metered(array_proto, key, by_this, true);
}
metered(array_proto, 'sort', by_sort, false);
metered(array_proto, 'toSorted', by_sort, true);
for (const key of ['copyWithin', 'every', 'fill', 'filter', 'find', 'findIndex', 'findLast', 'findLastIndex',
  'forEach', 'includes', 'indexOf', 'join', 'lastIndexOf', 'map', 'reduce', 'reduceRight', 'reverse', 'slice',
  'some', 'toReversed', 'with', 'toString']) {
  metered(typed_proto, key, by_this, true);
}
metered(typed_proto, 'set', (self, args) => elements(len_of(args[0])), false);
metered(typed_proto, 'sort', by_sort, false);
metered(typed_proto, 'toSorted', by_sort, true);
metered(Array, 'from', (self, args) => elements(len_of(args[0])), true);
metered(get_proto(Uint8Array), 'from', (self, args) => elements(len_of(args[0])), true);
metered(ArrayBuffer.prototype, 'slice', nothing, true);
const string_proto = StringC.prototype;
for (const key of ['endsWith', 'includes', 'indexOf', 'lastIndexOf', 'startsWith', 'normalize', 'toLowerCase',
  'toUpperCase', 'toWellFormed', 'isWellFormed', 'trim', 'trimStart', 'trimEnd', 'split', 'replace', 'replaceAll']) {
  metered(string_proto, key, by_this_chars, true);
}
for (const key of ['concat', 'padEnd', 'padStart', 'repeat', 'slice', 'substring', 'substr', 'at', 'charAt']) {
  metered(string_proto, key, nothing, true);
}
// Parsing builds a value per few characters: it pays an element per 4 characters.
metered(JSON, 'parse', (self, args) => elements(ceil(len_of(args[0]) / 4)), false);
for (const key of ['keys', 'values', 'entries', 'getOwnPropertyNames', 'getOwnPropertySymbols', 'fromEntries']) {
  metered(ObjectC, key, nothing, true);
}
for (const key of ['freeze', 'seal', 'isFrozen', 'isSealed', 'preventExtensions']) {
  metered(ObjectC, key, (self, args) => elements(is_array(args[0]) ? args[0].length : 0), false);
}
metered(ObjectC, 'assign', (self, args) => {
  for (let i = 1; i < args.length; i++) props(args[i]);
}, false);
metered(Reflect, 'ownKeys', nothing, true);

// ---- 1c. Operators and constructors that work in proportion to their operands pay in proportion.
// The instrumentation routes every arithmetic, comparison and 'in' operator whose operands are
// not both numbers through op(), string templates through str() and after(), spreads and for-in
// through elems() and props(), long computed keys through key(). Strings up to FREE_CHARS and
// BigInts below 2^1024 pay nothing extra: every such operation is cheap whatever its operands.
const FREE_CHARS = cfg.operand_chars_free;
const QUADRATIC = cfg.bigint_limbs_squared_per_gas;
const BIG_FREE = 1n << 1024n;
const bigint_proto = BigInt.prototype;
const bigint_to_string = bigint_proto.toString;
const map_size = get_own(Map.prototype, 'size').get;
const set_size = get_own(Set.prototype, 'size').get;
// 64-bit limbs of a BigInt's magnitude, 0 below 2^1024 (two O(1) comparisons).
function limbs(x) {
  if (x > -BIG_FREE && x < BIG_FREE) return 0;
  return ceil(real_apply(bigint_to_string, x < 0n ? -x : x, [16]).length / 16);
}
// Converting a BigInt to decimal takes time quadratic in its size.
function decimal_cost(x) {
  const n = limbs(x);
  if (n > 0) elements(ceil((n * n) / QUADRATIC) + n);
}
function bits_of(x) {
  const n = limbs(x);
  return n > 0 ? n * 64 : real_apply(bigint_to_string, x < 0n ? -x : x, [2]).length;
}
function operands(k, a, b, ta, tb) {
  if (ta === 'string' || tb === 'string') {
    let n = 0;
    if (ta === 'string') n += a.length;
    else if (ta === 'bigint' && k === 0) decimal_cost(a);
    if (tb === 'string') n += b.length;
    else if (tb === 'bigint' && k === 0) decimal_cost(b);
    if (n > FREE_CHARS) chars(n);
  }
  if (ta !== 'bigint' && tb !== 'bigint') return;
  const la = ta === 'bigint' ? limbs(a) : 0;
  const lb = tb === 'bigint' ? limbs(b) : 0;
  if (k === 2 || k === 3 || k === 4) elements(ceil((la * lb) / QUADRATIC) + la + lb);
  else if (k === 5 && ta === 'bigint' && tb === 'bigint') {
    // a ** b has about bits(a)·b bits; squaring up to it is quadratic in that size.
    const size = b > 0n ? ceil((bits_of(a) * NumberC(b)) / 64) : 0;
    elements(size > 0 ? ceil((size * size) / QUADRATIC) + size : 0);
  } else if (k === 6 && tb === 'bigint') {
    const shift = b > 0n ? ceil(NumberC(b) / 64) : 0;
    elements(la + shift);
  } else elements(la + lb);
}
// An operator that takes this path is a call and a dispatch, not one interpreted instruction:
// it pays a tick's gas.
function op(k, a, b) {
  charge(TICK);
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'string' || tb === 'string' || ta === 'bigint' || tb === 'bigint') operands(k, a, b, ta, tb);
  switch (k) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return a / b;
    case 4: return a % b;
    case 5: return a ** b;
    case 6: return a << b;
    case 7: return a >> b;
    case 8: return a >>> b;
    case 9: return a & b;
    case 10: return a | b;
    case 11: return a ^ b;
    case 12: return a == b;
    case 13: return a != b;
    case 14: return a === b;
    case 15: return a !== b;
    case 16: return a < b;
    case 17: return a <= b;
    case 18: return a > b;
    case 19: return a >= b;
    case 20: return a in b;
  }
  throw new TypeErrorC('unknown operator');
}
// What an assignment with a complex target or a template built: paid by its size.
function after(x) {
  if (typeof x === 'string') {
    if (x.length > FREE_CHARS) chars(x.length);
  } else if (typeof x === 'bigint') elements(limbs(x));
  return x;
}
function str(x) {
  if (typeof x === 'bigint') decimal_cost(x);
  return x;
}
function size_of(x) {
  const n = len_of(x);
  if (n > 0) return n;
  if (x === null || typeof x !== 'object') return 0;
  try {
    return real_apply(map_size, x, []);
  } catch {
    try {
      return real_apply(set_size, x, []);
    } catch {
      return 0;
    }
  }
}
function elems(x) {
  elements(size_of(x));
  return x;
}
// Enumerating keys builds a list of them (and for-in checks each against the prototype chain):
// several elements' work per key.
const KEY_ELEMENTS = 4;
function props(x) {
  if (typeof x === 'string') elements(x.length);
  else if (x !== null && (typeof x === 'object' || typeof x === 'function')) elements(own_keys(x).length * KEY_ELEMENTS);
  return x;
}
function key(k) {
  if (typeof k === 'string') {
    if (k.length > FREE_CHARS) chars(k.length);
  } else if (typeof k === 'bigint') decimal_cost(k);
  return k;
}
// Constructors whose work grows with their argument: wrapped in a proxy (the realm's own, with
// fixed traps) that charges first. The prototype's constructor points at the wrapper, so
// '[].constructor === Array' still holds.
function metered_constructor(name, cost) {
  const target = G[name];
  if (typeof target !== 'function') return;
  const proxy = new ProxyC(target, {
    apply(t, self, args) {
      cost(args);
      return real_apply(t, self, args);
    },
    construct(t, args, new_target) {
      cost(args);
      return real_construct(t, args, new_target === proxy ? t : new_target);
    },
  });
  G[name] = proxy;
  const proto = target.prototype;
  const d = proto === undefined ? undefined : get_own(proto, 'constructor');
  if (d !== undefined && 'value' in d && d.value === target) define(proto, 'constructor', { value: proxy, writable: true, enumerable: false, configurable: true });
}
const count_arg = (args) => {
  const n = args[0];
  if (typeof n === 'number') {
    if (n > 0 && n <= 4294967295) elements(floor(n));
  } else elements(size_of(n));
};
metered_constructor('Array', (args) => {
  if (args.length === 1 && typeof args[0] === 'number' && args[0] > 0 && args[0] <= 4294967295) elements(floor(args[0]));
});
metered_constructor('ArrayBuffer', (args) => {
  const n = args[0];
  if (typeof n === 'number' && n > 0 && n < 9007199254740991) chars(floor(n));
});
for (const name of ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array',
  'Uint32Array', 'Float16Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array']) {
  metered_constructor(name, count_arg);
}
for (const name of ['Map', 'Set', 'WeakMap', 'WeakSet']) metered_constructor(name, (args) => elements(size_of(args[0])));
metered_constructor('String', (args) => str(args[0]));
metered_constructor('Number', (args) => {
  if (typeof args[0] === 'string') key(args[0]);
  else if (typeof args[0] === 'bigint') elements(limbs(args[0]));
});
metered_constructor('BigInt', (args) => {
  const v = args[0];
  if (typeof v === 'string' && v.length > 32) {
    const n = ceil(v.length / 19);
    elements(ceil((n * n) / QUADRATIC) + n);
  }
});
metered(bigint_proto, 'toString', (self) => {
  if (typeof self === 'bigint') decimal_cost(self);
}, false);
for (const name of ['parseInt', 'parseFloat']) {
  metered(G, name, (self, args) => key(args[0]), false);
}
metered(ObjectC, 'getOwnPropertyDescriptors', (self, args) => props(args[0]), false);
metered(ObjectC, 'defineProperties', (self, args) => props(args[1]), false);
metered(ObjectC, 'create', (self, args) => props(args[1]), false);
metered(function_proto, 'toString', nothing, true);

// JSON.stringify in this realm's JavaScript: the engine's own recursion over nested data checks
// no stack limit, so the host's stack could run out first (at a depth that differs between
// machines). Here each level is a call the engine's stack check sees, and each visit pays.
const native_stringify = JSON.stringify;
const STRINGIFY_VISIT = 8;
const NumberP = NumberC.prototype;
const StringP = StringC.prototype;
const BooleanP = Boolean.prototype;
const is_finite = NumberC.isFinite;
function stringify(value, replacer, space) {
  let replacer_fn = null;
  let allow = null;
  if (typeof replacer === 'function') replacer_fn = replacer;
  else if (is_array(replacer)) {
    allow = [];
    const n = len_of(replacer);
    elements(n);
    for (let i = 0; i < n; i++) {
      const v = replacer[i];
      let item;
      if (typeof v === 'string') item = v;
      else if (typeof v === 'number') item = StringC(v);
      else if (typeof v === 'object' && v !== null) {
        const p = get_proto(v);
        if (p === NumberP || p === StringP) item = StringC(v);
      }
      if (item !== undefined && allow.indexOf(item) < 0) allow.push(item);
    }
  }
  if (typeof space === 'object' && space !== null) {
    const p = get_proto(space);
    if (p === NumberP) space = NumberC(space);
    else if (p === StringP) space = StringC(space);
  }
  let gap = '';
  if (typeof space === 'number') {
    const n = space >= 10 ? 10 : space >= 1 ? floor(space) : 0;
    for (let i = 0; i < n; i++) gap += ' ';
  } else if (typeof space === 'string') gap = space.length > 10 ? space.slice(0, 10) : space;
  const stack = [];
  const holder = { '': value };
  function str(key, holder, indent) {
    // A visit is a few dozen interpreted operations: it pays like that many syntax nodes.
    elements(STRINGIFY_VISIT);
    let v = holder[key];
    if ((typeof v === 'object' && v !== null) || typeof v === 'bigint') {
      const to_json = v.toJSON;
      if (typeof to_json === 'function') v = real_apply(to_json, v, [key]);
    }
    if (replacer_fn !== null) v = real_apply(replacer_fn, holder, [key, v]);
    if (typeof v === 'object' && v !== null) {
      const p = get_proto(v);
      if (p === NumberP) v = NumberC(v);
      else if (p === StringP) v = StringC(v);
      else if (p === BooleanP) v = real_apply(BooleanP.valueOf, v, []);
    }
    if (v === null) return 'null';
    if (v === true) return 'true';
    if (v === false) return 'false';
    if (typeof v === 'string') {
      chars(v.length);
      return native_stringify(v);
    }
    if (typeof v === 'number') return is_finite(v) ? StringC(v) : 'null';
    // The engine's own TypeError for a BigInt.
    if (typeof v === 'bigint') return native_stringify(v);
    if (typeof v !== 'object') return undefined;
    if (stack.indexOf(v) >= 0) throw new TypeErrorC('circular reference in JSON.stringify');
    stack.push(v);
    const inner = indent + gap;
    const parts = [];
    let out;
    if (is_array(v)) {
      const n = len_of(v);
      for (let i = 0; i < n; i++) {
        const item = str(StringC(i), v, inner);
        parts.push(item === undefined ? 'null' : item);
      }
      out = join_parts('[', parts, ']', indent, inner);
    } else {
      const ks = allow !== null ? allow : keys(v);
      for (let i = 0; i < ks.length; i++) {
        const item = str(ks[i], v, inner);
        if (item !== undefined) parts.push(native_stringify(ks[i]) + (gap === '' ? ':' : ': ') + item);
      }
      out = join_parts('{', parts, '}', indent, inner);
    }
    stack.pop();
    return out;
  }
  function join_parts(open, parts, close, indent, inner) {
    if (parts.length === 0) return open + close;
    if (gap === '') return open + parts.join(',') + close;
    return open + '\\n' + inner + parts.join(',\\n' + inner) + '\\n' + indent + close;
  }
  return str('', holder, '');
}
contract_stringify = stringify;
replace_method(JSON, 'stringify', { stringify(value, replacer, space) { return stringify(value, replacer, space); } }.stringify);

// ---- 2. Keep common assignments working on frozen prototypes (the "override mistake").

const tamed_values = new Map();
function tame(target, key) {
  const d = get_own(target, key);
  if (d === undefined || !('value' in d)) return;
  const value = d.value;
  const accessors = {
    get() { return value; },
    set(v) {
      if (this === target) throw new TypeErrorC('Cannot assign to read only property ' + StringC(key));
      define(this, key, { value: v, writable: true, enumerable: true, configurable: true });
    },
  };
  tamed_values.set(accessors.get, value);
  define(target, key, { get: accessors.get, set: accessors.set, enumerable: d.enumerable, configurable: false });
}
const object_proto = ObjectC.prototype;
tame(object_proto, 'constructor');
tame(object_proto, 'toString');
tame(object_proto, 'valueOf');
tame(object_proto, 'hasOwnProperty');
tame(function_proto, 'toString');
const error_ctors = [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, AggregateError];
for (let i = 0; i < error_ctors.length; i++) {
  const proto = error_ctors[i].prototype;
  tame(proto, 'name');
  tame(proto, 'message');
  tame(proto, 'constructor');
  tame(proto, 'toString');
}

// ---- 3. Deep-freeze everything reachable.

function harden(roots) {
  const seen = new Set();
  const stack = roots.slice();
  while (stack.length > 0) {
    const o = stack.pop();
    if (o === null || (typeof o !== 'object' && typeof o !== 'function') || seen.has(o)) continue;
    seen.add(o);
    const ks = own_keys(o);
    for (let i = 0; i < ks.length; i++) {
      const k = ks[i];
      // Locale-dependent methods differ with the host's ICU data and settings.
      if (typeof k === 'string' && (k.startsWith('toLocale') || k === 'localeCompare')) {
        delete o[k];
        continue;
      }
      const d = get_own(o, k);
      if (d === undefined) continue;
      if ('value' in d) stack.push(d.value);
      else stack.push(d.get, d.set);
    }
    stack.push(get_proto(o));
    if (o !== G) freeze(o);
  }
}
harden([G].concat(hidden_roots));

const global_keys = own_keys(G);
for (let i = 0; i < global_keys.length; i++) {
  const d = get_own(G, global_keys[i]);
  if ('value' in d) d.writable = false;
  d.configurable = false;
  define(G, global_keys[i], d);
}
// What contracts see as globalThis: a frozen copy, since the vm global cannot be frozen and
// anything added to it would outlive the call.
const shadow = create(get_proto(G));
for (let i = 0; i < global_keys.length; i++) {
  const k = global_keys[i];
  const d = get_own(G, k);
  define(shadow, k, { value: k === 'globalThis' ? shadow : G[k], writable: false, enumerable: d.enumerable, configurable: false });
}
freeze(shadow);

// ---- 4. Gas, faults and the ctx API.

const sentinels = freeze([
  null,
  freeze(new ErrorC('out of gas')),
  freeze(new ErrorC('call depth limit exceeded')),
  freeze(new RangeErrorC('stack overflow')),
  freeze(new ErrorC('internal error')),
  freeze(new RangeErrorC('out of memory')),
]);

// Faults, sticky for the rest of a call: 0 none, 1 out of gas, 2 call depth, 3 native stack
// overflow, 4 a host callback failed, 5 the engine ran out of memory.
let factory = null;
let gas_limit = 0;
// Gas left, in an object the instrumented code decrements inline (a tick is then a property
// update, not a call: several times cheaper in QuickJS). Only the factory's reserved parameter
// names it, so contract code cannot reach it.
const gas = { left: 0 };
let fault = 0;
let used_at_fault = 0;
let read_only = true;
let writes = 0;
let events = [];
let messages = [];
let debug_lines = [];
let debug_dropped = 0;
// Where each exception was first seen: objects by identity; a thrown primitive by value, until a
// contract catch clause takes it. A new map in every call that throws, so no position outlives
// its call.
let marks = null;
let prim_marked = false;
let prim_value;
let prim_pos = -1;

// Sticky: once set, gas.left stays negative, so every later tick and charge throws again.
function fail(kind) {
  if (fault === 0) {
    fault = kind;
    used_at_fault = gas.left < 0 ? gas_limit : gas_limit - gas.left;
  }
  gas.left = -1;
  throw sentinels[fault];
}
// The instrumentation's tick is \`if ((gas.left -= tick_gas) < 0) tick();\`: this is its slow path.
function tick() {
  if (gas.left < 0) fail(1);
}
function charge(amount) {
  if ((gas.left -= amount) < 0) fail(1);
}
function deep() {
  fail(2);
}
function is_overflow(e) {
  // No proxies exist in this realm, so these reads run no contract code.
  if (typeof e !== 'object' || e === null || get_proto(e) !== range_error_proto) return false;
  const d = get_own(e, 'message');
  return d !== undefined && d.value === 'Maximum call stack size exceeded';
}
function is_exhausted(e) {
  return internal_error_proto !== null && typeof e === 'object' && e !== null && get_proto(e) === internal_error_proto;
}
function is_object(e) {
  return (typeof e === 'object' && e !== null) || typeof e === 'function';
}
// The instrumentation calls this with each exception leaving a function body (or the module
// body) and the offset of the statement it left from; the first offset an exception gets stays.
function mark(e, pos) {
  if (fault !== 0) return;
  if (is_object(e)) {
    if (marks === null) marks = new WeakMapC();
    if (!marks.has(e)) marks.set(e, pos);
  } else if (!prim_marked || !(prim_value === e || (prim_value !== prim_value && e !== e))) {
    prim_marked = true;
    prim_value = e;
    prim_pos = pos;
  }
}
function position_of(e) {
  if (is_object(e)) return marks !== null && marks.has(e) ? marks.get(e) : -1;
  if (prim_marked && (prim_value === e || (prim_value !== prim_value && e !== e))) return prim_pos;
  return -1;
}
// Runs first in every catch block; the instrumentation passes the position of the statement that
// was running. An error object keeps its first position if thrown again; a primitive, being
// handled, loses it (a rethrow gets the rethrow's position).
function caught(e, pos) {
  if (fault !== 0) throw sentinels[fault];
  if (is_overflow(e)) fail(3);
  if (is_exhausted(e)) fail(5);
  charge(CATCH);
  if (pos !== undefined) {
    if (is_object(e)) mark(e, pos);
    else prim_marked = false;
  }
}

// UTF-8 length of s, or -1 if s has a lone surrogate.
function utf8_length(s) {
  // Longer strings are measured by the host: the same answer, without an interpreted loop.
  if (s.length > 64) return host_utf8(s);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return -1;
      n += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return -1;
    else n += 3;
  }
  return n;
}
function check_string(value, what, max_bytes) {
  if (typeof value !== 'string') throw new TypeErrorC(what + ' must be a string');
  if (value.length > max_bytes) throw new RangeErrorC(what + ' exceeds ' + max_bytes + ' bytes');
  const n = utf8_length(value);
  if (n < 0) throw new TypeErrorC(what + ' must be well-formed Unicode (no lone surrogates)');
  if (n > max_bytes) throw new RangeErrorC(what + ' exceeds ' + max_bytes + ' bytes');
  return n;
}
function check_writable() {
  if (read_only) throw new ErrorC('storage is read-only in queries');
  if (writes >= WRITES_MAX) throw new RangeErrorC('more than ' + WRITES_MAX + ' storage writes in one call');
}
function check_address(value, what) {
  if (typeof value !== 'string' || value.length !== 40) throw new TypeErrorC(what + ' must be 40 lowercase hex characters');
  for (let i = 0; i < 40; i++) {
    const c = value.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) throw new TypeErrorC(what + ' must be 40 lowercase hex characters');
  }
}
// ucst amounts are safe integers (protocol.md §9): at least min (1 or 0).
function check_amount(value, what, min) {
  if (typeof value !== 'number') throw new TypeErrorC(what + ' must be a number');
  if (!is_safe_integer(value) || value < min) {
    throw new RangeErrorC(what + ' must be a ' + (min > 0 ? 'positive' : 'non-negative') + ' safe integer');
  }
}
// An options argument: undefined, or an object with only the allowed keys.
function check_options(opts, what, allowed) {
  if (opts === undefined) return false;
  if (typeof opts !== 'object' || opts === null || is_array(opts)) throw new TypeErrorC(what + ' must be an object');
  const ks = keys(opts);
  elements(ks.length);
  for (let i = 0; i < ks.length; i++) {
    if (allowed.indexOf(ks[i]) < 0) throw new TypeErrorC(what + ' has an unknown option ' + ks[i] + ' (expected ' + allowed.join(', ') + ')');
  }
  return true;
}
function check_messages() {
  if (read_only) throw new ErrorC('messages cannot be sent from queries');
  if (messages.length >= MESSAGES_MAX) throw new RangeErrorC('more than ' + MESSAGES_MAX + ' messages in one call');
}
const execute_options = freeze(['funds', 'reply']);
const event_options = freeze(['public']);

// ---- Debug lines: console.log's formatting for what contracts print, bounded, paid the same
// on every network (the executor drops the lines where the network keeps none).

function is_error(v) {
  let o = v;
  for (let depth = 0; depth < 32 && o !== null; depth++) {
    o = get_proto(o);
    if (o === error_proto) return true;
  }
  return false;
}
// One value's text: strings as they are; errors as in a contract error; functions by name;
// other objects as JSON, or String(value) where JSON has no text for them. May run contract
// code (toJSON, getters, toString): metered like any contract code.
function debug_text(v) {
  if (typeof v === 'string') return v;
  if (v === undefined) return 'undefined';
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return StringC(v);
  if (typeof v === 'bigint') {
    str(v);
    return StringC(v) + 'n';
  }
  if (typeof v === 'symbol') return real_apply(symbol_to_string, v, []);
  if (typeof v === 'function') {
    const name = find_data(v, 'name');
    return typeof name === 'string' && name !== '' ? '[Function: ' + name + ']' : '[Function (anonymous)]';
  }
  if (is_error(v)) return describe(v);
  let text;
  try {
    text = contract_stringify(v);
  } catch (e) {
    caught(e);
  }
  if (typeof text === 'string') return text;
  try {
    return StringC(v);
  } catch (e) {
    caught(e);
    return '[object]';
  }
}
function cut(text, max) {
  if (text.length <= max) return text;
  let end = max;
  const c = text.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return real_apply(string_slice, text, [0, end]);
}
// One line: the values' texts joined by single spaces, cut to DEBUG_LINE_MAX characters. Pays
// DEBUG_BASE and the characters of every value's text, kept or cut.
function write_debug(values) {
  charge(DEBUG_BASE);
  let line = '';
  for (let i = 0; i < values.length; i++) {
    const text = debug_text(values[i]);
    chars(text.length);
    if (line.length <= DEBUG_LINE_MAX) line = (i === 0 ? '' : line + ' ') + cut(text, DEBUG_LINE_MAX + 1);
  }
  line = cut(line, DEBUG_LINE_MAX);
  if (debug_lines.length < DEBUG_LINES_MAX) debug_lines.push(line);
  else debug_dropped++;
}
// The call's lines: at most DEBUG_LINES_MAX, the last saying how many were dropped if any were.
function debug_out() {
  if (debug_dropped === 0) return debug_lines;
  const kept = real_apply(array_slice, debug_lines, [0, DEBUG_LINES_MAX - 1]);
  kept.push('\u2026 ' + (debug_dropped + 1) + ' more debug lines dropped');
  return kept;
}

// Methods (not function expressions): they cannot be called with new and have no prototype.
const storage = freeze({
  get(key) {
    const key_bytes = check_string(key, 'storage key', KEY_MAX);
    charge(READ_BASE + key_bytes * READ_BYTE);
    let value;
    try {
      value = host_get(key);
    } catch {
      // Host callbacks report failures by value; a throw can only be the native stack running out.
      fail(3);
    }
    if (value === null) return null;
    if (typeof value !== 'string') fail(4);
    charge(utf8_length(value) * READ_BYTE);
    return value;
  },
  set(key, value) {
    check_writable();
    const key_bytes = check_string(key, 'storage key', KEY_MAX);
    const value_bytes = check_string(value, 'storage value', VALUE_MAX);
    charge(WRITE_BASE + (key_bytes + value_bytes) * WRITE_BYTE);
    writes++;
    let done;
    try {
      done = host_set(key, value);
    } catch {
      fail(3);
    }
    if (done !== true) fail(4);
  },
  remove(key) {
    check_writable();
    const key_bytes = check_string(key, 'storage key', KEY_MAX);
    charge(REMOVE_BASE + key_bytes * WRITE_BYTE);
    writes++;
    let done;
    try {
      done = host_remove(key);
    } catch {
      fail(3);
    }
    if (done !== true) fail(4);
  },
  get_json(key) {
    const text = storage.get(key);
    return text === null ? null : json_parse(text);
  },
  set_json(key, value) {
    const text = contract_stringify(value);
    if (typeof text !== 'string') throw new TypeErrorC('storage value is not JSON-serializable');
    storage.set(key, text);
  },
});

const api = freeze({
  random() {
    charge(RANDOM);
    let hex;
    try {
      hex = host_random();
    } catch {
      fail(3);
    }
    if (typeof hex !== 'string') fail(4);
    return hex;
  },
  emit(type, attributes, opts) {
    if (events.length >= EVENTS_MAX) throw new RangeErrorC('more than ' + EVENTS_MAX + ' events in one call');
    let bytes = check_string(type, 'event type', EVENT_BYTES_MAX);
    if (bytes === 0) throw new TypeErrorC('event type must not be empty');
    const flat = [];
    if (attributes !== undefined) {
      if (typeof attributes !== 'object' || attributes === null || is_array(attributes)) {
        throw new TypeErrorC('event attributes must be an object with string values');
      }
      const ks = keys(attributes);
      if (ks.length > ATTRIBUTES_MAX) {
        throw new RangeErrorC('more than ' + ATTRIBUTES_MAX + ' attributes in one event');
      }
      for (let i = 0; i < ks.length; i++) {
        const k = ks[i];
        const key_bytes = check_string(k, 'event attribute key', EVENT_BYTES_MAX);
        if (key_bytes === 0) throw new TypeErrorC('event attribute keys must not be empty');
        // May run a contract getter: metered like any contract code.
        const v = attributes[k];
        bytes += key_bytes + check_string(v, 'event attribute ' + k, EVENT_BYTES_MAX);
        if (bytes > EVENT_BYTES_MAX) throw new RangeErrorC('event exceeds ' + EVENT_BYTES_MAX + ' bytes');
        flat.push(k, v);
      }
    }
    let is_public = false;
    if (check_options(opts, 'event options', event_options)) {
      const p = opts.public;
      if (p !== undefined && typeof p !== 'boolean') throw new TypeErrorC('event option public must be a boolean');
      is_public = p === true;
    }
    charge(EVENT_BASE + bytes * EVENT_BYTE);
    // A getter above may have emitted too.
    if (events.length >= EVENTS_MAX) throw new RangeErrorC('more than ' + EVENTS_MAX + ' events in one call');
    events.push([type, flat, is_public ? 1 : 0]);
  },
  // Each attempt pays its base first, refused or not: a refusal builds an error, which costs time.
  send(to, amount) {
    charge(MESSAGE_BASE);
    check_messages();
    check_address(to, 'send recipient');
    check_amount(amount, 'send amount', 1);
    messages.push(['send', to, amount]);
  },
  execute(contract, msg, opts) {
    charge(MESSAGE_BASE);
    check_messages();
    check_address(contract, 'execute contract');
    let funds = 0;
    let reply = false;
    if (check_options(opts, 'execute options', execute_options)) {
      // Each read once: a getter is contract code.
      const f = opts.funds;
      const r = opts.reply;
      if (f !== undefined) {
        check_amount(f, 'execute funds', 0);
        funds = f === 0 ? 0 : f;
      }
      if (r !== undefined && typeof r !== 'boolean') throw new TypeErrorC('execute option reply must be a boolean');
      reply = r === true;
    }
    // May run contract toJSON methods and getters: metered.
    const msg_json = contract_stringify(msg);
    if (typeof msg_json !== 'string') throw new TypeErrorC('execute msg is not JSON-serializable');
    if (msg_json.length > MSG_MAX) throw new RangeErrorC('execute msg exceeds ' + MSG_MAX + ' bytes');
    const bytes = utf8_length(msg_json);
    if (bytes < 0 || bytes > MSG_MAX) throw new RangeErrorC('execute msg exceeds ' + MSG_MAX + ' bytes');
    charge(bytes * MSG_BYTE);
    // A getter or toJSON above may have sent too.
    check_messages();
    messages.push(['execute', contract, msg_json, funds, reply]);
  },
  debug: debug_method,
  gas_left() {
    return gas.left < 0 ? 0 : gas.left;
  },
});

// Reused by every call, so frozen all the way down.
harden([storage, api, sentinels]);

function make_ctx(sender, contract, chain_id, height, time_ms, funds, balance) {
  return freeze({
    sender: sender,
    contract: contract,
    chain_id: chain_id,
    height: height,
    time_ms: time_ms,
    funds: funds,
    balance: balance,
    storage: storage,
    random: api.random,
    emit: api.emit,
    send: api.send,
    execute: api.execute,
    debug: api.debug,
    gas_left: api.gas_left,
  });
}

// The first data property named p along e's prototype chain, reading no contract code.
function find_data(e, p) {
  let o = e;
  for (let depth = 0; depth < 32 && o !== null; depth++) {
    const d = get_own(o, p);
    if (d !== undefined) {
      if ('value' in d) return d.value;
      return tamed_values.has(d.get) ? tamed_values.get(d.get) : undefined;
    }
    o = get_proto(o);
  }
  return undefined;
}
function describe(e) {
  let text;
  if (typeof e === 'string') text = e;
  else if ((typeof e === 'object' && e !== null) || typeof e === 'function') {
    const own = get_own(e, 'message');
    const message = own !== undefined && typeof own.value === 'string' ? own.value : find_data(e, 'message');
    const name = find_data(e, 'name');
    if (typeof message === 'string' && message !== '') {
      text = typeof name === 'string' && name !== '' && name !== 'Error' ? name + ': ' + message : message;
    } else {
      text = typeof name === 'string' && name !== '' ? name : 'uncaught exception';
    }
  } else text = StringC(e);
  // One spare unit lets the host cut without splitting a surrogate pair.
  return text.length > MESSAGE_MAX + 1 ? text.slice(0, MESSAGE_MAX + 1) : text;
}

function run_inner(entry, msg_json, msg_bytes, sender, contract, chain_id, height, time_ms, funds, balance) {
  charge(CALL_BASE);
  if (msg_bytes > MSG_MAX) return ['error', 'message exceeds ' + MSG_MAX + ' bytes'];
  charge(msg_bytes * MSG_BYTE);
  let msg;
  try {
    msg = json_parse(msg_json);
  } catch {
    return ['error', 'message is not valid JSON'];
  }
  const ctx = make_ctx(sender, contract, chain_id, height, time_ms, funds, balance);
  // A fresh module instance: module-level state never outlives the call.
  const exports = factory(tick, caught, deep, spread, gas, op, after, str, elems, props, key, mark);
  const fn = exports[entry];
  if (typeof fn !== 'function') return ['error', 'contract has no ' + entry + ' entry point'];
  const data = fn(ctx, msg);
  if (fault !== 0) return null;
  let data_json = 'null';
  if (data !== undefined) {
    // May run contract toJSON methods and getters: metered.
    data_json = contract_stringify(data);
    if (fault !== 0) return null;
    if (typeof data_json !== 'string') return ['error', 'result data is not JSON-serializable'];
  }
  if (data_json.length > DATA_MAX) return ['error', 'result data exceeds ' + DATA_MAX + ' bytes'];
  const data_bytes = utf8_length(data_json);
  if (data_bytes > DATA_MAX) return ['error', 'result data exceeds ' + DATA_MAX + ' bytes'];
  charge(data_bytes * DATA_BYTE);
  return ['ok', data_json];
}

function run(entry, msg_json, limit, msg_bytes, sender, contract, chain_id, height, time_ms, funds, balance) {
  gas_limit = limit;
  gas.left = limit;
  fault = 0;
  used_at_fault = 0;
  read_only = entry === 'query';
  writes = 0;
  events = [];
  messages = [];
  debug_lines = [];
  debug_dropped = 0;
  marks = null;
  prim_marked = false;
  prim_value = undefined;
  let result = null;
  let pos = -1;
  try {
    result = run_inner(entry, msg_json, msg_bytes, sender, contract, chain_id, height, time_ms, funds, balance);
  } catch (e) {
    if (fault === 0 && is_overflow(e)) fault = 3;
    if (fault === 0 && is_exhausted(e)) fault = 5;
    if (fault === 0) {
      result = ['error', describe(e)];
      pos = position_of(e);
    }
  }
  let out;
  // Running out of gas, call depth, stack or memory is one outcome, code 2 (protocol.md §5: out
  // of gas or of another metered resource), with all the gas used: how far a call got before its
  // stack or memory ran out is not something gas measures. It returns no debug lines.
  if (fault === 1 || fault === 2 || fault === 3 || fault === 5) out = ['out_of_gas', gas_limit, '', [], [], [], -1];
  else if (fault === 4) out = ['error', used_at_fault, 'internal error: the host failed a storage or random call', [], [], debug_out(), -1];
  else if (result === null) out = ['error', gas_limit - gas.left, 'internal error: no result', [], [], debug_out(), -1];
  else if (result[0] === 'ok') out = ['ok', gas_limit - gas.left, result[1], events, messages, debug_out(), -1];
  else out = ['error', gas_limit - gas.left, result[1], [], [], debug_out(), pos];
  events = [];
  messages = [];
  debug_lines = [];
  marks = null;
  prim_value = undefined;
  return json_stringify(out);
}

function install(outer) {
  factory = outer(shadow);
}

metering = true;
return freeze({ install: install, run: run });
})`;
