import { defineConfig } from 'vitest/config';

// Two projects: `unit` is pure and fast; `integration` talks to the real dev stack
// (S3, the OIDC provider, Temporal, MLflow), which `npm test` brings up before vitest starts,
// and runs the tests of deadlines on Temporal's time-skipping test server, which its global
// setup installs. Its test files sign in to MLflow as the registry (test/setup/registry-credentials.ts).
export default defineConfig({
  test: {
    pool: 'forks',
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          pool: 'forks',
          testTimeout: 30_000,
          setupFiles: ['test/setup/process-env.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: [
            'test/integration/**/*.test.ts',
            'test/workflows/**/*.test.ts',
            'test/activities/**/*.test.ts',
            'test/e2e/**/*.test.ts',
            'test/browser/**/*.test.ts',
          ],
          pool: 'forks',
          testTimeout: 180_000,
          hookTimeout: 180_000,
          globalSetup: ['test/setup/require-stack.ts', 'test/setup/test-server.ts'],
          setupFiles: ['test/setup/process-env.ts', 'test/setup/registry-credentials.ts'],
          fileParallelism: false,
        },
      },
    ],
  },
});
