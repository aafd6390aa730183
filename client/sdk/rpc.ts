/**
 * The SDK's HTTP transport for protocol.md §6: the one RPC client of `protocol/rpc_client.ts`
 * (node failover, stale-connection retry, the live event stream), reporting failures as the SDK's
 * typed errors (client/sdk/errors.ts). Browser-safe.
 * @module
 */

import {
  type AnswerInfo,
  RpcTransport as BaseTransport,
  type RpcErrorFactory,
  type TransportModules,
} from '../../protocol/rpc_client.js';
import { BadAnswerError, ConnectionError, error_from_code } from './errors.js';

export {
  check_node_url,
  is_stale_connection,
  type RequestOptions,
  read_events,
  type StreamEvent,
  type TransportModules,
  timer_sleep,
} from '../../protocol/rpc_client.js';

/**
 * The SDK's {@link RpcErrorFactory}: an error answer is the typed error of its code
 * ({@link error_from_code}), an answer without §6's shape a {@link BadAnswerError}, and no node
 * answering a {@link ConnectionError}.
 */
export const SDK_RPC_ERRORS: RpcErrorFactory = Object.freeze({
  answer: (code: number, message: string, info: AnswerInfo) => error_from_code(code, message, info),
  bad_answer: (what: string, info: { status: number; node: string }) => new BadAnswerError(what, info),
  unreachable: (tried: readonly string[], info: { node?: string; cause?: unknown }) =>
    new ConnectionError(tried, info),
});

/**
 * JSON requests to any of several nodes (protocol/rpc_client.ts `RpcTransport`) whose errors are
 * the SDK's: a {@link CloisterError} subclass for a node's error answer, {@link ConnectionError}
 * when no node answers, {@link BadAnswerError} for an answer that is not JSON.
 */
export class RpcTransport extends BaseTransport {
  /**
   * @param opts.nodes node URLs, tried in order (at least one).
   * @param modules fetch, clock and timer.
   */
  constructor(opts: { nodes: readonly string[] }, modules: TransportModules) {
    super(opts, modules, SDK_RPC_ERRORS);
  }
}
