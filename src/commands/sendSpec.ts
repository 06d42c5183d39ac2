// astraforge.sendSpec: the task from the selection, the active SPEC file,
// or an input box; the agent from a quick pick (default from settings).
import * as vscode from 'vscode';
import type { AgentName } from '@astraforge/contract/runApi';
import { pickAgent, startRun, type RunStarterDeps } from './startRun';

export interface SendSpecArgs {
  prompt?: string;
  agent?: AgentName;
  command?: string;
}

function specFromEditor(): string | undefined {
  const editor = vscode.window.activeTextEditor;
  if (!editor) return undefined;
  const selected = editor.document.getText(editor.selection).trim();
  if (selected) return selected;
  const name = editor.document.fileName.split(/[\\/]/).pop() ?? '';
  if (/^spec.*\.md$/i.test(name) || /\.spec\.md$/i.test(name)) return editor.document.getText().trim() || undefined;
  return undefined;
}

export async function sendSpec(deps: RunStarterDeps, args: SendSpecArgs = {}): Promise<string | undefined> {
  const prompt =
    args.prompt ??
    specFromEditor() ??
    (await vscode.window.showInputBox({ title: 'AstraForge: Send Spec', prompt: 'What should the agent do?', ignoreFocusOut: true }));
  if (!prompt?.trim()) return undefined;
  const agent = args.agent ?? (await pickAgent());
  if (!agent) return undefined;
  let command = args.command;
  if (agent === 'command' && !command) {
    command = await vscode.window.showInputBox({
      title: 'AstraForge: command to run in the sandbox',
      prompt: 'A shell command run in the copy of the workspace (for example: npx prettier --write .)',
      ignoreFocusOut: true,
    });
    if (!command) return undefined;
  }
  return startRun(deps, agent, { kind: 'spec', prompt, ...(command ? { command } : {}) });
}
