/**
 * A compiled contract: the host side of `Program.call`. It checks the call environment, points
 * the sandbox's host callbacks at this call's storage and randomness, runs the call and turns
 * the realm script's JSON answer into a `CallOutcome` built from objects of this realm.
 * @module
 */

import { line_locator } from './instrument.js';
import { error_message_chars_max, gas_limit_max } from './limits.js';
import { create_quickjs_sandbox, EngineAborted } from './quickjs_sandbox.js';
import { create_sandbox, type HostCallbacks } from './sandbox.js';
import { to_well_formed, truncate_chars } from './text.js';
import type {
  CallEnv,
  CallOutcome,
  ContractEvent,
  ContractMessage,
  EngineName,
  EntryPoint,
  Program,
} from './types.js';

const entry_points: ReadonlySet<string> = new Set<EntryPoint>(['instantiate', 'execute', 'query', 'reply']);
const HEX_TABLE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Why `env` cannot be run, or null. A bad env is the caller's bug, but it must not throw. */
function invalid_env(env: CallEnv): string | null {
  if (typeof env !== 'object' || env === null) return 'env must be an object';
  if (!entry_points.has(env.entry)) return 'entry must be instantiate, execute, query or reply';
  if (typeof env.msg_json !== 'string') return 'msg_json must be a string';
  if (env.sender !== null && typeof env.sender !== 'string') return 'sender must be a string or null';
  if (typeof env.contract !== 'string') return 'contract must be a string';
  if (typeof env.chain_id !== 'string') return 'chain_id must be a string';
  if (!Number.isSafeInteger(env.height) || env.height < 0)
    return 'height must be a non-negative safe integer';
  if (!Number.isSafeInteger(env.time_ms) || env.time_ms < 0)
    return 'time_ms must be a non-negative safe integer';
  if (!Number.isSafeInteger(env.gas_limit) || env.gas_limit < 0 || env.gas_limit > gas_limit_max) {
    return `gas_limit must be an integer from 0 to ${gas_limit_max}`;
  }
  if (!Number.isSafeInteger(env.funds) || env.funds < 0) return 'funds must be a non-negative safe integer';
  if (!Number.isSafeInteger(env.balance) || env.balance < 0)
    return 'balance must be a non-negative safe integer';
  if (env.balance < env.funds) return 'balance must include funds';
  const storage = env.storage;
  if (
    typeof storage !== 'object' ||
    storage === null ||
    typeof storage.get !== 'function' ||
    typeof storage.set !== 'function' ||
    typeof storage.remove !== 'function'
  ) {
    return 'storage must implement get, set and remove';
  }
  if (typeof env.random !== 'function') return 'random must be a function';
  return null;
}

function parse_events(raw: [string, string[], number][]): ContractEvent[] {
  const events: ContractEvent[] = [];
  for (const [type, flat, is_public] of raw) {
    const attributes: { key: string; value: string }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) attributes.push({ key: flat[i]!, value: flat[i + 1]! });
    events.push(is_public === 1 ? { type, attributes, public: true } : { type, attributes });
  }
  return events;
}

type RawMessage = ['send', string, number] | ['execute', string, string, number, boolean];

function parse_messages(raw: RawMessage[]): ContractMessage[] {
  return raw.map((m) =>
    m[0] === 'send'
      ? { kind: 'send', to: m[1], amount: m[2] }
      : { kind: 'execute', contract: m[1], msg_json: m[2], funds: m[3], reply: m[4] },
  );
}

/** The realm script's answer (realm_script.ts). */
type Answer = [string, number, string, [string, string[], number][], RawMessage[], string[], number];

/**
 * Where an offset of the contract source is, as the suffix of an error message, from a table
 * built at the first error.
 */
class Positions {
  readonly #source: string;
  #locate: ((offset: number) => { line: number; column: number }) | null = null;

  constructor(source: string) {
    this.#source = source;
  }

  suffix(offset: number): string {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.#source.length) return '';
    this.#locate ??= line_locator(this.#source);
    const { line, column } = this.#locate(offset);
    return ` (at line ${line}, column ${column})`;
  }
}

/** Builds a `CallOutcome` from the realm script's answer (see `Answer`). */
function parse_outcome(answer: string, positions: Positions): CallOutcome {
  const [kind, gas_used, text, events, messages, lines, offset] = JSON.parse(answer) as Answer;
  if (kind === 'out_of_gas') return { kind: 'out_of_gas', gas_used };
  const debug = lines.map(to_well_formed);
  if (kind === 'ok') {
    return {
      kind: 'ok',
      gas_used,
      data_json: text,
      events: parse_events(events),
      messages: parse_messages(messages),
      debug,
    };
  }
  const suffix = positions.suffix(offset);
  const message = to_well_formed(truncate_chars(text, error_message_chars_max - suffix.length)) + suffix;
  return { kind: 'error', gas_used, message, debug };
}

class CompiledProgram implements Program {
  readonly #run: ReturnType<typeof create_sandbox>['run'];
  readonly #positions: Positions;
  #env: CallEnv | null = null;

  constructor(factory_source: string, engine: EngineName, source: string) {
    this.#positions = new Positions(source);
    // Arrow functions: the realm script calls these without a receiver.
    const callbacks: HostCallbacks = {
      storage_get: (key) => {
        try {
          const value = this.#env!.storage.get(key);
          return value === null || typeof value === 'string' ? value : undefined;
        } catch {
          return undefined;
        }
      },
      storage_set: (key, value) => {
        try {
          this.#env!.storage.set(key, value);
          return true;
        } catch {
          return false;
        }
      },
      storage_remove: (key) => {
        try {
          this.#env!.storage.remove(key);
          return true;
        } catch {
          return false;
        }
      },
      random_hex: () => {
        try {
          const bytes = this.#env!.random();
          if (!(bytes instanceof Uint8Array) || bytes.length !== 32) return undefined;
          let hex = '';
          for (const byte of bytes) hex += HEX_TABLE[byte]!;
          return hex;
        } catch {
          return undefined;
        }
      },
    };
    const sandbox =
      engine === 'quickjs'
        ? create_quickjs_sandbox(factory_source, callbacks)
        : create_sandbox(factory_source, callbacks);
    this.#run = sandbox.run;
  }

  call(env: CallEnv): CallOutcome {
    const invalid = invalid_env(env);
    if (invalid !== null)
      return { kind: 'error', gas_used: 0, message: `invalid call env: ${invalid}`, debug: [] };
    if (this.#env !== null)
      return { kind: 'error', gas_used: 0, message: 'invalid call env: program is busy', debug: [] };
    this.#env = env;
    try {
      const answer = this.#run(
        env.entry,
        env.msg_json,
        env.gas_limit,
        Buffer.byteLength(env.msg_json, 'utf8'),
        env.sender,
        env.contract,
        env.chain_id,
        env.height,
        env.time_ms,
        env.funds,
        env.balance,
      );
      return parse_outcome(answer, this.#positions);
    } catch (error) {
      if (error instanceof EngineAborted) return { kind: 'aborted', message: error.message };
      // Only reachable if the host's own stack ran out before the context was entered.
      return { kind: 'error', gas_used: env.gas_limit, message: 'stack overflow', debug: [] };
    } finally {
      this.#env = null;
    }
  }
}

/**
 * Loads an instrumented factory (from `instrument_module`) into a new sandbox; `source` is the
 * contract's original source, for the line and column of error positions. Throws SyntaxError if
 * the engine rejects the factory.
 */
export function create_program(factory_source: string, engine: EngineName, source: string): Program {
  return new CompiledProgram(factory_source, engine, source);
}
