/**
 * Text edits at source positions, applied in one pass. The instrumenter works on acorn's node
 * positions rather than regenerating code, so the contract runs exactly as written plus the
 * inserted gas and depth checks.
 * @module
 */

/**
 * One edit: replace `source[start, end)` with `text` (`start === end` inserts). `opens` says
 * whether it starts a construct (a prologue, an opening brace) or ends one; `seq` is the order in
 * which the walker made it, outer constructs first.
 */
export interface Edit {
  start: number;
  end: number;
  text: string;
  opens: boolean;
  seq: number;
}

/**
 * Orders edits at one position so that constructs nest: openers before closers (an empty body
 * gets its prologue before its epilogue), outer openers before inner ones, inner closers before
 * outer ones.
 */
function compare_edits(a: Edit, b: Edit): number {
  if (a.start !== b.start) return a.start - b.start;
  if (a.opens !== b.opens) return a.opens ? -1 : 1;
  return a.opens ? a.seq - b.seq : b.seq - a.seq;
}

/** Applies `edits` to `source`. Throws RangeError if two edits overlap (an instrumenter bug). */
export function apply_edits(source: string, edits: readonly Edit[]): string {
  const sorted = [...edits].sort(compare_edits);
  const parts: string[] = [];
  let at = 0;
  for (const edit of sorted) {
    if (edit.start < at || edit.end < edit.start || edit.end > source.length) {
      throw new RangeError(`overlapping or out-of-range edit at ${edit.start}`);
    }
    parts.push(source.slice(at, edit.start), edit.text);
    at = edit.end;
  }
  parts.push(source.slice(at));
  return parts.join('');
}
