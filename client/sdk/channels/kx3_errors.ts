/**
 * Errors of the three-phase key exchange (docs/channels.md "Three-phase key exchange"), codes 340
 * and 341 of {@link ChannelErrorCode}. Browser-safe.
 * @module
 */

import { ChannelError, ChannelErrorCode } from './errors.js';

/** Why an exchange stopped. */
export type Kx3AbortReason =
  /** The exchange did not finish within its timeout (the peer is silent, or the transport lost too much). */
  | 'timeout'
  /** The peer sent an ERROR line. */
  | 'peer_aborted'
  /** The peer broke the protocol (e.g. claimed we hold its key when we do not). */
  | 'protocol'
  /** Phase 2: the public keys do not belong to the peer's address or their signature fails. */
  | 'bad_public_key'
  /** Phase 3: the reveal is not signed by the peer's account key over this session's transcript. */
  | 'bad_signature'
  /** Phase 3: the reveal does not decrypt with our key-agreement key. */
  | 'cannot_open'
  /** Phase 3: the revealed half is not the one the peer committed to. */
  | 'commitment_mismatch'
  /** The peer's key confirmation MAC does not match: the two sides hold different keys or transcripts. */
  | 'key_confirmation_failed'
  /** The directory lists another key-agreement key for the peer than it sent. */
  | 'directory_mismatch'
  /** The transport failed (a mail could not be sent or read). */
  | 'transport';

/** The exchange stopped (code 340); `reason` says why. */
export class Kx3AbortedError extends ChannelError {
  override name = 'Kx3AbortedError';
  constructor(
    readonly reason: Kx3AbortReason,
    message: string,
  ) {
    super(ChannelErrorCode.KX3_ABORTED, `key exchange aborted (${reason}): ${message}`);
  }
}

/**
 * The peer sent public keys whose fingerprint differs from the one pinned for it (code 341). Either
 * the peer rotated its key (re-pin explicitly, `repin: true` / `--repin`) or someone in the middle
 * swapped it.
 */
export class FingerprintChangedError extends ChannelError {
  override name = 'FingerprintChangedError';
  constructor(
    readonly peer: string,
    readonly pinned: string,
    readonly received: string,
  ) {
    super(
      ChannelErrorCode.FINGERPRINT_CHANGED,
      `fingerprint changed for ${peer}: pinned ${pinned}, received ${received}: possible man in the middle; if the peer rotated its key, verify the new fingerprint with it and re-pin (repin: true, \`cloister kx3 --repin\`)`,
    );
  }
}
