/**
 * The key directory (docs/channels.md "The directory"): a system contract where accounts publish
 * X25519 key-agreement keys under key ids, rotate to new ids and revoke keys from a height on.
 * {@link DirectoryClient} publishes and lists keys and resolves key URIs
 * (`cloister:<address>#<key-id>`) for the channels: the evan.network exchange, KILT envelopes,
 * IRCrypt's pinned fingerprints. Keys are public, so listing needs no viewing key. Browser-safe.
 * @module
 */

import { from_hex, to_hex } from '../../../protocol/bytes.js';
import { is_address_hex, is_hex64 } from '../../../protocol/checks.js';
import type { CloisterClient } from '../client.js';
import { BadAnswerError, ContractError } from '../errors.js';
import { type ClientKey, key_info } from '../keys.js';
import { RevokedKeyError, UnknownKeyError } from './errors.js';
import { check_key_id, type DirectoryKey, type KeyResolver, key_uri, parse_key_uri } from './key_uri.js';
import { KX_KEY_ID_DEFAULT, kx_key_pair } from './kx_keys.js';

/** Most keys of one account that no revoke has named yet (contracts/directory.js). */
export const DIRECTORY_ACTIVE_KEYS_MAX = 32;
/** Most key ids one account may ever publish, revoked ones included (ids are never reused). */
export const DIRECTORY_KEY_IDS_MAX = 1024;
/** Most keys one `keys` page of the directory lists. */
export const DIRECTORY_KEYS_PAGE_MAX = 64;

/** Whether a key is usable at `height`: published by then and not revoked by then. */
export function key_usable(key: DirectoryKey, height: number): boolean {
  return key.published_height <= height && (key.revoked_height === null || key.revoked_height > height);
}

function parse_entry(address: string, value: unknown): DirectoryKey {
  const e = value as Record<string, unknown> | null;
  if (
    typeof e !== 'object' ||
    e === null ||
    typeof e['key_id'] !== 'string' ||
    !is_hex64(e['public_key']) ||
    !Number.isSafeInteger(e['published_height']) ||
    !(e['revoked_height'] === null || Number.isSafeInteger(e['revoked_height']))
  )
    throw new BadAnswerError(
      'the directory answered a key that is not {key_id, public_key, published_height, revoked_height}',
    );
  check_key_id(e['key_id']);
  return {
    address,
    key_id: e['key_id'],
    uri: key_uri(address, e['key_id']),
    public_key: from_hex(e['public_key'] as string, 32),
    published_height: e['published_height'] as number,
    revoked_height: e['revoked_height'] as number | null,
  };
}

/** The directory contract through a {@link CloisterClient}. Implements {@link KeyResolver}. */
export class DirectoryClient implements KeyResolver {
  readonly #client: CloisterClient;
  #address: Promise<string> | null;

  /** `address`: the directory contract; default the network's system directory. */
  constructor(client: CloisterClient, address?: string) {
    if (address !== undefined && !is_address_hex(address))
      throw new TypeError('directory address must be 40 lowercase hex');
    this.#client = client;
    this.#address = address === undefined ? null : Promise.resolve(address);
  }

  /** The directory contract's address. */
  address(): Promise<string> {
    this.#address ??= this.#client.system_contracts().then((c) => c.directory);
    return this.#address;
  }

  /**
   * Publishes `key`'s key-agreement key `key_id` (default `kx1`; kx_keys.ts derives it) and
   * resolves with it as the directory lists it. ContractError if the id was ever published, if
   * the account holds {@link DIRECTORY_ACTIVE_KEYS_MAX} keys no revoke has named, or if it has
   * published {@link DIRECTORY_KEY_IDS_MAX} ids.
   */
  async publish(key: ClientKey, key_id: string = KX_KEY_ID_DEFAULT): Promise<DirectoryKey> {
    const pair = kx_key_pair(key, key_id);
    const directory = await this.address();
    await this.#client.execute(key, directory, { publish: { key_id, public_key: to_hex(pair.public_key) } });
    return this.#entry(key_info(key).address, key_id);
  }

  /**
   * Revokes `key`'s key `key_id` from `from_height` (default: the height of the block that
   * commits the revocation) on; resolves with the height it counts from.
   */
  async revoke(key: ClientKey, key_id: string, from_height?: number): Promise<number> {
    check_key_id(key_id);
    if (from_height !== undefined && (!Number.isSafeInteger(from_height) || from_height < 1))
      throw new RangeError('from_height must be a positive height');
    const directory = await this.address();
    const out = await this.#client.execute(key, directory, {
      revoke: from_height === undefined ? { key_id } : { key_id, from_height },
    });
    const height = (out.data as { revoked_height?: unknown } | undefined)?.revoked_height;
    if (!Number.isSafeInteger(height))
      throw new BadAnswerError('the directory did not say from which height the key is revoked');
    return height as number;
  }

  /** Every key `address` published, revoked ones included, in publication order (page by page). */
  async keys(address: string): Promise<DirectoryKey[]> {
    if (!is_address_hex(address)) throw new TypeError('address must be 40 lowercase hex characters');
    const directory = await this.address();
    const out: DirectoryKey[] = [];
    for (let start: number | null = 0; start !== null && out.length < DIRECTORY_KEY_IDS_MAX; ) {
      const answer = (await this.#client.query(directory, { keys: { account: address, start } })) as {
        keys?: unknown;
        next_start?: unknown;
      } | null;
      if (!Array.isArray(answer?.keys)) throw new BadAnswerError('the directory answered no key list');
      // An older directory lists every key at once and answers no next_start.
      const next = answer.next_start ?? null;
      if (!(next === null || (Number.isSafeInteger(next) && (next as number) > start)))
        throw new BadAnswerError('the directory answered a next_start that does not move forward');
      out.push(...answer.keys.map((k) => parse_entry(address, k)));
      start = next as number | null;
    }
    return out;
  }

  /**
   * The newest key of `address` usable at the latest height (or `at_height`): the one to encrypt
   * to. UnknownKeyError (with a `cloister:<address>#*` URI) if it has none.
   */
  async current(address: string, opts: { at_height?: number } = {}): Promise<DirectoryKey> {
    const height = opts.at_height ?? (await this.#client.status()).height;
    const usable = (await this.keys(address)).filter((k) => key_usable(k, height));
    const newest = usable.at(-1);
    if (newest === undefined) throw new UnknownKeyError(`cloister:${address}#*`);
    return newest;
  }

  /**
   * The key `uri` names, usable at the latest height (or `at_height`). TypeError for a malformed
   * URI, UnknownKeyError if it was never published, RevokedKeyError if it is revoked by then.
   */
  async resolve(uri: string, opts: { at_height?: number } = {}): Promise<DirectoryKey> {
    const ref = parse_key_uri(uri);
    const key = await this.#entry(ref.address, ref.key_id);
    const height = opts.at_height ?? (await this.#client.status()).height;
    if (key.revoked_height !== null && key.revoked_height <= height)
      throw new RevokedKeyError(uri, key.revoked_height);
    if (key.published_height > height) throw new UnknownKeyError(uri);
    return key;
  }

  async #entry(address: string, key_id: string): Promise<DirectoryKey> {
    const directory = await this.address();
    let answer: unknown;
    try {
      answer = await this.#client.query(directory, { resolve: { account: address, key_id } });
    } catch (error) {
      if (error instanceof ContractError && error.contract_message.startsWith('unknown key'))
        throw new UnknownKeyError(key_uri(address, key_id));
      throw error;
    }
    return parse_entry(address, answer);
  }
}
