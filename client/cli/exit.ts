/**
 * How the network commands (`init`, `node`, `sim up`) end on an error: one line on stderr,
 * `cloister: MESSAGE`, and exit code 1 (a failure) or 2 (bad usage).
 * @module
 */

/** Prints `cloister: message` on stderr and exits with `code`. */
export function fail(message: string, code = 1): never {
  process.stderr.write(`cloister: ${message}\n`);
  process.exit(code);
}
