import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two shared cores: enclave pools spawn their own worker threads, so keep test files few at a time.
    maxWorkers: 2,
  },
});
