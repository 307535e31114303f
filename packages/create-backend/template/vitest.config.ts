import { defineConfig } from 'vitest/config';

// The contract suite runs one real bottle through its cases in order; give
// each case time to boot and commit.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
