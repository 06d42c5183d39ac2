// The review of a run's changes in the editor: a tree of the changed files
// (what applying each would do to the workspace as it is now), the diff
// editor between the local file and the agent's version (a read-only
// virtual document), and accept or reject per file or for all. Every accept
// is one WorkspaceEdit, so Undo takes it back; conflicts are written with
// markers for the user to resolve, never over their text. What was decided
// is kept in the workspace state and survives a reload.
import * as vscode from 'vscode';
import type { RunDiff } from '../../server/src/contract/runApi';
import type { ServerConnection } from '../server/serverConnection';
import { needsBase, proposeFile, type FileProposal } from './fileProposal';

export const REVIEW_SCHEME = 'astraforge-review';
const STATE_KEY = 'astraforge.review.decisions';

export type Decision = 'pending' | 'accepted' | 'rejected';

interface OpenReview {
  runId: string;
  folder: vscode.Uri;
  files: FileProposal[];
}

export class ReviewController implements vscode.TreeDataProvider<FileProposal>, vscode.TextDocumentContentProvider, vscode.Disposable {
  private review?: OpenReview;
  private readonly changed = new vscode.EventEmitter<FileProposal | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly docChanged = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.docChanged.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly connection: ServerConnection,
  ) {}

  get current(): OpenReview | undefined {
    return this.review;
  }

  /** Loads the run's diff against the workspace as it is now and shows the changed files. */
  async open(runId: string, folder: vscode.Uri): Promise<OpenReview> {
    const client = await this.connection.client();
    const diff: RunDiff = await client.diff(runId);
    const locals = await Promise.all(diff.files.map((f) => readLocal(vscode.Uri.joinPath(folder, f.old_path ?? f.path))));
    const wanted = diff.files.filter((f, i) => needsBase(f, locals[i])).map((f) => f.old_path ?? f.path);
    const bases = wanted.length ? await client.baseFiles(runId, wanted) : new Map<string, Buffer | undefined>();
    const files = diff.files.map((f, i) => proposeFile(f, { local: locals[i], base: bases.get(f.old_path ?? f.path) }));
    this.review = { runId, folder, files };
    await vscode.commands.executeCommand('setContext', 'astraforge.reviewOpen', true);
    this.changed.fire(undefined);
    return this.review;
  }

  decision(path: string): Decision {
    if (!this.review) return 'pending';
    return this.decisions()[this.review.runId]?.[path] ?? 'pending';
  }

  /** Applies one file (or all pending ones) as a single undoable edit. */
  async accept(paths?: readonly string[]): Promise<{ applied: string[]; conflicts: string[]; skipped: string[] }> {
    const review = this.need();
    const targets = review.files.filter((f) => (paths ? paths.includes(f.path) : this.decision(f.path) === 'pending'));
    const edit = new vscode.WorkspaceEdit();
    const applied: string[] = [];
    const conflicts: string[] = [];
    const skipped: string[] = [];
    for (const f of targets) {
      const uri = vscode.Uri.joinPath(review.folder, f.path);
      const meta = { label: `AstraForge: ${f.path}`, needsConfirmation: false };
      switch (f.kind) {
        case 'write':
        case 'conflict': {
          if (f.status === 'renamed' && f.oldPath)
            edit.deleteFile(vscode.Uri.joinPath(review.folder, f.oldPath), { ignoreIfNotExists: true }, meta);
          const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
          if (open) edit.replace(uri, new vscode.Range(0, 0, open.lineCount, 0), f.content!.toString('utf8'), meta);
          else edit.createFile(uri, { overwrite: true, contents: f.content }, meta);
          (f.kind === 'conflict' ? conflicts : applied).push(f.path);
          break;
        }
        case 'delete':
          edit.deleteFile(uri, { ignoreIfNotExists: true }, meta);
          applied.push(f.path);
          break;
        case 'already':
          applied.push(f.path);
          break;
        case 'choose':
          skipped.push(f.path);
          break;
      }
    }
    if (edit.size > 0 && !(await vscode.workspace.applyEdit(edit))) throw new Error('VS Code refused the edit (a file may be read-only)');
    await this.decide([...applied, ...conflicts], 'accepted');
    return { applied, conflicts, skipped };
  }

  async reject(paths?: readonly string[]): Promise<void> {
    const review = this.need();
    await this.decide(paths ?? review.files.filter((f) => this.decision(f.path) === 'pending').map((f) => f.path), 'rejected');
  }

  /** The diff editor for one file: the local file beside the agent's version. */
  async showDiff(path: string, preserveFocus = true): Promise<void> {
    const review = this.need();
    const f = review.files.find((x) => x.path === path);
    if (!f) throw new Error(`${path} is not in this run's changes`);
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
      .filter((f) => f.proposedText !== undefined)
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
    const item = new vscode.TreeItem(vscode.Uri.joinPath(this.review!.folder, f.path));
    const decision = this.decision(f.path);
    const what =
      f.kind === 'conflict'
        ? `${f.conflicts} conflict${f.conflicts === 1 ? '' : 's'}`
        : f.kind === 'choose'
          ? 'needs you'
          : f.kind === 'already'
            ? 'already applied'
            : '';
    item.description = [`${f.status}`, f.binary ? 'binary' : `+${f.added} −${f.removed}`, what, decision === 'pending' ? '' : decision]
      .filter(Boolean)
      .join(' · ');
    item.tooltip = f.reason ?? (f.localEdited ? 'You edited this file since the run started; your edits are merged in.' : undefined);
    item.contextValue = `reviewFile.${decision}`;
    item.command = { command: 'astraforge.review.showFile', title: 'Show changes', arguments: [f.path] };
    return item;
  }

  private need(): OpenReview {
    if (!this.review) throw new Error('no review is open: run "AstraForge: Review Changes" first');
    return this.review;
  }

  private decisions(): Record<string, Record<string, Decision>> {
    return this.context.workspaceState.get<Record<string, Record<string, Decision>>>(STATE_KEY, {});
  }

  private async decide(paths: readonly string[], decision: Decision): Promise<void> {
    const review = this.need();
    const all = this.decisions();
    const run = { ...(all[review.runId] ?? {}) };
    for (const p of paths) run[p] = decision;
    await this.context.workspaceState.update(STATE_KEY, { ...all, [review.runId]: run });
    this.changed.fire(undefined);
  }

  dispose(): void {
    this.changed.dispose();
    this.docChanged.dispose();
  }
}

async function readLocal(uri: vscode.Uri): Promise<Buffer | undefined> {
  // An open document may hold edits not yet saved: those are the user's current text.
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (open) return Buffer.from(open.getText());
  try {
    return Buffer.from(await vscode.workspace.fs.readFile(uri));
  } catch {
    return undefined;
  }
}
