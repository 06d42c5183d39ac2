// What the user is told once files of a review were accepted or an apply
// undone: what was written, what was refused or left for them to decide,
// and, for an apply that went partly to disk (out of Ctrl+Z's reach), an
// Undo button that takes back that apply.
import * as vscode from 'vscode';
import type { CarriedOut } from './carryOut';
import type { DiskUndo } from './diskApply';
import type { AcceptResult } from './reviewController';
import { printablePath } from './safeTarget';

const files = (n: number) => `${n} file${n === 1 ? '' : 's'}`;

// A message names a few files, not the 500 of a large apply.
const listed = (paths: readonly string[]) => paths.slice(0, 5).join(', ') + (paths.length > 5 ? ` and ${paths.length - 5} more` : '');

/** Says what an accept did; `undo` is what the Undo button calls. */
export function reportAccept(r: AcceptResult, undo: (which: CarriedOut) => unknown): void {
  if (r.refused.length)
    void vscode.window.showWarningMessage(
      `AstraForge: refused, not written: ${listed(r.refused.map(printablePath))} (outside this folder or otherwise unsafe; see the Review list).`,
    );
  const { undoable } = r;
  if (undoable)
    void vscode.window
      .showInformationMessage(`AstraForge: applied ${files(r.applied.length + r.conflicts.length)}.`, 'Undo')
      .then((pick) => pick && undo(undoable));
  if (r.conflicts.length)
    void vscode.window.showWarningMessage(`AstraForge: ${listed(r.conflicts)} had conflicts with your edits; resolve the marked sections.`);
  if (r.skipped.length) void vscode.window.showInformationMessage(`AstraForge: left for you to decide: ${listed(r.skipped)}.`);
}

/** Says what an undo of an apply did, or that there was nothing (left) to undo. */
export function reportUndo(r: (DiskUndo & { label: string }) | undefined, askedFor: CarriedOut | undefined): void {
  if (!r) {
    void vscode.window.showInformationMessage(`AstraForge: ${askedFor ? 'that apply was undone already' : 'nothing to undo'}.`);
    return;
  }
  const kept = r.kept.length ? `; kept ${listed(r.kept)}, changed since` : '';
  void vscode.window.showInformationMessage(`AstraForge: undid "${r.label}" (${files(r.restored.length)})${kept}.`);
}
