/**
 * compute_heavy: a benchmark contract that spends gas on arithmetic and nothing else.
 *
 *   instantiate {}                              -> null
 *   execute     {"compute": {"rounds": n}}      -> {"result": x}
 *   query       {"compute": {"rounds": n}}      -> {"result": x}
 *
 * Each round is one loop iteration (one gas tick) of 32-bit integer mixing, so the work is
 * exactly proportional to n and the result the same on every validator.
 */

const ROUNDS_MAX = 100_000_000;

function compute(msg) {
  const rounds = msg?.compute?.rounds;
  if (!Number.isSafeInteger(rounds) || rounds < 0 || rounds > ROUNDS_MAX) {
    throw new Error(`rounds must be an integer from 0 to ${ROUNDS_MAX}`);
  }
  // xorshift32 plus an accumulator: integer-only, so no floating-point rounding is involved.
  let x = 2463534242;
  let sum = 0;
  for (let i = 0; i < rounds; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    sum = (sum + (x & 0xffff)) | 0;
  }
  return { result: (sum >>> 0).toString(16) };
}

export function instantiate(_ctx, _msg) {
  return null;
}

export function execute(_ctx, msg) {
  return compute(msg);
}

export function query(_ctx, msg) {
  return compute(msg);
}
