/**
 * Typed errors of the secure channels (docs/channels.md). Codes 300-349, one block per protocol:
 * 300-309 the key directory and system contracts, 310-319 envelopes (KILT), 320-329 the mailbox
 * key exchange (evan.network), 330-339 streams (Streamr), 340-349 the three-phase exchange
 * (IRCrypt). Browser-safe.
 * @module
 */

import { CloisterError, type CloisterErrorDetails } from '../errors.js';

/** Every code a {@link ChannelError} can carry. */
export const ChannelErrorCode = {
  /** The network does not ship the system contract a channel needs (an older genesis). */
  NO_SYSTEM_CONTRACT: 300,
  /** The directory has no such key for that account. */
  UNKNOWN_KEY: 301,
  /** The key was revoked at or before the height it was resolved at. */
  REVOKED_KEY: 302,
  /** An envelope that does not open: tampered, not for this receiver, or sender mismatch. */
  CANNOT_OPEN: 310,
  /** An envelope seen before, or created outside the accepted window. */
  REPLAY: 311,
  /** The seen-id store is full of ids still inside the window: nothing can be accepted safely. */
  SEEN_STORE_FULL: 312,
  /** No communication key with that peer: run the key exchange first. */
  NO_CONTACT: 320,
  /** A mail sealed under an epoch key this party has already forgotten. */
  EPOCH_EXPIRED: 321,
  /** A key-exchange mail that does not open or does not belong to its claimed sender. */
  INVITE_INVALID: 322,
  /** A mail from a contact that does not open under the communication key (changed, or not for this pair). */
  MAIL_INVALID: 323,
  /** No group key for a stream message: not granted, revoked, or the key was never shared. */
  NO_GROUP_KEY: 330,
  /** A stream message, key request or response whose signature or shape does not hold. */
  STREAM_MESSAGE_INVALID: 331,
  /** The publisher or key keeper refused a key request (the ACL does not allow it). */
  KEY_REQUEST_DENIED: 332,
  /** The three-phase exchange stopped: see the message (timeout, bad signature, commitment). */
  KX3_ABORTED: 340,
  /** The peer's key fingerprint differs from the pinned one: possible man in the middle. */
  FINGERPRINT_CHANGED: 341,
} as const;

/** One of {@link ChannelErrorCode}'s values. */
export type ChannelErrorCode = (typeof ChannelErrorCode)[keyof typeof ChannelErrorCode];

/** Base class of every channel error: a {@link CloisterError} with a code from {@link ChannelErrorCode}. */
export class ChannelError extends CloisterError {
  override name = 'ChannelError';
  constructor(code: ChannelErrorCode, message: string, details: CloisterErrorDetails = {}) {
    super(code, message, details);
  }
}

/** The network's genesis has no such system contract (docs/channels.md). */
export class NoSystemContractError extends ChannelError {
  override name = 'NoSystemContractError';
  constructor(readonly contract: string) {
    super(
      ChannelErrorCode.NO_SYSTEM_CONTRACT,
      `this network ships no ${contract} contract: its genesis predates secure channels; start a new network with \`cloister init\``,
    );
  }
}

/** The directory has no key of that id for that account. */
export class UnknownKeyError extends ChannelError {
  override name = 'UnknownKeyError';
  constructor(readonly uri: string) {
    super(ChannelErrorCode.UNKNOWN_KEY, `unknown key ${uri}: the account has not published it`);
  }
}

/** The key was revoked from `revoked_height` on. */
export class RevokedKeyError extends ChannelError {
  override name = 'RevokedKeyError';
  constructor(
    readonly uri: string,
    readonly revoked_height: number,
  ) {
    super(ChannelErrorCode.REVOKED_KEY, `key ${uri} was revoked at height ${revoked_height}`);
  }
}
