// Reads an uploaded tar (or tar.gz), checks every entry, and writes a NEW
// archive from the checked fields only: name, type (file, folder, symlink),
// normalized mode, size, link target, mtime and content. GNU tar later
// extracts that archive, never the received bytes, so whatever two tar
// readers would read differently in an upload (a pax global header, data
// behind a symlink's header, a sparse map, a second header in a padding) never
// reaches it: what was validated is exactly what is extracted.
//
// Limits apply to what the archive unpacks to, while it streams: the bytes of
// the files, the count of entries, and the tar framing itself (headers, pax
// records, padding, trailing blocks), so that a small gzip cannot become a
// large archive on disk or in memory.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract, pack, type Extract, type ExtractEvents, type Header, type Pack } from 'tar-stream';
import { checkLinksStayInside, checkLinkTarget, cleanPath, EntryKinds, MAX_PATH_BYTES } from './archivePaths';
import { SnapshotError, SnapshotTooLarge } from './snapshotError';

export interface SnapshotManifestEntry {
  path: string;
  sha256: string;
  size: number;
  mode: number;
  type: 'file' | 'symlink';
  linkTarget?: string;
}

export interface ArchiveLimits {
  /** The body as received (compressed, when it is gzip). */
  maxArchiveBytes: number;
  /** The files' contents once unpacked, summed. */
  maxUnpackedBytes: number;
  /** Entries of any kind: files, folders and symlinks. */
  maxFiles: number;
  maxFileBytes: number;
}

/**
 * What the tar framing may cost beyond the files' contents: per entry, a
 * header, its padding and pax or GNU long-name records for a path and a link
 * target of MAX_PATH_BYTES each; once, the end-of-archive blocks, the record
 * padding tar writers add, and what the pipeline holds before the parser has
 * counted the entries in it.
 */
const FRAMING_BYTES_PER_ENTRY = 4 * 512 + 2 * MAX_PATH_BYTES + 4096;
const FRAMING_SLACK_BYTES = 1024 * 1024;
/** Files up to this size are packed from one buffer rather than streamed. */
const SMALL_FILE_BYTES = 64 * 1024;
const WRITE_BATCH_BYTES = 1024 * 1024;

/**
 * Joins the packer's many small pieces (a 512-byte header, a small file, its
 * padding) into large writes: one write per piece costs more than the repacking.
 */
function batch(bytes: number): Transform {
  let parts: Buffer[] = [];
  let held = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      parts.push(chunk);
      held += chunk.length;
      if (held < bytes) return done();
      const out = Buffer.concat(parts, held);
      parts = [];
      held = 0;
      done(null, out);
    },
    flush(done) {
      done(null, held ? Buffer.concat(parts, held) : undefined);
    },
  });
}

/** Counts the bytes that pass and fails the stream once `over()` says so. */
function meter(onChunk: (bytes: number) => SnapshotError | undefined): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      done(onChunk(chunk.length) ?? null, chunk);
    },
  });
}

/**
 * tar-stream keeps a pax global header ('g') to itself: it merges it into the
 * next 'x' header only, while GNU tar applies it to every entry after it. We
 * refuse any, and this private field is the only place tar-stream exposes one
 * (checked by the snapshot tests against tar-stream 3.x).
 */
function sawGlobalHeader(ex: Extract): boolean {
  return (ex as unknown as { _paxGlobal: unknown })._paxGlobal != null;
}

function modeOf(header: Header): number {
  return (header.mode ?? 0o644) & 0o111 ? 0o755 : 0o644;
}

/** Seconds since the epoch that a ustar header holds, as tar-stream's pack encodes them. */
function mtimeOf(header: Header): Date {
  const s = Math.floor((header.mtime?.getTime() ?? 0) / 1000);
  return new Date(1000 * (Number.isFinite(s) ? Math.min(Math.max(s, 0), 2 ** 31 - 1) : 0));
}

type EntryStream = ExtractEvents['entry'][1];

function unmodeledType(header: Header): string {
  // tar-stream's types list the types it names; any other typeflag arrives as null
  if ((header.type as string | null) === null)
    return 'of a type snapshots do not model (GNU sparse, multi-volume, volume label, dump dir or a vendor type)';
  return `a ${header.type}; snapshots hold only files, folders and symlinks`;
}

/**
 * Validates `body` and writes the canonical archive to `outPath`; returns the
 * manifest. Rejects with a SnapshotError (SnapshotTooLarge for a limit) on the
 * first entry that is refused, leaving `outPath` for the caller to remove.
 * `copy`, when given, sees the canonical archive's bytes on their way to the
 * file (an unpack while the upload streams in: stagedTree.ts); whatever it
 * passes on is what is written.
 */
export async function repackValidated(
  body: Readable,
  gzip: boolean,
  outPath: string,
  limits: ArchiveLimits,
  copy?: Transform,
): Promise<{ manifest: SnapshotManifestEntry[]; received: number }> {
  const manifest = new Map<string, SnapshotManifestEntry>();
  const links = new Map<string, string>();
  let entries = 0;
  let contentBytes = 0;
  let received = 0;
  let tarBytes = 0;

  const receivedMeter = meter((n) => {
    received += n;
    if (received > limits.maxArchiveBytes)
      return new SnapshotTooLarge(`the archive is over the ${limits.maxArchiveBytes}-byte upload limit`, 'maxArchiveBytes');
  });
  const unpackedMeter = meter((n) => {
    tarBytes += n;
    const allowed = contentBytes + entries * FRAMING_BYTES_PER_ENTRY + FRAMING_SLACK_BYTES;
    if (tarBytes > allowed)
      return new SnapshotTooLarge(
        `the unpacked archive is over its limit: ${tarBytes} bytes of tar for ${entries} entries holding ${contentBytes} bytes ` +
          `(headers, pax records, padding or trailing blocks beyond what its files need)`,
        'maxUnpackedBytes',
      );
  });

  const kinds = new EntryKinds();
  const record = (rel: string, kind: 'file' | 'directory' | 'symlink', name: string) => kinds.record(rel, kind, name);

  const packer: Pack = pack();
  const out = createWriteStream(outPath, { mode: 0o600 });
  const written = copy ? pipeline(packer, batch(WRITE_BATCH_BYTES), copy, out) : pipeline(packer, batch(WRITE_BATCH_BYTES), out);
  written.catch(() => undefined); // awaited below; a refusal destroys it first

  const ex = extract();
  ex.on('entry', (header: Header, stream, next) => {
    // A failed archive destroys the entry stream too; its error is the archive's, reported once by pipeline.
    stream.on('error', () => undefined);
    try {
      if (sawGlobalHeader(ex))
        throw new SnapshotError(
          'the archive has a pax global header (typeflag g); snapshots may not carry one, as tar readers apply it differently',
        );
      if (++entries > limits.maxFiles) throw new SnapshotTooLarge(`the archive has more than ${limits.maxFiles} entries`, 'maxFiles');
      const sparse = Object.keys((header.pax ?? {}) as Record<string, string>).find((k) => k.startsWith('GNU.sparse.'));
      if (sparse)
        throw new SnapshotError(`entry "${header.name}" is a GNU sparse file (pax ${sparse}); snapshots do not model sparse files`);
      const rel = cleanPath(header.name);
      switch (header.type) {
        case 'directory':
          if (rel !== '' && kinds.get(rel) !== 'directory') {
            record(rel, 'directory', header.name);
            packer.entry({ name: rel, type: 'directory', mode: 0o755, mtime: mtimeOf(header) });
          }
          // tar-stream gives a folder no data, whatever its size field says (and never ends the stream of one
          // whose size is not 0): the next block is a header, so go on without waiting for an end.
          return next();
        case 'file':
        case 'contiguous-file':
          return copyFile(rel, header, stream, next);
        case 'symlink':
          addSymlink(rel, header);
          // data behind a symlink's header is the symlink's, as this parser reads it; it is not carried over
          stream.on('end', () => next());
          stream.resume();
          return;
        case 'link':
          throw new SnapshotError(`"${rel}" is a hard link; snapshots may not contain hard links`);
        default:
          throw new SnapshotError(`entry "${header.name}" is ${unmodeledType(header)}`);
      }
    } catch (e) {
      stream.resume();
      next(e as Error);
    }
  });

  const copyFile = (rel: string, header: Header, stream: EntryStream, next: (e?: Error | null) => void) => {
    if (rel === '') throw new SnapshotError(`entry "${header.name}" is a file at the snapshot root`);
    const size = header.size ?? 0;
    if (size > limits.maxFileBytes)
      throw new SnapshotTooLarge(`"${rel}" is ${size} bytes, over the ${limits.maxFileBytes}-byte limit per file`, 'maxFileBytes');
    contentBytes += size;
    if (contentBytes > limits.maxUnpackedBytes)
      throw new SnapshotTooLarge(`the unpacked snapshot is over the ${limits.maxUnpackedBytes}-byte limit`, 'maxUnpackedBytes');
    record(rel, 'file', header.name);
    const mode = modeOf(header);
    const hash = createHash('sha256');
    const packed = (err?: Error | null) => {
      if (err) return next(err);
      manifest.set(rel, { path: rel, sha256: hash.digest('hex'), size, mode, type: 'file' });
      next();
    };
    const entry = { name: rel, type: 'file' as const, size, mode, mtime: mtimeOf(header) };
    if (size <= SMALL_FILE_BYTES) {
      // most files of a workspace: one buffer, one pack entry, no per-chunk back-pressure to manage
      const parts: Buffer[] = [];
      stream.on('data', (data: unknown) => parts.push(data as Buffer));
      stream.on('end', () => {
        const content = Buffer.concat(parts);
        hash.update(content);
        packer.entry(entry, content, packed);
      });
      return;
    }
    const sink = packer.entry(entry, packed);
    stream.on('data', (data: unknown) => {
      const c = data as Buffer;
      hash.update(c);
      if (!sink.write(c)) {
        stream.pause();
        sink.once('drain', () => void stream.resume());
      }
    });
    // streamx's typings ask for an argument that end() does not need
    stream.on('end', () => (sink as unknown as NodeJS.WritableStream).end());
  };

  const addSymlink = (rel: string, header: Header) => {
    const target = header.linkname ?? '';
    checkLinkTarget(rel, target);
    record(rel, 'symlink', header.name);
    links.set(rel, target);
    packer.entry({ name: rel, type: 'symlink', linkname: target, mode: 0o777, mtime: mtimeOf(header) });
    manifest.set(rel, {
      path: rel,
      sha256: createHash('sha256').update(target).digest('hex'),
      size: 0,
      mode: 0o777,
      type: 'symlink',
      linkTarget: target,
    });
  };

  const stages: Transform[] = [receivedMeter];
  if (gzip) stages.push(createGunzip() as unknown as Transform);
  stages.push(unpackedMeter);
  try {
    await pipeline(body, ...(stages as [Transform]), ex);
    if (sawGlobalHeader(ex))
      throw new SnapshotError(
        'the archive has a pax global header (typeflag g); snapshots may not carry one, as tar readers apply it differently',
      );
    if (entries === 0 && received > 0 && received < 512) throw new SnapshotError('the body is too short to be a tar archive');
    checkLinksStayInside(links);
    packer.finalize();
    await written;
  } catch (e) {
    packer.destroy(e as Error);
    await written.catch(() => undefined);
    throw e;
  }
  return { manifest: [...manifest.values()], received };
}
