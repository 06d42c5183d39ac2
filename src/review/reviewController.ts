// The review of a run's changes in the editor: the changed files (what
// applying each would do to the workspace as it is now), the diff editor
// between the local file and the agent's version (a read-only virtual
// document), and accept or reject per change, per file or for all. An
// accept is one WorkspaceEdit, so Ctrl+Z takes it back, except for what
// goes straight to disk (a large apply, a binary overwrite), which
// undoApply takes back; conflicts are written with markers for the user to
// resolve, never over their text. Decisions live in ReviewState, the list's
// look in reviewTree, what an accept does in acceptEdit and carryOut.
// Every path of the server's diff is checked (safeTarget) when the review
// opens and again before each write; a refused file is listed with the
// reason and never read or written.
import { readFile } from 'node:fs/promises';
import * as vscode from 'vscode';
import type { RunDiff } from '../../server/src/contract/runApi';
import type { ServerClient } from '../server/serverClient';
import type { ServerConnection } from '../server/serverConnection';
import { needsBase, proposeFile, refusedFile, type FileProposal } from './fileProposal';
import { hunkReplacement, pendingHunks, type Hunk } from './hunks';
import { acceptEdit, toRange } from './acceptEdit';
import { carryOut, takeBack, type CarriedOut } from './carryOut';
import type { DiskUndo } from './diskApply';
import { ReviewState, type Decision } from './reviewState';
import { reviewSummary, reviewTreeItem } from './reviewTree';
import { printablePath } from './safeTarget';
import { refusal } from './targetRefusal';

export const REVIEW_SCHEME = 'astraforge-review';
const MAX_UNDOABLE_APPLIES = 10;

/**
 * Where a review's diff and file contents come from: the server's client,
 * whose answers the contract checked; the review checks every path again
 * itself, so a stand-in with the same shape (a test's forged diff) gets the
 * same treatment.
 */
export type DiffSource = Pick<ServerClient, 'diff' | 'baseFiles' | 'proposedFiles'>;

interface OpenReview {
  runId: string;
  folder: vscode.Uri;
  files: FileProposal[];
}

export class ReviewController
  implements vscode.TreeDataProvider<FileProposal>, vscode.TextDocumentContentProvider, vscode.CodeLensProvider, vscode.Disposable
{
  private review?: OpenReview;
  /** Accepts that went partly to disk, the last one last, for undoApply. */
  private readonly applies: { runId: string; done: CarriedOut }[] = [];
  private readonly changed = new vscode.EventEmitter<FileProposal | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly lensesChanged = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.lensesChanged.event;

  private readonly state: ReviewState;

  constructor(
    context: vscode.ExtensionContext,
    private readonly connection: ServerConnection,
  ) {
    this.state = new ReviewState(context.workspaceState);
  }

  get current(): OpenReview | undefined {
    return this.review;
  }

  /** Loads the run's diff against the workspace as it is now and shows the changed files. */
  async open(runId: string, folder: vscode.Uri, source?: DiffSource): Promise<OpenReview> {
    const client = source ?? (await this.connection.client());
    const diff: RunDiff = await client.diff(runId);
    // Before anything is read: a refused path is not even looked at.
    const refusals = await Promise.all(diff.files.map((f) => refusal(folder, f.path, f.old_path)));
    const safe = (_: unknown, i: number) => refusals[i] === undefined;
    const open = openDocuments();
    const locals = await Promise.all(
      diff.files.map((f, i) => (safe(f, i) ? readLocal(vscode.Uri.joinPath(folder, f.old_path ?? f.path), open) : undefined)),
    );
    const wanted = diff.files.filter((f, i) => safe(f, i) && needsBase(f, locals[i])).map((f) => f.old_path ?? f.path);
    const bases = wanted.length ? await client.baseFiles(runId, wanted) : new Map<string, Buffer | undefined>();
    // Binary files have no patch to rebuild them from: their bytes come from the run's sandbox while it lives.
    const binaries = diff.files.filter((f, i) => safe(f, i) && f.binary && f.status !== 'deleted').map((f) => f.path);
    const proposed = binaries.length
      ? await client.proposedFiles(runId, binaries).catch(() => new Map<string, Buffer | undefined>())
      : new Map();
    const files = diff.files.map((f, i) => {
      const refused = refusals[i];
      if (refused) return refusedFile(f, refused);
      return proposeFile(f, { local: locals[i], base: bases.get(f.old_path ?? f.path), proposed: proposed.get(f.path) });
    });
    this.review = { runId, folder, files };
    await this.state.setOpenReview({ runId, folder: folder.toString() });
    await vscode.commands.executeCommand('setContext', 'astraforge.reviewOpen', true);
    this.changed.fire(undefined);
    this.lensesChanged.fire();
    return this.review;
  }

  /** Reopens the review that was open when the window closed or reloaded; returns its run id. */
  async restore(): Promise<string | undefined> {
    const saved = this.state.openReview();
    if (!saved || this.review) return this.review?.runId;
    try {
      await this.open(saved.runId, vscode.Uri.parse(saved.folder));
      return saved.runId;
    } catch {
      await this.close(); // the run is gone from the server
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.review = undefined;
    await this.state.setOpenReview(undefined);
    await vscode.commands.executeCommand('setContext', 'astraforge.reviewOpen', false);
    this.changed.fire(undefined);
    this.lensesChanged.fire();
  }

  /** "3 files · +12 −4 · 2 to decide", for the view's title bar. */
  summary(): string | undefined {
    return this.review && reviewSummary(this.review.files, (path) => this.decision(path));
  }

  /** The files Accept All would apply: undecided, and not refused. */
  pendingFiles(): FileProposal[] {
    return this.review?.files.filter((f) => f.kind !== 'refused' && this.decision(f.path) === 'pending') ?? [];
  }

  decision(path: string): Decision {
    return this.review ? this.state.decision(this.review.runId, path) : 'pending';
  }

  /**
   * Applies one file (or all pending ones) as a single action, from the files
   * as they are at this moment: text files get their pending hunks (the ones
   * not rejected), conflicts written between markers. One WorkspaceEdit, so
   * Ctrl+Z takes it back; but a large apply, and a binary file over an
   * existing one, go straight to disk, and undoApply takes those back.
   */
  async accept(paths?: readonly string[], opts: { takeAgentSide?: boolean } = {}): Promise<AcceptResult> {
    const review = this.need();
    const asked = paths ? review.files.filter((f) => paths.includes(f.path)) : this.pendingFiles();
    // Checked again right before writing: the folder may have changed since the review opened (a link planted in it).
    const refused = await this.refuseUnsafe(asked);
    const targets = asked.filter((f) => !refused.includes(f.path));
    // Every file as it is now, read at once (one round trip each, in parallel).
    const sources = targets.map((f) => vscode.Uri.joinPath(review.folder, f.oldPath ?? f.path));
    const open = openDocuments();
    const locals = await Promise.all(sources.map((uri) => readLocal(uri, open)));
    // Only files no editor holds may be written behind VS Code's back.
    const held = targets.map((f, i) => open.has(sources[i].toString()) || open.has(vscode.Uri.joinPath(review.folder, f.path).toString()));
    const mayUseDisk = (i: number) => review.folder.scheme === 'file' && !held[i];
    const settings = vscode.workspace.getConfiguration('astraforge.review');
    const closed = targets.filter((_, i) => mayUseDisk(i)).length;
    const bulk = settings.get('largeApply', 'writeToDisk') === 'writeToDisk' && closed >= settings.get('largeApplyFiles', 100);
    const plan = acceptEdit(review.folder, targets, locals, (path) => this.rejected(path), { ...opts, mayUseDisk, bulk });
    const { applied, conflicts } = plan;
    const carried = await carryOut(plan, review.folder);
    if (carried.disk.length) await this.remember(carried);
    await this.decide([...applied, ...conflicts], 'accepted');
    return { applied, conflicts, skipped: plan.skipped, refused, undoable: carried.disk.length ? carried : undefined };
  }

  /**
   * Takes back an accept that went partly to disk (what Ctrl+Z cannot
   * reach), the last one unless told which, over files still as it left
   * them; the files come back pending. Undefined when there is none (or that
   * one was undone already).
   */
  async undoApply(which?: CarriedOut): Promise<(DiskUndo & { label: string }) | undefined> {
    const index = which ? this.applies.findIndex((a) => a.done === which) : this.applies.length - 1;
    if (index < 0) return undefined;
    const [target] = this.applies.splice(index, 1);
    await vscode.commands.executeCommand('setContext', 'astraforge.canUndoApply', this.applies.length > 0);
    const result = await takeBack(target.done);
    if (this.review?.runId === target.runId) await this.decide(result.restored, 'pending');
    return { ...result, label: target.done.label };
  }

  /** The paths of these files that are no safe target now; each is marked refused in the review, with the reason. */
  private async refuseUnsafe(files: readonly FileProposal[]): Promise<string[]> {
    const review = this.need();
    const reasons = await Promise.all(files.map((f) => (f.kind === 'refused' ? f.reason : refusal(review.folder, f.path, f.oldPath))));
    const refused = new Map(files.flatMap((f, i) => (reasons[i] === undefined ? [] : [[f.path, reasons[i]!] as const])));
    if (!refused.size) return [];
    review.files = review.files.map((f) => {
      const why = refused.get(f.path);
      if (!why || f.kind === 'refused') return f;
      return { ...f, kind: 'refused', reason: why, content: undefined, proposedText: undefined, baseText: undefined, agentSide: undefined };
    });
    this.changed.fire(undefined);
    this.lensesChanged.fire();
    return [...refused.keys()];
  }

  private async remember(done: CarriedOut): Promise<void> {
    // Held for this window only, like VS Code's own undo stack; a few deep, for the bytes they keep.
    this.applies.push({ runId: this.need().runId, done });
    if (this.applies.length > MAX_UNDOABLE_APPLIES) this.applies.shift();
    await vscode.commands.executeCommand('setContext', 'astraforge.canUndoApply', true);
  }

  /** The agent's pending changes to a file of the review, over its live text; undefined when it has none to show. */
  hunks(document: vscode.TextDocument): Hunk[] | undefined {
    const f = this.fileOf(document.uri);
    // Computed from the live text, so an undone accept offers its changes again; a rejected file offers none.
    if (!f || f.kind === 'refused' || f.baseText === undefined || f.proposedText === undefined || this.decision(f.path) === 'rejected')
      return undefined;
    return pendingHunks(f.baseText, document.getText(), f.proposedText, this.rejected(f.path));
  }

  /** Accepts one hunk (by key, or the one at the cursor) as one undoable edit. */
  async acceptHunk(uri?: vscode.Uri, key?: string): Promise<boolean> {
    const target = await this.hunkAt(uri, key);
    if (!target) return false;
    const { document, hunk } = target;
    // The same check as a whole file's accept, right before the write.
    if ((await this.refuseUnsafe([this.fileOf(document.uri)!])).length) return false;
    const r = hunkReplacement(document.getText(), hunk);
    const edit = new vscode.WorkspaceEdit();
    edit.replace(document.uri, toRange(r), r.text, {
      label: `AstraForge: a change to ${this.fileOf(document.uri)!.path}`,
      needsConfirmation: false,
    });
    if (!(await vscode.workspace.applyEdit(edit))) throw new Error('VS Code refused the edit');
    await this.settleIfDone(document);
    return true;
  }

  /** Rejects one hunk (by key, or the one at the cursor): it is not offered again for this run. */
  async rejectHunk(uri?: vscode.Uri, key?: string): Promise<boolean> {
    const target = await this.hunkAt(uri, key);
    if (!target) return false;
    await this.state.rejectHunk(this.review!.runId, this.fileOf(target.document.uri)!.path, target.hunk.key);
    this.lensesChanged.fire();
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

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const hunks = this.hunks(document) ?? [];
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
    const path = this.pathOf(uri);
    if (!path || !this.review) return undefined;
    const document = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(this.review.folder, path));
    return { document, hunks: this.hunks(document) ?? [], onAgentSide: uri.scheme === REVIEW_SCHEME };
  }

  /** A file whose hunks are all accepted or rejected is decided. */
  private async settleIfDone(document: vscode.TextDocument): Promise<void> {
    const f = this.fileOf(document.uri);
    if (f && this.hunks(document)?.length === 0) await this.decide([f.path], 'accepted');
    this.lensesChanged.fire();
  }

  /** The review path of a file URI or of the agent's version's URI. */
  pathOf(uri: vscode.Uri): string | undefined {
    if (uri.scheme === REVIEW_SCHEME) return uri.path.slice(1);
    return this.fileOf(uri)?.path;
  }

  private fileOf(uri: vscode.Uri): FileProposal | undefined {
    const review = this.review;
    if (!review) return undefined;
    // A refused path is no file of the folder, whatever URI joining it gives.
    return review.files.find((f) => f.kind !== 'refused' && vscode.Uri.joinPath(review.folder, f.path).toString() === uri.toString());
  }

  private rejected(path: string): Set<string> {
    return this.review ? this.state.rejectedHunks(this.review.runId, path) : new Set();
  }

  async reject(paths?: readonly string[]): Promise<void> {
    const review = this.need();
    const pending = review.files.filter((f) => f.kind !== 'refused' && this.decision(f.path) === 'pending');
    await this.decide(paths ?? pending.map((f) => f.path), 'rejected');
  }

  /** The diff editor for one file: the local file beside the agent's version. */
  async showDiff(path: string, preserveFocus = true): Promise<void> {
    const review = this.need();
    const f = review.files.find((x) => x.path === path);
    if (!f) throw new Error(`${path} is not in this run's changes`);
    if (f.kind === 'refused') {
      void vscode.window.showWarningMessage(`AstraForge: ${printablePath(f.path)} is refused and will not be written: ${f.reason}.`);
      return;
    }
    const local = vscode.Uri.joinPath(review.folder, f.oldPath ?? f.path);
    await vscode.commands.executeCommand('vscode.diff', local, this.proposedUri(review.runId, f.path), `${f.path} (yours ↔ agent's)`, {
      preserveFocus,
      preview: true,
    });
  }

  /** Every changed file at once in the multi-file diff view. */
  async showAll(): Promise<void> {
    const review = this.need();
    const list = review.files
      .filter((f) => f.kind !== 'refused' && f.proposedText !== undefined)
      .map((f) => [
        vscode.Uri.joinPath(review.folder, f.path),
        vscode.Uri.joinPath(review.folder, f.oldPath ?? f.path),
        this.proposedUri(review.runId, f.path),
      ]);
    await vscode.commands.executeCommand('vscode.changes', `AstraForge run ${review.runId}`, list);
  }

  proposedUri(runId: string, path: string): vscode.Uri {
    return vscode.Uri.from({ scheme: REVIEW_SCHEME, path: `/${path}`, query: runId });
  }

  // --- TextDocumentContentProvider: the agent's version, read-only ---

  provideTextDocumentContent(uri: vscode.Uri): string {
    const f = this.review?.runId === uri.query ? this.review.files.find((x) => `/${x.path}` === uri.path) : undefined;
    return f?.proposedText ?? '';
  }

  // --- TreeDataProvider ---

  getChildren(element?: FileProposal): FileProposal[] {
    return element || !this.review ? [] : this.review.files;
  }

  getTreeItem(f: FileProposal): vscode.TreeItem {
    return reviewTreeItem(f, this.review!.folder, this.decision(f.path));
  }

  private need(): OpenReview {
    if (!this.review) throw new Error('no review is open: run "AstraForge: Review Changes" first');
    return this.review;
  }

  private async decide(paths: readonly string[], decision: Decision): Promise<void> {
    await this.state.decide(this.need().runId, paths, decision);
    this.changed.fire(undefined);
    this.lensesChanged.fire();
  }

  dispose(): void {
    this.changed.dispose();
    this.lensesChanged.dispose();
  }
}

export interface AcceptResult {
  applied: string[];
  conflicts: string[];
  /** Files only the user can decide, left alone. */
  skipped: string[];
  /** Files whose path is no safe target: never written. */
  refused: string[];
  undoable?: CarriedOut;
}

/** The documents VS Code holds, by URI: asked once per action rather than once per file. */
function openDocuments(): Map<string, vscode.TextDocument> {
  return new Map(vscode.workspace.textDocuments.map((d) => [d.uri.toString(), d]));
}

async function readLocal(uri: vscode.Uri, open: Map<string, vscode.TextDocument>): Promise<Buffer | undefined> {
  // An open document may hold edits not yet saved: those are the user's current text.
  const document = open.get(uri.toString());
  if (document) return Buffer.from(document.getText());
  try {
    // Straight from the disk when the folder is there, without a round trip through VS Code per file.
    return uri.scheme === 'file' ? await readFile(uri.fsPath) : Buffer.from(await vscode.workspace.fs.readFile(uri));
  } catch {
    return undefined;
  }
}
