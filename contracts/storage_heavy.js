/**
 * storage_heavy: a benchmark contract that spends gas on storage.
 *
 *   instantiate {}                                            -> null
 *   execute     {"write": {"count": n, "value_bytes": b}}     -> {"written": n}
 *   execute     {"read": {"count": n}}                        -> {"found": k, "bytes": total}
 *   query       {"read": {"count": n}}                        -> {"found": k, "bytes": total}
 *
 * `write` stores keys item/0 .. item/(n-1), each with a value of b ASCII bytes that depends on
 * the key and on the height (so each write changes the value); `read` reads them back.
 */

const COUNT_MAX = 1000;
const VALUE_BYTES_MAX = 65536;

function check_count(value) {
  if (!Number.isSafeInteger(value) || value < 0 || value > COUNT_MAX) {
    throw new Error(`count must be an integer from 0 to ${COUNT_MAX}`);
  }
  return value;
}

function read(ctx, body) {
  const count = check_count(body.count);
  let found = 0;
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const value = ctx.storage.get(`item/${i}`);
    if (value !== null) {
      found++;
      bytes += value.length;
    }
  }
  return { found, bytes };
}

export function instantiate(_ctx, _msg) {
  return null;
}

export function execute(ctx, msg) {
  if (msg?.write !== undefined) {
    const count = check_count(msg.write.count);
    const value_bytes = msg.write.value_bytes ?? 32;
    if (!Number.isSafeInteger(value_bytes) || value_bytes < 1 || value_bytes > VALUE_BYTES_MAX) {
      throw new Error(`value_bytes must be an integer from 1 to ${VALUE_BYTES_MAX}`);
    }
    for (let i = 0; i < count; i++) {
      const seed = `${ctx.height}:${i}:`;
      ctx.storage.set(`item/${i}`, seed.repeat(Math.ceil(value_bytes / seed.length)).slice(0, value_bytes));
    }
    return { written: count };
  }
  if (msg?.read !== undefined) return read(ctx, msg.read);
  throw new Error('unknown execute message; expected write or read');
}

export function query(ctx, msg) {
  if (msg?.read !== undefined) return read(ctx, msg.read);
  throw new Error('unknown query message; expected read');
}
