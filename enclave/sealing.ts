/**
 * SIMULATION of SGX sealing. A real enclave derives its sealing key from a key fused into the CPU
 * and its own measurement (MRENCLAVE policy). Here a per-node "platform secret" file stands in
 * for the fused key, so a sealed seed opens only on the same node (same platform secret) and only
 * in the same enclave build (same measurement). The host never reads the platform secret; only
 * enclave code does. This keeps the trust boundary visible; it is not security: anyone who can
 * read the node's home can read the platform secret.
 * @module
 */

import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { concat, equal_bytes, from_hex, to_hex, utf8 } from '../protocol/bytes.js';
import { SALT } from '../protocol/keys.js';
import type { CryptoProvider } from '../protocol/provider.js';

/** Version byte of the sealed-blob format. */
const SEALED_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Sealed keys are 32 bytes; anything else is refused on both write and read-back. */
const SEALED_SECRET_BYTES = 32;
/** Light-client states are small JSON objects. */
const SEALED_STATE_BYTES_MAX = 1024;

/**
 * What a sealed blob holds; bound into its AAD so one kind cannot pass as another.
 * `consensus-seed/light` is a seed this enclave uses only for blocks its light client checked.
 */
export type SealPurpose = 'consensus-seed' | 'consensus-seed/light' | 'registration-key' | 'light-client';

function size_ok(purpose: SealPurpose, length: number): boolean {
  return purpose === 'light-client'
    ? length > 0 && length <= SEALED_STATE_BYTES_MAX
    : length === SEALED_SECRET_BYTES;
}

/**
 * Reads the node's platform secret (64 hex chars), creating it with mode 0600 on first use.
 * Only enclave code calls this. Every worker of a pool may call it at once on a new node, so
 * creation is atomic: the secret is written in full to a private temporary file, which is then
 * hard-linked into place; a link fails if the file exists, so exactly one secret wins and no
 * reader ever sees a partly written file.
 */
export function load_platform_secret(path: string, random_bytes: (n: number) => Uint8Array): Uint8Array {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.${to_hex(random_bytes(8))}.tmp`;
    writeFileSync(tmp, `${to_hex(random_bytes(32))}\n`, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(tmp, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(tmp);
    }
  }
  const text = readFileSync(path, 'utf8').trim();
  return from_hex(text, 32);
}

/** `HKDF(platform_secret, SALT, utf8("cloister/seal/v1/" + hex(measurement)), 32)`. */
export function derive_seal_key(
  p: CryptoProvider,
  platform_secret: Uint8Array,
  measurement: Uint8Array,
): Uint8Array {
  return p.hkdf(platform_secret, SALT, utf8(`cloister/seal/v1/${to_hex(measurement)}`), 32);
}

/** `0x01 ‖ iv(12) ‖ GCM(seal_key, iv, utf8("cloister/sealed/" + purpose), secret)`. */
export function seal_secret(
  p: CryptoProvider,
  seal_key: Uint8Array,
  purpose: SealPurpose,
  secret: Uint8Array,
  iv: Uint8Array,
): Uint8Array {
  if (!size_ok(purpose, secret.length)) throw new RangeError(`a sealed ${purpose} has the wrong size`);
  if (iv.length !== IV_BYTES) throw new RangeError('seal iv must be 12 bytes');
  const sealed = concat(
    new Uint8Array([SEALED_VERSION]),
    iv,
    p.gcm_seal(seal_key, iv, utf8(`cloister/sealed/${purpose}`), secret),
  );
  // Check on write: what we hand the host must open again, or the node would lose its seed.
  const back = unseal_secret(p, seal_key, purpose, sealed);
  if (back === null || !equal_bytes(back, secret)) throw new Error('sealing self-check failed');
  return sealed;
}

/** Opens a sealed blob; `null` for any failure (wrong node, changed enclave, tampering). */
export function unseal_secret(
  p: CryptoProvider,
  seal_key: Uint8Array,
  purpose: SealPurpose,
  sealed: Uint8Array,
): Uint8Array | null {
  if (!size_ok(purpose, sealed.length - 1 - IV_BYTES - TAG_BYTES) || sealed[0] !== SEALED_VERSION)
    return null;
  const iv = sealed.subarray(1, 1 + IV_BYTES);
  return p.gcm_open(seal_key, iv, utf8(`cloister/sealed/${purpose}`), sealed.subarray(1 + IV_BYTES));
}
