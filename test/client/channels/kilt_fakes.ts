/**
 * Fakes for the envelope tests: fixed keys, and an in-memory key directory that implements
 * KeyResolver as DirectoryClient does (UnknownKeyError, RevokedKeyError).
 * @module
 */

import { RevokedKeyError, UnknownKeyError } from '../../../client/sdk/channels/errors.js';
import {
  type DirectoryKey,
  type KeyResolver,
  key_uri,
  parse_key_uri,
} from '../../../client/sdk/channels/key_uri.js';
import { kx_key_pair } from '../../../client/sdk/channels/kx_keys.js';
import { type ClientKey, key_info, make_key } from '../../../client/sdk/keys.js';
import { utf8 } from '../../../protocol/bytes.js';
import { noble_provider as p } from '../../../protocol/providers/noble.js';

/** A key whose secrets are SHA-256 of fixed strings, so every run uses the same accounts. */
export function fixed_key(name: string): ClientKey {
  return make_key(
    name,
    p.sha256(utf8(`kilt-test/${name}/account`)),
    p.sha256(utf8(`kilt-test/${name}/encryption`)),
  );
}

/** The address of `key`. */
export function address(key: ClientKey): string {
  return key_info(key).address;
}

/** A key directory in memory, at a fixed height. */
export class FakeDirectory implements KeyResolver {
  readonly keys = new Map<string, DirectoryKey>();
  height = 10;
  lookups = 0;

  /** Publishes `key`'s key-agreement key `key_id` (or an arbitrary `public_key`); returns its URI. */
  publish(key: ClientKey, key_id = 'kx1', public_key?: Uint8Array): string {
    const a = address(key);
    const uri = key_uri(a, key_id);
    this.keys.set(uri, {
      address: a,
      key_id,
      uri,
      public_key: public_key ?? kx_key_pair(key, key_id).public_key,
      published_height: this.height,
      revoked_height: null,
    });
    return uri;
  }

  /** Revokes the key `uri` names from the current height on. */
  revoke(uri: string): void {
    const entry = this.keys.get(uri);
    if (entry === undefined) throw new Error(`no key ${uri}`);
    entry.revoked_height = this.height;
  }

  async resolve(uri: string): Promise<DirectoryKey> {
    this.lookups++;
    parse_key_uri(uri);
    const entry = this.keys.get(uri);
    if (entry === undefined) throw new UnknownKeyError(uri);
    if (entry.revoked_height !== null && entry.revoked_height <= this.height)
      throw new RevokedKeyError(uri, entry.revoked_height);
    return { ...entry, public_key: Uint8Array.from(entry.public_key) };
  }
}
