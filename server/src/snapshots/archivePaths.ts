// The path rules of a snapshot archive, as pure functions: names made
// relative and checked, and links followed through the archive's own links.

import { SnapshotError } from './snapshotError';

const MAX_LINK_DEPTH = 40;
/** Linux's PATH_MAX and NAME_MAX: longer names could never be extracted. */
export const MAX_PATH_BYTES = 4096;
const MAX_NAME_BYTES = 255;

/** A path from the archive, made relative and checked; '' for the root itself. */
export function cleanPath(name: string): string {
  if (name.includes('\0')) throw new SnapshotError(`entry "${name}" has a NUL byte in its name`);
  if (name.startsWith('/')) throw new SnapshotError(`entry "${name}" has an absolute path`);
  if (Buffer.byteLength(name) > MAX_PATH_BYTES)
    throw new SnapshotError(`entry "${name.slice(0, 80)}..." has a name over ${MAX_PATH_BYTES} bytes`);
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new SnapshotError(`entry "${name}" leaves the snapshot root with ".."`);
    if (Buffer.byteLength(part) > MAX_NAME_BYTES) throw new SnapshotError(`entry "${name}" has a name part over ${MAX_NAME_BYTES} bytes`);
    parts.push(part);
  }
  return parts.join('/');
}

/**
 * Where a path really leads once the archive's symlinks are followed, or
 * undefined when it leaves the root (`a -> ..` is inside, `b -> a/..` is not,
 * though it looks inside when read as text).
 */
export function resolveThroughLinks(path: string, links: ReadonlyMap<string, string>, depth = 0): string | undefined {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return undefined;
      out.pop();
      continue;
    }
    out.push(part);
    const target = links.get(out.join('/'));
    if (target === undefined) continue;
    if (depth >= MAX_LINK_DEPTH || target.startsWith('/')) return undefined;
    const base = out.slice(0, -1).join('/');
    const resolved = resolveThroughLinks(base ? `${base}/${target}` : target, links, depth + 1);
    if (resolved === undefined) return undefined;
    out.length = 0;
    if (resolved) out.push(...resolved.split('/'));
  }
  return out.join('/');
}
