/**
 * Read-only queries (protocol.md §6 `POST /v1/contracts/{address}/query`): open the envelope,
 * run the contract's `query` entry point over the sealed state the host hands in, and seal the
 * answer to the querier. Nothing is written.
 * @module
 */

import { concat, to_base64, utf8 } from '../protocol/bytes.js';
import { ResultCode } from '../protocol/codes.js';
import { seal_result_json } from '../protocol/result.js';
import type { QueryOutput } from './api.js';
import { binding_holds } from './binding.js';
import type { KeyContext } from './context.js';
import { ENCLAVE_LIMITS } from './limits.js';
import { decode_code, type ProgramCache } from './programs.js';
import { EnclaveErrorCode, EnclaveFault } from './result.js';
import { result_text, run_contract, try_open_envelope } from './run.js';
import { ContractState } from './state.js';
import { check_query_input } from './validate.js';

/** Runs a query; throws EnclaveFault for host faults. */
export function execute_query(ctx: KeyContext, programs: ProgramCache, value: unknown): QueryOutput {
  const input = check_query_input(value);
  const p = ctx.p;
  let code: ReturnType<typeof decode_code>;
  try {
    code = decode_code(p, input.code);
  } catch {
    throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, 'query code is not base64');
  }
  if (code.hash !== input.contract.code_hash) {
    throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, 'query code does not match the contract code hash');
  }
  if (!binding_holds(ctx, input.contract.address, code.hash, input.contract.binding)) {
    throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, 'the contract binding does not hold');
  }
  const opened = try_open_envelope(ctx, input.scheme, input.payload, input.chain_id, code.hash);
  if (opened === null) return { code: ResultCode.CANNOT_DECRYPT, output: '', gas_used: 0 };
  const address = input.contract.address;
  const state = new ContractState(p, ctx.contract_keys(address), address, input.state);
  // Queries draw randomness from their own domain: deterministic, and apart from any block's.
  const random_prefix = p.hkdf(
    ctx.keys.random,
    new Uint8Array(32),
    concat(utf8('cloister/query-random/'), utf8(address)),
    32,
  );
  const call = run_contract({
    ctx,
    programs,
    code,
    entry: 'query',
    msg_json: opened.msg_json,
    sender: null,
    contract: address,
    chain_id: input.chain_id,
    height: input.height,
    time_ms: input.time_ms,
    gas_limit: ENCLAVE_LIMITS.query_gas_limit,
    state,
    read_only: true,
    funds: 0,
    balance: input.balance,
    random_prefix,
  });
  if (call.code === ResultCode.OUT_OF_GAS) return { code: call.code, output: '', gas_used: call.gas_used };
  // Debug lines go to the querier on a development network only, as a transaction's do.
  const debug = input.dev === true ? call.debug : [];
  const text = result_text(call.code === ResultCode.OK ? call : { error: call.message }, debug);
  const output = to_base64(seal_result_json(p, input.scheme, opened.tx_key, text));
  return { code: call.code, output, gas_used: call.gas_used };
}
