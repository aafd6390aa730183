import { defineConfig } from 'vitest/config';

const shared = { testTimeout: 60_000, hookTimeout: 60_000 };

export default defineConfig({
  test: {
    // Two shared cores: enclave pools spawn their own worker threads, so keep test files few at a time.
    maxWorkers: 2,
    projects: [
      { test: { ...shared, name: 'all', include: ['test/**/*.test.ts'] } },
      {
        // The contract VM suites once more on the node:vm engine (the default is QuickJS).
        test: {
          ...shared,
          name: 'vm-v8',
          include: ['test/vm/**/*.test.ts', 'test/contracts/**/*.test.ts'],
          // Resource bombs need the QuickJS engine's deterministic memory bound.
          exclude: ['test/vm/bombs.test.ts', 'test/vm/isolation.test.ts', 'test/vm/history.test.ts'],
          env: { CLOISTER_TEST_VM_ENGINE: 'v8' },
          setupFiles: ['test/vm/engine_setup.ts'],
        },
      },
    ],
  },
});
