/**
 * Vitest setup for the `vm-v8` project: runs the VM and contract suites on the `node:vm` engine
 * as well as on the default QuickJS engine.
 */
import { set_default_engine } from '../../enclave/vm/compile.js';

if (process.env.CLOISTER_TEST_VM_ENGINE === 'v8') set_default_engine('v8');
