/**
 * `garbage`: besides its honest traffic, after each message it sends (with chance
 * `ctx.garbage_p`, default 1) this node sends one malformed or mutated message, to everyone or to
 * one peer at random. Every choice is drawn from `ctx.rng`. No mutation is re-signed, so none is a
 * message this validator could be held to: receivers must drop each one. The mutations
 * ({@link GARBAGE_KINDS}):
 *
 * | kind           | the body sent                                                            |
 * |----------------|--------------------------------------------------------------------------|
 * | `bytes`        | a random hex string (random bytes) instead of an object                  |
 * | `scalar`       | a number, `null`, a boolean or an array of numbers                        |
 * | `wrong_kind`   | the message with its `kind` replaced by another string                   |
 * | `swapped_kind` | a vote labelled as a proposal, or a proposal labelled as a vote          |
 * | `flipped_sig`  | the message with one bit of its signature flipped                        |
 * | `wrong_height` | the message at another height (±1, +1000, 0, fractional, 2^53)            |
 * | `huge_round`   | the message at round 2^31, 10^12, MAX_SAFE_INTEGER or -1                  |
 * | `missing`      | the message with one field of the vote or proposal deleted               |
 * | `wrong_type`   | the message with one field of the vote or proposal of the wrong type     |
 * | `tampered`     | a vote for a random block hash, or a proposal with one more transaction  |
 *
 * The message-based kinds need a consensus message to start from; for other bodies (transactions,
 * previews) a `bytes`, `scalar` or `wrong_kind` body is sent instead.
 * @module
 */

import type { PeerNetwork, Rng } from '../../node/modules.js';
import type { Checked } from './context.js';
import { forward } from './forward.js';
import { is_proposal_body, is_vote_body } from './messages.js';

/** The mutations of `garbage`, in the order of the table above. */
export const GARBAGE_KINDS = [
  'bytes',
  'scalar',
  'wrong_kind',
  'swapped_kind',
  'flipped_sig',
  'wrong_height',
  'huge_round',
  'missing',
  'wrong_type',
  'tampered',
] as const;

/** One of {@link GARBAGE_KINDS}. */
export type GarbageKind = (typeof GARBAGE_KINDS)[number];

/** The three kinds that need no consensus message to start from. */
const PLAIN_KINDS = 3;

function pick<T>(rng: Rng, items: readonly T[]): T {
  const i = Math.min(items.length - 1, Math.floor(rng.next() * items.length));
  return items[i] as T;
}

function random_hex(rng: Rng, chars: number): string {
  let out = '';
  for (let i = 0; i < chars; i++) out += Math.floor(rng.next() * 16).toString(16);
  return out;
}

/** `hex` with one bit of one of its characters flipped (still lowercase hex). */
function flip_bit(rng: Rng, hex: string): string {
  if (hex.length === 0) return '0';
  const i = Math.min(hex.length - 1, Math.floor(rng.next() * hex.length));
  const nibble = Number.parseInt(hex[i] ?? '0', 16) ^ (1 << Math.floor(rng.next() * 4));
  return `${hex.slice(0, i)}${(Number.isNaN(nibble) ? 0 : nibble).toString(16)}${hex.slice(i + 1)}`;
}

/**
 * A garbage body made from `body` and its kind: never equal to `body` (which is not mutated: the
 * result is a fresh value).
 */
export function garbage_body(rng: Rng, body: unknown): { kind: GarbageKind; body: unknown } {
  const made = mutated(rng, body);
  // A mutation that happened to change nothing (a field set to the value it had) would be honest.
  if (JSON.stringify(made.body) === JSON.stringify(body)) return { kind: 'bytes', body: random_hex(rng, 64) };
  return made;
}

function mutated(rng: Rng, body: unknown): { kind: GarbageKind; body: unknown } {
  const consensus = is_vote_body(body) || is_proposal_body(body);
  const kind = consensus ? pick(rng, GARBAGE_KINDS) : pick(rng, GARBAGE_KINDS.slice(0, PLAIN_KINDS));
  if (kind === 'bytes') return { kind, body: random_hex(rng, Math.floor(rng.next() * 257)) };
  if (kind === 'scalar') {
    const scalars: unknown[] = [0, -1, 2 ** 53, 1e308, null, true, false, [1, 2, 3], []];
    return { kind, body: pick(rng, scalars) };
  }
  const copy = structuredClone(body) as Record<string, unknown>;
  if (kind === 'wrong_kind') {
    const kinds = ['', 'proposel', 'VOTE', 'status', 'get_block', random_hex(rng, 8)];
    if (typeof copy === 'object' && copy !== null && !Array.isArray(copy))
      return { kind, body: { ...copy, kind: pick(rng, kinds) } };
    return { kind, body: { kind: pick(rng, kinds), payload: copy } };
  }
  const voting = is_vote_body(copy);
  const inner = (voting ? copy['vote'] : copy['proposal']) as Record<string, unknown>;
  switch (kind) {
    case 'swapped_kind':
      return { kind, body: voting ? { kind: 'proposal', proposal: inner } : { kind: 'vote', vote: inner } };
    case 'flipped_sig':
      inner['signature'] = flip_bit(rng, String(inner['signature']));
      break;
    case 'wrong_height': {
      const height = Number(inner['height']);
      inner['height'] = pick(rng, [height + 1, height - 1, height + 1000, 0, height + 0.5, 2 ** 53]);
      break;
    }
    case 'huge_round':
      inner['round'] = pick(rng, [2 ** 31, 1e12, Number.MAX_SAFE_INTEGER, -1]);
      break;
    case 'missing':
      delete inner[pick(rng, Object.keys(inner))];
      break;
    case 'wrong_type': {
      const key = pick(rng, Object.keys(inner));
      const was = JSON.stringify(inner[key]);
      // Never the value it had (a nil vote's block_hash is already null).
      const values = ['7', 7, null, {}, [], random_hex(rng, 64)].filter((v) => JSON.stringify(v) !== was);
      inner[key] = pick(rng, values);
      break;
    }
    case 'tampered':
      if (voting) inner['block_hash'] = random_hex(rng, 64);
      else {
        const block = inner['block'] as { txs?: unknown } | null;
        if (typeof block === 'object' && block !== null && Array.isArray(block.txs))
          block.txs.push(`garbage-${random_hex(rng, 8)}`);
        else inner['block'] = null;
      }
      break;
  }
  return { kind, body: copy };
}

/** A network that follows each message it sends with a garbage one (chance `ctx.garbage_p`). */
export function garbage_network(inner: PeerNetwork, c: Checked): PeerNetwork {
  const chance = c.ctx.garbage_p ?? 1;
  const rng = c.ctx.rng;
  const spray = (body: unknown): void => {
    if (!(rng.next() < chance)) return;
    const { body: junk } = garbage_body(rng, body);
    const peers = inner.connected_peers();
    if (rng.next() < 0.5 || peers.length === 0) inner.broadcast(junk);
    else inner.send(pick(rng, peers), junk);
  };
  return forward(inner, {
    broadcast: (body) => {
      inner.broadcast(body);
      spray(body);
    },
    send: (to, body) => {
      const sent = inner.send(to, body);
      spray(body);
      return sent;
    },
  });
}
