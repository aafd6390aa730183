/**
 * Contract calls and the messages they send (protocol.md §9): a call runs its entry point, then
 * its messages in order, depth first, inside the enclave and within the transaction's one gas
 * limit. A failed message fails its caller, unless the caller asked for `reply`: then the
 * message's effects are taken back and the caller's `reply` entry point decides. Messages never
 * leave the enclave; the callee's identity is checked against its binding (./binding.ts).
 * @module
 */

import { concat, u32_be } from '../protocol/bytes.js';
import { ResultCode } from '../protocol/codes.js';
import { jcs } from '../protocol/jcs.js';
import type { BoundContract } from './api.js';
import { binding_holds } from './binding.js';
import type { KeyContext } from './context.js';
import { NeedLookup, type TxEffects } from './effects.js';
import { ENCLAVE_GAS, ENCLAVE_LIMITS } from './limits.js';
import type { Code, ProgramCache } from './programs.js';
import { EnclaveErrorCode, EnclaveFault } from './result.js';
import { run_contract } from './run.js';
import type { ContractEvent, ContractMessage } from './vm/types.js';

/** Thrown when the transaction's gas runs out anywhere in its calls: code 2, nothing kept. */
export class TxOutOfGas extends Error {
  constructor() {
    super('out of gas');
    this.name = 'TxOutOfGas';
  }
}

/** Where contracts and their code come from: the block (./block.ts). */
export interface ContractSource {
  /** The contract at `address`, or null if it is none; throws NeedLookup if the block must ask. */
  contract(address: string): BoundContract | null;
  /** Code by id; throws EnclaveFault if the host did not hand in the code of a contract it named. */
  code(code_id: number): Code | undefined;
  /** A contract's committed state as of the previous transaction. */
  read(contract: string, key: string): string | null;
  /** Whether the input carries what a lookup would fetch: a contract record (or its absence) or a balance. */
  knows(address: string, kind: 'contract' | 'balance'): boolean;
}

/** One transaction's call context. */
export interface TxCalls {
  ctx: KeyContext;
  programs: ProgramCache;
  source: ContractSource;
  effects: TxEffects;
  chain_id: string;
  height: number;
  time_ms: number;
  gas_limit: number;
  gas_used: number;
  /** Secret prefix of this transaction's randomness; each call draws from its own sub-prefix. */
  random_prefix: Uint8Array;
  calls: number;
  /** Debug lines of every call, in order, kept even when the call fails (protocol.md §9). */
  debug: string[];
}

/** What one call is. */
export interface CallSpec {
  contract: string;
  entry: 'instantiate' | 'execute' | 'reply';
  msg_json: string;
  /** Account or contract address that sent it (for `reply`: the callee it answers). */
  sender: string;
  funds: number;
  /** 1 for the transaction's own call. */
  depth: number;
}

/** How a call ended: its data and its own events, or the code and message it failed with. */
export type CallEnd =
  | { ok: true; data_json: string; events: ContractEvent[] }
  | { ok: false; code: ResultCode; message: string };

/** Debug lines one transaction keeps in all (each call's own are bounded by the VM). */
const TX_DEBUG_LINES_MAX = 1024;

/** Charges `gas` to the transaction; out of gas ends it (code 2, whatever any reply asked). */
export function charge(tx: TxCalls, gas: number): void {
  tx.gas_used += gas;
  if (tx.gas_used > tx.gas_limit) throw new TxOutOfGas();
}

function failed(code: ResultCode, message: string): CallEnd {
  return { ok: false, code, message };
}

/** The contract a call runs, with its binding checked; null if there is no contract there. */
function resolve(tx: TxCalls, address: string): { info: BoundContract; code: Code } | null {
  const info = tx.effects.created(address) ?? tx.source.contract(address);
  if (info === null) return null;
  const code = tx.source.code(info.code_id);
  if (code === undefined || code.hash !== info.code_hash) {
    throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, `the code of contract ${address} is missing or wrong`);
  }
  // The host names a callee's code; only the enclave's own binding says the pair is genuine.
  if (!binding_holds(tx.ctx, address, info.code_hash, info.binding)) {
    throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, `the binding of contract ${address} does not hold`);
  }
  return { info, code };
}

/**
 * Runs one call and, if it succeeds, its messages. Effects of a failed call are left for the
 * caller to take back (the transaction's end, or a `reply`).
 */
export function run_call(tx: TxCalls, spec: CallSpec): CallEnd {
  // protocol.md §9: at most 8 calls deep, the transaction's own call included.
  if (spec.depth > ENCLAVE_LIMITS.call_depth_max) {
    return failed(
      ResultCode.CONTRACT_ERROR,
      `call depth limit exceeded: at most ${ENCLAVE_LIMITS.call_depth_max} contract calls deep`,
    );
  }
  if (spec.depth > 1) charge(tx, ENCLAVE_GAS.message_call);
  const target = resolve(tx, spec.contract);
  if (target === null) return failed(ResultCode.UNKNOWN_CODE_OR_CONTRACT, `no contract at ${spec.contract}`);
  if (!tx.effects.transfer(spec.sender, spec.contract, spec.funds)) {
    return failed(ResultCode.INSUFFICIENT_FUNDS, `${spec.sender} cannot pay funds of ${spec.funds} ucst`);
  }
  const effects = tx.effects;
  const call = run_contract({
    ctx: tx.ctx,
    programs: tx.programs,
    code: target.code,
    entry: spec.entry,
    msg_json: spec.msg_json,
    sender: spec.sender,
    contract: spec.contract,
    chain_id: tx.chain_id,
    height: tx.height,
    time_ms: tx.time_ms,
    gas_limit: tx.gas_limit - tx.gas_used,
    state: { read: (key) => effects.read(spec.contract, key) },
    read_only: false,
    funds: spec.funds,
    balance: effects.balance(spec.contract),
    random_prefix: concat(tx.random_prefix, u32_be(tx.calls++)),
  });
  if (call.code === ResultCode.OUT_OF_GAS) throw new TxOutOfGas();
  charge(tx, call.gas_used);
  keep_debug(tx, call.debug);
  if (call.code !== ResultCode.OK) return failed(call.code, call.message);
  effects.write_all(spec.contract, call.writes);
  effects.emit(spec.contract, call.events);
  ask_for_unknown(tx, call.messages);
  for (const message of call.messages) {
    const end = run_message(tx, spec, message);
    if (!end.ok) return end;
  }
  return { ok: true, data_json: call.data_json, events: call.events };
}

/**
 * Throws one NeedLookup for everything a call's messages name that the input lacks, so the host
 * fetches a call's callees and recipients in one pass rather than one pass per message.
 */
function ask_for_unknown(tx: TxCalls, messages: readonly ContractMessage[]): void {
  const contracts: string[] = [];
  const balances: string[] = [];
  for (const m of messages) {
    const address = m.kind === 'send' ? m.to : m.contract;
    if (
      m.kind === 'execute' &&
      tx.effects.created(address) === undefined &&
      !tx.source.knows(address, 'contract')
    )
      contracts.push(address);
    if (!tx.source.knows(address, 'balance')) balances.push(address);
  }
  if (contracts.length > 0 || balances.length > 0) throw new NeedLookup(contracts, balances);
}

function keep_debug(tx: TxCalls, lines: readonly string[]): void {
  for (const line of lines) {
    if (tx.debug.length >= TX_DEBUG_LINES_MAX) return;
    tx.debug.push(line);
  }
}

/** One message a call sent, run after it. */
function run_message(tx: TxCalls, caller: CallSpec, message: ContractMessage): CallEnd {
  if (message.kind === 'send') {
    charge(tx, ENCLAVE_GAS.send);
    if (tx.effects.transfer(caller.contract, message.to, message.amount)) {
      return { ok: true, data_json: 'null', events: [] };
    }
    return failed(
      ResultCode.INSUFFICIENT_FUNDS,
      `contract ${caller.contract} cannot send ${message.amount} ucst`,
    );
  }
  const mark = tx.effects.mark();
  const end = run_call(tx, {
    contract: message.contract,
    entry: 'execute',
    msg_json: message.msg_json,
    sender: caller.contract,
    funds: message.funds,
    depth: caller.depth + 1,
  });
  if (!message.reply) return end;
  // The caller asked to decide: a failed message is taken back first, its funds included.
  if (!end.ok) tx.effects.revert(mark);
  const answer = end.ok
    ? { ok: { data: JSON.parse(end.data_json) as unknown, events: end.events } }
    : { error: `${message.contract}: ${end.message}` };
  return run_call(tx, {
    contract: caller.contract,
    entry: 'reply',
    msg_json: jcs(answer),
    sender: message.contract,
    funds: 0,
    depth: caller.depth,
  });
}
