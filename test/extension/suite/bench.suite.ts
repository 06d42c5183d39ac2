// `npm run bench`, inside a real VS Code: activation, and the time from the
// Send Spec command to the first event drawn in the sidebar, beside the same
// work done straight against the server's API (snapshot, run, first event).
// Numbers go to the JSON file named by ASTRAFORGE_BENCH_RESULTS.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as vscode from 'vscode';
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
}

async function until<T>(probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('AstraForge extension benchmark', () => {
  let api: AstraForgeApi;
  const results: ExtensionBenchResults = { activateMs: 0, connectedMs: 0, commandToFirstDrawnMs: [], apiToFirstEventMs: [] };

  before(async () => {
    api = (await vscode.extensions.getExtension<AstraForgeApi>('astraforge.astraforge')!.activate())!;
    await until(() => api.timings.connectedMs);
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
        const drawnAt = await until(() => firstDrawn.get(runId));
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
});
