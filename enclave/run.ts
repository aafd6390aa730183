/**
 * One contract call, as blocks and queries make it: compile (cached), run with metered gas over
 * buffered storage, and turn the outcome into the canonical result JSON of protocol.md §4.
 * @module
 */

import { concat, from_base64, u32_be } from '../protocol/bytes.js';
import { ResultCode } from '../protocol/codes.js';
import { DecryptError, open_envelope, type Scheme } from '../protocol/envelope.js';
import { jcs } from '../protocol/jcs.js';
import type { KeyContext } from './context.js';
import type { Code, ProgramCache } from './programs.js';
import { EnclaveErrorCode, EnclaveFault } from './result.js';
import { type StateReader, TxStorage } from './state.js';
import { EngineAborted } from './vm/quickjs_sandbox.js';
import type { ContractEvent, ContractMessage, EntryPoint } from './vm/types.js';

/** Everything one call needs. */
export interface RunArgs {
  ctx: KeyContext;
  programs: ProgramCache;
  code: Code;
  entry: EntryPoint;
  msg_json: string;
  sender: string | null;
  contract: string;
  chain_id: string;
  height: number;
  time_ms: number;
  gas_limit: number;
  /** The contract's state as this call starts (the block's, through the transaction's writes). */
  state: StateReader;
  read_only: boolean;
  /** protocol.md §9: ucst this call received, and the contract's balance with them. */
  funds: number;
  balance: number;
  /** Secret per-call prefix; draw j of `ctx.random()` is `H(random_prefix ‖ u32_be(j))`. */
  random_prefix: Uint8Array;
}

/** How a call ended: a code of protocol.md §5, its gas, and what it made. */
export type RunOutcome =
  | {
      code: typeof ResultCode.OK;
      gas_used: number;
      data_json: string;
      events: ContractEvent[];
      messages: ContractMessage[];
      debug: string[];
      writes: ReadonlyMap<string, string | null>;
    }
  | { code: typeof ResultCode.CONTRACT_ERROR; gas_used: number; message: string; debug: string[] }
  | { code: typeof ResultCode.OUT_OF_GAS; gas_used: number };

/**
 * Opens a base64 envelope (protocol.md §3) for the contract with `code_hash`. Every failure,
 * malformed base64 included, is the same `null`: the caller answers code 3 and nothing else.
 */
export function try_open_envelope(
  ctx: KeyContext,
  scheme: Scheme,
  payload_b64: string,
  chain_id: string,
  code_hash: string,
): { tx_key: Uint8Array; msg_json: string } | null {
  try {
    return open_envelope(ctx.p, ctx.io, { scheme, envelope: from_base64(payload_b64), chain_id, code_hash });
  } catch (error) {
    if (error instanceof DecryptError || error instanceof TypeError) return null;
    throw error;
  }
}

/** Runs one entry point. Throws only EnclaveFault (a host fault such as corrupt state). */
export function run_contract(args: RunArgs): RunOutcome {
  let compiled: ReturnType<ProgramCache['get']>;
  try {
    compiled = args.programs.get(args.code);
  } catch (error) {
    if (error instanceof EngineAborted) throw new EnclaveFault(EnclaveErrorCode.ABORTED, error.message);
    throw error;
  }
  if (!compiled.ok) {
    return {
      code: ResultCode.CONTRACT_ERROR,
      gas_used: 0,
      message: `contract code does not compile: ${compiled.message}`,
      debug: [],
    };
  }
  const storage = new TxStorage(args.state, args.read_only);
  let draws = 0;
  const p = args.ctx.p;
  const outcome = compiled.program.call({
    entry: args.entry,
    msg_json: args.msg_json,
    sender: args.sender,
    contract: args.contract,
    chain_id: args.chain_id,
    height: args.height,
    time_ms: args.time_ms,
    gas_limit: args.gas_limit,
    funds: args.funds,
    balance: args.balance,
    storage,
    random: () => p.sha256(concat(args.random_prefix, u32_be(draws++))),
  });
  if (storage.fault !== null) throw storage.fault;
  switch (outcome.kind) {
    case 'ok':
      return {
        code: ResultCode.OK,
        gas_used: outcome.gas_used,
        data_json: outcome.data_json,
        events: outcome.events,
        messages: outcome.messages,
        debug: outcome.debug,
        writes: storage.writes,
      };
    case 'error':
      return {
        code: ResultCode.CONTRACT_ERROR,
        gas_used: outcome.gas_used,
        message: outcome.message,
        debug: outcome.debug,
      };
    case 'out_of_gas':
      return { code: ResultCode.OUT_OF_GAS, gas_used: args.gas_limit };
    case 'aborted':
      // Not a result: another validator could finish this call. The whole block fails here.
      throw new EnclaveFault(EnclaveErrorCode.ABORTED, outcome.message);
  }
}

/** protocol.md §4, §9: the result object's canonical text, with `debug` only when given lines. */
export function result_text(
  result: { data_json: string; events: ContractEvent[] } | { error: string },
  debug: readonly string[],
): string {
  const extra = debug.length > 0 ? { debug } : {};
  if ('error' in result) return jcs({ error: result.error, ...extra });
  return jcs({ data: JSON.parse(result.data_json), events: result.events, ...extra });
}
