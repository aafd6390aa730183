/**
 * Limits and gas of the enclave's block executor (the contract VM has its own in vm/limits.ts).
 * Every input the host hands in is bounded, so a faulty or hostile host cannot make the enclave
 * do unbounded work or hold unbounded memory.
 * @module
 */

export const ENCLAVE_LIMITS = Object.freeze({
  /** Transactions in one block. */
  block_txs_max: 10_000,
  /** Sum of the transactions' JSON text lengths in one block. */
  block_bytes_max: 16 * 1024 * 1024,
  /** One transaction's JSON text (a store_code of the largest contract fits). */
  tx_bytes_max: 512 * 1024,
  /** Contracts one block may touch. */
  block_contracts_max: 4096,
  /** Balances handed in with one block. */
  block_balances_max: 65_536,
  /** protocol.md §9: contract calls one transaction may nest, its own call included. */
  call_depth_max: 8,
  /** Codes handed in with one block. */
  block_codes_max: 256,
  /** Sealed entries of one contract handed in with a block or query. */
  contract_state_entries_max: 100_000,
  /** Gas limit a transaction may ask for. */
  tx_gas_limit_max: 100_000_000,
  /** Gas a query may use. */
  query_gas_limit: 10_000_000,
  /** Label of a contract instance, in UTF-16 units. */
  contract_label_chars_max: 128,
});

/** Gas charged by the enclave around the contract call (same on every validator). */
export const ENCLAVE_GAS = Object.freeze({
  /** Every counted transaction: signature check and bookkeeping. */
  tx_base: 10_000,
  /** Per byte of the transaction's JSON text. */
  tx_byte: 2,
  /** Per byte of stored code, on top of tx_byte: code is kept forever. */
  store_code_byte: 8,
  /** Opening an envelope and sealing its result. */
  envelope: 5_000,
  /** Checking a registration quote and sealing the seed share. */
  register_node: 50_000,
  /** A `send` message (protocol.md §9), from a transaction or a contract. */
  send: 2_000,
  /** Running a contract message (protocol.md §9): checking the callee's binding and state. */
  message_call: 5_000,
});
