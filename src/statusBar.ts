// The status bar item: the connection and the shown run; a click opens the sidebar.
import * as vscode from 'vscode';
import { TERMINAL_STATUSES, type Run } from '@astraforge/contract/runApi';
import { statusIconLabel } from '@astraforge/contract/statusIcon';
import type { RunsController } from './runs/runsController';
import type { ServerConnection } from './server/serverConnection';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('astraforge.status', vscode.StatusBarAlignment.Left, 50);
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly connection: ServerConnection,
    private readonly runs: RunsController,
  ) {
    this.item.name = 'AstraForge';
    this.item.command = 'astraforge.showSidebar';
    this.disposables.push(
      connection.onDidChange(() => this.render()),
      runs.onDidSelectRun(() => this.render()),
      runs.onDidUpdateRun(() => this.render()),
    );
    this.render();
    this.item.show();
  }

  private render(): void {
    const c = this.connection.state;
    const run: Run | undefined = this.runs.selectedRun;
    if (c.status === 'starting') {
      this.item.text = '$(loading~spin) AstraForge';
      this.item.tooltip = 'AstraForge: starting the server…';
      this.item.backgroundColor = undefined;
    } else if (c.status === 'error') {
      this.item.text = '$(error) AstraForge';
      this.item.tooltip = `AstraForge: ${c.message ?? 'not connected'}`;
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
    } else if (run && !TERMINAL_STATUSES.includes(run.status)) {
      this.item.text = `${statusIconLabel(run.status)} AstraForge: ${run.agent} ${run.status}`;
      this.item.tooltip = `AstraForge run ${run.id} (${run.status}) on ${c.serverUrl}`;
      this.item.backgroundColor = undefined;
    } else {
      this.item.text = '$(shield) AstraForge';
      this.item.tooltip = `AstraForge: connected to ${c.serverUrl}${run ? `; last run ${run.status}` : ''}`;
      this.item.backgroundColor = undefined;
    }
    this.item.accessibilityInformation = { label: this.item.tooltip as string };
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    this.item.dispose();
  }
}
