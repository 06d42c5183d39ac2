// Builds the product: the server bundle, the in-sandbox runner (C, static),
// and the extension and webview bundles. `--server-only` skips the extension.
// The extension-host test suite is not part of it: its runners bundle it
// (test/helpers/extensionSuite.ts).
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const serverOnly = process.argv.includes('--server-only');

// Static, libseccomp included, so the one binary runs in any Docker image.
const RUNNER_FLAGS = ['-O2', '-Wall', '-Wextra', '-Werror', '-static'];
const RUNNER_LIBS = ['-lseccomp'];

// Rebuilt when a source is newer than the binary or the compiler command
// changed: the command the binary was built with is stamped next to it.
function buildRunner() {
  const dir = join(root, 'server/runner');
  const sources = ['af-runner.c', 'command-filter.c'].map((f) => join(dir, f));
  const out = join(root, 'server/dist/af-runner');
  const stamp = `${out}.flags`;
  const command = JSON.stringify({ cc: 'gcc', flags: RUNNER_FLAGS, libs: RUNNER_LIBS });
  const newest = Math.max(...[...sources, join(dir, 'command-filter.h')].map((f) => statSync(f).mtimeMs));
  const stamped = existsSync(stamp) ? readFileSync(stamp, 'utf8') : undefined;
  if (existsSync(out) && statSync(out).mtimeMs > newest && stamped === command) return;
  mkdirSync(dirname(out), { recursive: true });
  rmSync(stamp, { force: true }); // a failed compile leaves no stamp, so the next build tries again
  execFileSync('gcc', [...RUNNER_FLAGS, '-o', out, ...sources, ...RUNNER_LIBS], { stdio: 'inherit' });
  writeFileSync(stamp, command);
}

// The bubblewrap warm pool's mount helper (root servers only): static too, no libraries.
function buildMounter() {
  const source = join(root, 'server/runner/af-mounter.c');
  const out = join(root, 'server/dist/af-mounter');
  if (existsSync(out) && statSync(out).mtimeMs > statSync(source).mtimeMs) return;
  mkdirSync(dirname(out), { recursive: true });
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-static', '-o', out, source], { stdio: 'inherit' });
}

const common = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', sourcemap: true, logLevel: 'warning' };

buildRunner();
buildMounter();
await esbuild.build({
  ...common,
  entryPoints: [join(root, 'server/src/main.ts')],
  outfile: join(root, 'server/dist/main.js'),
  // Everything is bundled but Codex (a platform binary), dockerode (native optional parts) and the Kubernetes client,
  // resolved from node_modules at run time.
  external: ['@openai/codex', '@openai/codex-*', 'dockerode', '@kubernetes/client-node'],
});
// The package's bin entry (npx astraforge-server) runs the bundle itself, by its shebang.
chmodSync(join(root, 'server/dist/main.js'), 0o755);
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
}
