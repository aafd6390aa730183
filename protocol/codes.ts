/**
 * Public result codes of protocol.md §5 and §9, returned for every transaction and query.
 * @module
 */

/** protocol.md §5 result codes. */
export const ResultCode = {
  OK: 0,
  CONTRACT_ERROR: 1,
  OUT_OF_GAS: 2,
  CANNOT_DECRYPT: 3,
  BAD_SIGNATURE: 4,
  WRONG_SEQUENCE: 5,
  UNKNOWN_CODE_OR_CONTRACT: 6,
  MALFORMED_TX: 7,
  /** protocol.md §9: the sender cannot pay the fee or the funds, or the gas price is too low. */
  INSUFFICIENT_FUNDS: 8,
} as const;

export type ResultCode = (typeof ResultCode)[keyof typeof ResultCode];

/**
 * The one message for every envelope that cannot be opened (protocol.md §3): wrong length, unknown
 * version byte, bad tag, wrong code hash, wrong chain id, small-order point all read the same.
 */
export const CANNOT_DECRYPT_MESSAGE = 'cannot decrypt message';

/** Short human-readable names for the codes, for logs and CLI output. */
export const RESULT_CODE_NAMES: Readonly<Record<ResultCode, string>> = {
  0: 'ok',
  1: 'contract error',
  2: 'out of gas',
  3: 'cannot decrypt',
  4: 'bad signature',
  5: 'wrong sequence',
  6: 'unknown code or contract',
  7: 'malformed transaction',
  8: 'insufficient funds or fee',
};
