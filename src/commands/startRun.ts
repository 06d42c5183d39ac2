// Starting a run from any entry point (palette, code action, sidebar):
// pick the workspace folder, snapshot it with a cancellable progress
// notification, create the run, and show it in the sidebar without taking
// the keyboard from the editor.
import * as vscode from 'vscode';
import type { AgentName, RunTask } from '@astraforge/contract/runApi';
import type { RunsController } from '../runs/runsController';
import type { ServerConnection } from '../server/serverConnection';
import { packSnapshot, planWorkspace } from '../snapshot/snapshotBuilder';

export interface RunStarterDeps {
  connection: ServerConnection;
  runs: RunsController;
  revealSidebar: () => Promise<void>;
  log: vscode.LogOutputChannel;
}

export async function pickWorkspaceFolder(): Promise<vscode.WorkspaceFolder | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 0) {
    void vscode.window.showErrorMessage('AstraForge: open a folder first; the agent works on a copy of it.');
    return undefined;
  }
  if (folders.length === 1) return folders[0];
  const active = vscode.window.activeTextEditor?.document.uri;
  const preferred = active ? vscode.workspace.getWorkspaceFolder(active) : undefined;
  return vscode.window.showWorkspaceFolderPick({
    placeHolder: `Folder to send to the sandbox${preferred ? ` (active: ${preferred.name})` : ''}`,
  });
}

export async function pickAgent(): Promise<AgentName | undefined> {
  const def = vscode.workspace.getConfiguration('astraforge').get<AgentName>('defaultAgent', 'codex');
  const items: (vscode.QuickPickItem & { agent: AgentName })[] = [
    { agent: 'codex', label: 'Codex', description: 'OpenAI Codex CLI in the sandbox' },
    { agent: 'deepagent', label: 'DeepAgent', description: 'LangChain DeepAgent, tools in the sandbox' },
    { agent: 'command', label: 'Command', description: 'a shell command in the sandbox (formatter, codemod), no model' },
  ];
  items.sort((a, b) => (a.agent === def ? -1 : b.agent === def ? 1 : 0));
  const pick = await vscode.window.showQuickPick(items, { placeHolder: 'Agent for this run', ignoreFocusOut: true });
  return pick?.agent;
}

export async function startRun(
  deps: RunStarterDeps,
  agent: AgentName,
  task: RunTask,
  folder?: vscode.WorkspaceFolder,
): Promise<string | undefined> {
  const target = folder ?? (await pickWorkspaceFolder());
  if (!target) return undefined;
  const client = await deps.connection.client();
  const cfg = vscode.workspace.getConfiguration('astraforge');
  const limits = {
    maxFiles: cfg.get<number>('snapshot.maxFiles', 50_000),
    maxBytes: cfg.get<number>('snapshot.maxMegabytes', 500) * 1024 * 1024,
  };
  const runId = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'AstraForge', cancellable: true },
    async (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      progress.report({ message: `listing ${target.name}…` });
      const root = target.uri.fsPath;
      const plan = await planWorkspace(root, limits);
      const total = Math.max(1, plan.bytes);
      let reported = 0;
      const tar = packSnapshot(root, plan, {
        signal: abort.signal,
        onProgress: (sent) => {
          const pct = Math.floor((sent / total) * 100);
          if (pct > reported) {
            progress.report({
              increment: pct - reported,
              message: `sending ${plan.entries.length} files (${Math.round(plan.bytes / 1024)} KiB)…`,
            });
            reported = pct;
          }
        },
      });
      const snapshot = await client.uploadSnapshot(tar, abort.signal);
      if (token.isCancellationRequested) return undefined;
      progress.report({ message: 'starting the run…' });
      // The run names its folder: every window of it lists the run, and Review opens against it.
      const workspace = { uri: target.uri.toString(), name: target.name };
      const network = networkFor(target);
      const run = await deps.runs.start({ agent, task, snapshot_id: snapshot.snapshot_id, workspace, ...(network ? { network } : {}) });
      deps.log.info(`run ${run.id}: snapshot ${snapshot.snapshot_id} (${snapshot.files} files, ${snapshot.bytes} bytes)`);
      return run.id;
    },
  );
  if (runId) await deps.revealSidebar();
  return runId;
}

/** The folder's egress (astraforge.network.allow), as a run asks for it; none when the list is empty. */
export function networkFor(folder: vscode.WorkspaceFolder): { mode: 'allowlist'; allow: string[] } | undefined {
  const allow = vscode.workspace.getConfiguration('astraforge', folder.uri).get<string[]>('network.allow', []);
  return allow.length ? { mode: 'allowlist', allow: [...allow] } : undefined;
}
