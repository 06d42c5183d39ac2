// astraforge.fixError: an error handed to the agent as a task. From the
// editor selection, the terminal selection, or a diagnostic (the "Fix in
// sandbox" code action), with its file and range as context.
import * as vscode from 'vscode';
import type { AgentName, RunTask } from '@astraforge/contract/runApi';
import { pickAgent, startRun, type RunStarterDeps } from './startRun';

export interface FixErrorArgs {
  error?: string;
  file?: vscode.Uri;
  range?: vscode.Range;
  diagnostics?: string[];
  agent?: AgentName;
}

async function terminalSelection(): Promise<string | undefined> {
  const terminal = vscode.window.activeTerminal as (vscode.Terminal & { selection?: string }) | undefined;
  return terminal?.selection?.trim() || undefined;
}

export async function fixError(deps: RunStarterDeps, args: FixErrorArgs = {}): Promise<string | undefined> {
  const editor = vscode.window.activeTextEditor;
  const fromEditor = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection).trim() : undefined;
  const error =
    args.error ??
    fromEditor ??
    (await terminalSelection()) ??
    (await vscode.window.showInputBox({
      title: 'AstraForge: Fix Error',
      prompt: 'Paste the error (a stack trace, a failing test, a compiler message)',
      ignoreFocusOut: true,
    }));
  if (!error?.trim()) return undefined;
  const agent = args.agent ?? (await pickAgent());
  if (!agent) return undefined;
  if (agent === 'command') {
    void vscode.window.showWarningMessage('AstraForge: the command agent runs a command, it cannot fix an error; pick Codex or DeepAgent.');
    return undefined;
  }
  const fileUri = args.file ?? (fromEditor ? editor?.document.uri : undefined);
  const folder = fileUri ? vscode.workspace.getWorkspaceFolder(fileUri) : undefined;
  const range = args.range ?? (fromEditor ? editor?.selection : undefined);
  const task: RunTask = {
    kind: 'error',
    prompt: error,
    context: {
      ...(fileUri && folder ? { file: vscode.workspace.asRelativePath(fileUri, false) } : {}),
      ...(range ? { range: { start_line: range.start.line, end_line: range.end.line } } : {}),
      ...(args.diagnostics?.length ? { diagnostics: args.diagnostics } : {}),
    },
  };
  return startRun(deps, agent, task, folder);
}

/** "Fix in sandbox" on diagnostics: sends the diagnostic, its file and its range. */
export class FixInSandboxActions implements vscode.CodeActionProvider {
  static readonly kinds = [vscode.CodeActionKind.QuickFix];

  provideCodeActions(document: vscode.TextDocument, _range: vscode.Range, context: vscode.CodeActionContext): vscode.CodeAction[] {
    const diagnostics = context.diagnostics.filter(
      (d) => d.severity === vscode.DiagnosticSeverity.Error || d.severity === vscode.DiagnosticSeverity.Warning,
    );
    if (!diagnostics.length) return [];
    const first = diagnostics[0];
    const text = diagnostics.map(
      (d) =>
        `${vscode.workspace.asRelativePath(document.uri, false)}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${d.source ? `${d.source}: ` : ''}${d.message}`,
    );
    const action = new vscode.CodeAction('Fix in sandbox (AstraForge)', vscode.CodeActionKind.QuickFix);
    action.diagnostics = diagnostics;
    action.command = {
      command: 'astraforge.fixError',
      title: 'Fix in sandbox',
      arguments: [{ error: text.join('\n'), file: document.uri, range: first.range, diagnostics: text } satisfies FixErrorArgs],
    };
    return [action];
  }
}
