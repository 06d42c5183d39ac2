// The paths a project's agent must not change, as globs: `*` and `?` within
// a path segment, `**` across segments, a trailing `/` for a folder and all
// below it, and (as in .gitignore) a pattern without a slash matches that
// name at any depth. A diff touching one fails review; nothing is dropped.
import type { DiffFile } from '@astraforge/contract/runApi';

export function protectedPathMatcher(patterns: readonly string[]): (path: string) => boolean {
  const regexes = patterns.map(globToRegExp);
  return (path) => regexes.some((r) => r.test(path));
}

/** The paths of the diff (renames: both names) that a protected pattern covers. */
export function protectedPathsTouched(files: readonly Pick<DiffFile, 'path' | 'old_path'>[], patterns: readonly string[]): string[] {
  const isProtected = protectedPathMatcher(patterns);
  const hits = new Set<string>();
  for (const f of files) for (const p of [f.path, f.old_path]) if (p !== undefined && isProtected(p)) hits.add(p);
  return [...hits];
}

function globToRegExp(pattern: string): RegExp {
  let glob = pattern.replace(/^\.?\//, '');
  if (glob.endsWith('/')) glob += '**';
  if (!glob.includes('/')) glob = `**/${glob}`;
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      out += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}
