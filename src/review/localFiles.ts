// The workspace's files as the user has them now: an open document's live
// text (it may hold edits not yet saved), else the bytes on disk.
import { readFile } from 'node:fs/promises';
import * as vscode from 'vscode';

/** The documents VS Code holds, by URI: asked once per action rather than once per file. */
export function openDocuments(): Map<string, vscode.TextDocument> {
  return new Map(vscode.workspace.textDocuments.map((d) => [d.uri.toString(), d]));
}

/** The file's current bytes; undefined when it is not there. */
export async function readLocal(uri: vscode.Uri, open: Map<string, vscode.TextDocument>): Promise<Buffer | undefined> {
  const document = open.get(uri.toString());
  if (document) return Buffer.from(document.getText());
  try {
    // Straight from the disk when the folder is there, without a round trip through VS Code per file.
    return uri.scheme === 'file' ? await readFile(uri.fsPath) : Buffer.from(await vscode.workspace.fs.readFile(uri));
  } catch {
    return undefined;
  }
}
