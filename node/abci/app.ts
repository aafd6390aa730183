/**
 * Cloister's application under CometBFT (issue #17, docs/cometbft.md "The mapping"): ABCI 2.0
 * calls answered by the same host parts as under Cloister's own engine (the store, the mempool's
 * submission checks, the enclave through its light client), so the same validators run under
 * either engine with the same RPC and clients.
 *
 * - `CheckTx` is the mempool's `add` (signature, sequence, fee, limits; no enclave execution); a
 *   recheck keeps a transaction only while the mempool still holds it.
 * - `PrepareProposal` and `ProcessProposal` apply Cloister's block limits.
 * - `FinalizeBlock` executes the block in the enclave, with CometBFT's commit of it fetched from
 *   CometBFT's RPC as the light client's evidence, and answers one result per transaction and an
 *   app hash; `Commit` persists block and results in one atomic store write.
 * - Results of height H are final once height H+1, whose header carries H's app hash, commits:
 *   that is when they are announced (`on_final`, what `?wait=commit` waits for).
 *
 * Nothing here throws across ABCI for a bad transaction: it gets a non-zero code. What does throw
 * (the server answers CometBFT an `exception`, which stops it) is what must stop the node: a block
 * the enclave cannot execute, a genesis that is not this chain's, a store that cannot write.
 * @module
 */

import type * as abci from 'cosmjs-types/tendermint/abci/types';
import {
  ExecTxResult,
  ResponseCheckTx,
  ResponseCommit,
  ResponseFinalizeBlock,
  ResponseInfo,
  ResponseInitChain,
  ResponsePrepareProposal,
  ResponseProcessProposal,
  ResponseQuery,
} from 'cosmjs-types/tendermint/abci/types';
import type { BlockInput, BlockOutput, Enclave, TxResult } from '../../enclave/api.js';
import { from_base64, from_hex, to_hex } from '../../protocol/bytes.js';
import { parse_signed_header, verify_comet_commit } from '../../protocol/cometbft/index.js';
import type { CryptoProvider } from '../../protocol/provider.js';
import { parse_json_strict } from '../../protocol/strict_json.js';
import { MalformedTxError, parse_tx_json } from '../../protocol/tx.js';
import { chain_rules, STORE_CODE_BLOCK_BYTES_MAX } from '../app.js';
import {
  type Block,
  type BlockHeader,
  block_hash,
  type Commit,
  commit_hash,
  GENESIS_PARENT_HASH,
  txs_hash,
} from '../consensus/types.js';
import { execute_with_lookups } from '../execute.js';
import type { Genesis } from '../genesis.js';
import type { Mempool, MempoolAdd } from '../mempool.js';
import type { Log } from '../modules.js';
import type { TxRecord } from '../records.js';
import type { ChainRules, ChainStore } from '../store/chain_store.js';
import { comet_block_facts, comet_proposer } from './facts.js';

/** CheckTx codes for refusals that are not protocol.md result codes. */
export const COMET_CHECK_CODES = { full: 20, quarantined: 21, halted: 22, not_held: 23, busy: 24 } as const;
/** The codespace of every non-zero code Cloister answers CometBFT. */
export const CODESPACE = 'cloister';
/** The execution signature of a block record under CometBFT: none (CometBFT's commit is the evidence). */
const NO_EXEC_SIGNATURE = '0'.repeat(128);
/** Executions of a committed block tried before the node stops on it (as node/app.ts). */
const EXECUTION_ATTEMPTS_MAX = 2;
/** Signed headers asked for one block (own RPC, then each peer's) before the node stops on it. */
const EVIDENCE_ATTEMPTS_MAX = 8;
/**
 * Empty blocks looked back through at start-up for the last app hash before the look is logged
 * (`app_hash_lookback`): with `create_empty_blocks = false` there is at most one in a row.
 */
const APP_HASH_LOOKBACK_LOGGED = 1_000;

export interface CometAppOptions {
  genesis: Genesis;
  block: { txs_max: number; bytes_max: number; gas_max: number };
}

export interface CometAppModules {
  p: CryptoProvider;
  enclave: Enclave;
  store: ChainStore;
  mempool: Mempool;
  log: Log;
  /**
   * `result.signed_header` of CometBFT's `/commit?height=H` (node/abci/comet_rpc.ts); `attempt`
   * counts the answers refused so far, so each try may start from another source.
   */
  signed_header: (height: number, attempt: number) => Promise<unknown>;
  /** Called when a block's results are final (the next height committed its app hash), with them. */
  on_final: (block: Block, hash: string, txs: TxRecord[]) => void;
  /** Runs an encrypted query at the committed height (node/backend.ts `query`). */
  query: (
    address: string,
    body: { scheme: 'gcm' | 'siv'; payload: string },
  ) => Promise<
    { code: number; output: string } | { ok: false; code: number | string; message: string } | null
  >;
  /** Called when this node cannot go on past `height` (its RPC then says so and takes no more transactions). */
  on_halt: (height: number, reason: string) => void;
}

/** One executed block waiting for `Commit` or for finality. */
interface Executed {
  block: Block;
  commit: Commit;
  hash: string;
  input: BlockInput;
  output: BlockOutput;
  sealed_light: string | undefined;
  app_hash: Uint8Array;
}

/** The ABCI application (node/abci/server.ts `AbciApp`) over Cloister's host parts. */
export class CometApp {
  readonly #opts: CometAppOptions;
  readonly #m: CometAppModules;
  readonly #rules: ChainRules;
  /** Executed by FinalizeBlock, persisted by the next Commit. */
  #pending: Executed | null = null;
  /** Committed here, final once the next height commits. */
  #unfinal: Executed | null = null;
  /**
   * The height committed before this process started, while the next one has not: its results
   * are final only once that next height commits too (its CometBFT may not have seen it yet).
   */
  #stored_unfinal: number | null;
  /** The app hash after the last committed block (null: not looked up yet). */
  #app_hash: Uint8Array | null = null;

  constructor(opts: CometAppOptions, modules: CometAppModules) {
    this.#opts = opts;
    this.#m = modules;
    this.#rules = chain_rules(opts.genesis);
    this.#stored_unfinal = modules.store.height() > 0 ? modules.store.height() : null;
  }

  /** The height this app has committed and its app hash: CometBFT replays what is above it. */
  async info(_req: abci.RequestInfo): Promise<abci.ResponseInfo> {
    return ResponseInfo.fromPartial({
      data: 'cloister',
      version: '1.1',
      appVersion: 1n,
      lastBlockHeight: BigInt(this.#m.store.height()),
      lastBlockAppHash: await this.#last_app_hash(),
    });
  }

  /**
   * The app hash after the last committed block: that of the last block with transactions (an
   * empty block keeps it, or CometBFT would make a block to prove each new one, forever), the
   * empty string before any.
   */
  async #last_app_hash(): Promise<Uint8Array> {
    if (this.#app_hash !== null) return this.#app_hash;
    const { store } = this.#m;
    let found: Uint8Array = new Uint8Array(0);
    // Bounded by the chain: once a start, never more blocks than it has (a wrong answer here
    // would stop CometBFT's handshake, so there is no shorter cut).
    let h = store.height();
    for (; h >= 1; h--) {
      const record = await store.get_block(h);
      if (record === null) throw new Error(`invariant: committed block ${h} is missing`);
      if (record.block.txs.length > 0) {
        found = from_hex(record.block_hash, 32);
        break;
      }
    }
    const looked = store.height() - Math.max(h, 0);
    if (looked > APP_HASH_LOOKBACK_LOGGED) this.#m.log('app_hash_lookback', { blocks: looked });
    this.#app_hash = found;
    return found;
  }

  /** Checks CometBFT's genesis is this chain's: its chain id and validator set. */
  init_chain(req: abci.RequestInitChain): abci.ResponseInitChain {
    const { genesis } = this.#opts;
    if (req.chainId !== genesis.chain_id)
      throw new Error(`CometBFT's chain is ${req.chainId}, this node's genesis is ${genesis.chain_id}`);
    // Cloister's chain starts at height 1: its store and light client know no other start.
    if (req.initialHeight !== 1n)
      throw new Error(
        `CometBFT's genesis starts at height ${req.initialHeight}; Cloister's chains start at 1`,
      );
    const theirs = req.validators
      .map((v) => `${to_hex(v.pubKey.ed25519 ?? new Uint8Array())}:${v.power}`)
      .sort();
    const ours = genesis.validators.map((v) => `${v.pubkey}:${v.power}`).sort();
    if (theirs.join(',') !== ours.join(','))
      throw new Error("CometBFT's validator set is not this chain's genesis set");
    if (this.#m.store.height() !== 0) throw new Error('InitChain on a store that has blocks');
    return ResponseInitChain.fromPartial({ validators: [], appHash: new Uint8Array(0) });
  }

  /**
   * The mempool's submission checks; a recheck keeps only what the mempool still holds. Never
   * throws: an exception on any ABCI connection stops CometBFT, so a failure here (the store
   * closing) is a refusal CometBFT may retry, not a crash.
   */
  async check_tx(req: abci.RequestCheckTx): Promise<abci.ResponseCheckTx> {
    try {
      return await this.#check_tx(req);
    } catch (error) {
      this.#m.log('check_tx_failed', { error: (error as Error).message });
      return ResponseCheckTx.fromPartial({
        code: COMET_CHECK_CODES.busy,
        log: (error as Error).message,
        codespace: CODESPACE,
      });
    }
  }

  async #check_tx(req: abci.RequestCheckTx): Promise<abci.ResponseCheckTx> {
    const raw = decode_tx(req.tx);
    if (raw === null) return check_answer({ ok: false, code: 7, message: 'transaction is not UTF-8 text' });
    // CheckTxType.RECHECK (1): after a commit, for what CometBFT's mempool still holds.
    if (req.type === 1) {
      const held = this.#m.mempool.holds(raw);
      if (held === null) return check_answer({ ok: false, code: 7, message: 'not a transaction' });
      if (held) return ResponseCheckTx.fromPartial({});
      return ResponseCheckTx.fromPartial({
        code: COMET_CHECK_CODES.not_held,
        log: 'committed or no longer valid',
        codespace: CODESPACE,
      });
    }
    return check_answer(await this.#m.mempool.add(raw, 'client'));
  }

  /** CometBFT's mempool transactions in its order, as many as Cloister's block limits take. */
  prepare_proposal(req: abci.RequestPrepareProposal): abci.ResponsePrepareProposal {
    const { block } = this.#opts;
    const bytes_max = Math.min(block.bytes_max, Number(req.maxTxBytes));
    const txs: Uint8Array[] = [];
    let bytes = 0;
    let gas = 0;
    let code_bytes = 0;
    // Senders one of whose transactions was left out: their later ones wait too (as Mempool.reap),
    // or they would commit with a wrong sequence and drop out of CometBFT's mempool for good.
    const held_back = new Set<string>();
    for (const tx of req.txs) {
      if (txs.length >= block.txs_max) break;
      const facts = tx_facts(tx);
      // Not a transaction: left out (ProcessProposal would refuse the block).
      if (facts === null || held_back.has(facts.sender)) continue;
      const fits =
        bytes + tx.length <= bytes_max &&
        gas + facts.gas_limit <= block.gas_max &&
        !(facts.store_code && code_bytes + tx.length > STORE_CODE_BLOCK_BYTES_MAX);
      if (!fits) {
        held_back.add(facts.sender);
        continue;
      }
      txs.push(tx);
      bytes += tx.length;
      gas += facts.gas_limit;
      if (facts.store_code) code_bytes += tx.length;
    }
    return ResponsePrepareProposal.fromPartial({ txs });
  }

  /** Accepts a proposal only within Cloister's block limits, every transaction one. */
  process_proposal(req: abci.RequestProcessProposal): abci.ResponseProcessProposal {
    const ACCEPT = 1;
    const REJECT = 2;
    const why = this.#proposal_error(req.txs);
    if (why !== null) this.#m.log('proposal_invalid', { height: Number(req.height), reason: why });
    return ResponseProcessProposal.fromPartial({ status: why === null ? ACCEPT : REJECT });
  }

  #proposal_error(txs: readonly Uint8Array[]): string | null {
    const { block } = this.#opts;
    if (txs.length > block.txs_max) return `over ${block.txs_max} transactions`;
    let bytes = 0;
    let gas = 0;
    let code_bytes = 0;
    for (const tx of txs) {
      const facts = tx_facts(tx);
      if (facts === null) return 'a transaction that is not one';
      bytes += tx.length;
      gas += facts.gas_limit;
      if (facts.store_code) code_bytes += tx.length;
    }
    if (bytes > block.bytes_max) return `over ${block.bytes_max} bytes`;
    if (gas > block.gas_max) return `over ${block.gas_max} gas`;
    if (code_bytes > STORE_CODE_BLOCK_BYTES_MAX) return `store_code over ${STORE_CODE_BLOCK_BYTES_MAX} bytes`;
    return null;
  }

  /**
   * Executes the decided block in the enclave and answers its results and app hash. The previous
   * block's results are final now: CometBFT committed this block, whose header carries their app
   * hash, only because more than 2/3 of the voting power computed the same.
   */
  async finalize_block(req: abci.RequestFinalizeBlock): Promise<abci.ResponseFinalizeBlock> {
    const { store } = this.#m;
    const height = Number(req.height);
    if (height !== store.height() + 1)
      throw new Error(`FinalizeBlock at height ${height}, but this node has committed ${store.height()}`);
    await this.#announce_final();
    await this.#last_app_hash();
    const txs = req.txs.map((tx) => decode_tx(tx) ?? '');
    let executed: Executed;
    try {
      executed = await this.#execute(height, txs, req.proposerAddress);
    } catch (error) {
      // CometBFT stops on the exception this becomes: the node cannot go on without this block.
      const reason = (error as Error).message;
      this.#m.log('halted', { height, reason });
      this.#m.on_halt(height, reason);
      throw error;
    }
    // The light state moves now, before Commit: a crash in between leaves it at this height and
    // the store one below, and the light client takes this block again (enclave/light_comet.ts).
    // Written after Commit instead, a crash there left it a height behind a block it never takes.
    if (executed.sealed_light !== undefined) await store.put_sealed('light', executed.sealed_light);
    this.#pending = executed;
    return ResponseFinalizeBlock.fromPartial({
      txResults: executed.output.results.map(tx_result),
      appHash: executed.app_hash,
    });
  }

  /**
   * Executes the block at `height` through the enclave's light client, asking for its signed
   * header again (from the next source: `signed_header`'s `attempt`) when the enclave refuses the
   * evidence, since a peer's RPC may answer anything; a failure that is not the evidence's is
   * tried once more, then stops the node.
   */
  async #execute(height: number, txs: string[], proposer_address: Uint8Array): Promise<Executed> {
    const { store, enclave } = this.#m;
    const { genesis } = this.#opts;
    const validators = genesis.validators.map(({ pubkey, power }) => ({ pubkey, power }));
    let last = '';
    let failures = 0;
    for (let attempt = 0; attempt < EVIDENCE_ATTEMPTS_MAX && failures < EXECUTION_ATTEMPTS_MAX; attempt++) {
      const signed_header = await this.#m.signed_header(height, attempt);
      let facts: ReturnType<typeof comet_block_facts>;
      try {
        facts = comet_block_facts(signed_header, height);
      } catch (error) {
        last = `bad signed header: ${(error as Error).message}`;
        this.#m.log('signed_header_refused', { height, attempt, error: last });
        continue;
      }
      const input0 = await store.block_input(
        txs,
        { chain_id: genesis.chain_id, height, time_ms: facts.time_ms, random_seed: facts.random_seed },
        this.#rules,
      );
      const sealed_light = await store.get_sealed('light');
      if (sealed_light === null)
        throw new Error('no sealed light state: this home was not made for CometBFT');
      const light = { engine: 'cometbft' as const, signed_header, validators, sealed_light };
      const answer = await execute_with_lookups(store, enclave, input0, light);
      if (answer.ok) {
        const { sealed_light: next_light, ...output } = answer.value.output;
        return this.#record(answer.value.input, output, next_light, proposer_address);
      }
      last = `${answer.error.code} ${answer.error.message}`;
      this.#m.log('block_execution_failed', { phase: 'finalize', height, attempt, error: last });
      if (answer.error.code === 'CLOSED') break;
      // The light client refused the evidence: ask the next source; anything else counts.
      if (!(answer.error.code === 'BAD_INPUT' && answer.error.message.startsWith('light client:')))
        failures++;
    }
    throw new Error(
      `cannot execute the committed block at height ${height} (${last}): refusing to go on without it`,
    );
  }

  /** Cloister's record of an executed CometBFT block (what the store keeps and the RPC serves). */
  #record(
    input: BlockInput,
    output: BlockOutput,
    sealed_light: string | undefined,
    proposer_address: Uint8Array,
  ): Executed {
    const { p, store } = this.#m;
    const last = store.last_block();
    const height = input.height;
    const last_commit = last === null ? null : { ...last.commit, signatures: [] };
    const header: BlockHeader = {
      chain_id: input.chain_id,
      height,
      round: 0,
      time_ms: input.time_ms,
      proposer: comet_proposer(p, this.#opts.genesis.validators, proposer_address),
      prev_block_hash: last?.block_hash ?? GENESIS_PARENT_HASH,
      txs_hash: txs_hash(p, input.txs),
      last_commit_hash: commit_hash(p, last_commit),
      result_hash: output.result_hash,
      exec_signature: NO_EXEC_SIGNATURE,
    };
    const hash = block_hash(p, header);
    const block: Block = { header, txs: [...input.txs], last_commit };
    const commit: Commit = { height, round: 0, block_hash: hash, signatures: [] };
    // The record's hash commits to the results and, through its parent, to every earlier block.
    const app_hash = input.txs.length > 0 ? from_hex(hash, 32) : (this.#app_hash ?? new Uint8Array(0));
    return { block, commit, hash, input, output, sealed_light, app_hash };
  }

  /** Persists the block FinalizeBlock executed (its light state moved then): block and results. */
  async commit(_req: abci.RequestCommit): Promise<abci.ResponseCommit> {
    const executed = this.#pending;
    if (executed === null) throw new Error('Commit without FinalizeBlock');
    const { store, mempool } = this.#m;
    await store.commit_block({
      block: executed.block,
      commit: executed.commit,
      block_hash: executed.hash,
      input: executed.input,
      output: executed.output,
    });
    this.#pending = null;
    this.#app_hash = executed.app_hash;
    this.#unfinal = executed;
    await mempool.update(executed.block.txs);
    this.#m.log('block_stored', { height: executed.block.header.height, txs: executed.block.txs.length });
    return ResponseCommit.fromPartial({ retainHeight: 0n });
  }

  /**
   * The last committed block's results are final: announce them (from memory, or from the store
   * for a block committed before this process started).
   */
  async #announce_final(): Promise<void> {
    const done = this.#unfinal;
    const stored = this.#stored_unfinal;
    this.#unfinal = null;
    this.#stored_unfinal = null;
    if (done !== null) {
      const height = done.block.header.height;
      const txs = done.output.results.map((r, index) => ({ ...r, height, index }));
      this.#m.on_final(done.block, done.hash, txs);
      return;
    }
    if (stored === null) return;
    const { store } = this.#m;
    const record = await store.get_block(stored);
    if (record === null) throw new Error(`invariant: committed block ${stored} is missing`);
    const txs = await Promise.all(record.tx_hashes.map((hash) => store.get_tx(hash)));
    this.#m.on_final(
      record.block,
      record.block_hash,
      txs.filter((t): t is TxRecord => t !== null),
    );
  }

  /**
   * Whether the network agreed other results than this node's for its last committed height:
   * `signed_header` (a peer's `/commit?height=H+1`) is CometBFT's commit of height H+1 by more than
   * 2/3 of the validators, and the app hash in its header (that of height H) is not this node's.
   * Its CometBFT then refuses H+1 and decides no more (a `CONSENSUS FAILURE`), and FinalizeBlock
   * never comes: this is how the node learns it must halt. Null when there is nothing to say (not
   * that height, not a valid commit, or the same app hash); otherwise the reason, and the node is
   * halted (`on_halt`). Never throws.
   */
  async check_divergence(signed_header: unknown): Promise<string | null> {
    const { p, store } = this.#m;
    const height = store.height();
    if (!this.awaiting_agreement()) return null;
    let parsed: ReturnType<typeof parse_signed_header>;
    try {
      parsed = parse_signed_header(signed_header);
    } catch {
      return null;
    }
    const { header, commit } = parsed;
    if (Number(header.height) !== height + 1) return null;
    const { genesis } = this.#opts;
    const validators = genesis.validators.map((v) => ({
      pubkey: from_hex(v.pubkey, 32),
      power: BigInt(v.power),
    }));
    if (verify_comet_commit(p, genesis.chain_id, validators, header, commit) !== null) return null;
    const own = await this.#last_app_hash();
    if (to_hex(header.app_hash) === to_hex(own)) return null;
    const reason = `the network committed app hash ${to_hex(header.app_hash).slice(0, 16)}… for height ${height}, this node ${to_hex(own).slice(0, 16)}…: its results differ, refusing to go on`;
    this.#m.log('halted', { height: height + 1, reason });
    this.#m.on_halt(height + 1, reason);
    return reason;
  }

  /**
   * Whether the last committed height changed the app hash and the next has not committed it yet
   * (after a restart: whether a stored height waits): what {@link check_divergence} watches.
   */
  awaiting_agreement(): boolean {
    if (this.#stored_unfinal !== null) return true;
    return this.#unfinal !== null && this.#unfinal.block.txs.length > 0;
  }

  /** The height whose results are final: the last committed one, less one while it waits. */
  final_height(): number {
    const waiting = this.#unfinal !== null || this.#stored_unfinal !== null;
    return this.#m.store.height() - (waiting ? 1 : 0);
  }

  /**
   * An encrypted query over ABCI (CometBFT's `abci_query`): path `/contract/<address>` and data
   * the JSON body of protocol.md §6's `POST /v1/contracts/{address}/query` (`{"scheme", "payload"}`);
   * the answer's `value` is that endpoint's JSON answer (`{"code", "output"}`, the output sealed
   * for the client). Any other path, or a body that is not one, answers code 7; no contract at the
   * address, code 6. Never throws.
   */
  async query(req: abci.RequestQuery): Promise<abci.ResponseQuery> {
    const height = BigInt(this.#m.store.height());
    const answer = (code: number, log: string, value: Uint8Array = new Uint8Array(0)) =>
      ResponseQuery.fromPartial({ code, log, value, height, codespace: code === 0 ? '' : CODESPACE });
    const m = /^\/contract\/([0-9a-f]{40})$/.exec(req.path);
    const body = parse_query_body(req.data);
    if (m === null || body === null)
      return answer(7, 'query path /contract/<address> with data {"scheme": "gcm"|"siv", "payload": base64}');
    try {
      const result = await this.#m.query(m[1]!, body);
      if (result === null) return answer(6, `no contract at ${m[1]}`);
      if ('ok' in result) return answer(typeof result.code === 'number' ? result.code : 1, result.message);
      return answer(0, '', new TextEncoder().encode(JSON.stringify(result)));
    } catch (error) {
      return answer(1, `query failed: ${(error as Error).message}`);
    }
  }
}

/** The JSON body of an encrypted query, or null when `data` is not one. */
function parse_query_body(data: Uint8Array): { scheme: 'gcm' | 'siv'; payload: string } | null {
  const text = decode_tx(data);
  if (text === null) return null;
  try {
    // As Cloister's RPC reads the same body: a key given twice is refused.
    const v = parse_json_strict(text) as { scheme?: unknown; payload?: unknown };
    if (typeof v !== 'object' || v === null) return null;
    if ((v.scheme !== 'gcm' && v.scheme !== 'siv') || typeof v.payload !== 'string') return null;
    return { scheme: v.scheme, payload: v.payload };
  } catch {
    return null;
  }
}

// ignoreBOM: a leading U+FEFF stays in the text (and the transaction does not parse), so the text
// is always exactly the bytes CometBFT holds: the enclave recomputes the block's data hash from it.
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A transaction's text: its bytes as strict UTF-8, null when they are not. */
function decode_tx(tx: Uint8Array): string | null {
  try {
    return STRICT_UTF8.decode(tx);
  } catch {
    return null;
  }
}

/** A transaction's gas limit and whether it stores code; null when the bytes are not a transaction. */
function tx_facts(tx: Uint8Array): { gas_limit: number; store_code: boolean; sender: string } | null {
  const raw = decode_tx(tx);
  if (raw === null) return null;
  try {
    const body = parse_tx_json(raw).body;
    return { gas_limit: body.gas_limit, store_code: body.msg.type === 'store_code', sender: body.sender };
  } catch (error) {
    if (error instanceof MalformedTxError) return null;
    throw error;
  }
}

/** The mempool's verdict as CheckTx's: code 0, or the refusal's code and words. */
function check_answer(added: MempoolAdd): abci.ResponseCheckTx {
  if (added.ok) return ResponseCheckTx.fromPartial({});
  const code = typeof added.code === 'number' ? added.code : COMET_CHECK_CODES[added.code];
  return ResponseCheckTx.fromPartial({ code, log: added.message, codespace: CODESPACE });
}

/** One transaction's result as ABCI's: its code, gas and sealed output (`data`). */
function tx_result(r: TxResult): abci.ExecTxResult {
  return ExecTxResult.fromPartial({
    code: r.code,
    data: r.output === '' ? new Uint8Array(0) : from_base64(r.output),
    info: r.hash,
    gasUsed: BigInt(r.gas_used),
    codespace: r.code === 0 ? '' : CODESPACE,
  });
}
