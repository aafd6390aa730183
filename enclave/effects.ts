/**
 * What one transaction has done so far (protocol.md §9): balance moves, contract state writes,
 * contracts created and events, over the block's committed state, with an undo log so a failed
 * contract message can be taken back to the point its caller sent it (a `reply` that recovers),
 * and the whole transaction undone when it ends with a non-zero code. The fee and the sequence
 * are not in here: they stay whatever the transaction's result.
 * @module
 */

import type { PublicEvent } from '../protocol/bank.js';
import { invariant } from '../protocol/invariant.js';
import type { BoundContract } from './api.js';
import type { ContractEvent } from './vm/types.js';

/** Thrown when the block needs contracts or balances its input does not carry (BlockOutput.need). */
export class NeedLookup extends Error {
  constructor(
    readonly contracts: readonly string[],
    readonly balances: readonly string[],
  ) {
    super(`the block needs contracts [${contracts.join(', ')}] and balances [${balances.join(', ')}]`);
    this.name = 'NeedLookup';
  }
}

/** The block-level state a transaction reads through. */
export interface BlockView {
  /** Committed balance as of the previous transaction; throws NeedLookup if not handed in. */
  balance(address: string): number;
  /** Throws NeedLookup if `address`'s balance was not handed in; its value does not matter. */
  require_balance(address: string): void;
  /** Committed value of a contract's key; throws EnclaveFault for corrupt state. */
  read(contract: string, key: string): string | null;
}

/** An event with the contract that emitted it. */
export interface EmittedEvent {
  contract: string;
  event: ContractEvent;
}

/** One transaction's effects, undoable back to any mark. */
export class TxEffects {
  readonly #view: BlockView;
  readonly #balances = new Map<string, number>();
  readonly #writes = new Map<string, Map<string, string | null>>();
  readonly #created = new Map<string, BoundContract>();
  readonly #events: EmittedEvent[] = [];
  readonly #undo: (() => void)[] = [];

  constructor(view: BlockView) {
    this.#view = view;
  }

  /** A point to come back to with {@link revert}. */
  mark(): number {
    return this.#undo.length;
  }

  /** Undoes everything done since `mark`, newest first. */
  revert(mark: number): void {
    invariant(mark >= 0 && mark <= this.#undo.length, 'revert to a mark that does not exist');
    while (this.#undo.length > mark) this.#undo.pop()!();
  }

  balance(address: string): number {
    return this.#balances.get(address) ?? this.#view.balance(address);
  }

  #require_balance(address: string): void {
    if (!this.#balances.has(address)) this.#view.require_balance(address);
  }

  #set_balance(address: string, amount: number): void {
    const had = this.#balances.has(address);
    const before = this.#balances.get(address);
    this.#balances.set(address, amount);
    this.#undo.push(() => {
      if (had) this.#balances.set(address, before!);
      else this.#balances.delete(address);
    });
  }

  /**
   * Moves `amount` from `from` to `to`; false (and nothing moved) if `from` holds less. Reads both
   * balances first, so a NeedLookup leaves nothing half done.
   */
  transfer(from: string, to: string, amount: number): boolean {
    invariant(Number.isSafeInteger(amount) && amount >= 0, 'transfer amount must be a safe integer');
    if (amount === 0) {
      // Nothing moves, so no value matters, only that the input carries both: a call with no
      // funds then reads neither balance, and so does not conflict with the sender's fees.
      this.#require_balance(from);
      this.#require_balance(to);
      return true;
    }
    const from_before = this.balance(from);
    const to_before = this.balance(to);
    if (from_before < amount) return false;
    if (from === to) return true;
    // Balances are bounded by the genesis total, a safe integer, and only move: no overflow.
    this.#set_balance(from, from_before - amount);
    this.#set_balance(to, to_before + amount);
    return true;
  }

  read(contract: string, key: string): string | null {
    const value = this.#writes.get(contract)?.get(key);
    return value !== undefined ? value : this.#view.read(contract, key);
  }

  /** Applies one successful call's writes. */
  write_all(contract: string, writes: ReadonlyMap<string, string | null>): void {
    let map = this.#writes.get(contract);
    if (map === undefined) {
      map = new Map();
      this.#writes.set(contract, map);
      const created = map;
      this.#undo.push(() => {
        if (this.#writes.get(contract) === created) this.#writes.delete(contract);
      });
    }
    const target = map;
    for (const [key, value] of writes) {
      const had = target.has(key);
      const before = target.get(key);
      target.set(key, value);
      this.#undo.push(() => {
        if (had) target.set(key, before!);
        else target.delete(key);
      });
    }
  }

  create(info: BoundContract): void {
    invariant(!this.#created.has(info.address), 'a contract is created twice in one transaction');
    this.#created.set(info.address, info);
    this.#undo.push(() => this.#created.delete(info.address));
  }

  created(address: string): BoundContract | undefined {
    return this.#created.get(address);
  }

  emit(contract: string, events: readonly ContractEvent[]): void {
    for (const event of events) {
      this.#events.push({ contract, event });
      this.#undo.push(() => this.#events.pop());
    }
  }

  /** Every event, in emission order, as the sender's sealed result lists them (protocol.md §4, §9). */
  events(): ContractEvent[] {
    return this.#events.map((e) => e.event);
  }

  /** The public events, with their contract (protocol.md §9, `GET /v1/txs/{hash}`). */
  public_events(): PublicEvent[] {
    return this.#events
      .filter((e) => e.event.public === true)
      .map((e) => ({ type: e.event.type, attributes: e.event.attributes, contract: e.contract }));
  }

  /** What the transaction changed, to fold into the block once it succeeded. */
  changes(): {
    balances: ReadonlyMap<string, number>;
    writes: ReadonlyMap<string, ReadonlyMap<string, string | null>>;
    created: BoundContract[];
  } {
    return { balances: this.#balances, writes: this.#writes, created: [...this.#created.values()] };
  }
}
