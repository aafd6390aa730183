/**
 * directory: a public registry of X25519 key-agreement keys (system contract; docs/channels.md
 * "The directory"). An account publishes keys under ids it chooses; a key is named by its URI
 * `cloister:<account>#<key_id>`. Keys are public data: every entry and event is public.
 *
 * execute {"publish": {"key_id": s, "public_key": hex64}}        -> {"uri": "cloister:<sender>#<key_id>"}
 *         {"revoke": {"key_id": s, "from_height"?: n}}          -> {"revoked_height": n}
 * query   {"keys": {"account": a, "start"?: n, "limit"?: n}}
 *           -> {"keys": [{"key_id", "public_key", "published_height", "revoked_height"}, ...], "next_start": n | null}
 *         {"resolve": {"account": a, "key_id": s}}             -> one such entry, or error "unknown key"
 *
 * Key ids are 1-32 characters of a-z 0-9 _ - and are never reused by the same account, not even
 * after a revoke (a URI names one key for ever). An account holds at most 32 keys that no revoke
 * has named yet (a revoke frees its place, whatever height it counts from), and publishes at most
 * 1024 key ids in all: every id it ever published stays resolvable, so they are never freed. A
 * revoke takes effect from `from_height` (default: this block's height), which must be at or
 * after the key's published height; revoking again may only move that height earlier.
 *
 * `keys` lists an account's keys in publication order from position `start` (default 0), at most
 * `limit` (1-64, default 64) of them; `next_start` is the position to continue from, or null at
 * the end. Public events:
 * {"type": "key_published", "attributes": {account, key_id, public_key}} and
 * {"type": "key_revoked", "attributes": {account, key_id, revoked_height}}.
 *
 * A system contract: it starts with empty state at genesis and needs no instantiate.
 */

const KEY_ID_CHARS_MAX = 32;
/** Keys no revoke has named yet, per account. */
const ACTIVE_KEYS_MAX = 32;
/** Key ids an account may ever publish (each stays resolvable, so none is freed). */
const KEY_IDS_MAX = 1024;
/** Most keys one `keys` page lists (each is at most about 170 bytes of JSON). */
const PAGE_KEYS_MAX = 64;

// ---- validation (no regular expressions in contracts)

function is_digit(code) {
  return code >= 48 && code <= 57;
}

function is_lower_hex(code) {
  return is_digit(code) || (code >= 97 && code <= 102);
}

/** a-z 0-9 _ - */
function is_id_char(code) {
  return is_digit(code) || (code >= 97 && code <= 122) || code === 95 || code === 45;
}

function check_hex(value, what, length) {
  if (typeof value !== 'string' || value.length !== length)
    throw new Error(`${what} must be ${length} lowercase hex characters`);
  for (let i = 0; i < length; i++) {
    if (!is_lower_hex(value.charCodeAt(i)))
      throw new Error(`${what} must be ${length} lowercase hex characters`);
  }
  return value;
}

function check_key_id(value) {
  if (typeof value !== 'string' || value.length < 1 || value.length > KEY_ID_CHARS_MAX)
    throw new Error(`key_id must be 1 to ${KEY_ID_CHARS_MAX} characters of a-z 0-9 _ -`);
  for (let i = 0; i < value.length; i++) {
    if (!is_id_char(value.charCodeAt(i)))
      throw new Error(`key_id must be 1 to ${KEY_ID_CHARS_MAX} characters of a-z 0-9 _ -`);
  }
  return value;
}

function check_height(value, what) {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${what} must be a non-negative integer`);
  return value;
}

function message_body(msg, name) {
  if (msg === null || typeof msg !== 'object' || !Object.hasOwn(msg, name)) return undefined;
  const body = msg[name];
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new Error(`${name} must be an object`);
  return body;
}

// ---- state: "n/<account>" ids published, "a/<account>" keys not yet revoked,
// "i/<account>/<index>" key id, "k/<account>/<key_id>" entry

function count_key(account) {
  return `n/${account}`;
}

function active_key(account) {
  return `a/${account}`;
}

function index_key(account, index) {
  return `i/${account}/${index}`;
}

function entry_key(account, key_id) {
  return `k/${account}/${key_id}`;
}

function read_number(ctx, key) {
  const text = ctx.storage.get(key);
  return text === null ? 0 : Number(text);
}

function read_entry(ctx, account, key_id) {
  return ctx.storage.get_json(entry_key(account, key_id));
}

function uri_of(account, key_id) {
  return `cloister:${account}#${key_id}`;
}

// ---- entry points

function refuse_funds(ctx) {
  if (ctx.funds > 0) throw new Error('the directory takes no funds');
}

function publish(ctx, body) {
  const key_id = check_key_id(body.key_id);
  const public_key = check_hex(body.public_key, 'public_key', 64);
  const account = ctx.sender;
  if (read_entry(ctx, account, key_id) !== null)
    throw new Error(`key id ${key_id} exists: key ids are never reused, publish a new one`);
  const count = read_number(ctx, count_key(account));
  if (count >= KEY_IDS_MAX)
    throw new Error(
      `this account has published all ${KEY_IDS_MAX} key ids it may: ids are never reused, so it can publish no more keys (use another account)`,
    );
  const active = read_number(ctx, active_key(account));
  if (active >= ACTIVE_KEYS_MAX)
    throw new Error(`at most ${ACTIVE_KEYS_MAX} unrevoked keys per account: revoke one first`);
  ctx.storage.set_json(entry_key(account, key_id), {
    key_id,
    public_key,
    published_height: ctx.height,
    revoked_height: null,
  });
  ctx.storage.set(index_key(account, count), key_id);
  ctx.storage.set(count_key(account), String(count + 1));
  ctx.storage.set(active_key(account), String(active + 1));
  ctx.emit('key_published', { account, key_id, public_key }, { public: true });
  return { uri: uri_of(account, key_id) };
}

function revoke(ctx, body) {
  const key_id = check_key_id(body.key_id);
  const from_height =
    body.from_height === undefined ? ctx.height : check_height(body.from_height, 'from_height');
  const account = ctx.sender;
  const entry = read_entry(ctx, account, key_id);
  if (entry === null) throw new Error('unknown key');
  if (from_height < entry.published_height)
    throw new Error(`from_height must be at or after the key's published height ${entry.published_height}`);
  if (entry.revoked_height !== null && from_height > entry.revoked_height)
    throw new Error(
      `the key is revoked from height ${entry.revoked_height}; a revoke may only move it earlier`,
    );
  // The first revoke of a key frees its place among the active ones.
  if (entry.revoked_height === null)
    ctx.storage.set(active_key(account), String(read_number(ctx, active_key(account)) - 1));
  entry.revoked_height = from_height;
  ctx.storage.set_json(entry_key(account, key_id), entry);
  ctx.emit('key_revoked', { account, key_id, revoked_height: String(from_height) }, { public: true });
  return { revoked_height: from_height };
}

/** Harmless: the directory is created at genesis with empty state and never instantiated. */
export function instantiate(ctx) {
  refuse_funds(ctx);
  return null;
}

export function execute(ctx, msg) {
  refuse_funds(ctx);
  const publish_body = message_body(msg, 'publish');
  if (publish_body !== undefined) return publish(ctx, publish_body);
  const revoke_body = message_body(msg, 'revoke');
  if (revoke_body !== undefined) return revoke(ctx, revoke_body);
  throw new Error('unknown execute message; expected publish or revoke');
}

/** One page of an account's keys, in publication order. */
function list_keys(ctx, body) {
  const account = check_hex(body.account, 'account', 40);
  const start = body.start === undefined ? 0 : check_height(body.start, 'start');
  const limit = body.limit === undefined ? PAGE_KEYS_MAX : body.limit;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > PAGE_KEYS_MAX)
    throw new Error(`limit must be an integer from 1 to ${PAGE_KEYS_MAX}`);
  const count = read_number(ctx, count_key(account));
  const end = Math.min(count, start + limit);
  const list = [];
  for (let i = start; i < end; i++) {
    list.push(read_entry(ctx, account, ctx.storage.get(index_key(account, i))));
  }
  return { keys: list, next_start: end < count ? end : null };
}

export function query(ctx, msg) {
  const keys = message_body(msg, 'keys');
  if (keys !== undefined) return list_keys(ctx, keys);
  const resolve = message_body(msg, 'resolve');
  if (resolve !== undefined) {
    const account = check_hex(resolve.account, 'account', 40);
    const entry = read_entry(ctx, account, check_key_id(resolve.key_id));
    if (entry === null) throw new Error('unknown key');
    return entry;
  }
  throw new Error('unknown query message; expected keys or resolve');
}
