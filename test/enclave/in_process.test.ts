import { InProcessEnclave } from '../../enclave/in_process.js';
import { enclave_compliance_suite } from './compliance.js';

enclave_compliance_suite('InProcessEnclave', 'native', (opts) => new InProcessEnclave(opts));
enclave_compliance_suite('InProcessEnclave', 'noble', (opts) => new InProcessEnclave(opts));
// Every block staged in ranges of one transaction and up (enclave/speculate.ts): the same answers,
// the canary check included, whatever the staging did.
enclave_compliance_suite(
  'InProcessEnclave staged',
  'native',
  (opts) => new InProcessEnclave(opts, {}, { chunks_max: 3, chunk_txs_min: 1 }),
);
