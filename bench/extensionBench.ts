// The extension in a real VS Code (code-server in headless Chromium): runs
// the extension-host benchmark suite (test/extension/suite/bench.suite.ts)
// and reads its numbers back.
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExtensionBenchResults } from '../test/extension/suite/bench.suite';
import { runSuiteInCodeServer } from '../test/helpers/extensionSuite';
import { summarize, type Row } from './stats';

export async function extensionBench(): Promise<{ rows: Row[]; results: ExtensionBenchResults }> {
  const resultsFile = join(tmpdir(), `af-ext-bench-${process.pid}.json`);
  rmSync(resultsFile, { force: true });
  try {
    const suite = await runSuiteInCodeServer({ ASTRAFORGE_EXT_SUITE: 'bench', ASTRAFORGE_BENCH_RESULTS: resultsFile });
    if (suite.failures.length) throw new Error(`the extension benchmark failed: ${suite.failures.map((f) => f.error).join('\n')}`);
    const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as ExtensionBenchResults;
    const rows: Row[] = [
      { name: 'extension activate()', n: 1, p50: results.activateMs, unit: 'ms' },
      { name: 'activation to embedded server ready', n: 1, p50: results.connectedMs, unit: 'ms' },
      summarize('Send Spec to first event drawn in the sidebar', results.commandToFirstDrawnMs, 'ms', 'snapshot, upload, run, view'),
      summarize('peer: same through the API alone (first SSE event)', results.apiToFirstEventMs, 'ms', 'snapshot, upload, run'),
      summarize(`open the review of ${results.reviewFiles} files / ${results.reviewDiffLines} changed lines`, results.reviewOpenMs, 'ms'),
      summarize('apply all of it (straight to disk)', results.reviewApplyMs, 'ms', 'the default from 100 files'),
      summarize('undo that apply', results.reviewUndoMs, 'ms'),
      summarize('apply all through one WorkspaceEdit', results.reviewApplyByEditMs, 'ms', 'largeApply: workspaceEdit'),
      summarize('peer: git apply of the same patch', results.gitApplyMs, 'ms'),
    ];
    return { rows, results };
  } finally {
    rmSync(resultsFile, { force: true });
  }
}
