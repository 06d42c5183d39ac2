// The path rules of a snapshot archive: names made relative and checked,
// the kind each path holds (no file under a file, nothing written through a
// symlink), and links followed through the archive's own links. Full uploads
// (canonicalArchive.ts) and incremental plans (snapshotPlans.ts) share them.

import { SnapshotError } from './snapshotError';

const MAX_LINK_DEPTH = 40;
/** Linux's PATH_MAX and NAME_MAX: longer names could never be extracted. */
export const MAX_PATH_BYTES = 4096;
const MAX_NAME_BYTES = 255;

/**
 * A plain relative path whose parts cannot be over NAME_MAX: at most 3 UTF-8
 * bytes per UTF-16 unit, 85 units are at most 255 bytes. Most paths are such,
 * and a plan checks 20,000 of them per Send.
 */
const PLAIN_PATH = /^(?!\.{1,2}(?:\/|$))(?:[^/\0]+\/(?!\.{1,2}(?:\/|$)))*[^/\0]+$/;
const PLAIN_PATH_MAX_UNITS = 85;

/** A path from the archive, made relative and checked; '' for the root itself. */
export function cleanPath(name: string): string {
  if (name.length <= PLAIN_PATH_MAX_UNITS && PLAIN_PATH.test(name)) return name;
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

/** The kind of each path seen so far, with the folders on the way to them. */
export class EntryKinds {
  private readonly kinds = new Map<string, 'file' | 'directory' | 'symlink'>([['', 'directory']]);

  get(rel: string): 'file' | 'directory' | 'symlink' | undefined {
    return this.kinds.get(rel);
  }

  /** Records `rel` as a `kind`; refuses a second entry for a path (but a folder) and any entry under a file or a symlink. */
  record(rel: string, kind: 'file' | 'directory' | 'symlink', name: string): void {
    const before = this.kinds.get(rel);
    if (before !== undefined && (before !== kind || kind !== 'directory'))
      throw new SnapshotError(`"${name}" appears twice, as a ${before} and as a ${kind}`);
    // every folder on the way must be a folder (or not yet seen, and from now on a folder), never a symlink or a file
    for (let p = parentOf(rel); p !== ''; p = parentOf(p)) {
      const k = this.kinds.get(p);
      if (k === 'symlink') throw new SnapshotError(`entry "${name}" would be written through the symlink "${p}"`);
      if (k === 'file') throw new SnapshotError(`entry "${name}" is inside "${p}", which is a file`);
      if (k === 'directory') break;
      this.kinds.set(p, 'directory');
    }
    this.kinds.set(rel, kind);
  }
}

function parentOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? '' : rel.slice(0, slash);
}

/** Refuses a symlink's target that is empty, absolute, too long or holds a NUL byte (where it leads is checked once all links are known). */
export function checkLinkTarget(rel: string, target: string): void {
  if (rel === '') throw new SnapshotError('the snapshot root cannot be a symlink');
  if (target === '') throw new SnapshotError(`symlink "${rel}" has no target`);
  if (target.includes('\0')) throw new SnapshotError(`symlink "${rel}" has a NUL byte in its target`);
  if (Buffer.byteLength(target) > MAX_PATH_BYTES) throw new SnapshotError(`symlink "${rel}" has a target over ${MAX_PATH_BYTES} bytes`);
  if (target.startsWith('/')) throw new SnapshotError(`symlink "${rel}" points to an absolute path (${target})`);
}

/** Refuses any link that leads out of the snapshot, judged once all are known: one may lead out only through another. */
export function checkLinksStayInside(links: ReadonlyMap<string, string>): void {
  for (const [path, target] of links) {
    const dir = parentOf(path);
    if (resolveThroughLinks(dir ? `${dir}/${target}` : target, links) === undefined) {
      throw new SnapshotError(`symlink "${path}" leads out of the snapshot (${target})`);
    }
  }
}
