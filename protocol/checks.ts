/**
 * One check per kind of input that several layers validate: 64-hex keys and hashes, 40-hex
 * addresses, 128-hex signatures (protocol.md §1, §5), a network's chain id, and a validator set.
 * Every site that accepts one of these (genesis, the consensus engine, the p2p handshake, the
 * store, the enclave, the SDK) uses the check here, so they cannot drift apart. Where the copies
 * once disagreed, the rule chosen is written down in docs/protocol-notes.md ("One rule per
 * input").
 *
 * Each kind has a predicate (`is_*`, never throws) for sites that answer "why not" themselves, and
 * a `check_*` that returns its input typed or throws a {@link FieldTypeError} (wrong kind of value)
 * or a {@link FieldRangeError} (right kind, outside its limits), both naming the field, in the
 * style of noble's `abytes`. Sites with their own error type (the enclave's BAD_INPUT fault, the
 * store's ShapeError) convert with {@link is_field_error}. Browser-safe.
 * @module
 */

import type { Validator } from './chain.js';

/** A value of the wrong kind for its field: not a string, not lowercase hex, not a list, … */
export class FieldTypeError extends TypeError {
  override readonly name = 'FieldTypeError';
  /**
   * @param field the field's name as the caller knows it (`genesis.validators[2].pubkey`).
   * @param rule what the field must be, completing "`field` must be …".
   */
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(`${field} must be ${rule}`);
  }
}

/** A value of the right kind that breaks a limit: a power out of range, too many validators, a key twice. */
export class FieldRangeError extends RangeError {
  override readonly name = 'FieldRangeError';
  /**
   * @param field the field's name as the caller knows it.
   * @param rule what the field must be, completing "`field` must be …".
   */
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(`${field} must be ${rule}`);
  }
}

/** Either error a `check_*` of this module throws. */
export type FieldError = FieldTypeError | FieldRangeError;

/** True for an error thrown by a `check_*` of this module (callers map it to their own error type). */
export function is_field_error(error: unknown): error is FieldError {
  return error instanceof FieldTypeError || error instanceof FieldRangeError;
}

// ---- counts ----------------------------------------------------------------------------------

/** True for a whole number ≥ 0 that a JSON number holds exactly: a height, a time in ms, a count. */
export function is_count(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

// ---- lowercase hex (protocol.md §1) ---------------------------------------------------------

const HEX40_RE = /^[0-9a-f]{40}$/;
const HEX64_RE = /^[0-9a-f]{64}$/;
const HEX128_RE = /^[0-9a-f]{128}$/;

/** True for 64 lowercase hex characters: a SHA-256 hash, an Ed25519 or X25519 public key (§1). */
export function is_hex64(value: unknown): value is string {
  return typeof value === 'string' && HEX64_RE.test(value);
}

/** Returns `value` if it is 64 lowercase hex characters, else throws FieldTypeError naming `field`. */
export function check_hex64(value: unknown, field: string): string {
  if (!is_hex64(value)) throw new FieldTypeError(field, '64 lowercase hex characters');
  return value;
}

/** True for 40 lowercase hex characters: an account or contract address (protocol.md §5). */
export function is_address_hex(value: unknown): value is string {
  return typeof value === 'string' && HEX40_RE.test(value);
}

/** Returns `value` if it is an address (40 lowercase hex), else throws FieldTypeError naming `field`. */
export function check_address_hex(value: unknown, field: string): string {
  if (!is_address_hex(value)) throw new FieldTypeError(field, '40 lowercase hex characters');
  return value;
}

/** True for 128 lowercase hex characters: an Ed25519 signature (protocol.md §1). */
export function is_signature_hex(value: unknown): value is string {
  return typeof value === 'string' && HEX128_RE.test(value);
}

/** Returns `value` if it is a signature (128 lowercase hex), else throws FieldTypeError naming `field`. */
export function check_signature_hex(value: unknown, field: string): string {
  if (!is_signature_hex(value)) throw new FieldTypeError(field, '128 lowercase hex characters');
  return value;
}

// ---- chain id -------------------------------------------------------------------------------

/** Longest chain id of a network. */
export const CHAIN_ID_CHARS_MAX = 64;
const CHAIN_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;
/** What a network's chain id must be, as error messages say it. */
export const CHAIN_ID_RULE = `1-${CHAIN_ID_CHARS_MAX} characters of [A-Za-z0-9._-]`;

/**
 * True for a network's chain id: 1 to {@link CHAIN_ID_CHARS_MAX} characters of `[A-Za-z0-9._-]`
 * (ASCII, so one character is one byte and one UTF-16 unit everywhere the id is bound: the GCM
 * associated data of §3, signed bytes, derivation labels). A transaction's `chain_id` field is a
 * text compared with this id (protocol/tx.ts), not checked against this rule.
 */
export function is_chain_id(value: unknown): value is string {
  return typeof value === 'string' && CHAIN_ID_RE.test(value);
}

/** Returns `value` if it is a network's chain id ({@link is_chain_id}), else throws FieldTypeError. */
export function check_chain_id(value: unknown, field = 'chain_id'): string {
  if (!is_chain_id(value)) throw new FieldTypeError(field, CHAIN_ID_RULE);
  return value;
}

// ---- validator set --------------------------------------------------------------------------

/** Most validators in one set: a simulation limit, far above what one machine runs. */
export const VALIDATORS_MAX = 100;
/**
 * Most power of one validator. With {@link VALIDATORS_MAX} the total stays below 2^27, so
 * `3 × power` in the quorum rule (protocol/quorum.ts) is exact integer arithmetic.
 */
export const VALIDATOR_POWER_MAX = 1_000_000;

/**
 * Returns `value` as a Validator if it is an object with a 64-hex `pubkey` and an integer `power`
 * of 1 to {@link VALIDATOR_POWER_MAX}. Other properties (genesis names its validators) are left
 * alone. Throws FieldTypeError for a wrong kind, FieldRangeError for a power out of range.
 */
export function check_validator(value: unknown, field: string): Validator {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new FieldTypeError(field, 'an object {pubkey, power}');
  const v = value as Record<string, unknown>;
  check_hex64(v['pubkey'], `${field}.pubkey`);
  const power = v['power'];
  if (typeof power !== 'number' || !Number.isSafeInteger(power))
    throw new FieldTypeError(`${field}.power`, 'an integer');
  if (power < 1 || power > VALIDATOR_POWER_MAX)
    throw new FieldRangeError(`${field}.power`, `1..${VALIDATOR_POWER_MAX}`);
  return value as Validator;
}

/**
 * Returns `value` typed if it is a validator set: a non-empty list (FieldTypeError otherwise) of
 * at most {@link VALIDATORS_MAX} (FieldRangeError) validators, each as {@link check_validator}
 * says, no public key twice (FieldRangeError: a key listed twice would count its power twice in
 * the total but once in a commit).
 */
export function check_validator_set<V extends Validator = Validator>(
  value: unknown,
  field = 'validators',
): V[] {
  if (!Array.isArray(value) || value.length === 0) throw new FieldTypeError(field, 'a non-empty list');
  if (value.length > VALIDATORS_MAX) throw new FieldRangeError(field, `a list of at most ${VALIDATORS_MAX}`);
  const seen = new Set<string>();
  value.forEach((item: unknown, i) => {
    const v = check_validator(item, `${field}[${i}]`);
    if (seen.has(v.pubkey)) throw new FieldRangeError(`${field}[${i}].pubkey`, 'listed once');
    seen.add(v.pubkey);
  });
  return value as V[];
}
