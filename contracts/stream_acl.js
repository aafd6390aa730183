/**
 * stream_acl: a public registry of streams and who may publish to or subscribe to them (system
 * contract; like Streamr's StreamRegistry; docs/channels.md). A stream's messages are this
 * contract's public events: anyone reads them from any validator; they carry ciphertext only.
 *
 * execute {"create": {"name": s, "keeper"?: a}}                          -> {"stream": "<sender>/<name>"}
 *         {"grant": {"stream", "account", "publish"?: bool, "subscribe"?: bool, "expires_ms"?: n | null}}
 *                                                                        -> {"status": "ok"}
 *         {"revoke": {"stream", "account"}}                             -> {"status": "ok"}
 *         {"publish": {"stream", "kind"?: "message" | "key_request" | "key_response", "message": s}}
 *                                                                        -> {"seq": n}
 * query   {"stream": {"stream"}}               -> {"owner", "keeper", "seq", "created_height", "removed_height"}
 *         {"permissions": {"stream", "account"}} -> {"publish", "subscribe", "expires_ms", "granted_height"}
 *         {"members": {"stream"}}              -> {"members": [{"account", "publish", "subscribe",
 *                                                  "expires_ms", "granted_height"}, ...], "removed_height"}
 *
 * A stream's id is "<owner>/<name>", name 1-32 characters of a-z 0-9 _ -. Only the owner grants
 * and revokes; a grant replaces the account's permissions (booleans default false, expires_ms
 * null = never); a stream has at most 256 members besides its owner, who has every permission
 * and cannot be granted. When the stream names a keeper (contracts/key_keeper.js), every grant
 * and revoke also sends it {"acl_update": {stream, account, subscribe, expires_ms}} (a revoke
 * with subscribe false), so the keeper's view follows the ACL in the same transaction; a keeper
 * that refuses fails the grant.
 *
 * removed_height is the height of the stream's latest removal, or null: a revoke of a member
 * that had the subscribe permission (expired or not), or a grant that leaves such a member
 * without an unexpired one. A group key set below it may be held by an account that may no
 * longer subscribe: publishers re-key (or refuse) first.
 *
 * publish: kinds message and key_response need the owner or an unexpired publish permission
 * (expires_ms null or above the block time); key_request is open to anyone (a subscriber asking
 * for the group key). Every kind takes the stream's next seq (1, 2, ...). The message is at
 * most MESSAGE_BYTES_MAX UTF-8 bytes: it goes out as the public event
 * {"type": "stream_" + kind, "attributes": {stream, seq, sender, message}}, and an event is at
 * most 8 KiB in all.
 *
 * A system contract: it starts with empty state at genesis and needs no instantiate.
 */

const NAME_CHARS_MAX = 32;
const MEMBERS_MAX = 256;
const MESSAGE_BYTES_MAX = 8000;
const KINDS = ['message', 'key_request', 'key_response'];

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

function is_name(value, from) {
  const length = value.length - from;
  if (length < 1 || length > NAME_CHARS_MAX) return false;
  for (let i = from; i < value.length; i++) {
    if (!is_name_char(value.charCodeAt(i))) return false;
  }
  return true;
}

function check_name(value) {
  if (typeof value !== 'string' || !is_name(value, 0))
    throw new Error(`name must be 1 to ${NAME_CHARS_MAX} characters of a-z 0-9 _ -`);
  return value;
}

/** "<owner>/<name>": 40 lowercase hex, a slash, a name. */
function check_stream(value) {
  let ok = typeof value === 'string' && value.length > 41 && value.charCodeAt(40) === 47;
  for (let i = 0; ok && i < 40; i++) ok = is_lower_hex(value.charCodeAt(i));
  if (!ok || !is_name(value, 41)) throw new Error('stream must be "<owner address>/<name>"');
  return value;
}

function check_flag(value, what) {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new Error(`${what} must be a boolean`);
  return value;
}

function check_expiry(value) {
  if (value === undefined || value === null) return null;
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error('expires_ms must be null or a non-negative integer (ms since the Unix epoch)');
  return value;
}

/** UTF-8 bytes of a well-formed string (a surrogate pair is two units of 2). */
function utf8_bytes(text) {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    bytes += c < 128 ? 1 : c < 2048 || (c >= 0xd800 && c <= 0xdfff) ? 2 : 3;
  }
  return bytes;
}

function check_message(value) {
  if (typeof value !== 'string') throw new Error('message must be a string');
  // At most 3 bytes per UTF-16 unit: count only when it could matter.
  if (
    value.length > MESSAGE_BYTES_MAX ||
    (value.length * 3 > MESSAGE_BYTES_MAX && utf8_bytes(value) > MESSAGE_BYTES_MAX)
  )
    throw new Error(`message must be at most ${MESSAGE_BYTES_MAX} UTF-8 bytes`);
  return value;
}

function message_body(msg, name) {
  if (msg === null || typeof msg !== 'object' || !Object.hasOwn(msg, name)) return undefined;
  const body = msg[name];
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new Error(`${name} must be an object`);
  return body;
}

// ---- state: "s/<stream>" {owner, keeper, seq, created_height, removed_height}, "m/<stream>" [member, ...] in
// grant order, "p/<stream>/<account>" {publish, subscribe, expires_ms, granted_height}

function stream_key(stream) {
  return `s/${stream}`;
}

function members_key(stream) {
  return `m/${stream}`;
}

function permission_key(stream, account) {
  return `p/${stream}/${account}`;
}

function read_stream(ctx, stream) {
  const record = ctx.storage.get_json(stream_key(stream));
  if (record === null) throw new Error(`unknown stream ${stream}`);
  return record;
}

function owned_stream(ctx, stream) {
  const record = read_stream(ctx, stream);
  if (record.owner !== ctx.sender) throw new Error('only the stream owner may change its permissions');
  return record;
}

function not_expired(ctx, expires_ms) {
  return expires_ms === null || expires_ms > ctx.time_ms;
}

/** Records a removal of a subscriber at this height (removed_height; see the header). */
function mark_removed(ctx, stream, record) {
  record.removed_height = ctx.height;
  ctx.storage.set_json(stream_key(stream), record);
}

function tell_keeper(ctx, record, stream, account, subscribe, expires_ms) {
  if (record.keeper === null) return;
  ctx.execute(record.keeper, { acl_update: { stream, account, subscribe, expires_ms } });
}

// ---- entry points

function refuse_funds(ctx) {
  if (ctx.funds > 0) throw new Error('the stream ACL takes no funds');
}

function create(ctx, body) {
  const name = check_name(body.name);
  const keeper =
    body.keeper === undefined || body.keeper === null ? null : check_address(body.keeper, 'keeper');
  const stream = `${ctx.sender}/${name}`;
  if (ctx.storage.get(stream_key(stream)) !== null) throw new Error(`stream ${stream} exists`);
  ctx.storage.set_json(stream_key(stream), {
    owner: ctx.sender,
    keeper,
    seq: 0,
    created_height: ctx.height,
    removed_height: null,
  });
  return { stream };
}

function grant(ctx, body) {
  const stream = check_stream(body.stream);
  const account = check_address(body.account, 'account');
  const publish = check_flag(body.publish, 'publish');
  const subscribe = check_flag(body.subscribe, 'subscribe');
  const expires_ms = check_expiry(body.expires_ms);
  const record = owned_stream(ctx, stream);
  if (account === record.owner) throw new Error('the owner has every permission already');
  const previous = ctx.storage.get_json(permission_key(stream, account));
  if (previous === null) {
    const members = ctx.storage.get_json(members_key(stream)) ?? [];
    if (members.length >= MEMBERS_MAX) throw new Error(`a stream has at most ${MEMBERS_MAX} members`);
    members.push(account);
    ctx.storage.set_json(members_key(stream), members);
  }
  ctx.storage.set_json(permission_key(stream, account), {
    publish,
    subscribe,
    expires_ms,
    granted_height: ctx.height,
  });
  // A subscriber that loses the permission (or gets it already lapsed) is a removal.
  if (previous?.subscribe === true && !(subscribe && not_expired(ctx, expires_ms)))
    mark_removed(ctx, stream, record);
  tell_keeper(ctx, record, stream, account, subscribe, expires_ms);
  return { status: 'ok' };
}

function revoke(ctx, body) {
  const stream = check_stream(body.stream);
  const account = check_address(body.account, 'account');
  const record = owned_stream(ctx, stream);
  const previous = ctx.storage.get_json(permission_key(stream, account));
  if (previous === null) throw new Error(`${account} is not a member of ${stream}`);
  const members = ctx.storage.get_json(members_key(stream));
  const kept = [];
  for (const member of members) if (member !== account) kept.push(member);
  ctx.storage.set_json(members_key(stream), kept);
  ctx.storage.remove(permission_key(stream, account));
  if (previous.subscribe) mark_removed(ctx, stream, record);
  tell_keeper(ctx, record, stream, account, false, null);
  return { status: 'ok' };
}

function publish(ctx, body) {
  const stream = check_stream(body.stream);
  const kind = body.kind === undefined ? 'message' : body.kind;
  if (!KINDS.includes(kind)) throw new Error('kind must be message, key_request or key_response');
  const message = check_message(body.message);
  const record = read_stream(ctx, stream);
  if (kind !== 'key_request' && record.owner !== ctx.sender) {
    const permission = ctx.storage.get_json(permission_key(stream, ctx.sender));
    if (permission === null || !permission.publish || !not_expired(ctx, permission.expires_ms))
      throw new Error(`${ctx.sender} may not publish to ${stream}`);
  }
  record.seq += 1;
  ctx.storage.set_json(stream_key(stream), record);
  ctx.emit(
    `stream_${kind}`,
    { stream, seq: String(record.seq), sender: ctx.sender, message },
    { public: true },
  );
  return { seq: record.seq };
}

/** Harmless: the stream ACL is created at genesis with empty state and never instantiated. */
export function instantiate(ctx) {
  refuse_funds(ctx);
  return null;
}

export function execute(ctx, msg) {
  refuse_funds(ctx);
  const publish_body = message_body(msg, 'publish');
  if (publish_body !== undefined) return publish(ctx, publish_body);
  const create_body = message_body(msg, 'create');
  if (create_body !== undefined) return create(ctx, create_body);
  const grant_body = message_body(msg, 'grant');
  if (grant_body !== undefined) return grant(ctx, grant_body);
  const revoke_body = message_body(msg, 'revoke');
  if (revoke_body !== undefined) return revoke(ctx, revoke_body);
  throw new Error('unknown execute message; expected create, grant, revoke or publish');
}

function permissions_of(ctx, stream, record, account) {
  if (account === record.owner)
    return { publish: true, subscribe: true, expires_ms: null, granted_height: record.created_height };
  const permission = ctx.storage.get_json(permission_key(stream, account));
  if (permission === null)
    return { publish: false, subscribe: false, expires_ms: null, granted_height: null };
  return permission;
}

export function query(ctx, msg) {
  const stream_body = message_body(msg, 'stream');
  if (stream_body !== undefined) {
    const record = read_stream(ctx, check_stream(stream_body.stream));
    return {
      owner: record.owner,
      keeper: record.keeper,
      seq: record.seq,
      created_height: record.created_height,
      // Streams created before removed_height was recorded have none.
      removed_height: record.removed_height ?? null,
    };
  }
  const permissions = message_body(msg, 'permissions');
  if (permissions !== undefined) {
    const stream = check_stream(permissions.stream);
    const account = check_address(permissions.account, 'account');
    return permissions_of(ctx, stream, read_stream(ctx, stream), account);
  }
  const members_body = message_body(msg, 'members');
  if (members_body !== undefined) {
    const stream = check_stream(members_body.stream);
    const record = read_stream(ctx, stream);
    const members = [];
    for (const account of ctx.storage.get_json(members_key(stream)) ?? []) {
      const p = ctx.storage.get_json(permission_key(stream, account));
      members.push({
        account,
        publish: p.publish,
        subscribe: p.subscribe,
        expires_ms: p.expires_ms,
        granted_height: p.granted_height,
      });
    }
    return { members, removed_height: record.removed_height ?? null };
  }
  throw new Error('unknown query message; expected stream, permissions or members');
}
