// Runs the extension-host suite (out/test/suite) inside a real VS Code:
// code-server in headless Chromium. Prints each result and mocha's
// "N passing / N failing" lines, which the test command adds up.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBrowser, openWorkbench, startCodeServer, workbenchUrl } from '../helpers/codeServer';
import { REPO_ROOT } from '../helpers/serverProcess';
import type { SuiteResults } from './suite/index';

const TIMEOUT_MS = 5 * 60_000;

async function main(): Promise<number> {
  const resultsFile = join(tmpdir(), `astraforge-ext-results-${process.pid}.json`);
  rmSync(resultsFile, { force: true });
  const cs = await startCodeServer({ env: { ASTRAFORGE_TEST_RESULTS: resultsFile } });
  const browser = await openBrowser();
  const started = Date.now();
  try {
    await openWorkbench(browser, workbenchUrl(cs, join(REPO_ROOT, 'out/test/suite')));
    while (!existsSync(resultsFile)) {
      if (Date.now() - started > TIMEOUT_MS)
        throw new Error(`no results after ${TIMEOUT_MS / 1000} s; code-server said:\n${cs.output().slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as SuiteResults;
    console.log('\n  extension host (code-server)');
    for (const p of results.passes) console.log(`    ✔ ${p.title} (${p.duration}ms)`);
    results.failures.forEach((f, i) => console.log(`    ${i + 1}) ${f.title}`));
    console.log(`\n  ${results.passes.length} passing (${((Date.now() - started) / 1000).toFixed(0)}s)`);
    if (results.failures.length) {
      console.log(`  ${results.failures.length} failing\n`);
      results.failures.forEach((f, i) => console.log(`  ${i + 1}) ${f.title}:\n     ${f.error}\n`));
    }
    return results.failures.length ? 1 : 0;
  } finally {
    await browser.close();
    await cs.stop();
    rmSync(resultsFile, { force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
