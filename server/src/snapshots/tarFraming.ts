// The tar framing of a canonical archive, byte for byte as canonicalArchive.ts
// writes it through tar-stream: a header for an entry, and where each entry
// of an archive already written lies. An incremental snapshot is assembled
// from these: unchanged entries copied as byte ranges of an earlier archive,
// new ones framed here, so it equals what a full upload of the same files
// would have produced.
import { closeSync, openSync, readSync } from 'node:fs';
import { pack } from 'tar-stream';

export interface CanonicalEntryHeader {
  name: string;
  type: 'file' | 'symlink';
  size: number;
  mode: number;
  mtime: Date;
  linkname?: string;
}

/** Where one entry of an archive lies: its headers (pax included) from `start`, its content at `dataStart`. */
export interface ArchiveSpan {
  start: number;
  dataStart: number;
  /** Past its content's padding: the next entry's start. */
  end: number;
  size: number;
  mode: number;
  /** Seconds since the epoch, as the header holds it. */
  mtime: number;
  type: 'file' | 'symlink' | 'directory' | 'other';
  linkname?: string;
}

export const BLOCK = 512;
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

interface PackInternals {
  _encode(this: { push(b: Buffer): void; _encodePax: unknown }, header: object): void;
  _encodePax: unknown;
}

// tar-stream encodes headers in Pack#_encode (ustar, or a pax header first for long or non-ASCII names) and
// exports no encoder: it is called on a stand-in that collects what it pushes. The incremental snapshot tests
// compare whole archives against tar-stream's own, so a change in it fails them rather than the archives.
const packInternals = Object.getPrototypeOf(pack()) as PackInternals;

/** The header blocks tar-stream writes before an entry's content. */
export function encodeHeader(h: CanonicalEntryHeader): Buffer {
  const out: Buffer[] = [];
  const header = { uid: 0, gid: 0, ...h, size: h.type === 'symlink' ? 0 : h.size };
  packInternals._encode.call({ push: (b: Buffer) => out.push(b), _encodePax: packInternals._encodePax }, header);
  return Buffer.concat(out);
}

export function paddingOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function field(block: Buffer, offset: number, length: number): string {
  const end = block.indexOf(0, offset);
  return block.toString('utf8', offset, end < 0 || end > offset + length ? offset + length : end);
}

function octal(block: Buffer, offset: number, length: number): number {
  const text = field(block, offset, length).trim();
  return text ? parseInt(text, 8) : 0;
}

function paxRecords(buf: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < buf.length) {
    const space = buf.indexOf(0x20, at);
    if (space < 0) break;
    const len = parseInt(buf.toString('ascii', at, space), 10);
    if (!(len > 0)) break;
    const record = buf.toString('utf8', space + 1, at + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return out;
}

const TYPES: Record<string, ArchiveSpan['type']> = { '0': 'file', '\0': 'file', '7': 'file', '2': 'symlink', '5': 'directory' };

/**
 * Every entry of a canonical archive, by path, read header by header (the
 * contents are skipped, not read). Only for archives this server wrote.
 */
export function scanArchive(path: string): Map<string, ArchiveSpan> {
  const spans = new Map<string, ArchiveSpan>();
  const fd = openSync(path, 'r');
  try {
    const block = Buffer.alloc(BLOCK);
    let at = 0;
    let start = -1;
    let pax: Map<string, string> | undefined;
    for (;;) {
      if (readSync(fd, block, 0, BLOCK, at) < BLOCK) break;
      if (block.every((b) => b === 0)) break;
      if (start < 0) start = at;
      const size = octal(block, 124, 12);
      const flag = String.fromCharCode(block[156]);
      const dataStart = at + BLOCK;
      const end = dataStart + size + paddingOf(size);
      if (flag === 'x') {
        const records = Buffer.alloc(size);
        readSync(fd, records, 0, size, dataStart);
        pax = paxRecords(records);
        at = end;
        continue;
      }
      const prefix = block.toString('ascii', 257, 262) === 'ustar' ? field(block, 345, 155) : '';
      const name = pax?.get('path') ?? (prefix ? `${prefix}/${field(block, 0, 100)}` : field(block, 0, 100));
      const linkname = pax?.get('linkpath') ?? field(block, 157, 100);
      const type = TYPES[flag] ?? 'other';
      spans.set(name.replace(/\/$/, ''), {
        start,
        dataStart,
        end,
        size,
        mode: octal(block, 100, 8),
        mtime: octal(block, 136, 12),
        type,
        ...(type === 'symlink' ? { linkname } : {}),
      });
      pax = undefined;
      start = -1;
      at = end;
    }
  } finally {
    closeSync(fd);
  }
  return spans;
}
