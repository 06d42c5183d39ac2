// The open review of a run's changes: the changed files (what applying each
// would do to the workspace as it is now, loadReview), the user's decisions
// (ReviewState), and accepting or rejecting whole files. An accept is one
// WorkspaceEdit, so Ctrl+Z takes it back, except for what goes straight to
// disk (a large apply, a binary overwrite), which undoApply takes back;
// conflicts are written with markers for the user to resolve, never over
// their text. One change at a time is changeLenses', the diff editors are
// agentVersion's, the list's look is reviewTree's. Every path is checked
// again (targetRefusal) before each write; a refused file is never written.
import * as vscode from 'vscode';
import type { ServerConnection } from '../server/serverConnection';
import type { FileProposal } from './fileProposal';
import { pendingHunks, type Hunk } from './hunks';
import { acceptEdit } from './acceptEdit';
import { agentVersionPath, REVIEW_SCHEME, showAllDiffs, showFileDiff } from './agentVersion';
import { carryOut, takeBack, type CarriedOut } from './carryOut';
import type { DiskUndo } from './diskApply';
import { loadProposals, type DiffSource } from './loadReview';
import { openDocuments, readLocal } from './localFiles';
import { ReviewState, type Decision } from './reviewState';
import { reviewSummary, reviewTreeItem } from './reviewTree';
import { refusal } from './targetRefusal';

export type { DiffSource } from './loadReview';

const MAX_UNDOABLE_APPLIES = 10;

interface OpenReview {
  runId: string;
  folder: vscode.Uri;
  files: FileProposal[];
}

export class ReviewController implements vscode.TreeDataProvider<FileProposal>, vscode.Disposable {
  private review?: OpenReview;
  /** Accepts that went partly to disk, the last one last, for undoApply. */
  private readonly applies: { runId: string; done: CarriedOut }[] = [];
  private readonly changed = new vscode.EventEmitter<FileProposal | undefined>();
  /** Fires when the files, their decisions or the review itself change. */
  readonly onDidChangeTreeData = this.changed.event;

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
    const files = await loadProposals(source ?? (await this.connection.client()), runId, folder);
    this.review = { runId, folder, files };
    await this.state.setOpenReview({ runId, folder: folder.toString() });
    await vscode.commands.executeCommand('setContext', 'astraforge.reviewOpen', true);
    this.changed.fire(undefined);
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
  async refuseUnsafe(files: readonly FileProposal[]): Promise<string[]> {
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

  /** Remembers a rejected change of a file: it is not offered again for this run. */
  async rejectHunk(path: string, key: string): Promise<void> {
    await this.state.rejectHunk(this.need().runId, path, key);
  }

  /** The review path of a file URI or of the agent's version's URI. */
  pathOf(uri: vscode.Uri): string | undefined {
    if (uri.scheme === REVIEW_SCHEME) return agentVersionPath(uri);
    return this.fileOf(uri)?.path;
  }

  /** The review's file at a URI of the folder; never a refused one. */
  fileOf(uri: vscode.Uri): FileProposal | undefined {
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
  showDiff(path: string, preserveFocus = true): Promise<void> {
    return showFileDiff(this.need(), path, preserveFocus);
  }

  /** Every changed file at once in the multi-file diff view. */
  showAll(): Promise<void> {
    return showAllDiffs(this.need());
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

  async decide(paths: readonly string[], decision: Decision): Promise<void> {
    await this.state.decide(this.need().runId, paths, decision);
    this.changed.fire(undefined);
  }

  dispose(): void {
    this.changed.dispose();
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
