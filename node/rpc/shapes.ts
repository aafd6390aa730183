/**
 * The exact JSON shapes the RPC answers (protocol.md §6) and the checks on what clients send:
 * path parameters and request bodies. Answers are rebuilt field by field, in the order of
 * protocol.md §6, so a backend that carries extra fields never leaks them onto the wire.
 * @module
 */

import type { ContractInfo } from '../../enclave/api.js';
import { from_base64 } from '../../protocol/bytes.js';
import { is_address_hex, is_hex64 } from '../../protocol/checks.js';
import { ResultCode } from '../../protocol/codes.js';
import { is_scheme, type Scheme } from '../../protocol/envelope.js';
import { MalformedTxError, parse_tx, type Tx } from '../../protocol/tx.js';
import type { TxRecord } from '../records.js';
import { bad_request, RpcError } from './errors.js';
import type { HaltInfo, RpcStatus, StreamedEvent } from './types.js';

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

/** `GET /v1/txs/{hash}`: `{"hash", "height", "index", "code", "gas_used", "output", "contract"?, "code_id"?}`. */
export function tx_json(record: TxRecord): TxRecord {
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
  return out;
}

/**
 * `GET /v1/status`, with `halted: {"height", "reason"}` last when the node halted (absent while it
 * runs, so a healthy node's answer is exactly protocol.md §6's).
 */
export function status_json(s: RpcStatus, halt: HaltInfo | null = null): RpcStatus {
  const out: RpcStatus = {
    chain_id: s.chain_id,
    height: s.height,
    io_pubkey: s.io_pubkey,
    seed_exchange_pubkey: s.seed_exchange_pubkey,
    validator: s.validator,
    validators: s.validators.map((v) => ({ pubkey: v.pubkey, power: v.power })),
  };
  if (halt !== null) out.halted = { height: halt.height, reason: halt.reason };
  return out;
}

/** `GET /v1/contracts/{address}`: `{"address", "code_id", "code_hash", "label", "creator"}`. */
export function contract_json(c: ContractInfo): ContractInfo {
  return {
    address: c.address,
    code_id: c.code_id,
    code_hash: c.code_hash,
    label: c.label,
    creator: c.creator,
  };
}

/** `GET /v1/codes`: `[{"code_id", "code_hash", "name"?}]` in the backend's order. */
export function codes_json(
  codes: readonly { code_id: number; code_hash: string; name?: string }[],
): { code_id: number; code_hash: string; name?: string }[] {
  return codes.map((c) =>
    c.name === undefined
      ? { code_id: c.code_id, code_hash: c.code_hash }
      : { code_id: c.code_id, code_hash: c.code_hash, name: c.name },
  );
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
