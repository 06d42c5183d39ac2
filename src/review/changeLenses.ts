// One change at a time, in the editor: a CodeLens pair over each pending
// change of a review's file (accept or reject; for a conflict, take the
// agent's or keep yours), the same commands at the cursor on either side of
// the diff editor, and a jump to the next change. Accepting one change is
// one edit of the document, so Ctrl+Z takes it back; a file whose changes
// are all accepted or rejected is decided.
import * as vscode from 'vscode';
import { toRange } from './acceptEdit';
import { REVIEW_SCHEME } from './agentVersion';
import { hunkReplacement, type Hunk } from './hunks';
import type { ReviewController } from './reviewController';

export class ChangeLenses implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private readonly reviewChanged: vscode.Disposable;

  constructor(private readonly review: ReviewController) {
    // Opening, closing, deciding and refusing files all change which lenses show.
    this.reviewChanged = review.onDidChangeTreeData(() => this.changed.fire());
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const hunks = this.review.hunks(document) ?? [];
    return hunks.flatMap((h) => {
      const range = new vscode.Range(h.startLine, 0, h.startLine, 0);
      const args = [document.uri, h.key];
      return [
        new vscode.CodeLens(range, {
          title: h.conflict ? "$(check) Take the agent's (AstraForge)" : '$(check) Accept change (AstraForge)',
          command: 'astraforge.review.acceptHunk',
          arguments: args,
        }),
        new vscode.CodeLens(range, {
          title: h.conflict ? '$(close) Keep yours' : '$(close) Reject',
          command: 'astraforge.review.rejectHunk',
          arguments: args,
        }),
      ];
    });
  }

  /** Accepts one hunk (by key, or the one at the cursor) as one undoable edit. */
  async acceptHunk(uri?: vscode.Uri, key?: string): Promise<boolean> {
    const target = await this.hunkAt(uri, key);
    if (!target) return false;
    const { document, hunk } = target;
    const file = this.review.fileOf(document.uri)!;
    // The same check as a whole file's accept, right before the write.
    if ((await this.review.refuseUnsafe([file])).length) return false;
    const r = hunkReplacement(document.getText(), hunk);
    const edit = new vscode.WorkspaceEdit();
    edit.replace(document.uri, toRange(r), r.text, { label: `AstraForge: a change to ${file.path}`, needsConfirmation: false });
    if (!(await vscode.workspace.applyEdit(edit))) throw new Error('VS Code refused the edit');
    await this.settleIfDone(document);
    return true;
  }

  /** Rejects one hunk (by key, or the one at the cursor): it is not offered again for this run. */
  async rejectHunk(uri?: vscode.Uri, key?: string): Promise<boolean> {
    const target = await this.hunkAt(uri, key);
    if (!target) return false;
    await this.review.rejectHunk(this.review.fileOf(target.document.uri)!.path, target.hunk.key);
    this.changed.fire();
    await this.settleIfDone(target.document);
    return true;
  }

  /** Moves the cursor to the next pending hunk in the active editor, the file's or the agent's side (wrapping around). */
  async nextHunk(): Promise<boolean> {
    const editor = vscode.window.activeTextEditor;
    const live = editor && (await this.liveHunks(editor.document.uri));
    if (!editor || !live?.hunks.length) return false;
    const starts = live.hunks.map((h) => (live.onAgentSide ? h.proposedStartLine : h.startLine));
    const line = editor.selection.active.line;
    const next = starts.find((s) => s > line) ?? starts[0];
    const pos = new vscode.Position(next, 0);
    editor.selection = new vscode.Selection(pos, pos);
    editor.revealRange(new vscode.Range(pos, pos), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    return true;
  }

  /**
   * The hunk a command means: by key, or the one at the cursor, in the file's
   * own editor or on the agent's side of the diff editor.
   */
  private async hunkAt(
    uri: vscode.Uri | undefined,
    key: string | undefined,
  ): Promise<{ document: vscode.TextDocument; hunk: Hunk } | undefined> {
    const editor = vscode.window.activeTextEditor;
    const target = uri ?? editor?.document.uri;
    const live = target && (await this.liveHunks(target));
    if (!live) return undefined;
    const line = editor?.selection.active.line ?? -1;
    const hunk = live.hunks.find((h) => {
      if (key) return h.key === key;
      const [start, count] = live.onAgentSide ? [h.proposedStartLine, h.newLines.length] : [h.startLine, h.lineCount];
      return line >= start && line < start + Math.max(1, count);
    });
    return hunk && { document: live.document, hunk };
  }

  /** The pending hunks of the file an editor shows, whether it is the file itself or the agent's side of its diff. */
  private async liveHunks(uri: vscode.Uri): Promise<{ document: vscode.TextDocument; hunks: Hunk[]; onAgentSide: boolean } | undefined> {
    const path = this.review.pathOf(uri);
    const folder = this.review.current?.folder;
    if (!path || !folder) return undefined;
    let document: vscode.TextDocument;
    try {
      document = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder, path));
    } catch {
      return undefined; // a file the user does not have (yet): nothing to change line by line
    }
    return { document, hunks: this.review.hunks(document) ?? [], onAgentSide: uri.scheme === REVIEW_SCHEME };
  }

  /** A file whose hunks are all accepted or rejected is decided. */
  private async settleIfDone(document: vscode.TextDocument): Promise<void> {
    const f = this.review.fileOf(document.uri);
    if (f && this.review.hunks(document)?.length === 0) await this.review.decide([f.path], 'accepted');
    this.changed.fire();
  }

  dispose(): void {
    this.reviewChanged.dispose();
    this.changed.dispose();
  }
}
