/**
 * The mailbox (docs/channels.md "The mailbox"): a system contract that stores mail for its
 * recipient, in its encrypted state, listed only with the recipient's viewing key. The sender is
 * the transaction's signer as the chain saw it (`ctx.sender`), so no mail can claim another
 * sender. {@link MailboxClient} sends, lists and deletes one account's mail; its viewing key is
 * derived from the account key, and set on the contract the first time a listing needs it.
 * The evan.network key exchange and IRCrypt's three-phase exchange travel through it. Browser-safe.
 * @module
 */

import { to_hex } from '../../../protocol/bytes.js';
import { is_address_hex, is_count } from '../../../protocol/checks.js';
import type { CloisterClient, TxOutcome } from '../client.js';
import { BadAnswerError, ContractError } from '../errors.js';
import { type ClientKey, key_info } from '../keys.js';
import { derived_secret } from './kx_keys.js';

/** Longest mail body, in characters (contracts/mailbox.js). */
export const MAIL_BODY_CHARS_MAX = 16_384;
/** Most mails one inbox holds; a full inbox refuses mail until its owner deletes some. */
export const INBOX_MAILS_MAX = 256;
/** Most mails one listing returns. */
export const INBOX_PAGE_MAX = 64;
/** Most ids one delete takes. */
export const DELETE_IDS_MAX = 64;

/**
 * Deletes `ids` in calls of at most {@link DELETE_IDS_MAX} (the contract's limit per delete),
 * one after another; resolves with the sum of what `each` answers (a count, or nothing: 0).
 */
export async function delete_in_batches(
  ids: readonly number[],
  each: (batch: number[]) => Promise<unknown>,
): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < ids.length; i += DELETE_IDS_MAX) {
    const n = await each(ids.slice(i, i + DELETE_IDS_MAX));
    if (typeof n === 'number') deleted += n;
  }
  return deleted;
}
const KIND_RE = /^[a-z0-9_-]{1,32}$/;

/** A stored mail. */
export interface Mail {
  /** The recipient's mail id: 1, 2, 3, … in arrival order. */
  id: number;
  /** Who sent it: the signer of the transaction that sent it (40 hex). */
  from: string;
  /** What it is (`mail`, `kx-invite`, `kx3`, …): 1-32 characters of a-z 0-9 _ -. */
  kind: string;
  body: string;
  /** Height and block time of the block that delivered it. */
  height: number;
  time_ms: number;
}

function parse_mail(value: unknown): Mail {
  const m = value as Record<string, unknown> | null;
  if (
    typeof m !== 'object' ||
    m === null ||
    !Number.isSafeInteger(m['id']) ||
    !is_address_hex(m['from']) ||
    typeof m['kind'] !== 'string' ||
    typeof m['body'] !== 'string' ||
    !Number.isSafeInteger(m['height']) ||
    !Number.isSafeInteger(m['time_ms'])
  )
    throw new BadAnswerError(
      'the mailbox answered a mail that is not {id, from, kind, body, height, time_ms}',
    );
  return {
    id: m['id'] as number,
    from: m['from'] as string,
    kind: m['kind'],
    body: m['body'],
    height: m['height'] as number,
    time_ms: m['time_ms'] as number,
  };
}

/** One account's mail, through a {@link CloisterClient}. */
export class MailboxClient {
  readonly #client: CloisterClient;
  readonly #key: ClientKey;
  readonly #viewing_key: string;
  /** The account's address. */
  readonly address: string;
  #contract: Promise<string> | null;

  /** `address`: the mailbox contract; default the network's system mailbox. */
  constructor(client: CloisterClient, key: ClientKey, address?: string) {
    if (address !== undefined && !is_address_hex(address))
      throw new TypeError('mailbox address must be 40 lowercase hex');
    this.#client = client;
    this.#key = key;
    this.address = key_info(key).address;
    this.#viewing_key = to_hex(derived_secret(key, 'mailbox-viewing-key'));
    this.#contract = address === undefined ? null : Promise.resolve(address);
  }

  /** The mailbox contract's address. */
  contract(): Promise<string> {
    this.#contract ??= this.#client.system_contracts().then((c) => c.mailbox);
    return this.#contract;
  }

  /** Sends `body` of `kind` to `to`; resolves with its id in the recipient's inbox. */
  async send(to: string, kind: string, body: string): Promise<{ id: number; outcome: TxOutcome }> {
    if (!is_address_hex(to)) throw new TypeError('recipient must be an address of 40 lowercase hex');
    if (typeof kind !== 'string' || !KIND_RE.test(kind))
      throw new TypeError('mail kind must be 1-32 characters of a-z 0-9 _ -');
    if (typeof body !== 'string' || body.length > MAIL_BODY_CHARS_MAX)
      throw new RangeError(`a mail body must be a string of at most ${MAIL_BODY_CHARS_MAX} characters`);
    const outcome = await this.#client.execute(this.#key, await this.contract(), {
      send: { to, kind, body },
    });
    const id = (outcome.data as { id?: unknown } | undefined)?.id;
    if (!Number.isSafeInteger(id)) throw new BadAnswerError('the mailbox did not answer the mail id');
    return { id: id as number, outcome };
  }

  /**
   * This account's mails with ids above `after` (default 0), oldest first, at most `limit`
   * (default and most {@link INBOX_PAGE_MAX}). A page may hold fewer mails than `limit` and still
   * have more after it (the mailbox also bounds a page's bytes): only an empty page is the end.
   * Sets the viewing key on first use.
   */
  async inbox(opts: { after?: number; limit?: number } = {}): Promise<Mail[]> {
    return (await this.page(opts)).mails;
  }

  /**
   * {@link inbox}, with `next_after`: the id to continue after, or null at the end of the inbox;
   * and `count`: how many mails the inbox holds in all (null from a mailbox too old to say).
   */
  async page(
    opts: { after?: number; limit?: number } = {},
  ): Promise<{ mails: Mail[]; next_after: number | null; count: number | null }> {
    const after = opts.after ?? 0;
    const limit = opts.limit ?? INBOX_PAGE_MAX;
    if (!Number.isSafeInteger(after) || after < 0) throw new RangeError('after must be a mail id ≥ 0');
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > INBOX_PAGE_MAX)
      throw new RangeError(`limit must be 1-${INBOX_PAGE_MAX}`);
    const contract = await this.contract();
    const ask = () =>
      this.#client.query(contract, {
        inbox: { address: this.address, key: this.#viewing_key, after, limit },
      });
    let answer: unknown;
    try {
      answer = await ask();
    } catch (error) {
      // First use: the contract has no viewing key for this account yet (or an older one).
      if (!(error instanceof ContractError) || !error.contract_message.startsWith('unauthorized'))
        throw error;
      await this.#client.execute(this.#key, contract, { set_viewing_key: { key: this.#viewing_key } });
      answer = await ask();
    }
    const { mails, next_after, count } = (answer ?? {}) as {
      mails?: unknown;
      next_after?: unknown;
      count?: unknown;
    };
    if (!Array.isArray(mails)) throw new BadAnswerError('the mailbox answered no mail list');
    if (!(next_after === null || Number.isSafeInteger(next_after)))
      throw new BadAnswerError('the mailbox answered a next_after that is neither an id nor null');
    if (!(count === undefined || is_count(count)))
      throw new BadAnswerError('the mailbox answered a count that is not a number of mails');
    return {
      mails: mails.map(parse_mail),
      next_after: next_after as number | null,
      count: (count as number | undefined) ?? null,
    };
  }

  /**
   * How many mails this account's inbox holds (at most {@link INBOX_MAILS_MAX}; a full inbox
   * refuses mail), with one listing past the last id; null from a mailbox too old to say.
   */
  async count(): Promise<number | null> {
    return (await this.page({ after: Number.MAX_SAFE_INTEGER, limit: 1 })).count;
  }

  /** Every mail with an id above `after` (at most {@link INBOX_MAILS_MAX}), page by page. */
  async all(after = 0): Promise<Mail[]> {
    const out: Mail[] = [];
    for (let cursor: number | null = after; cursor !== null && out.length < INBOX_MAILS_MAX; ) {
      const page = await this.page({ after: cursor });
      // The mailbox lists ids above `after` in order, so a cursor that does not move is a bad answer.
      if (page.next_after !== null && page.next_after <= cursor)
        throw new BadAnswerError('the mailbox answered a next_after that does not move forward');
      out.push(...page.mails);
      cursor = page.next_after;
    }
    return out;
  }

  /** Deletes mails of this account's inbox (ids it does not hold are ignored). */
  async delete(ids: number[]): Promise<void> {
    await this.remove(ids);
  }

  /** {@link delete}, resolving with how many mails it deleted. */
  async remove(ids: number[]): Promise<number> {
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > DELETE_IDS_MAX)
      throw new RangeError(`delete takes 1-${DELETE_IDS_MAX} mail ids`);
    for (const id of ids)
      if (!Number.isSafeInteger(id) || id < 1) throw new RangeError('mail ids are positive integers');
    const outcome = await this.#client.execute(this.#key, await this.contract(), { delete: { ids } });
    const deleted = (outcome.data as { deleted?: unknown } | undefined)?.deleted;
    if (!Number.isSafeInteger(deleted))
      throw new BadAnswerError('the mailbox did not answer how many it deleted');
    return deleted as number;
  }
}
