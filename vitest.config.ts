import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**', '.data/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Every file gets its own database and queue prefix, so files run in parallel.
    fileParallelism: true,
    teardownTimeout: 30_000,
  },
});
