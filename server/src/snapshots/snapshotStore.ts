// Workspace snapshots. The body (a tar, or a gzipped tar) streams through a
// validating parser and, decompressed, into one archive file: nothing is held
// whole in memory and the upload costs one sequential write. Every entry is
// checked before the snapshot is accepted: no '..', no absolute paths, no
// links that lead out (resolved through the archive's own symlinks), no hard
// links or devices, nothing written through a symlink, and limits on size and
// count. A run later extracts the archive, known safe, into its workspace.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join, posix } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import { extract, type Header } from 'tar-stream';

const execFileAsync = promisify(execFile);

export class SnapshotError extends Error {
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'SnapshotError';
  }
}

export interface SnapshotInfo {
  snapshot_id: string;
  files: number;
  bytes: number;
}

export interface SnapshotManifestEntry {
  path: string;
  sha256: string;
  size: number;
  mode: number;
  type: 'file' | 'symlink';
  linkTarget?: string;
}

export interface SnapshotLimits {
  maxArchiveBytes: number;
  maxFiles: number;
  maxFileBytes: number;
}

const ID_PATTERN = /^[a-f0-9]{24}$/;
const MAX_LINK_DEPTH = 40;

/** A path from the archive, made relative and checked; '' for the root itself. */
function cleanPath(name: string): string {
  if (name.includes('\0')) throw new SnapshotError(`entry "${name}" has a NUL byte in its name`);
  if (name.startsWith('/')) throw new SnapshotError(`entry "${name}" has an absolute path`);
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new SnapshotError(`entry "${name}" leaves the snapshot root with ".."`);
    parts.push(part);
  }
  return parts.join('/');
}

/**
 * Where a path really leads once the archive's symlinks are followed, or
 * undefined when it leaves the root (`a -> ..` is inside, `b -> a/..` is not,
 * though it looks inside when read as text).
 */
function resolveThroughLinks(path: string, links: Map<string, string>, depth = 0): string | undefined {
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

export class SnapshotStore {
  constructor(
    private readonly dir: string,
    private readonly limits: SnapshotLimits,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  get(id: string): SnapshotInfo | undefined {
    if (!ID_PATTERN.test(id)) return undefined;
    try {
      return JSON.parse(readFileSync(join(this.dir, id, 'info.json'), 'utf8')) as SnapshotInfo;
    } catch {
      return undefined;
    }
  }

  manifest(id: string): Map<string, SnapshotManifestEntry> {
    if (!ID_PATTERN.test(id)) return new Map();
    const entries = JSON.parse(readFileSync(join(this.dir, id, 'manifest.json'), 'utf8')) as SnapshotManifestEntry[];
    return new Map(entries.map((e) => [e.path, e]));
  }

  /** Unpacks a snapshot into a folder (a new workspace, before its sandbox starts). */
  async extractTo(id: string, dir: string): Promise<void> {
    if (!this.get(id)) throw new SnapshotError(`no snapshot "${id}"`);
    // GNU tar is native and fast; the archive was validated entry by entry on the way in.
    await execFileAsync('tar', [
      '-x',
      '-f',
      join(this.dir, id, 'snapshot.tar'),
      '-C',
      dir,
      '--no-same-owner',
      '--no-same-permissions',
      '--delay-directory-restore',
    ]);
  }

  /**
   * The contents of some regular files of a snapshot, in one pass over its
   * archive; a path that is not a regular file there maps to undefined. Stops
   * adding contents once `maxBytes` are collected (the caller asks again for
   * the rest).
   */
  async readFiles(id: string, paths: readonly string[], maxBytes: number): Promise<Map<string, Buffer | undefined>> {
    if (!this.get(id)) throw new SnapshotError(`no snapshot "${id}"`);
    const wanted = new Set(paths.map(cleanPath));
    const found = new Map<string, Buffer | undefined>();
    let bytes = 0;
    const ex = extract();
    const reading = (async () => {
      for await (const entry of ex) {
        const rel = cleanPath(entry.header.name);
        if (entry.header.type === 'file' && wanted.has(rel) && bytes + (entry.header.size ?? 0) <= maxBytes) {
          const parts: Buffer[] = [];
          for await (const c of entry) parts.push(c as Buffer);
          const content = Buffer.concat(parts);
          bytes += content.length;
          found.set(rel, content);
        } else entry.resume();
      }
    })();
    await pipeline(createReadStream(join(this.dir, id, 'snapshot.tar')), ex);
    await reading;
    const out = new Map<string, Buffer | undefined>();
    for (const p of paths) out.set(p, found.get(cleanPath(p)));
    return out;
  }

  delete(id: string): void {
    if (ID_PATTERN.test(id)) rmSync(join(this.dir, id), { recursive: true, force: true });
  }

  async ingest(body: NodeJS.ReadableStream, opts: { gzip: boolean }): Promise<SnapshotInfo> {
    const id = randomBytes(12).toString('hex');
    const root = join(this.dir, id);
    mkdirSync(root, { recursive: true, mode: 0o700 });
    try {
      const manifest = await this.validateAndStore(body, opts.gzip, join(root, 'snapshot.tar'));
      const info: SnapshotInfo = {
        snapshot_id: id,
        files: manifest.filter((e) => e.type === 'file').length,
        bytes: manifest.reduce((n, e) => n + e.size, 0),
      };
      writeFileSync(join(root, 'manifest.json'), JSON.stringify(manifest));
      writeFileSync(join(root, 'info.json'), JSON.stringify(info));
      return info;
    } catch (e) {
      rmSync(root, { recursive: true, force: true });
      if (e instanceof SnapshotError) throw e;
      throw new SnapshotError(`not a valid ${opts.gzip ? 'gzip-compressed ' : ''}tar archive: ${(e as Error).message}`);
    }
  }

  private async validateAndStore(body: NodeJS.ReadableStream, gzip: boolean, archivePath: string): Promise<SnapshotManifestEntry[]> {
    const limits = this.limits;
    const manifest = new Map<string, SnapshotManifestEntry>();
    const kinds = new Map<string, string>([['', 'directory']]);
    const links = new Map<string, string>();
    let entries = 0;
    let unpacked = 0;
    let received = 0;

    const countBytes = new Transform({
      transform(chunk: Buffer, _enc, done) {
        received += chunk.length;
        if (received > limits.maxArchiveBytes)
          return done(new SnapshotError(`the archive is over the ${limits.maxArchiveBytes}-byte limit`));
        done(null, chunk);
      },
    });

    // The decompressed archive goes to disk as it passes to the parser.
    const fd = openSync(archivePath, 'w', 0o600);
    const keepCopy = new Transform({
      transform(chunk: Buffer, _enc, done) {
        try {
          writeSync(fd, chunk);
        } catch (e) {
          return done(e as Error);
        }
        done(null, chunk);
      },
    });

    const record = (rel: string, kind: string, name: string) => {
      const before = kinds.get(rel);
      if (before !== undefined && before !== kind) throw new SnapshotError(`"${name}" appears twice, as a ${before} and as a ${kind}`);
      kinds.set(rel, kind);
      // every folder on the way must be a folder (or not yet seen), never a symlink or a file
      for (let p = posix.dirname(rel); p !== '.' && p !== ''; p = posix.dirname(p)) {
        const k = kinds.get(p);
        if (k === 'symlink') throw new SnapshotError(`entry "${name}" would be written through the symlink "${p}"`);
        if (k !== undefined && k !== 'directory') throw new SnapshotError(`entry "${name}" is inside "${p}", which is a ${k}`);
      }
    };

    const ex = extract();
    ex.on('entry', (header: Header, stream, next) => {
      // A failed archive destroys the entry stream too; its error is the archive's, reported once by pipeline.
      stream.on('error', () => undefined);
      const fail = (e: unknown) => {
        stream.resume();
        next(e as Error);
      };
      try {
        if (++entries > limits.maxFiles) throw new SnapshotError(`the archive has more than ${limits.maxFiles} entries`);
        const rel = cleanPath(header.name);
        switch (header.type) {
          case 'directory':
            if (rel !== '') record(rel, 'directory', header.name);
            stream.on('end', () => next());
            stream.resume();
            return;
          case 'file':
          case 'contiguous-file': {
            if (rel === '') throw new SnapshotError(`entry "${header.name}" is a file at the snapshot root`);
            const size = header.size ?? 0;
            if (size > limits.maxFileBytes)
              throw new SnapshotError(`"${rel}" is ${size} bytes, over the ${limits.maxFileBytes}-byte limit per file`);
            unpacked += size;
            if (unpacked > limits.maxArchiveBytes)
              throw new SnapshotError(`the unpacked snapshot is over the ${limits.maxArchiveBytes}-byte limit`);
            record(rel, 'file', header.name);
            const mode = (header.mode ?? 0o644) & 0o111 ? 0o755 : 0o644;
            const hash = createHash('sha256');
            stream.on('data', (c) => hash.update(c as Buffer));
            stream.on('end', () => {
              manifest.set(rel, { path: rel, sha256: hash.digest('hex'), size, mode, type: 'file' });
              next();
            });
            return;
          }
          case 'symlink': {
            const target = header.linkname ?? '';
            if (target.startsWith('/')) throw new SnapshotError(`symlink "${rel}" points to an absolute path (${target})`);
            if (rel === '') throw new SnapshotError('the snapshot root cannot be a symlink');
            record(rel, 'symlink', header.name);
            links.set(rel, target);
            manifest.set(rel, {
              path: rel,
              sha256: createHash('sha256').update(target).digest('hex'),
              size: 0,
              mode: 0o777,
              type: 'symlink',
              linkTarget: target,
            });
            stream.on('end', () => next());
            stream.resume();
            return;
          }
          case 'link':
            throw new SnapshotError(`"${rel}" is a hard link; snapshots may not contain hard links`);
          default:
            throw new SnapshotError(`"${rel}" is a ${header.type}; snapshots hold only files, folders and symlinks`);
        }
      } catch (e) {
        fail(e);
      }
    });

    const stages: NodeJS.ReadWriteStream[] = [countBytes];
    if (gzip) stages.push(createGunzip());
    stages.push(keepCopy);
    try {
      await pipeline(body, ...(stages as [Transform]), ex);
    } finally {
      closeSync(fd);
    }
    if (entries === 0 && received > 0 && received < 512) throw new SnapshotError('the body is too short to be a tar archive');
    // Links are judged once all are known: one may lead out only through another that comes later.
    for (const [path, target] of links) {
      const dir = posix.dirname(path) === '.' ? '' : posix.dirname(path);
      if (resolveThroughLinks(dir ? `${dir}/${target}` : target, links) === undefined) {
        throw new SnapshotError(`symlink "${path}" leads out of the snapshot (${target})`);
      }
    }
    return [...manifest.values()];
  }
}
