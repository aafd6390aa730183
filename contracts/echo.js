/**
 * echo: the simplest reference contract (protocol.md §7). It keeps no state and returns the
 * value it is given, from execute and from query alike.
 *
 *   instantiate {}                      -> null
 *   execute     {"echo": {"value": v}}  -> v
 *   query       {"echo": {"value": v}}  -> v
 */

function echo_value(msg) {
  const echo = msg !== null && typeof msg === 'object' ? msg.echo : undefined;
  if (echo === null || typeof echo !== 'object' || !Object.hasOwn(echo, 'value')) {
    throw new Error('expected {"echo": {"value": ...}}');
  }
  return echo.value;
}

export function instantiate(_ctx, _msg) {
  return null;
}

export function execute(_ctx, msg) {
  return echo_value(msg);
}

export function query(_ctx, msg) {
  return echo_value(msg);
}
