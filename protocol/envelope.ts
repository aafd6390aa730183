/**
 * Encrypted contract messages, client → enclave (protocol.md §3).
 *
 *     tx_key    = HKDF(X25519(sk_u, pk_io) ‖ nonce, SALT, "", 32)
 *     plaintext = utf8(code_hash_hex ‖ json(msg))
 *     gcm: 0x01 ‖ nonce(32) ‖ pk_u(32) ‖ GCM(tx_key, IV(0), utf8(chain_id), plaintext)
 *     siv:        nonce(32) ‖ pk_u(32) ‖ SIV(tx_key, empty, plaintext)
 *
 * The `siv` scheme is byte-identical to what Secret Network's clients (secretjs) send, and like
 * them it does NOT bind the chain id: a `siv` envelope made for one Cloister network opens on any
 * network with the same `pk_io` (only networks sharing a consensus seed share it). The `gcm`
 * scheme binds the chain id as associated data.
 * @module
 */

import { assert_bytes, concat, from_utf8, utf8 } from './bytes.js';
import { is_hex64 } from './checks.js';
import { CANNOT_DECRYPT_MESSAGE, ResultCode } from './codes.js';
import { is_well_formed } from './jcs.js';
import { iv, SALT } from './keys.js';
import type { CryptoProvider, X25519Secret } from './provider.js';

/** The two envelope schemes of protocol.md §3; a transaction names its scheme (§5). */
export type Scheme = 'gcm' | 'siv';

/** Every scheme, the default (`gcm`) first (protocol.md §3). */
export const SCHEMES: readonly Scheme[] = Object.freeze(['gcm', 'siv'] as const);

/** Version byte that starts every `gcm` envelope (protocol.md §3). */
export const ENVELOPE_GCM_VERSION = 0x01;
/** Bytes of the client's per-message nonce (protocol.md §3). */
export const ENVELOPE_NONCE_BYTES = 32;
/** Bytes of the client's X25519 public key `pk_u` in an envelope (protocol.md §3). */
export const ENVELOPE_PUBLIC_KEY_BYTES = 32;
/** Bytes of the GCM or SIV tag in an envelope (protocol.md §1). */
export const ENVELOPE_TAG_BYTES = 16;
/** Bytes of `tx_key` (protocol.md §3). */
export const TX_KEY_BYTES = 32;
/** Characters of the lowercase hex code hash that starts every plaintext (protocol.md §3). */
export const CODE_HASH_HEX_CHARS = 64;

const EMPTY = new Uint8Array(0);

/** True when `value` is one of {@link SCHEMES}. */
export function is_scheme(value: unknown): value is Scheme {
  return value === 'gcm' || value === 'siv';
}

function check_scheme(scheme: unknown): asserts scheme is Scheme {
  if (typeof scheme !== 'string') throw new TypeError('scheme must be a string');
  if (!is_scheme(scheme))
    throw new RangeError(`unknown scheme ${JSON.stringify(scheme)}; expected gcm or siv`);
}

function check_code_hash(code_hash: unknown): asserts code_hash is string {
  if (typeof code_hash !== 'string') throw new TypeError('code_hash must be a string');
  if (!is_hex64(code_hash)) throw new TypeError('code_hash must be 64 lowercase hex characters');
}

function check_text(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string`);
  if (!is_well_formed(value)) throw new TypeError(`${name} must not contain lone surrogates`);
}

/**
 * True when `pk` is the canonical encoding of an X25519 public key: top bit clear and u < p
 * (RFC 7748 §5). Every honest key pair yields one (X25519 outputs are fully reduced, and
 * secretjs clears the top bit too). X25519 itself masks the top bit and reduces u mod p, so a
 * non-canonical `pk_u` would give a second envelope, differing in one bit, that opens to the
 * same message under the same `tx_key`; {@link open_envelope} refuses those.
 */
export function is_canonical_x25519_public_key(pk: Uint8Array): boolean {
  assert_bytes(pk, 'pk', 32);
  if (pk[31]! > 0x7f) return false;
  if (pk[31]! !== 0x7f || pk[0]! < 0xed) return true;
  for (let i = 1; i < 31; i++) if (pk[i]! !== 0xff) return true;
  return false; // p ≤ u < 2^255
}

/**
 * Bytes an envelope adds around its plaintext (protocol.md §3): version byte (gcm only), nonce,
 * `pk_u` and tag, i.e. 81 for `gcm` and 80 for `siv`. The plaintext itself starts with the
 * 64-character code hash.
 */
export function envelope_scheme_overhead_bytes(scheme: Scheme): number {
  check_scheme(scheme);
  const header = ENVELOPE_NONCE_BYTES + ENVELOPE_PUBLIC_KEY_BYTES + ENVELOPE_TAG_BYTES;
  return scheme === 'gcm' ? 1 + header : header;
}

/** protocol.md §3 `tx_key = HKDF(shared ‖ nonce, SALT, "" (empty info), 32)`, `shared = X25519(sk_u, pk_io)`. */
export function derive_tx_key(p: CryptoProvider, shared: Uint8Array, nonce: Uint8Array): Uint8Array {
  assert_bytes(shared, 'shared', 32);
  assert_bytes(nonce, 'nonce', ENVELOPE_NONCE_BYTES);
  return p.hkdf(concat(shared, nonce), SALT, EMPTY, TX_KEY_BYTES);
}

/**
 * Encrypts a contract message for the enclave (protocol.md §3), as a client does. `sk_u` is the
 * client's 32-byte X25519 secret, `pk_io` the network's io key, `nonce` 32 fresh random bytes,
 * `code_hash` the 64-lowercase-hex code hash of the contract called and `msg_json` the message's
 * JSON text (sent as is). Returns the envelope and the `tx_key` that also opens the result (§4).
 * Throws TypeError/RangeError on bad arguments, including a small-order `pk_io`.
 */
export function encrypt_message(
  p: CryptoProvider,
  args: {
    scheme: Scheme;
    sk_u: Uint8Array;
    pk_io: Uint8Array;
    nonce: Uint8Array;
    chain_id: string;
    code_hash: string;
    msg_json: string;
  },
): { envelope: Uint8Array; tx_key: Uint8Array } {
  if (typeof args !== 'object' || args === null) throw new TypeError('args must be an object');
  const { scheme, sk_u, pk_io, nonce, chain_id, code_hash, msg_json } = args;
  check_scheme(scheme);
  assert_bytes(sk_u, 'sk_u', 32);
  assert_bytes(pk_io, 'pk_io', 32);
  assert_bytes(nonce, 'nonce', ENVELOPE_NONCE_BYTES);
  check_text(chain_id, 'chain_id');
  check_code_hash(code_hash);
  check_text(msg_json, 'msg_json');
  const user = p.x25519_secret(sk_u);
  const shared = user.shared(pk_io);
  if (shared === null) throw new RangeError('pk_io is a point of small order');
  const tx_key = derive_tx_key(p, shared, nonce);
  const plaintext = utf8(code_hash + msg_json);
  const envelope =
    scheme === 'gcm'
      ? concat(
          Uint8Array.of(ENVELOPE_GCM_VERSION),
          nonce,
          user.public_key,
          p.gcm_seal(tx_key, iv(0), utf8(chain_id), plaintext),
        )
      : concat(nonce, user.public_key, p.siv_seal(tx_key, EMPTY, plaintext));
  return { envelope, tx_key };
}

/**
 * The one error for every envelope or sealed result that cannot be opened (protocol.md §3,
 * result code 3): always the same message {@link CANNOT_DECRYPT_MESSAGE}, no cause, and thrown
 * from one place, so nothing tells which check failed.
 */
export class DecryptError extends Error {
  /** protocol.md §5 result code 3, cannot decrypt. */
  readonly code = ResultCode.CANNOT_DECRYPT;
  override readonly name = 'DecryptError';
  constructor() {
    super(CANNOT_DECRYPT_MESSAGE);
  }
}

function try_open(
  p: CryptoProvider,
  io: X25519Secret,
  scheme: Scheme,
  envelope: Uint8Array,
  chain_id: string,
  code_hash: string,
): { tx_key: Uint8Array; msg_json: string } | null {
  const offset = scheme === 'gcm' ? 1 : 0;
  if (envelope.length < envelope_scheme_overhead_bytes(scheme)) return null;
  if (scheme === 'gcm' && envelope[0] !== ENVELOPE_GCM_VERSION) return null;
  const nonce = envelope.subarray(offset, offset + ENVELOPE_NONCE_BYTES);
  const pk_u = envelope.subarray(offset + ENVELOPE_NONCE_BYTES, offset + ENVELOPE_NONCE_BYTES + 32);
  const sealed = envelope.subarray(offset + ENVELOPE_NONCE_BYTES + 32);
  if (!is_canonical_x25519_public_key(pk_u)) return null;
  const shared = io.shared(pk_u);
  if (shared === null) return null;
  const tx_key = derive_tx_key(p, shared, nonce);
  const plaintext =
    scheme === 'gcm' ? p.gcm_open(tx_key, iv(0), utf8(chain_id), sealed) : p.siv_open(tx_key, EMPTY, sealed);
  if (plaintext === null) return null;
  // Authenticated: only now look at the plaintext.
  let text: string;
  try {
    text = from_utf8(plaintext);
  } catch {
    return null;
  }
  if (text.length < CODE_HASH_HEX_CHARS || text.slice(0, CODE_HASH_HEX_CHARS) !== code_hash) return null;
  return { tx_key, msg_json: text.slice(CODE_HASH_HEX_CHARS) };
}

/**
 * Opens a contract message in the enclave (protocol.md §3) with the io key `io` and checks that it
 * was made for the contract whose code hash is `code_hash` (and, for `gcm`, for `chain_id`).
 * Returns the `tx_key` for sealing the result (§4) and the message's JSON text (not parsed).
 *
 * Throws a fresh {@link DecryptError}, identical every time, for any envelope that cannot be
 * opened: too short, unknown version byte, small-order or non-canonical `pk_u` (see
 * {@link is_canonical_x25519_public_key}), bad tag, plaintext that is not
 * UTF-8 or has fewer than 64 characters, wrong code hash, wrong chain id (gcm). For `siv` the
 * chain id is not authenticated (Secret Network compatibility) and is ignored. Throws
 * TypeError/RangeError only for bad arguments (wrong types, unknown scheme, malformed code hash).
 */
export function open_envelope(
  p: CryptoProvider,
  io: X25519Secret,
  args: { scheme: Scheme; envelope: Uint8Array; chain_id: string; code_hash: string },
): { tx_key: Uint8Array; msg_json: string } {
  if (typeof io !== 'object' || io === null || typeof io.shared !== 'function') {
    throw new TypeError('io must be an X25519Secret');
  }
  if (typeof args !== 'object' || args === null) throw new TypeError('args must be an object');
  const { scheme, envelope, chain_id, code_hash } = args;
  check_scheme(scheme);
  assert_bytes(envelope, 'envelope');
  check_text(chain_id, 'chain_id');
  check_code_hash(code_hash);
  const opened = try_open(p, io, scheme, envelope, chain_id, code_hash);
  if (opened === null) throw new DecryptError();
  return opened;
}
