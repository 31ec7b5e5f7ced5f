// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Layers (DESIGN.md, ARCHITECTURE.md): imports point down only.
 *   cli | server | mcp  →  store | monitor  →  schema  →  migrate  →  db  →  errors
 * Each entry lists the folders a layer must not import from.
 */
const layers = {
  errors: ['db', 'migrate', 'schema', 'store', 'agents', 'cli', 'server', 'mcp', 'monitor'],
  db: ['migrate', 'schema', 'store', 'agents', 'cli', 'server', 'mcp', 'monitor'],
  migrate: ['schema', 'store', 'agents', 'cli', 'server', 'mcp', 'monitor'],
  schema: ['store', 'agents', 'cli', 'server', 'mcp', 'monitor'],
  store: ['agents', 'cli', 'server', 'mcp'],
  agents: ['db', 'migrate', 'schema', 'cli', 'server', 'mcp', 'monitor'],
  server: ['cli', 'mcp', 'db', 'migrate'],
  mcp: ['store', 'schema', 'server', 'agents', 'cli', 'monitor'],
};

export default tseslint.config(
  { ignores: ['.scratch*/**', 'dist/**', 'node_modules/**', 'bench/**', 'coverage/**', '.chatkeep/**', '.test-build/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // An async database library must not drop a promise (STYLE 15).
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  ...Object.entries(layers).map(([layer, forbidden]) => ({
    files: [`src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbidden.map((f) => ({
            group: [`../${f}/*`, `../../${f}/*`, `../${f}`, `../../${f}`],
            message: `src/${layer} must not import src/${f}: imports point down the layers (ARCHITECTURE.md).`,
          })),
        },
      ],
    },
  })),
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
