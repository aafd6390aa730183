/**
 * Limits and the gas schedule of the contract VM. Every validator must use the same numbers, or
 * the same call could succeed on one and fail on another; so they are constants, not options.
 * Units are last in every name: `_bytes` are UTF-8 bytes, `_chars` are UTF-16 code units,
 * `_gas` are gas units.
 * @module
 */

/** Largest contract source accepted by `compile_contract`, in UTF-8 bytes. */
export const code_size_bytes_max = 256 * 1024;

/**
 * Deepest syntax tree accepted. The parser and the instrumenter recurse once per level, so a
 * bound far below any stack limit makes acceptance depend only on the source, never on how much
 * stack a validator happens to have (acorn overflows near 600 levels on a 1 MiB stack).
 */
export const ast_depth_max = 128;

/** Largest decrypted message (JSON text), in UTF-8 bytes. */
export const msg_size_bytes_max = 64 * 1024;

/** Largest storage key, in UTF-8 bytes. */
export const storage_key_bytes_max = 256;

/** Largest storage value, in UTF-8 bytes. */
export const storage_value_bytes_max = 64 * 1024;

/** Most `storage.set`/`storage.remove` calls in one call. */
export const storage_writes_per_call_max = 1024;

/** Most events one call may emit. */
export const events_per_call_max = 64;

/** Most attributes in one event. */
export const event_attributes_max = 32;

/** Largest event: type plus every attribute key and value, in UTF-8 bytes. */
export const event_bytes_max = 8 * 1024;

/** Largest result `data` as JSON text, in UTF-8 bytes. */
export const data_bytes_max = 64 * 1024;

/** Longest error message a call reports, its position suffix included; longer ones are cut. */
export const error_message_chars_max = 1024;

/** Most messages (`ctx.send`, `ctx.execute`) one call may queue. */
export const messages_per_call_max = 16;

/**
 * Most debug lines (`ctx.debug`, `console.*`) one call returns. A call that writes more keeps its
 * first `debug_lines_per_call_max - 1` lines and ends with one saying how many were dropped.
 */
export const debug_lines_per_call_max = 64;

/** Longest debug line; longer ones are cut. */
export const debug_line_chars_max = 1024;

/**
 * Call depth budget, in units. Every active contract function holds one unit plus one per
 * `call_depth_unit_chars` of its source, counted exactly by the instrumentation; a call past the
 * budget ends the call as out of gas, at the same point on every validator. The
 * weighting bounds real stack use (a bigger function can have a bigger frame) to a few hundred
 * KiB, far below the native stack, whose exact limit depends on frame sizes the JIT chooses.
 */
export const call_depth_units_max = 256;

/** Source characters of a function per extra call depth unit it holds. */
export const call_depth_unit_chars = 256;

/**
 * Most arguments in one call: literal, spread (`f(...xs)`), `apply`, `Reflect.apply`,
 * `Reflect.construct` and `bind`. Arguments live on the native stack, so an unbounded count
 * would make stack overflow depend on the validator rather than the contract.
 */
export const call_args_max = 1024;

/**
 * The QuickJS engine's whole linear memory, in bytes: static data, its 5 MiB C stack, the runtime
 * with the realm script and the program (about 0.3 MiB), and everything a call allocates. A call
 * that needs more fails at the same allocation on every validator (out of memory, code 2).
 */
export const engine_memory_bytes = 64 * 1024 * 1024;

/**
 * The QuickJS engine's C stack budget for contract code and the built-ins it calls. Well below
 * the 5 MiB C stack, and low enough that the host's native stack (at least 1 MiB on a main thread)
 * is not exhausted first.
 */
export const engine_stack_bytes = 128 * 1024;

/** Largest gas limit a call may ask for: bounds the work of one call (about 0.3 s of ticks). */
export const gas_limit_max = 100_000_000;

/** Charged once per call before anything runs. */
export const call_base_gas = 5_000;
/** Charged per UTF-8 byte of the message. */
export const msg_byte_gas = 2;
/** Charged per function entry and per loop iteration, plus one per `straight_line_nodes_per_gas`. */
export const tick_gas = 1;
/**
 * A tick covers the straight-line code it starts (a function body and its parameters outside
 * nested loops and functions; a loop's body, test and update): `tick_gas` more per this many
 * syntax nodes. Without it a loop body of thousands of statements would run for one gas unit.
 */
export const straight_line_nodes_per_gas = 8;
/** Charged per `storage.get` (and `get_json`). */
export const storage_read_base_gas = 500;
/** Charged per UTF-8 byte of key and of value read. */
export const storage_read_byte_gas = 2;
/** Charged per `storage.set` (and `set_json`). */
export const storage_write_base_gas = 2_000;
/** Charged per UTF-8 byte of key and value written, and of key removed. */
export const storage_write_byte_gas = 20;
/** Charged per `storage.remove`. */
export const storage_remove_base_gas = 1_000;
/** Charged per `ctx.emit`. */
export const event_base_gas = 1_000;
/** Charged per UTF-8 byte of an event (type, keys and values). */
export const event_byte_gas = 10;
/**
 * Charged per message a call queues (`ctx.send`, `ctx.execute`), plus `msg_byte_gas` per UTF-8
 * byte of an execute message's JSON. The executor charges the message's own run separately.
 */
export const message_base_gas = 2_000;
/**
 * Charged per debug line (`ctx.debug`, `console.*`), plus 1 per `builtin_chars_per_gas` characters
 * of each value's text. The same on every network, whether or not it keeps the lines.
 */
export const debug_base_gas = 200;
/** Charged per `ctx.random()` draw. */
export const random_gas = 1_000;
/**
 * Charged per element an array or typed-array built-in visits or builds (`fill`, `indexOf`,
 * `map`, `slice`, `Array.from`, `Object.keys`, every value `JSON.stringify` visits, ...); `sort`
 * pays n·⌈log2 n⌉ elements.
 */
export const builtin_element_gas = 1;
/**
 * Characters a string built-in reads or builds per gas unit (`repeat`, `padStart`, `split`,
 * `indexOf`, `JSON.parse` input, `JSON.stringify` output strings, ...).
 */
export const builtin_chars_per_gas = 16;
/**
 * Strings up to this long are operands, keys and template parts that pay nothing extra; a longer
 * one pays 1 gas per `builtin_chars_per_gas` characters whenever an operator, a computed key or
 * a template reads or copies it.
 */
export const operand_chars_free = 1024;
/**
 * BigInt multiplication, division, remainder, powers and decimal conversion take time quadratic
 * in the operands' 64-bit limbs (beyond 2^1024, below which they are free): they pay 1 gas per
 * this many limb products.
 */
export const bigint_limbs_squared_per_gas = 32;
/** Charged per UTF-8 byte of the result data JSON. */
export const data_byte_gas = 2;
/**
 * Charged each time a catch block catches an exception: building the exception and recording
 * where it was thrown costs the engine far more time than the statements around it (bench:gas,
 * "caught engine errors").
 */
export const catch_gas = 50;

/** The gas schedule as one frozen record, for documentation, logging and tests. */
export const gas_schedule = Object.freeze({
  call_base_gas,
  catch_gas,
  msg_byte_gas,
  tick_gas,
  straight_line_nodes_per_gas,
  storage_read_base_gas,
  storage_read_byte_gas,
  storage_write_base_gas,
  storage_write_byte_gas,
  storage_remove_base_gas,
  event_base_gas,
  event_byte_gas,
  message_base_gas,
  debug_base_gas,
  random_gas,
  data_byte_gas,
  builtin_element_gas,
  builtin_chars_per_gas,
  operand_chars_free,
  bigint_limbs_squared_per_gas,
});

/** Every limit as one frozen record, for documentation, logging and tests. */
export const vm_limits = Object.freeze({
  code_size_bytes_max,
  ast_depth_max,
  msg_size_bytes_max,
  storage_key_bytes_max,
  storage_value_bytes_max,
  storage_writes_per_call_max,
  events_per_call_max,
  event_attributes_max,
  event_bytes_max,
  data_bytes_max,
  error_message_chars_max,
  messages_per_call_max,
  debug_lines_per_call_max,
  debug_line_chars_max,
  call_depth_units_max,
  call_depth_unit_chars,
  call_args_max,
  gas_limit_max,
  engine_memory_bytes,
  engine_stack_bytes,
});

/** What the realm script reads as `cfg`: the gas schedule and every limit, the same for both engines. */
export const realm_config = Object.freeze({ ...gas_schedule, ...vm_limits });
