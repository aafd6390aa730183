/**
 * A reference model of the host's chain state for the store tests: plain maps in memory, updated
 * from each block's enclave output by the rules of protocol.md, with none of the store's keys,
 * checksums or batches. ChainStore must prepare the same enclave inputs from the same history
 * (state aside, which the model keeps in insertion order and the store in key order), so a bug in
 * the store's planning shows as a difference from this independent, deliberately naive model.
 */

import type {
  AttestationPolicy,
  BlockInput,
  BlockOutput,
  BoundContract,
  QueryInput,
  StateEntry,
} from '../../enclave/api.js';
import { fee_pool_address } from '../../protocol/bank.js';
import { from_hex, to_base64, to_hex } from '../../protocol/bytes.js';
import type { Scheme } from '../../protocol/envelope.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { account_address, contract_address, MalformedTxError, parse_tx_json } from '../../protocol/tx.js';

/** A stored code. */
export interface ReferenceCode {
  code_id: number;
  code_hash: string;
  code_b64: string;
  name?: string;
}

/** The host-side chain state of one validator, as plain maps. */
export class ReferenceChain {
  readonly chain_id: string;
  readonly attestation: AttestationPolicy;
  height = 0;
  readonly accounts = new Map<string, number>();
  readonly balances = new Map<string, number>();
  readonly contracts = new Map<string, BoundContract>();
  readonly codes = new Map<number, ReferenceCode>();
  /** contract address → hidden key (base64) → sealed value (base64). */
  readonly state = new Map<string, Map<string, string>>();
  next_code_id = 1;
  readonly #p: CryptoProvider;

  constructor(
    p: CryptoProvider,
    opts: { chain_id: string; attestation: AttestationPolicy; codes: { name: string; code: Uint8Array }[] },
  ) {
    this.#p = p;
    this.chain_id = opts.chain_id;
    this.attestation = opts.attestation;
    for (const { name, code } of opts.codes) {
      const code_id = this.next_code_id++;
      this.codes.set(code_id, {
        code_id,
        code_hash: to_hex(p.sha256(code)),
        code_b64: to_base64(code),
        name,
      });
    }
  }

  /** The enclave input for a block of `txs` at the next height. */
  block_input(txs: string[], time_ms: number, random_seed: string): BlockInput {
    const accounts: Record<string, number> = {};
    const balances: Record<string, number> = {};
    const no_contract: string[] = [];
    const balance_of = (address: string) => {
      balances[address] = this.balances.get(address) ?? 0;
    };
    balance_of(fee_pool_address(this.#p));
    const contracts: Record<string, BoundContract> = {};
    const codes: Record<string, string> = {};
    const state: Record<string, StateEntry[]> = {};
    for (const raw of txs) {
      let tx: ReturnType<typeof parse_tx_json>;
      try {
        tx = parse_tx_json(raw);
      } catch (error) {
        if (error instanceof MalformedTxError) continue;
        throw error;
      }
      const sender = account_address(this.#p, from_hex(tx.body.sender, 32));
      accounts[sender] = this.accounts.get(sender) ?? 0;
      balance_of(sender);
      const msg = tx.body.msg;
      let code_id: number | undefined;
      if (msg.type === 'send') balance_of(msg.to);
      if (msg.type === 'instantiate') balance_of(contract_address(this.#p, tx.body.sender, tx.body.sequence));
      if (msg.type === 'execute') {
        balance_of(msg.contract);
        const info = this.contracts.get(msg.contract);
        if (info === undefined && !no_contract.includes(msg.contract)) no_contract.push(msg.contract);
        if (info !== undefined) {
          if (contracts[info.address] === undefined) {
            contracts[info.address] = info;
            state[info.address] = [...(this.state.get(info.address) ?? new Map()).entries()];
          }
          code_id = info.code_id;
        }
      } else if (msg.type === 'instantiate') {
        code_id = msg.code_id;
      }
      const code = code_id === undefined ? undefined : this.codes.get(code_id);
      if (code !== undefined) codes[String(code.code_id)] = code.code_b64;
    }
    return {
      chain_id: this.chain_id,
      height: this.height + 1,
      time_ms,
      random_seed,
      txs,
      accounts,
      balances,
      min_gas_price: 0,
      dev: false,
      contracts,
      no_contract,
      codes,
      state,
      next_code_id: this.next_code_id,
      attestation: this.attestation,
    };
  }

  /** Applies an enclave's output for `input`. */
  apply(input: BlockInput, output: BlockOutput): void {
    if (input.height !== this.height + 1) throw new Error('blocks must be applied in order');
    for (const [address, seq] of Object.entries(output.accounts)) this.accounts.set(address, seq);
    for (const [address, amount] of Object.entries(output.balances)) this.balances.set(address, amount);
    for (const info of output.contracts) this.contracts.set(info.address, info);
    output.results.forEach((result, index) => {
      if (result.code_id !== undefined && result.code_hash !== undefined) {
        const tx = parse_tx_json(input.txs[index]!);
        if (tx.body.msg.type !== 'store_code') throw new Error('code_id on a non-store_code result');
        this.codes.set(result.code_id, {
          code_id: result.code_id,
          code_hash: result.code_hash,
          code_b64: tx.body.msg.code,
        });
        this.next_code_id = Math.max(this.next_code_id, result.code_id + 1);
      }
    });
    for (const [address, writes] of Object.entries(output.state_writes)) {
      let entries = this.state.get(address);
      if (entries === undefined) {
        entries = new Map();
        this.state.set(address, entries);
      }
      for (const [key, value] of writes) {
        if (value === null) entries.delete(key);
        else entries.set(key, value);
      }
    }
    this.height = input.height;
  }

  /** The enclave input for a query at the committed height, or null if there is no contract. */
  query_input(address: string, scheme: Scheme, payload: string, time_ms: number): QueryInput | null {
    const contract = this.contracts.get(address);
    if (contract === undefined) return null;
    const code = this.codes.get(contract.code_id);
    if (code === undefined) throw new Error(`contract ${address} has no code`);
    return {
      chain_id: this.chain_id,
      height: this.height,
      time_ms,
      contract,
      balance: this.balances.get(address) ?? 0,
      code: code.code_b64,
      state: [...(this.state.get(address) ?? new Map()).entries()],
      scheme,
      payload,
    };
  }
}
