/**
 * key_keeper: holds streams' group keys in the contract's encrypted state and gives them to the
 * subscribers a stream ACL allows, while the publisher is offline (system contract; the
 * Streamr key exchange's "key keeper"; docs/channels.md). A secret contract: keys leave it only
 * in a query's answer, sealed to the querier, who proves to be the account with its viewing key.
 *
 * execute {"acl_update": {"stream", "account", "subscribe": bool, "expires_ms": n | null}} -> {"status": "ok"}
 *         {"set_key": {"acl": a, "stream": s, "key_id": s, "key": base64 of 32 bytes}}   -> {"key_id", "height", "time_ms"}
 *         {"set_viewing_key": {"key": s}}                                               -> {"status": "ok"}
 * query   {"get_key": {"acl", "stream", "account", "viewing_key", "key_id"?}}             -> {"key_id", "key", "height", "time_ms"}
 *
 * acl_update comes from a stream ACL contract (contracts/stream_acl.js sends one with every grant
 * and revoke); any sender may send one, but it lands under that sender's address: the entry
 * (acl = ctx.sender, stream, account) says whether the account subscribes, until when, and from
 * which height (the update's height; an update that keeps a still-active subscription keeps
 * its height). subscribe false revokes from the update's height.
 *
 * set_key comes only from the stream's owner (the address before the "/" of the stream id).
 * Key ids are 1-64 printable ASCII characters, never reused per (acl, stream); the keeper keeps
 * the last 64 keys of each (acl, stream), each with the height and block time (time_ms) it was
 * set at (time_ms null for keys set before it was recorded). The latest is the current key. A
 * publisher compares time_ms with members' expiry: a member whose subscription lapsed after the
 * key was set may hold it.
 *
 * get_key answers the key (default: the current one) iff the viewing key is the account's AND
 * the account owns the stream, or its entry under `acl` subscribes, is not expired at the
 * block time (expires_ms null or above it), and the key was set at or after the entry's height
 * (a new subscriber gets no key from before its grant). Every refusal is "unauthorized", from
 * one throw statement, after a constant-work key comparison; an authorized query for a key the
 * keeper does not hold is "no key".
 *
 * A system contract: it starts with empty state at genesis and needs no instantiate.
 */

const NAME_CHARS_MAX = 32;
const KEY_ID_CHARS_MAX = 64;
const KEYS_KEPT = 64;
const KEY_CHARS_MIN = 8;
const KEY_CHARS_MAX = 128;
const UNAUTHORIZED = 'unauthorized';
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** The last character of canonical base64 of 32 bytes carries 4 bits: its low 2 bits are 0. */
const BASE64_LAST = 'AEIMQUYcgkosw048';

// ---- validation (no regular expressions in contracts)

function is_digit(code) {
  return code >= 48 && code <= 57;
}

function is_lower_hex(code) {
  return is_digit(code) || (code >= 97 && code <= 102);
}

/** a-z 0-9 _ - */
function is_name_char(code) {
  return is_digit(code) || (code >= 97 && code <= 122) || code === 95 || code === 45;
}

function check_address(value, what) {
  if (typeof value !== 'string' || value.length !== 40)
    throw new Error(`${what} must be 40 lowercase hex characters`);
  for (let i = 0; i < 40; i++) {
    if (!is_lower_hex(value.charCodeAt(i))) throw new Error(`${what} must be 40 lowercase hex characters`);
  }
  return value;
}

/** "<owner>/<name>": 40 lowercase hex, a slash, 1-32 characters of a-z 0-9 _ -. */
function check_stream(value) {
  let ok =
    typeof value === 'string' &&
    value.length > 41 &&
    value.length <= 41 + NAME_CHARS_MAX &&
    value.charCodeAt(40) === 47;
  for (let i = 0; ok && i < 40; i++) ok = is_lower_hex(value.charCodeAt(i));
  for (let i = 41; ok && i < value.length; i++) ok = is_name_char(value.charCodeAt(i));
  if (!ok) throw new Error('stream must be "<owner address>/<name>"');
  return value;
}

function check_key_id(value) {
  let ok = typeof value === 'string' && value.length >= 1 && value.length <= KEY_ID_CHARS_MAX;
  for (let i = 0; ok && i < value.length; i++) {
    const c = value.charCodeAt(i);
    ok = c >= 33 && c <= 126;
  }
  if (!ok) throw new Error(`key_id must be 1 to ${KEY_ID_CHARS_MAX} printable ASCII characters`);
  return value;
}

function check_group_key(value) {
  let ok = typeof value === 'string' && value.length === 44 && value[43] === '=';
  for (let i = 0; ok && i < 42; i++) ok = BASE64.includes(value[i]);
  if (!ok || !BASE64_LAST.includes(value[42])) throw new Error('key must be base64 of 32 bytes');
  return value;
}

function check_text(value, what, min, max) {
  if (typeof value !== 'string' || value.length < min || value.length > max) {
    throw new Error(`${what} must be a string of ${min} to ${max} characters`);
  }
  return value;
}

function message_body(msg, name) {
  if (msg === null || typeof msg !== 'object' || !Object.hasOwn(msg, name)) return undefined;
  const body = msg[name];
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new Error(`${name} must be an object`);
  return body;
}

/**
 * Whether two strings of at most KEY_CHARS_MAX characters are equal, with the same work (and
 * gas) whatever they contain and however long they are.
 */
function same_secret(a, b) {
  let difference = a.length ^ b.length;
  for (let i = 0; i < KEY_CHARS_MAX; i++) {
    // charCodeAt past the end is NaN, which | 0 turns into 0.
    difference |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  }
  return difference === 0;
}

// ---- state: "a/<acl>/<stream>/<account>" {subscribe, expires_ms, granted_height, revoked_height};
// "n/<acl>/<stream>" how many keys were ever set; "k/<acl>/<stream>/<n % 64>" the n-th key
// {key_id, key, height, time_ms}; "i/<acl>/<stream>/<key_id>" its n (kept for ever: ids are never reused);
// "vk/<account>" the viewing key

function entry_key(acl, stream, account) {
  return `a/${acl}/${stream}/${account}`;
}

function count_key(acl, stream) {
  return `n/${acl}/${stream}`;
}

function slot_key(acl, stream, n) {
  return `k/${acl}/${stream}/${n % KEYS_KEPT}`;
}

function id_key(acl, stream, key_id) {
  return `i/${acl}/${stream}/${key_id}`;
}

function viewing_key_key(account) {
  return `vk/${account}`;
}

function read_count(ctx, acl, stream) {
  const text = ctx.storage.get(count_key(acl, stream));
  return text === null ? 0 : Number(text);
}

function is_active(ctx, entry) {
  return entry?.subscribe === true && (entry.expires_ms === null || entry.expires_ms > ctx.time_ms);
}

/** The kept key `key_id` (default: the latest), or null. */
function find_key(ctx, acl, stream, key_id) {
  const count = read_count(ctx, acl, stream);
  let n = count - 1;
  if (key_id !== undefined) {
    const text = ctx.storage.get(id_key(acl, stream, key_id));
    n = text === null ? -1 : Number(text);
  }
  if (n < 0 || n < count - KEYS_KEPT) return null;
  return ctx.storage.get_json(slot_key(acl, stream, n));
}

// ---- entry points

function refuse_funds(ctx) {
  if (ctx.funds > 0) throw new Error('the key keeper takes no funds');
}

function acl_update(ctx, body) {
  const stream = check_stream(body.stream);
  const account = check_address(body.account, 'account');
  if (typeof body.subscribe !== 'boolean') throw new Error('subscribe must be a boolean');
  const expires_ms = body.expires_ms ?? null;
  if (expires_ms !== null && (!Number.isSafeInteger(expires_ms) || expires_ms < 0))
    throw new Error('expires_ms must be null or a non-negative integer');
  const acl = ctx.sender;
  const key = entry_key(acl, stream, account);
  if (body.subscribe) {
    const previous = ctx.storage.get_json(key);
    // A grant that extends a subscription still active keeps its height: the account had access.
    const granted_height = is_active(ctx, previous) ? previous.granted_height : ctx.height;
    ctx.storage.set_json(key, { subscribe: true, expires_ms, granted_height, revoked_height: null });
  } else {
    ctx.storage.set_json(key, {
      subscribe: false,
      expires_ms: null,
      granted_height: null,
      revoked_height: ctx.height,
    });
  }
  return { status: 'ok' };
}

function set_key(ctx, body) {
  const acl = check_address(body.acl, 'acl');
  const stream = check_stream(body.stream);
  const key_id = check_key_id(body.key_id);
  const key = check_group_key(body.key);
  if (stream.slice(0, 40) !== ctx.sender) throw new Error("only the stream's owner sets its keys");
  if (ctx.storage.get(id_key(acl, stream, key_id)) !== null)
    throw new Error(`key id ${key_id} was used: key ids are never reused`);
  const n = read_count(ctx, acl, stream);
  ctx.storage.set_json(slot_key(acl, stream, n), { key_id, key, height: ctx.height, time_ms: ctx.time_ms });
  ctx.storage.set(id_key(acl, stream, key_id), String(n));
  ctx.storage.set(count_key(acl, stream), String(n + 1));
  return { key_id, height: ctx.height, time_ms: ctx.time_ms };
}

/** Harmless: the key keeper is created at genesis with empty state and never instantiated. */
export function instantiate(ctx) {
  refuse_funds(ctx);
  return null;
}

export function execute(ctx, msg) {
  refuse_funds(ctx);
  const update = message_body(msg, 'acl_update');
  if (update !== undefined) return acl_update(ctx, update);
  const set_body = message_body(msg, 'set_key');
  if (set_body !== undefined) return set_key(ctx, set_body);
  const viewing = message_body(msg, 'set_viewing_key');
  if (viewing !== undefined) {
    const key = check_text(viewing.key, 'viewing key', KEY_CHARS_MIN, KEY_CHARS_MAX);
    ctx.storage.set(viewing_key_key(ctx.sender), key);
    return { status: 'ok' };
  }
  throw new Error('unknown execute message; expected acl_update, set_key or set_viewing_key');
}

export function query(ctx, msg) {
  const body = message_body(msg, 'get_key');
  if (body === undefined) throw new Error('unknown query message; expected get_key');
  // Malformed input is refused before any state is read, so it reveals nothing.
  const acl = check_address(body.acl, 'acl');
  const stream = check_stream(body.stream);
  const account = check_address(body.account, 'account');
  if (typeof body.viewing_key !== 'string') throw new Error('viewing_key must be a string');
  const key_id = body.key_id === undefined ? undefined : check_key_id(body.key_id);

  // The same constant-work comparison whether or not a key is set, and whatever its length.
  const stored = ctx.storage.get(viewing_key_key(account));
  const matches = same_secret(stored ?? '', body.viewing_key);
  const owner = stream.slice(0, 40) === account;
  let authorized = false;
  let key = null;
  if (stored !== null && matches && body.viewing_key.length <= KEY_CHARS_MAX) {
    // The account itself asks: its ACL entry is public in the ACL anyway.
    const entry = owner ? null : ctx.storage.get_json(entry_key(acl, stream, account));
    if (owner || is_active(ctx, entry)) {
      key = find_key(ctx, acl, stream, key_id);
      authorized = key === null || owner || key.height >= entry.granted_height;
    }
  }
  // One throw for every refusal: an error names the line it was thrown from.
  if (!authorized) throw new Error(UNAUTHORIZED);
  if (key === null) throw new Error('no key');
  return { key_id: key.key_id, key: key.key, height: key.height, time_ms: key.time_ms ?? null };
}
