// What accepting files of a review does, as one WorkspaceEdit: files the
// agent added are created (Undo deletes them), deleted ones deleted, binary
// ones written whole, and existing text files changed by text edits, as a
// refactoring changes them, so their editor's Undo takes the change back.
// Only the changes still pending and not rejected go in; conflicts are
// written between markers. Builds the edit; the caller applies it.
import * as vscode from 'vscode';
import type { FileProposal } from './fileProposal';
import { allReplacements, pendingHunks, type TextReplacement } from './hunks';

export interface AcceptPlan {
  edit: vscode.WorkspaceEdit;
  applied: string[];
  conflicts: string[];
  /** Files only the user can decide, left alone (unless takeAgentSide). */
  skipped: string[];
}

export function acceptEdit(
  folder: vscode.Uri,
  files: readonly FileProposal[],
  /** Each file's current bytes (at its old path for renames); undefined when it is not there. */
  locals: readonly (Buffer | undefined)[],
  rejectedOf: (path: string) => Set<string>,
  opts: { takeAgentSide?: boolean } = {},
): AcceptPlan {
  const edit = new vscode.WorkspaceEdit();
  const plan: AcceptPlan = { edit, applied: [], conflicts: [], skipped: [] };
  // One label for the whole action: it is one step in Undo.
  const meta = {
    label: files.length === 1 ? `AstraForge: accept ${files[0].path}` : `AstraForge: accept ${files.length} files`,
    needsConfirmation: false,
  };
  for (const [index, f] of files.entries()) {
    const uri = vscode.Uri.joinPath(folder, f.path);
    const source = vscode.Uri.joinPath(folder, f.oldPath ?? f.path);
    if (f.kind === 'choose') {
      // Only on the user's word (opts.takeAgentSide): the agent's version replaces or deletes theirs.
      if (!opts.takeAgentSide || !f.agentSide) {
        plan.skipped.push(f.path);
        continue;
      }
      if (f.agentSide.action === 'delete') edit.deleteFile(uri, { ignoreIfNotExists: true }, meta);
      else edit.createFile(uri, { overwrite: true, contents: f.agentSide.content }, meta);
      plan.applied.push(f.path);
      continue;
    }
    if (f.kind === 'delete') {
      edit.deleteFile(uri, { ignoreIfNotExists: true }, meta);
      plan.applied.push(f.path);
      continue;
    }
    if (f.baseText === undefined || f.proposedText === undefined) {
      // No text to merge change by change (a binary file): write what the proposal holds, if anything.
      if (f.content && source.toString() !== uri.toString()) edit.deleteFile(source, { ignoreIfNotExists: true }, meta);
      if (f.content) edit.createFile(uri, { overwrite: true, contents: f.content }, meta);
      plan.applied.push(f.path);
      continue;
    }
    const raw = locals[index]?.toString('utf8');
    if (raw === undefined) {
      edit.createFile(uri, { overwrite: false, ignoreIfExists: false, contents: Buffer.from(f.proposedText) }, meta);
      plan.applied.push(f.path);
      continue;
    }
    // An editor's text has no BOM; a file read from disk keeps it in front, out of the line arithmetic.
    const local = raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
    if (source.toString() !== uri.toString()) edit.renameFile(source, uri, { overwrite: false }, meta);
    const rejected = rejectedOf(f.path);
    if (!rejected.size && local === f.baseText) {
      // Untouched since the snapshot and nothing rejected: the agent's version as it is, no merge needed.
      edit.replace(uri, wholeText(local), f.proposedText, meta);
      plan.applied.push(f.path);
      continue;
    }
    const hunks = pendingHunks(f.baseText, local, f.proposedText, rejected);
    for (const r of allReplacements(local, hunks)) edit.replace(uri, toRange(r), r.text, meta);
    (hunks.some((h) => h.conflict) ? plan.conflicts : plan.applied).push(f.path);
  }
  return plan;
}

/** The range of a whole text, in the editor's line terms (a CRLF ends a line like an LF). */
function wholeText(text: string): vscode.Range {
  const lines = text.split('\n');
  return new vscode.Range(0, 0, lines.length - 1, lines[lines.length - 1].length);
}

export function toRange(r: TextReplacement): vscode.Range {
  return new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);
}
