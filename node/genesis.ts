/**
 * Genesis: the public facts every validator starts from (chain id, validators and powers, the
 * network's public keys, the attestation policy, the reference contracts). Written by
 * `cloister init`, read and checked by every node at start.
 * @module
 */

import { readFileSync } from 'node:fs';
import type { AttestationPolicy } from '../enclave/api.js';
import { from_base64, to_hex } from '../protocol/bytes.js';
import type { CryptoProvider } from '../protocol/provider.js';
import type { Validator } from './consensus/types.js';

/** The genesis file. */
export interface Genesis {
  chain_id: string;
  genesis_time_ms: number;
  validators: (Validator & { name: string })[];
  io_pubkey: string;
  seed_exchange_pubkey: string;
  attestation: AttestationPolicy;
  /** Reference contracts first (protocol.md §7), code ids 1, 2, … in this order. */
  codes: { name: string; code_hash: string; code: string }[];
}

const HEX64_RE = /^[0-9a-f]{64}$/;
const CHAIN_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;
/** Validators in one genesis: a simulation limit, far above what one machine runs. */
export const GENESIS_VALIDATORS_MAX = 100;
/** One validator's power; keeps total power small enough for exact integer quorum arithmetic. */
export const VALIDATOR_POWER_MAX = 1_000_000;

/** Throws a TypeError naming the first thing wrong with a genesis. */
export function check_genesis(p: CryptoProvider, value: unknown): Genesis {
  const fail = (message: string): never => {
    throw new TypeError(`genesis: ${message}`);
  };
  if (typeof value !== 'object' || value === null) fail('not an object');
  const g = value as Genesis;
  if (typeof g.chain_id !== 'string' || !CHAIN_ID_RE.test(g.chain_id))
    fail('chain_id must be 1-64 of [A-Za-z0-9._-]');
  if (!Number.isSafeInteger(g.genesis_time_ms) || g.genesis_time_ms < 0)
    fail('genesis_time_ms must be a safe integer');
  if (
    !Array.isArray(g.validators) ||
    g.validators.length === 0 ||
    g.validators.length > GENESIS_VALIDATORS_MAX
  ) {
    fail(`validators must be a list of 1..${GENESIS_VALIDATORS_MAX}`);
  }
  const keys = new Set<string>();
  for (const v of g.validators) {
    if (typeof v.pubkey !== 'string' || !HEX64_RE.test(v.pubkey)) fail('validator pubkey must be 64 hex');
    if (keys.has(v.pubkey)) fail('validator listed twice');
    keys.add(v.pubkey);
    if (!Number.isSafeInteger(v.power) || v.power < 1 || v.power > VALIDATOR_POWER_MAX)
      fail(`power must be 1..${VALIDATOR_POWER_MAX}`);
    if (typeof v.name !== 'string' || v.name.length === 0 || v.name.length > 64)
      fail('validator name must be 1-64 characters');
  }
  for (const key of ['io_pubkey', 'seed_exchange_pubkey'] as const) {
    if (typeof g[key] !== 'string' || !HEX64_RE.test(g[key])) fail(`${key} must be 64 hex`);
  }
  const a = g.attestation;
  if (typeof a !== 'object' || a === null || !Array.isArray(a.roots) || !Array.isArray(a.measurements))
    fail('attestation must have roots and measurements');
  for (const k of [...a.roots, ...a.measurements])
    if (typeof k !== 'string' || !HEX64_RE.test(k)) fail('attestation keys must be 64 hex');
  if (!Array.isArray(g.codes)) fail('codes must be a list');
  for (const c of g.codes) {
    if (typeof c.name !== 'string' || typeof c.code !== 'string') fail('codes need name and code');
    if (to_hex(p.sha256(from_base64(c.code))) !== c.code_hash)
      fail(`code ${c.name} does not match its code_hash`);
  }
  return g;
}

/** Reads and checks a genesis file. */
export function read_genesis(p: CryptoProvider, path: string): Genesis {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read genesis ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TypeError(`genesis ${path} is not JSON`);
  }
  return check_genesis(p, value);
}
