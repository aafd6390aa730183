/** What the metrics tests share: the names issue #15 requires, and reading one sample. */

/** The metrics every node must serve (issue #15). */
export const REQUIRED_METRICS = [
  'cloister_consensus_height',
  'cloister_consensus_rounds',
  'cloister_consensus_block_interval_seconds',
  'cloister_mempool_size',
  'cloister_p2p_peers',
  'cloister_enclave_execute_seconds',
  'cloister_txs_committed_total',
  'cloister_rpc_requests_total',
] as const;

/** The value of the sample `name{labels}` (labels as printed, e.g. `code="0"`), or undefined. */
export function sample(text: string, name: string, labels = ''): number | undefined {
  const head = labels === '' ? `${name} ` : `${name}{${labels}} `;
  const line = text.split('\n').find((l) => l.startsWith(head));
  return line === undefined ? undefined : Number(line.slice(head.length));
}
