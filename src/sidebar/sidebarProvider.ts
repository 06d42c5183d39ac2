// The sidebar: a webview view that hosts the chat app (webview-ui/). It
// loads under a strict Content-Security-Policy with a nonce and nothing
// remote, validates every message in both directions with the protocol's
// zod schemas, and forwards runs as append-only event batches.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { AgentName } from '@astraforge/contract/runApi';
import { issueLink } from '../runs/issueLink';
import type { RunsController } from '../runs/runsController';
import type { ServerConnection } from '../server/serverConnection';
import { HostMessage, ViewMessage } from '@astraforge/contract/webviewMessages';

export const SIDEBAR_VIEW_ID = 'astraforge.sidebar';

export interface SidebarActions {
  /** Resolves to the new run's id, or undefined when the user cancelled. */
  startRun(msg: Extract<ViewMessage, { type: 'startRun' }>): Promise<string | undefined>;
  reviewChanges(runId: string): Promise<void>;
}

export class SidebarProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private view?: vscode.WebviewView;
  private readonly disposables: vscode.Disposable[] = [];
  /** Messages received from the webview, for tests and the log. */
  private readonly received = new vscode.EventEmitter<ViewMessage>();
  readonly onDidReceiveMessage = this.received.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly connection: ServerConnection,
    private readonly runs: RunsController,
    private readonly actions: SidebarActions,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables.push(
      connection.onDidChange((c) => this.post({ type: 'connection', connection: c })),
      runs.onDidChangeRuns((list) => this.post({ type: 'runs', runs: list })),
      runs.onDidSelectRun((run) => this.post({ type: 'runSelected', run })),
      runs.onDidUpdateRun((run) => this.post({ type: 'runUpdated', run })),
      runs.onDidReceiveEvents((b) => this.post({ type: 'runEvents', runId: b.runId, events: b.events })),
    );
  }

  get visible(): boolean {
    return this.view?.visible ?? false;
  }

  /** Resolves when the webview next says it is ready, or after `timeoutMs`. */
  whenReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sub.dispose();
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const sub = this.onDidReceiveMessage((m) => {
        if (m.type === 'ready') done();
      });
    });
  }

  /** Shows the view without taking the keyboard from the editor. */
  reveal(): void {
    this.view?.show(true);
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const webview = view.webview;
    webview.options = {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'webview-ui', 'dist'), vscode.Uri.joinPath(this.extensionUri, 'media')],
    };
    webview.html = this.html(webview);
    this.disposables.push(
      webview.onDidReceiveMessage((raw: unknown) => void this.onMessage(raw)),
      view.onDidDispose(() => {
        if (this.view === view) this.view = undefined;
      }),
    );
  }

  private async onMessage(raw: unknown): Promise<void> {
    const parsed = ViewMessage.safeParse(raw);
    if (!parsed.success) {
      this.log.warn(`ignored an invalid message from the sidebar: ${parsed.error.message}`);
      return;
    }
    const msg = parsed.data;
    this.received.fire(msg);
    try {
      switch (msg.type) {
        case 'ready': {
          this.post({
            type: 'init',
            agents: AgentName.options,
            defaultAgent: AgentName.parse(vscode.workspace.getConfiguration('astraforge').get('defaultAgent', 'codex')),
            connection: this.connection.state,
          });
          if (this.runs.runs.length) this.post({ type: 'runs', runs: [...this.runs.runs] });
          else void this.runs.refresh();
          // The extension's own record of the shown run first: the view's saved state can be older than the view was.
          const shown = this.runs.shownRunId() ?? msg.runId;
          if (shown) await this.runs.select(shown);
          break;
        }
        case 'startRun':
          if (await this.actions.startRun(msg)) this.post({ type: 'ack', of: 'startRun' });
          else this.post({ type: 'error', message: 'The run was not started.' });
          break;
        case 'selectRun':
          await this.runs.select(msg.runId);
          break;
        case 'followUp':
          await this.runs.followUp(msg.runId, msg.message);
          this.post({ type: 'ack', of: 'followUp' });
          break;
        case 'cancelRun':
          await this.runs.cancel(msg.runId);
          break;
        case 'reviewChanges':
          await this.actions.reviewChanges(msg.runId);
          break;
        case 'allowHost':
          await vscode.commands.executeCommand('astraforge.allowHost', msg.runId, msg.host, msg.port, msg.scope);
          this.post({ type: 'ack', of: 'allowHost' });
          break;
        case 'openRunSource': {
          const link = issueLink(await this.runs.run(msg.runId));
          if (link) await vscode.env.openExternal(vscode.Uri.parse(link, true));
          break;
        }
        case 'rendered':
          break; // seen through onDidReceiveMessage (tests, benchmarks)
      }
    } catch (e) {
      this.post({ type: 'error', message: (e as Error).message });
    }
  }

  post(msg: HostMessage): void {
    if (!this.view) return;
    // Validated on the way out too: a contract drift shows up here, not as a blank sidebar.
    const checked = HostMessage.safeParse(msg);
    if (!checked.success) {
      this.log.error(`not sending an invalid message to the sidebar: ${checked.error.message}`);
      return;
    }
    void this.view.webview.postMessage(checked.data);
  }

  private html(webview: vscode.Webview): string {
    const nonce = randomBytes(16).toString('base64');
    const asset = (...p: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, ...p)).toString();
    const csp = [
      "default-src 'none'",
      `style-src ${webview.cspSource}`,
      `font-src ${webview.cspSource}`,
      `img-src ${webview.cspSource} data:`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${asset('webview-ui', 'dist', 'codicons', 'codicon.css')}">
<link rel="stylesheet" href="${asset('media', 'sidebar.css')}">
<title>AstraForge</title>
</head>
<body>
<div id="root"></div>
<script nonce="${nonce}" src="${asset('webview-ui', 'dist', 'main.js')}"></script>
</body>
</html>`;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    this.received.dispose();
  }
}
