/**
 * The CometBFT binary the simulator runs (issue #17): which release, how to install it, where it
 * is found. Nothing is downloaded from here; a missing or wrong binary is reported with the one
 * command that installs the pinned release (`.ci/run` runs that command itself).
 * @module
 */

import { execFileSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The CometBFT release Cloister's second engine is written against. */
export const COMETBFT_VERSION = '0.38.17';
/** The Go package of its command. */
export const COMETBFT_MODULE = 'github.com/cometbft/cometbft/cmd/cometbft';
/** The one command that installs it (into `$(go env GOPATH)/bin`, or `$GOBIN`). */
export const COMETBFT_INSTALL_COMMAND = `go install ${COMETBFT_MODULE}@v${COMETBFT_VERSION}`;
/** How a user installs it, with or without Go (its go.mod asks for Go 1.22.11 or later). */
export const COMETBFT_INSTALL_HINT =
  `install it with \`${COMETBFT_INSTALL_COMMAND}\` (about 80 s; without Go: install Go 1.22+ from ` +
  `https://go.dev/dl, then \`${COMETBFT_INSTALL_COMMAND}\`), or set COMETBFT_BIN to a cometbft ` +
  `v${COMETBFT_VERSION} binary`;

/** Whether `path` is a regular file this process may execute. */
function executable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The cometbft binary to run, or null: `$COMETBFT_BIN` when set (and only it: null if it is not
 * executable, so a wrong setting is never silently replaced), else `cometbft` on `$PATH`, else
 * where `go install` puts it: `$GOBIN/cometbft`, `$GOPATH/bin/cometbft` (the first `$GOPATH`
 * entry, as Go does), `~/go/bin/cometbft` (Go's default GOPATH). Only executable files count;
 * the version is not checked here (check_cometbft does).
 */
export function find_cometbft(env: NodeJS.ProcessEnv = process.env): string | null {
  const pinned = env['COMETBFT_BIN'];
  if (pinned !== undefined && pinned !== '') return executable(pinned) ? pinned : null;
  const candidates: string[] = [];
  for (const dir of (env['PATH'] ?? '').split(delimiter))
    if (dir !== '') candidates.push(join(dir, 'cometbft'));
  const gobin = env['GOBIN'];
  if (gobin !== undefined && gobin !== '') candidates.push(join(gobin, 'cometbft'));
  const gopath = (env['GOPATH'] ?? '').split(delimiter)[0] || join(env['HOME'] || homedir(), 'go');
  candidates.push(join(gopath, 'bin', 'cometbft'));
  return candidates.find(executable) ?? null;
}

/** `<bin> version`, trimmed (`0.38.17` for the pinned release). Throws if it cannot run. */
export function cometbft_version(bin: string): string {
  return execFileSync(bin, ['version'], {
    encoding: 'utf8',
    timeout: 10_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** Whether `version` (as `cometbft version` prints it) is the pinned release, build metadata aside. */
export function is_pinned_version(version: string): boolean {
  return version === COMETBFT_VERSION || version.startsWith(`${COMETBFT_VERSION}+`);
}

/** What check_cometbft found: the binary to run, or why there is none (a message naming the fix). */
export type CometbftCheck =
  | { ok: true; bin: string; version: string }
  | { ok: false; bin: string | null; error: string };

/**
 * The pinned cometbft binary (find_cometbft, then `<bin> version`), or a clear error: missing,
 * not runnable, or another version, each naming COMETBFT_INSTALL_COMMAND.
 */
export function check_cometbft(env: NodeJS.ProcessEnv = process.env): CometbftCheck {
  const bin = find_cometbft(env);
  if (bin === null) {
    const pinned = env['COMETBFT_BIN'];
    const where =
      pinned !== undefined && pinned !== ''
        ? `COMETBFT_BIN=${pinned} is not an executable file`
        : 'no cometbft binary on PATH or in $(go env GOPATH)/bin';
    return {
      ok: false,
      bin: null,
      error: `CometBFT v${COMETBFT_VERSION} not found: ${where}; ${COMETBFT_INSTALL_HINT}`,
    };
  }
  let version: string;
  try {
    version = cometbft_version(bin);
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return { ok: false, bin, error: `${bin} version failed (${why}); ${COMETBFT_INSTALL_HINT}` };
  }
  if (!is_pinned_version(version)) {
    return {
      ok: false,
      bin,
      error: `${bin} is CometBFT ${JSON.stringify(version)}, not v${COMETBFT_VERSION}; ${COMETBFT_INSTALL_HINT}`,
    };
  }
  return { ok: true, bin, version };
}
