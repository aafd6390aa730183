/** Node log lines (client/cli/log_format.ts): levels, the human and JSON formats, the choice between them. */

import { describe, expect, it } from 'vitest';
import {
  at_least,
  choose_format,
  EVENT_LEVELS,
  format_human,
  format_json,
  format_time,
  format_value,
  level_of,
  make_log,
  SIM_UP_EVENTS,
  sim_up_shows,
  use_color,
} from '../../client/cli/log_format.js';
import { sim_up_line } from '../../client/cli/sim_up.js';
import { process_end_event } from '../../sim/network.js';

/** 12:04:05.123 local time on some day. */
const T = new Date(2025, 2, 14, 12, 4, 5, 123).getTime();

describe('levels', () => {
  it('gives each known event its level and any other event info', () => {
    expect(level_of('vote_sent')).toBe('debug');
    expect(level_of('committed')).toBe('info');
    expect(level_of('started')).toBe('info');
    expect(level_of('evidence')).toBe('warn');
    expect(level_of('p2p.handshake_failed')).toBe('warn');
    expect(level_of('halted')).toBe('error');
    expect(level_of('crashed')).toBe('error');
    expect(level_of('no_such_event_anywhere')).toBe('info');
    // Not an own property: no level from Object.prototype.
    expect(level_of('toString')).toBe('info');
    expect(level_of('constructor')).toBe('info');
  });

  it('orders levels debug < info < warn < error', () => {
    expect(at_least('error', 'warn')).toBe(true);
    expect(at_least('warn', 'warn')).toBe(true);
    expect(at_least('info', 'warn')).toBe(false);
    expect(at_least('debug', 'info')).toBe(false);
    expect(at_least('debug', 'debug')).toBe(true);
  });
});

describe('the human format', () => {
  it('is time, node, padded level, event and key=value fields', () => {
    expect(format_time(T)).toBe('12:04:05.123');
    expect(format_human({ t: T, node: 'v2', event: 'committed', fields: { height: 41, txs: 3 } })).toBe(
      '12:04:05.123 v2 INFO  committed height=41 txs=3',
    );
    expect(format_human({ t: T, node: 'v0', event: 'halted', fields: { reason: 'results differ' } })).toBe(
      '12:04:05.123 v0 ERROR halted reason="results differ"',
    );
    expect(format_human({ t: T, node: 'v1', event: 'round', fields: {} })).toBe(
      '12:04:05.123 v1 DEBUG round',
    );
    expect(
      format_human({ t: T, node: 'v1', event: 'evidence', fields: { x: undefined, validator: 'ab12' } }),
    ).toBe('12:04:05.123 v1 WARN  evidence validator=ab12');
  });

  it('quotes a string value with a space, quote, = or control character, or none at all', () => {
    expect(format_value('plain')).toBe('plain');
    expect(format_value('http://127.0.0.1:26657')).toBe('http://127.0.0.1:26657');
    expect(format_value('two words')).toBe('"two words"');
    expect(format_value('')).toBe('""');
    expect(format_value('a=b')).toBe('"a=b"');
    expect(format_value('say "hi"')).toBe('"say \\"hi\\""');
    expect(format_value('line\nbreak')).toBe('"line\\nbreak"');
    expect(format_value('bell\u0007')).toBe('"bell\\u0007"');
    expect(format_value(null)).toBe('null');
    expect(format_value(false)).toBe('false');
    expect(format_value(12n)).toBe('12');
    expect(format_value([[0, 1], [2]])).toBe('[[0,1],[2]]');
    expect(format_value({ a: 'x y' })).toBe('"{\\"a\\":\\"x y\\"}"');
  });

  it('colours only when asked', () => {
    const entry = { t: T, node: 'v0', event: 'halted', fields: { reason: 'x' } };
    expect(format_human(entry)).not.toContain('\u001b[');
    const coloured = format_human(entry, { color: true });
    expect(coloured).toContain('\u001b[31mERROR\u001b[0m');
    // The same text once the colour codes are taken out.
    expect(
      coloured
        .split('\u001b')
        .map((part, k) => (k === 0 ? part : part.replace(/^\[\d+m/, '')))
        .join(''),
    ).toBe(format_human(entry));
  });
});

describe('the JSON format', () => {
  it('is {t, level, event, ...fields}, the node named only when asked', () => {
    const entry = {
      t: 1700000000000,
      node: 'v3',
      event: 'started',
      fields: { rpc: 'http://h:1', height: 0 },
    };
    expect(JSON.parse(format_json(entry))).toEqual({
      t: 1700000000000,
      level: 'info',
      event: 'started',
      rpc: 'http://h:1',
      height: 0,
    });
    expect(Object.keys(JSON.parse(format_json(entry, true)))).toEqual([
      't',
      'level',
      'node',
      'event',
      'rpc',
      'height',
    ]);
  });

  it('never lets a field stand in for t, level or event', () => {
    const line = format_json({
      t: 5,
      node: 'v0',
      event: 'x',
      fields: { t: 9, level: 'error', event: 'y', k: 1 },
    });
    expect(JSON.parse(line)).toEqual({ t: 5, level: 'info', event: 'x', k: 1 });
  });
});

describe('make_log', () => {
  const lines = (format: 'human' | 'json', level: 'debug' | 'info' | 'warn' | 'error') => {
    const out: string[] = [];
    const log = make_log({ format, level, node: 'v1', write: (l) => out.push(l), now: () => T });
    log('vote_sent', { height: 1 });
    log('committed', { height: 1, txs: 0 });
    log('sync_failed', { error: 'no peer' });
    log('halted', { reason: 'x' });
    return out;
  };

  it('drops events below --log-level', () => {
    expect(lines('json', 'debug').map((l) => JSON.parse(l).event)).toEqual([
      'vote_sent',
      'committed',
      'sync_failed',
      'halted',
    ]);
    expect(lines('json', 'info').map((l) => JSON.parse(l).event)).toEqual([
      'committed',
      'sync_failed',
      'halted',
    ]);
    expect(lines('json', 'warn').map((l) => JSON.parse(l).event)).toEqual(['sync_failed', 'halted']);
    expect(lines('json', 'error').map((l) => JSON.parse(l).event)).toEqual(['halted']);
  });

  it('writes whole lines in the format asked for', () => {
    expect(lines('human', 'info')).toEqual([
      '12:04:05.123 v1 INFO  committed height=1 txs=0\n',
      '12:04:05.123 v1 WARN  sync_failed error="no peer"\n',
      '12:04:05.123 v1 ERROR halted reason=x\n',
    ]);
    for (const line of lines('json', 'debug')) {
      expect(line.endsWith('\n')).toBe(true);
      expect(JSON.parse(line).t).toBe(T);
    }
  });
});

describe('choosing the format', () => {
  it('is human on a terminal and JSON otherwise, unless told', () => {
    expect(choose_format({ is_tty: true })).toBe('human');
    expect(choose_format({ is_tty: false })).toBe('json');
    expect(choose_format({ is_tty: true, flag: 'json' })).toBe('json');
    expect(choose_format({ is_tty: false, flag: 'human' })).toBe('human');
    // The global --json asks for JSON, but an explicit --log-format wins.
    expect(choose_format({ is_tty: true, json: true })).toBe('json');
    expect(choose_format({ is_tty: true, json: true, flag: 'human' })).toBe('human');
  });

  it('colours only on a terminal without NO_COLOR', () => {
    expect(use_color({ isTTY: true }, {})).toBe(true);
    expect(use_color({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(use_color({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(use_color({ isTTY: false }, {})).toBe(false);
    expect(use_color({}, {})).toBe(false);
  });
});

describe('what sim up prints', () => {
  it('by default: lives, catching up, evidence and errors; with --log-level, that level and above', () => {
    for (const e of ['started', 'crashed', 'exited', 'stopped', 'synced', 'catch_up', 'evidence', 'halted'])
      expect(sim_up_shows(e)).toBe(true);
    for (const e of ['committed', 'vote_sent', 'sync_failed', 'stopping', 'halt'])
      expect(sim_up_shows(e)).toBe(false);
    // Any error-level event, named in the set or not.
    expect(sim_up_shows('result_mismatch')).toBe(true);
    expect(sim_up_shows('committed', 'info')).toBe(true);
    expect(sim_up_shows('vote_sent', 'info')).toBe(false);
    expect(sim_up_shows('started', 'warn')).toBe(false);
    expect(sim_up_shows('halt', 'error')).toBe(true);
    for (const e of SIM_UP_EVENTS) expect(Object.hasOwn(EVENT_LEVELS, e)).toBe(true);
  });

  it('names the process end: stopped when asked, else exited (code 0) or crashed', () => {
    expect(process_end_event(true, null, 'SIGKILL')).toBe('stopped');
    expect(process_end_event(true, 0, null)).toBe('stopped');
    expect(process_end_event(false, 0, null)).toBe('exited');
    expect(process_end_event(false, 1, null)).toBe('crashed');
    expect(process_end_event(false, null, 'SIGKILL')).toBe('crashed');
  });

  it('prints a validator event as a line named by its index', () => {
    const e = { index: 2, t: T, event: 'crashed', code: null, signal: 'SIGKILL', log: '/n/v2/node.log' };
    expect(sim_up_line(e, 'human')).toBe(
      '12:04:05.123 v2 ERROR crashed code=null signal=SIGKILL log=/n/v2/node.log',
    );
    expect(JSON.parse(sim_up_line({ ...e, level: 'error' }, 'json'))).toEqual({
      t: T,
      level: 'error',
      node: 'v2',
      event: 'crashed',
      code: null,
      signal: 'SIGKILL',
      log: '/n/v2/node.log',
    });
  });
});
