// What accepting files of a review does, as one WorkspaceEdit: files the
// agent added are created (Undo deletes them), deleted ones deleted, binary
// ones written whole, and existing text files changed by text edits, as a
// refactoring changes them, so their editor's Undo takes the change back.
// Files the caller lets go to disk become DiskChanges instead (see
// diskApply): always a binary file over an existing one, whose overwrite
// VS Code could only undo by deleting it, and every file of a large apply.
// Only the changes still pending and not rejected go in (mergeFile);
// conflicts are written between markers. Builds the plan; the caller carries
// it out.
import * as vscode from 'vscode';
import type { DiskChange } from './diskApply';
import type { FileProposal } from './fileProposal';
import { mergeFile, type TextReplacement } from './hunks';

export interface AcceptPlan {
  edit: vscode.WorkspaceEdit;
  /** What the action is called, as "accept notes.txt" or "accept 500 files". */
  label: string;
  /** What is written straight to disk, outside the edit. */
  disk: DiskChange[];
  /** The edit's text changes: each file's text before and after (BOM apart), to take back later. */
  edited: EditedText[];
  applied: string[];
  conflicts: string[];
  /** Files only the user can decide, left alone (unless takeAgentSide). */
  skipped: string[];
}

export interface EditedText {
  path: string;
  uri: vscode.Uri;
  before: string;
  after: string;
}

export function acceptEdit(
  folder: vscode.Uri,
  files: readonly FileProposal[],
  /** Each file's current bytes (at its old path for renames); undefined when it is not there. */
  locals: readonly (Buffer | undefined)[],
  rejectedOf: (path: string) => Set<string>,
  opts: {
    takeAgentSide?: boolean;
    /** Whether a file may be written straight to disk (no editor holds it, the folder is on disk). */
    mayUseDisk?: (index: number) => boolean;
    /** Every file that may go to disk goes: a large apply. */
    bulk?: boolean;
  } = {},
): AcceptPlan {
  const edit = new vscode.WorkspaceEdit();
  // One label for the whole action: it is one step in VS Code's Undo, and in Undo Last Apply.
  const label = files.length === 1 ? `accept ${files[0].path}` : `accept ${files.length} files`;
  const plan: AcceptPlan = { edit, label, disk: [], edited: [], applied: [], conflicts: [], skipped: [] };
  const meta = { label: `AstraForge: ${label}`, needsConfirmation: false };
  for (const [index, f] of files.entries()) {
    const uri = vscode.Uri.joinPath(folder, f.path);
    const source = vscode.Uri.joinPath(folder, f.oldPath ?? f.path);
    const local = locals[index];
    const renamed = f.oldPath !== undefined && f.oldPath !== f.path ? f.oldPath : undefined;
    const mayUseDisk = opts.mayUseDisk?.(index) ?? false;
    // Bytes over an existing file: VS Code's Undo of that would delete the file, so it goes to disk if it can.
    const overwrite = (content: Buffer) => {
      if (local !== undefined && mayUseDisk) plan.disk.push({ path: f.path, oldPath: renamed, before: local, after: content });
      else {
        // Deleted first: VS Code keeps a deleted file's bytes, so Undo brings them back.
        if (local !== undefined) edit.deleteFile(source, { ignoreIfNotExists: true }, meta);
        edit.createFile(uri, { overwrite: true, contents: content }, meta);
      }
    };
    const toDisk = mayUseDisk && opts.bulk;
    if (f.kind === 'refused') {
      // The caller keeps these out; should one slip in, it is still never written.
      plan.skipped.push(f.path);
      continue;
    }
    if (f.kind === 'choose') {
      // Only on the user's word (opts.takeAgentSide): the agent's version replaces or deletes theirs.
      if (!opts.takeAgentSide || !f.agentSide) {
        plan.skipped.push(f.path);
        continue;
      }
      if (f.agentSide.action === 'write') overwrite(f.agentSide.content);
      else if (toDisk && local !== undefined) plan.disk.push({ path: f.path, before: local });
      else edit.deleteFile(uri, { ignoreIfNotExists: true }, meta);
      plan.applied.push(f.path);
      continue;
    }
    if (f.kind === 'delete') {
      if (toDisk && local !== undefined) plan.disk.push({ path: f.path, before: local });
      else edit.deleteFile(uri, { ignoreIfNotExists: true }, meta);
      plan.applied.push(f.path);
      continue;
    }
    if (f.baseText === undefined || f.proposedText === undefined) {
      // No text to merge change by change (a binary file): write what the proposal holds, if anything.
      if (f.content) overwrite(f.content);
      plan.applied.push(f.path);
      continue;
    }
    const raw = local?.toString('utf8');
    if (raw === undefined) {
      if (toDisk) plan.disk.push({ path: f.path, after: Buffer.from(f.proposedText) });
      else edit.createFile(uri, { overwrite: false, ignoreIfExists: false, contents: Buffer.from(f.proposedText) }, meta);
      plan.applied.push(f.path);
      continue;
    }
    const merge = mergeFile(f.baseText, raw, f.proposedText, rejectedOf(f.path));
    (merge.conflicts ? plan.conflicts : plan.applied).push(f.path);
    // Bytes that are not UTF-8 would not survive the round trip through a string: those go through the editor.
    if (toDisk && Buffer.from(raw).equals(local!)) {
      plan.disk.push({ path: f.path, oldPath: renamed, before: local, after: Buffer.from(merge.bom + merge.after) });
      continue;
    }
    if (renamed) edit.renameFile(source, uri, { overwrite: false }, meta);
    for (const r of merge.replacements) edit.replace(uri, toRange(r), r.text, meta);
    // (A rename in the edit is left to the editor's Undo.)
    if (!renamed) plan.edited.push({ path: f.path, uri, before: merge.before, after: merge.after });
  }
  return plan;
}

export function toRange(r: TextReplacement): vscode.Range {
  return new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);
}
