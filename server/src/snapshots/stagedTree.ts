// A full upload's tree, unpacked while the upload streams in: the canonical
// archive's bytes, as the validator writes them, go to the archive file and
// to a `tar -x` (the flags a later unpack would use) into
// <layers>/.staging/<id>.partial, outside the snapshot's folder so that
// removing a snapshot never races a tar still writing. Only validated entries ever reach tar, since the
// validator writes nothing else, and the canonical archive never writes
// through a symlink (EntryKinds refuses any entry under one). The copy's
// headers carry the modes a shared layer's files end with (what
// openLayerToAll makes of an unpacked tree: a+rwX), and tar keeps them, so
// no pass over 20,000 files follows. Once tar is done, the tree is renamed
// .staging/<id>; the snapshot's layer adopts it with a rename instead of
// unpacking. A refused upload stops tar before its folder goes. If tar
// fails, the layer is unpacked as before.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Writable } from 'node:stream';
import { BLOCK, paddingOf } from './tarFraming';

/**
 * As a later unpack (SnapshotStore.extractTo) but for the modes: the
 * server's own files, folders' times set last, and the modes of the
 * archive as they are (no umask: tar runs under umask 000, so folders the
 * archive does not list are 0777 too).
 */
const TAR_FLAGS = ['--no-same-owner', '--same-permissions', '--delay-directory-restore'];
/** The folder beside the snapshot layers where their trees are made: <id>.partial while tar works, <id> once whole. */
export const STAGING_DIR = '.staging';
/**
 * How far the upload may run ahead of tar, in bytes held for it: creating
 * files is tar's whole cost (half a millisecond each on a busy disk), so it
 * often lags; within this much, the validator and tar work side by side
 * instead of in turns, and past it the upload waits for tar. What tar has
 * left at the 201 is what a run created then waits for: at 32 MB that was
 * 0.9 to 2 s under load, hence 8.
 */
const AHEAD_BYTES = 8 * 1024 * 1024;
/** What tar may say before it fails, kept for the log. */
const MAX_STDERR = 4096;

/** One upload's tree in the making. */
export class TreeStaging {
  private readonly tar: ChildProcess;
  private readonly exited: Promise<{ ok: boolean; why: string }>;
  private readonly partial: string;
  private readonly staged: string;

  constructor(
    stagingDir: string,
    private readonly id: string,
  ) {
    this.partial = join(stagingDir, `${id}.partial`);
    this.staged = join(stagingDir, id);
    mkdirSync(this.partial, { mode: 0o700 });
    const args = ['-x', '-f', '-', '-C', this.partial, ...TAR_FLAGS];
    this.tar = spawn('sh', ['-c', 'umask 000 && exec tar "$@"', 'tar', ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    this.tar.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < MAX_STDERR) stderr += d.toString();
    });
    // A tar that died early closes its stdin: the copy stops, the upload goes on.
    this.tar.stdin!.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.tar.once('error', (e) => resolve({ ok: false, why: e.message }));
      this.tar.once('close', (code, signal) => resolve({ ok: code === 0, why: `tar exited ${signal ?? code}: ${stderr.trim()}` }));
    });
  }

  /** Where the canonical archive's bytes are copied to as they are written (tar sets the pace once AHEAD_BYTES behind). */
  copier(): Transform {
    const toTar = sharedLayerModes();
    toTar.pipe(this.tar.stdin!);
    // A tar that is gone takes no more: the copy stops there, the upload goes on.
    const stop = () => toTar.destroy();
    this.tar.stdin!.once('close', stop);
    this.tar.once('close', stop);
    return copyTo(toTar, AHEAD_BYTES);
  }

  /**
   * After the archive is whole: waits for tar and names the tree staged
   * (root's files, writable by everyone, the top folder root's alone).
   * Throws (and leaves nothing) when it fails.
   */
  async finish(): Promise<string> {
    const { ok, why } = await this.exited;
    try {
      if (!ok) throw new Error(why);
      chmodSync(this.partial, 0o700);
      renameSync(this.partial, this.staged);
      return this.staged;
    } catch (e) {
      rmSync(this.partial, { recursive: true, force: true });
      throw e;
    }
  }

  /** A refused upload: tar is stopped, and gone, before anything removes its folder. */
  async abort(): Promise<void> {
    this.tar.kill('SIGKILL');
    await this.exited;
    rmSync(this.partial, { recursive: true, force: true });
  }
}

/**
 * Passes every chunk on and writes it to `side` too. Past `ahead` bytes
 * that `side` has not taken, waits until it is down to half of that (a
 * drain would wait for none left, and the two would take turns). Once
 * `side` is closed or failed, chunks only pass on.
 */
function copyTo(side: Writable, ahead: number): Transform {
  let open = true;
  let held = 0;
  let waiting: (() => void) | undefined;
  const resume = () => {
    const go = waiting;
    waiting = undefined;
    go?.();
  };
  const closed = () => {
    open = false;
    resume();
  };
  side.on('error', closed);
  side.once('close', closed);
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (!open) return done(null, chunk);
      held += chunk.length;
      side.write(chunk, () => {
        held -= chunk.length;
        if (held <= ahead / 2) resume();
      });
      if (held <= ahead) return done(null, chunk);
      waiting = () => done(null, chunk);
    },
    flush(done) {
      if (open) side.end();
      done();
    },
  });
}

/**
 * The canonical archive with each file's and folder's mode as a shared
 * layer has it: 0777 for folders and executables, 0666 for other files
 * (symlinks and pax records as they are). It follows the framing: a
 * header, then its content padded to a block.
 */
function sharedLayerModes(): Transform {
  const header = Buffer.alloc(BLOCK);
  let filled = 0;
  let skip = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const out: Buffer[] = [];
      let pos = 0;
      while (pos < chunk.length) {
        if (skip > 0) {
          const n = Math.min(skip, chunk.length - pos);
          out.push(chunk.subarray(pos, pos + n));
          pos += n;
          skip -= n;
          continue;
        }
        const n = Math.min(BLOCK - filled, chunk.length - pos);
        chunk.copy(header, filled, pos, pos + n);
        filled += n;
        pos += n;
        if (filled < BLOCK) break;
        filled = 0;
        const size = openToAll(header);
        skip = size + paddingOf(size);
        out.push(Buffer.from(header));
      }
      done(null, out.length ? Buffer.concat(out) : undefined);
    },
    flush(done) {
      done(null, filled ? header.subarray(0, filled) : undefined);
    },
  });
}

/** Sets a file's or folder's mode in a ustar header (and its checksum); the size of the content that follows. */
function openToAll(h: Buffer): number {
  if (h[0] === 0) return 0; // an end-of-archive block
  const type = h[156];
  const size = numberAt(h, 124, 12);
  const isDir = type === 0x35; // '5'
  if (!isDir && type !== 0x30 && type !== 0) return size; // symlinks and pax records keep theirs
  const mode = isDir || numberAt(h, 100, 8) & 0o111 ? 0o777 : 0o666;
  h.write(`${mode.toString(8).padStart(7, '0')}\0`, 100, 'ascii');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return size;
}

/** An octal header field (or base-256, its first bit set). */
function numberAt(h: Buffer, offset: number, length: number): number {
  if (h[offset] & 0x80) {
    let n = 0;
    for (let i = offset + 1; i < offset + length; i++) n = n * 256 + h[i];
    return n;
  }
  const digits = /^ *([0-7]*)/.exec(h.toString('ascii', offset, offset + length))![1];
  return digits ? parseInt(digits, 8) : 0;
}
