/**
 * Asking for a passphrase on a terminal without showing it: the question goes to the terminal,
 * what is typed is not echoed. Only when both stdin and stderr are terminals; scripts use
 * `--passphrase-file` or `CLOISTER_PASSPHRASE` and are never prompted.
 * @module
 */

import { createInterface } from 'node:readline';
import { type Readable, Writable } from 'node:stream';

/** Longest passphrase read from a prompt, in characters. */
export const PROMPT_CHARS_MAX = 4096;

/** Whether a prompt can be shown: stdin and stderr are both terminals. */
export function can_prompt(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true;
}

/**
 * Writes `question` to `output`, reads one line from `input` without echoing it, and answers it
 * (without the line end). Rejects if `input` ends before a line, or the line is too long.
 */
export function prompt_hidden(
  question: string,
  io: { input: Readable; output: NodeJS.WritableStream } = { input: process.stdin, output: process.stderr },
): Promise<string> {
  io.output.write(question);
  // readline echoes what is typed to its output: give it one that drops everything.
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({
    input: io.input,
    output: muted,
    terminal: (io.input as { isTTY?: boolean }).isTTY === true,
  });
  return new Promise<string>((resolve, reject) => {
    let answered = false;
    rl.once('line', (line) => {
      answered = true;
      rl.close();
      io.output.write('\n');
      if (line.length > PROMPT_CHARS_MAX)
        reject(new RangeError(`a passphrase is at most ${PROMPT_CHARS_MAX} characters`));
      else resolve(line);
    });
    rl.once('close', () => {
      if (!answered) reject(new Error('no passphrase given (input ended)'));
    });
  });
}
