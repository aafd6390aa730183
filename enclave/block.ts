/**
 * Executes a block of transactions (protocol.md §3-§5, §8): verify each signature over the exact
 * payload, check the sequence, open the envelope, check the code hash, run the contract with
 * metered gas, seal the result, and hash everything that changed. Pure given its inputs: the same
 * block and state in two enclaves with the same seed give byte-identical output.
 * @module
 */

import { fee_pool_address } from '../protocol/bank.js';
import { concat, from_hex, to_base64, to_hex, u32_be, utf8 } from '../protocol/bytes.js';
import { ResultCode } from '../protocol/codes.js';
import { jcs } from '../protocol/jcs.js';
import { seal_result_json } from '../protocol/result.js';
import { seal_seed_share } from '../protocol/seed_share.js';
import {
  account_address,
  contract_address,
  type ExecuteMsg,
  type InstantiateMsg,
  MalformedTxError,
  parse_tx_json,
  type Tx,
  tx_fee,
  tx_hash,
  verify_tx_signature,
} from '../protocol/tx.js';
import type { BlockInput, BlockOutput, BoundContract, TxResult } from './api.js';
import { verify_quote } from './attestation.js';
import { contract_binding } from './binding.js';
import { type CallEnd, type ContractSource, run_call, type TxCalls, TxOutOfGas } from './calls.js';
import type { KeyContext } from './context.js';
import { type BlockView, NeedLookup, TxEffects } from './effects.js';
import { ENCLAVE_GAS, ENCLAVE_LIMITS } from './limits.js';
import { type Code, decode_code, type ProgramCache } from './programs.js';
import { EnclaveErrorCode, EnclaveFault } from './result.js';
import { result_text, try_open_envelope } from './run.js';
import {
  type Admission,
  type OpenedEnvelope,
  open_stage_record,
  type SpecRead,
  type Speculation,
  type StageRecord,
  stage_ad_prefix,
} from './stage_record.js';
import { ContractState } from './state.js';
import { check_block_input } from './validate.js';

/**
 * Counts of this thread's executions with stage records: records opened, speculations kept, and
 * speculations run again in order because a value they read had changed. Instrumentation for
 * tests and benchmarks that run the enclave in-process; per thread, it never crosses the enclave
 * boundary (how many transactions of a block conflicted is the enclave's to know).
 */
export const STAGE_COUNTS = { records: 0, held: 0, redone: 0 };

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

/**
 * What an instantiate or execute transaction runs against: the block as it stands at that
 * transaction ({@link BlockRun}), or a speculation's recording view of the block's starting state
 * (enclave/speculate.ts).
 */
export interface TxRun extends ContractSource, BlockView {
  readonly ctx: KeyContext;
  readonly programs: ProgramCache;
  readonly input: BlockInput;
  readonly random_root: Uint8Array;
  /** Whether a contract exists at `address` (an instantiate's address must be free). */
  has_contract(address: string): boolean;
  /** Folds a successful transaction's effects in. */
  apply(effects: TxEffects): void;
}

/** Mutable state of one block's execution. */
export class BlockRun implements TxRun {
  readonly accounts: Map<string, number>;
  readonly changed_accounts = new Set<string>();
  /** Balances as of the last transaction: the input's, then every change folded in. */
  readonly balances: Map<string, number>;
  readonly changed_balances = new Set<string>();
  readonly contracts: Map<string, BoundContract>;
  readonly no_contract: ReadonlySet<string>;
  readonly created: BoundContract[] = [];
  readonly codes = new Map<number, Code>();
  readonly stored: { code_id: number; code_hash: string }[] = [];
  readonly states = new Map<string, ContractState>();
  /** What the input lacks (BlockOutput.need), by kind; empty while the block runs to its end. */
  readonly need = { contracts: new Set<string>(), balances: new Set<string>() };
  readonly fee_pool: string;
  next_code_id: number;
  gas_used = 0;
  readonly random_root: Uint8Array;

  constructor(
    readonly ctx: KeyContext,
    readonly programs: ProgramCache,
    readonly input: BlockInput,
  ) {
    this.accounts = new Map(Object.entries(input.accounts));
    this.balances = new Map(Object.entries(input.balances));
    this.contracts = new Map(Object.entries(input.contracts));
    this.no_contract = new Set(input.no_contract);
    this.next_code_id = input.next_code_id;
    this.random_root = block_random_root(ctx, input.chain_id, input.height, input.random_seed);
    this.fee_pool = fee_pool_address(ctx.p);
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

  /** Whether the input carries `address`'s contract record (or says there is none) and its balance. */
  knows(address: string, kind: 'contract' | 'balance'): boolean {
    if (kind === 'balance') return this.balances.has(address);
    return this.contracts.has(address) || this.no_contract.has(address);
  }

  contract(address: string): BoundContract | null {
    const info = this.contracts.get(address);
    if (info !== undefined) return info;
    if (this.no_contract.has(address)) return null;
    throw new NeedLookup([address], []);
  }

  balance(address: string): number {
    const amount = this.balances.get(address);
    if (amount === undefined) throw new NeedLookup([], [address]);
    return amount;
  }

  require_balance(address: string): void {
    this.balance(address);
  }

  has_contract(address: string): boolean {
    return this.contracts.has(address);
  }

  set_balance(address: string, amount: number): void {
    this.balances.set(address, amount);
    this.changed_balances.add(address);
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

  read(contract: string, key: string): string | null {
    return this.state(contract).read(key);
  }

  /** Folds a successful transaction's effects into the block. */
  apply(effects: TxEffects): void {
    this.apply_changes(effects.changes());
  }

  /** Folds in what a transaction changed, as {@link TxEffects.changes} lists it. */
  apply_changes(changes: {
    balances: Iterable<readonly [string, number]>;
    writes: Iterable<readonly [string, ReadonlyMap<string, string | null>]>;
    created: readonly BoundContract[];
  }): void {
    for (const [address, amount] of changes.balances) this.set_balance(address, amount);
    for (const [address, writes] of changes.writes) this.state(address).commit(writes);
    for (const info of changes.created) {
      this.contracts.set(info.address, info);
      this.created.push(info);
    }
  }

  /**
   * Whether every value a speculation read is what this block holds now, at the transaction it
   * speculated: then running the transaction here would read the same values, and so (execution
   * being a deterministic function of what it reads) make the same result and changes.
   */
  still_holds(reads: readonly SpecRead[]): boolean {
    try {
      return reads.every((read) => this.#holds(read));
    } catch (error) {
      // A lookup the block would have to ask for: not what the speculation saw.
      if (error instanceof NeedLookup) return false;
      throw error;
    }
  }

  #holds(read: SpecRead): boolean {
    switch (read[0]) {
      case 'c':
        return same_contract(this.contract(read[1]), read[2]);
      case 'x':
        return this.contracts.has(read[1]) === read[2];
      case 'd':
        return (this.code(read[1])?.hash ?? null) === read[2];
      case 'r':
        return this.read(read[1], read[2]) === read[3];
      case 'k':
        return this.knows(read[1], read[2]) === read[3];
      case 'b':
        return this.balances.get(read[1]) === read[2];
      case 'n':
        return this.balances.has(read[1]);
    }
  }

  /** Applies a speculation that {@link still_holds}, and answers its result. */
  apply_speculation(spec: Speculation): TxResult {
    this.apply_changes({
      balances: spec.balances,
      writes: spec.writes.map(([address, writes]) => [address, new Map(writes)] as const),
      created: spec.created,
    });
    return spec.result;
  }
}

function same_contract(a: BoundContract | null, b: BoundContract | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    a.address === b.address &&
    a.code_id === b.code_id &&
    a.code_hash === b.code_hash &&
    a.label === b.label &&
    a.creator === b.creator &&
    a.binding === b.binding
  );
}

function refused(hash: string, code: ResultCode): TxResult {
  return { hash, code, gas_used: 0, output: '' };
}

/** A parsed transaction whose sender signed it and whose sequence is next: it counts from here. */
interface Admitted {
  tx: Tx;
  hash: string;
  sender: string;
  raw_bytes: number;
  stored_code?: Code;
  pk_reg?: Uint8Array;
  /** What a staging worker learned about it (enclave/stage_record.ts), if anything. */
  record: StageRecord | null;
}

/** A transaction as the block reads it, before any check that needs the block's state. */
export interface ParsedTx {
  tx: Tx;
  hash: string;
  /** jcs(body): one canonicalisation serves the hash and the signature check. */
  body_text: string;
}

/**
 * The checks of protocol.md §5 code 4 that need no state: size, shape, chain and gas cap. Answers
 * the refusal, or the parsed transaction.
 */
export function parse_block_tx(p: KeyContext['p'], input: BlockInput, raw: string): TxResult | ParsedTx {
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
  const body_text = jcs(body);
  const hash = tx_hash(p, tx, body_text);
  if (body.chain_id !== input.chain_id || body.gas_limit > ENCLAVE_LIMITS.tx_gas_limit_max) {
    return refused(hash, ResultCode.MALFORMED_TX);
  }
  return { tx, hash, body_text };
}

/** Finds the stage record of a block's transaction (its index and exact text), if the block was staged. */
export type StageLookup = (index: number, raw: string) => StageRecord | null;

/** What admission reads of a signed transaction's body (see {@link pay_and_count}). */
export function admission_of(p: KeyContext['p'], tx: Tx, hash: string): Admission {
  const { body } = tx;
  return {
    hash,
    sender: account_address(p, from_hex(body.sender, 32)),
    sequence: body.sequence,
    gas_price: body.gas_price ?? 0,
    fee: tx_fee(body),
  };
}

/**
 * The checks of protocol.md §5 code 7 and §9 code 8 (the fee), in that order: a refusal, or null
 * once the fee is paid and the sequence used: from here the transaction counts.
 */
function pay_and_count(run: BlockRun, a: Admission): TxResult | null {
  const sequence = run.accounts.get(a.sender) ?? 0;
  if (a.sequence !== sequence) return refused(a.hash, ResultCode.WRONG_SEQUENCE);
  // protocol.md §9: a price under the minimum, or a fee the sender cannot pay, does not count.
  if (a.gas_price < run.input.min_gas_price) return refused(a.hash, ResultCode.INSUFFICIENT_FUNDS);
  const balance = run.balance(a.sender);
  if (balance < a.fee) return refused(a.hash, ResultCode.INSUFFICIENT_FUNDS);
  if (a.fee > 0) {
    run.set_balance(a.sender, balance - a.fee);
    run.set_balance(run.fee_pool, run.balance(run.fee_pool) + a.fee);
  }
  run.accounts.set(a.sender, sequence + 1);
  run.changed_accounts.add(a.sender);
  return null;
}

/**
 * The checks that refuse a transaction without counting it (protocol.md §5 codes 4, 5, 7 and §9
 * code 8 for the fee): a TxResult if refused, else the admitted transaction, its fee paid. A stage
 * record stands for the signature check: only a signature that verified gets one.
 */
function admit(run: BlockRun, raw: string, record: StageRecord | null): TxResult | Admitted {
  const { ctx, input } = run;
  const p = ctx.p;
  const parsed = parse_block_tx(p, input, raw);
  if (!('tx' in parsed)) return parsed;
  const { tx, hash, body_text } = parsed;
  const { body } = tx;
  if (record === null && !verify_tx_signature(p, tx, body_text))
    return refused(hash, ResultCode.BAD_SIGNATURE);
  const msg = body.msg;
  const admitted: Admitted = { tx, hash, sender: '', raw_bytes: raw.length, record };
  if (msg.type === 'store_code') {
    admitted.stored_code = decode_code(p, msg.code);
    if (!run.programs.get(admitted.stored_code).ok) return refused(hash, ResultCode.MALFORMED_TX);
  } else if (msg.type === 'register_node') {
    admitted.pk_reg = from_hex(msg.pk_reg, 32);
    if (!verify_quote(p, msg.quote, admitted.pk_reg, input.attestation, input.time_ms).valid) {
      return refused(hash, ResultCode.BAD_SIGNATURE);
    }
  }
  const admission = record?.admission ?? admission_of(p, tx, hash);
  admitted.sender = admission.sender;
  return pay_and_count(run, admission) ?? admitted;
}

/**
 * A contract transaction a staging worker speculated: admitted from its record without parsing it,
 * then its speculation kept if every value it read still holds, else run here in order.
 */
function execute_speculated(run: BlockRun, raw: string, index: number, record: StageRecord): TxResult {
  const spec = record.spec!;
  const a = record.admission;
  const refusal = pay_and_count(run, a);
  if (refusal !== null) return refusal;
  if (run.still_holds(spec.reads)) {
    STAGE_COUNTS.held++;
    return run.apply_speculation(spec);
  }
  STAGE_COUNTS.redone++;
  // Out of gas before the call cannot be: the staging worker speculates only within the limit.
  const gas = ENCLAVE_GAS.tx_base + ENCLAVE_GAS.tx_byte * raw.length;
  const tx = parse_tx_json(raw);
  return execute_contract_tx(run, { tx, hash: a.hash, sender: a.sender }, index, gas, record.opened);
}

/** Runs one transaction against the block's state. */
function execute_tx(run: BlockRun, raw: string, index: number, stage: StageLookup | null): TxResult {
  // The fee pool is read before anything moves, so a lookup never leaves a fee half paid.
  run.balance(run.fee_pool);
  const record = stage === null ? null : stage(index, raw);
  if (record !== null) STAGE_COUNTS.records++;
  if (record?.spec) return execute_speculated(run, raw, index, record);
  const admitted = admit(run, raw, record);
  if (!('tx' in admitted)) return admitted;
  const { tx, hash } = admitted;
  const { body } = tx;
  const p = run.ctx.p;
  // From here the transaction counts: it is committed whatever its code, and pays its gas.
  const gas = ENCLAVE_GAS.tx_base + ENCLAVE_GAS.tx_byte * admitted.raw_bytes;
  const out_of_gas = (): TxResult => ({
    hash,
    code: ResultCode.OUT_OF_GAS,
    gas_used: body.gas_limit,
    output: '',
  });
  if (gas > body.gas_limit) return out_of_gas();
  const msg = body.msg;
  switch (msg.type) {
    case 'store_code': {
      const code = admitted.stored_code!;
      const used = gas + ENCLAVE_GAS.store_code_byte * code.bytes.length;
      if (used > body.gas_limit) return out_of_gas();
      const code_id = run.next_code_id++;
      run.codes.set(code_id, code);
      run.stored.push({ code_id, code_hash: code.hash });
      return { hash, code: ResultCode.OK, gas_used: used, output: '', code_id, code_hash: code.hash };
    }
    case 'register_node': {
      const used = gas + ENCLAVE_GAS.register_node;
      if (used > body.gas_limit) return out_of_gas();
      const share = seal_seed_share(p, run.ctx.seed_exchange, admitted.pk_reg!, run.ctx.seed);
      if (share === null) return { hash, code: ResultCode.BAD_SIGNATURE, gas_used: used, output: '' };
      return { hash, code: ResultCode.OK, gas_used: used, output: to_base64(share) };
    }
    case 'send': {
      const used = gas + ENCLAVE_GAS.send;
      if (used > body.gas_limit) return out_of_gas();
      const effects = new TxEffects(run);
      const code = effects.transfer(admitted.sender, msg.to, msg.amount)
        ? ResultCode.OK
        : ResultCode.INSUFFICIENT_FUNDS;
      if (code === ResultCode.OK) run.apply(effects);
      return { hash, code, gas_used: used, output: '' };
    }
    case 'instantiate':
    case 'execute':
      return execute_contract_tx(run, admitted, index, gas, admitted.record?.opened ?? null);
  }
}

/**
 * The contract an instantiate or execute transaction runs, with its code; null (code 6) for an
 * unknown contract or code, or an instantiate whose address is taken (short of a hash collision,
 * it cannot be).
 */
function contract_target(run: TxRun, body: Tx['body']): { address: string; code: Code } | null {
  const msg = body.msg as InstantiateMsg | ExecuteMsg;
  if (msg.type === 'execute') {
    const info = run.contract(msg.contract);
    if (info === null) return null;
    const code = run.code(info.code_id);
    if (code === undefined || code.hash !== info.code_hash) {
      throw new EnclaveFault(
        EnclaveErrorCode.BAD_INPUT,
        `the code of contract ${msg.contract} is missing or wrong`,
      );
    }
    return { address: msg.contract, code };
  }
  const address = contract_address(run.ctx.p, body.sender, body.sequence);
  if (run.has_contract(address)) return null;
  const code = run.code(msg.code_id);
  return code === undefined ? null : { address, code };
}

/**
 * An instantiate or execute transaction: open the envelope (or take it as a staging worker opened
 * it for the same code hash), run the call and its messages.
 */
export function execute_contract_tx(
  run: TxRun,
  admitted: Pick<Admitted, 'tx' | 'hash' | 'sender'>,
  index: number,
  gas: number,
  pre_opened: OpenedEnvelope | null,
): TxResult {
  const { ctx, input } = run;
  const p = ctx.p;
  const { tx, hash, sender } = admitted;
  const { body } = tx;
  const msg = body.msg as InstantiateMsg | ExecuteMsg;
  const done = (code: ResultCode, gas_used: number, output = ''): TxResult => ({
    hash,
    code,
    gas_used,
    output,
  });
  const tx_gas = gas + ENCLAVE_GAS.envelope;
  if (tx_gas > body.gas_limit) return done(ResultCode.OUT_OF_GAS, body.gas_limit);
  const target = contract_target(run, body);
  if (target === null) return done(ResultCode.UNKNOWN_CODE_OR_CONTRACT, tx_gas);
  const { address, code } = target;
  const effects = new TxEffects(run);
  const opened =
    pre_opened !== null && pre_opened.code_hash === code.hash
      ? { tx_key: from_hex(pre_opened.tx_key), msg_json: pre_opened.msg_json }
      : try_open_envelope(ctx, msg.scheme, msg.payload, input.chain_id, code.hash);
  if (opened === null) return done(ResultCode.CANNOT_DECRYPT, tx_gas);
  const seal = (text: string) => to_base64(seal_result_json(p, msg.scheme, opened.tx_key, text));
  if (msg.type === 'instantiate') {
    effects.create({
      address,
      code_id: msg.code_id,
      code_hash: code.hash,
      label: msg.label,
      creator: sender,
      binding: contract_binding(ctx, address, code.hash),
    });
  }
  const calls: TxCalls = {
    ctx,
    programs: run.programs,
    source: run,
    effects,
    chain_id: input.chain_id,
    height: input.height,
    time_ms: input.time_ms,
    gas_limit: body.gas_limit,
    gas_used: tx_gas,
    random_prefix: concat(run.random_root, u32_be(index)),
    calls: 0,
    debug: [],
  };
  let end: CallEnd;
  try {
    end = run_call(calls, {
      contract: address,
      entry: msg.type,
      msg_json: opened.msg_json,
      sender,
      funds: msg.funds ?? 0,
      depth: 1,
    });
  } catch (error) {
    if (error instanceof TxOutOfGas) return done(ResultCode.OUT_OF_GAS, body.gas_limit);
    throw error;
  }
  const debug = input.dev ? calls.debug : [];
  if (!end.ok) return done(end.code, calls.gas_used, seal(result_text({ error: end.message }, debug)));
  const output = seal(result_text({ data_json: end.data_json, events: effects.events() }, debug));
  const result: TxResult = done(ResultCode.OK, calls.gas_used, output);
  const events = effects.public_events();
  if (events.length > 0) result.events = events;
  if (msg.type === 'instantiate') result.contract = address;
  run.apply(effects);
  return result;
}

/** Executes one transaction; a lookup it needs is noted and the transaction left without a result. */
function execute_or_note(
  run: BlockRun,
  raw: string,
  index: number,
  stage: StageLookup | null,
): TxResult | null {
  try {
    return execute_tx(run, raw, index, stage);
  } catch (error) {
    if (!(error instanceof NeedLookup)) throw error;
    // Go on with the later transactions all the same, to find what they need in this one pass.
    for (const address of error.contracts) run.need.contracts.add(address);
    for (const address of error.balances) run.need.balances.add(address);
    return null;
  }
}

/**
 * Executes a block; throws EnclaveFault for host faults (bad input, corrupt state). `staged`, when
 * given, holds one sealed stage record (or none, empty) per transaction and `stage_key` opens them: the
 * output is the same bytes with or without them (enclave/stage_record.ts).
 */
export function execute_block(
  ctx: KeyContext,
  programs: ProgramCache,
  value: unknown,
  staged?: { records: readonly Uint8Array[]; stage_key: Uint8Array },
): BlockOutput {
  const input = check_block_input(value);
  const run = new BlockRun(ctx, programs, input);
  const stage = staged === undefined ? null : stage_lookup(ctx, input, staged.records, staged.stage_key);
  const results: TxResult[] = [];
  for (let i = 0; i < input.txs.length; i++) {
    const result = execute_or_note(run, input.txs[i]!, i, stage);
    if (result === null) continue;
    run.gas_used += result.gas_used;
    results.push(result);
  }
  if (run.need.contracts.size > 0 || run.need.balances.size > 0) {
    return {
      results: [],
      accounts: {},
      balances: {},
      contracts: [],
      codes: [],
      state_writes: {},
      gas_used: 0,
      result_hash: '',
      need: { contracts: [...run.need.contracts].sort(), balances: [...run.need.balances].sort() },
    };
  }
  const accounts: Record<string, number> = {};
  for (const address of [...run.changed_accounts].sort()) accounts[address] = run.accounts.get(address)!;
  const balances: Record<string, number> = {};
  for (const address of [...run.changed_balances].sort()) balances[address] = run.balances.get(address)!;
  const state_writes: BlockOutput['state_writes'] = {};
  for (const address of [...run.states.keys()].sort()) {
    const writes = run.states.get(address)!.sealed_writes();
    if (writes.length > 0) state_writes[address] = writes;
  }
  const output = {
    results,
    accounts,
    balances,
    contracts: run.created,
    codes: run.stored,
    state_writes,
    gas_used: run.gas_used,
  };
  return { ...output, result_hash: block_result_hash(ctx, output) };
}

/** The lookup of a block's stage records; a malformed list is the host's fault. */
function stage_lookup(
  ctx: KeyContext,
  input: BlockInput,
  records: readonly Uint8Array[],
  stage_key: Uint8Array,
): StageLookup {
  if (
    !Array.isArray(records) ||
    records.length !== input.txs.length ||
    records.some((r) => !(r instanceof Uint8Array))
  ) {
    throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, 'staged must be one byte array per transaction');
  }
  const prefix = stage_ad_prefix(input);
  return (index, raw) => open_stage_record(ctx.p, stage_key, prefix, index, raw, records[index]!);
}
