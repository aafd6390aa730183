/**
 * The key file on disk (Node only; the rest of the SDK is browser-safe): where it lives
 * (`--keyring FILE`, else `CLOISTER_KEYRING`, else `~/.cloister/keys.json`), reading it, and
 * writing it atomically with mode 0600 in a folder of mode 0700. Format: docs/client.md.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ClientErrorCode, KeyringError } from './errors.js';
import { Keyring } from './keys.js';

/** The key file's path below the home folder when neither flag nor environment names one. */
export const KEYRING_DEFAULT_RELATIVE = join('.cloister', 'keys.json');
/** Permission bits of the key file: owner read and write only. */
export const KEYRING_FILE_MODE = 0o600;
/** Permission bits of a key file folder the SDK creates. */
export const KEYRING_DIR_MODE = 0o700;
/** Largest key file read, so a wrong path (a log, a disk image) fails fast. */
export const KEYRING_FILE_BYTES_MAX = 4 * 1024 * 1024;

/**
 * The key file to use: `flag` (from `--keyring`), else `env.CLOISTER_KEYRING`, else
 * `~/.cloister/keys.json`. Empty strings count as not given.
 */
export function keyring_path(
  opts: { flag?: string | undefined; env?: Record<string, string | undefined>; home?: string } = {},
): string {
  const env = opts.env ?? process.env;
  if (opts.flag !== undefined && opts.flag !== '') return resolve(opts.flag);
  const from_env = env['CLOISTER_KEYRING'];
  if (from_env !== undefined && from_env !== '') return resolve(from_env);
  return join(opts.home ?? homedir(), KEYRING_DEFAULT_RELATIVE);
}

/** A loaded key file. */
export interface LoadedKeyring {
  keyring: Keyring;
  path: string;
  /** False when the file does not exist yet (the keyring is empty). */
  exists: boolean;
  /** True when group or others may read or write the file: the caller should warn. */
  loose_permissions: boolean;
}

/**
 * Reads the key file at `path`; a missing file is an empty keyring. KeyringError code 214 if the
 * file is not a key file or cannot be read.
 */
export async function load_keyring(path: string): Promise<LoadedKeyring> {
  if (typeof path !== 'string' || path === '') throw new TypeError('path must be a non-empty string');
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { keyring: new Keyring(), path, exists: false, loose_permissions: false };
    throw new KeyringError(
      ClientErrorCode.KEYRING_INVALID,
      `cannot read key file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  if (!info.isFile() || info.size > KEYRING_FILE_BYTES_MAX)
    throw new KeyringError(
      ClientErrorCode.KEYRING_INVALID,
      `${path} is not a key file (not a regular file of at most ${KEYRING_FILE_BYTES_MAX} bytes)`,
    );
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new KeyringError(
      ClientErrorCode.KEYRING_INVALID,
      `cannot read key file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  let keyring: Keyring;
  try {
    keyring = new Keyring({ json: text });
  } catch (error) {
    if (error instanceof KeyringError)
      throw new KeyringError(error.code, `${path}: ${error.message}`, { cause: error });
    throw error;
  }
  return { keyring, path, exists: true, loose_permissions: (Number(info.mode) & 0o077) !== 0 };
}

/**
 * Writes the keyring to `path` atomically: a temporary file created with mode 0600 in the same
 * folder, then renamed over the old one, so a crash never leaves half a key file and the secrets
 * are never readable by others, not even for a moment. Creates the folder (mode 0700) if needed.
 */
export async function save_keyring(path: string, keyring: Keyring): Promise<void> {
  if (typeof path !== 'string' || path === '') throw new TypeError('path must be a non-empty string');
  if (!(keyring instanceof Keyring)) throw new TypeError('keyring must be a Keyring');
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: KEYRING_DIR_MODE });
  const temp = join(dir, `.keys-${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temp, keyring.serialize(), { mode: KEYRING_FILE_MODE, flag: 'wx' });
    // The mode given to open() is filtered by the umask; set it explicitly.
    await chmod(temp, KEYRING_FILE_MODE);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
