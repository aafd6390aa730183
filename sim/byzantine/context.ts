/**
 * What a byzantine decorator is given: the chain, this validator's secret key (SIMULATION ONLY: a
 * decorator signs its own conflicting messages with it, the one thing an honest node never does),
 * the other validators and the node's injected clock and random source. Also the split of the
 * other validators into half A and half B that the split behaviours use.
 * @module
 */

import type { Hex } from '../../node/consensus/types.js';
import type { Clock, Rng } from '../../node/modules.js';
import { to_hex } from '../../protocol/bytes.js';
import type { CryptoProvider } from '../../protocol/provider.js';

/** Default delay of `delay-votes`: the default prevote timeout of a local network (node/init.ts). */
export const DEFAULT_VOTE_DELAY_MS = 1000;

/** What every network decorator takes. Only `clock` and `rng` are sources of time and chance. */
export interface ByzantineContext {
  p: CryptoProvider;
  chain_id: string;
  /** This validator's Ed25519 secret key, 32 bytes. SIMULATION ONLY: used to sign conflicting messages. */
  secret_key: Uint8Array;
  /** Every other validator's pubkey (64 lowercase hex), sorted. */
  peers: readonly string[];
  clock: Clock;
  rng: Rng;
  /**
   * Half B of the split behaviours (`equivocate-split`, `withhold-block`): peers that get the
   * conflicting version, or nothing. Default: the second half of `peers` less `colluders` (the
   * first `ceil(n / 2)` are half A). Every peer not in half B, non-validators included, is in half A.
   */
  half_b?: readonly string[];
  /**
   * `equivocate`, `equivocate-split`: fellow equivocators (pubkeys among `peers`, none in half B).
   * They get each proposal's conflicting version alongside the original, so that all of them vote
   * for the same conflicting block (sim/byzantine/conflict.ts). Default: none.
   */
  colluders?: readonly string[];
  /** `delay-votes`: how long each vote is held back, in ms (default {@link DEFAULT_VOTE_DELAY_MS}). */
  delay_ms?: number;
  /** `garbage`: the chance that an outgoing message is followed by a garbage one (default 1). */
  garbage_p?: number;
}

/** A checked {@link ByzantineContext}: the validator's own key and half B as a set. */
export interface Checked {
  ctx: ByzantineContext;
  /** This validator's pubkey, derived from the secret key. */
  self: Hex;
  half_b: ReadonlySet<string>;
  /** Fellow equivocators. */
  colluders: ReadonlySet<string>;
}

/** Checks `ctx` (TypeError/RangeError on a bad field) and derives the pubkey, half B and colluders. */
export function check_context(ctx: ByzantineContext): Checked {
  if (typeof ctx !== 'object' || ctx === null) throw new TypeError('ctx must be an object');
  if (typeof ctx.p?.ed25519_sign !== 'function') throw new TypeError('ctx.p must be a CryptoProvider');
  if (typeof ctx.chain_id !== 'string' || ctx.chain_id.length === 0)
    throw new TypeError('ctx.chain_id must be a non-empty string');
  if (!(ctx.secret_key instanceof Uint8Array) || ctx.secret_key.length !== 32)
    throw new TypeError('ctx.secret_key must be 32 bytes');
  if (!Array.isArray(ctx.peers) || !ctx.peers.every((k) => typeof k === 'string' && /^[0-9a-f]{64}$/.test(k)))
    throw new TypeError('ctx.peers must be 64-hex pubkeys');
  if (typeof ctx.clock?.set_timer !== 'function' || typeof ctx.rng?.next !== 'function')
    throw new TypeError('ctx.clock and ctx.rng are required');
  const colluders = new Set(ctx.colluders ?? []);
  for (const k of colluders)
    if (!ctx.peers.includes(k)) throw new RangeError(`colluders name a non-peer ${k.slice(0, 8)}`);
  const sorted = ctx.peers.filter((k) => !colluders.has(k)).sort();
  const half_b = ctx.half_b ?? sorted.slice(Math.ceil(sorted.length / 2));
  for (const k of half_b)
    if (!sorted.includes(k)) throw new RangeError(`half_b names a non-peer or a colluder ${k.slice(0, 8)}`);
  if (ctx.delay_ms !== undefined && !(Number.isFinite(ctx.delay_ms) && ctx.delay_ms >= 0))
    throw new RangeError('ctx.delay_ms must be a finite number ≥ 0');
  if (ctx.garbage_p !== undefined && !(ctx.garbage_p >= 0 && ctx.garbage_p <= 1))
    throw new RangeError('ctx.garbage_p must be in [0, 1]');
  return { ctx, self: to_hex(ctx.p.ed25519_public(ctx.secret_key)), half_b: new Set(half_b), colluders };
}
