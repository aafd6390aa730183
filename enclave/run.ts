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
import { type ContractState, TxStorage } from './state.js';
import { EngineAborted } from './vm/quickjs_sandbox.js';
import type { EntryPoint } from './vm/types.js';

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
  state: ContractState;
  read_only: boolean;
  /** Secret per-call prefix; draw j of `ctx.random()` is `H(random_prefix ‖ u32_be(j))`. */
  random_prefix: Uint8Array;
}

/** How a call ended: a code of protocol.md §5, its gas, its canonical result text and its writes. */
export interface RunOutcome {
  code: typeof ResultCode.OK | typeof ResultCode.CONTRACT_ERROR | typeof ResultCode.OUT_OF_GAS;
  gas_used: number;
  /** `jcs(result)` of protocol.md §4; '' when out of gas. */
  result_jcs: string;
  writes: ReadonlyMap<string, string | null>;
}

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

const NO_WRITES: ReadonlyMap<string, string | null> = new Map();

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
      result_jcs: jcs({ error: `contract code does not compile: ${compiled.message}` }),
      writes: NO_WRITES,
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
    storage,
    random: () => p.sha256(concat(args.random_prefix, u32_be(draws++))),
  });
  if (storage.fault !== null) throw storage.fault;
  switch (outcome.kind) {
    case 'ok':
      return {
        code: ResultCode.OK,
        gas_used: outcome.gas_used,
        result_jcs: jcs({ data: JSON.parse(outcome.data_json), events: outcome.events }),
        writes: storage.writes,
      };
    case 'error':
      return {
        code: ResultCode.CONTRACT_ERROR,
        gas_used: outcome.gas_used,
        result_jcs: jcs({ error: outcome.message }),
        writes: NO_WRITES,
      };
    case 'out_of_gas':
      return { code: ResultCode.OUT_OF_GAS, gas_used: args.gas_limit, result_jcs: '', writes: NO_WRITES };
    case 'aborted':
      // Not a result: another validator could finish this call. The whole block fails here.
      throw new EnclaveFault(EnclaveErrorCode.ABORTED, outcome.message);
  }
}
