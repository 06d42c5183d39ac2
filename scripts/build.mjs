// Builds everything: the server bundle, the in-sandbox runner (C, static),
// and the extension bundle. `--server-only` skips the extension.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const serverOnly = process.argv.includes('--server-only');

// Static, libseccomp included, so the one binary runs in any Docker image.
function buildRunner() {
  const dir = join(root, 'server/runner');
  const sources = ['af-runner.c', 'command-filter.c'].map((f) => join(dir, f));
  const out = join(root, 'server/dist/af-runner');
  const newest = Math.max(...[...sources, join(dir, 'command-filter.h')].map((f) => statSync(f).mtimeMs));
  if (existsSync(out) && statSync(out).mtimeMs > newest) return;
  mkdirSync(dirname(out), { recursive: true });
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-static', '-o', out, ...sources, '-lseccomp'], { stdio: 'inherit' });
}

const common = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', sourcemap: true, logLevel: 'warning' };

buildRunner();
await esbuild.build({
  ...common,
  entryPoints: [join(root, 'server/src/main.ts')],
  outfile: join(root, 'server/dist/main.js'),
  // Everything is bundled but Codex (a platform binary) and dockerode (native optional parts),
  // resolved from node_modules at run time.
  external: ['@openai/codex', '@openai/codex-*', 'dockerode'],
});
if (!serverOnly) {
  await esbuild.build({
    ...common,
    entryPoints: [join(root, 'src/extension.ts')],
    outfile: join(root, 'dist/extension.js'),
    external: ['vscode'],
  });
  // The sidebar app: a browser bundle, loaded by the webview under a strict CSP.
  await esbuild.build({
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    sourcemap: true,
    logLevel: 'warning',
    entryPoints: [join(root, 'webview-ui/src/main.ts')],
    outfile: join(root, 'webview-ui/dist/main.js'),
    minify: true,
  });
  // Codicons ship with the webview's bundle, so the packaged extension needs no node_modules for them.
  const codicons = join(root, 'webview-ui/dist/codicons');
  mkdirSync(codicons, { recursive: true });
  for (const f of ['codicon.css', 'codicon.ttf']) copyFileSync(join(root, 'node_modules/@vscode/codicons/dist', f), join(codicons, f));
  // The extension-host test suite, loaded by VS Code from out/test/suite.
  await esbuild.build({
    ...common,
    entryPoints: [join(root, 'test/extension/suite/index.ts')],
    outfile: join(root, 'out/test/suite/index.js'),
    external: ['vscode', 'mocha'],
  });
}
