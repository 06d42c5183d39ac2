// Whether a path that came from the server (from the agent's diff, so from
// an attacker) may be written in the workspace folder. Every apply route
// (the WorkspaceEdit and the disk writes) asks here first; a refused file
// is shown with the reason and never read, written or deleted.
import { lstat, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';

// Longer paths are no real file of a repository, and would only make the list and the checks slow.
const MAX_PATH_LENGTH = 4096;

/**
 * Why a workspace-relative path from the server is not a safe target, from
 * its text alone; undefined when it is. Only plain relative paths with `/`
 * between names pass: no absolute path or drive letter, no `..`, `.` or empty
 * name, no backslash (a separator on Windows), no control or NUL character,
 * and no `.git` folder (its hooks and config run code) under any case or
 * trailing dots and spaces that Windows and macOS fold onto the same name.
 */
export function unsafePathReason(path: string): string | undefined {
  if (path === '') return 'the path is empty';
  if (path.length > MAX_PATH_LENGTH) return 'the path is too long';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return 'the path holds a control character';
  if (path.includes('\\')) return 'the path holds a backslash';
  if (/^[a-zA-Z]:/.test(path)) return 'the path starts with a drive letter';
  if (path.startsWith('/')) return 'the path is absolute';
  for (const name of path.split('/')) {
    if (name === '..') return 'the path climbs out with ..';
    if (name === '' || name === '.') return 'the path has an empty or "." name';
    if (isGitFolderName(name)) return "the path is inside a .git folder (git's own hooks and config)";
  }
  return undefined;
}

/** `.git`, as Windows and case-insensitive file systems also read `.GIT`, `.git.` or `.git ` (and the 8.3 name). */
function isGitFolderName(name: string): boolean {
  const folded = name.toLowerCase().replace(/[. ]+$/, '');
  return folded === '.git' || folded === 'git~1';
}

/**
 * Why a path is not a safe target in the folder `root` on disk; undefined
 * when it is. Its text first (unsafePathReason), then the disk: the nearest
 * existing folder on its way, resolved through every symbolic link, must lie
 * inside the root and not in a .git folder, and so must the file itself
 * when it is a link. Folders it creates later are made under that one.
 */
export async function unsafeTargetReason(root: string, path: string): Promise<string | undefined> {
  const lexical = unsafePathReason(path);
  if (lexical) return lexical;
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch {
    return 'the workspace folder is not on disk';
  }
  const names = path.split('/');
  // From the file up: the first that exists decides for everything under it.
  for (let depth = names.length; depth > 0; depth--) {
    const here = join(root, ...names.slice(0, depth));
    const entry = await lstat(here).catch(() => undefined);
    if (!entry) continue;
    const real = await realpath(here).catch(() => undefined);
    // Named for the link: the file itself, or a folder above it.
    const last = depth === names.length && entry.isSymbolicLink();
    // A link that leads nowhere (or round in circles): what it would create is out of sight.
    if (real === undefined) return last ? 'the file is a link that leads nowhere' : 'a folder on the path is a link that leads nowhere';
    const rel = relative(realRoot, real);
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
      return last ? 'the file is a link that leads out of the workspace' : 'a folder on the path is a link that leads out of the workspace';
    const within = [...(rel ? rel.split(sep) : []), ...names.slice(depth)].join('/');
    if (within === '') return 'the path is the workspace folder itself';
    if (unsafePathReason(within)) return 'the path leads through a link into a .git folder';
    return undefined;
  }
  return undefined;
}

/**
 * A path from the server as the list shows it: control characters and the
 * ones that reorder text (bidi overrides) written as \u{…}, so that a
 * forged name cannot pass for another (`../../.bash_aliases` stays that).
 */
export function printablePath(path: string): string {
  // eslint-disable-next-line no-control-regex
  return path.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);
}
