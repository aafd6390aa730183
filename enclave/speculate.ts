/**
 * The staging half of parallel block execution (docs/enclave.md "Parallel execution"). A staging
 * worker takes a range of a block's transactions and, for each, does the work that does not
 * depend on the transactions before it: parse and hash, check the signature, open the envelope,
 * and execute the transaction speculatively, through a view that records every value it reads,
 * against the block's starting state as the range's earlier transactions left it. It answers one
 * sealed stage record per transaction (enclave/stage_record.ts). The executing worker then runs
 * the block in order and keeps a speculation only where every value it read is still the block's
 * at that transaction; the rest it runs itself. Deterministic like everything in the enclave, and
 * never an answer on its own.
 * @module
 */

import { to_hex } from '../protocol/bytes.js';
import { ResultCode } from '../protocol/codes.js';
import { type ExecuteMsg, type InstantiateMsg, type Tx, verify_tx_signature } from '../protocol/tx.js';
import type { BlockInput, BoundContract, TxResult } from './api.js';
import { admission_of, BlockRun, execute_contract_tx, parse_block_tx, type TxRun } from './block.js';
import type { KeyContext } from './context.js';
import type { TxEffects } from './effects.js';
import { ENCLAVE_GAS } from './limits.js';
import type { Code, ProgramCache } from './programs.js';
import { EnclaveErrorCode, EnclaveFault } from './result.js';
import { try_open_envelope } from './run.js';
import {
  type Admission,
  type OpenedEnvelope,
  SPEC_READS_MAX,
  type SpecRead,
  type Speculation,
  seal_stage_record,
  stage_ad_prefix,
} from './stage_record.js';
import { check_block_input } from './validate.js';

/**
 * Thrown inside a speculation that read more values than {@link SPEC_READS_MAX}: it is dropped. An
 * EnclaveFault, so a state read inside the VM keeps it as the call's fault rather than handing it
 * to the contract as an exception it could catch (enclave/state.ts TxStorage).
 */
class TooManyReads extends EnclaveFault {
  constructor() {
    super(EnclaveErrorCode.LIMIT, `a speculation read more than ${SPEC_READS_MAX} values`);
  }
}

/**
 * The state one speculative transaction sees: the block's starting state with what the earlier
 * transactions of the staging worker's range did (their fees and successful changes) and this
 * one's fee, every read recorded once, and what the transaction changes kept instead of applied.
 */
class SpecView implements TxRun {
  readonly #base: BlockRun;
  readonly #reads = new Map<string, SpecRead>();
  #changes: ReturnType<TxEffects['changes']> | null = null;
  /** Set once a read went unrecorded: the speculation is then dropped whatever the call did. */
  #overflowed = false;

  constructor(base: BlockRun) {
    this.#base = base;
  }

  get ctx(): KeyContext {
    return this.#base.ctx;
  }
  get programs(): ProgramCache {
    return this.#base.programs;
  }
  get input(): BlockInput {
    return this.#base.input;
  }
  get random_root(): Uint8Array {
    return this.#base.random_root;
  }

  #note(key: string, read: SpecRead): void {
    if (this.#reads.has(key)) return;
    if (this.#reads.size >= SPEC_READS_MAX) {
      this.#overflowed = true;
      throw new TooManyReads();
    }
    this.#reads.set(key, read);
  }

  contract(address: string): BoundContract | null {
    const info = this.#base.contract(address);
    this.#note(`c${address}`, ['c', address, info]);
    return info;
  }

  has_contract(address: string): boolean {
    const has = this.#base.has_contract(address);
    this.#note(`x${address}`, ['x', address, has]);
    return has;
  }

  code(code_id: number): Code | undefined {
    const code = this.#base.code(code_id);
    this.#note(`d${code_id}`, ['d', code_id, code?.hash ?? null]);
    return code;
  }

  read(contract: string, key: string): string | null {
    const value = this.#base.read(contract, key);
    this.#note(`r${contract}\n${key}`, ['r', contract, key, value]);
    return value;
  }

  knows(address: string, kind: 'contract' | 'balance'): boolean {
    const known = this.#base.knows(address, kind);
    this.#note(`k${kind}${address}`, ['k', address, kind, known]);
    return known;
  }

  balance(address: string): number {
    const amount = this.#base.balance(address);
    this.#note(`b${address}`, ['b', address, amount]);
    return amount;
  }

  require_balance(address: string): void {
    this.#base.require_balance(address);
    this.#note(`n${address}`, ['n', address]);
  }

  apply(effects: TxEffects): void {
    this.#changes = effects.changes();
  }

  /** The speculation: what was read, the result, and the changes a success would fold in. */
  finish(result: TxResult): Speculation | null {
    if (this.#overflowed) return null;
    const changes = this.#changes;
    return {
      reads: [...this.#reads.values()],
      result,
      balances: changes === null ? [] : [...changes.balances],
      writes: changes === null ? [] : [...changes.writes].map(([address, w]) => [address, [...w]]),
      created: changes === null ? [] : changes.created,
    };
  }
}

/** The envelope opened for the code an instantiate or execute targets in the starting state, if it can be. */
function open_ahead(base: BlockRun, tx: Tx): OpenedEnvelope | null {
  const msg = tx.body.msg as InstantiateMsg | ExecuteMsg;
  let code: Code | undefined;
  try {
    if (msg.type === 'execute') {
      const info = base.contract(msg.contract);
      code = info === null ? undefined : base.code(info.code_id);
      if (code !== undefined && code.hash !== info?.code_hash) code = undefined;
    } else {
      code = base.code(msg.code_id);
    }
  } catch {
    // A contract the input lacks (it is made earlier in the block, or must be looked up), or
    // code that does not decode: the executing worker finds out in order.
    return null;
  }
  if (code === undefined) return null;
  const opened = try_open_envelope(base.ctx, msg.scheme, msg.payload, base.input.chain_id, code.hash);
  if (opened === null) return null;
  return { code_hash: code.hash, tx_key: to_hex(opened.tx_key), msg_json: opened.msg_json };
}

/** Runs one contract transaction against the starting state; null if it cannot be speculated. */
function speculate(
  base: BlockRun,
  tx: Tx,
  admission: Admission,
  raw_bytes: number,
  index: number,
  opened: OpenedEnvelope | null,
): Speculation | null {
  const { hash, sender, fee } = admission;
  const gas = ENCLAVE_GAS.tx_base + ENCLAVE_GAS.tx_byte * raw_bytes;
  // Out of gas before anything runs: the executing worker answers that at once.
  if (gas > tx.body.gas_limit) return null;
  try {
    const balance = base.balance(sender);
    if (balance < fee) return null;
    // The fee is paid before the call, as in order; it stays paid whatever the call does.
    if (fee > 0) {
      base.set_balance(base.fee_pool, base.balance(base.fee_pool) + fee);
      base.set_balance(sender, balance - fee);
    }
    const view = new SpecView(base);
    const spec = view.finish(execute_contract_tx(view, { tx, hash, sender }, index, gas, opened));
    // Later transactions of this range run on what this one did, as they will in order (if
    // nothing before the range changes what it read): a range of dependent transactions, a
    // counter's increments, then holds as a whole.
    if (spec !== null && spec.result.code === ResultCode.OK) base.apply_speculation(spec);
    return spec;
  } catch {
    // A lookup, a host fault or too many reads: the executing worker runs it in order and meets
    // the same lookup or fault itself. (An engine abort also ends this worker once it answers.)
    return null;
  }
}

const NONE = new Uint8Array(0);

/**
 * One transaction's sealed stage record, or an empty array if it has none (it is refused before
 * its signature counts, or its signature does not verify: the executing worker finds out itself).
 */
function stage_one(
  base: BlockRun,
  stage_key: Uint8Array,
  prefix: Uint8Array,
  index: number,
  random_bytes: (n: number) => Uint8Array,
): Uint8Array {
  const { ctx, input } = base;
  const raw = input.txs[index]!;
  const parsed = parse_block_tx(ctx.p, input, raw);
  if (!('tx' in parsed)) return NONE;
  if (!verify_tx_signature(ctx.p, parsed.tx, parsed.body_text)) return NONE;
  const type = parsed.tx.body.msg.type;
  const contract_tx = type === 'instantiate' || type === 'execute';
  const admission = admission_of(ctx.p, parsed.tx, parsed.hash);
  const opened = contract_tx ? open_ahead(base, parsed.tx) : null;
  const spec = contract_tx ? speculate(base, parsed.tx, admission, raw.length, index, opened) : null;
  const record = { admission, opened, spec };
  return seal_stage_record(ctx.p, stage_key, prefix, index, raw, record, random_bytes(12));
}

/**
 * Stages transactions `from` (inclusive) to `to` (exclusive) of a block: one sealed record (or an
 * empty array) per transaction, in order. Throws EnclaveFault for a malformed block or range.
 */
export function stage_txs(
  ctx: KeyContext,
  programs: ProgramCache,
  stage_key: Uint8Array,
  random_bytes: (n: number) => Uint8Array,
  value: unknown,
  from: unknown,
  to: unknown,
): Uint8Array[] {
  const input = check_block_input(value);
  if (
    !Number.isSafeInteger(from) ||
    !Number.isSafeInteger(to) ||
    (from as number) < 0 ||
    (from as number) >= (to as number) ||
    (to as number) > input.txs.length
  ) {
    throw new EnclaveFault(EnclaveErrorCode.BAD_INPUT, 'stage range must be 0 <= from < to <= txs');
  }
  const base = new BlockRun(ctx, programs, input);
  const prefix = stage_ad_prefix(input);
  const records: Uint8Array[] = [];
  for (let i = from as number; i < (to as number); i++)
    records.push(stage_one(base, stage_key, prefix, i, random_bytes));
  return records;
}
