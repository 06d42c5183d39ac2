// Runs inside a real VS Code's extension host (code-server here, or
// @vscode/test-electron where VS Code can be downloaded). VS Code calls
// run(); mocha runs the suites and the results go to the file named by
// ASTRAFORGE_TEST_RESULTS, since a browser-hosted window has no exit code.
import { writeFileSync } from 'node:fs';
import * as vscode from 'vscode';
import type { AstraForgeApi } from '../../../src/extension';
// eslint-disable-next-line @typescript-eslint/no-require-imports
import Mocha = require('mocha');

export interface SuiteResults {
  passes: { title: string; duration: number }[];
  failures: { title: string; error: string }[];
}

export function run(): Promise<void> {
  // ASTRAFORGE_EXT_GREP runs only the tests whose title matches, for working on one of them.
  const mocha = new Mocha({ ui: 'bdd', timeout: 90_000, color: false, reporter: 'spec', grep: process.env.ASTRAFORGE_EXT_GREP });
  mocha.suite.emit('pre-require', globalThis, 'extension-host', mocha);
  // Loaded after pre-require so that describe/it exist when the suites run their top level.
  // ASTRAFORGE_EXT_SUITE=bench runs the benchmark (npm run bench) instead of the tests.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (process.env.ASTRAFORGE_EXT_SUITE === 'bench') require('./bench.suite');
  else {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('./extension.test');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('./trust.test');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('./environment.test');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('./network.test');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('./alerts.test');
  }
  const results: SuiteResults = { passes: [], failures: [] };
  return new Promise((resolve, reject) => {
    const runner = mocha.run(async (failures) => {
      await stopBackgroundServer(results);
      const out = process.env.ASTRAFORGE_TEST_RESULTS;
      if (out) writeFileSync(out, JSON.stringify(results));
      if (failures > 0) reject(new Error(`${failures} extension-host tests failed`));
      else resolve();
    });
    runner.on('pass', (t) => results.passes.push({ title: t.fullTitle(), duration: t.duration ?? 0 }));
    runner.on('fail', (t, err: Error) => results.failures.push({ title: t.fullTitle(), error: err.stack ?? String(err) }));
  });
}

/**
 * The extension's server outlives the window by design: the suite stops it
 * (as AstraForge: Stop Server does) before it reports, so a run of the
 * suite leaves no server behind. A failure to stop is a failure of the suite.
 */
async function stopBackgroundServer(results: SuiteResults): Promise<void> {
  try {
    const api = vscode.extensions.getExtension<AstraForgeApi>('astraforge.astraforge')?.exports;
    if (api?.connection.serverPid !== undefined) await api.connection.stopServer();
  } catch (e) {
    results.failures.push({ title: 'the background server stops at the end of the suite', error: (e as Error).stack ?? String(e) });
  }
}
