// The agent's version of a review's file as a read-only document (its own
// URI scheme), and the diff editors that show it beside the user's file:
// one file, or every file at once in the multi-file diff view. Where the
// user has no such file (one the agent added, or one the user deleted), the
// left side is an empty document of the same scheme, not a missing file.
import * as vscode from 'vscode';
import type { FileProposal } from './fileProposal';
import { printablePath } from './safeTarget';

export const REVIEW_SCHEME = 'astraforge-review';

/** The review a diff editor shows. */
export interface ShownReview {
  runId: string;
  folder: vscode.Uri;
  files: readonly FileProposal[];
}

/** The agent's version of a file of a run's review: the run in the query, so two runs' versions never share a document. */
export function agentVersionUri(runId: string, path: string): vscode.Uri {
  return vscode.Uri.from({ scheme: REVIEW_SCHEME, path: `/${path}`, query: runId });
}

const NO_FILE = 'no-file';

/** An empty document standing for a file the user does not have, named by the file's path (its language, its review path). */
export function noFileUri(runId: string, path: string): vscode.Uri {
  return vscode.Uri.from({ scheme: REVIEW_SCHEME, path: `/${path}`, query: runId, fragment: NO_FILE });
}

/** The review path of an agent's version's URI (or of its empty stand-in). */
export function agentVersionPath(uri: vscode.Uri): string {
  return uri.path.slice(1);
}

/** Serves the open review's agent versions; any other URI (a closed review's, another run's) reads as empty. */
export class AgentVersions implements vscode.TextDocumentContentProvider {
  constructor(private readonly shown: () => ShownReview | undefined) {}

  provideTextDocumentContent(uri: vscode.Uri): string {
    if (uri.fragment === NO_FILE) return '';
    const review = this.shown();
    const f = review?.runId === uri.query ? review.files.find((x) => `/${x.path}` === uri.path) : undefined;
    return f?.proposedText ?? '';
  }
}

/** The diff editor for one file: the local file beside the agent's version. */
export async function showFileDiff(review: ShownReview, path: string, preserveFocus: boolean): Promise<void> {
  const f = review.files.find((x) => x.path === path);
  if (!f) throw new Error(`${path} is not in this run's changes`);
  if (f.kind === 'refused') {
    void vscode.window.showWarningMessage(`AstraForge: ${printablePath(f.path)} is refused and will not be written: ${f.reason}.`);
    return;
  }
  const local = await yourSide(review, f);
  const title = local.scheme === REVIEW_SCHEME ? `${f.path} (no file of yours ↔ agent's)` : `${f.path} (yours ↔ agent's)`;
  await vscode.commands.executeCommand('vscode.diff', local, agentVersionUri(review.runId, f.path), title, {
    preserveFocus,
    preview: true,
  });
}

/** The user's file for the left side of a diff, or an empty stand-in when it is not there. */
async function yourSide(review: ShownReview, f: FileProposal): Promise<vscode.Uri> {
  const local = vscode.Uri.joinPath(review.folder, f.oldPath ?? f.path);
  // An open document counts even if it was never saved.
  if (vscode.workspace.textDocuments.some((d) => d.uri.toString() === local.toString())) return local;
  try {
    await vscode.workspace.fs.stat(local);
    return local;
  } catch {
    return noFileUri(review.runId, f.path);
  }
}

/** Every changed file with a text version at once, in the multi-file diff view. */
export async function showAllDiffs(review: ShownReview): Promise<void> {
  const shown = review.files.filter((f) => f.kind !== 'refused' && f.proposedText !== undefined);
  const lefts = await Promise.all(shown.map((f) => yourSide(review, f)));
  const list = shown.map((f, i) => [vscode.Uri.joinPath(review.folder, f.path), lefts[i], agentVersionUri(review.runId, f.path)]);
  await vscode.commands.executeCommand('vscode.changes', `AstraForge run ${review.runId}`, list);
}
