/**
 * Executes a block of transactions (protocol.md §3-§5, §8): verify each signature over the exact
 * payload, check the sequence, open the envelope, check the code hash, run the contract with
 * metered gas, seal the result, and hash everything that changed. Pure given its inputs: the same
 * block and state in two enclaves with the same seed give byte-identical output.
 * @module
 */

import { concat, from_hex, to_base64, to_hex, u32_be, utf8 } from '../protocol/bytes.js';
import { ResultCode } from '../protocol/codes.js';
import { jcs } from '../protocol/jcs.js';
import { seal_result_json } from '../protocol/result.js';
import { seal_seed_share } from '../protocol/seed_share.js';
import {
  account_address,
  contract_address,
  MalformedTxError,
  parse_tx_json,
  type Tx,
  tx_hash,
  verify_tx_signature,
} from '../protocol/tx.js';
import type { BlockInput, BlockOutput, ContractInfo, TxResult } from './api.js';
import { verify_quote } from './attestation.js';
import type { KeyContext } from './context.js';
import { ENCLAVE_GAS, ENCLAVE_LIMITS } from './limits.js';
import { type Code, decode_code, type ProgramCache } from './programs.js';
import { EnclaveErrorCode, EnclaveFault } from './result.js';
import { run_contract, try_open_envelope } from './run.js';
import { ContractState } from './state.js';
import { check_block_input } from './validate.js';

/** Domain prefix of the block result hash. */
export const BLOCK_RESULT_PREFIX = 'cloister/block-result/v1\n';

/** Per-block randomness root: `HKDF(k_random, random_seed, utf8("cloister/block-random/" + chain_id + "/" + height), 32)`. */
export function block_random_root(
  ctx: KeyContext,
  chain_id: string,
  height: number,
  random_seed: string,
): Uint8Array {
  return ctx.p.hkdf(
    ctx.keys.random,
    from_hex(random_seed, 32),
    utf8(`cloister/block-random/${chain_id}/${height}`),
    32,
  );
}

/** `hex(H(utf8(prefix) ‖ utf8(jcs(output without result_hash))))`. */
export function block_result_hash(ctx: KeyContext, output: Omit<BlockOutput, 'result_hash'>): string {
  return to_hex(ctx.p.sha256(concat(utf8(BLOCK_RESULT_PREFIX), utf8(jcs(output)))));
}

/** Mutable state of one block's execution. */
class BlockRun {
  readonly accounts: Map<string, number>;
  readonly changed_accounts = new Set<string>();
  readonly contracts: Map<string, ContractInfo>;
  readonly created: ContractInfo[] = [];
  readonly codes = new Map<number, Code>();
  readonly stored: { code_id: number; code_hash: string }[] = [];
  readonly states = new Map<string, ContractState>();
  next_code_id: number;
  gas_used = 0;
  readonly random_root: Uint8Array;

  constructor(
    readonly ctx: KeyContext,
    readonly programs: ProgramCache,
    readonly input: BlockInput,
  ) {
    this.accounts = new Map(Object.entries(input.accounts));
    this.contracts = new Map(Object.entries(input.contracts));
    this.next_code_id = input.next_code_id;
    this.random_root = block_random_root(ctx, input.chain_id, input.height, input.random_seed);
  }

  code(code_id: number): Code | undefined {
    let code = this.codes.get(code_id);
    if (code === undefined) {
      const b64 = this.input.codes[String(code_id)];
      if (b64 === undefined) return undefined;
      try {
        code = decode_code(this.ctx.p, b64);
      } catch {
        throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, `code ${code_id} is not base64`);
      }
      this.codes.set(code_id, code);
    }
    return code;
  }

  state(address: string): ContractState {
    let state = this.states.get(address);
    if (state === undefined) {
      state = new ContractState(
        this.ctx.p,
        this.ctx.contract_keys(address),
        address,
        this.input.state[address] ?? [],
      );
      this.states.set(address, state);
    }
    return state;
  }
}

function refused(hash: string, code: ResultCode): TxResult {
  return { hash, code, gas_used: 0, output: '' };
}

/** Runs one transaction against the block's state. */
function execute_tx(run: BlockRun, raw: string, index: number): TxResult {
  const { ctx, input } = run;
  const p = ctx.p;
  if (raw.length > ENCLAVE_LIMITS.tx_bytes_max)
    return refused(to_hex(p.sha256(utf8(raw))), ResultCode.MALFORMED_TX);
  let tx: Tx;
  try {
    tx = parse_tx_json(raw);
  } catch (error) {
    if (error instanceof MalformedTxError)
      return refused(to_hex(p.sha256(utf8(raw))), ResultCode.MALFORMED_TX);
    throw error;
  }
  const { body } = tx;
  // One canonicalisation of the body serves the hash and the signature check.
  const body_text = jcs(body);
  const hash = tx_hash(p, tx, body_text);
  if (body.chain_id !== input.chain_id || body.gas_limit > ENCLAVE_LIMITS.tx_gas_limit_max) {
    return refused(hash, ResultCode.MALFORMED_TX);
  }
  if (!verify_tx_signature(p, tx, body_text)) return refused(hash, ResultCode.BAD_SIGNATURE);

  // Checks that refuse a transaction without counting it (codes 4 and 7 never advance a sequence).
  const msg = body.msg;
  let stored_code: Code | undefined;
  let pk_reg: Uint8Array | undefined;
  if (msg.type === 'store_code') {
    stored_code = decode_code(p, msg.code);
    const compiled = run.programs.get(stored_code);
    if (!compiled.ok) return refused(hash, ResultCode.MALFORMED_TX);
  } else if (msg.type === 'register_node') {
    pk_reg = from_hex(msg.pk_reg, 32);
    if (!verify_quote(p, msg.quote, pk_reg, input.attestation, input.time_ms).valid) {
      return refused(hash, ResultCode.BAD_SIGNATURE);
    }
  }

  const sender = account_address(p, from_hex(body.sender, 32));
  const sequence = run.accounts.get(sender) ?? 0;
  if (body.sequence !== sequence) return refused(hash, ResultCode.WRONG_SEQUENCE);
  run.accounts.set(sender, sequence + 1);
  run.changed_accounts.add(sender);

  // From here the transaction counts: it is committed whatever its code, and pays its gas.
  let gas = ENCLAVE_GAS.tx_base + ENCLAVE_GAS.tx_byte * raw.length;
  const out_of_gas = (): TxResult => ({
    hash,
    code: ResultCode.OUT_OF_GAS,
    gas_used: body.gas_limit,
    output: '',
  });

  switch (msg.type) {
    case 'store_code': {
      const code = stored_code!;
      gas += ENCLAVE_GAS.store_code_byte * code.bytes.length;
      if (gas > body.gas_limit) return out_of_gas();
      const code_id = run.next_code_id++;
      run.codes.set(code_id, code);
      run.stored.push({ code_id, code_hash: code.hash });
      return { hash, code: ResultCode.OK, gas_used: gas, output: '', code_id, code_hash: code.hash };
    }
    case 'register_node': {
      gas += ENCLAVE_GAS.register_node;
      if (gas > body.gas_limit) return out_of_gas();
      const share = seal_seed_share(p, ctx.seed_exchange, pk_reg!, ctx.seed);
      if (share === null) return { hash, code: ResultCode.BAD_SIGNATURE, gas_used: gas, output: '' };
      return { hash, code: ResultCode.OK, gas_used: gas, output: to_base64(share) };
    }
    case 'instantiate':
    case 'execute': {
      gas += ENCLAVE_GAS.envelope;
      if (gas > body.gas_limit) return out_of_gas();
      let info: ContractInfo | undefined;
      let address: string;
      if (msg.type === 'execute') {
        info = run.contracts.get(msg.contract);
        if (info === undefined)
          return { hash, code: ResultCode.UNKNOWN_CODE_OR_CONTRACT, gas_used: gas, output: '' };
        address = msg.contract;
      } else {
        address = contract_address(p, body.sender, body.sequence);
        if (run.contracts.has(address))
          return { hash, code: ResultCode.UNKNOWN_CODE_OR_CONTRACT, gas_used: gas, output: '' };
      }
      const code_id = info === undefined ? (msg as { code_id: number }).code_id : info.code_id;
      const code = run.code(code_id);
      if (code === undefined) {
        if (info !== undefined)
          throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, `code ${code_id} of ${address} missing`);
        return { hash, code: ResultCode.UNKNOWN_CODE_OR_CONTRACT, gas_used: gas, output: '' };
      }
      if (info !== undefined && info.code_hash !== code.hash) {
        throw new EnclaveFault(
          EnclaveErrorCode.BAD_INPUT,
          `code ${code_id} does not match ${address}'s code hash`,
        );
      }
      const opened = try_open_envelope(ctx, msg.scheme, msg.payload, input.chain_id, code.hash);
      if (opened === null) return { hash, code: ResultCode.CANNOT_DECRYPT, gas_used: gas, output: '' };
      const state =
        info === undefined
          ? new ContractState(p, ctx.contract_keys(address), address, [])
          : run.state(address);
      const draw_prefix = concat(run.random_root, u32_be(index));
      const call = run_contract({
        ctx,
        programs: run.programs,
        code,
        entry: msg.type,
        msg_json: opened.msg_json,
        sender,
        contract: address,
        chain_id: input.chain_id,
        height: input.height,
        time_ms: input.time_ms,
        gas_limit: body.gas_limit - gas,
        state,
        read_only: false,
        random_prefix: draw_prefix,
      });
      const gas_used = gas + call.gas_used;
      if (call.code === ResultCode.OUT_OF_GAS) return out_of_gas();
      const output = to_base64(seal_result_json(p, msg.scheme, opened.tx_key, call.result_jcs));
      if (call.code !== ResultCode.OK) return { hash, code: call.code, gas_used, output };
      state.commit(call.writes);
      if (info === undefined) {
        const created: ContractInfo = {
          address,
          code_id,
          code_hash: code.hash,
          label: (msg as { label: string }).label,
          creator: sender,
        };
        run.contracts.set(address, created);
        run.created.push(created);
        run.states.set(address, state);
        return { hash, code: ResultCode.OK, gas_used, output, contract: address };
      }
      return { hash, code: ResultCode.OK, gas_used, output };
    }
  }
}

/** Executes a block; throws EnclaveFault for host faults (bad input, corrupt state). */
export function execute_block(ctx: KeyContext, programs: ProgramCache, value: unknown): BlockOutput {
  const input = check_block_input(value);
  const run = new BlockRun(ctx, programs, input);
  const results: TxResult[] = [];
  for (let i = 0; i < input.txs.length; i++) {
    const result = execute_tx(run, input.txs[i]!, i);
    run.gas_used += result.gas_used;
    results.push(result);
  }
  const accounts: Record<string, number> = {};
  for (const address of [...run.changed_accounts].sort()) accounts[address] = run.accounts.get(address)!;
  const state_writes: BlockOutput['state_writes'] = {};
  for (const address of [...run.states.keys()].sort()) {
    const writes = run.states.get(address)!.sealed_writes();
    if (writes.length > 0) state_writes[address] = writes;
  }
  const output = {
    results,
    accounts,
    contracts: run.created,
    codes: run.stored,
    state_writes,
    gas_used: run.gas_used,
  };
  return { ...output, result_hash: block_result_hash(ctx, output) };
}
