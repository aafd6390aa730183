/**
 * Typed errors of the client SDK. Every error a user can meet is a {@link CloisterError} with a
 * numeric `code`: the protocol.md §5 or §9 result code where one applies (1-8), the RPC's own
 * code (≥ 100, docs/protocol-notes.md "Error codes") when a node refused a request, or a
 * client-side code (≥ 200, {@link ClientErrorCode}) for what the client itself found. Messages
 * say what to do next, so a command line can print them as they are. Browser-safe.
 * @module
 */

/**
 * Every code a {@link CloisterError} can carry: protocol.md §5 and §9 result codes (1-8), the RPC's
 * codes (100-112, docs/protocol-notes.md) and the client's own (≥ 200).
 */
export const ClientErrorCode = {
  /** §5 code 1: the contract refused the message; its message is inside the sealed output. */
  CONTRACT_ERROR: 1,
  /** §5 code 2: the call used all of its gas. */
  OUT_OF_GAS: 2,
  /** §5 code 3: the enclave could not open the envelope (§3). */
  CANNOT_DECRYPT: 3,
  /** §5 code 4: bad signature (or a registration quote that fails). */
  BAD_SIGNATURE: 4,
  /** §5 code 5: the sequence is not the account's next one. */
  WRONG_SEQUENCE: 5,
  /** §5 code 6: unknown code id or contract address. */
  UNKNOWN_CODE_OR_CONTRACT: 6,
  /** §5 code 7: malformed transaction. */
  MALFORMED_TX: 7,
  /** §9 code 8: the sender cannot pay the fee or the funds, or its gas price is below the minimum. */
  INSUFFICIENT_FUNDS: 8,
  /** RPC 404: no such route, or the transaction or block is not committed (yet). */
  NOT_FOUND: 100,
  /** RPC 413: the request body is over the node's limit. */
  BODY_TOO_LARGE: 101,
  /** RPC 503: the node is busy or stopping. */
  BUSY: 102,
  /** RPC 504/408: the node's own wait ran out. */
  RPC_TIMEOUT: 103,
  /** RPC 500: the node failed (details are in its log). */
  INTERNAL: 104,
  /** RPC 405. */
  METHOD_NOT_ALLOWED: 105,
  /** RPC 400/414/431: bad path parameter, query string or HTTP framing. */
  BAD_REQUEST: 106,
  /** RPC 415. */
  UNSUPPORTED_MEDIA_TYPE: 107,
  /** RPC 503: the node halted (its results differ from the network's); another node may take the request. */
  HALTED: 108,
  /** RPC 503: the node's enclave could not run the query (worker died, deadline passed); nothing changed. */
  ENCLAVE_FAILED: 109,
  /** RPC 429: this client holds as many live event streams on the node as one address may. */
  TOO_MANY_STREAMS: 110,
  /** RPC 422: the node holds this transaction back (its execution made the node's enclave fail). */
  QUARANTINED: 111,
  /** RPC 429: this address asked the faucet too often; retry after the answer's Retry-After. */
  RATE_LIMITED: 112,
  /** Client: no node answered (connection refused, reset or timed out on every URL). */
  UNREACHABLE: 200,
  /** Client: the node serves another chain than the one the caller expects. */
  CHAIN_ID_MISMATCH: 201,
  /** Client: a sealed result does not authenticate under the transaction's key (§4). */
  RESULT_NOT_AUTHENTIC: 202,
  /** Client: a transaction did not commit before the client's deadline. */
  WAIT_TIMEOUT: 203,
  /** Client: the transaction was encrypted with a key the caller does not hold. */
  NOT_YOUR_TX: 204,
  /** Client: a node's answer is not what protocol.md §6 says it must be. */
  BAD_ANSWER: 205,
  /** Client: no key of that name in the key file. */
  KEY_NOT_FOUND: 210,
  /** Client: a key of that name already exists. */
  KEY_EXISTS: 211,
  /** Client: the passphrase does not open the key. */
  WRONG_PASSPHRASE: 212,
  /** Client: the key is encrypted and no passphrase was given. */
  PASSPHRASE_REQUIRED: 213,
  /** Client: the key file is not a valid Cloister key file. */
  KEYRING_INVALID: 214,
} as const;

/** One of {@link ClientErrorCode}'s values. */
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** Extra facts an error may carry. */
export interface CloisterErrorDetails {
  /** HTTP status of the node's answer, when the error is a node's answer. */
  status?: number;
  /** The node that answered (or the last one tried). */
  node?: string;
  /** The committed transaction's hash, when the error is a committed result. */
  hash?: string;
  /** The underlying error, if any (never shown to users as a stack trace). */
  cause?: unknown;
  /** Seconds the node asks the client to wait before retrying (its Retry-After header), if it said. */
  retry_after_s?: number;
}

/**
 * Base class of every SDK error: `code` is a protocol.md §5 or §9 result code (1-8), an RPC code
 * (≥ 100) or a client code (≥ 200), see {@link ClientErrorCode}; `message` says what to do.
 */
export class CloisterError extends Error {
  override name = 'CloisterError';
  /** HTTP status of the node's answer, if the error came from one. */
  readonly status: number | undefined;
  /** URL of the node concerned, if any. */
  readonly node: string | undefined;
  /** Hash of the transaction concerned, if any. */
  readonly hash: string | undefined;

  constructor(
    readonly code: number,
    message: string,
    details: CloisterErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = details.status;
    this.node = details.node;
    this.hash = details.hash;
  }

  /** A plain JSON object for `--json` output and logs: `{code, name, message, …}`. */
  to_json(): Record<string, unknown> {
    const out: Record<string, unknown> = { code: this.code, name: this.name, message: this.message };
    if (this.status !== undefined) out['status'] = this.status;
    if (this.node !== undefined) out['node'] = this.node;
    if (this.hash !== undefined) out['hash'] = this.hash;
    return out;
  }
}

/**
 * §5 code 1: the contract itself refused; `contract_message` is its (decrypted) error text, and
 * `debug` the lines it wrote for its developer before failing (§9; development networks only).
 */
export class ContractError extends CloisterError {
  override name = 'ContractError';
  constructor(
    readonly contract_message: string,
    details: CloisterErrorDetails = {},
    readonly debug?: readonly string[],
  ) {
    super(ClientErrorCode.CONTRACT_ERROR, `contract error: ${contract_message}`, details);
  }

  override to_json(): Record<string, unknown> {
    const out = super.to_json();
    if (this.debug !== undefined) out['debug'] = [...this.debug];
    return out;
  }
}

/** §5 code 2: the call ran out of gas. */
export class OutOfGasError extends CloisterError {
  override name = 'OutOfGasError';
  constructor(gas_limit: number | undefined, details: CloisterErrorDetails = {}) {
    super(
      ClientErrorCode.OUT_OF_GAS,
      `out of gas${gas_limit === undefined ? '' : ` (limit ${gas_limit})`}: retry with a higher gas limit (--gas-limit)`,
      details,
    );
  }
}

/** §5 code 3: the enclave could not open the envelope (protocol.md §3 gives no detail, by design). */
export class CannotDecryptError extends CloisterError {
  override name = 'CannotDecryptError';
  constructor(details: CloisterErrorDetails = {}) {
    super(
      ClientErrorCode.CANNOT_DECRYPT,
      'the node could not decrypt the message: wrong code hash or chain id? Check the contract address (and --code-hash, --chain-id if you gave them)',
      details,
    );
  }
}

/** §5 code 4: the node refused the transaction's signature. */
export class BadSignatureError extends CloisterError {
  override name = 'BadSignatureError';
  constructor(node_message: string, details: CloisterErrorDetails = {}) {
    super(
      ClientErrorCode.BAD_SIGNATURE,
      `bad signature (${node_message}): the transaction was not signed by its sender's key; is the key file intact?`,
      details,
    );
  }
}

/** §5 code 5: the sequence is not the account's next one; `expected` is the node's, when it says. */
export class WrongSequenceError extends CloisterError {
  override name = 'WrongSequenceError';
  constructor(
    readonly expected: number | undefined,
    details: CloisterErrorDetails = {},
  ) {
    super(
      ClientErrorCode.WRONG_SEQUENCE,
      `wrong sequence${expected === undefined ? '' : `: expected ${expected}`} — another transaction from this key is pending or was committed; retry`,
      details,
    );
  }
}

/** §5 code 6: no such code id or contract. */
export class UnknownCodeOrContractError extends CloisterError {
  override name = 'UnknownCodeOrContractError';
  constructor(message: string, details: CloisterErrorDetails = {}) {
    super(ClientErrorCode.UNKNOWN_CODE_OR_CONTRACT, message, details);
  }
}

/** §5 code 7: the node (or the client, before sending) found the transaction malformed. */
export class MalformedTransactionError extends CloisterError {
  override name = 'MalformedTransactionError';
  constructor(reason: string, details: CloisterErrorDetails = {}) {
    super(ClientErrorCode.MALFORMED_TX, `malformed transaction: ${reason}`, details);
  }
}

/** How protocol/codes.ts names code 8, which a committed record's error carries as its message. */
const INSUFFICIENT_FUNDS_NAME = 'insufficient funds or fee';

/**
 * §9 code 8: the sender cannot pay the fee (`gas_limit × gas_price`) or the `funds` it sends, or
 * its gas price is below the network's `min_gas_price`. A transaction refused at submission was
 * not applied (its sequence did not advance); a committed one kept its fee.
 */
export class InsufficientFundsError extends CloisterError {
  override name = 'InsufficientFundsError';
  constructor(
    readonly node_message: string,
    details: CloisterErrorDetails = {},
  ) {
    const said = node_message === '' || node_message === INSUFFICIENT_FUNDS_NAME ? '' : ` (${node_message})`;
    super(
      ClientErrorCode.INSUFFICIENT_FUNDS,
      `insufficient funds or fee${said}: check the balance (\`cloister balance KEY\`), the gas price (--gas-price; the network's minimum is in \`cloister status\`) and --funds`,
      details,
    );
  }
}

/** A node refused a request with one of the RPC's own codes (≥ 100, docs/protocol-notes.md). */
export class RpcRefusedError extends CloisterError {
  override name = 'RpcRefusedError';
}

/**
 * `POST /v1/faucet` answered 404 (code 100): the network is not a development network, so it has
 * no faucet (protocol.md §9).
 */
export class NoFaucetError extends CloisterError {
  override name = 'NoFaucetError';
  constructor(details: CloisterErrorDetails = {}) {
    super(
      ClientErrorCode.NOT_FOUND,
      'this network has no faucet (not a development network); get tokens from an account that holds some (`cloister tx send`)',
      details,
    );
  }
}

/**
 * 429 code 112: this address asked the faucet too often. `retry_after_s` is the node's
 * Retry-After, when it sent one.
 */
export class RateLimitedError extends CloisterError {
  override name = 'RateLimitedError';
  readonly retry_after_s: number | undefined;
  constructor(node_message: string, details: CloisterErrorDetails = {}) {
    super(
      ClientErrorCode.RATE_LIMITED,
      `rate-limited: ${node_message}; retry ${details.retry_after_s === undefined ? 'later' : `in ${details.retry_after_s} s`}`,
      details,
    );
    this.retry_after_s = details.retry_after_s;
  }

  override to_json(): Record<string, unknown> {
    const out = super.to_json();
    if (this.retry_after_s !== undefined) out['retry_after_s'] = this.retry_after_s;
    return out;
  }
}

/** No node could be reached; `tried` lists the URLs, in order. */
export class ConnectionError extends CloisterError {
  override name = 'ConnectionError';
  constructor(
    readonly tried: readonly string[],
    details: CloisterErrorDetails = {},
  ) {
    super(
      ClientErrorCode.UNREACHABLE,
      `cannot reach any node (tried ${tried.join(', ')}): is the network running? Name another with --node URL`,
      details,
    );
  }
}

/** The node serves another chain than the caller expects. */
export class ChainIdMismatchError extends CloisterError {
  override name = 'ChainIdMismatchError';
  constructor(
    readonly expected: string,
    readonly actual: string,
    details: CloisterErrorDetails = {},
  ) {
    super(
      ClientErrorCode.CHAIN_ID_MISMATCH,
      `wrong chain id: the node serves ${JSON.stringify(actual)}, not ${JSON.stringify(expected)}; check --node and --chain-id`,
      details,
    );
  }
}

/** A sealed result (protocol.md §4) does not open under the transaction's key. */
export class ResultAuthError extends CloisterError {
  override name = 'ResultAuthError';
  constructor(details: CloisterErrorDetails = {}) {
    super(
      ClientErrorCode.RESULT_NOT_AUTHENTIC,
      'result does not authenticate (tampered or not yours)',
      details,
    );
  }
}

/** A transaction did not commit before the client's deadline. */
export class WaitTimeoutError extends CloisterError {
  override name = 'WaitTimeoutError';
  constructor(hash: string, timeout_ms: number, details: CloisterErrorDetails = {}) {
    super(
      ClientErrorCode.WAIT_TIMEOUT,
      `transaction ${hash} was not committed within ${timeout_ms} ms; it may still commit: check with \`cloister tx get ${hash}\``,
      { ...details, hash },
    );
  }
}

/** The transaction's envelope was made with an encryption key the caller does not hold. */
export class NotYourTxError extends CloisterError {
  override name = 'NotYourTxError';
  constructor(pk_u: string, details: CloisterErrorDetails = {}) {
    super(
      ClientErrorCode.NOT_YOUR_TX,
      `the transaction was encrypted with key ${pk_u}, which is none of yours; only its sender can decrypt it`,
      details,
    );
  }
}

/** A node's answer does not have the shape protocol.md §6 fixes. */
export class BadAnswerError extends CloisterError {
  override name = 'BadAnswerError';
  constructor(what: string, details: CloisterErrorDetails = {}) {
    super(ClientErrorCode.BAD_ANSWER, `unexpected answer from the node: ${what}`, details);
  }
}

/** A key-file problem: missing key, duplicate name, invalid file, passphrase needed. */
export class KeyringError extends CloisterError {
  override name = 'KeyringError';
}

/** The passphrase does not open the key. */
export class WrongPassphraseError extends KeyringError {
  override name = 'WrongPassphraseError';
  constructor(key_name: string) {
    super(
      ClientErrorCode.WRONG_PASSPHRASE,
      `wrong passphrase for key ${JSON.stringify(key_name)} (or the key file was altered); check --passphrase-file or CLOISTER_PASSPHRASE`,
    );
  }
}

/** Parses "expected N" out of a node's wrong-sequence message (node/mempool.ts writes it). */
function expected_sequence(message: string): number | undefined {
  const m = /expected (\d{1,15})\b/.exec(message);
  return m === null ? undefined : Number(m[1]);
}

/**
 * The typed error for a node's error answer `{"error": {"code", "message"}}` (protocol.md §6) or
 * a committed record's non-zero code (§5). `context` names what was asked for, for code 6.
 */
export function error_from_code(
  code: number,
  node_message: string,
  details: CloisterErrorDetails & { context?: string; gas_limit?: number } = {},
): CloisterError {
  const { context, gas_limit, ...rest } = details;
  switch (code) {
    case ClientErrorCode.CONTRACT_ERROR:
      return new ContractError(node_message, rest);
    case ClientErrorCode.OUT_OF_GAS:
      return new OutOfGasError(gas_limit, rest);
    case ClientErrorCode.CANNOT_DECRYPT:
      return new CannotDecryptError(rest);
    case ClientErrorCode.BAD_SIGNATURE:
      return new BadSignatureError(node_message, rest);
    case ClientErrorCode.WRONG_SEQUENCE:
      return new WrongSequenceError(expected_sequence(node_message), rest);
    case ClientErrorCode.UNKNOWN_CODE_OR_CONTRACT:
      return new UnknownCodeOrContractError(
        context === undefined
          ? `${node_message}: check the address or code id (\`cloister codes\`, \`cloister contracts get\`)`
          : `unknown ${context}: check it (\`cloister codes\`, \`cloister contracts get ADDRESS\`)`,
        rest,
      );
    case ClientErrorCode.MALFORMED_TX:
      return new MalformedTransactionError(node_message, rest);
    case ClientErrorCode.INSUFFICIENT_FUNDS:
      return new InsufficientFundsError(node_message, rest);
    case ClientErrorCode.RATE_LIMITED:
      return new RateLimitedError(node_message, rest);
    case ClientErrorCode.BUSY:
      return new RpcRefusedError(code, `node busy: ${node_message}; retry shortly`, rest);
    case ClientErrorCode.NOT_FOUND:
      return new RpcRefusedError(code, `not found: ${node_message}`, rest);
    case ClientErrorCode.HALTED:
      return new RpcRefusedError(
        code,
        `node halted: ${node_message}; name another node (--node URL, repeatable)`,
        rest,
      );
    case ClientErrorCode.ENCLAVE_FAILED:
      return new RpcRefusedError(
        code,
        `${node_message}; retry later, or on another node (a query that is too costly fails everywhere)`,
        rest,
      );
    case ClientErrorCode.TOO_MANY_STREAMS:
      return new RpcRefusedError(code, `too many live streams: ${node_message}`, rest);
    default:
      return new RpcRefusedError(code, `the node refused the request (code ${code}): ${node_message}`, rest);
  }
}
