// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { builtinModules } from 'node:module';

// Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O.
const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  {
    ignores: ['node_modules/**', '.venv/**', '.tools/**', '.stack/**', 'dist/**', 'bin/**', '.scratch/**', '.bench/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.mjs', 'scripts/*.cjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'inline-type-imports' },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // Activity implementations are async by contract even when a body has nothing to await.
      '@typescript-eslint/require-await': 'off',
    },
  },
  { files: ['eslint.config.mjs'], extends: [tseslint.configs.disableTypeChecked] },
  {
    files: ['**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Deterministic code: workflows/ and the pure core they import (lib/core/).
    files: ['workflows/**/*.ts', 'lib/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({
            name,
            message:
              'Workflow code is deterministic: no Node built-ins under workflows/ or lib/core/. Do I/O in an activity.',
          })),
          patterns: [
            {
              group: ['**/activities/*', '**/activities'],
              allowTypeImports: true,
              message: 'Import activities as types only (import type * as acts) and call them through proxyActivities.',
            },
            {
              group: [
                '**/lib/*',
                '!**/lib/core',
                '**/lib/*/**',
                '!**/lib/core/**',
                '../*',
                '!../lib',
                '!../lib/core/**',
              ],
              allowTypeImports: true,
              message:
                'Workflow code may import values only from lib/core/ (the workflow-safe core); import other modules as types.',
            },
            {
              group: ['@temporalio/worker', '@temporalio/client', '@aws-sdk/*', 'apache-arrow', 'onnxruntime-node'],
              message: 'Not allowed in workflow code.',
            },
          ],
        },
      ],
    },
  },
  {
    // lib/ is shared by workers, the CLI and scripts: it never depends on workflow code.
    files: ['lib/**/*.ts'],
    ignores: ['lib/core/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/workflows', '**/workflows/*'],
              message:
                'lib/ must not import workflows/: put shared workflow types and names in lib/core/ and start workflows by type name.',
            },
          ],
        },
      ],
    },
  },
);
