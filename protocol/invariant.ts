/**
 * Invariants: conditions the code relies on that no input can break, only a bug. A failed one
 * throws {@link InvariantError}, which a node never catches as an ordinary failure: the consensus
 * engine halts on it and the node's halt path reports it (node/assemble.ts), loudly, instead of
 * going on in a state nobody reasoned about (TigerBeetle's TIGER_STYLE: assert pre- and
 * postconditions, and pair a subtle one with a comment saying why it must hold).
 * @module
 */

/** A broken invariant: a bug in Cloister, never the fault of the input. */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

/** Throws {@link InvariantError} (`what` names the invariant) unless `condition` holds. */
export function invariant(condition: boolean, what: string): asserts condition {
  if (!condition) throw new InvariantError(`invariant violated: ${what}`);
}
