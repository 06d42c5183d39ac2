// Commands on runs: show the list, cancel, follow up, review changes.
import * as vscode from 'vscode';
import type { Prompts } from '../prompts';
import type { ReviewController } from '../review/reviewController';
import type { ServerConnection } from '../server/serverConnection';
import { pickWorkspaceFolder } from './startRun';
import { TERMINAL_STATUSES, type Run } from '@astraforge/contract/runApi';
import type { RunsController } from '../runs/runsController';
import { statusIconLabel } from '@astraforge/contract/statusIcon';

export interface ReviewDeps {
  runs: RunsController;
  review: ReviewController;
  connection: ServerConnection;
  prompts: Prompts;
}

function describe(run: Run): vscode.QuickPickItem & { run: Run } {
  const firstLine = (run.task.command ?? run.task.prompt).split('\n')[0].slice(0, 80);
  return {
    run,
    label: `${statusIconLabel(run.status)} ${firstLine}`,
    description: `${run.agent} · ${run.status}`,
    detail: new Date(run.created_at).toLocaleString(),
  };
}

async function pickRun(runs: RunsController, placeHolder: string, filter: (r: Run) => boolean = () => true): Promise<Run | undefined> {
  const selected = runs.selectedRun;
  if (selected && filter(selected)) return selected;
  await runs.refresh();
  const items = runs.runs.filter(filter).map(describe);
  if (!items.length) {
    void vscode.window.showInformationMessage('AstraForge: no run to choose from.');
    return undefined;
  }
  return (await vscode.window.showQuickPick(items, { placeHolder }))?.run;
}

export async function showRuns(runs: RunsController, revealSidebar: () => Promise<void>): Promise<void> {
  await runs.refresh();
  const pick = await vscode.window.showQuickPick(runs.runs.map(describe), { placeHolder: 'AstraForge runs, newest first' });
  if (!pick) return;
  await runs.select(pick.run.id);
  await revealSidebar();
}

/** Shows these runs: the one in the sidebar, or several in a pick to choose the one to show. */
export async function showTheseRuns(runs: RunsController, list: readonly Run[], revealSidebar: () => Promise<void>): Promise<void> {
  const run = list.length === 1 ? list[0] : (await vscode.window.showQuickPick(list.map(describe), { placeHolder: 'Run to show' }))?.run;
  if (!run) return;
  await runs.select(run.id);
  await revealSidebar();
}

export async function cancelRun(runs: RunsController, runId?: string): Promise<void> {
  const id = runId ?? (await pickRun(runs, 'Run to cancel', (r) => !TERMINAL_STATUSES.includes(r.status)))?.id;
  if (id) await runs.cancel(id);
}

export async function followUp(runs: RunsController, runId?: string, message?: string): Promise<void> {
  const id =
    runId ?? (await pickRun(runs, 'Run to continue', (r) => TERMINAL_STATUSES.includes(r.status) && r.status !== 'interrupted'))?.id;
  if (!id) return;
  const text =
    message ??
    (await vscode.window.showInputBox({
      title: 'AstraForge: Follow Up',
      prompt: 'Another instruction for the same sandbox and conversation',
      ignoreFocusOut: true,
    }));
  if (text?.trim()) await runs.followUp(id, text);
}

/** Opens the review of a run's changes: the list of files, and the first one's diff beside the editor. */
export async function reviewChanges({ runs, review, connection, prompts }: ReviewDeps, runId?: string): Promise<void> {
  const id = runId ?? (await pickRun(runs, 'Run whose changes to review'))?.id;
  if (!id) return;
  const run = runs.runs.find((r) => r.id === id) ?? (await (await connection.client()).getRun(id));
  const folder = await reviewFolder(run, prompts);
  if (!folder) return;
  const opened = await review.open(id, folder);
  if (!opened.files.length) {
    void vscode.window.showInformationMessage('AstraForge: this run changed no files.');
    return;
  }
  // The list of files opens beside the editor without taking the keyboard.
  await vscode.commands.executeCommand('astraforge.review.focus', { preserveFocus: true });
  const first = opened.files.find((f) => f.kind !== 'refused');
  const refused = opened.files.filter((f) => f.kind === 'refused').length;
  if (refused)
    void vscode.window.showWarningMessage(
      `AstraForge: ${refused} of this run's files ${refused === 1 ? 'has a path' : 'have paths'} outside this folder or otherwise unsafe; ${refused === 1 ? 'it is' : 'they are'} marked refused in the Review list and will not be written.`,
    );
  if (first) await review.showDiff(first.path, true);
}

/**
 * The folder a run's changes are reviewed against: the one it came from when
 * this window has it open, without asking; otherwise one the user picks,
 * told first when the run came from a folder that is not open here.
 */
export async function reviewFolder(run: Run, prompts: Prompts): Promise<vscode.Uri | undefined> {
  const origin = run.workspace;
  const same = origin && vscode.workspace.workspaceFolders?.find((f) => f.uri.toString() === origin.uri);
  if (same) return same.uri;
  const target = await pickWorkspaceFolder();
  if (!target || !origin) return target?.uri;
  const here = 'Review Here';
  const uri = vscode.Uri.parse(origin.uri);
  const pick = await prompts.modal(
    `AstraForge: this run was made from ${origin.name}, which is not open in this window. Review its changes against ${target.name}?`,
    `The run's folder: ${uri.scheme === 'file' ? uri.fsPath : origin.uri}`,
    here,
  );
  return pick === here ? target.uri : undefined;
}
