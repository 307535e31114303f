import { defineConfig } from 'vitest/config';

// The contract suite runs one bottle through thirteen ordered cases.
export default defineConfig({
  test: {
    include: ['test/**/*.spec.ts'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
