/**
 * The fault manifest's parser and its questions: every bad input names its JSON path and the
 * problem exactly, good inputs come back normalized (sorted by height, partitions completed).
 */

import { describe, expect, it } from 'vitest';
import { BYZANTINE_BEHAVIOURS } from '../../sim/byzantine.js';
import {
  behaviour_at,
  byzantine_at,
  byzantine_power_fraction,
  describe_fault,
  is_byzantine,
  MANIFEST_LIMITS,
  ManifestError,
  parse_manifest,
  simulator_only_faults,
  stall_reason,
  start_behaviours,
  unsafe_reason,
} from '../../sim/manifest.js';

/** The example of issue #12. */
const ISSUE_EXAMPLE = `{"validators": 4, "faults": [
  {"at_height": 50, "partition": [[0, 1], [2, 3]]},
  {"at_height": 80, "heal": true},
  {"at_height": 100, "crash": 2},
  {"at_height": 130, "restart": 2},
  {"at_height": 150, "skew_ms": {"1": 400}},
  {"from_height": 1, "byzantine": {"3": "equivocate-split"}}
]}`;

/** A manifest of 4 validators with these faults. */
const m = (...faults: unknown[]) => ({ validators: 4, faults });

function error_of(input: unknown, validators: number | null = 4): ManifestError {
  try {
    parse_manifest(input, validators === null ? {} : { validators });
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    return error as ManifestError;
  }
  throw new Error('parse_manifest accepted it');
}

describe('parse_manifest accepts', () => {
  it('the example of the issue, normalized', () => {
    const manifest = parse_manifest(ISSUE_EXAMPLE, { validators: 4 });
    expect(manifest).toEqual({
      validators: 4,
      faults: [
        {
          source: 0,
          at_height: 50,
          after_ms: 0,
          action: {
            kind: 'partition',
            groups: [
              [0, 1],
              [2, 3],
            ],
          },
        },
        { source: 1, at_height: 80, after_ms: 0, action: { kind: 'heal' } },
        { source: 2, at_height: 100, after_ms: 0, action: { kind: 'crash', validator: 2 } },
        { source: 3, at_height: 130, after_ms: 0, action: { kind: 'restart', validator: 2 } },
        {
          source: 4,
          at_height: 150,
          after_ms: 0,
          action: { kind: 'skew', skew_ms: [{ validator: 1, ms: 400 }] },
        },
      ],
      byzantine: [
        {
          source: 5,
          from_height: 1,
          until_height: null,
          behaviours: [{ validator: 3, behaviour: 'equivocate-split' }],
        },
      ],
    });
  });

  it('text, bytes and parsed values alike', () => {
    const a = parse_manifest(ISSUE_EXAMPLE, { validators: 4 });
    expect(parse_manifest(new TextEncoder().encode(ISSUE_EXAMPLE), { validators: 4 })).toEqual(a);
    expect(parse_manifest(JSON.parse(ISSUE_EXAMPLE), { validators: 4 })).toEqual(a);
  });

  it('sorts faults by height, keeping the file order at equal heights', () => {
    const manifest = parse_manifest(
      m(
        { at_height: 9, resume: 1 },
        { at_height: 3, crash: 0 },
        { at_height: 5, pause: 1 },
        { at_height: 3, crash: 2 },
        { at_height: 5, restart: 0 },
        { at_height: 3, crash: 3 },
      ),
    );
    expect(manifest.faults.map((f) => f.source)).toEqual([1, 3, 5, 2, 4, 0]);
  });

  it('the schedule in height order even when the file lists it otherwise', () => {
    // Restart listed before its crash, at a later height: fine.
    expect(() => parse_manifest(m({ at_height: 20, restart: 1 }, { at_height: 10, crash: 1 }))).not.toThrow();
  });

  it('takes the number of validators from the manifest or the options', () => {
    expect(parse_manifest({ faults: [] }, { validators: 7 }).validators).toBe(7);
    expect(parse_manifest({ validators: 5, faults: [] }).validators).toBe(5);
  });

  it('completes a partition: validators not listed are each alone', () => {
    const manifest = parse_manifest(m({ at_height: 1, partition: [[3, 1]] }));
    expect(manifest.faults[0]!.action).toEqual({ kind: 'partition', groups: [[0], [1, 3], [2]] });
    const two = parse_manifest(m({ at_height: 1, partition: [[2], [0]] }));
    expect(two.faults[0]!.action).toEqual({ kind: 'partition', groups: [[0], [1], [2], [3]] });
  });

  it('a partition replacing another, heal after it, and after_ms', () => {
    const manifest = parse_manifest(
      m(
        { at_height: 5, partition: [[0, 1, 2]] },
        { at_height: 6, partition: [[0], [1, 2, 3]] },
        { at_height: 6, after_ms: 3000, heal: true, comment: 'nothing commits: heal by time' },
      ),
    );
    expect(manifest.faults[2]).toEqual({ source: 2, at_height: 6, after_ms: 3000, action: { kind: 'heal' } });
  });

  it('pause, resume, crash of a paused validator and its restart', () => {
    const manifest = parse_manifest(
      m(
        { at_height: 1, pause: 0 },
        { at_height: 2, resume: 0 },
        { at_height: 3, pause: 0 },
        { at_height: 4, crash: 0 },
        { at_height: 5, restart: 0 },
      ),
    );
    expect(manifest.faults.map((f) => f.action.kind)).toEqual([
      'pause',
      'resume',
      'pause',
      'crash',
      'restart',
    ]);
  });

  it('network quality: drop and latency, and skew either way at the bound', () => {
    const manifest = parse_manifest(
      m(
        { at_height: 1, drop: 0.1 },
        { at_height: 2, drop: 0 },
        { at_height: 2, duplicate: 0.25 },
        { at_height: 3, latency_ms: { min: 0, max: 60_000 } },
        { at_height: 4, skew_ms: { '2': -60_000, '0': 60_000 } },
      ),
    );
    expect(manifest.faults.map((f) => f.action)).toEqual([
      { kind: 'drop', probability: 0.1 },
      { kind: 'drop', probability: 0 },
      { kind: 'duplicate', probability: 0.25 },
      { kind: 'latency', min_ms: 0, max_ms: 60_000 },
      {
        kind: 'skew',
        skew_ms: [
          { validator: 0, ms: 60_000 },
          { validator: 2, ms: -60_000 },
        ],
      },
    ]);
  });

  it('byzantine spans that do not overlap, and every behaviour name', () => {
    const manifest = parse_manifest(
      m(
        { from_height: 10, until_height: 20, byzantine: { '1': 'silent' } },
        { from_height: 20, byzantine: { '1': 'garbage', '2': 'delay-votes' } },
        { from_height: 1, until_height: 10, byzantine: { '1': 'withhold-votes' } },
      ),
    );
    expect(manifest.byzantine.map((b) => b.source)).toEqual([2, 0, 1]);
    // The names of issue #12, and every one sim/byzantine.ts implements.
    const named = [
      'wrong-results',
      'wrong-results-some',
      'equivocate-split',
      'silent',
      'withhold-votes',
      'delay-votes',
      'withhold-block',
      'garbage',
    ];
    for (const name of new Set([...named, ...BYZANTINE_BEHAVIOURS])) {
      expect(() => parse_manifest(m({ from_height: 1, byzantine: { '0': name } }))).not.toThrow();
    }
  });

  it('a manifest of exactly the largest size and count', () => {
    const many = Array.from({ length: MANIFEST_LIMITS.faults_max }, (_, i) => ({
      at_height: i + 1,
      drop: 0,
    }));
    expect(parse_manifest(m(...many)).faults).toHaveLength(MANIFEST_LIMITS.faults_max);
    const text = '{"validators": 4, "faults": []}';
    expect(parse_manifest(text.padEnd(MANIFEST_LIMITS.bytes_max, ' ')).faults).toEqual([]);
  });
});

describe('parse_manifest refuses, naming the path', () => {
  const cases: [string, unknown, string][] = [
    // The whole text.
    ['not JSON', '{"validators": 4,', 'manifest: not JSON ('],
    [
      'a duplicate key',
      '{"validators": 4, "faults": [{"at_height": 1, "crash": 1, "crash": 2}]}',
      'manifest: duplicate key "crash" in a JSON object',
    ],
    ['an array', '[]', 'manifest: must be a JSON object, got an array'],
    ['null', 'null', 'manifest: must be a JSON object, got null'],
    [
      'an unknown top-level key',
      { validators: 4, faults: [], fault: [] },
      'fault: unknown key (a manifest takes validators, faults and comment)',
    ],
    [
      'an odd top-level key',
      { validators: 4, faults: [], 'a b': 1 },
      'manifest["a b"]: unknown key (a manifest takes validators, faults and comment)',
    ],
    ['no faults', { validators: 4 }, 'manifest: missing faults'],
    ['faults not an array', { validators: 4, faults: {} }, 'faults: must be an array, got an object'],
    [
      'validators zero',
      { validators: 0, faults: [] },
      'validators: must be an integer from 1 to 1024, got 0',
    ],
    [
      'validators text',
      { validators: '4', faults: [] },
      'validators: must be an integer from 1 to 1024, got "4"',
    ],
    [
      'validators not the network',
      { validators: 5, faults: [] },
      'validators: the manifest is for 5 validators, but the network has 4',
    ],
    ['a comment not text', { validators: 4, faults: [], comment: 1 }, 'comment: must be a string, got 1'],
    // One fault's shape.
    ['a fault not an object', m([]), 'faults[0]: must be an object, got an array'],
    [
      'an unknown key in a fault',
      m({ at_height: 1, crsh: 1 }),
      'faults[0].crsh: unknown key (a fault takes at_height, or from_height and until_height, an optional after_ms and comment, and one action: partition, heal, crash, restart, pause, resume, skew_ms, drop, duplicate, latency_ms or byzantine)',
    ],
    [
      'a fault with no action',
      m({ at_height: 1 }),
      'faults[0]: no action (one of partition, heal, crash, restart, pause, resume, skew_ms, drop, duplicate, latency_ms or byzantine)',
    ],
    [
      'a fault with two actions',
      m({ at_height: 1, crash: 1, restart: 2 }),
      'faults[0]: 2 actions (crash, restart); a fault has exactly one',
    ],
    ['a missing at_height', m({ crash: 1 }), 'faults[0]: missing at_height'],
    [
      'height zero',
      m({ at_height: 0, crash: 1 }),
      'faults[0].at_height: must be a positive integer height, got 0',
    ],
    [
      'a negative height',
      m({ at_height: -5, crash: 1 }),
      'faults[0].at_height: must be a positive integer height, got -5',
    ],
    [
      'a fractional height',
      m({ at_height: 1.5, crash: 1 }),
      'faults[0].at_height: must be a positive integer height, got 1.5',
    ],
    [
      'a height as text',
      m({ at_height: '3', crash: 1 }),
      'faults[0].at_height: must be a positive integer height, got "3"',
    ],
    [
      'from_height on a crash',
      m({ at_height: 1, from_height: 1, crash: 1 }),
      'faults[0].from_height: only byzantine faults take from_height (this one takes at_height)',
    ],
    [
      'until_height on a crash',
      m({ at_height: 1, until_height: 3, crash: 1 }),
      'faults[0].until_height: only byzantine faults take until_height (this one takes at_height)',
    ],
    [
      'a negative after_ms',
      m({ at_height: 1, after_ms: -1, heal: true }),
      'faults[0].after_ms: -1 ms is outside 0..3600000 ms',
    ],
    [
      'after_ms not a number',
      m({ at_height: 1, after_ms: '1s', crash: 0 }),
      'faults[0].after_ms: must be an integer number of milliseconds, got "1s"',
    ],
    [
      'a long comment',
      m({ at_height: 1, crash: 0, comment: 'x'.repeat(1001) }),
      'faults[0].comment: 1001 characters, more than the 1000 allowed',
    ],
    // Validators.
    [
      'a validator that does not exist',
      m({ at_height: 1, crash: 7 }),
      'faults[0].crash: validator 7 does not exist (validators 0..3)',
    ],
    [
      'a negative validator',
      m({ at_height: 1, pause: -1 }),
      'faults[0].pause: validator -1 does not exist (validators 0..3)',
    ],
    [
      'a validator as text',
      m({ at_height: 1, crash: '2' }),
      'faults[0].crash: must be a validator index (an integer), got "2"',
    ],
    // Partitions.
    [
      'a partition not an array',
      m({ at_height: 1, partition: { a: [0] } }),
      'faults[0].partition: must be an array of groups of validator indices, got an object',
    ],
    [
      'an empty partition',
      m({ at_height: 1, partition: [] }),
      'faults[0].partition: must list at least one group',
    ],
    [
      'an empty group',
      m({ at_height: 1, partition: [[0, 1], []] }),
      'faults[0].partition[1]: a group must not be empty',
    ],
    [
      'a group not an array',
      m({ at_height: 1, partition: [[0, 1], 2] }),
      'faults[0].partition[1]: must be an array of validator indices, got 2',
    ],
    [
      'groups that overlap',
      m({
        at_height: 1,
        partition: [
          [0, 1],
          [1, 2],
        ],
      }),
      'faults[0].partition[1][0]: validator 1 is already in group 0',
    ],
    [
      'a validator twice in a group',
      m({ at_height: 1, partition: [[0, 3, 3]] }),
      'faults[0].partition[0][2]: validator 3 is already in group 0',
    ],
    [
      'a partition member out of range',
      m({
        at_height: 1,
        partition: [
          [0, 1],
          [2, 4],
        ],
      }),
      'faults[0].partition[1][1]: validator 4 does not exist (validators 0..3)',
    ],
    [
      'a partition of one group',
      m({ at_height: 1, partition: [[3, 2, 1, 0]] }),
      'faults[0].partition: puts every validator in one group, which partitions nothing (use heal)',
    ],
    ['heal false', m({ at_height: 1, heal: false }), 'faults[0].heal: must be true, got false'],
    // The schedule's state.
    [
      'a heal with no partition',
      m({ at_height: 1, heal: true }),
      'faults[0].heal: no partition is in force at this point of the schedule',
    ],
    [
      'a heal twice',
      m({ at_height: 1, partition: [[0]] }, { at_height: 2, heal: true }, { at_height: 3, heal: true }),
      'faults[2].heal: no partition is in force at this point of the schedule',
    ],
    [
      'a heal before its partition by height',
      m({ at_height: 5, partition: [[0]] }, { at_height: 4, heal: true }),
      'faults[1].heal: no partition is in force at this point of the schedule',
    ],
    [
      'a crash of a crashed validator',
      m({ at_height: 1, crash: 2 }, { at_height: 2, crash: 2 }),
      'faults[1].crash: validator 2 is already crashed (faults[0])',
    ],
    [
      'a restart of a running validator',
      m({ at_height: 1, restart: 2 }),
      'faults[0].restart: validator 2 is running, not crashed',
    ],
    [
      'a restart of a paused validator',
      m({ at_height: 1, pause: 2 }, { at_height: 2, restart: 2 }),
      'faults[1].restart: validator 2 is paused (faults[0]), not crashed (resume it)',
    ],
    [
      'a restart at the crash height listed before it',
      m({ at_height: 3, restart: 1 }, { at_height: 3, crash: 1 }),
      'faults[0].restart: validator 1 is running, not crashed',
    ],
    [
      'a pause of a paused validator',
      m({ at_height: 1, pause: 0 }, { at_height: 2, pause: 0 }),
      'faults[1].pause: validator 0 is paused (faults[0])',
    ],
    [
      'a pause of a crashed validator',
      m({ at_height: 1, crash: 0 }, { at_height: 2, pause: 0 }),
      'faults[1].pause: validator 0 is crashed (faults[0])',
    ],
    [
      'a resume of a running validator',
      m({ at_height: 1, resume: 3 }),
      'faults[0].resume: validator 3 is running, not paused',
    ],
    [
      'a resume of a crashed validator',
      m({ at_height: 1, crash: 3 }, { at_height: 2, resume: 3 }),
      'faults[1].resume: validator 3 is crashed (faults[0]), not paused',
    ],
    // Clock skew.
    [
      'a skew beyond the bound',
      m({ at_height: 1, skew_ms: { '1': 60_001 } }),
      'faults[0].skew_ms["1"]: 60001 ms is beyond the ±60000 ms allowed',
    ],
    [
      'a negative skew beyond the bound',
      m({ at_height: 1, skew_ms: { '1': -70_000 } }),
      'faults[0].skew_ms["1"]: -70000 ms is beyond the ±60000 ms allowed',
    ],
    [
      'a fractional skew',
      m({ at_height: 1, skew_ms: { '1': 0.5 } }),
      'faults[0].skew_ms["1"]: must be an integer number of milliseconds, got 0.5',
    ],
    [
      'a skew of nobody',
      m({ at_height: 1, skew_ms: {} }),
      'faults[0].skew_ms: must name at least one validator',
    ],
    [
      'a skew key that is not an index',
      m({ at_height: 1, skew_ms: { one: 4 } }),
      'faults[0].skew_ms["one"]: keys are validator indices in decimal ("0", "1", …)',
    ],
    [
      'a skew key with a leading zero',
      m({ at_height: 1, skew_ms: { '01': 4 } }),
      'faults[0].skew_ms["01"]: keys are validator indices in decimal ("0", "1", …)',
    ],
    [
      'a skew of a validator out of range',
      m({ at_height: 1, skew_ms: { '4': 4 } }),
      'faults[0].skew_ms["4"]: validator 4 does not exist (validators 0..3)',
    ],
    [
      'a skew as a number',
      m({ at_height: 1, skew_ms: 400 }),
      'faults[0].skew_ms: must be an object keyed by validator index, got 400',
    ],
    // Network quality.
    [
      'a drop above 1',
      m({ at_height: 1, drop: 1.5 }),
      'faults[0].drop: must be a probability from 0 to 1, got 1.5',
    ],
    [
      'a drop as text',
      m({ at_height: 1, drop: '10%' }),
      'faults[0].drop: must be a probability from 0 to 1, got "10%"',
    ],
    [
      'latency as a number',
      m({ at_height: 1, latency_ms: 5 }),
      'faults[0].latency_ms: must be an object {"min": MS, "max": MS}, got 5',
    ],
    ['latency without max', m({ at_height: 1, latency_ms: { min: 5 } }), 'faults[0].latency_ms: missing max'],
    [
      'latency with another key',
      m({ at_height: 1, latency_ms: { min: 5, max: 6, mean: 5 } }),
      'faults[0].latency_ms.mean: unknown key (latency_ms takes min and max)',
    ],
    [
      'latency min above max',
      m({ at_height: 1, latency_ms: { min: 50, max: 10 } }),
      'faults[0].latency_ms: min 50 is above max 10',
    ],
    [
      'latency too long',
      m({ at_height: 1, latency_ms: { min: 0, max: 60_001 } }),
      'faults[0].latency_ms.max: 60001 ms is outside 0..60000 ms',
    ],
    // Byzantine.
    [
      'byzantine at_height',
      m({ at_height: 1, byzantine: { '3': 'silent' } }),
      'faults[0].at_height: a byzantine fault starts at from_height (and may end at until_height), not at at_height',
    ],
    ['byzantine with no from_height', m({ byzantine: { '3': 'silent' } }), 'faults[0]: missing from_height'],
    [
      'byzantine after_ms',
      m({ from_height: 1, after_ms: 5, byzantine: { '3': 'silent' } }),
      'faults[0].after_ms: only faults with at_height take after_ms',
    ],
    [
      'an unknown behaviour',
      m({ from_height: 1, byzantine: { '3': 'lie' } }),
      `faults[0].byzantine["3"]: unknown behaviour "lie" (one of ${BYZANTINE_BEHAVIOURS.join(', ')})`,
    ],
    [
      'honest as a behaviour',
      m({ from_height: 1, byzantine: { '0': 'honest' } }),
      `faults[0].byzantine["0"]: unknown behaviour "honest" (one of ${BYZANTINE_BEHAVIOURS.join(', ')})`,
    ],
    [
      'a byzantine validator out of range',
      m({ from_height: 1, byzantine: { '9': 'silent' } }),
      'faults[0].byzantine["9"]: validator 9 does not exist (validators 0..3)',
    ],
    [
      'until_height not above from_height',
      m({ from_height: 5, until_height: 5, byzantine: { '1': 'silent' } }),
      'faults[0].until_height: must be above from_height (5), got 5',
    ],
    [
      'byzantine spans that overlap',
      m(
        { from_height: 10, until_height: 20, byzantine: { '1': 'silent' } },
        { from_height: 19, byzantine: { '2': 'garbage', '1': 'garbage' } },
      ),
      'faults[1].byzantine["1"]: validator 1 is already byzantine from height 10 until height 20 (faults[0])',
    ],
    [
      'byzantine forever, then again',
      m(
        { from_height: 1, byzantine: { '3': 'silent' } },
        { from_height: 100, until_height: 101, byzantine: { '3': 'garbage' } },
      ),
      'faults[1].byzantine["3"]: validator 3 is already byzantine from height 1 (faults[0])',
    ],
    // Sizes.
    [
      'too many faults',
      m(...Array.from({ length: MANIFEST_LIMITS.faults_max + 1 }, (_, i) => ({ at_height: i + 1, drop: 0 }))),
      'faults: 10001 faults, more than the 10000 allowed',
    ],
    [
      'a text too big',
      `{"validators": 4, "faults": []}${' '.repeat(MANIFEST_LIMITS.bytes_max)}`,
      'manifest: 1048607 bytes, more than the 1048576 allowed',
    ],
    ['bytes that are not UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), 'manifest: not UTF-8 text'],
  ];

  for (const [what, input, message] of cases) {
    it(what, () => {
      const error = error_of(input);
      if (message.endsWith('(')) expect(error.message.startsWith(message)).toBe(true);
      else expect(error.message).toBe(message);
      // The path is the message's head.
      expect(message.startsWith(`${error.path}: `)).toBe(true);
    });
  }

  it('a manifest with no number of validators anywhere', () => {
    expect(error_of({ faults: [] }, null).message).toBe(
      'validators: missing, and no number of validators was given otherwise',
    );
  });

  it('reports the first problem in file order', () => {
    expect(
      error_of(m({ at_height: 1, crash: 1 }, { at_height: 0, crash: 1 }, { at_height: 1, crash: 9 })).message,
    ).toBe('faults[1].at_height: must be a positive integer height, got 0');
  });

  it('a bad number of validators in the options is a programming error', () => {
    expect(() => parse_manifest({ faults: [] }, { validators: 0 })).toThrow(RangeError);
  });
});

describe('questions about a manifest', () => {
  const manifest = parse_manifest(
    m(
      { from_height: 1, byzantine: { '3': 'equivocate-split' } },
      { from_height: 10, until_height: 20, byzantine: { '1': 'silent' } },
      { at_height: 5, crash: 0 },
    ),
  );

  it('who is byzantine at a height', () => {
    expect(behaviour_at(manifest, 3, 1)).toBe('equivocate-split');
    expect(behaviour_at(manifest, 1, 9)).toBeNull();
    expect(behaviour_at(manifest, 1, 10)).toBe('silent');
    expect(behaviour_at(manifest, 1, 19)).toBe('silent');
    expect(behaviour_at(manifest, 1, 20)).toBeNull();
    expect(is_byzantine(manifest, 0, 15)).toBe(false);
    expect([...byzantine_at(manifest, 15)]).toEqual([
      [1, 'silent'],
      [3, 'equivocate-split'],
    ]);
  });

  it('the byzantine share of the power', () => {
    expect(byzantine_power_fraction(manifest, [1, 1, 1, 1], 5)).toBe(0.25);
    expect(byzantine_power_fraction(manifest, [1, 1, 1, 1], 15)).toBe(0.5);
    expect(byzantine_power_fraction(manifest, [10, 1, 1, 8], 15)).toBe(0.45);
    expect(() => byzantine_power_fraction(manifest, [1, 1, 1], 1)).toThrow(RangeError);
    expect(() => byzantine_power_fraction(manifest, [1, 1, 1, 0], 1)).toThrow(RangeError);
  });

  it('unsafe: a third or more of the power byzantine at some height', () => {
    expect(unsafe_reason(manifest, [1, 1, 1, 1])).toBe(
      'from height 10 validators 1, 3 are byzantine with 2 of 4 voting power; safety needs less than a third',
    );
    // Validator 3 alone holding a third is already unsafe: 3f < n fails at f = n/3.
    expect(
      unsafe_reason(parse_manifest(m({ from_height: 1, byzantine: { '3': 'silent' } })), [1, 1, 1, 3]),
    ).toBe('from height 1 validator 3 is byzantine with 3 of 6 voting power; safety needs less than a third');
    expect(
      unsafe_reason(parse_manifest(m({ from_height: 1, byzantine: { '3': 'silent' } })), [1, 1, 1, 1]),
    ).toBeNull();
    expect(unsafe_reason(manifest, [4, 1, 4, 1])).toBeNull();
    expect(unsafe_reason(parse_manifest(m()), [1, 1, 1, 1])).toBeNull();
  });

  it('a partition with no two-thirds group before a later fault may stall', () => {
    const issue = parse_manifest(ISSUE_EXAMPLE, { validators: 4 });
    expect(stall_reason(issue, [1, 1, 1, 1])).toBe(
      'faults[1] (height 80: heal) may never apply: after height 50 no group of running honest validators that reach each other holds more than two thirds of the voting power, so later heights may never be committed',
    );
    // Healed by time at the same height: fine.
    const timed = parse_manifest(
      m(
        {
          at_height: 50,
          partition: [
            [0, 1],
            [2, 3],
          ],
        },
        { at_height: 50, after_ms: 5000, heal: true },
        { at_height: 60, crash: 1 },
      ),
    );
    expect(stall_reason(timed, [1, 1, 1, 1])).toBeNull();
    // With powers that leave a group of two thirds: fine.
    expect(
      stall_reason(
        parse_manifest(
          m(
            {
              at_height: 50,
              partition: [
                [0, 1],
                [2, 3],
              ],
            },
            { at_height: 80, heal: true },
          ),
        ),
        [5, 1, 1, 1],
      ),
    ).toBeNull();
  });

  it('crashes and pauses of a third or more stall; byzantine validators do not help', () => {
    const two_down = parse_manifest(
      m({ at_height: 5, crash: 0 }, { at_height: 6, pause: 1 }, { at_height: 9, restart: 0 }),
    );
    expect(stall_reason(two_down, [1, 1, 1, 1])).toBe(
      'faults[2] (height 9: restart 0) may never apply: after height 6 no group of running honest validators that reach each other holds more than two thirds of the voting power, so later heights may never be committed',
    );
    expect(stall_reason(manifest, [1, 1, 1, 1])).toBeNull();
    const silent_then_crash = parse_manifest(
      m(
        { from_height: 8, byzantine: { '1': 'silent' } },
        { at_height: 5, crash: 0 },
        { at_height: 12, restart: 0 },
      ),
    );
    expect(stall_reason(silent_then_crash, [1, 1, 1, 1])).toBe(
      'faults[2] (height 12: restart 0) may never apply: after height 7 no group of running honest validators that reach each other holds more than two thirds of the voting power, so later heights may never be committed',
    );
  });

  it('what real processes cannot do, and what they start with', () => {
    const issue = parse_manifest(ISSUE_EXAMPLE, { validators: 4 });
    expect(simulator_only_faults(issue)).toEqual(['faults[4] (height 150: skew 1 +400 ms)']);
    expect([...start_behaviours(issue)]).toEqual([[3, 'equivocate-split']]);
    expect(simulator_only_faults(manifest)).toEqual([
      'faults[1] (from height 10 until height 20: byzantine 1 silent)',
    ]);
    const quality = parse_manifest(
      m({ at_height: 1, drop: 0.5 }, { at_height: 2, latency_ms: { min: 1, max: 2 } }),
    );
    expect(simulator_only_faults(quality)).toEqual([
      'faults[0] (height 1: drop 0.5)',
      'faults[1] (height 2: latency 1..2 ms)',
    ]);
  });

  it('describes each fault in one line', () => {
    const all = parse_manifest(
      m(
        { at_height: 3, partition: [[2, 0]] },
        { at_height: 3, after_ms: 250, heal: true },
        { at_height: 4, pause: 1 },
        { at_height: 5, skew_ms: { '0': -5 } },
      ),
    );
    expect(all.faults.map(describe_fault)).toEqual([
      'height 3: partition [0,2] [1] [3]',
      'height 3 + 250 ms: heal',
      'height 4: pause 1',
      'height 5: skew 0 -5 ms',
    ]);
  });
});
