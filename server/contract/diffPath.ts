// A path a run's diff may name: one the extension can join to the user's
// workspace folder on any OS without leaving it or touching git's internals.
// The diff comes out of a sandbox, so this is checked where it enters the
// server (the whole diff is refused on one bad path) and again by the
// client's parse of the contract.
import { z } from 'zod';

export const MAX_DIFF_PATH_LENGTH = 4096;

// Characters HFS+ ignores in names, so ".g\u200cit" is ".git" on a Mac.
const HFS_IGNORED = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g;
/** C0 and C1 controls (NUL, newline, escape, ...) and DEL. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

/** Whether a segment names a git folder on some file system (case-insensitive ones, NTFS trailing dots and spaces, 8.3 names). */
function isGitFolderName(segment: string): boolean {
  const s = segment.replace(HFS_IGNORED, '').toLowerCase();
  return s.replace(/[. ]+$/, '') === '.git' || s === 'git~1';
}

/** Why `path` is not a safe relative workspace path, or undefined when it is. */
export function diffPathProblem(path: string): string | undefined {
  if (path.length === 0) return 'the path is empty';
  if (path.length > MAX_DIFF_PATH_LENGTH) return `the path is longer than ${MAX_DIFF_PATH_LENGTH} characters`;
  if (hasControl(path)) return 'the path holds a control character';
  if (path.includes('\\')) return 'the path holds a backslash';
  if (path.includes('\ufffd')) return 'the path is not valid UTF-8';
  if (path.startsWith('/')) return 'the path is absolute';
  if (/^[A-Za-z]:/.test(path)) return 'the path starts with a drive letter';
  for (const segment of path.split('/')) {
    if (segment === '') return 'the path has an empty segment (not normalized)';
    if (segment === '.') return 'the path has a "." segment (not normalized)';
    if (segment === '..') return 'the path has a ".." segment';
    if (isGitFolderName(segment)) return 'the path is inside a ".git" folder';
  }
  return undefined;
}

/** A relative, normalized workspace path, outside any `.git` folder. */
export const DiffPath = z.string().superRefine((path, ctx) => {
  const problem = diffPathProblem(path);
  if (problem) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(path)}: ${problem}` });
});
