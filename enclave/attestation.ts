/**
 * SIMULATION of remote attestation (protocol.md §8). A real quote is produced by Intel's quoting
 * enclave and checked against Intel's roots; here an "attestation service" holding an Ed25519
 * root key signs a statement that binds `H(pk_reg)` to an enclave measurement for a time window.
 * The service trusts the report it is given (a real one checks a CPU-signed report), so this shows
 * the protocol's checks, not SGX's security.
 *
 * Signed bytes: `utf8("cloister/quote/v1\n") ‖ utf8(jcs(quote without "signature"))`.
 * @module
 */

import { concat, from_hex, to_hex, utf8 } from '../protocol/bytes.js';
import { is_hex64, is_signature_hex } from '../protocol/checks.js';
import { jcs } from '../protocol/jcs.js';
import type { CryptoProvider } from '../protocol/provider.js';
import type { AttestationPolicy, AttestationReport, Quote } from './api.js';

/** Domain prefix of a quote's signed bytes. */
export const QUOTE_SIGN_PREFIX = 'cloister/quote/v1\n';
/** Default validity of a quote: one day. */
export const QUOTE_VALIDITY_MS_DEFAULT = 24 * 60 * 60 * 1000;
const QUOTE_KEYS = [
  'expires_at_ms',
  'issued_at_ms',
  'measurement',
  'report_data',
  'root',
  'signature',
  'version',
];

/** The bytes a quote's signature covers. */
export function quote_sign_bytes(quote: Omit<Quote, 'signature'>): Uint8Array {
  const { version, measurement, report_data, issued_at_ms, expires_at_ms, root } = quote;
  return concat(
    utf8(QUOTE_SIGN_PREFIX),
    utf8(jcs({ version, measurement, report_data, issued_at_ms, expires_at_ms, root })),
  );
}

/** SIMULATED attestation service: signs reports with a root key named in genesis. */
export class AttestationService {
  readonly root_pubkey: string;
  readonly #root_sk: Uint8Array;
  readonly #p: CryptoProvider;

  constructor(p: CryptoProvider, root_sk: Uint8Array) {
    if (root_sk.length !== 32) throw new RangeError('attestation root key must be 32 bytes');
    this.#p = p;
    this.#root_sk = root_sk;
    this.root_pubkey = to_hex(p.ed25519_public(root_sk));
  }

  /** Signs `report` for `[now_ms, now_ms + validity_ms)`. */
  quote(report: AttestationReport, now_ms: number, validity_ms = QUOTE_VALIDITY_MS_DEFAULT): Quote {
    if (!is_hex64(report.measurement) || !is_hex64(report.report_data)) {
      throw new TypeError('report fields must be 64 lowercase hex chars');
    }
    if (!Number.isSafeInteger(now_ms) || !Number.isSafeInteger(validity_ms) || validity_ms <= 0) {
      throw new RangeError('quote times must be safe integers');
    }
    const unsigned = {
      version: 1 as const,
      measurement: report.measurement,
      report_data: report.report_data,
      issued_at_ms: now_ms,
      expires_at_ms: now_ms + validity_ms,
      root: this.root_pubkey,
    };
    const signature = to_hex(this.#p.ed25519_sign(this.#root_sk, quote_sign_bytes(unsigned)));
    return { ...unsigned, signature };
  }
}

/** Why a quote was refused, or that it holds. */
export type QuoteVerdict = { valid: true } | { valid: false; reason: string };

function is_time(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * protocol.md §8 checks: signed by a root in the policy, measurement on the allow-list, issued
 * no later than and not expired at block time `time_ms`, and `report_data = H(pk_reg)`.
 */
export function verify_quote(
  p: CryptoProvider,
  quote: unknown,
  pk_reg: Uint8Array,
  policy: AttestationPolicy,
  time_ms: number,
): QuoteVerdict {
  if (typeof quote !== 'object' || quote === null || Array.isArray(quote))
    return { valid: false, reason: 'quote is not an object' };
  const q = quote as Record<string, unknown>;
  const keys = Object.keys(q).sort();
  if (keys.length !== QUOTE_KEYS.length || keys.some((k, i) => k !== QUOTE_KEYS[i])) {
    return { valid: false, reason: 'quote has the wrong fields' };
  }
  if (q.version !== 1) return { valid: false, reason: 'unknown quote version' };
  if (!is_hex64(q.measurement)) return { valid: false, reason: 'bad measurement' };
  if (!is_hex64(q.report_data)) return { valid: false, reason: 'bad report data' };
  if (!is_hex64(q.root)) return { valid: false, reason: 'bad root' };
  if (!is_signature_hex(q.signature)) return { valid: false, reason: 'bad signature encoding' };
  if (!is_time(q.issued_at_ms) || !is_time(q.expires_at_ms))
    return { valid: false, reason: 'bad quote times' };
  if (!policy.roots.includes(q.root))
    return { valid: false, reason: 'quote signed by an unknown attestation root' };
  const unsigned = {
    version: 1 as const,
    measurement: q.measurement,
    report_data: q.report_data,
    issued_at_ms: q.issued_at_ms,
    expires_at_ms: q.expires_at_ms,
    root: q.root,
  };
  if (!p.ed25519_verify(from_hex(q.signature), quote_sign_bytes(unsigned), from_hex(q.root))) {
    return { valid: false, reason: 'quote signature does not verify' };
  }
  if (!policy.measurements.includes(q.measurement))
    return { valid: false, reason: 'enclave measurement not allowed' };
  if (time_ms < q.issued_at_ms) return { valid: false, reason: 'quote issued after block time' };
  if (time_ms >= q.expires_at_ms) return { valid: false, reason: 'quote expired' };
  if (q.report_data !== to_hex(p.sha256(pk_reg)))
    return { valid: false, reason: 'quote does not bind this registration key' };
  return { valid: true };
}
