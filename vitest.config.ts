import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` (fast, in-process; `npm run test:unit`) and `e2e` (spawns processes: the real Claude Code
 * CLI, Postgres, Chromium, llama.cpp, `bin/trace.js` batteries). `npm test` typechecks, then runs both.
 */
const E2E = [
  'test/**/*.e2e.test.ts',
  'test/**/*-e2e.test.ts',
  'test/store/store-dialects.test.ts', // starts a real Postgres
  'test/examples/examples.test.ts', // rebuilds and re-analyses the committed examples through bin/trace.js
];

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: E2E } },
      { extends: true, test: { name: 'e2e', include: E2E } },
    ],
  },
});
