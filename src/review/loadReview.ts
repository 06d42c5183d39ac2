// What a review lists when it opens: each file of the run's diff against the
// workspace as it is now. Every path is checked (safeTarget) before anything
// is read; a refused file is listed with the reason, never read. Only what
// the comparison needs is fetched: the snapshot's version of files the user
// changed, and a binary file's new bytes while the run's sandbox lives.
import * as vscode from 'vscode';
import type { ServerClient } from '../server/serverClient';
import { needsBase, proposeFile, refusedFile, type FileProposal } from './fileProposal';
import { openDocuments, readLocal } from './localFiles';
import { refusal } from './targetRefusal';

/**
 * Where a review's diff and file contents come from: the server's client,
 * whose answers the contract checked; the review checks every path again
 * itself, so a stand-in with the same shape (a test's forged diff) gets the
 * same treatment.
 */
export type DiffSource = Pick<ServerClient, 'diff' | 'baseFiles' | 'proposedFiles'>;

export async function loadProposals(source: DiffSource, runId: string, folder: vscode.Uri): Promise<FileProposal[]> {
  const diff = await source.diff(runId);
  // Before anything is read: a refused path is not even looked at.
  const refusals = await Promise.all(diff.files.map((f) => refusal(folder, f.path, f.old_path)));
  const safe = (_: unknown, i: number) => refusals[i] === undefined;
  const open = openDocuments();
  const locals = await Promise.all(
    diff.files.map((f, i) => (safe(f, i) ? readLocal(vscode.Uri.joinPath(folder, f.old_path ?? f.path), open) : undefined)),
  );
  const wanted = diff.files.filter((f, i) => safe(f, i) && needsBase(f, locals[i])).map((f) => f.old_path ?? f.path);
  const bases = wanted.length ? await source.baseFiles(runId, wanted) : new Map<string, Buffer | undefined>();
  // Binary files have no patch to rebuild them from: their bytes come from the run's sandbox while it lives.
  const binaries = diff.files.filter((f, i) => safe(f, i) && f.binary && f.status !== 'deleted').map((f) => f.path);
  const proposed = binaries.length
    ? await source.proposedFiles(runId, binaries).catch(() => new Map<string, Buffer | undefined>())
    : new Map<string, Buffer | undefined>();
  return diff.files.map((f, i) => {
    const refused = refusals[i];
    if (refused) return refusedFile(f, refused);
    return proposeFile(f, { local: locals[i], base: bases.get(f.old_path ?? f.path), proposed: proposed.get(f.path) });
  });
}
