// The extension's entry point. The commands, the sidebar and the review
// arrive with their issues; for now it only opens its log channel so the
// package activates and bundles as a real extension.
import * as vscode from 'vscode';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('AstraForge', { log: true });
  context.subscriptions.push(log);
  log.info('AstraForge activated');
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
