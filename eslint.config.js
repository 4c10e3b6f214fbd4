// Lint config: typescript-eslint's recommended rules over src, test and bench.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'docs/api/', 'web/dist/', 'web/dist-site/', 'tmp/', '.bench-cache/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // The static site's service worker: plain JavaScript in the worker's globals.
    files: ['web/site-public/sw.js'],
    languageOptions: { globals: { self: 'readonly', caches: 'readonly', fetch: 'readonly', URL: 'readonly', Headers: 'readonly', Response: 'readonly' } },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
