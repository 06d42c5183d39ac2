// The extension-host suite (test/extension/suite) in a real VS Code:
// bundled where VS Code loads it from (only here: the product build leaves
// it out), then run in code-server in headless Chromium. A browser-hosted
// window has no exit code, so the suite writes its results to a file that
// this waits for. The test command and the benchmark both run it this way.
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import type { SuiteResults } from '../extension/suite/index';
import { openBrowser, openWorkbench, startCodeServer, workbenchUrl } from './codeServer';
import { REPO_ROOT } from './serverProcess';
import { until } from './until';

export const SUITE_DIR = join(REPO_ROOT, 'out/test/suite');

/** Bundles the suite into out/test/suite/index.js (vscode and mocha come from the extension host). */
export async function buildExtensionSuite(): Promise<void> {
  await esbuild.build({
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: true,
    logLevel: 'warning',
    entryPoints: [join(REPO_ROOT, 'test/extension/suite/index.ts')],
    outfile: join(SUITE_DIR, 'index.js'),
    external: ['vscode', 'mocha'],
  });
}

/** Builds the suite and runs it in code-server, `env` added to the extension host's environment. */
export async function runSuiteInCodeServer(env: Record<string, string> = {}, timeoutMs = 5 * 60_000): Promise<SuiteResults> {
  await buildExtensionSuite();
  const resultsFile = join(tmpdir(), `astraforge-ext-results-${process.pid}.json`);
  rmSync(resultsFile, { force: true });
  const cs = await startCodeServer({ env: { ...env, ASTRAFORGE_TEST_RESULTS: resultsFile } });
  const browser = await openBrowser();
  try {
    await openWorkbench(browser, workbenchUrl(cs, SUITE_DIR));
    return await until(
      () => `the suite's results after ${timeoutMs / 1000} s; code-server said:\n${cs.output().slice(-4000)}`,
      () => readResults(resultsFile),
      { timeoutMs, intervalMs: 250 },
    );
  } finally {
    await browser.close();
    await cs.stop();
    rmSync(resultsFile, { force: true });
  }
}

/** The results once the file is there and whole (it may be caught mid-write). */
function readResults(file: string): SuiteResults | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SuiteResults;
  } catch {
    return undefined;
  }
}
