/**
 * Test helpers for the contract VM: in-memory storage that commits only successful calls (as the
 * enclave's executor does), deterministic counter-based randomness, and a small driver that
 * instantiates, executes and queries one contract.
 * @module
 */

import { readFileSync } from 'node:fs';
import { compile_contract } from '../../enclave/vm/compile.js';
import type { CallEnv, CallOutcome, EntryPoint, Program, VmStorage } from '../../enclave/vm/types.js';

/** Map-backed storage; `writes` buffers a call's changes until `commit`. */
export class MemoryStorage implements VmStorage {
  readonly committed = new Map<string, string>();
  writes = new Map<string, string | null>();

  get(key: string): string | null {
    const pending = this.writes.get(key);
    if (pending !== undefined) return pending;
    return this.committed.get(key) ?? null;
  }

  set(key: string, value: string): void {
    this.writes.set(key, value);
  }

  remove(key: string): void {
    this.writes.set(key, null);
  }

  commit(): void {
    for (const [key, value] of this.writes) {
      if (value === null) this.committed.delete(key);
      else this.committed.set(key, value);
    }
    this.writes = new Map();
  }

  discard(): void {
    this.writes = new Map();
  }

  /** Committed entries sorted by key, for comparing two runs. */
  snapshot(): [string, string][] {
    return [...this.committed.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
}

/** Deterministic stand-in for the enclave's randomness: draw i is 32 bytes of i's low byte pattern. */
export function counter_random(start = 0): () => Uint8Array {
  let draws = start;
  return () => {
    const bytes = new Uint8Array(32);
    const n = draws++;
    for (let i = 0; i < 32; i++) bytes[i] = (n * 31 + i * 7) & 0xff;
    bytes[0] = n & 0xff;
    bytes[1] = (n >>> 8) & 0xff;
    return bytes;
  };
}

/** A 40-hex address made from a short name, for readable tests. */
export function address(name: string): string {
  let hex = '';
  for (const byte of Buffer.from(name, 'utf8')) hex += byte.toString(16).padStart(2, '0');
  return hex.padEnd(40, '0').slice(0, 40);
}

/** Default gas limit for tests. */
export const test_gas_limit = 10_000_000;

/** A full call env with test defaults. */
export function make_env(overrides: Partial<CallEnv> & { storage?: VmStorage } = {}): CallEnv {
  return {
    entry: 'execute',
    msg_json: '{}',
    sender: address('alice'),
    contract: address('contract'),
    chain_id: 'cloister-test',
    height: 10,
    time_ms: 1_700_000_000_000,
    gas_limit: test_gas_limit,
    funds: 0,
    balance: 0,
    storage: new MemoryStorage(),
    random: counter_random(),
    ...overrides,
  };
}

/** Compiles `source`, failing the test with the compiler's message if it is refused. */
export function compile_ok(source: string): Program {
  const result = compile_contract(source);
  if (!result.ok) throw new Error(`contract refused: ${result.message}`);
  return result.program;
}

/** Source of `contracts/<name>.js`. */
export function contract_source(name: string): string {
  return readFileSync(new URL(`../../contracts/${name}.js`, import.meta.url), 'utf8');
}

/**
 * The suffix a contract error gets for the first occurrence of `snippet` in `source`
 * (` (at line L, column C)`, both 1-based); fails the test if `snippet` is not there.
 */
export function at(source: string, snippet: string, occurrence = 1): string {
  let offset = -1;
  for (let i = 0; i < occurrence; i++) offset = source.indexOf(snippet, offset + 1);
  if (offset < 0) throw new Error(`${JSON.stringify(snippet)} is not in the source`);
  const before = source.slice(0, offset).split('\n');
  return ` (at line ${before.length}, column ${before[before.length - 1]!.length + 1})`;
}

/** The source `run_body` compiles for `body`. */
export function body_source(body: string): string {
  return `export function execute(ctx, msg) {\n${body}\n}`;
}

/** Runs `execute` of a one-off contract whose body is `body` and returns the outcome. */
export function run_body(body: string, overrides: Partial<CallEnv> = {}): CallOutcome {
  return compile_ok(body_source(body)).call(make_env(overrides));
}

/** ucst a successful call's messages take from the calling contract: sends and execute funds. */
export function outgoing_funds(outcome: CallOutcome): number {
  if (outcome.kind !== 'ok') return 0;
  let total = 0;
  for (const m of outcome.messages) total += m.kind === 'send' ? m.amount : m.funds;
  return total;
}

/**
 * Drives one contract instance through calls, committing state only after successful ones. It
 * keeps the contract's native balance as the executor would if every message succeeded: a call's
 * funds arrive before it runs, and its messages' sends and funds leave after it succeeds.
 */
export class ContractHarness {
  readonly program: Program;
  readonly storage = new MemoryStorage();
  readonly random = counter_random();
  height = 10;
  /** Block time the calls see (`ctx.time_ms`): settable for contracts that check expiry. */
  time_ms = 1_700_000_000_000;
  gas_limit = test_gas_limit;
  /** The contract's balance in ucst. */
  balance = 0;
  /** The contract's address. */
  contract = address('contract');

  constructor(source: string) {
    this.program = compile_ok(source);
  }

  call(entry: EntryPoint, msg: unknown, sender: string | null, funds = 0): CallOutcome {
    const outcome = this.program.call(
      make_env({
        entry,
        msg_json: JSON.stringify(msg),
        sender,
        contract: this.contract,
        height: this.height,
        time_ms: this.time_ms,
        gas_limit: this.gas_limit,
        funds,
        balance: this.balance + funds,
        storage: this.storage,
        random: this.random,
      }),
    );
    if (outcome.kind === 'ok' && entry !== 'query') {
      this.storage.commit();
      this.balance += funds - outgoing_funds(outcome);
    } else this.storage.discard();
    return outcome;
  }

  instantiate(msg: unknown, sender = address('creator'), funds = 0): CallOutcome {
    return this.call('instantiate', msg, sender, funds);
  }

  execute(msg: unknown, sender = address('alice'), funds = 0): CallOutcome {
    return this.call('execute', msg, sender, funds);
  }

  /**
   * Runs `reply` with the msg the executor builds from the outcome of a message this contract
   * sent to `callee` (protocol.md §9); the reply's sender is the callee.
   */
  reply(outcome: CallOutcome, callee: string): CallOutcome {
    return this.call('reply', reply_msg(outcome, callee), callee);
  }

  query(msg: unknown): CallOutcome {
    return this.call('query', msg, null);
  }
}

/**
 * The msg of a `reply` call, as the executor (enclave/calls.ts) builds it from the outcome of the
 * message sent to `callee`: `{"ok": {"data", "events"}}` with the callee's data parsed, or
 * `{"error": "<callee>: <message>"}`. Out of gas has no reply: it ends the whole transaction.
 */
export function reply_msg(outcome: CallOutcome, callee: string): unknown {
  if (outcome.kind === 'ok') return { ok: { data: JSON.parse(outcome.data_json), events: outcome.events } };
  if (outcome.kind === 'error') return { error: `${callee}: ${outcome.message}` };
  throw new Error(`no reply to ${outcome.kind}: it ends the whole transaction`);
}

/** The parsed data of an `ok` outcome; throws with the outcome otherwise. */
export function data_of(outcome: CallOutcome): unknown {
  if (outcome.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(outcome)}`);
  return JSON.parse(outcome.data_json);
}

/** The message of an `error` outcome; throws with the outcome otherwise. */
export function error_of(outcome: CallOutcome): string {
  if (outcome.kind !== 'error') throw new Error(`expected error, got ${JSON.stringify(outcome)}`);
  return outcome.message;
}
