// The review's check of a change's paths in its folder, before anything is
// read or written: on disk through safeTarget, in a folder VS Code reaches
// another way (a remote file system) by the path's text and by refusing
// any link on the way, since it cannot be resolved there.
import * as vscode from 'vscode';
import { unsafePathReason, unsafeTargetReason } from './safeTarget';

/**
 * Why a change's paths (its new one, and the old one of a rename) are no
 * safe target in the folder; undefined when both are. On disk, through
 * every link (safeTarget); in a folder VS Code reaches another way, by the
 * text and by refusing any link on the way, which cannot be resolved there.
 */
export async function refusal(folder: vscode.Uri, path: string, oldPath: string | undefined): Promise<string | undefined> {
  const paths = oldPath !== undefined && oldPath !== path ? [path, oldPath] : [path];
  for (const p of paths) {
    const why =
      folder.scheme === 'file' ? await unsafeTargetReason(folder.fsPath, p) : (unsafePathReason(p) ?? (await linkOnTheWay(folder, p)));
    if (why) return paths.length > 1 ? `${why} (${p === path ? 'new' : 'old'} name)` : why;
  }
  return undefined;
}

async function linkOnTheWay(folder: vscode.Uri, path: string): Promise<string | undefined> {
  const names = path.split('/');
  for (let depth = 1; depth <= names.length; depth++) {
    const stat = await Promise.resolve(vscode.workspace.fs.stat(vscode.Uri.joinPath(folder, ...names.slice(0, depth)))).catch(
      () => undefined,
    );
    if (!stat) return undefined; // from here on, folders and the file are made by the apply
    if (stat.type & vscode.FileType.SymbolicLink) return 'the path leads through a link, which is not followed in this folder';
  }
  return undefined;
}
