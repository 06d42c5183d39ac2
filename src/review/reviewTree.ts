// How the Review list shows a changed file and the review as a whole. Each
// file is named by its path relative to the folder, as the server sent it
// (a forged `../../.bash_aliases` reads as that, not as `.bash_aliases`);
// refused and sensitive files say so, with the reason in the tooltip.
import * as vscode from 'vscode';
import type { FileProposal } from './fileProposal';
import type { Decision } from './reviewState';
import { printablePath } from './safeTarget';

export function reviewTreeItem(f: FileProposal, folder: vscode.Uri, decision: Decision): vscode.TreeItem {
  const label =
    f.oldPath !== undefined && f.oldPath !== f.path ? `${printablePath(f.oldPath)} → ${printablePath(f.path)}` : printablePath(f.path);
  const item = new vscode.TreeItem(label);
  item.description = describe(f, decision);
  item.tooltip = tooltip(f);
  if (f.kind === 'refused') {
    // No resourceUri: it would name a file outside the folder. Nothing to show or accept.
    item.iconPath = new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('errorForeground'));
    item.contextValue = 'reviewFile.refused';
    return item;
  }
  item.resourceUri = vscode.Uri.joinPath(folder, f.path); // the file icon of its kind
  if (f.sensitive) item.iconPath = new vscode.ThemeIcon('shield', new vscode.ThemeColor('list.warningForeground'));
  item.contextValue = `reviewFile.${decision}`;
  item.command = { command: 'astraforge.review.showFile', title: 'Show changes', arguments: [f.path] };
  return item;
}

function describe(f: FileProposal, decision: Decision): string {
  const what =
    f.kind === 'conflict'
      ? `${f.conflicts} conflict${f.conflicts === 1 ? '' : 's'}`
      : f.kind === 'choose'
        ? 'needs you'
        : f.kind === 'already'
          ? 'already applied'
          : f.kind === 'refused'
            ? 'refused'
            : '';
  return [
    f.status,
    f.binary ? 'binary' : `+${f.added} −${f.removed}`,
    what,
    f.sensitive && f.kind !== 'refused' ? 'sensitive' : '',
    decision === 'pending' ? '' : decision,
  ]
    .filter(Boolean)
    .join(' · ');
}

function tooltip(f: FileProposal): string | undefined {
  if (f.kind === 'refused') return `Refused, never written: ${f.reason}.`;
  const lines = [
    f.sensitive && `Sensitive: ${f.sensitive}. Accepting it asks first.`,
    f.reason ?? (f.localEdited ? 'You edited this file since the run started; your edits are merged in.' : undefined),
  ].filter((l): l is string => !!l);
  return lines.length ? lines.join('\n') : undefined;
}

/** "3 files · +12 −4 · 2 to decide", for the view's title bar. */
export function reviewSummary(files: readonly FileProposal[], decisionOf: (path: string) => Decision): string {
  const added = files.reduce((n, f) => n + f.added, 0);
  const removed = files.reduce((n, f) => n + f.removed, 0);
  const pending = files.filter((f) => f.kind !== 'refused' && decisionOf(f.path) === 'pending').length;
  const refused = files.filter((f) => f.kind === 'refused').length;
  return [
    `${files.length} ${files.length === 1 ? 'file' : 'files'}`,
    `+${added} −${removed}`,
    pending ? `${pending} to decide` : 'all decided',
    refused ? `${refused} refused` : '',
  ]
    .filter(Boolean)
    .join(' · ');
}
