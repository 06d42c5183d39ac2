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
  const stages: Transform[] = [meter];
  if (gzip) stages.push(createGunzip() as unknown as Transform);
  await pipeline(body, ...(stages as [Transform]), ex);
  for (const sha of plan.missing) if (!received.has(sha)) throw new SnapshotError(`content ${sha} is missing from the upload`);
}

type Segment = { bytes: Buffer } | { file: string; position: number; length: number };

/** Where each entry's bytes come from (what is new is framed here), and where each will lie in the new archive. */
function segmentsOf(plan: PendingPlan, held: HeldContents, uploadedDir: string): { segments: Segment[]; spans: Map<string, ArchiveSpan> } {
  const segments: Segment[] = [];
  const spans = new Map<string, ArchiveSpan>();
  const spansIn = new Map<string, Map<string, ArchiveSpan>>();
  const spansOf = (id: string) => {
    let s = spansIn.get(id);
    if (!s) spansIn.set(id, (s = held.spansOf(id)));
    return s;
  };
  let at = 0;
  plan.manifest.forEach((e: SnapshotManifestEntry, i) => {
    const mtime = plan.mtimes[i];
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
    const uploaded = plan.missing.has(e.sha256);
    const source = e.type === 'symlink' || uploaded ? undefined : held.get(e.sha256);
    if (e.type === 'file' && !uploaded && !source)
      throw new SnapshotError(`content ${e.sha256} is no longer kept by the server: plan again`);
    if (source) {
      // The same entry at the same path: its header and content are the same bytes, copied whole.
      const same = spansOf(source.snapshotId).get(e.path);
      const sameThere = held.manifestOf(source.snapshotId)?.get(e.path);
      if (
        same &&
        sameThere?.sha256 === e.sha256 &&
        same.type === 'file' &&
        same.size === e.size &&
        same.mode === e.mode &&
        same.mtime === mtime
      ) {
        segments.push({ file: `snapshot:${source.snapshotId}`, position: same.start, length: same.end - same.start });
        return place(same.dataStart - same.start);
      }
    }
    const header = encodeHeader({ name: e.path, type: e.type, size, mode: e.mode, mtime: new Date(mtime * 1000), linkname: e.linkTarget });
    segments.push({ bytes: header });
    place(header.length);
    if (!size) return;
    if (source) {
      const there = spansOf(source.snapshotId).get(source.path);
      if (!there || there.size !== size) throw new SnapshotError(`content ${e.sha256} is no longer where the server kept it: plan again`);
      segments.push({ file: `snapshot:${source.snapshotId}`, position: there.dataStart, length: size });
    } else segments.push({ file: join(uploadedDir, e.sha256), position: 0, length: size });
    segments.push({ bytes: END_OF_ARCHIVE.subarray(0, paddingOf(size)) });
  });
  segments.push({ bytes: END_OF_ARCHIVE });
  return { segments, spans };
}

const OUT_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * Writes the plan's canonical archive to `outPath`: byte ranges of earlier
 * archives (adjacent ones read as one) and new framing, through one buffer.
 */
export async function assembleArchive(
  plan: PendingPlan,
  held: HeldContents,
  archivePathOf: (snapshotId: string) => string,
  uploadedDir: string,
  outPath: string,
): Promise<Map<string, ArchiveSpan>> {
  const { segments, spans } = segmentsOf(plan, held, uploadedDir);
  const files = new Map<string, FileHandle>();
  const out = await open(outPath, 'wx', 0o600);
  const buf = Buffer.allocUnsafe(OUT_BUFFER_BYTES);
  let held_ = 0;
  let written = 0;
  const flush = async () => {
    if (held_) await out.write(buf, 0, held_);
    written += held_;
    held_ = 0;
  };
  const handle = async (file: string) => {
    let fh = files.get(file);
    if (!fh) {
      const path = file.startsWith('snapshot:') ? archivePathOf(file.slice('snapshot:'.length)) : file;
      fh = await open(path, 'r');
      files.set(file, fh);
    }
    return fh;
  };
  try {
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i];
      if ('bytes' in s) {
        if (held_ + s.bytes.length > buf.length) await flush();
        if (s.bytes.length > buf.length) await out.write(s.bytes);
        else held_ += s.bytes.copy(buf, held_);
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
        if (held_ === buf.length) await flush();
        const want = Math.min(length - done, buf.length - held_);
        const { bytesRead } = await fh.read(buf, held_, want, s.position + done);
        if (bytesRead === 0) throw new SnapshotError('a kept archive is shorter than its index says: plan again');
        held_ += bytesRead;
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
