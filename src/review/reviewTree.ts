// How the Review list shows a changed file and the review as a whole.
import * as vscode from 'vscode';
import type { FileProposal } from './fileProposal';
import type { Decision } from './reviewState';

export function reviewTreeItem(f: FileProposal, folder: vscode.Uri, decision: Decision): vscode.TreeItem {
  const item = new vscode.TreeItem(vscode.Uri.joinPath(folder, f.path));
  const what =
    f.kind === 'conflict'
      ? `${f.conflicts} conflict${f.conflicts === 1 ? '' : 's'}`
      : f.kind === 'choose'
        ? 'needs you'
        : f.kind === 'already'
          ? 'already applied'
          : '';
  item.description = [f.status, f.binary ? 'binary' : `+${f.added} −${f.removed}`, what, decision === 'pending' ? '' : decision]
    .filter(Boolean)
    .join(' · ');
  item.tooltip = f.reason ?? (f.localEdited ? 'You edited this file since the run started; your edits are merged in.' : undefined);
  item.contextValue = `reviewFile.${decision}`;
  item.command = { command: 'astraforge.review.showFile', title: 'Show changes', arguments: [f.path] };
  return item;
}

/** "3 files · +12 −4 · 2 to decide", for the view's title bar. */
export function reviewSummary(files: readonly FileProposal[], decisionOf: (path: string) => Decision): string {
  const added = files.reduce((n, f) => n + f.added, 0);
  const removed = files.reduce((n, f) => n + f.removed, 0);
  const pending = files.filter((f) => decisionOf(f.path) === 'pending').length;
  return `${files.length} ${files.length === 1 ? 'file' : 'files'} · +${added} −${removed} · ${pending ? `${pending} to decide` : 'all decided'}`;
}
