/**
 * mailbox: private mail between accounts (system contract; docs/channels.md). Mails live only in
 * the contract's encrypted state, and only the recipient lists them, with its viewing key.
 *
 * execute {"send": {"to": a, "kind": s, "body": s}}          -> {"id": n}
 *         {"set_viewing_key": {"key": s}}                    -> {"status": "ok"}
 *         {"delete": {"ids": [n, ...]}}                      -> {"deleted": n}
 * query   {"inbox": {"address": a, "key": s, "after"?: n, "limit"?: n}}
 *           -> {"mails": [{"id", "from", "kind", "body", "height", "time_ms"}, ...], "next_after": n | null,
 *               "count": n}
 *
 * A mail is {id, from: the sender, kind (1-32 characters of a-z 0-9 _ -), body (at most 16,384
 * characters), height, time_ms}. Ids count 1, 2, 3... per recipient and are never reused, also
 * after a delete. An inbox holds at most 256 mails ("inbox full" until its owner deletes some).
 * A delete takes at most 64 ids and ignores ids it does not hold.
 *
 * The inbox lists mails with ids above `after` (default 0), ascending, at most `limit` (1-64,
 * default 64) and at most MAIL_PAGE_BYTES of mail JSON (the result data is bounded at 64 KiB);
 * `next_after` is the last listed id when more follow, else null; `count` is how many mails the
 * inbox holds in all (so its owner sees it filling up before it is full). A mail's JSON must fit in
 * MAIL_BYTES_MAX UTF-8 bytes (any 16,384 characters do, unless most of them are control
 * characters that JSON escapes as \uXXXX).
 *
 * An inbox query with a wrong key, with no key set, or for an address that never had mail fails
 * with the same "unauthorized" error, from one throw statement, after the same work (a refusal
 * reads only the viewing key, so its gas depends on the stored key's length, never on the
 * mail). No event is emitted: who writes to whom stays private.
 *
 * A system contract: it starts with empty state at genesis and needs no instantiate.
 */

const KIND_CHARS_MAX = 32;
const BODY_CHARS_MAX = 16384;
const INBOX_MAILS_MAX = 256;
const DELETE_IDS_MAX = 64;
const PAGE_MAILS_MAX = 64;
const MAIL_BYTES_MAX = 60000;
const MAIL_PAGE_BYTES = 65000;
const KEY_CHARS_MIN = 8;
const KEY_CHARS_MAX = 128;
const UNAUTHORIZED = 'unauthorized';

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

function check_kind(value) {
  if (typeof value !== 'string' || value.length < 1 || value.length > KIND_CHARS_MAX)
    throw new Error(`kind must be 1 to ${KIND_CHARS_MAX} characters of a-z 0-9 _ -`);
  for (let i = 0; i < value.length; i++) {
    if (!is_name_char(value.charCodeAt(i)))
      throw new Error(`kind must be 1 to ${KIND_CHARS_MAX} characters of a-z 0-9 _ -`);
  }
  return value;
}

function check_text(value, what, min, max) {
  if (typeof value !== 'string' || value.length < min || value.length > max) {
    throw new Error(`${what} must be a string of ${min} to ${max} characters`);
  }
  return value;
}

function check_id(value, what) {
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

/**
 * UTF-8 bytes of JSON.stringify(text) without its quotes: escapes of " \ and control
 * characters included (the text is well-formed: lone surrogates cannot reach a contract).
 */
function json_text_bytes(text) {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 32) bytes += c === 8 || c === 9 || c === 10 || c === 12 || c === 13 ? 2 : 6;
    else if (c === 34 || c === 92) bytes += 2;
    else if (c < 128) bytes += 1;
    else if (c < 2048) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdfff)
      bytes += 2; // half of a 4-byte pair
    else bytes += 3;
  }
  return bytes;
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

// ---- state: "box/<a>" {"last": n, "ids": [stored ids ascending]}, "m/<a>/<id>" a mail with its
// JSON size in "bytes", "vk/<a>" the viewing key

function box_key(address) {
  return `box/${address}`;
}

function mail_key(address, id) {
  return `m/${address}/${id}`;
}

function viewing_key_key(address) {
  return `vk/${address}`;
}

function read_box(ctx, address) {
  return ctx.storage.get_json(box_key(address)) ?? { last: 0, ids: [] };
}

// ---- entry points

function refuse_funds(ctx) {
  if (ctx.funds > 0) throw new Error('the mailbox takes no funds');
}

function send(ctx, body) {
  const to = check_address(body.to, 'to');
  const kind = check_kind(body.kind);
  const text = check_text(body.body, 'body', 0, BODY_CHARS_MAX);
  const box = read_box(ctx, to);
  if (box.ids.length >= INBOX_MAILS_MAX) throw new Error('inbox full');
  const id = box.last + 1;
  const mail = { id, from: ctx.sender, kind, body: text, height: ctx.height, time_ms: ctx.time_ms };
  // The mail's JSON as the inbox lists it: everything but the body is ASCII without escapes.
  const bytes = JSON.stringify({ ...mail, body: '' }).length + json_text_bytes(text);
  if (bytes > MAIL_BYTES_MAX) throw new Error(`the mail's JSON exceeds ${MAIL_BYTES_MAX} bytes`);
  ctx.storage.set_json(mail_key(to, id), { ...mail, bytes });
  box.last = id;
  box.ids.push(id);
  ctx.storage.set_json(box_key(to), box);
  return { id };
}

function remove_mails(ctx, body) {
  const ids = body.ids;
  if (!Array.isArray(ids) || ids.length > DELETE_IDS_MAX)
    throw new Error(`ids must be an array of at most ${DELETE_IDS_MAX} ids`);
  for (const id of ids) check_id(id, 'each id');
  const owner = ctx.sender;
  const box = read_box(ctx, owner);
  const doomed = new Set(ids);
  const kept = [];
  for (const id of box.ids) {
    if (doomed.has(id)) ctx.storage.remove(mail_key(owner, id));
    else kept.push(id);
  }
  const deleted = box.ids.length - kept.length;
  if (deleted > 0) {
    box.ids = kept;
    ctx.storage.set_json(box_key(owner), box);
  }
  return { deleted };
}

/** Harmless: the mailbox is created at genesis with empty state and never instantiated. */
export function instantiate(ctx) {
  refuse_funds(ctx);
  return null;
}

export function execute(ctx, msg) {
  refuse_funds(ctx);
  const send_body = message_body(msg, 'send');
  if (send_body !== undefined) return send(ctx, send_body);

  const set_key = message_body(msg, 'set_viewing_key');
  if (set_key !== undefined) {
    const key = check_text(set_key.key, 'viewing key', KEY_CHARS_MIN, KEY_CHARS_MAX);
    ctx.storage.set(viewing_key_key(ctx.sender), key);
    return { status: 'ok' };
  }

  const delete_body = message_body(msg, 'delete');
  if (delete_body !== undefined) return remove_mails(ctx, delete_body);

  throw new Error('unknown execute message; expected send, set_viewing_key or delete');
}

export function query(ctx, msg) {
  const inbox = message_body(msg, 'inbox');
  if (inbox === undefined) throw new Error('unknown query message; expected inbox');
  // Malformed input is refused before any state is read, so it reveals nothing either.
  if (typeof inbox.address !== 'string' || typeof inbox.key !== 'string')
    throw new Error('inbox needs an address and a key');
  const after = inbox.after === undefined ? 0 : check_id(inbox.after, 'after');
  const limit = inbox.limit === undefined ? PAGE_MAILS_MAX : inbox.limit;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > PAGE_MAILS_MAX)
    throw new Error(`limit must be an integer from 1 to ${PAGE_MAILS_MAX}`);

  let authorized = false;
  if (inbox.address.length === 40 && inbox.key.length <= KEY_CHARS_MAX) {
    const stored = ctx.storage.get(viewing_key_key(inbox.address));
    // Compare even when no key is set: the same work for every kind of failure. The inbox
    // itself is read only once authorized, so a refusal's gas says nothing about the mail.
    const matches = same_secret(stored ?? '', inbox.key);
    authorized = stored !== null && matches;
  }
  // One throw for every failure: an error names the line it was thrown from.
  if (!authorized) throw new Error(UNAUTHORIZED);
  const box = read_box(ctx, inbox.address);

  const mails = [];
  let bytes = 0;
  let next_after = null;
  for (const id of box.ids) {
    if (id <= after) continue;
    if (mails.length === limit) {
      next_after = mails[mails.length - 1].id;
      break;
    }
    const stored = ctx.storage.get_json(mail_key(inbox.address, id));
    // Room for the separating comma; a single mail always fits (MAIL_BYTES_MAX).
    if (mails.length > 0 && bytes + stored.bytes + 1 > MAIL_PAGE_BYTES) {
      next_after = mails[mails.length - 1].id;
      break;
    }
    bytes += stored.bytes + 1;
    mails.push({
      id: stored.id,
      from: stored.from,
      kind: stored.kind,
      body: stored.body,
      height: stored.height,
      time_ms: stored.time_ms,
    });
  }
  return { mails, next_after, count: box.ids.length };
}
