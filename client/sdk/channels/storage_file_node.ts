/**
 * {@link ChannelStorage} as files (Node only): `<dir>/<name>.json`, or one named file for every
 * document ({@link FileStorage.single}, what `cloister msg open --seen FILE` uses). A write goes to a
 * temporary file, is flushed, then renamed over the old one, so a crash leaves the old or the new
 * document, never half of one. Directory 0700, files 0600: they may hold sealed secrets.
 *
 * {@link FileStorage.exclusive} runs a read-modify-write under a lock file `<path>.lock`, so two
 * processes (two `cloister msg open` at once) cannot both accept one message: the lock is taken
 * with an exclusive create, waited for up to {@link LOCK_WAIT_MS_MAX}, and taken over when it is
 * older than {@link LOCK_STALE_MS} (its holder crashed; a live holder renews it), one waiter at a time. A write also
 * flushes its directory, so the rename survives a power loss.
 * @module
 */

import { mkdir, open, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { type ChannelStorage, check_document, DOCUMENT_CHARS_MAX } from './storage.js';

/** Longest wait for another process's lock before giving up. */
export const LOCK_WAIT_MS_MAX = 10_000;
/** A lock older than this was left by a holder that died: it is taken over. */
export const LOCK_STALE_MS = 30_000;
const LOCK_RETRY_MS = 20;

/** The lock could not be taken in time: another process holds it. */
export class StorageLockedError extends Error {
  override name = 'StorageLockedError';
}

/** Documents as files in `dir` (created on first write), or all in one file. */
export class FileStorage implements ChannelStorage {
  /** The directory the files are in. */
  readonly dir: string;
  /** The one file every document is, for {@link FileStorage.single}; else null. */
  readonly file: string | null;
  /** Age after which another process's lock counts as left by a crash (default {@link LOCK_STALE_MS}). */
  readonly lock_stale_ms: number;

  constructor(dir: string, opts: { file?: string; lock_stale_ms?: number } = {}) {
    if (typeof dir !== 'string' || dir.length === 0) throw new TypeError('dir must be a path');
    this.dir = dir;
    this.file = opts.file === undefined ? null : resolve(dir, opts.file);
    this.lock_stale_ms = opts.lock_stale_ms ?? LOCK_STALE_MS;
    if (!Number.isSafeInteger(this.lock_stale_ms) || this.lock_stale_ms < 3)
      throw new RangeError('lock_stale_ms must be a whole number of ms ≥ 3');
  }

  /** Every document in the one file at `path` (a store of one document, whatever its name). */
  static single(path: string): FileStorage {
    if (typeof path !== 'string' || path.length === 0) throw new TypeError('path must be a file path');
    const file = resolve(path);
    return new FileStorage(dirname(file), { file });
  }

  #path(name: string): string {
    return this.file ?? join(this.dir, `${name}.json`);
  }

  async get(name: string): Promise<string | null> {
    check_document(name);
    const path = this.#path(name);
    try {
      const text = await readFile(path, 'utf8');
      if (text.length > DOCUMENT_CHARS_MAX)
        throw new RangeError(`${path} is over ${DOCUMENT_CHARS_MAX} characters`);
      return text;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async set(name: string, text: string): Promise<void> {
    check_document(name, text);
    const path = this.#path(name);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const temp = `${path}.${process.pid}.tmp`;
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(text, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
    await sync_dir(dirname(path));
  }

  async remove(name: string): Promise<void> {
    check_document(name);
    await rm(this.#path(name), { force: true });
  }

  /**
   * Runs `work` holding the document's lock file, against other processes too. While it runs, the
   * lock's time is renewed every third of {@link lock_stale_ms}, so work that outlasts it (a
   * transaction waiting for its commit) is not taken for a crashed holder's.
   */
  async exclusive<T>(name: string, work: () => Promise<T>): Promise<T> {
    check_document(name);
    const lock = `${this.#path(name)}.lock`;
    await mkdir(dirname(lock), { recursive: true, mode: 0o700 });
    await take_lock(lock, this.lock_stale_ms);
    const renew = setInterval(
      () => {
        const now = new Date();
        void utimes(lock, now, now).catch(() => {});
      },
      Math.floor(this.lock_stale_ms / 3),
    );
    renew.unref();
    try {
      return await work();
    } finally {
      clearInterval(renew);
      await rm(lock, { force: true });
    }
  }
}

/** Flushes a directory, so a rename in it survives a power loss (an accepted id stays accepted). */
async function sync_dir(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(dir, 'r');
  } catch (error) {
    // A platform that cannot open a directory (Windows) has no directory to flush.
    if (['EISDIR', 'EPERM', 'EACCES'].includes((error as NodeJS.ErrnoException).code ?? '')) return;
    throw error;
  }
  try {
    await handle.sync();
  } catch (error) {
    if (!['EINVAL', 'EPERM', 'EBADF'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
  } finally {
    await handle.close();
  }
}

/** Age of the file at `path` in ms by its mtime, or null if there is none. */
function age_ms_of(path: string): Promise<number | null> {
  return stat(path).then(
    (s) => Date.now() - s.mtimeMs,
    () => null,
  );
}

/**
 * Removes `lock` if it is still stale, under a second lock: two waiters that both saw it stale
 * must not both take over (the second would delete the lock the first just took). True if the
 * caller should try the lock again at once.
 */
async function clear_stale(lock: string, stale_ms: number): Promise<boolean> {
  const guard = `${lock}.takeover`;
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(guard, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // Another waiter is taking over; a guard its holder left by crashing is stale in turn.
    if (((await age_ms_of(guard)) ?? 0) > stale_ms) await rm(guard, { force: true });
    return false;
  }
  try {
    await handle.close();
    // Looked at again under the guard: it may be a fresh lock by now.
    if (((await age_ms_of(lock)) ?? 0) > stale_ms) await rm(lock, { force: true });
    return true;
  } finally {
    await rm(guard, { force: true });
  }
}

async function take_lock(lock: string, stale_ms: number): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS_MAX;
  for (;;) {
    try {
      const handle = await open(lock, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (((await age_ms_of(lock)) ?? 0) > stale_ms && (await clear_stale(lock, stale_ms))) continue;
    if (Date.now() > deadline)
      throw new StorageLockedError(
        `${lock} is held by another process (remove it if no cloister process is running)`,
      );
    await new Promise((r) => setTimeout(r, LOCK_RETRY_MS));
  }
}
