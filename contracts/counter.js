/**
 * counter: a reference contract (protocol.md §7) holding one integer in private state.
 *
 *   instantiate {"count": n}          -> null
 *   execute     {"increment": {}}     -> {"count": n + 1}
 *   query       {"get_count": {}}     -> {"count": n}
 *
 * n is any safe integer (|n| < 2^53); an increment past the largest is refused rather than
 * losing precision.
 */

const COUNT_KEY = 'count';

function read_count(ctx) {
  const text = ctx.storage.get(COUNT_KEY);
  if (text === null) throw new Error('counter is not instantiated');
  return Number(text);
}

function has_message(msg, name) {
  return msg !== null && typeof msg === 'object' && Object.hasOwn(msg, name);
}

export function instantiate(ctx, msg) {
  const count = has_message(msg, 'count') ? msg.count : undefined;
  if (!Number.isSafeInteger(count)) throw new Error('count must be an integer');
  ctx.storage.set(COUNT_KEY, String(count));
  return null;
}

export function execute(ctx, msg) {
  if (!has_message(msg, 'increment')) throw new Error('unknown execute message; expected {"increment": {}}');
  const count = read_count(ctx) + 1;
  if (!Number.isSafeInteger(count)) throw new Error('count would overflow');
  ctx.storage.set(COUNT_KEY, String(count));
  return { count };
}

export function query(ctx, msg) {
  if (!has_message(msg, 'get_count')) throw new Error('unknown query message; expected {"get_count": {}}');
  return { count: read_count(ctx) };
}
