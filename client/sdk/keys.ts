/**
 * Client keys and the key file format. A named key is two secrets: an Ed25519 account key that
 * signs transactions (protocol.md §5) and an X25519 encryption key used as `sk_u` in every
 * envelope the key sends (§3), so the sender can derive any of its `tx_key`s again later from the
 * envelope's nonce and decrypt the result (§4).
 *
 * The key file (JSON, see docs/client.md) holds several named keys; each key's secrets are either
 * stored as hex or sealed with a passphrase: scrypt (RFC 7914) then AES-256-GCM, with the key's
 * public data as associated data. Browser-safe: the file's bytes are the caller's to read and
 * write (client/sdk/keyfile_node.ts does it on Node).
 * @module
 */

import { gcm } from '@noble/ciphers/aes.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { type DevAccount, dev_accounts } from '../../protocol/bank.js';
import { concat, from_base64, from_hex, to_base64, to_hex, utf8 } from '../../protocol/bytes.js';
import { is_address_hex, is_hex64 } from '../../protocol/checks.js';
import { noble_provider as p } from '../../protocol/providers/noble.js';
import { account_address } from '../../protocol/tx.js';
import { ClientErrorCode, KeyringError, WrongPassphraseError } from './errors.js';

/** Bytes of each secret of a key (Ed25519 seed, X25519 scalar). */
export const KEY_SECRET_BYTES = 32;
/** Most characters in a key name. */
export const KEY_NAME_CHARS_MAX = 64;
/** Default scrypt cost, as log2(N) (N = 2^15, r = 8, p = 1: about 32 MiB and 0.2 s). */
export const SCRYPT_LOG_N_DEFAULT = 15;
/** Highest scrypt log2(N) a key file may ask for, so a crafted file cannot demand unbounded work. */
export const SCRYPT_LOG_N_MAX = 20;
/** Highest scrypt r or p a key file may ask for. */
export const SCRYPT_RP_MAX = 16;
/** Bytes of the scrypt salt. */
export const KEYFILE_SALT_BYTES = 16;
/** Bytes of the AES-GCM IV. */
export const KEYFILE_IV_BYTES = 12;
/** The `format` field of a key file. */
export const KEYFILE_FORMAT = 'cloister-keyring';
/** The `version` field of a key file this SDK writes and reads. */
export const KEYFILE_VERSION = 1;

const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
const AAD_PREFIX = 'cloister/keyring/v1\n';

/** A key with its secrets, as the SDK signs and encrypts with it. */
export interface ClientKey {
  /** The key's name in the key file. */
  readonly name: string;
  /** 32-byte Ed25519 secret key (RFC 8032 seed) of the account (protocol.md §5). */
  readonly account_sk: Uint8Array;
  /** 32-byte X25519 secret key used as `sk_u` in envelopes (protocol.md §3). */
  readonly encryption_sk: Uint8Array;
}

/** The public facts of a key: safe to print. */
export interface KeyInfo {
  name: string;
  /** Account address: hex of the first 20 bytes of H(account public key) (protocol.md §5). */
  address: string;
  /** Hex Ed25519 public key, the `sender` of its transactions (protocol.md §5). */
  account_pubkey: string;
  /** Hex X25519 public key, the `pk_u` of its envelopes (protocol.md §3). */
  encryption_pubkey: string;
}

/** {@link KeyInfo} of a stored key, with whether its secrets are passphrase-sealed. */
export interface StoredKeyInfo extends KeyInfo {
  encrypted: boolean;
}

/** scrypt cost parameters (RFC 7914). */
export interface ScryptParams {
  /** log2 of N, 1 to {@link SCRYPT_LOG_N_MAX}. */
  log_n: number;
  r: number;
  p: number;
}

type PlainSecret = { type: 'plain'; account_sk: string; encryption_sk: string };
type SealedSecret = {
  type: 'scrypt-aes-256-gcm';
  log_n: number;
  r: number;
  p: number;
  salt: string;
  iv: string;
  ciphertext: string;
};
interface StoredKey extends KeyInfo {
  secret: PlainSecret | SealedSecret;
}

/** Throws TypeError/RangeError unless `name` is 1-64 characters of `[A-Za-z0-9._-]`. */
export function check_key_name(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw new TypeError('key name must be a string');
  if (!NAME_RE.test(name)) {
    throw new RangeError(
      `key name ${JSON.stringify(name)} must be 1 to ${KEY_NAME_CHARS_MAX} characters of A-Z a-z 0-9 . _ -`,
    );
  }
}

/** A key from its two 32-byte secrets (protocol.md §3, §5). TypeError/RangeError on bad input. */
export function make_key(name: string, account_sk: Uint8Array, encryption_sk: Uint8Array): ClientKey {
  check_key_name(name);
  if (!(account_sk instanceof Uint8Array)) throw new TypeError('account_sk must be a Uint8Array');
  if (!(encryption_sk instanceof Uint8Array)) throw new TypeError('encryption_sk must be a Uint8Array');
  if (account_sk.length !== KEY_SECRET_BYTES || encryption_sk.length !== KEY_SECRET_BYTES)
    throw new RangeError(`account_sk and encryption_sk must be ${KEY_SECRET_BYTES} bytes each`);
  return Object.freeze({
    name,
    account_sk: Uint8Array.from(account_sk),
    encryption_sk: Uint8Array.from(encryption_sk),
  });
}

/** A fresh key from `random` (e.g. `crypto.getRandomValues`-backed). */
export function generate_key(name: string, random: (bytes: number) => Uint8Array): ClientKey {
  if (typeof random !== 'function') throw new TypeError('random must be a function');
  return make_key(name, random(KEY_SECRET_BYTES), random(KEY_SECRET_BYTES));
}

/** The public facts of a key: address and public keys (protocol.md §3, §5). */
export function key_info(key: ClientKey): KeyInfo {
  const account_pubkey = p.ed25519_public(key.account_sk);
  return {
    name: key.name,
    address: account_address(p, account_pubkey),
    account_pubkey: to_hex(account_pubkey),
    encryption_pubkey: to_hex(p.x25519_secret(key.encryption_sk).public_key),
  };
}

/**
 * The development accounts `dev0` … `dev3` as keys (protocol.md §9, protocol/bank.ts): the account
 * key is the bank's fixed, public one; the encryption key (the client's own choice, §3) is fixed too,
 * `H(utf8("cloister/dev-account/" + name + "/encryption"))`, so every tool that imports them holds
 * the same keys and can read their results. Anyone can rebuild these secrets: development networks only.
 */
export function dev_keys(): ClientKey[] {
  return dev_accounts(p).map((account: DevAccount) =>
    make_key(
      account.name,
      from_hex(account.secret_key, KEY_SECRET_BYTES),
      p.sha256(utf8(`cloister/dev-account/${account.name}/encryption`)),
    ),
  );
}

/** Default `random` of the browser-safe SDK: Web Crypto's `getRandomValues` (Node 20 has it too). */
export function web_random(bytes: number): Uint8Array {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError('bytes must be a non-negative integer');
  return globalThis.crypto.getRandomValues(new Uint8Array(bytes));
}

function invalid(message: string): never {
  throw new KeyringError(ClientErrorCode.KEYRING_INVALID, `invalid key file: ${message}`);
}

function check_scrypt(params: ScryptParams): void {
  const { log_n, r, p: par } = params;
  for (const [label, value, max] of [
    ['log_n', log_n, SCRYPT_LOG_N_MAX],
    ['r', r, SCRYPT_RP_MAX],
    ['p', par, SCRYPT_RP_MAX],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1 || value > max)
      throw new RangeError(`scrypt ${label} must be an integer from 1 to ${max}`);
  }
}

function aad(info: KeyInfo): Uint8Array {
  // The public half is bound to the sealed secrets: swapping names or public keys between entries
  // makes the entry fail to open instead of silently pairing a name with someone else's secrets.
  return utf8(`${AAD_PREFIX}${info.name}\n${info.account_pubkey}\n${info.encryption_pubkey}`);
}

async function derive_wrap_key(
  passphrase: string,
  salt: Uint8Array,
  params: ScryptParams,
): Promise<Uint8Array> {
  // NFC, so the same passphrase typed on systems that compose accents differently opens the key.
  return scryptAsync(utf8(passphrase.normalize('NFC')), salt, {
    N: 2 ** params.log_n,
    r: params.r,
    p: params.p,
    dkLen: 32,
  });
}

function check_passphrase(passphrase: unknown): asserts passphrase is string {
  if (typeof passphrase !== 'string') throw new TypeError('passphrase must be a string');
  if (passphrase.length === 0) throw new RangeError('passphrase must not be empty');
}

function parse_entry(value: unknown, index: number): StoredKey {
  const where = `keys[${index}]`;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    invalid(`${where} is not an object`);
  const v = value as Record<string, unknown>;
  const name = v['name'];
  if (typeof name !== 'string' || !NAME_RE.test(name)) invalid(`${where}.name is not a valid key name`);
  const address = v['address'];
  const account_pubkey = v['account_pubkey'];
  const encryption_pubkey = v['encryption_pubkey'];
  if (!is_address_hex(address)) invalid(`${where}.address is not 40 hex`);
  if (!is_hex64(account_pubkey)) invalid(`${where}.account_pubkey is not 64 hex`);
  if (!is_hex64(encryption_pubkey)) invalid(`${where}.encryption_pubkey is not 64 hex`);
  if (account_address(p, from_hex(account_pubkey, 32)) !== address)
    invalid(`${where}.address does not belong to its account_pubkey`);
  const secret = v['secret'];
  if (typeof secret !== 'object' || secret === null) invalid(`${where}.secret is not an object`);
  const s = secret as Record<string, unknown>;
  const b64 = (field: string, bytes?: number): string => {
    const text = s[field];
    let decoded: Uint8Array;
    try {
      decoded = from_base64(text as string);
    } catch {
      invalid(`${where}.secret.${field} is not base64`);
    }
    if (bytes !== undefined && decoded.length !== bytes)
      invalid(`${where}.secret.${field} is not ${bytes} bytes`);
    return text as string;
  };
  let parsed: PlainSecret | SealedSecret;
  if (s['type'] === 'plain') {
    const a = s['account_sk'];
    const e = s['encryption_sk'];
    if (!is_hex64(a) || !is_hex64(e)) invalid(`${where}.secret holds no 64-hex secrets`);
    parsed = { type: 'plain', account_sk: a, encryption_sk: e };
  } else if (s['type'] === 'scrypt-aes-256-gcm') {
    const params = { log_n: s['log_n'] as number, r: s['r'] as number, p: s['p'] as number };
    try {
      check_scrypt(params);
    } catch (error) {
      invalid(`${where}.secret: ${(error as Error).message}`);
    }
    parsed = {
      type: 'scrypt-aes-256-gcm',
      ...params,
      salt: b64('salt', KEYFILE_SALT_BYTES),
      iv: b64('iv', KEYFILE_IV_BYTES),
      ciphertext: b64('ciphertext', 2 * KEY_SECRET_BYTES + 16),
    };
  } else {
    invalid(`${where}.secret.type must be "plain" or "scrypt-aes-256-gcm"`);
  }
  return { name, address, account_pubkey, encryption_pubkey, secret: parsed };
}

/**
 * Several named keys, as stored in a key file (format in docs/client.md). Construct with
 * `new Keyring({json})` to read a file's text (KeyringError code 214 if it is not a key file) or
 * `new Keyring({})` for an empty one; {@link Keyring.serialize} gives the text to write back.
 */
export class Keyring {
  readonly #keys: StoredKey[] = [];
  readonly #random: (bytes: number) => Uint8Array;

  /**
   * @param opts.json a key file's text to load; an empty keyring if left out.
   * @param modules.random source of salts and IVs (default Web Crypto).
   */
  constructor(opts: { json?: string } = {}, modules: { random?: (bytes: number) => Uint8Array } = {}) {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('opts must be an object');
    this.#random = modules.random ?? web_random;
    if (opts.json === undefined) return;
    if (typeof opts.json !== 'string') throw new TypeError('opts.json must be a string');
    let value: unknown;
    try {
      value = JSON.parse(opts.json);
    } catch {
      invalid('not JSON');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid('not a JSON object');
    const file = value as Record<string, unknown>;
    if (file['format'] !== KEYFILE_FORMAT) invalid(`format is not "${KEYFILE_FORMAT}"`);
    if (file['version'] !== KEYFILE_VERSION)
      invalid(`version ${JSON.stringify(file['version'])} is not ${KEYFILE_VERSION}`);
    const keys = file['keys'];
    if (!Array.isArray(keys)) invalid('keys is not an array');
    keys.forEach((entry, i) => {
      const key = parse_entry(entry, i);
      if (this.#find(key.name) !== undefined) invalid(`key name ${key.name} appears twice`);
      this.#keys.push(key);
    });
  }

  #find(name: string): StoredKey | undefined {
    return this.#keys.find((k) => k.name === name);
  }

  #get(name: string): StoredKey {
    check_key_name(name);
    const key = this.#find(name);
    if (key === undefined) {
      const names = this.#keys.map((k) => k.name);
      throw new KeyringError(
        ClientErrorCode.KEY_NOT_FOUND,
        `no key named ${JSON.stringify(name)} (${names.length === 0 ? 'the key file has none; add one with `cloister keys add NAME`' : `have: ${names.join(', ')}`})`,
      );
    }
    return key;
  }

  /** The key file's text (JSON, two-space indented, keys in the order they were added). */
  serialize(): string {
    return `${JSON.stringify({ format: KEYFILE_FORMAT, version: KEYFILE_VERSION, keys: this.#keys }, null, 2)}\n`;
  }

  /** Public facts of every key, in the order added. */
  list(): StoredKeyInfo[] {
    return this.#keys.map((k) => this.info(k.name));
  }

  /** Whether a key of that name exists. */
  has(name: string): boolean {
    check_key_name(name);
    return this.#find(name) !== undefined;
  }

  /** Public facts of one key; KeyringError code 210 if there is none of that name. */
  info(name: string): StoredKeyInfo {
    const k = this.#get(name);
    return {
      name: k.name,
      address: k.address,
      account_pubkey: k.account_pubkey,
      encryption_pubkey: k.encryption_pubkey,
      encrypted: k.secret.type !== 'plain',
    };
  }

  /** The stored key whose encryption public key (hex, protocol.md §3 `pk_u`) is `pubkey`, if any. */
  find_by_encryption_pubkey(pubkey: string): StoredKeyInfo | undefined {
    if (typeof pubkey !== 'string') throw new TypeError('pubkey must be a string');
    const k = this.#keys.find((x) => x.encryption_pubkey === pubkey);
    return k === undefined ? undefined : this.info(k.name);
  }

  /**
   * Adds `key`; with a passphrase its secrets are sealed (scrypt, then AES-256-GCM), else stored
   * as hex. KeyringError code 211 if the name is taken. `opts.scrypt` lowers the cost for tests.
   */
  async add(
    key: ClientKey,
    opts: { passphrase?: string | undefined; scrypt?: ScryptParams } = {},
  ): Promise<StoredKeyInfo> {
    const info = key_info(key);
    if (this.#find(info.name) !== undefined) {
      throw new KeyringError(
        ClientErrorCode.KEY_EXISTS,
        `a key named ${JSON.stringify(info.name)} already exists; pick another name or delete it first`,
      );
    }
    let secret: PlainSecret | SealedSecret;
    if (opts.passphrase === undefined) {
      secret = {
        type: 'plain',
        account_sk: to_hex(key.account_sk),
        encryption_sk: to_hex(key.encryption_sk),
      };
    } else {
      check_passphrase(opts.passphrase);
      const params = opts.scrypt ?? { log_n: SCRYPT_LOG_N_DEFAULT, r: 8, p: 1 };
      check_scrypt(params);
      const salt = this.#random(KEYFILE_SALT_BYTES);
      const iv = this.#random(KEYFILE_IV_BYTES);
      const wrap = await derive_wrap_key(opts.passphrase, salt, params);
      const ciphertext = gcm(wrap, iv, aad(info)).encrypt(concat(key.account_sk, key.encryption_sk));
      secret = {
        type: 'scrypt-aes-256-gcm',
        ...params,
        salt: to_base64(salt),
        iv: to_base64(iv),
        ciphertext: to_base64(ciphertext),
      };
    }
    this.#keys.push({ ...info, secret });
    return this.info(info.name);
  }

  /**
   * The key with its secrets. A sealed key needs its passphrase: KeyringError code 213 without
   * one, {@link WrongPassphraseError} (code 212) if it does not open the key.
   */
  async unlock(name: string, passphrase?: string): Promise<ClientKey> {
    const k = this.#get(name);
    let account_sk: Uint8Array;
    let encryption_sk: Uint8Array;
    if (k.secret.type === 'plain') {
      account_sk = from_hex(k.secret.account_sk, 32);
      encryption_sk = from_hex(k.secret.encryption_sk, 32);
    } else {
      if (passphrase === undefined) {
        throw new KeyringError(
          ClientErrorCode.PASSPHRASE_REQUIRED,
          `key ${JSON.stringify(name)} is encrypted: give its passphrase with --passphrase-file FILE or CLOISTER_PASSPHRASE`,
        );
      }
      check_passphrase(passphrase);
      const s = k.secret;
      const wrap = await derive_wrap_key(passphrase, from_base64(s.salt), s);
      let plain: Uint8Array;
      try {
        plain = gcm(wrap, from_base64(s.iv), aad(k)).decrypt(from_base64(s.ciphertext));
      } catch {
        throw new WrongPassphraseError(name);
      }
      account_sk = plain.slice(0, KEY_SECRET_BYTES);
      encryption_sk = plain.slice(KEY_SECRET_BYTES);
    }
    const key = make_key(k.name, account_sk, encryption_sk);
    const derived = key_info(key);
    // A plain entry is not authenticated: make sure its secrets are the ones its public keys claim.
    if (derived.account_pubkey !== k.account_pubkey || derived.encryption_pubkey !== k.encryption_pubkey)
      invalid(`key ${name}'s secrets do not match its public keys`);
    return key;
  }

  /**
   * One key as a key file of its own (the format of {@link serialize}), its secrets exactly as
   * stored: a sealed key stays sealed under its passphrase, a plain one stays plain. KeyringError
   * code 210 if there is none of that name.
   */
  export(name: string): string {
    const k = this.#get(name);
    return `${JSON.stringify({ format: KEYFILE_FORMAT, version: KEYFILE_VERSION, keys: [k] }, null, 2)}\n`;
  }

  /**
   * Adds every key of another key file's text (what {@link export} or {@link serialize} wrote),
   * all or none: KeyringError code 214 if the text is not a valid key file, code 211 if one of
   * its names is taken here (a sealed key's name is part of what its passphrase seals, so it
   * cannot be renamed on the way in). Answers the keys added.
   */
  import(json: string): StoredKeyInfo[] {
    const other = new Keyring({ json });
    const names = other.list().map((k) => k.name);
    const taken = names.filter((name) => this.#find(name) !== undefined);
    if (taken.length > 0)
      throw new KeyringError(
        ClientErrorCode.KEY_EXISTS,
        `the key file already has ${taken.map((n) => JSON.stringify(n)).join(', ')}; delete it first, or import into another key file`,
      );
    for (const name of names) this.#keys.push(other.#get(name));
    return names.map((name) => this.info(name));
  }

  /** Deletes a key; KeyringError code 210 if there is none of that name. */
  remove(name: string): StoredKeyInfo {
    const info = this.info(name);
    this.#keys.splice(
      this.#keys.findIndex((k) => k.name === name),
      1,
    );
    return info;
  }
}
