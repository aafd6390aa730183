/**
 * {@link ChannelStorage} as files in one directory (Node only): `<dir>/<name>.json`, written to a
 * temporary file, flushed, then renamed over the old one, so a crash leaves the old or the new
 * document, never half of one. Directory 0700, files 0600: they may hold sealed secrets.
 * @module
 */

import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type ChannelStorage, check_document, DOCUMENT_CHARS_MAX } from './storage.js';

/** Documents as files in `dir` (created on first write). */
export class FileStorage implements ChannelStorage {
  constructor(readonly dir: string) {
    if (typeof dir !== 'string' || dir.length === 0) throw new TypeError('dir must be a path');
  }

  #path(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  async get(name: string): Promise<string | null> {
    check_document(name);
    try {
      const text = await readFile(this.#path(name), 'utf8');
      if (text.length > DOCUMENT_CHARS_MAX)
        throw new RangeError(`${this.#path(name)} is over ${DOCUMENT_CHARS_MAX} characters`);
      return text;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async set(name: string, text: string): Promise<void> {
    check_document(name, text);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const path = this.#path(name);
    const temp = `${path}.${process.pid}.tmp`;
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(text, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  }

  async remove(name: string): Promise<void> {
    check_document(name);
    await rm(this.#path(name), { force: true });
  }
}
