/**
 * The last-signed record: what this validator signed last (the double-signing guard's
 * {@link SignedState}), kept in its own file in the home, beside the store rather than inside it,
 * so a store that lost synced writes (a truncated LevelDB log, an older copy restored) cannot roll
 * the guard back with it, and so the two can be compared on start.
 *
 * The file (`home/signing_record.json`) is JSON:
 *
 *   {"format": "cloister/signing-record", "version": 1, "checksum": hex, "record": SigningRecord}
 *
 * where `checksum = hex(SHA-256(utf8("cloister/signing-record/v1\n" ‖ jcs(record))))`. It is
 * written atomically (temporary file, fsync, rename, fsync of the folder), so a crash leaves the
 * old record or the new one. Like the store's checksums it is not a security measure (whoever can
 * write the home can recompute it): it turns disk faults, truncation and hand edits into loud,
 * typed errors instead of a guard silently reset.
 *
 * Where the record is kept is a seam ({@link SigningRecordIo}): the file above in a node
 * ({@link file_record_io}), or a file of the simulator's disk ({@link memory_record_io}, the same
 * text and checks), so a simulated validator keeps its record across simulated crashes.
 *
 * This module is the format, the start-up rule and the two ways to keep a record, all pure or
 * file-local; the node's wiring (saving, the store copy, sitting out a height after a reset) is in
 * ./signing_guard.ts.
 * @module
 */

import { createHash } from 'node:crypto';
import { open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { jcs } from '../protocol/jcs.js';
import type { BlockShapeLimits } from './consensus/shapes.js';
import { is_hex64 } from './consensus/shapes.js';
import { compare_position, type SignedState, signed_state_error } from './consensus/signed_state.js';

/** The file's `format` field. */
export const SIGNING_RECORD_FORMAT = 'cloister/signing-record';
/** The version this code writes and the only one it reads. */
export const SIGNING_RECORD_VERSION = 1;
/** The record's file name inside a validator home. */
export const SIGNING_RECORD_FILE = 'signing_record.json';
/** Longest record file read, in bytes: a signed state holds at most two blocks. */
export const SIGNING_RECORD_BYTES_MAX = 256 * 1024 * 1024;

/** What the record holds (the checksummed part of the file). */
export interface SigningRecord {
  /** The chain this validator signs for. */
  chain_id: string;
  /** This validator's consensus public key (hex): a record of another key is refused. */
  validator: string;
  /**
   * The store's committed height when the record was last written. The store only grows, so a
   * store found below it on start lost writes it had synced (the disk, or a restored copy).
   */
  store_height_min: number;
  /** What this validator signed last, with its lock: the guard. Null: it never signed. */
  state: SignedState | null;
  /**
   * Set by `cloister node reset-signing`: before signing again the node syncs from a peer and sits
   * out the height the network is then deciding (see signing_guard.ts). Cleared once that floor
   * is fixed.
   */
  sync_before_signing: boolean;
  /** Sign nothing at a height at or below this one (0: no floor). Set after a reset. */
  floor_height: number;
}

/** Where the record lives in a home. */
export function signing_record_path(home: string): string {
  return join(home, SIGNING_RECORD_FILE);
}

/** The command that rewrites a validator's record, which every refusal names. */
export function reset_signing_command(home: string): string {
  return `cloister node reset-signing --home ${home} --i-know`;
}

/** The record file could not be used. `path` is the file. */
export class SigningRecordError extends Error {
  override readonly name: string = 'SigningRecordError';
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.path = path;
  }
}

/** The record file is damaged: truncated, not JSON, a wrong checksum, or a record of a wrong shape. */
export class SigningRecordCorruptError extends SigningRecordError {
  override readonly name = 'SigningRecordCorruptError';
}

/** The record file is of another version than this code reads. */
export class SigningRecordVersionError extends SigningRecordError {
  override readonly name = 'SigningRecordVersionError';
  /** The version found in the file. */
  readonly version: unknown;

  constructor(path: string, version: unknown) {
    super(
      path,
      `${path}: signing record version ${JSON.stringify(version)}, this build reads version ${SIGNING_RECORD_VERSION}`,
    );
    this.version = version;
  }
}

/** Why a validator refused to start: each reason names what happened to the store or the record. */
export type SigningRefusal =
  | 'store_rolled_back'
  | 'record_missing'
  | 'record_unreadable'
  | 'record_foreign'
  | 'record_behind_store';

/**
 * A validator refused to start because signing from what it found could sign twice at one height,
 * round and step. The message says what was found and the way to recover (`reset-signing`).
 */
export class SigningStartRefusedError extends Error {
  override readonly name = 'SigningStartRefusedError';
  readonly reason: SigningRefusal;
  /** The command that recovers, once the operator is sure it is safe. */
  readonly recover: string;

  constructor(reason: SigningRefusal, home: string | null, what: string, options?: { cause?: unknown }) {
    const recover = home === null ? 'cloister node reset-signing --i-know' : reset_signing_command(home);
    super(
      `refusing to start: ${what}. Signing from here could sign twice at one height, round and step ` +
        `(slashable equivocation). If you are sure this validator never signed above the store's height, ` +
        `run \`${recover}\` (see \`cloister node reset-signing --help\`)`,
      options,
    );
    this.reason = reason;
    this.recover = recover;
  }
}

function record_checksum(record: SigningRecord): string {
  const domain = `${SIGNING_RECORD_FORMAT}/v${SIGNING_RECORD_VERSION}\n`;
  return createHash('sha256')
    .update(domain + jcs(record), 'utf8')
    .digest('hex');
}

/** The file text of `record`. */
export function encode_signing_record(record: SigningRecord): string {
  const file = {
    format: SIGNING_RECORD_FORMAT,
    version: SIGNING_RECORD_VERSION,
    checksum: record_checksum(record),
    record,
  };
  return `${JSON.stringify(file)}\n`;
}

/** Why `value` is not a SigningRecord, or null. */
export function signing_record_error(value: unknown, limits: BlockShapeLimits): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'record is not an object';
  const v = value as Record<string, unknown>;
  const keys = ['chain_id', 'validator', 'store_height_min', 'state', 'sync_before_signing', 'floor_height'];
  if (Object.keys(v).length !== keys.length || !keys.every((k) => Object.hasOwn(v, k))) return 'record keys';
  if (typeof v['chain_id'] !== 'string' || v['chain_id'].length === 0) return 'chain_id';
  if (!is_hex64(v['validator'])) return 'validator';
  for (const key of ['store_height_min', 'floor_height']) {
    if (!Number.isSafeInteger(v[key]) || (v[key] as number) < 0) return key;
  }
  if (typeof v['sync_before_signing'] !== 'boolean') return 'sync_before_signing';
  if (v['state'] !== null) {
    const e = signed_state_error(v['state'], limits);
    if (e !== null) return `state: ${e}`;
  }
  return null;
}

/**
 * Parses a record file's text. Throws {@link SigningRecordVersionError} for another version and
 * {@link SigningRecordCorruptError} for anything else wrong (`path` only names the file).
 */
export function decode_signing_record(
  text: string,
  limits: BlockShapeLimits,
  path = 'signing record',
): SigningRecord {
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch (error) {
    throw new SigningRecordCorruptError(path, `${path} is not JSON (truncated?)`, { cause: error });
  }
  if (typeof file !== 'object' || file === null || Array.isArray(file)) {
    throw new SigningRecordCorruptError(path, `${path} is not a signing record`);
  }
  const f = file as Record<string, unknown>;
  if (f['format'] !== SIGNING_RECORD_FORMAT) {
    throw new SigningRecordCorruptError(path, `${path} is not a signing record (format)`);
  }
  // The version first: a newer file may legitimately have another layout.
  if (f['version'] !== SIGNING_RECORD_VERSION) throw new SigningRecordVersionError(path, f['version']);
  if (Object.keys(f).length !== 4 || typeof f['checksum'] !== 'string') {
    throw new SigningRecordCorruptError(path, `${path}: file keys`);
  }
  const why = signing_record_error(f['record'], limits);
  if (why !== null) throw new SigningRecordCorruptError(path, `${path}: malformed record (${why})`);
  const record = f['record'] as SigningRecord;
  if (record_checksum(record) !== f['checksum']) {
    throw new SigningRecordCorruptError(path, `${path}: checksum does not match its content`);
  }
  return record;
}

/** Reads and checks the record at `path`; null if there is no file. Throws as {@link decode_signing_record}. */
export async function read_signing_record(
  path: string,
  limits: BlockShapeLimits,
): Promise<SigningRecord | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SigningRecordError(path, `${path}: ${(error as Error).message}`, { cause: error });
  }
  if (bytes.length > SIGNING_RECORD_BYTES_MAX) {
    throw new SigningRecordCorruptError(path, `${path} is larger than any signing record`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw new SigningRecordCorruptError(path, `${path} is not UTF-8`, { cause: error });
  }
  return decode_signing_record(text, limits, path);
}

/**
 * Writes `record` to `path` durably and atomically: a temporary file beside it, fdatasync, rename over
 * the old one, fsync of the folder (so the rename itself survives a power loss). Resolves only
 * once all of that is done; on any failure the old file is still whole.
 */
export async function write_signing_record(path: string, record: SigningRecord): Promise<void> {
  const temporary = `${path}.tmp`;
  const handle = await open(temporary, 'w', 0o600);
  try {
    await handle.writeFile(encode_signing_record(record), 'utf8');
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
  const folder = await open(dirname(path), 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

/**
 * Where a validator's signing record is kept. A write must be atomic and durable: once it
 * resolves a crash keeps the new record, and a crash before that leaves the old one whole.
 */
export interface SigningRecordIo {
  /** What errors and refusals call the record (its file's path); 'the signing record' if absent. */
  readonly where?: string;
  /**
   * The record, or null if none was ever written. Throws {@link SigningRecordVersionError} or
   * {@link SigningRecordCorruptError} for a damaged one (as {@link read_signing_record}).
   */
  read(limits: BlockShapeLimits): Promise<SigningRecord | null>;
  /** Replaces the record, atomically and durably. */
  write(record: SigningRecord): Promise<void>;
}

/** The record in the file at `path` ({@link read_signing_record}, {@link write_signing_record}). */
export function file_record_io(path: string): SigningRecordIo {
  return {
    where: path,
    read: (limits) => read_signing_record(path, limits),
    write: (record) => write_signing_record(path, record),
  };
}

/**
 * The record as the text of a whole-file slot that is replaced atomically and durably, such as a
 * file of the simulator's disk (`MemoryDisk.open_file`, node/store/memory_disk.ts), which keeps
 * what was written across a simulated crash. The text is the record file's, read with the same
 * checks; `where` names it in errors.
 */
export function memory_record_io(
  file: { read(): Promise<string | null>; write(text: string): Promise<void> },
  where = `${SIGNING_RECORD_FILE} (simulated disk)`,
): SigningRecordIo {
  return {
    where,
    read: async (limits) => {
      const text = await file.read();
      return text === null ? null : decode_signing_record(text, limits, where);
    },
    write: (record) => file.write(encode_signing_record(record)),
  };
}

/** What {@link check_signing_start} compares. */
export interface SigningStartInput {
  /** The home, for the recovery command in a refusal; null for a validator without one (simulated). */
  home: string | null;
  /** What refusals call the record; by default its file in `home`. */
  where?: string;
  chain_id: string;
  /** This validator's public key (hex). */
  validator: string;
  /** The record as read: null if there is none, an Error if it could not be read. */
  record: SigningRecord | null | Error;
  /** The store's committed height. */
  store_height: number;
  /** The store's copy of the signed state (`consensus/state`), null if none. */
  store_state: unknown;
  limits: BlockShapeLimits;
}

/**
 * The start-up rule: returns the record to sign from, a new empty one for a brand-new home, or
 * throws {@link SigningStartRefusedError}. Pure, so every case is tested on its own.
 *
 * - No record, and the store never committed nor saved a signed state: a new home; start empty.
 * - No record (or an unreadable one) while the store shows this validator took part (height > 0
 *   or a signed state in the store): what it signed since is unknown; refuse.
 * - A record of another chain or key: refuse.
 * - The store is below the height the record saw it at: the store lost synced writes; refuse.
 * - The store's copy of the signed state is ahead of the record: the record is older than what
 *   was signed (it is written first, so this never happens by a crash); refuse.
 */
export function check_signing_start(input: SigningStartInput): SigningRecord {
  const { home, record, store_height } = input;
  const where = input.where ?? (home === null ? null : signing_record_path(home));
  const store_state =
    input.store_state !== null && signed_state_error(input.store_state, input.limits) === null
      ? (input.store_state as SignedState)
      : null;
  const store_signed = store_height > 0 || input.store_state !== null;
  if (record instanceof Error) {
    throw new SigningStartRefusedError(
      'record_unreadable',
      home,
      `the signing record cannot be read (${record.message})`,
      { cause: record },
    );
  }
  if (record === null) {
    if (!store_signed) {
      return {
        chain_id: input.chain_id,
        validator: input.validator,
        store_height_min: 0,
        state: null,
        sync_before_signing: false,
        floor_height: 0,
      };
    }
    throw new SigningStartRefusedError(
      'record_missing',
      home,
      `the signing record${where === null ? '' : ` ${where}`} is missing, but the store is at height ${store_height}` +
        (input.store_state !== null ? ' and holds a signed state' : ''),
    );
  }
  if (record.chain_id !== input.chain_id || record.validator !== input.validator) {
    throw new SigningStartRefusedError(
      'record_foreign',
      home,
      `the signing record is for ${record.chain_id} / ${record.validator.slice(0, 16)}, not this validator`,
    );
  }
  if (store_height < record.store_height_min) {
    throw new SigningStartRefusedError(
      'store_rolled_back',
      home,
      `the store is at height ${store_height} but was at ${record.store_height_min} when this validator ` +
        `last signed: it was rolled back (the disk lost synced writes, or an older copy was restored)`,
    );
  }
  if (store_state !== null && (record.state === null || compare_position(store_state, record.state) > 0)) {
    const at = (s: SignedState | null) => (s === null ? 'nothing' : `${s.height}/${s.round}/${s.step}`);
    throw new SigningStartRefusedError(
      'record_behind_store',
      home,
      `the signing record (${at(record.state)}) is behind the store's copy of the signed state ` +
        `(${at(store_state)}): the record lost writes or an older copy was restored`,
    );
  }
  return record;
}
