/**
 * directory: a public registry of X25519 key-agreement keys (system contract; docs/channels.md
 * "The directory"). An account publishes keys under ids it chooses; a key is named by its URI
 * `cloister:<account>#<key_id>`. Keys are public data: every entry and event is public.
 *
 * execute {"publish": {"key_id": s, "public_key": hex64}}        -> {"uri": "cloister:<sender>#<key_id>"}
 *         {"revoke": {"key_id": s, "from_height"?: n}}          -> {"revoked_height": n}
 * query   {"keys": {"account": a}}    -> {"keys": [{"key_id", "public_key", "published_height", "revoked_height"}]}
 *         {"resolve": {"account": a, "key_id": s}}             -> one such entry, or error "unknown key"
 *
 * Key ids are 1-32 characters of a-z 0-9 _ - and are never reused by the same account, not even
 * after a revoke (a URI names one key for ever); an account publishes at most 32 ids. A revoke
 * takes effect from `from_height` (default: this block's height), which must be at or after the
 * key's published height; revoking again may only move that height earlier. Public events:
 * {"type": "key_published", "attributes": {account, key_id, public_key}} and
 * {"type": "key_revoked", "attributes": {account, key_id, revoked_height}}.
 *
 * A system contract: it starts with empty state at genesis and needs no instantiate.
 */

const KEY_ID_CHARS_MAX = 32;
const KEYS_PER_ACCOUNT_MAX = 32;

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

// ---- state: "n/<account>" id count, "i/<account>/<index>" key id, "k/<account>/<key_id>" entry

function count_key(account) {
  return `n/${account}`;
}

function index_key(account, index) {
  return `i/${account}/${index}`;
}

function entry_key(account, key_id) {
  return `k/${account}/${key_id}`;
}

function read_count(ctx, account) {
  const text = ctx.storage.get(count_key(account));
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
  const count = read_count(ctx, account);
  if (count >= KEYS_PER_ACCOUNT_MAX) throw new Error(`at most ${KEYS_PER_ACCOUNT_MAX} key ids per account`);
  ctx.storage.set_json(entry_key(account, key_id), {
    key_id,
    public_key,
    published_height: ctx.height,
    revoked_height: null,
  });
  ctx.storage.set(index_key(account, count), key_id);
  ctx.storage.set(count_key(account), String(count + 1));
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

export function query(ctx, msg) {
  const keys = message_body(msg, 'keys');
  if (keys !== undefined) {
    const account = check_hex(keys.account, 'account', 40);
    const count = read_count(ctx, account);
    const list = [];
    for (let i = 0; i < count; i++) {
      list.push(read_entry(ctx, account, ctx.storage.get(index_key(account, i))));
    }
    return { keys: list };
  }
  const resolve = message_body(msg, 'resolve');
  if (resolve !== undefined) {
    const account = check_hex(resolve.account, 'account', 40);
    const entry = read_entry(ctx, account, check_key_id(resolve.key_id));
    if (entry === null) throw new Error('unknown key');
    return entry;
  }
  throw new Error('unknown query message; expected keys or resolve');
}
