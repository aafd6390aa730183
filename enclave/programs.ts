/**
 * Compiled contracts, cached by code hash. Compiling (parse, check, instrument, load into a
 * frozen realm) costs far more than a call, and a program holds no state between calls, so a
 * cache keyed by the code's hash cannot change any result.
 * @module
 */

import { from_base64, from_utf8, to_hex } from '../protocol/bytes.js';
import type { CryptoProvider } from '../protocol/provider.js';
import { compile_contract, default_engine } from './vm/compile.js';
import type { CompileResult, EngineName } from './vm/types.js';

/** Programs kept compiled at once. */
const PROGRAMS_CACHED_MAX = 64;

/** Decoded contract code: its bytes, hash and source text (null if not UTF-8). */
export interface Code {
  hash: string;
  bytes: Uint8Array;
  source: string | null;
}

/** Decodes base64 code and hashes it. */
export function decode_code(p: CryptoProvider, code_b64: string): Code {
  const bytes = from_base64(code_b64);
  let source: string | null;
  try {
    source = from_utf8(bytes);
  } catch {
    source = null;
  }
  return { hash: to_hex(p.sha256(bytes)), bytes, source };
}

/** An LRU of compiled programs by code hash. */
export class ProgramCache {
  readonly #programs = new Map<string, CompileResult>();
  readonly #engine: EngineName;

  /** @param engine the contract engine (defaults to the process default, QuickJS). */
  constructor(engine: EngineName = default_engine()) {
    this.#engine = engine;
  }

  /** The compiled program for `code`, compiling on first use. */
  get(code: Code): CompileResult {
    const cached = this.#programs.get(code.hash);
    if (cached !== undefined) {
      // Refresh its place in the LRU order.
      this.#programs.delete(code.hash);
      this.#programs.set(code.hash, cached);
      return cached;
    }
    const compiled: CompileResult =
      code.source === null
        ? { ok: false, message: 'contract code is not UTF-8' }
        : compile_contract(code.source, this.#engine);
    if (this.#programs.size >= PROGRAMS_CACHED_MAX) {
      const oldest = this.#programs.keys().next();
      if (!oldest.done) this.#programs.delete(oldest.value);
    }
    this.#programs.set(code.hash, compiled);
    return compiled;
  }
}
