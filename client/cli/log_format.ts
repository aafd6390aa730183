/**
 * Node log lines for people and for programs: every event a node logs (node/modules.ts `Log`: an
 * event name and fields) gets a level from {@link EVENT_LEVELS} and is written either as one JSON
 * object per line (`{"t": epoch ms, "level", "event", ...fields}`, what scripts and
 * `sim/network.ts` read) or in a human format:
 *
 * ```
 * 12:04:05.123 v2 INFO  committed height=41 txs=3 hash=9f2c0d1e5a6b7c8d
 * ```
 *
 * local time with milliseconds, the node's name, the level padded to 5, the event, `key=value`
 * fields (a string value is quoted when it holds a space, a quote, `=` or nothing; objects and
 * arrays are compact JSON). Colours only on a terminal and never with `NO_COLOR` set
 * (https://no-color.org). `--log-level` drops events below it.
 * @module
 */

/** Log levels, least severe first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Log line formats. */
export const LOG_FORMATS = ['human', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * The level of each event a node (node/, sim/network.ts) logs. An event not named here is `info`.
 * debug: consensus steps, several a second; info: the node's life and its blocks; warn: something
 * refused, failed or misbehaved that the node lives through; error: the node cannot go on as it
 * should (halted, crashed, results that disagree).
 */
export const EVENT_LEVELS: Readonly<Record<string, LogLevel>> = {
  // Consensus steps and gossip.
  round: 'debug',
  round_skip: 'debug',
  round_wait: 'debug',
  round_wake: 'debug',
  timeout: 'debug',
  proposal_sent: 'debug',
  vote_sent: 'debug',
  vote_not_counted: 'debug',
  validated: 'debug',
  commit: 'debug',
  drop: 'debug',
  proposed: 'debug',
  preview_ignored: 'debug',
  catch_up_ignored: 'debug',
  rpc_client_error: 'debug',
  // The node's life.
  started: 'info',
  start: 'info',
  restored: 'info',
  stopping: 'info',
  stop: 'info',
  stopped: 'info',
  committed: 'info',
  synced: 'info',
  store_upgraded: 'info',
  catch_up: 'info',
  behind: 'info',
  sit_out_done: 'info',
  sit_out_skipped: 'info',
  rpc_listening: 'info',
  admin: 'info',
  admin_partition: 'info',
  admin_heal: 'info',
  faucet_sent: 'info',
  block_execution_recovered: 'info',
  'p2p.start': 'info',
  'p2p.stop': 'info',
  'p2p.peer_up': 'info',
  'p2p.peer_down': 'info',
  'p2p.queue_drained': 'info',
  // Refused, failed or misbehaving, and lived through.
  evidence: 'warn',
  exited: 'warn',
  sit_out: 'warn',
  sync_failed: 'warn',
  sync_refused: 'warn',
  invalid_block: 'warn',
  propose_invalid: 'warn',
  propose_rejected: 'warn',
  proposal_invalid: 'warn',
  validate_failed: 'warn',
  validation_limit: 'warn',
  sign_refused: 'warn',
  signed_state_ahead: 'warn',
  forged_txs_dropped: 'warn',
  tx_quarantined: 'warn',
  preview_failed: 'warn',
  gossip_tx_failed: 'warn',
  broadcast_failed: 'warn',
  receive_error: 'warn',
  stream_failed: 'warn',
  forward_failed: 'warn',
  faucet_retry: 'warn',
  admin_socket_fallback: 'warn',
  rpc_stop_timeout: 'warn',
  rpc_bad_live_event: 'warn',
  rpc_sse_slow_client_dropped: 'warn',
  rpc_sse_ended_on_halt: 'warn',
  'p2p.queue_full': 'warn',
  'p2p.listener_error': 'warn',
  'p2p.filter_error': 'warn',
  'p2p.handshake_failed': 'warn',
  'p2p.handler_timeout': 'warn',
  'p2p.bad_response': 'warn',
  // The node cannot go on as it should.
  halt: 'error',
  halted: 'error',
  crashed: 'error',
  result_mismatch: 'error',
  block_execution_failed: 'error',
  decided_block_invalid: 'error',
  tx_isolation_failed: 'error',
  listener_failed: 'error',
  admin_error: 'error',
  rpc_internal_error: 'error',
  rpc_server_error: 'error',
};

/** The level of `event` ({@link EVENT_LEVELS}; `info` for an event it does not name). */
export function level_of(event: string): LogLevel {
  return Object.hasOwn(EVENT_LEVELS, event) ? EVENT_LEVELS[event]! : 'info';
}

/** Whether `level` is `min` or more severe. */
export function at_least(level: LogLevel, min: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(min);
}

/**
 * The format when none is asked for: `--log-format` if given, JSON with the global `--json`,
 * otherwise human on a terminal and JSON elsewhere (a pipe or file: scripts and `sim up`'s
 * validator processes read JSON).
 */
export function choose_format(opts: {
  flag?: LogFormat | undefined;
  json?: boolean;
  is_tty: boolean;
}): LogFormat {
  if (opts.flag !== undefined) return opts.flag;
  if (opts.json === true) return 'json';
  return opts.is_tty ? 'human' : 'json';
}

/** Whether to colour lines for `stream`: on a terminal, unless `NO_COLOR` is set (non-empty). */
export function use_color(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): boolean {
  return stream.isTTY === true && (env.NO_COLOR ?? '') === '';
}

/** One logged event, as the formats take it. */
export interface LogEntry {
  /** Epoch milliseconds. */
  t: number;
  /** The node's name (its config's `name`, e.g. `v2`). */
  node: string;
  event: string;
  fields: Readonly<Record<string, unknown>>;
  /** Default: {@link level_of} the event. */
  level?: LogLevel;
}

const COLORS: Record<LogLevel, string> = { debug: '90', info: '36', warn: '33', error: '31' };
const paint = (on: boolean, code: string, text: string) => (on ? `\u001b[${code}m${text}\u001b[0m` : text);

/** A field's value in the human format. */
export function format_value(value: unknown): string {
  if (typeof value === 'string')
    return value === '' || /[\s"'=\\\p{Cc}]/u.test(value) ? JSON.stringify(value) : value;
  if (typeof value === 'bigint') return `${value}`;
  if (value === null || typeof value !== 'object') return String(value);
  let json: string;
  try {
    json = JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? `${v}` : v));
  } catch {
    json = String(value);
  }
  return /\s/.test(json) ? JSON.stringify(json) : json;
}

/** `HH:MM:SS.mmm`, local time. */
export function format_time(t: number): string {
  const d = new Date(t);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** The human line of `entry` (no newline): time, node, level, event, `key=value` fields. */
export function format_human(entry: LogEntry, opts: { color?: boolean } = {}): string {
  const color = opts.color === true;
  const level = entry.level ?? level_of(entry.event);
  const fields = Object.entries(entry.fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${paint(color, '2', `${k}=`)}${format_value(v)}`);
  return [
    paint(color, '2', format_time(entry.t)),
    entry.node,
    paint(color, COLORS[level], level.toUpperCase().padEnd(5)),
    paint(color, '1', entry.event),
    ...fields,
  ].join(' ');
}

/**
 * The JSON line of `entry` (no newline): `{"t", "level", "event", ...fields}`, with `"node"` after
 * `level` when `with_node` (a node's own log leaves it out: it is all one node's). Fields named
 * like those before them are left out.
 */
export function format_json(entry: LogEntry, with_node = false): string {
  const { t: _t, level: _l, event: _e, ...fields }: Record<string, unknown> = { ...entry.fields };
  const head: Record<string, unknown> = { t: entry.t, level: entry.level ?? level_of(entry.event) };
  if (with_node) {
    head.node = entry.node;
    delete fields.node;
  }
  head.event = entry.event;
  return JSON.stringify({ ...head, ...fields }, (_, v: unknown) => (typeof v === 'bigint' ? `${v}` : v));
}

/** Options of {@link make_log}. */
export interface LogOptions {
  format: LogFormat;
  /** Events below it are dropped. */
  level: LogLevel;
  node: string;
  color?: boolean;
  /** Takes each line, newline included. */
  write: (line: string) => void;
  /** Default Date.now. */
  now?: () => number;
}

/** A node's `Log` (node/modules.ts) that writes each event at `level` or above as one line. */
export function make_log(opts: LogOptions): (event: string, fields: Record<string, unknown>) => void {
  const now = opts.now ?? Date.now;
  return (event, fields) => {
    const level = level_of(event);
    if (!at_least(level, opts.level)) return;
    const entry: LogEntry = { t: now(), node: opts.node, event, fields, level };
    opts.write(
      `${opts.format === 'json' ? format_json(entry) : format_human(entry, { color: opts.color ?? false })}\n`,
    );
  };
}

/**
 * What `cloister sim up` prints of its validators' events by default: their lives (`started`,
 * `stopped`, `exited`, `crashed`), catching up (`synced`, `catch_up`, `sit_out`, `sit_out_done`),
 * a store upgraded to this version's format on open (`store_upgraded`),
 * `evidence` of a validator signing twice, `signed_state_ahead`, and every error-level event but
 * the engine's `halt` (the node's `halted` that follows says it with the reason).
 */
export const SIM_UP_EVENTS: ReadonlySet<string> = new Set([
  'started',
  'stopped',
  'exited',
  'crashed',
  'synced',
  'store_upgraded',
  'catch_up',
  'sit_out',
  'sit_out_done',
  'evidence',
  'signed_state_ahead',
]);

/**
 * Whether `sim up` prints `event`: with `--log-level`, every event at that level or above;
 * without, {@link SIM_UP_EVENTS} and error-level events.
 */
export function sim_up_shows(event: string, level?: LogLevel): boolean {
  if (level !== undefined) return at_least(level_of(event), level);
  return SIM_UP_EVENTS.has(event) || (level_of(event) === 'error' && event !== 'halt');
}
