/**
 * relay: a small contract for building chains of contract calls (protocol.md §9) in tests.
 *
 * instantiate {}                                                          -> null
 * execute     {"relay": {"next": [a, ...], "write": k,
 *                        "fail_at_end": bool?, "reply": bool?, "fail_reply": bool?}}
 *                                                                         -> {"remaining": n}
 *             {"depth": n}                                                -> {"depth": n}
 *             {"pay": {"to": a, "amount": n}}                             -> {"paid": n}
 *             {"fail": {"message": s}}                                    -> (fails with s)
 * reply       (an answer to a relay sent with "reply": true)              -> {"replied": "ok" | "error"}
 * query       {"get": {"key": k}}                                         -> {"value": s | null}
 *             {"balance": {}}                                             -> {"balance": n}
 *
 * relay: writes key k (its value: the address that called this hop), emits a public event
 *   {"type": "relay", "attributes": {"write": k, "remaining": "n"}} and a debug line, then
 *   forwards {"relay": {...}} with the rest of `next` to next[0], asking for a reply if
 *   "reply" is true. The last hop (empty `next`) fails with "relay failed at the end" if
 *   "fail_at_end" is true. Every hop writes the same key, each in its own contract.
 * reply: records the answer under key "reply" ("ok", or "error: <message>") and recovers (the
 *   call chain goes on as if the message had succeeded), unless the relay was sent with
 *   "fail_reply": true: then the reply records and fails with "reply failed".
 * depth: a chain of n calls to this same contract: writes key "depth/<n>", then, if n > 1,
 *   executes itself with {"depth": n - 1}. {"depth": 9} is 9 calls deep.
 * pay: sends n ucst (a safe integer) from the contract's balance to address a after the call.
 * fail: fails with the given message (a callee that always fails).
 *
 * Any message may carry funds; they simply stay in the contract's balance.
 */

function body_of(msg, name) {
  if (msg === null || typeof msg !== 'object' || !Object.hasOwn(msg, name)) return undefined;
  const body = msg[name];
  if (body === null || typeof body !== 'object') throw new Error(`${name} must be an object`);
  return body;
}

function check_key(value) {
  if (typeof value !== 'string' || value.length === 0 || value.length > 64) {
    throw new Error('write must be a key of 1 to 64 characters');
  }
  return value;
}

function relay(ctx, body) {
  const next = body.next ?? [];
  if (!Array.isArray(next) || next.length > 16)
    throw new Error('next must be an array of at most 16 addresses');
  const key = check_key(body.write);
  ctx.storage.set(key, ctx.sender);
  ctx.emit('relay', { write: key, remaining: String(next.length) }, { public: true });
  ctx.debug('relay', ctx.contract, 'wrote', key, 'remaining', next.length);
  if (next.length === 0) {
    if (body.fail_at_end === true) throw new Error('relay failed at the end');
    return { remaining: 0 };
  }
  const reply = body.reply === true;
  const forwarded = { next: next.slice(1), write: key, fail_at_end: body.fail_at_end === true, reply };
  if (body.fail_reply === true) forwarded.fail_reply = true;
  if (reply) ctx.storage.set('fail_reply', body.fail_reply === true ? 'yes' : 'no');
  ctx.execute(next[0], { relay: forwarded }, { reply });
  return { remaining: next.length };
}

function depth(ctx, n) {
  if (!Number.isSafeInteger(n) || n < 1 || n > 64) throw new Error('depth must be an integer from 1 to 64');
  ctx.storage.set(`depth/${n}`, ctx.sender);
  if (n > 1) ctx.execute(ctx.contract, { depth: n - 1 });
  return { depth: n };
}

export function instantiate(_ctx, _msg) {
  return null;
}

export function execute(ctx, msg) {
  const relayed = body_of(msg, 'relay');
  if (relayed !== undefined) return relay(ctx, relayed);
  if (msg !== null && typeof msg === 'object' && Object.hasOwn(msg, 'depth')) return depth(ctx, msg.depth);
  const pay = body_of(msg, 'pay');
  if (pay !== undefined) {
    ctx.send(pay.to, pay.amount);
    return { paid: pay.amount };
  }
  const fail = body_of(msg, 'fail');
  if (fail !== undefined) throw new Error(String(fail.message ?? 'failed on purpose'));
  throw new Error('unknown execute message; expected relay, depth, pay or fail');
}

export function reply(ctx, msg) {
  const ok = msg !== null && typeof msg === 'object' && Object.hasOwn(msg, 'ok');
  ctx.storage.set('reply', ok ? 'ok' : `error: ${msg?.error}`);
  if (ctx.storage.get('fail_reply') === 'yes') throw new Error('reply failed');
  return { replied: ok ? 'ok' : 'error' };
}

export function query(ctx, msg) {
  const get = body_of(msg, 'get');
  if (get !== undefined) return { value: ctx.storage.get(check_key(get.key)) };
  if (body_of(msg, 'balance') !== undefined) return { balance: ctx.balance };
  throw new Error('unknown query message; expected get or balance');
}
