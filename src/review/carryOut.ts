// Carrying out an accept plan: its disk part, then its WorkspaceEdit, saved
// as VS Code saves a refactoring, all or nothing. When part of it went to
// disk, Ctrl+Z in an editor cannot take that part back, so the result keeps
// what takeBack needs to undo the whole action: the bytes each disk change
// replaced, and the text before and after of each file the edit changed.
import * as vscode from 'vscode';
import { toRange, type AcceptPlan, type EditedText } from './acceptEdit';
import { replaceWholeText } from './hunks';
import { applyToDisk, undoDiskApply, type DiskChange, type DiskUndo } from './diskApply';

export interface CarriedOut {
  label: string;
  folder: vscode.Uri;
  disk: DiskChange[];
  edited: EditedText[];
}

export async function carryOut(plan: AcceptPlan, folder: vscode.Uri): Promise<CarriedOut> {
  const { edit, disk } = plan;
  if (disk.length) await applyToDisk(folder.fsPath, disk);
  // Each accepted file is in the edit or on disk. (Not `edit.size`: it counts text edits only.)
  if (plan.applied.length + plan.conflicts.length > disk.length && !(await applyAndSave(edit))) {
    if (disk.length) await undoDiskApply(folder.fsPath, disk);
    throw new Error('VS Code refused the edit (a file may be read-only)');
  }
  return { label: plan.label, folder, disk, edited: plan.edited };
}

/**
 * Undoes an action that went partly to disk: the disk part where the files
 * are as it left them, the editor part where the text is as the edit left
 * it; anything changed since is kept and named.
 */
export async function takeBack(done: CarriedOut): Promise<DiskUndo> {
  const result = await undoDiskApply(done.folder.fsPath, done.disk);
  const edit = new vscode.WorkspaceEdit();
  for (const e of done.edited) {
    // The open document if there is one (its live text), else the file's.
    const doc = await vscode.workspace.openTextDocument(e.uri);
    if (doc.getText() !== e.after) {
      result.kept.push(e.path);
      continue;
    }
    const r = replaceWholeText(e.after, e.before);
    edit.replace(e.uri, toRange(r), r.text, { label: `Undo ${done.label}`, needsConfirmation: false });
    result.restored.push(e.path);
  }
  if (edit.size > 0 && !(await applyAndSave(edit))) throw new Error('VS Code refused the edit (a file may be read-only)');
  return result;
}

/**
 * Applies an edit as a refactoring and saves what it changed as VS Code saves
 * a refactoring (files.refactoring.autoSave, on by default), except the
 * documents that held unsaved edits of the user's: those stay unsaved.
 */
async function applyAndSave(edit: vscode.WorkspaceEdit): Promise<boolean> {
  const dirtyBefore = new Set(vscode.workspace.textDocuments.filter((d) => d.isDirty).map((d) => d.uri.toString()));
  if (!(await vscode.workspace.applyEdit(edit, { isRefactoring: true }))) return false;
  if (vscode.workspace.getConfiguration('files.refactoring').get('autoSave', true)) {
    const edited = new Set(edit.entries().map(([uri]) => uri.toString()));
    await Promise.all(
      vscode.workspace.textDocuments
        .filter((d) => d.isDirty && edited.has(d.uri.toString()) && !dirtyBefore.has(d.uri.toString()))
        .map((d) => d.save()),
    );
  }
  return true;
}
