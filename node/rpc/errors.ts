/**
 * RPC errors: every error answer is `{"error": {"code": n, "message": s}}` (protocol.md §6). The
 * code is the protocol.md §5 code where one applies (3, 4, 5, 6, 7), otherwise one of
 * {@link RpcErrorCode}, all ≥ 100 so they never collide with §5.
 * @module
 */

/** The RPC's own error codes, beside protocol.md §5's and §9's 0-8. */
export const RpcErrorCode = {
  /** 404: no such route (`POST /v1/faucet` on a network that is not a development network), or the transaction or block is not committed (yet). */
  NOT_FOUND: 100,
  /** 413: the request body is over the node's limit. */
  BODY_TOO_LARGE: 101,
  /** 503: mempool full, too many requests or live streams, or the node is stopping. */
  BUSY: 102,
  /** 504: not committed within the wait; 408: the client was too slow to send its request. */
  TIMEOUT: 103,
  /** 500: the node failed; details are in its log, never in the answer. */
  INTERNAL: 104,
  /** 405: the route exists but not for this method (see the Allow header). */
  METHOD_NOT_ALLOWED: 105,
  /** 400, 414, 431: bad path parameter, query string or HTTP framing; request target or headers too long. */
  BAD_REQUEST: 106,
  /** 415: a POST body that is not `application/json` (UTF-8). */
  UNSUPPORTED_MEDIA_TYPE: 107,
  /**
   * 503: this validator halted (its own results differ from what the network committed): it takes
   * no transactions, opens no live streams, and answers nothing that may have changed since it
   * halted. Another node can; `GET /v1/status` says why.
   */
  HALTED: 108,
  /**
   * 503: the enclave could not run this query for a reason that is not a result (its worker died,
   * or the call ran past the enclave's deadline). Nothing changed; the query may succeed later.
   */
  ENCLAVE_FAILED: 109,
  /** 429: this client (remote address) holds as many live streams as one may (see Retry-After). */
  TOO_MANY_STREAMS: 110,
  /**
   * 422: the transaction is quarantined on this node (its execution made this node's enclave fail,
   * node/quarantine.ts) and is refused at submission until the quarantine lets it go.
   */
  QUARANTINED: 111,
  /**
   * 429: this address asked the faucet (`POST /v1/faucet`, protocol.md §9) as often as one may in
   * the faucet's window on this node; Retry-After says in how many seconds it may ask again.
   */
  RATE_LIMITED: 112,
} as const;

/** One of {@link RpcErrorCode}'s values. */
export type RpcErrorCode = (typeof RpcErrorCode)[keyof typeof RpcErrorCode];

/** An error answer: HTTP status, error code, client-facing message and any extra headers. */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  /**
   * @param status HTTP status.
   * @param code protocol.md §5 code or {@link RpcErrorCode}.
   * @param message shown to the client as it is: never put internals in it.
   * @param headers extra response headers (e.g. Allow, Retry-After).
   */
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** Thrown when the client went away mid-request: there is no one to answer. */
export class ClientGoneError extends Error {
  override readonly name = 'ClientGoneError';
}

/** The JSON body of an error answer. */
export function error_body(code: number, message: string): { error: { code: number; message: string } } {
  return { error: { code, message } };
}

/** 404 code 100. */
export function not_found(message: string): RpcError {
  return new RpcError(404, RpcErrorCode.NOT_FOUND, message);
}

/** 503 code 102, with a hint to retry after a second. */
export function busy(message: string): RpcError {
  return new RpcError(503, RpcErrorCode.BUSY, message, { 'retry-after': '1' });
}

/**
 * 503 code 108: the node halted at `height`. No Retry-After: it stays halted until its operator
 * acts, so a client should go to another node (`GET /v1/status` names the reason).
 */
export function halted(height: number): RpcError {
  return new RpcError(
    503,
    RpcErrorCode.HALTED,
    `this node halted at height ${height} and commits nothing more: use another node`,
  );
}

/** 400 code 106: a bad path parameter or query string. */
export function bad_request(message: string): RpcError {
  return new RpcError(400, RpcErrorCode.BAD_REQUEST, message);
}
