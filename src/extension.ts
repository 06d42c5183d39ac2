// The extension's entry point: assembles the server connection, the runs,
// the sidebar, the status bar, the commands and the code action. Everything
// that holds a resource is disposed with the window.
import * as vscode from 'vscode';
import { fixError, FixInSandboxActions, type FixErrorArgs } from './commands/fixError';
import { acceptAll, acceptFile } from './commands/reviewCommands';
import { cancelRun, followUp, reviewChanges, showRuns } from './commands/runCommands';
import { sendSpec, type SendSpecArgs } from './commands/sendSpec';
import { connectServer, setModelKey } from './commands/serverCommands';
import { startRun, type RunStarterDeps } from './commands/startRun';
import type { FileProposal } from './review/fileProposal';
import type { CarriedOut } from './review/carryOut';
import { REVIEW_SCHEME, ReviewController, type AcceptResult } from './review/reviewController';
import { printablePath } from './review/safeTarget';
import { windowPrompts, type Prompts } from './prompts';
import { RunsController } from './runs/runsController';
import { ServerConnection } from './server/serverConnection';
import { SIDEBAR_VIEW_ID, SidebarProvider } from './sidebar/sidebarProvider';
import { StatusBar } from './statusBar';

/** What tests (and other extensions) can reach. */
export interface AstraForgeApi {
  connection: ServerConnection;
  runs: RunsController;
  sidebar: SidebarProvider;
  review: ReviewController;
  /** The modal questions the extension asks (tests answer them by replacing `modal`). */
  prompts: Prompts;
  /** How long activate() took, and how long until the server answered (ms; for the benchmark and the log). */
  timings: { activateMs: number; connectedMs?: number };
}

export function activate(context: vscode.ExtensionContext): AstraForgeApi {
  const activationStart = performance.now();
  const log = vscode.window.createOutputChannel('AstraForge', { log: true });
  const prompts = windowPrompts();
  const connection = new ServerConnection(context, log, prompts);
  const runs = new RunsController(connection, log);
  context.subscriptions.push(log, connection, runs);

  // Opening the sidebar must not take the keyboard from the editor the user types in.
  // A view that is not open yet can only be opened by focusing it, and a webview takes
  // the focus again once it has loaded: so wait for it to say it is ready, then hand
  // the keyboard back to the editor.
  const revealSidebar = async () => {
    if (sidebar.visible) return sidebar.reveal();
    const editor = vscode.window.activeTextEditor;
    const loaded = sidebar.whenReady(3000);
    await vscode.commands.executeCommand(`${SIDEBAR_VIEW_ID}.focus`);
    if (!editor) return;
    await loaded;
    await vscode.window.showTextDocument(editor.document, { viewColumn: editor.viewColumn, preserveFocus: false, preview: false });
  };
  const deps: RunStarterDeps = { connection, runs, revealSidebar, log };
  const review = new ReviewController(context, connection);
  const reviewView = vscode.window.createTreeView('astraforge.review', { treeDataProvider: review });
  context.subscriptions.push(
    review,
    reviewView,
    review.onDidChangeTreeData(() => (reviewView.description = review.summary())),
    vscode.workspace.registerTextDocumentContentProvider(REVIEW_SCHEME, review),
    vscode.languages.registerCodeLensProvider({ scheme: 'file' }, review),
  );
  const files = (n: number) => `${n} file${n === 1 ? '' : 's'}`;
  // A message names a few files, not the 500 of a large apply.
  const listed = (paths: string[]) => paths.slice(0, 5).join(', ') + (paths.length > 5 ? ` and ${paths.length - 5} more` : '');
  const undoApply = async (which?: CarriedOut) => {
    const r = await review.undoApply(which);
    if (!r) return void vscode.window.showInformationMessage(`AstraForge: ${which ? 'that apply was undone already' : 'nothing to undo'}.`);
    const kept = r.kept.length ? `; kept ${listed(r.kept)}, changed since` : '';
    void vscode.window.showInformationMessage(`AstraForge: undid "${r.label}" (${files(r.restored.length)})${kept}.`);
    return r;
  };
  const reportAccept = (r: AcceptResult | undefined) => {
    if (!r) return r;
    if (r.refused.length)
      void vscode.window.showWarningMessage(
        `AstraForge: refused, not written: ${listed(r.refused.map(printablePath))} (outside this folder or otherwise unsafe; see the Review list).`,
      );
    // What went straight to disk is out of Ctrl+Z's reach: the message offers the way back, to this apply.
    const { undoable } = r;
    if (undoable)
      void vscode.window
        .showInformationMessage(`AstraForge: applied ${files(r.applied.length + r.conflicts.length)}.`, 'Undo')
        .then((pick) => pick && undoApply(undoable));
    if (r.conflicts.length)
      void vscode.window.showWarningMessage(
        `AstraForge: ${listed(r.conflicts)} had conflicts with your edits; resolve the marked sections.`,
      );
    if (r.skipped.length) void vscode.window.showInformationMessage(`AstraForge: left for you to decide: ${listed(r.skipped)}.`);
    return r;
  };
  const sidebar = new SidebarProvider(
    context.extensionUri,
    connection,
    runs,
    {
      startRun: (msg) =>
        startRun(deps, msg.agent, { kind: msg.kind, prompt: msg.prompt, ...(msg.command ? { command: msg.command } : {}) }),
      reviewChanges: (runId) => reviewChanges(runs, review, runId),
    },
    log,
  );
  context.subscriptions.push(
    sidebar,
    vscode.window.registerWebviewViewProvider(SIDEBAR_VIEW_ID, sidebar, { webviewOptions: { retainContextWhenHidden: false } }),
    new StatusBar(connection, runs),
    vscode.languages.registerCodeActionsProvider({ scheme: 'file' }, new FixInSandboxActions(), {
      providedCodeActionKinds: FixInSandboxActions.kinds,
    }),
  );

  const guarded =
    <A extends unknown[]>(fn: (...args: A) => Promise<unknown>) =>
    async (...args: A) => {
      try {
        return await fn(...args);
      } catch (e) {
        log.error((e as Error).stack ?? String(e));
        void vscode.window.showErrorMessage(`AstraForge: ${(e as Error).message}`);
        return undefined;
      }
    };
  const register = (id: string, fn: (...args: never[]) => Promise<unknown>) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, guarded(fn as (...args: unknown[]) => Promise<unknown>)));
  register('astraforge.sendSpec', (args?: SendSpecArgs) => sendSpec(deps, args));
  register('astraforge.fixError', (args?: FixErrorArgs) => fixError(deps, args));
  register('astraforge.showRuns', () => showRuns(runs, revealSidebar));
  register('astraforge.cancelRun', (runId?: string) => cancelRun(runs, runId));
  register('astraforge.followUp', (runId?: string, message?: string) => followUp(runs, runId, message));
  register('astraforge.reviewChanges', (runId?: string) => reviewChanges(runs, review, runId));
  // From the tree (a FileProposal), the diff editor's title (a URI) or a caller (a path).
  const pathOf = (arg?: string | FileProposal | vscode.Uri) => {
    const path = typeof arg === 'string' ? arg : arg instanceof vscode.Uri ? review.pathOf(arg) : arg?.path;
    if (!path) throw new Error('no file of the open review was given');
    return path;
  };
  register('astraforge.review.showFile', (arg?: string | FileProposal | vscode.Uri) => review.showDiff(pathOf(arg), false));
  register('astraforge.review.showAll', () => review.showAll());
  register('astraforge.review.acceptFile', async (arg?: string | FileProposal | vscode.Uri) =>
    reportAccept(await acceptFile(review, pathOf(arg), prompts)),
  );
  register('astraforge.review.rejectFile', (arg?: string | FileProposal | vscode.Uri) => review.reject([pathOf(arg)]));
  register('astraforge.review.acceptAll', async () => reportAccept(await acceptAll(review, prompts)));
  register('astraforge.review.discardAll', () => review.reject());
  register('astraforge.review.undoApply', () => undoApply());
  register('astraforge.review.close', () => review.close());
  register('astraforge.review.acceptHunk', (uri?: vscode.Uri, key?: string) => review.acceptHunk(uri, key));
  register('astraforge.review.rejectHunk', (uri?: vscode.Uri, key?: string) => review.rejectHunk(uri, key));
  register('astraforge.review.nextHunk', () => review.nextHunk());
  register('astraforge.connectServer', () => connectServer(context, connection));
  register('astraforge.setModelKey', () => setModelKey(context, connection));
  register('astraforge.showServerLog', async () => log.show(true));
  register('astraforge.showSidebar', async () => vscode.commands.executeCommand(`${SIDEBAR_VIEW_ID}.focus`));

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (
        e.affectsConfiguration('astraforge.server.url') ||
        e.affectsConfiguration('astraforge.model') ||
        e.affectsConfiguration('astraforge.codex')
      )
        void connection.connect();
    }),
  );
  const timings: AstraForgeApi['timings'] = { activateMs: 0 };
  void connection.connect().then(() => {
    if (connection.state.status !== 'connected') return;
    timings.connectedMs = performance.now() - activationStart;
    log.info(`activated in ${timings.activateMs.toFixed(1)} ms; server ready after ${timings.connectedMs.toFixed(0)} ms`);
    void review.restore();
    return runs.refresh();
  });
  timings.activateMs = performance.now() - activationStart;
  return { connection, runs, sidebar, review, prompts, timings };
}

export function deactivate(): void {
  // Everything, the embedded server included, is disposed through context.subscriptions.
}
