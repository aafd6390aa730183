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

/** Codes a transaction can be refused with before it counts (protocol.md §5: 4, 5, 7; §9: 8). */
const REFUSAL_CODES: ReadonlySet<number> = new Set([
  ResultCode.BAD_SIGNATURE,
  ResultCode.WRONG_SEQUENCE,
  ResultCode.MALFORMED_TX,
  ResultCode.INSUFFICIENT_FUNDS,
]);

/**
 * Whether a committed result counted: its sequence advanced and its gas was charged. A refusal
 * (code 4, 5, 7 or 8 with no gas) did not, so the same transaction may still count later.
 */
export function result_counted(code: number, gas_used: number): boolean {
  return gas_used > 0 || !REFUSAL_CODES.has(code);
}

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
