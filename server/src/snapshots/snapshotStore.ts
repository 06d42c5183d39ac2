// Workspace snapshots: a tar (or gzipped tar) body streamed to disk entry by
// entry, never held whole in memory, each entry checked before anything is
// written: no '..', no absolute paths, no links that lead out, no devices,
// nothing written through a symlink, and limits on size and count.
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join, posix } from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract, type Header } from 'tar-stream';

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
/** Files up to this size are gathered in memory before writing; larger ones stream. */
const SMALL_FILE_BYTES = 1024 * 1024;

/** Gathers a small entry with plain events (an async iterator per entry costs more than the write). */
function collect(stream: NodeJS.ReadableStream, size: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('error', reject);
    stream.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
  });
}

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

export class SnapshotStore {
  constructor(
    private readonly dir: string,
    private readonly limits: SnapshotLimits,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  treeDir(id: string): string {
    return join(this.dir, id, 'tree');
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

  delete(id: string): void {
    if (ID_PATTERN.test(id)) rmSync(join(this.dir, id), { recursive: true, force: true });
  }

  async ingest(body: NodeJS.ReadableStream, opts: { gzip: boolean }): Promise<SnapshotInfo> {
    const id = randomBytes(12).toString('hex');
    const root = join(this.dir, id);
    const tree = join(root, 'tree');
    mkdirSync(tree, { recursive: true, mode: 0o700 });
    try {
      const manifest = await this.extractInto(tree, body, opts.gzip);
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

  private async extractInto(tree: string, body: NodeJS.ReadableStream, gzip: boolean): Promise<SnapshotManifestEntry[]> {
    const limits = this.limits;
    const manifest: SnapshotManifestEntry[] = [];
    const dirs = new Set<string>(['']);
    const symlinks = new Set<string>();
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

    const ensureDir = (rel: string) => {
      if (dirs.has(rel)) return;
      ensureDir(posix.dirname(rel) === '.' ? '' : posix.dirname(rel));
      mkdirSync(join(tree, rel), { mode: 0o755 });
      dirs.add(rel);
    };

    /** Refuses any entry whose path, or a folder on the way to it, is a symlink from this archive. */
    const checkNotThroughSymlink = (rel: string, name: string) => {
      for (let p = rel; p !== '' && p !== '.'; p = posix.dirname(p)) {
        if (symlinks.has(p)) throw new SnapshotError(`entry "${name}" would be written through the symlink "${p}"`);
      }
    };

    const ex = extract();
    ex.on('entry', (header: Header, stream, next) => {
      // A failed archive destroys the entry stream too; its error is the archive's, reported once by pipeline.
      stream.on('error', () => undefined);
      const handle = async () => {
        if (++entries > limits.maxFiles) throw new SnapshotError(`the archive has more than ${limits.maxFiles} entries`);
        const rel = cleanPath(header.name);
        checkNotThroughSymlink(rel, header.name);
        switch (header.type) {
          case 'directory':
            if (rel !== '') ensureDir(rel);
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
            if (dirs.has(rel)) throw new SnapshotError(`"${rel}" is both a folder and a file`);
            ensureDir(posix.dirname(rel) === '.' ? '' : posix.dirname(rel));
            const mode = (header.mode ?? 0o644) & 0o111 ? 0o755 : 0o644;
            const target = join(tree, rel);
            let sha256: string;
            if (size <= SMALL_FILE_BYTES) {
              // Most files of a source tree are small: one buffer and three syscalls beat a
              // write stream per file (measured: ~4x faster on 20,000 files).
              const data = await collect(stream as unknown as NodeJS.ReadableStream, size);
              sha256 = createHash('sha256').update(data).digest('hex');
              const fd = openSync(target, 'w', mode);
              try {
                writeSync(fd, data);
              } finally {
                closeSync(fd);
              }
            } else {
              const hash = createHash('sha256');
              const hasher = new PassThrough();
              hasher.on('data', (c: Buffer) => hash.update(c));
              await pipeline(stream as unknown as NodeJS.ReadableStream, hasher, createWriteStream(target, { mode }));
              sha256 = hash.digest('hex');
            }
            manifest.push({ path: rel, sha256, size, mode, type: 'file' });
            return;
          }
          case 'symlink': {
            const target = header.linkname ?? '';
            if (target.startsWith('/')) throw new SnapshotError(`symlink "${rel}" points to an absolute path (${target})`);
            const resolved = posix.normalize(posix.join(posix.dirname(rel), target));
            if (resolved === '..' || resolved.startsWith('../'))
              throw new SnapshotError(`symlink "${rel}" leads out of the snapshot (${target})`);
            ensureDir(posix.dirname(rel) === '.' ? '' : posix.dirname(rel));
            symlinkSync(target, join(tree, rel));
            symlinks.add(rel);
            manifest.push({
              path: rel,
              sha256: createHash('sha256').update(target).digest('hex'),
              size: 0,
              mode: 0o777,
              type: 'symlink',
              linkTarget: target,
            });
            stream.resume();
            return;
          }
          case 'link':
            throw new SnapshotError(`"${rel}" is a hard link; snapshots may not contain hard links`);
          default:
            throw new SnapshotError(`"${rel}" is a ${header.type}; snapshots hold only files, folders and symlinks`);
        }
      };
      handle().then(
        () => next(),
        (e) => {
          (stream as unknown as NodeJS.ReadableStream).resume();
          next(e as Error);
        },
      );
    });

    const stages: NodeJS.ReadWriteStream[] = [countBytes];
    if (gzip) stages.push(createGunzip());
    await pipeline(body, ...(stages as [Transform]), ex);
    if (existsSync(tree) && manifest.length === 0 && entries === 0 && received > 0 && received < 512) {
      throw new SnapshotError('the body is too short to be a tar archive');
    }
    return manifest;
  }
}
