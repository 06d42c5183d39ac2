// The second half of an incremental snapshot: the upload of a plan's missing
// contents (a tar of files named by their hash, each checked against it), then
// the snapshot's canonical archive assembled from them and from the contents
// earlier archives hold. Unchanged entries are copied as byte ranges of an
// earlier archive (their headers are the same bytes), the rest framed anew,
// so the archive is exactly what a full upload of the same files would give.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import type { ArchiveLimits, SnapshotManifestEntry } from './canonicalArchive';
import type { HeldContents } from './heldContents';
import type { PendingPlan } from './snapshotPlans';
import { SnapshotError, SnapshotTooLarge } from './snapshotError';
import { BLOCK, encodeHeader, END_OF_ARCHIVE, paddingOf, type ArchiveSpan } from './tarFraming';

/**
 * Reads the upload of a plan's missing contents into `dir` (one file per
 * hash). Every entry must be a file named by a hash the plan is missing, of
 * the size the plan gave it, whose content has that hash; all must come.
 */
export async function receiveContents(body: Readable, gzip: boolean, plan: PendingPlan, dir: string, limits: ArchiveLimits): Promise<void> {
  const received = new Set<string>();
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > limits.maxArchiveBytes)
        return done(new SnapshotTooLarge(`the upload is over the ${limits.maxArchiveBytes}-byte upload limit`, 'maxArchiveBytes'));
      done(null, chunk);
    },
  });
  const ex = extract();
  ex.on('entry', (header, stream, next) => {
    stream.on('error', () => undefined);
    const name = header.name.replace(/^\.\//, '');
    const fail = (e: SnapshotError) => {
      stream.resume();
      next(e);
    };
    if (header.type !== 'file')
      return fail(new SnapshotError(`entry "${header.name}" is a ${header.type}; send only files named by their hash`));
    if (!plan.missing.has(name)) return fail(new SnapshotError(`entry "${header.name}" is not a content the plan is missing`));
    if (received.has(name)) return fail(new SnapshotError(`content ${name} is sent twice`));
    const size = header.size ?? 0;
    if (size !== plan.contents.get(name))
      return fail(new SnapshotError(`content ${name} is ${size} bytes; the plan says ${plan.contents.get(name)}`));
    received.add(name);
    const hash = createHash('sha256');
    const out = createWriteStream(join(dir, name), { mode: 0o600 });
    const check = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        done(null, chunk);
      },
      flush(done) {
        const got = hash.digest('hex');
        done(got === name ? null : new SnapshotError(`content ${name} does not have that hash (its bytes hash to ${got})`));
      },
    });
    pipeline(stream, check, out).then(
      () => next(),
      (e: Error) => next(e),
    );
  });
  // What the tar may unpack to: the plan's contents, a header and padding each, and some slack (end blocks,
  // record padding) — so a small gzip of zero blocks is cut off like a full upload's, not parsed to its end.
  let missingBytes = 0;
  for (const sha of plan.missing) missingBytes += plan.contents.get(sha) ?? 0;
  const allowed = missingBytes + plan.missing.size * 4 * BLOCK + 1024 * 1024;
  let unpacked = 0;
  const unpackedMeter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      unpacked += chunk.length;
      if (unpacked > allowed)
        return done(
          new SnapshotTooLarge(
            `the upload unpacks to more than its ${plan.missing.size} contents need (${allowed} bytes)`,
            'maxUnpackedBytes',
          ),
        );
      done(null, chunk);
    },
  });
  const stages: Transform[] = [meter];
  if (gzip) stages.push(createGunzip() as unknown as Transform);
  stages.push(unpackedMeter);
  await pipeline(body, ...(stages as [Transform]), ex);
  for (const sha of plan.missing) if (!received.has(sha)) throw new SnapshotError(`content ${sha} is missing from the upload`);
}

type Segment = { bytes: Buffer } | { file: string; position: number; length: number };

/** An entry to write: its manifest line and its mtime (seconds). */
export interface ArchiveEntry {
  entry: SnapshotManifestEntry;
  mtime: number;
}

/** Where each entry's bytes come from (what is new is framed here), and where each will lie in the new archive. */
function segmentsOf(
  entries: readonly ArchiveEntry[],
  uploaded: ReadonlySet<string>,
  held: HeldContents,
  uploadedDir: string,
): { segments: Segment[]; spans: Map<string, ArchiveSpan> } {
  const segments: Segment[] = [];
  const spans = new Map<string, ArchiveSpan>();
  let at = 0;
  for (const { entry: e, mtime } of entries) {
    const size = e.type === 'file' ? e.size : 0;
    const place = (headerBytes: number) => {
      const end = at + headerBytes + size + paddingOf(size);
      spans.set(e.path, {
        start: at,
        dataStart: at + headerBytes,
        end,
        size,
        mode: e.mode,
        mtime,
        type: e.type,
        ...(e.linkTarget ? { linkname: e.linkTarget } : {}),
      });
      at = end;
    };
    const fromUpload = uploaded.has(e.sha256);
    const source = e.type === 'symlink' || fromUpload ? undefined : held.locate(e.sha256, e.path);
    if (e.type === 'file' && !fromUpload && !source)
      throw new SnapshotError(`content ${e.sha256} is no longer kept by the server: plan again`);
    // The same entry at the same path: its header and content are the same bytes, copied whole.
    const same = source?.path === e.path ? source.span : undefined;
    if (same && same.size === size && same.mode === e.mode && same.mtime === mtime) {
      segments.push({ file: source!.file, position: same.start, length: same.end - same.start });
      place(same.dataStart - same.start);
      continue;
    }
    const header = encodeHeader({ name: e.path, type: e.type, size, mode: e.mode, mtime: new Date(mtime * 1000), linkname: e.linkTarget });
    segments.push({ bytes: header });
    place(header.length);
    if (!size) continue;
    if (source) {
      if (source.span.size !== size) throw new SnapshotError(`content ${e.sha256} is no longer where the server kept it: plan again`);
      segments.push({ file: source.file, position: source.span.dataStart, length: size });
    } else segments.push({ file: join(uploadedDir, e.sha256), position: 0, length: size });
    segments.push({ bytes: END_OF_ARCHIVE.subarray(0, paddingOf(size)) });
  }
  segments.push({ bytes: END_OF_ARCHIVE });
  return { segments, spans };
}

const OUT_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * Writes a canonical archive of `entries` to `outPath`: byte ranges of
 * earlier archives (adjacent ones read as one), uploaded contents and new
 * framing, through one buffer. Returns where each entry lies in it.
 */
export async function assembleArchive(
  entries: readonly ArchiveEntry[],
  uploaded: ReadonlySet<string>,
  held: HeldContents,
  uploadedDir: string,
  outPath: string,
): Promise<Map<string, ArchiveSpan>> {
  const { segments, spans } = segmentsOf(entries, uploaded, held, uploadedDir);
  const files = new Map<string, FileHandle>();
  const out = await open(outPath, 'wx', 0o600);
  const buf = Buffer.allocUnsafe(OUT_BUFFER_BYTES);
  let pending = 0;
  let written = 0;
  const flush = async () => {
    if (pending) await out.write(buf, 0, pending);
    written += pending;
    pending = 0;
  };
  const handle = async (file: string) => {
    let fh = files.get(file);
    if (!fh) files.set(file, (fh = await open(file, 'r')));
    return fh;
  };
  try {
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i];
      if ('bytes' in s) {
        if (pending + s.bytes.length > buf.length) await flush();
        if (s.bytes.length > buf.length) {
          await out.write(s.bytes);
          written += s.bytes.length;
        } else pending += s.bytes.copy(buf, pending);
        continue;
      }
      // Ranges of one file that follow each other are one read.
      let length = s.length;
      while (i + 1 < segments.length) {
        const n = segments[i + 1];
        if (!('file' in n) || n.file !== s.file || n.position !== s.position + length) break;
        length += n.length;
        i++;
      }
      const fh = await handle(s.file);
      for (let done = 0; done < length;) {
        if (pending === buf.length) await flush();
        const want = Math.min(length - done, buf.length - pending);
        const { bytesRead } = await fh.read(buf, pending, want, s.position + done);
        if (bytesRead === 0) throw new SnapshotError('a kept archive is shorter than its index says: plan again');
        pending += bytesRead;
        done += bytesRead;
      }
    }
    await flush();
  } finally {
    await out.close();
    for (const fh of files.values()) await fh.close();
  }
  const last = [...spans.values()].at(-1);
  if ((last?.end ?? 0) + 2 * BLOCK !== written)
    throw new Error(`assembled ${written} bytes where the framing says ${(last?.end ?? 0) + 2 * BLOCK}`);
  return spans;
}
