/**
 * What a Cloister application asks of CometBFT's own RPC (CometBFT v0.38 `rpc/core`, JSON over
 * HTTP GET): the signed header of a committed height (`/commit`, the evidence the enclave's light
 * client needs, enclave/light_comet.ts) and a transaction's entry into CometBFT's mempool
 * (`/broadcast_tx_sync`, which answers with our own `CheckTx` verdict). docs/cometbft.md.
 * @module
 */

import { to_base64 } from '../../protocol/bytes.js';

/** How long FinalizeBlock keeps asking for a block's signed header, and how often. */
export const SIGNED_HEADER_TIMEOUT_MS = 120_000;
export const SIGNED_HEADER_RETRY_MS = 200;
/** One GET to CometBFT's RPC gives up after this long. */
const RPC_TIMEOUT_MS = 5_000;
/** An answer over this many bytes is refused (a signed header of 100 validators is about 30 KiB). */
const ANSWER_BYTES_MAX = 4 * 1024 * 1024;

/** CometBFT's RPC could not be reached, or answered something that is not a JSON-RPC result. */
export class CometRpcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CometRpcError';
  }
}

/**
 * GET `url` (or POST `post` to it as a JSON-RPC 2.0 call), parsed as a JSON-RPC 2.0 answer: its
 * `result`, or its `error` as a CometRpcError.
 */
async function get_result(
  url: string,
  post?: { method: string; params: Record<string, unknown> },
): Promise<unknown> {
  let response: Response;
  try {
    const init: RequestInit =
      post === undefined
        ? {}
        : {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ jsonrpc: '2.0', id: 1, ...post }),
          };
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(RPC_TIMEOUT_MS) });
  } catch (error) {
    throw new CometRpcError(`${url}: ${(error as Error).message}`);
  }
  const text = await response.text();
  if (text.length > ANSWER_BYTES_MAX)
    throw new CometRpcError(`${url}: answer over ${ANSWER_BYTES_MAX} bytes`);
  let body: { result?: unknown; error?: { message?: string; data?: string } };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new CometRpcError(`${url}: answer is not JSON (HTTP ${response.status})`);
  }
  if (body.error !== undefined)
    throw new CometRpcError(`${url}: ${body.error.message ?? 'error'} ${body.error.data ?? ''}`.trim());
  if (body.result === undefined) throw new CometRpcError(`${url}: no result`);
  return body.result;
}

/**
 * `result.signed_header` of `/commit?height=H` from the first of `urls` that has it: the node's
 * own CometBFT first, then its peers' (a signed header proves itself: the enclave verifies its
 * signatures, so where it comes from does not matter). While CometBFT replays blocks at start-up
 * its own RPC is not listening yet, which is why peers are asked too. Tries every `retry_ms` until
 * `timeout_ms` passes, then throws the last error.
 */
export async function fetch_signed_header(
  urls: readonly string[],
  height: number,
  opts: { timeout_ms: number; retry_ms: number; wait: (ms: number) => Promise<void>; now_ms: () => number },
): Promise<unknown> {
  if (urls.length === 0) throw new RangeError('no CometBFT RPC to ask');
  if (!Number.isSafeInteger(height) || height < 1) throw new RangeError('height must be a positive integer');
  const deadline = opts.now_ms() + opts.timeout_ms;
  let last: Error = new CometRpcError('not asked');
  for (;;) {
    for (const url of urls) {
      try {
        const result = (await get_result(`${url}/commit?height=${height}`)) as { signed_header?: unknown };
        if (typeof result === 'object' && result !== null && result.signed_header !== undefined)
          return result.signed_header;
        last = new CometRpcError(`${url}: /commit has no signed_header`);
      } catch (error) {
        if (!(error instanceof CometRpcError)) throw error;
        last = error;
      }
    }
    if (opts.now_ms() >= deadline) throw last;
    await opts.wait(opts.retry_ms);
  }
}

/** CometBFT's answer to `broadcast_tx_sync`: the CheckTx code and log, and the tx hash (upper hex). */
export interface BroadcastAnswer {
  code: number;
  log: string;
  codespace: string;
  hash: string;
}

/**
 * Hands `tx` to CometBFT's mempool through `url`'s `broadcast_tx_sync` (a JSON-RPC POST: a
 * store_code transaction is too long for a URL) and answers its CheckTx verdict. CometBFT's own
 * refusals (its cache already holds the tx, its mempool is full) come back as a CometRpcError
 * whose message carries CometBFT's words.
 */
export async function broadcast_tx_sync(url: string, tx: Uint8Array): Promise<BroadcastAnswer> {
  const params = { tx: to_base64(tx) };
  const result = (await get_result(url, { method: 'broadcast_tx_sync', params })) as Record<string, unknown>;
  const code = result['code'];
  if (typeof code !== 'number' || !Number.isSafeInteger(code))
    throw new CometRpcError(`${url}: broadcast_tx_sync answered no code`);
  return {
    code,
    log: typeof result['log'] === 'string' ? result['log'] : '',
    codespace: typeof result['codespace'] === 'string' ? result['codespace'] : '',
    hash: typeof result['hash'] === 'string' ? result['hash'] : '',
  };
}
