// `npm run bench`, inside a real VS Code: activation, and the time from the
// Send Spec command to the first event drawn in the sidebar, beside the same
// work done straight against the server's API (snapshot, run, first event);
// and the review of a 500-file, 50,000-line diff: opening it and applying all
// of it, beside `git apply` of the same patch.
// Numbers go to the JSON file named by ASTRAFORGE_BENCH_RESULTS.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { until } from '../../helpers/until';
import type { AstraForgeApi } from '../../../src/extension';
import { listWorkspaceFiles, packSnapshot, planSnapshot } from '../../../src/snapshot/snapshotBuilder';

const ROUNDS = 8;

export interface ExtensionBenchResults {
  activateMs: number;
  connectedMs: number;
  /** Send Spec (snapshot, upload, run, sandbox, first output) to the first event drawn in the view. */
  commandToFirstDrawnMs: number[];
  /** The same work through the API alone: snapshot upload, run creation, first SSE event. */
  apiToFirstEventMs: number[];
  /** Opening the review of the big diff (diff, base check, proposals, tree). */
  reviewOpenMs: number[];
  /** Accepting all of it as one WorkspaceEdit, files written. */
  reviewApplyMs: number[];
  /** Undoing that apply (Review: Undo Last Apply). */
  reviewUndoMs: number[];
  /** The same apply through one WorkspaceEdit (astraforge.review.largeApply: workspaceEdit), what Ctrl+Z can undo. */
  reviewApplyByEditMs: number[];
  /** `git apply` of the same patch on the same files. */
  gitApplyMs: number[];
  reviewFiles: number;
  reviewDiffLines: number;
}

/** The benchmark times what it waits for: poll often, so the poll adds next to nothing. */
const FAST = { intervalMs: 2, timeoutMs: 60_000 };

describe('AstraForge extension benchmark', () => {
  let api: AstraForgeApi;
  const results: ExtensionBenchResults = {
    activateMs: 0,
    connectedMs: 0,
    commandToFirstDrawnMs: [],
    apiToFirstEventMs: [],
    reviewOpenMs: [],
    reviewApplyMs: [],
    reviewUndoMs: [],
    reviewApplyByEditMs: [],
    gitApplyMs: [],
    reviewFiles: 0,
    reviewDiffLines: 0,
  };

  before(async () => {
    api = (await vscode.extensions.getExtension<AstraForgeApi>('astraforge.astraforge')!.activate())!;
    await until('the embedded server', () => api.timings.connectedMs, FAST);
    results.activateMs = api.timings.activateMs;
    results.connectedMs = api.timings.connectedMs!;
    const ready = new Promise<void>((resolve) => {
      const sub = api.sidebar.onDidReceiveMessage((m) => m.type === 'ready' && (sub.dispose(), resolve()));
    });
    await vscode.commands.executeCommand('astraforge.showSidebar');
    await ready;
  });

  after(() => {
    const out = process.env.ASTRAFORGE_BENCH_RESULTS;
    if (out) writeFileSync(out, JSON.stringify(results));
  });

  it('commandToFirstEventDrawn', async () => {
    // The first draw of each run, by run id: it can come before the command returns.
    const firstDrawn = new Map<string, number>();
    const sub = api.sidebar.onDidReceiveMessage((m) => {
      if (m.type === 'rendered' && !firstDrawn.has(m.runId)) firstDrawn.set(m.runId, performance.now());
    });
    try {
      for (let i = 0; i < ROUNDS; i++) {
        const t0 = performance.now();
        const runId = await vscode.commands.executeCommand<string>('astraforge.sendSpec', {
          prompt: `bench ${i}`,
          agent: 'command',
          command: 'echo first',
        });
        assert.ok(runId);
        const drawnAt = await until('the first event drawn', () => firstDrawn.get(runId), FAST);
        results.commandToFirstDrawnMs.push(drawnAt - t0);
      }
    } finally {
      sub.dispose();
    }
  });

  it('apiToFirstEvent', async () => {
    const root = vscode.workspace.workspaceFolders![0].uri.fsPath;
    const client = await api.connection.client();
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      const plan = await planSnapshot(root, await listWorkspaceFiles(root), { maxFiles: 50_000, maxBytes: 500 * 1024 * 1024 });
      const snap = await client.uploadSnapshot(packSnapshot(root, plan));
      const run = await client.createRun({
        agent: 'command',
        task: { kind: 'spec', prompt: `api ${i}`, command: 'echo first' },
        snapshot_id: snap.snapshot_id,
      });
      const abort = new AbortController();
      let firstAt: number | undefined;
      await client
        .followEvents(run.id, {
          afterSeq: 0,
          signal: abort.signal,
          onEvent: () => {
            firstAt ??= performance.now();
            abort.abort();
          },
        })
        .catch(() => undefined);
      assert.ok(firstAt);
      results.apiToFirstEventMs.push(firstAt - t0);
    }
  });

  it('reviewOfA500FileDiff', async function () {
    this.timeout(600_000);
    const folder = vscode.workspace.workspaceFolders![0].uri;
    const FILES = 500;
    const LINES = 100;
    const original = (n: number) => Array.from({ length: LINES }, (_, i) => `file ${n} line ${i}`).join('\n') + '\n';
    const writeAll = async () => {
      for (let n = 0; n < FILES; n++)
        await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(folder, 'big', `f${n}.txt`), Buffer.from(original(n)));
    };
    await writeAll();
    const events: { type: string; status?: unknown }[] = [];
    const sub = api.runs.onDidReceiveEvents((b) => events.push(...b.events));
    // The agent rewrites every line: 500 files, 100 lines out and 100 in each.
    const runId = await vscode.commands.executeCommand<string>('astraforge.sendSpec', {
      prompt: 'big',
      agent: 'command',
      command: "sed -i 's/$/ changed/' big/*.txt",
    });
    await until('the run', () => events.find((e) => e.type === 'run.finished'), { ...FAST, timeoutMs: 300_000 });
    sub.dispose();
    const client = await api.connection.client();
    const diff = await client.diff(runId);
    results.reviewFiles = diff.files.length;
    // Lines the agent changed: each removed line is one it rewrote.
    results.reviewDiffLines = diff.files.reduce(
      (n, f) => n + f.patch.split('\n').filter((l) => l.startsWith('-') && !l.startsWith('--- ')).length,
      0,
    );
    const patchFile = join(tmpdir(), `af-bench-${process.pid}.patch`);
    writeFileSync(patchFile, diff.files.map((f) => f.patch).join(''));
    const paths = diff.files.map((f) => f.path);
    for (let round = 0; round < 3; round++) {
      await writeAll();
      let t0 = performance.now();
      await api.review.open(runId, folder);
      results.reviewOpenMs.push(performance.now() - t0);
      t0 = performance.now();
      const r = await api.review.accept(paths);
      results.reviewApplyMs.push(performance.now() - t0);
      assert.equal(r.applied.length, FILES);
      const sample = Buffer.from(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(folder, 'big', 'f7.txt'))).toString();
      assert.ok(sample.endsWith('line 99 changed\n'), 'the applied files are on disk');
      t0 = performance.now();
      const undone = await api.review.undoApply();
      results.reviewUndoMs.push(performance.now() - t0);
      assert.equal(undone?.restored.length, FILES);
      // The other way, for comparison: every file through VS Code's text models.
      const settings = vscode.workspace.getConfiguration('astraforge.review');
      await settings.update('largeApply', 'workspaceEdit', vscode.ConfigurationTarget.Global);
      try {
        await api.review.open(runId, folder);
        t0 = performance.now();
        const byEdit = await api.review.accept(paths);
        results.reviewApplyByEditMs.push(performance.now() - t0);
        assert.equal(byEdit.undoable, undefined);
      } finally {
        await settings.update('largeApply', undefined, vscode.ConfigurationTarget.Global);
      }
      await writeAll();
      t0 = performance.now();
      execFileSync('git', ['apply', '--unsafe-paths', '--directory=', patchFile], { cwd: folder.fsPath });
      results.gitApplyMs.push(performance.now() - t0);
    }
    rmSync(patchFile, { force: true });
  });
});
