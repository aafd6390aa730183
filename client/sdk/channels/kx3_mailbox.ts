/**
 * The mailbox as the three-phase exchange's line transport (docs/channels.md): lines travel as
 * mails of kind `kx3` through the mailbox system contract, several pending lines packed into one
 * mail body (one line per text line, each at most the line size) to spend fewer transactions; the
 * receiver polls its inbox and takes only `kx3` mails from the peer. The chain authenticates each
 * mail's sender (the transaction signer), which IRC's nicks never did. Browser-safe.
 * @module
 */

import { KX3_LINE_CHARS_DEFAULT } from './kx3_framing.js';
import type { LineTransport } from './kx3_transport.js';
import { delete_in_batches, MAIL_BODY_CHARS_MAX, type Mail } from './mailbox.js';

/** The mail kind of kx3 lines. */
export const KX3_MAIL_KIND = 'kx3';
/** Most mails one {@link MailboxLineTransport.receive} reads. */
const RECEIVE_MAILS_MAX = 64;

/** What the transport needs of a mailbox client ({@link MailboxClient} has it all). */
export interface Kx3Mailbox {
  send(to: string, kind: string, body: string): Promise<{ id: number }>;
  inbox(opts?: { after?: number; limit?: number }): Promise<Mail[]>;
  delete?(ids: number[]): Promise<void>;
}

/** Options of {@link MailboxLineTransport.open}. */
export interface MailboxLineOptions {
  max_line_chars?: number;
  /** Waits (`setTimeout` in real use). */
  sleep: (ms: number) => Promise<void>;
  /** Read mails already in the inbox too (default false: only those after opening). */
  from_start?: boolean;
  /** Delete the kx3 mails read from the peer on close (default true: an inbox holds 256 mails). */
  delete_read?: boolean;
}

/** Lines to and from `peer` through a mailbox. */
export class MailboxLineTransport implements LineTransport {
  readonly max_line_chars: number;
  #pending: string[] = [];
  #after: number;
  readonly #read: number[] = [];
  /** Mails sent and received, for progress output. */
  mails_sent = 0;
  mails_received = 0;

  private constructor(
    readonly mailbox: Kx3Mailbox,
    readonly peer: string,
    readonly opts: MailboxLineOptions,
    after: number,
  ) {
    this.max_line_chars = opts.max_line_chars ?? KX3_LINE_CHARS_DEFAULT;
    this.#after = after;
  }

  /** A transport to `peer`; unless `from_start`, mails already in the inbox are skipped. */
  static async open(
    mailbox: Kx3Mailbox,
    peer: string,
    opts: MailboxLineOptions,
  ): Promise<MailboxLineTransport> {
    if (!/^[0-9a-f]{40}$/.test(peer)) throw new TypeError('peer must be an address (40 lowercase hex)');
    let after = 0;
    if (opts.from_start !== true)
      for (;;) {
        const page = await mailbox.inbox({ after, limit: 64 });
        if (page.length === 0) break;
        // A page can hold fewer than 64 mails and still have more after it (the mailbox also
        // bounds a page's bytes): only an empty page says the inbox is done.
        after = page.at(-1)!.id;
      }
    return new MailboxLineTransport(mailbox, peer, opts, after);
  }

  async send(line: string): Promise<void> {
    if (typeof line !== 'string' || line.length > this.max_line_chars || line.includes('\n'))
      throw new RangeError(`a line is one line of at most ${this.max_line_chars} characters`);
    this.#pending.push(line);
  }

  /** Sends the pending lines, as few mails as the body limit allows. */
  async flush(): Promise<void> {
    const lines = this.#pending;
    this.#pending = [];
    let body = '';
    for (const line of lines) {
      if (body !== '' && body.length + 1 + line.length > MAIL_BODY_CHARS_MAX) {
        await this.#send_body(body);
        body = '';
      }
      body = body === '' ? line : `${body}\n${line}`;
    }
    if (body !== '') await this.#send_body(body);
  }

  async #send_body(body: string): Promise<void> {
    await this.mailbox.send(this.peer, KX3_MAIL_KIND, body);
    this.mails_sent++;
  }

  /** Lines of the peer's kx3 mails since the last call; sleeps `wait_ms` when there are none. */
  async receive(wait_ms: number): Promise<string[]> {
    const mails = await this.mailbox.inbox({ after: this.#after, limit: RECEIVE_MAILS_MAX });
    const lines: string[] = [];
    for (const mail of mails) {
      this.#after = Math.max(this.#after, mail.id);
      if (mail.from !== this.peer || mail.kind !== KX3_MAIL_KIND) continue;
      this.#read.push(mail.id);
      this.mails_received++;
      for (const line of mail.body.split('\n'))
        if (line !== '' && line.length <= this.max_line_chars) lines.push(line);
    }
    if (lines.length === 0 && mails.length === 0) await this.opts.sleep(wait_ms);
    return lines;
  }

  /** Deletes the kx3 mails read from the peer (unless `delete_read: false`). */
  async close(): Promise<void> {
    const remove = this.mailbox.delete;
    if (this.opts.delete_read === false || remove === undefined) return;
    await delete_in_batches(this.#read, (batch) => remove.call(this.mailbox, batch));
    this.#read.length = 0;
  }
}
