/**
 * The fault manifest: a JSON schedule of faults by height, read by `cloister sim run` (the
 * deterministic in-process simulator) and by `cloister sim up --faults FILE` (real processes).
 * One parser checks everything a manifest can get wrong and names the JSON path of the problem;
 * the rest of this module answers questions about a parsed manifest (who is byzantine at a height,
 * whether the byzantine power stays below a third, whether the schedule can stall, which faults
 * exist only in the simulator). The schema is documented in docs/simulator.md "Fault manifest".
 * @module
 */

import { DuplicateKeyError, parse_json_strict } from '../protocol/strict_json.js';
import { BYZANTINE_BEHAVIOURS, type ByzantineBehaviour, is_byzantine_behaviour } from './byzantine.js';

/** The byzantine behaviour names a manifest accepts: those sim/byzantine.ts implements. */
export const MANIFEST_BEHAVIOURS: readonly ByzantineBehaviour[] = BYZANTINE_BEHAVIOURS;

/** A byzantine behaviour a manifest may name. */
export type ManifestBehaviour = ByzantineBehaviour;

/** Bounds of a manifest. */
export const MANIFEST_LIMITS = Object.freeze({
  /** Largest manifest text, UTF-8 bytes. */
  bytes_max: 1024 * 1024,
  /** Most entries in `faults`. */
  faults_max: 10_000,
  /** Most validators a manifest may describe. */
  validators_max: 1024,
  /** Largest clock skew, either way, ms. */
  skew_ms_max: 60_000,
  /** Largest simulated message latency, ms. */
  latency_ms_max: 60_000,
  /** Largest delay of a fault after its height is reached, ms (one hour). */
  after_ms_max: 3_600_000,
  /** Longest comment, UTF-16 code units. */
  comment_max: 1000,
});

/** What a timed fault does when it applies. */
export type FaultAction =
  /**
   * From now on a validator's messages reach only the validators of its own group. `groups` covers
   * every validator exactly once (a validator the manifest did not list is alone in its own group),
   * each group ascending, groups ordered by their first member; at least two groups.
   */
  | { kind: 'partition'; groups: number[][] }
  /** Ends the partition in force: every validator reaches every other again. */
  | { kind: 'heal' }
  /** The validator's process dies (SIGKILL): it loses everything not on disk. */
  | { kind: 'crash'; validator: number }
  /** A crashed validator starts again from its disk. */
  | { kind: 'restart'; validator: number }
  /** The validator stops running (SIGSTOP) but keeps its memory. */
  | { kind: 'pause'; validator: number }
  /** A paused validator runs on (SIGCONT). */
  | { kind: 'resume'; validator: number }
  /** Sets these validators' clock offsets (ms, + ahead); 0 puts a clock right. Simulator only. */
  | { kind: 'skew'; skew_ms: { validator: number; ms: number }[] }
  /** Each message is lost with this probability from now on; 0 ends it. Simulator only. */
  | { kind: 'drop'; probability: number }
  /** Each message arrives twice with this probability from now on; 0 ends it. Simulator only. */
  | { kind: 'duplicate'; probability: number }
  /** Each message is delayed by a uniform draw from [min_ms, max_ms] from now on. Simulator only. */
  | { kind: 'latency'; min_ms: number; max_ms: number };

/** A fault that applies once, when a height is reached. */
export interface TimedFault {
  /** Index of this fault in the manifest's `faults` array (for messages: `faults[source]`). */
  source: number;
  /** Applies once any honest validator has committed this height (and every earlier fault applied). */
  at_height: number;
  /** Applies this many ms after it became due (0: at once). */
  after_ms: number;
  action: FaultAction;
}

/** Validators that behave byzantine over a span of heights. */
export interface ByzantineFault {
  /** Index of this fault in the manifest's `faults` array. */
  source: number;
  /** First height at which they misbehave. */
  from_height: number;
  /** First height at which they are honest again; null: never. */
  until_height: number | null;
  /** Ascending by validator. */
  behaviours: { validator: number; behaviour: ManifestBehaviour }[];
}

/** A checked, normalized manifest. */
export interface Manifest {
  validators: number;
  /** Timed faults in the order they apply: by at_height, then as listed in the file. */
  faults: TimedFault[];
  /** Byzantine spans by from_height, then as listed; a validator's spans never overlap. */
  byzantine: ByzantineFault[];
}

/** A manifest that is not valid; `path` is the JSON path of the problem (`manifest` for the whole). */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';

  /**
   * @param path JSON path of the problem, e.g. `faults[2].crash`.
   * @param reason what is wrong there.
   */
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

const TIMED_ACTIONS = [
  'partition',
  'heal',
  'crash',
  'restart',
  'pause',
  'resume',
  'skew_ms',
  'drop',
  'duplicate',
  'latency_ms',
] as const;
const ACTIONS: readonly string[] = [...TIMED_ACTIONS, 'byzantine'];
const FAULT_KEYS: readonly string[] = [
  'at_height',
  'from_height',
  'until_height',
  'after_ms',
  'comment',
  ...ACTIONS,
];
const MANIFEST_KEYS: readonly string[] = ['validators', 'faults', 'comment'];

/** Actions real validator processes can apply (`cloister sim up --faults`). */
export const REAL_PROCESS_ACTIONS: readonly FaultAction['kind'][] = [
  'partition',
  'heal',
  'crash',
  'restart',
  'pause',
  'resume',
];

type Json = unknown;

/** A short description of a JSON value for "got …". */
function got(value: Json): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'undefined') return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** `base.key`, or `base["key"]` for a key that is not a plain identifier. */
function key_path(base: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return base === '' ? key : `${base}.${key}`;
  const quoted = JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);
  return `${base === '' ? 'manifest' : base}[${quoted}]`;
}

function is_object(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function list(names: readonly string[]): string {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

/** A checker of one manifest, for a known number of validators. */
class Checker {
  constructor(readonly validators: number) {}

  validator(value: Json, path: string): number {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new ManifestError(path, `must be a validator index (an integer), got ${got(value)}`);
    }
    this.in_range(value, path);
    return value;
  }

  in_range(index: number, path: string): void {
    if (index < 0 || index >= this.validators) {
      throw new ManifestError(
        path,
        `validator ${index} does not exist (validators 0..${this.validators - 1})`,
      );
    }
  }

  /** Keys of an object mapping validator indices ("0", "1", …) to values, ascending by index. */
  by_validator(value: Json, path: string): [number, Json, string][] {
    if (!is_object(value)) {
      throw new ManifestError(path, `must be an object keyed by validator index, got ${got(value)}`);
    }
    const out: [number, Json, string][] = [];
    for (const [key, v] of Object.entries(value)) {
      const at = `${path}[${JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key)}]`;
      if (!/^(0|[1-9][0-9]{0,8})$/.test(key)) {
        throw new ManifestError(at, 'keys are validator indices in decimal ("0", "1", …)');
      }
      const index = Number(key);
      this.in_range(index, at);
      out.push([index, v, at]);
    }
    if (out.length === 0) throw new ManifestError(path, 'must name at least one validator');
    return out.sort((a, b) => a[0] - b[0]);
  }

  height(value: Json, path: string): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new ManifestError(path, `must be a positive integer height, got ${got(value)}`);
    }
    return value;
  }

  ms(value: Json, path: string, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new ManifestError(path, `must be an integer number of milliseconds, got ${got(value)}`);
    }
    if (value < min || value > max) {
      throw new ManifestError(
        path,
        min === -max
          ? `${value} ms is beyond the ±${max} ms allowed`
          : `${value} ms is outside ${min}..${max} ms`,
      );
    }
    return value;
  }

  partition(value: Json, path: string): number[][] {
    if (!Array.isArray(value)) {
      throw new ManifestError(path, `must be an array of groups of validator indices, got ${got(value)}`);
    }
    if (value.length === 0) throw new ManifestError(path, 'must list at least one group');
    const group_of = new Map<number, number>();
    const groups: number[][] = [];
    value.forEach((group: Json, g) => {
      const at = `${path}[${g}]`;
      if (!Array.isArray(group)) {
        throw new ManifestError(at, `must be an array of validator indices, got ${got(group)}`);
      }
      if (group.length === 0) throw new ManifestError(at, 'a group must not be empty');
      const members: number[] = [];
      group.forEach((member: Json, m) => {
        const index = this.validator(member, `${at}[${m}]`);
        const other = group_of.get(index);
        if (other !== undefined) {
          throw new ManifestError(`${at}[${m}]`, `validator ${index} is already in group ${other}`);
        }
        group_of.set(index, g);
        members.push(index);
      });
      groups.push(members.sort((a, b) => a - b));
    });
    // A validator not listed is alone: it reaches nobody and nobody reaches it.
    for (let i = 0; i < this.validators; i++) if (!group_of.has(i)) groups.push([i]);
    if (groups.length < 2) {
      throw new ManifestError(path, 'puts every validator in one group, which partitions nothing (use heal)');
    }
    return groups.sort((a, b) => a[0]! - b[0]!);
  }

  latency(value: Json, path: string): { min_ms: number; max_ms: number } {
    if (!is_object(value)) {
      throw new ManifestError(path, `must be an object {"min": MS, "max": MS}, got ${got(value)}`);
    }
    for (const key of Object.keys(value)) {
      if (key !== 'min' && key !== 'max') {
        throw new ManifestError(key_path(path, key), 'unknown key (latency_ms takes min and max)');
      }
    }
    const bound = (key: 'min' | 'max') => {
      if (!(key in value)) throw new ManifestError(path, `missing ${key}`);
      return this.ms(value[key], `${path}.${key}`, 0, MANIFEST_LIMITS.latency_ms_max);
    };
    const min_ms = bound('min');
    const max_ms = bound('max');
    if (min_ms > max_ms) throw new ManifestError(path, `min ${min_ms} is above max ${max_ms}`);
    return { min_ms, max_ms };
  }

  behaviours(value: Json, path: string): { validator: number; behaviour: ManifestBehaviour }[] {
    return this.by_validator(value, path).map(([validator, name, at]) => {
      if (!is_byzantine_behaviour(name)) {
        throw new ManifestError(
          at,
          `unknown behaviour ${got(name)} (one of ${MANIFEST_BEHAVIOURS.join(', ')})`,
        );
      }
      return { validator, behaviour: name };
    });
  }

  timed_action(kind: (typeof TIMED_ACTIONS)[number], value: Json, path: string): FaultAction {
    switch (kind) {
      case 'partition':
        return { kind, groups: this.partition(value, path) };
      case 'heal':
        if (value !== true) throw new ManifestError(path, `must be true, got ${got(value)}`);
        return { kind };
      case 'crash':
      case 'restart':
      case 'pause':
      case 'resume':
        return { kind, validator: this.validator(value, path) };
      case 'skew_ms':
        return {
          kind: 'skew',
          skew_ms: this.by_validator(value, path).map(([validator, ms, at]) => ({
            validator,
            ms: this.ms(ms, at, -MANIFEST_LIMITS.skew_ms_max, MANIFEST_LIMITS.skew_ms_max),
          })),
        };
      case 'drop':
      case 'duplicate':
        if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
          throw new ManifestError(path, `must be a probability from 0 to 1, got ${got(value)}`);
        }
        return { kind, probability: value };
      case 'latency_ms':
        return { kind: 'latency', ...this.latency(value, path) };
    }
  }

  /** One entry of `faults`, checked on its own. */
  fault(value: Json, source: number): TimedFault | ByzantineFault {
    const path = `faults[${source}]`;
    if (!is_object(value)) throw new ManifestError(path, `must be an object, got ${got(value)}`);
    const keys = Object.keys(value);
    for (const key of keys) {
      if (!FAULT_KEYS.includes(key)) {
        throw new ManifestError(
          key_path(path, key),
          `unknown key (a fault takes at_height, or from_height and until_height, an optional after_ms and comment, and one action: ${list(ACTIONS)})`,
        );
      }
    }
    const actions = keys.filter((k) => ACTIONS.includes(k));
    if (actions.length === 0) throw new ManifestError(path, `no action (one of ${list(ACTIONS)})`);
    if (actions.length > 1) {
      throw new ManifestError(
        path,
        `${actions.length} actions (${actions.join(', ')}); a fault has exactly one`,
      );
    }
    if ('comment' in value) this.comment(value.comment, `${path}.comment`);
    const action = actions[0]!;
    if (action === 'byzantine') {
      if ('at_height' in value) {
        throw new ManifestError(
          `${path}.at_height`,
          'a byzantine fault starts at from_height (and may end at until_height), not at at_height',
        );
      }
      if ('after_ms' in value)
        throw new ManifestError(`${path}.after_ms`, 'only faults with at_height take after_ms');
      if (!('from_height' in value)) throw new ManifestError(path, 'missing from_height');
      const from_height = this.height(value.from_height, `${path}.from_height`);
      let until_height: number | null = null;
      if ('until_height' in value) {
        until_height = this.height(value.until_height, `${path}.until_height`);
        if (until_height <= from_height) {
          throw new ManifestError(
            `${path}.until_height`,
            `must be above from_height (${from_height}), got ${until_height}`,
          );
        }
      }
      return {
        source,
        from_height,
        until_height,
        behaviours: this.behaviours(value.byzantine, `${path}.byzantine`),
      };
    }
    for (const key of ['from_height', 'until_height'] as const) {
      if (key in value) {
        throw new ManifestError(
          `${path}.${key}`,
          `only byzantine faults take ${key} (this one takes at_height)`,
        );
      }
    }
    if (!('at_height' in value)) throw new ManifestError(path, 'missing at_height');
    const at_height = this.height(value.at_height, `${path}.at_height`);
    const after_ms =
      'after_ms' in value ? this.ms(value.after_ms, `${path}.after_ms`, 0, MANIFEST_LIMITS.after_ms_max) : 0;
    const kind = action as (typeof TIMED_ACTIONS)[number];
    return { source, at_height, after_ms, action: this.timed_action(kind, value[kind], `${path}.${kind}`) };
  }

  comment(value: Json, path: string): void {
    if (typeof value !== 'string') throw new ManifestError(path, `must be a string, got ${got(value)}`);
    if (value.length > MANIFEST_LIMITS.comment_max) {
      throw new ManifestError(
        path,
        `${value.length} characters, more than the ${MANIFEST_LIMITS.comment_max} allowed`,
      );
    }
  }
}

/**
 * Follows the schedule in order and refuses a fault that does not fit the state it meets: crashing
 * a crashed validator, restarting one that is not crashed, pausing one that is not running,
 * resuming one that is not paused, healing when no partition is in force.
 */
function check_schedule(validators: number, faults: TimedFault[]): void {
  // Per validator: where it is, and the fault that put it there (-1: running from the start).
  const state: { is: 'running' | 'crashed' | 'paused'; by: number }[] = Array.from(
    { length: validators },
    () => ({ is: 'running', by: -1 }),
  );
  let partition_by = -1;
  const since = (by: number) => (by < 0 ? '' : ` (faults[${by}])`);
  for (const f of faults) {
    const a = f.action;
    const path = `faults[${f.source}].${a.kind}`;
    switch (a.kind) {
      case 'partition':
        partition_by = f.source;
        break;
      case 'heal':
        if (partition_by < 0)
          throw new ManifestError(path, 'no partition is in force at this point of the schedule');
        partition_by = -1;
        break;
      case 'crash':
      case 'restart':
      case 'pause':
      case 'resume': {
        const s = state[a.validator]!;
        const v = `validator ${a.validator}`;
        if (a.kind === 'crash' && s.is === 'crashed') {
          throw new ManifestError(path, `${v} is already crashed${since(s.by)}`);
        }
        if (a.kind === 'restart' && s.is !== 'crashed') {
          throw new ManifestError(
            path,
            s.is === 'paused'
              ? `${v} is paused${since(s.by)}, not crashed (resume it)`
              : `${v} is running, not crashed`,
          );
        }
        if (a.kind === 'pause' && s.is !== 'running')
          throw new ManifestError(path, `${v} is ${s.is}${since(s.by)}`);
        if (a.kind === 'resume' && s.is !== 'paused') {
          throw new ManifestError(path, `${v} is ${s.is}${since(s.by)}, not paused`);
        }
        state[a.validator] = {
          is: a.kind === 'crash' ? 'crashed' : a.kind === 'pause' ? 'paused' : 'running',
          by: f.source,
        };
        break;
      }
      default:
        break;
    }
  }
}

/** Refuses a validator byzantine in two spans that overlap. */
function check_byzantine(spans: ByzantineFault[]): void {
  const seen = new Map<number, ByzantineFault[]>();
  for (const span of spans) {
    for (const { validator } of span.behaviours) {
      const earlier = seen.get(validator) ?? [];
      for (const other of earlier) {
        const overlaps =
          (other.until_height === null || span.from_height < other.until_height) &&
          (span.until_height === null || other.from_height < span.until_height);
        if (overlaps) {
          const until = other.until_height === null ? '' : ` until height ${other.until_height}`;
          throw new ManifestError(
            `faults[${span.source}].byzantine[${JSON.stringify(String(validator))}]`,
            `validator ${validator} is already byzantine from height ${other.from_height}${until} (faults[${other.source}])`,
          );
        }
      }
      earlier.push(span);
      seen.set(validator, earlier);
    }
  }
}

function decode(input: string | Uint8Array): string {
  if (typeof input === 'string') return input;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch {
    throw new ManifestError('manifest', 'not UTF-8 text');
  }
}

/**
 * Parses and checks a fault manifest: JSON text (a string or UTF-8 bytes, at most
 * {@link MANIFEST_LIMITS}.bytes_max, no object with two equal keys) or an already parsed value.
 * `opts.validators` is the network's size; a manifest's own `validators`, if given, must equal it,
 * and one of the two must be given. Returns the manifest normalized (see {@link Manifest}); throws
 * {@link ManifestError} naming the JSON path of the first problem found.
 */
export function parse_manifest(input: unknown, opts: { validators?: number } = {}): Manifest {
  if (
    opts.validators !== undefined &&
    (!Number.isInteger(opts.validators) ||
      opts.validators < 1 ||
      opts.validators > MANIFEST_LIMITS.validators_max)
  ) {
    throw new RangeError(`validators must be an integer from 1 to ${MANIFEST_LIMITS.validators_max}`);
  }
  let value: Json = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const bytes = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.byteLength;
    if (bytes > MANIFEST_LIMITS.bytes_max) {
      throw new ManifestError(
        'manifest',
        `${bytes} bytes, more than the ${MANIFEST_LIMITS.bytes_max} allowed`,
      );
    }
    try {
      value = parse_json_strict(decode(input));
    } catch (error) {
      if (error instanceof ManifestError) throw error;
      if (error instanceof DuplicateKeyError) throw new ManifestError('manifest', error.message);
      throw new ManifestError('manifest', `not JSON (${(error as Error).message})`);
    }
  }
  if (!is_object(value)) throw new ManifestError('manifest', `must be a JSON object, got ${got(value)}`);
  for (const key of Object.keys(value)) {
    if (!MANIFEST_KEYS.includes(key)) {
      throw new ManifestError(
        key_path('', key),
        'unknown key (a manifest takes validators, faults and comment)',
      );
    }
  }
  let validators = opts.validators;
  if ('validators' in value) {
    const v = value.validators;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MANIFEST_LIMITS.validators_max) {
      throw new ManifestError(
        'validators',
        `must be an integer from 1 to ${MANIFEST_LIMITS.validators_max}, got ${got(v)}`,
      );
    }
    if (validators !== undefined && v !== validators) {
      throw new ManifestError(
        'validators',
        `the manifest is for ${v} validators, but the network has ${validators}`,
      );
    }
    validators = v;
  }
  if (validators === undefined) {
    throw new ManifestError('validators', 'missing, and no number of validators was given otherwise');
  }
  const checker = new Checker(validators);
  if ('comment' in value) checker.comment(value.comment, 'comment');
  if (!('faults' in value)) throw new ManifestError('manifest', 'missing faults');
  const raw = value.faults;
  if (!Array.isArray(raw)) throw new ManifestError('faults', `must be an array, got ${got(raw)}`);
  if (raw.length > MANIFEST_LIMITS.faults_max) {
    throw new ManifestError(
      'faults',
      `${raw.length} faults, more than the ${MANIFEST_LIMITS.faults_max} allowed`,
    );
  }
  const faults: TimedFault[] = [];
  const byzantine: ByzantineFault[] = [];
  raw.forEach((entry: Json, i) => {
    const f = checker.fault(entry, i);
    if ('action' in f) faults.push(f);
    else byzantine.push(f);
  });
  // Array.prototype.sort is stable: equal heights keep the file's order.
  faults.sort((a, b) => a.at_height - b.at_height);
  byzantine.sort((a, b) => a.from_height - b.from_height);
  check_schedule(validators, faults);
  check_byzantine(byzantine);
  return { validators, faults, byzantine };
}

/** The behaviour of `validator` at `height` (null: honest there). */
export function behaviour_at(
  manifest: Manifest,
  validator: number,
  height: number,
): ManifestBehaviour | null {
  for (const span of manifest.byzantine) {
    if (span.from_height > height || (span.until_height !== null && height >= span.until_height)) continue;
    const found = span.behaviours.find((b) => b.validator === validator);
    if (found !== undefined) return found.behaviour;
  }
  return null;
}

/** Whether `validator` is byzantine at `height`. */
export function is_byzantine(manifest: Manifest, validator: number, height: number): boolean {
  return behaviour_at(manifest, validator, height) !== null;
}

/** The byzantine validators at `height` and what they do. */
export function byzantine_at(manifest: Manifest, height: number): Map<number, ManifestBehaviour> {
  const out = new Map<number, ManifestBehaviour>();
  for (let i = 0; i < manifest.validators; i++) {
    const b = behaviour_at(manifest, i, height);
    if (b !== null) out.set(i, b);
  }
  return out;
}

function check_powers(manifest: Manifest, powers: readonly number[]): number {
  if (powers.length !== manifest.validators) {
    throw new RangeError(`powers has ${powers.length} entries for ${manifest.validators} validators`);
  }
  let total = 0;
  for (const p of powers) {
    if (!Number.isSafeInteger(p) || p < 1) throw new RangeError('each power must be a positive integer');
    total += p;
  }
  return total;
}

/** Share of the voting power (0..1) held by validators byzantine at `height`; `powers` by validator index. */
export function byzantine_power_fraction(
  manifest: Manifest,
  powers: readonly number[],
  height: number,
): number {
  const total = check_powers(manifest, powers);
  let bad = 0;
  for (const i of byzantine_at(manifest, height).keys()) bad += powers[i]!;
  return bad / total;
}

/**
 * Why the manifest is unsafe to run with these voting powers, or null: BFT safety needs the
 * byzantine validators to hold less than a third of the power at every height (3·f < n). The
 * simulator refuses an unsafe manifest unless told `--allow-unsafe`.
 */
export function unsafe_reason(manifest: Manifest, powers: readonly number[]): string | null {
  const total = check_powers(manifest, powers);
  // The byzantine set changes only where a span starts, so checking those heights is enough.
  for (const span of manifest.byzantine) {
    const bad = [...byzantine_at(manifest, span.from_height).keys()];
    const power = bad.reduce((sum, i) => sum + powers[i]!, 0);
    if (3 * power >= total) {
      return (
        `from height ${span.from_height} validator${bad.length > 1 ? 's' : ''} ${bad.join(', ')} ` +
        `${bad.length > 1 ? 'are' : 'is'} byzantine with ${power} of ${total} voting power; ` +
        'safety needs less than a third'
      );
    }
  }
  return null;
}

/** One line naming a fault, e.g. `height 50: partition [0,1] [2,3]`. */
export function describe_fault(fault: TimedFault | ByzantineFault): string {
  if (!('action' in fault)) {
    const until = fault.until_height === null ? '' : ` until height ${fault.until_height}`;
    const who = fault.behaviours.map((b) => `${b.validator} ${b.behaviour}`).join(', ');
    return `from height ${fault.from_height}${until}: byzantine ${who}`;
  }
  const a = fault.action;
  const when = `height ${fault.at_height}${fault.after_ms > 0 ? ` + ${fault.after_ms} ms` : ''}`;
  switch (a.kind) {
    case 'partition':
      return `${when}: partition ${a.groups.map((g) => `[${g.join(',')}]`).join(' ')}`;
    case 'heal':
      return `${when}: heal`;
    case 'crash':
    case 'restart':
    case 'pause':
    case 'resume':
      return `${when}: ${a.kind} ${a.validator}`;
    case 'skew':
      return `${when}: skew ${a.skew_ms.map((s) => `${s.validator} ${s.ms > 0 ? '+' : ''}${s.ms} ms`).join(', ')}`;
    case 'drop':
    case 'duplicate':
      return `${when}: ${a.kind} ${a.probability}`;
    case 'latency':
      return `${when}: latency ${a.min_ms}..${a.max_ms} ms`;
  }
}

/**
 * Whether the schedule may stall before it has run: after the faults up to some height, no group
 * of validators that reach each other, running (not crashed or paused) and honest, holds more than
 * two thirds of the voting power, so no later height may ever be committed, and a fault due at a
 * later height would never apply. Returns a sentence naming the first such fault, or null. A
 * warning, not a refusal: byzantine validators are counted as never helping, which some do.
 * Faults due at the height that stalls (`after_ms` ones included) still apply.
 */
export function stall_reason(manifest: Manifest, powers: readonly number[]): string | null {
  const total = check_powers(manifest, powers);
  // The heights after which the state may change: fault heights, and where byzantine spans begin or end.
  const checkpoints = new Set<number>([0]);
  for (const f of manifest.faults) checkpoints.add(f.at_height);
  for (const s of manifest.byzantine) {
    checkpoints.add(s.from_height - 1);
    if (s.until_height !== null) checkpoints.add(s.until_height - 1);
  }
  const down = new Set<number>();
  let groups: number[][] = [Array.from({ length: manifest.validators }, (_, i) => i)];
  let next = 0;
  for (const h of [...checkpoints].sort((a, b) => a - b)) {
    for (; next < manifest.faults.length && manifest.faults[next]!.at_height <= h; next++) {
      const a = manifest.faults[next]!.action;
      if (a.kind === 'partition') groups = a.groups;
      else if (a.kind === 'heal') groups = [Array.from({ length: manifest.validators }, (_, i) => i)];
      else if (a.kind === 'crash' || a.kind === 'pause') down.add(a.validator);
      else if (a.kind === 'restart' || a.kind === 'resume') down.delete(a.validator);
    }
    const pending = manifest.faults[next];
    if (pending === undefined) return null;
    const bad = byzantine_at(manifest, h + 1);
    const live = groups.some(
      (g) =>
        3 * g.filter((i) => !down.has(i) && !bad.has(i)).reduce((sum, i) => sum + powers[i]!, 0) > 2 * total,
    );
    if (!live) {
      return (
        `faults[${pending.source}] (${describe_fault(pending)}) may never apply: ` +
        `${h === 0 ? 'from the start' : `after height ${h}`} no group of running honest validators that reach each ` +
        'other holds more than two thirds of the voting power, so later heights may never be committed'
      );
    }
  }
  return null;
}

/**
 * The faults real validator processes cannot apply (`cloister sim up --faults` refuses the
 * manifest): clock skew, message drop and latency, and byzantine behaviour that does not hold from
 * height 1 on (a process's behaviour is fixed when it starts). One line per fault; empty if none.
 */
export function simulator_only_faults(manifest: Manifest): string[] {
  const out: string[] = [];
  const sorted = [...manifest.faults, ...manifest.byzantine].sort((a, b) => a.source - b.source);
  for (const f of sorted) {
    if ('action' in f) {
      if (!REAL_PROCESS_ACTIONS.includes(f.action.kind))
        out.push(`faults[${f.source}] (${describe_fault(f)})`);
    } else if (f.from_height !== 1 || f.until_height !== null) {
      out.push(`faults[${f.source}] (${describe_fault(f)})`);
    }
  }
  return out;
}

/**
 * The behaviours real validator processes start with: the byzantine faults from height 1 on
 * (as `--byzantine INDEX:BEHAVIOUR` would give them), by validator index.
 */
export function start_behaviours(manifest: Manifest): Map<number, ManifestBehaviour> {
  const out = new Map<number, ManifestBehaviour>();
  for (const span of manifest.byzantine) {
    if (span.from_height !== 1 || span.until_height !== null) continue;
    for (const b of span.behaviours) out.set(b.validator, b.behaviour);
  }
  return out;
}
