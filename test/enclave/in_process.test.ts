import { InProcessEnclave } from '../../enclave/in_process.js';
import { enclave_compliance_suite } from './compliance.js';

enclave_compliance_suite('InProcessEnclave', 'native', (opts) => new InProcessEnclave(opts));
enclave_compliance_suite('InProcessEnclave', 'noble', (opts) => new InProcessEnclave(opts));
