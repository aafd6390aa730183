/**
 * The cryptography of the three-phase key exchange (docs/channels.md "Three-phase key exchange"):
 * fingerprints, the signed public-key bundle of phase 2, commitments, halves sealed to the peer's
 * X25519 key and signed, the key derivation over both halves and the transcript, and the key
 * confirmation MAC. Every hashed, signed or MACed string is {@link framed} with its own domain.
 * Browser-safe (noble only).
 * @module
 */

import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { concat, equal_bytes, from_utf8, to_hex, utf8 } from '../../../protocol/bytes.js';
import { noble_provider as p } from '../../../protocol/providers/noble.js';
import { account_address } from '../../../protocol/tx.js';
import type { ClientKey } from '../keys.js';
import { framed } from './encoding.js';
import { is_key_id } from './key_uri.js';
import { kx_key_pair, x25519_shared } from './kx_keys.js';

/** Which side of the exchange: A started it (PING), B answered (PONG). */
export type Kx3Side = 'A' | 'B';

/** Bytes of each side's nonce; the session id is as long. */
export const KX3_NONCE_BYTES = 16;
/** Bytes of each side's half of the key material. */
export const KX3_HALF_BYTES = 32;
/** Bytes of a fingerprint. */
export const KX3_FINGERPRINT_BYTES = 32;

/** A party's public keys as phase 2 carries them. */
export interface Kx3PublicKeys {
  /** 32-byte Ed25519 account public key: its hash is the party's address. */
  account_pubkey: Uint8Array;
  /** 32-byte X25519 key-agreement public key (`kx_key_pair(key, key_id)`). */
  kx_pubkey: Uint8Array;
  key_id: string;
}

/** `H(framed("cloister/kx3/fingerprint", account_pubkey, kx_pubkey))`. */
export function fingerprint(keys: Pick<Kx3PublicKeys, 'account_pubkey' | 'kx_pubkey'>): Uint8Array {
  return p.sha256(framed('cloister/kx3/fingerprint', keys.account_pubkey, keys.kx_pubkey));
}

/** A fingerprint as people compare it: hex in groups of four. */
export function fingerprint_text(fp: Uint8Array): string {
  return (to_hex(fp).match(/.{1,4}/g) ?? []).join(' ');
}

/** The public keys of `key` with key-agreement key `key_id`. */
export function own_public_keys(key: ClientKey, key_id: string): Kx3PublicKeys {
  return {
    account_pubkey: p.ed25519_public(key.account_sk),
    kx_pubkey: kx_key_pair(key, key_id).public_key,
    key_id,
  };
}

function bundle_message(address: string, keys: Kx3PublicKeys): Uint8Array {
  return framed('cloister/kx3/pub', address, keys.account_pubkey, keys.kx_pubkey, keys.key_id);
}

/**
 * Phase 2's payload: `account_pubkey(32) ‖ kx_pubkey(32) ‖ signature(64) ‖ utf8(key_id)`, the
 * signature by the account key over the address and both public keys, so the key-agreement key
 * belongs to the account (IRCrypt imported whatever key arrived).
 */
export function encode_public_keys(key: ClientKey, key_id: string): Uint8Array {
  const keys = own_public_keys(key, key_id);
  const address = account_address(p, keys.account_pubkey);
  const signature = p.ed25519_sign(key.account_sk, bundle_message(address, keys));
  return concat(keys.account_pubkey, keys.kx_pubkey, signature, utf8(key_id));
}

/** Why a public-key bundle was refused. */
export type BundleProblem = 'malformed' | 'wrong_account' | 'bad_signature';

/**
 * Checks a phase 2 payload from the party at `address`: well formed, the account key hashes to
 * `address`, signed by that account key. The keys, or the problem.
 */
export function decode_public_keys(
  payload: Uint8Array,
  address: string,
): { keys: Kx3PublicKeys } | { problem: BundleProblem; keys?: Kx3PublicKeys } {
  if (payload.length < 129 || payload.length > 128 + 32) return { problem: 'malformed' };
  let key_id: string;
  try {
    key_id = from_utf8(payload.subarray(128));
  } catch {
    return { problem: 'malformed' };
  }
  if (!is_key_id(key_id)) return { problem: 'malformed' };
  const keys: Kx3PublicKeys = {
    account_pubkey: payload.slice(0, 32),
    kx_pubkey: payload.slice(32, 64),
    key_id,
  };
  if (account_address(p, keys.account_pubkey) !== address) return { problem: 'wrong_account', keys };
  if (!p.ed25519_verify(payload.subarray(64, 128), bundle_message(address, keys), keys.account_pubkey))
    return { problem: 'bad_signature', keys };
  return { keys };
}

/** The session id from both nonces: the first 16 bytes of `H(framed("cloister/kx3/session", nA, nB))`. */
export function session_id(nonce_a: Uint8Array, nonce_b: Uint8Array): Uint8Array {
  return p.sha256(framed('cloister/kx3/session', nonce_a, nonce_b)).slice(0, KX3_NONCE_BYTES);
}

/** The commitment to a half: `H(framed("cloister/kx3/commit", half, session_id, side))`. */
export function commitment(half: Uint8Array, sid: Uint8Array, side: Kx3Side): Uint8Array {
  return p.sha256(framed('cloister/kx3/commit', half, sid, side));
}

/** What both sides hash into the transcript, ordered by side (A's, then B's), not by arrival. */
export interface Kx3TranscriptParts {
  address_a: string;
  address_b: string;
  nonce_a: Uint8Array;
  nonce_b: Uint8Array;
  ping: Uint8Array;
  pong: Uint8Array;
  next: Uint8Array;
  /** Fingerprints of the keys each side is known by in this session. */
  fingerprint_a: Uint8Array;
  fingerprint_b: Uint8Array;
  /** Phase 2 payloads, empty when that side did not send its keys. */
  pub_a: Uint8Array;
  pub_b: Uint8Array;
  commit_a: Uint8Array;
  commit_b: Uint8Array;
}

/** The transcript hash up to both commitments: what each reveal is signed over. */
export function transcript_hash(t: Kx3TranscriptParts): Uint8Array {
  return p.sha256(
    framed(
      'cloister/kx3/transcript/v1',
      t.address_a,
      t.address_b,
      t.nonce_a,
      t.nonce_b,
      t.ping,
      t.pong,
      t.next,
      t.fingerprint_a,
      t.fingerprint_b,
      t.pub_a,
      t.pub_b,
      t.commit_a,
      t.commit_b,
    ),
  );
}

/** The transcript hash over both reveals as well: the key derivation's info. */
export function final_transcript_hash(
  transcript: Uint8Array,
  sym_a: Uint8Array,
  sym_b: Uint8Array,
): Uint8Array {
  return p.sha256(framed('cloister/kx3/final/v1', transcript, sym_a, sym_b));
}

/** Bytes of a phase 3 reveal: ephemeral key, nonce, sealed half, signature. */
export const KX3_SYM_BYTES = 32 + 24 + KX3_HALF_BYTES + 16 + 64;

function reveal_key(
  shared: Uint8Array,
  sid: Uint8Array,
  side: Kx3Side,
  eph: Uint8Array,
  peer_kx: Uint8Array,
  transcript: Uint8Array,
): Uint8Array {
  return p.hkdf(shared, sid, framed('cloister/kx3/half-key', side, eph, peer_kx, transcript), 32);
}

function reveal_signed(sid: Uint8Array, side: Kx3Side, transcript: Uint8Array, body: Uint8Array): Uint8Array {
  return framed('cloister/kx3/reveal', sid, side, transcript, body);
}

/**
 * Phase 3's reveal by `side`: `eph_pk(32) ‖ nonce(24) ‖ XChaCha20-Poly1305(half)(48) ‖ sig(64)`. The
 * half is sealed under `HKDF(X25519(eph_sk, peer_kx_pk), salt = sid, info = framed(side, eph_pk,
 * peer_kx_pk, transcript))`, the signature is the account key's over the session, side, transcript
 * and the sealed bytes.
 */
export function seal_half(opts: {
  key: ClientKey;
  side: Kx3Side;
  sid: Uint8Array;
  transcript: Uint8Array;
  half: Uint8Array;
  peer_kx_pubkey: Uint8Array;
  random: (bytes: number) => Uint8Array;
}): Uint8Array {
  const eph = p.x25519_secret(opts.random(32));
  const shared = eph.shared(opts.peer_kx_pubkey);
  if (shared === null) throw new RangeError("the peer's key-agreement key is of small order");
  const k = reveal_key(shared, opts.sid, opts.side, eph.public_key, opts.peer_kx_pubkey, opts.transcript);
  const nonce = opts.random(24);
  const aad = framed('cloister/kx3/half', opts.sid, opts.side, opts.transcript);
  const sealed = xchacha20poly1305(k, nonce, aad).encrypt(opts.half);
  const body = concat(eph.public_key, nonce, sealed);
  const signature = p.ed25519_sign(
    opts.key.account_sk,
    reveal_signed(opts.sid, opts.side, opts.transcript, body),
  );
  return concat(body, signature);
}

/** Why a reveal was refused. */
export type RevealProblem = 'malformed' | 'bad_signature' | 'cannot_open';

/**
 * Opens the peer's reveal: checks the peer's account signature first (IRCrypt decrypted with a
 * plain `gpg -d` and never checked who signed), then decrypts with our key-agreement key.
 */
export function open_half(opts: {
  payload: Uint8Array;
  peer_side: Kx3Side;
  sid: Uint8Array;
  transcript: Uint8Array;
  peer_account_pubkey: Uint8Array;
  own_kx_secret: Uint8Array;
  own_kx_pubkey: Uint8Array;
}): { half: Uint8Array } | { problem: RevealProblem } {
  const { payload } = opts;
  if (payload.length !== KX3_SYM_BYTES) return { problem: 'malformed' };
  const body = payload.subarray(0, KX3_SYM_BYTES - 64);
  const signature = payload.subarray(KX3_SYM_BYTES - 64);
  if (
    !p.ed25519_verify(
      signature,
      reveal_signed(opts.sid, opts.peer_side, opts.transcript, body),
      opts.peer_account_pubkey,
    )
  )
    return { problem: 'bad_signature' };
  const eph = body.subarray(0, 32);
  const shared = x25519_shared(opts.own_kx_secret, eph);
  if (shared === null) return { problem: 'cannot_open' };
  const k = reveal_key(shared, opts.sid, opts.peer_side, eph, opts.own_kx_pubkey, opts.transcript);
  const aad = framed('cloister/kx3/half', opts.sid, opts.peer_side, opts.transcript);
  try {
    const half = xchacha20poly1305(k, body.subarray(32, 56), aad).decrypt(body.subarray(56));
    if (half.length !== KX3_HALF_BYTES) return { problem: 'cannot_open' };
    return { half };
  } catch {
    return { problem: 'cannot_open' };
  }
}

/** The session key and the key confirmation key. */
export interface Kx3Keys {
  /** The 32-byte session key. */
  key: Uint8Array;
  /** 32 bytes for the confirmation MACs only. */
  confirm_key: Uint8Array;
}

/**
 * `HKDF(half_A ‖ half_B, salt = session id, info = framed("cloister/kx3/key/v1", final transcript), 64)`:
 * the first 32 bytes are the session key, the rest the confirmation key. Unlike IRCrypt's XOR of
 * the halves, no choice of one half gives a chosen key.
 */
export function derive_keys(
  half_a: Uint8Array,
  half_b: Uint8Array,
  sid: Uint8Array,
  final_transcript: Uint8Array,
): Kx3Keys {
  const okm = p.hkdf(concat(half_a, half_b), sid, framed('cloister/kx3/key/v1', final_transcript), 64);
  return { key: okm.slice(0, 32), confirm_key: okm.slice(32) };
}

/** Key confirmation of `side`: `HMAC(confirm_key, framed("cloister/kx3/confirm", side, final transcript))`. */
export function confirm_mac(
  confirm_key: Uint8Array,
  side: Kx3Side,
  final_transcript: Uint8Array,
): Uint8Array {
  return p.hmac_sha256(confirm_key, framed('cloister/kx3/confirm', side, final_transcript));
}

/** Whether `mac` is `side`'s confirmation (constant time). */
export function confirm_ok(
  confirm_key: Uint8Array,
  side: Kx3Side,
  final_transcript: Uint8Array,
  mac: Uint8Array,
): boolean {
  return mac.length === 32 && equal_bytes(mac, confirm_mac(confirm_key, side, final_transcript));
}

/** A session key's fingerprint, safe to print and compare: 16 bytes of `H(framed("cloister/kx3/key-fingerprint", key))`. */
export function key_fingerprint(key: Uint8Array): string {
  return fingerprint_text(p.sha256(framed('cloister/kx3/key-fingerprint', key)).subarray(0, 16));
}

/** The first 8 bytes of `H(payload)`: what a receipt names. */
export function receipt_of(payload: Uint8Array): Uint8Array {
  return p.sha256(framed('cloister/kx3/receipt', payload)).slice(0, 8);
}
