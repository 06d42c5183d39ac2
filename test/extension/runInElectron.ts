// Runs the same extension-host suite in desktop VS Code through
// @vscode/test-electron, for machines that can download VS Code (a
// developer's laptop, CI with internet). Here the test command uses
// runInCodeServer.ts instead: these machines cannot reach the download.
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTests } from '@vscode/test-electron';
import { SAMPLE_WORKSPACE } from '../helpers/codeServer';
import { buildExtensionSuite, SUITE_DIR } from '../helpers/extensionSuite';
import { REPO_ROOT } from '../helpers/serverProcess';

async function main(): Promise<void> {
  await buildExtensionSuite();
  const workspace = join(mkdtempSync(join(tmpdir(), 'af-electron-')), 'sample-workspace');
  cpSync(SAMPLE_WORKSPACE, workspace, { recursive: true });
  await runTests({
    extensionDevelopmentPath: REPO_ROOT,
    extensionTestsPath: join(SUITE_DIR, 'index.js'),
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
    extensionTestsEnv: { ASTRAFORGE_TEST_RESULTS: '' },
  });
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
