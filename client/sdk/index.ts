/**
 * The Cloister client SDK (browser-safe): {@link CloisterClient} for protocol.md §3-§6 and §9,
 * keys and the key file format, typed errors, the public event follower. The Node-only key file
 * helpers are in `./keyfile_node.js`.
 * @module
 */

export { DENOM, FAUCET_AMOUNT_DEFAULT, FAUCET_AMOUNT_MAX, type PublicEvent } from '../../protocol/bank.js';
export type { Scheme } from '../../protocol/envelope.js';
export type { ContractEventJson, ContractResult } from '../../protocol/result.js';
export type { Tx, TxMsg } from '../../protocol/tx.js';
export * from './client.js';
export * from './errors.js';
export * from './events.js';
export * from './keys.js';
export {
  check_node_url,
  RpcTransport,
  read_events,
  type StreamEvent,
  type TransportModules,
  timer_sleep,
} from './rpc.js';
