/**
 * The exact JSON shapes the RPC answers (protocol.md §6) and the checks on what clients send:
 * path parameters and request bodies. Answers are rebuilt field by field, in the order of
 * protocol.md §6, so a backend that carries extra fields never leaks them onto the wire.
 * @module
 */

import { FAUCET_AMOUNT_DEFAULT, FAUCET_AMOUNT_MAX, type PublicEvent } from '../../protocol/bank.js';
import { from_base64 } from '../../protocol/bytes.js';
import { is_address_hex, is_hex64 } from '../../protocol/checks.js';
import { ResultCode } from '../../protocol/codes.js';
import { is_scheme, type Scheme } from '../../protocol/envelope.js';
import { MalformedTxError, parse_tx, type Tx } from '../../protocol/tx.js';
import type { TxRecord } from '../records.js';
import { bad_request, RpcError } from './errors.js';
import type {
  AccountAnswer,
  ContractAnswer,
  ContractListFilter,
  HaltInfo,
  ListPage,
  RpcStatus,
  StreamedEvent,
  TxListFilter,
} from './types.js';

// At most 16 digits and no leading zero: one spelling per height, and nothing near 2^53 is lost.
const HEIGHT_RE = /^[1-9][0-9]{0,15}$/;
// Keys a client puts in a query body are echoed in the error message; cut them short.
const ECHOED_KEY_CHARS_MAX = 64;

/** A path's transaction hash: 64 lowercase hex, else 400 code 106. */
export function check_hash(value: string): string {
  if (!is_hex64(value)) throw bad_request('transaction hash must be 64 lowercase hex characters');
  return value;
}

/** A path's contract or account address: 40 lowercase hex, else 400 code 106. */
export function check_address(value: string): string {
  if (!is_address_hex(value)) throw bad_request('address must be 40 lowercase hex characters');
  return value;
}

/** A path's block height: a positive safe integer in plain decimal, else 400 code 106. */
export function check_height(value: string): number {
  const height = HEIGHT_RE.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(height)) throw bad_request('height must be a positive integer below 2^53');
  return height;
}

/** 400 code 7, malformed input. */
function malformed(message: string): RpcError {
  return new RpcError(400, ResultCode.MALFORMED_TX, message);
}

/** `JSON.parse` of a request body, or 400 code 7 saying why not. */
export function parse_json_body(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    // V8's SyntaxError names the position, which helps; it carries nothing of the node's.
    throw malformed(`request body is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * Checks a submitted transaction's shape (protocol.md §5) before the backend sees it, so a client
 * learns exactly what is wrong: 400 code 7 naming the first problem. Returns the checked
 * transaction, which the backend takes instead of parsing the text again.
 */
export function check_tx(value: unknown): Tx {
  try {
    return parse_tx(value);
  } catch (error) {
    if (error instanceof MalformedTxError) throw malformed(`malformed transaction: ${error.message}`);
    throw error;
  }
}

/**
 * A query body `{"scheme", "payload"}`. `scheme` may be left out and is then `gcm`, the default
 * of protocol.md §3; `payload` must be standard padded base64; no other field is allowed.
 * Anything else is 400 code 7 saying what is wrong.
 */
export function parse_query_body(value: unknown): { scheme: Scheme; payload: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed('query body must be a JSON object {"scheme", "payload"}');
  }
  const body = value as Record<string, unknown>;
  for (const key of Object.keys(body)) {
    if (key !== 'scheme' && key !== 'payload') {
      throw malformed(
        `query body has unexpected field ${JSON.stringify(key.slice(0, ECHOED_KEY_CHARS_MAX))}`,
      );
    }
  }
  const scheme = body['scheme'] ?? 'gcm';
  if (!is_scheme(scheme)) throw malformed('query scheme must be "gcm" or "siv"');
  const payload = body['payload'];
  if (typeof payload !== 'string') throw malformed('query payload must be a base64 string');
  try {
    from_base64(payload);
  } catch {
    throw malformed('query payload must be standard padded base64');
  }
  return { scheme, payload };
}

/** A committed transaction as the RPC shows it: its record with `events` always present. */
export type TxAnswer = TxRecord & { events: PublicEvent[] };

/**
 * `GET /v1/txs/{hash}`: `{"hash", "height", "index", "code", "gas_used", "output", "contract"?,
 * "code_id"?, "events"}`. `events` (protocol.md §9) lists the transaction's public events
 * `{"type", "attributes", "contract"}` (`contract`: the contract that emitted it, an addition) and
 * is `[]` when it has none, so a client never needs to tell absent from empty.
 */
export function tx_json(record: TxRecord): TxAnswer {
  const out: TxRecord = {
    hash: record.hash,
    height: record.height,
    index: record.index,
    code: record.code,
    gas_used: record.gas_used,
    output: record.output,
  };
  if (record.contract !== undefined) out.contract = record.contract;
  if (record.code_id !== undefined) out.code_id = record.code_id;
  return { ...out, events: (record.events ?? []).map(event_json) };
}

/** One public event, field by field: `{"type", "attributes": [{"key", "value"}], "contract"}`. */
function event_json(e: PublicEvent): PublicEvent {
  return {
    type: e.type,
    attributes: e.attributes.map((a) => ({ key: a.key, value: a.value })),
    contract: e.contract,
  };
}

/**
 * `GET /v1/status`: protocol.md §6's fields, then §9's `min_gas_price`, then `dev` (an addition:
 * whether this is a development network), then `contracts` (an addition: the system contracts by
 * name, `{}` on an older network), then the additions `peers` (connected validators' keys),
 * `mempool` (its size) and `last_block_time_ms` (null before the first block), then
 * `halted: {"height", "reason"}` when the node halted (absent while it runs).
 */
export function status_json(s: RpcStatus, halt: HaltInfo | null = null): RpcStatus {
  const out: RpcStatus = {
    chain_id: s.chain_id,
    height: s.height,
    io_pubkey: s.io_pubkey,
    seed_exchange_pubkey: s.seed_exchange_pubkey,
    validator: s.validator,
    validators: s.validators.map((v) => ({ pubkey: v.pubkey, power: v.power })),
    min_gas_price: s.min_gas_price,
    dev: s.dev,
    contracts: { ...(s.contracts ?? {}) },
    peers: [...(s.peers ?? [])],
    mempool: s.mempool ?? 0,
    last_block_time_ms: s.last_block_time_ms ?? null,
  };
  if (halt !== null) out.halted = { height: halt.height, reason: halt.reason };
  return out;
}

/**
 * `GET /v1/contracts/{address}`: `{"address", "code_id", "code_hash", "label", "creator",
 * "balance"}`. Copied field by field: what else the backend's object holds (the store's
 * `binding`, the enclave's MAC that ties the contract to its code) never reaches the wire.
 */
export function contract_json(c: ContractAnswer): ContractAnswer {
  return {
    address: c.address,
    code_id: c.code_id,
    code_hash: c.code_hash,
    label: c.label,
    creator: c.creator,
    balance: c.balance,
  };
}

/** `GET /v1/accounts/{address}`: `{"address", "sequence", "balance"}` (protocol.md §9). */
export function account_json(a: AccountAnswer): AccountAnswer {
  return { address: a.address, sequence: a.sequence, balance: a.balance };
}

/**
 * The body of `POST /v1/faucet` (protocol.md §9): `{"address", "amount"?}`, nothing else.
 * `address` is 40 lowercase hex; `amount` a positive integer of ucst, at most FAUCET_AMOUNT_MAX
 * (protocol/bank.ts), FAUCET_AMOUNT_DEFAULT when left out. Anything else is 400 code 106 saying
 * what is wrong.
 */
export function parse_faucet_body(text: string): { address: string; amount: number } {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw bad_request(`request body is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad_request('faucet body must be a JSON object {"address", "amount"?}');
  const body = value as Record<string, unknown>;
  for (const key of Object.keys(body)) {
    if (key !== 'address' && key !== 'amount') {
      throw bad_request(
        `faucet body has unexpected field ${JSON.stringify(key.slice(0, ECHOED_KEY_CHARS_MAX))}`,
      );
    }
  }
  const address = body['address'];
  if (!is_address_hex(address)) throw bad_request('faucet address must be 40 lowercase hex characters');
  const amount = Object.hasOwn(body, 'amount') ? body['amount'] : FAUCET_AMOUNT_DEFAULT;
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0)
    throw bad_request('faucet amount must be a positive integer of ucst');
  if (amount > FAUCET_AMOUNT_MAX)
    throw bad_request(`faucet amount must be at most ${FAUCET_AMOUNT_MAX} ucst per request, not ${amount}`);
  return { address, amount };
}

/**
 * `GET /v1/codes`: `[{"code_id", "code_hash", "name"?, "contract"?}]` in the backend's order;
 * `contract` (an addition) is the address of a system contract genesis made of that code.
 */
export function codes_json(
  codes: readonly { code_id: number; code_hash: string; name?: string; contract?: string }[],
): { code_id: number; code_hash: string; name?: string; contract?: string }[] {
  return codes.map((c) => {
    const out: { code_id: number; code_hash: string; name?: string; contract?: string } = {
      code_id: c.code_id,
      code_hash: c.code_hash,
    };
    if (c.name !== undefined) out.name = c.name;
    if (c.contract !== undefined) out.contract = c.contract;
    return out;
  });
}

/** `GET /v1/blocks/{height}`: `{"header", "block_hash", "tx_hashes", "commit"}`. */
export function block_json(b: {
  header: unknown;
  block_hash: string;
  tx_hashes: string[];
  commit: unknown;
}): {
  header: unknown;
  block_hash: string;
  tx_hashes: string[];
  commit: unknown;
} {
  return { header: b.header, block_hash: b.block_hash, tx_hashes: [...b.tx_hashes], commit: b.commit };
}

/**
 * One server-sent event: `event: block|tx`, then `data:` the JSON of the event without its
 * `type` (a tx event's data is exactly the `GET /v1/txs/{hash}` answer).
 */
export function event_frame(event: StreamedEvent): string {
  const data =
    event.type === 'block'
      ? { height: event.height, block_hash: event.block_hash, time_ms: event.time_ms, txs: event.txs }
      : tx_json(event);
  // JSON.stringify never emits a raw newline, so the data fits on the one `data:` line.
  return `event: ${event.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Most items of one listing page, and the default (docs/protocol-notes.md "Discovery and status"). */
export const LIST_LIMIT_MAX = 100;
export const LIST_LIMIT_DEFAULT = 20;
const LIMIT_RE = /^[1-9][0-9]{0,2}$/;
const CODE_ID_RE = /^[1-9][0-9]{0,15}$/;
/** A cursor is base64url; its meaning is the store's to check. */
const CURSOR_RE = /^[A-Za-z0-9_-]{1,256}$/;
const LABEL_CHARS_MAX = 128;

/**
 * The query string of a listing: only `names` and `limit`, `cursor`, each at most once; anything
 * else is 400 code 106 naming it. Returns the named values given (not yet checked) and the page.
 */
function list_query(
  query: URLSearchParams,
  names: readonly string[],
): { given: Map<string, string>; page: ListPage } {
  const given = new Map<string, string>();
  for (const [name, value] of query) {
    if (!names.includes(name) && name !== 'limit' && name !== 'cursor')
      throw bad_request(
        `unknown query parameter ${JSON.stringify(name.slice(0, ECHOED_KEY_CHARS_MAX))} (allowed: ${[...names, 'limit', 'cursor'].join(', ')})`,
      );
    if (given.has(name)) throw bad_request(`query parameter ${name} is given more than once`);
    given.set(name, value);
  }
  const limit_text = given.get('limit');
  let limit = LIST_LIMIT_DEFAULT;
  if (limit_text !== undefined) {
    limit = LIMIT_RE.test(limit_text) ? Number(limit_text) : 0;
    if (limit < 1 || limit > LIST_LIMIT_MAX)
      throw bad_request(`limit must be an integer from 1 to ${LIST_LIMIT_MAX}`);
  }
  const cursor = given.get('cursor') ?? null;
  if (cursor !== null && !CURSOR_RE.test(cursor))
    throw bad_request(
      'cursor must be the cursor a previous page answered (base64url, at most 256 characters)',
    );
  given.delete('limit');
  given.delete('cursor');
  return { given, page: { limit, cursor } };
}

function query_address(name: string, value: string): string {
  if (!is_address_hex(value)) throw bad_request(`${name} must be 40 lowercase hex characters`);
  return value;
}

/**
 * `GET /v1/contracts?code_id=&creator=&label=&limit=&cursor=`: `code_id` a positive integer,
 * `creator` an address (40 lowercase hex), `label` 1-128 characters (exact match), `limit` 1-100
 * (default 20), `cursor` from a previous page. 400 code 106 for anything else.
 */
export function parse_contracts_query(query: URLSearchParams): {
  filter: ContractListFilter;
  page: ListPage;
} {
  const { given, page } = list_query(query, ['code_id', 'creator', 'label']);
  const filter: ContractListFilter = {};
  const code_id = given.get('code_id');
  if (code_id !== undefined) {
    if (!CODE_ID_RE.test(code_id) || !Number.isSafeInteger(Number(code_id)))
      throw bad_request('code_id must be a positive integer below 2^53');
    filter.code_id = Number(code_id);
  }
  const creator = given.get('creator');
  if (creator !== undefined) filter.creator = query_address('creator', creator);
  const label = given.get('label');
  if (label !== undefined) {
    if (label.length === 0 || [...label].length > LABEL_CHARS_MAX)
      throw bad_request(`label must be 1-${LABEL_CHARS_MAX} characters`);
    filter.label = label;
  }
  return { filter, page };
}

/**
 * `GET /v1/txs?sender=&contract=&limit=&cursor=`: at least one of `sender` (an account address)
 * and `contract` (a contract address); `limit` and `cursor` as for contracts. 400 code 106 else.
 */
export function parse_txs_query(query: URLSearchParams): { filter: TxListFilter; page: ListPage } {
  const { given, page } = list_query(query, ['sender', 'contract']);
  const filter: TxListFilter = {};
  const sender = given.get('sender');
  if (sender !== undefined) filter.sender = query_address('sender', sender);
  const contract = given.get('contract');
  if (contract !== undefined) filter.contract = query_address('contract', contract);
  if (sender === undefined && contract === undefined)
    throw bad_request('GET /v1/txs needs sender or contract (or both)');
  return { filter, page };
}

/** `GET /v1/contracts`: `{"contracts": [GET /v1/contracts/{address} answers], "cursor": string|null}`. */
export function contracts_page_json(page: { contracts: ContractAnswer[]; cursor: string | null }): {
  contracts: ContractAnswer[];
  cursor: string | null;
} {
  return { contracts: page.contracts.map(contract_json), cursor: page.cursor };
}

/** `GET /v1/txs`: `{"txs": [GET /v1/txs/{hash} answers], "cursor": string|null}`, newest first. */
export function txs_page_json(page: { txs: TxRecord[]; cursor: string | null }): {
  txs: TxAnswer[];
  cursor: string | null;
} {
  return { txs: page.txs.map(tx_json), cursor: page.cursor };
}
