// One linter for the whole tree: typescript-eslint's recommended rules, and
// the layers' import rules (which layer may import which; see tsconfig.json).
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = builtinModules.filter((m) => !m.startsWith('_')).flatMap((m) => [m, `${m}/*`, `node:${m}`, `node:${m}/*`]);
const VSCODE = { name: 'vscode', message: 'only the extension (src/) may import vscode' };
const WEBVIEW = {
  group: ['**/webview-ui/**'],
  message: 'the webview is a browser bundle: nothing imports it, it speaks to the extension by messages',
};
const SERVER_INTERNALS = {
  group: ['**/server/src/**'],
  message: 'only the server imports its own code; share through @astraforge/contract',
};
const EXTENSION = { group: ['**/src/**', '!**/server/src/**', '!**/webview-ui/src/**'], message: 'the server never imports the extension' };
/**
 * The extension's modules that run without an editor: the review's pure core,
 * the server's launchers and client, the snapshot builder. Their tests run
 * under plain mocha (test/unit, test/client, test/server), where vscode does
 * not load; whatever needs the editor goes in the glue beside them.
 */
const WITHOUT_EDITOR = [
  'src/review/diskApply.ts',
  'src/review/fileProposal.ts',
  'src/review/hunks.ts',
  'src/review/lineText.ts',
  'src/review/safeTarget.ts',
  'src/review/sensitivePaths.ts',
  'src/review/threeWayMerge.ts',
  'src/runs/runAfterEvent.ts',
  'src/server/recordlessServers.ts',
  'src/server/serverClient.ts',
  'src/server/serverExitedEarly.ts',
  'src/server/serverIdentity.ts',
  'src/server/serverLog.ts',
  'src/server/serverWatch.ts',
  'src/server/userServer.ts',
  'src/snapshot/snapshotBuilder.ts',
];
/** A no-restricted-imports rule from its paths and patterns. */
const restrict = (paths, patterns) => ['error', { paths, patterns }];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      'server/dist/**',
      'out/**',
      'test/unit/fixtures/**',
      'test/fixtures/**',
      '.tools/**',
      'webview-ui/dist/**',
      'test-results/**',
      '.data/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['server/contract/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        [VSCODE, ...NODE_BUILTINS],
        [{ group: ['../*'], message: 'the contract imports nothing but zod and itself' }],
      ),
    },
  },
  {
    files: ['server/src/**/*.ts'],
    rules: { 'no-restricted-imports': restrict([VSCODE], [WEBVIEW, EXTENSION]) },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'no-restricted-imports': restrict([], [WEBVIEW, SERVER_INTERNALS]) },
  },
  {
    files: WITHOUT_EDITOR,
    rules: {
      'no-restricted-imports': restrict(
        [
          {
            name: 'vscode',
            message: 'this module runs without an editor (its tests run under plain mocha): the vscode glue goes beside it',
          },
        ],
        [WEBVIEW, SERVER_INTERNALS],
      ),
    },
  },
  {
    files: ['webview-ui/src/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        [VSCODE, ...NODE_BUILTINS.map((name) => ({ name, message: 'the webview runs in a browser: no node modules' }))],
        [SERVER_INTERNALS, { group: ['**/src/**', '!**/webview-ui/src/**'], message: 'the webview never imports the extension' }],
      ),
    },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // Tests and benchmarks poke at raw JSON responses.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
