// The extension's entry point: assembles the server connection, the runs,
// the sidebar, the status bar, the commands and the code action. Everything
// that holds a resource is disposed with the window; the user's background
// server is not such a thing: it outlives the window, with its runs.
import * as vscode from 'vscode';
import { fixError, FixInSandboxActions, type FixErrorArgs } from './commands/fixError';
import { cancelRun, followUp, reviewChanges, showRuns, showTheseRuns, type ReviewDeps } from './commands/runCommands';
import { sendSpec, type SendSpecArgs } from './commands/sendSpec';
import { connectServer, setModelKey, stopServer } from './commands/serverCommands';
import { startRun, type RunStarterDeps } from './commands/startRun';
import { AgentVersions, REVIEW_SCHEME } from './review/agentVersion';
import { ChangeLenses } from './review/changeLenses';
import { registerReviewCommands } from './review/reviewCommands';
import { ReviewController } from './review/reviewController';
import { windowPrompts, type Prompts } from './prompts';
import { AwayNotice } from './runs/awayNotice';
import { allowHost, type AllowScope } from './runs/allowHost';
import { RunsController } from './runs/runsController';
import { shownRunMemory } from './runs/shownRunMemory';
import { ServerConnection } from './server/serverConnection';
import { setHashCacheStorage } from './snapshot/hashCache';
import { SIDEBAR_VIEW_ID, SidebarProvider } from './sidebar/sidebarProvider';
import { StatusBar } from './statusBar';

/** What tests (and other extensions) can reach. */
export interface AstraForgeApi {
  connection: ServerConnection;
  runs: RunsController;
  sidebar: SidebarProvider;
  review: ReviewController;
  /** The notice of runs that finished while no window of this folder was open. */
  awayNotice: AwayNotice;
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
  setHashCacheStorage(vscode.Uri.joinPath(context.globalStorageUri, 'snapshot-hashes').fsPath);
  const runs = new RunsController(connection, log, listedFolders, shownRunMemory(context.storageUri?.fsPath));
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
  const reviewDeps: ReviewDeps = { runs, review, connection, prompts };
  const awayNotice = new AwayNotice(context, connection, runs, (list) => showTheseRuns(runs, list, revealSidebar));
  context.subscriptions.push(awayNotice);
  const lenses = new ChangeLenses(review);
  const reviewView = vscode.window.createTreeView('astraforge.review', { treeDataProvider: review });
  context.subscriptions.push(
    review,
    lenses,
    reviewView,
    review.onDidChangeTreeData(() => (reviewView.description = review.summary())),
    // The Review view is the shown run's: showing or starting another run closes it
    // (its decisions are kept and come back with Review changes), so an old
    // review does not sit in the sidebar squeezing the run being watched.
    runs.onDidSelectRun((run) => {
      if (review.current && review.current.runId !== run.id) void review.close();
    }),
    vscode.workspace.registerTextDocumentContentProvider(REVIEW_SCHEME, new AgentVersions(() => review.current)),
    vscode.languages.registerCodeLensProvider({ scheme: 'file' }, lenses),
  );
  const sidebar = new SidebarProvider(
    context.extensionUri,
    connection,
    runs,
    {
      startRun: (msg) =>
        startRun(deps, msg.agent, { kind: msg.kind, prompt: msg.prompt, ...(msg.command ? { command: msg.command } : {}) }),
      reviewChanges: (runId) => reviewChanges(reviewDeps, runId),
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
  // From the sidebar's blocked-host prompt (not in the palette: it needs the run and the host).
  register('astraforge.allowHost', (runId: string, host: string, port: number, scope: AllowScope) =>
    allowHost(runs, runId, host, port, scope),
  );
  register('astraforge.reviewChanges', (runId?: string) => reviewChanges(reviewDeps, runId));
  registerReviewCommands(register, review, lenses, prompts);
  register('astraforge.connectServer', () => connectServer(context, connection));
  register('astraforge.setModelKey', () => setModelKey(context, connection));
  register('astraforge.stopServer', () => stopServer(connection, prompts));
  register('astraforge.showAllRuns', () => setListedRuns('all'));
  register('astraforge.showWorkspaceRuns', () => setListedRuns('workspace'));
  register('astraforge.showServerLog', async () => log.show(true));
  register('astraforge.showSidebar', async () => vscode.commands.executeCommand(`${SIDEBAR_VIEW_ID}.focus`));

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      // The server takes the model and Codex settings at start: a change restarts it (once its runs end, if some are under way).
      if (e.affectsConfiguration('astraforge.model') || e.affectsConfiguration('astraforge.codex'))
        void connection.connect({ settingsChanged: true });
      else if (e.affectsConfiguration('astraforge.server.url')) void connection.connect();
      if (e.affectsConfiguration('astraforge.runs.show')) void runs.refresh();
    }),
    vscode.workspace.onDidChangeWorkspaceFolders(() => void runs.refresh()),
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
  return { connection, runs, sidebar, review, awayNotice, prompts, timings };
}

/** Which runs the list holds: this window's folders' (the default), or every run of the user. */
function listedFolders(): readonly string[] | undefined {
  const folders = vscode.workspace.workspaceFolders ?? [];
  const show = vscode.workspace.getConfiguration('astraforge').get<'workspace' | 'all'>('runs.show', 'workspace');
  // A window without a folder has no runs of its own: it lists them all.
  return show === 'all' || !folders.length ? undefined : folders.map((f) => f.uri.toString());
}

async function setListedRuns(show: 'workspace' | 'all'): Promise<void> {
  // The settings change refreshes the list (see activate). Where the workspace sets it, the workspace's value changes.
  const cfg = vscode.workspace.getConfiguration('astraforge');
  const inWorkspace = cfg.inspect('runs.show')?.workspaceValue !== undefined;
  await cfg.update('runs.show', show, inWorkspace ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global);
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions; the background server keeps running for the other windows and the runs.
}
