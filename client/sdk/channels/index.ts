/**
 * Secure channels between accounts (docs/channels.md), the `cloister/client/channels` entry point:
 * the key directory and the mailbox (system contracts), evan.network's mailbox key exchange, KILT
 * envelopes with a replay guard, Streamr group keys with an on-chain ACL and a key keeper, and
 * IRCrypt's three-phase exchange; their shared pieces (key URIs, key-agreement keys, framed
 * encoding, sealed storage) and typed errors (codes 300-349). Browser-safe: the Node file store is
 * in `cloister/client/channels/file-storage`.
 * @module
 */

export * from './directory.js';
export * from './encoding.js';
export * from './errors.js';
export * from './evan.js';
export * from './key_uri.js';
export {
  account_uri,
  CANNOT_OPEN_MESSAGE,
  CannotOpenError,
  KILT_BODY_TYPE_CHARS_MAX,
  KILT_ENVELOPE_CHARS_MAX,
  KILT_MESSAGE_ID_BYTES,
  KILT_PLAINTEXT_BYTES_MAX,
  KILT_TEXT_TYPE,
  type KiltBody,
  type KiltEnvelope,
  type KiltMessage,
  NotOwnKeyError,
  type OpenOptions as EnvelopeOpenOptions,
  open as open_envelope,
  type SealOptions as EnvelopeSealOptions,
  seal as seal_envelope,
} from './kilt.js';
export * from './kx_keys.js';
export {
  KX3_PART_TIMEOUT_MS_DEFAULT,
  KX3_RETRANSMIT_MS_DEFAULT,
  KX3_TIMEOUT_MS_DEFAULT,
  type Kx3Modules,
  type Kx3Options,
  Kx3Party,
  type Kx3Pin,
  type Kx3PinStatus,
  type Kx3Progress,
  type Kx3Result,
  type Kx3State,
} from './kx3.js';
export { fingerprint, fingerprint_text, key_fingerprint } from './kx3_crypto.js';
export { FingerprintChangedError, Kx3AbortedError, type Kx3AbortReason } from './kx3_errors.js';
export { KX3_LINE_CHARS_DEFAULT } from './kx3_framing.js';
export { KX3_MAIL_KIND, type MailboxLineOptions, MailboxLineTransport } from './kx3_mailbox.js';
export {
  type Kx3ExchangeModules,
  type Kx3ExchangeOptions,
  Kx3Store,
  type Kx3StoredKey,
  kx3_exchange,
  type LineTransport,
  type RunKx3Options,
  run_kx3,
} from './kx3_transport.js';
export * from './mailbox.js';
export * from './nacl_box.js';
export * from './replay_guard.js';
export * from './storage.js';
export * from './storage_indexeddb.js';
export {
  GROUP_KEY_BYTES,
  type GroupKey,
  NoGroupKeyError,
  new_group_key,
  open_stream_message,
  type SealOptions as StreamSealOptions,
  STREAM_PLAINTEXT_BYTES_MAX,
  type StreamMessage,
  StreamMessageInvalidError,
  seal_stream_message,
  verify_stream_message,
} from './stream_crypto.js';
export {
  answer_key_request,
  KEY_EXCHANGE_SCHEMES,
  type KeyExchangeScheme,
  type KeyRequest,
  KeyRequestDeniedError,
  type KeyResponse,
  make_key_request,
  open_key_response,
} from './stream_key_exchange.js';
export * from './streams.js';
