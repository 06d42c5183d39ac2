// A full upload's tree, unpacked while the upload streams in: the canonical
// archive's bytes, as the validator writes them, go to the archive file and
// to a `tar -x` (the flags a later unpack would use) into
// <snapshot>/tree.partial. Only validated entries ever reach tar, since the
// validator writes nothing else, and the canonical archive never writes
// through a symlink (EntryKinds refuses any entry under one). Once tar is
// done, the tree is opened as a shared layer is and renamed tree.staged; the
// snapshot's layer adopts it with a rename instead of unpacking. A refused
// upload stops tar before its folder goes. If tar fails, the layer is
// unpacked as before.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Writable } from 'node:stream';
import { openLayerToAll } from '../sessions/layerTrees';

/** How GNU tar unpacks a canonical archive: as the server's own files, modes from the archive under the umask, folders' times set last. */
export const TAR_EXTRACT_FLAGS = ['--no-same-owner', '--no-same-permissions', '--delay-directory-restore'];
export const PARTIAL_TREE = 'tree.partial';
export const STAGED_TREE = 'tree.staged';
/**
 * How far the upload may run ahead of tar, in bytes held for it: creating
 * files is tar's whole cost (half a millisecond each on a busy disk), so it
 * often lags; within this much, the validator and tar work side by side
 * instead of in turns, and past it the upload waits for tar.
 */
const AHEAD_BYTES = 32 * 1024 * 1024;
/** What tar may say before it fails, kept for the log. */
const MAX_STDERR = 4096;

/** One upload's tree in the making. */
export class TreeStaging {
  private readonly tar: ChildProcess;
  private readonly exited: Promise<{ ok: boolean; why: string }>;
  private readonly partial: string;

  constructor(private readonly snapshotDir: string) {
    this.partial = join(snapshotDir, PARTIAL_TREE);
    mkdirSync(this.partial, { mode: 0o700 });
    this.tar = spawn('tar', ['-x', '-f', '-', '-C', this.partial, ...TAR_EXTRACT_FLAGS], { stdio: ['pipe', 'ignore', 'pipe'] });
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
    return copyTo(this.tar.stdin!, AHEAD_BYTES);
  }

  /**
   * After the archive is whole: waits for tar, makes the tree a shared
   * layer's (root's files, writable by everyone, the top folder root's
   * alone) and names it staged. Throws (and leaves nothing) when it fails.
   */
  async finish(): Promise<string> {
    const { ok, why } = await this.exited;
    try {
      if (!ok) throw new Error(why);
      await openLayerToAll(this.partial);
      chmodSync(this.partial, 0o700);
      const staged = join(this.snapshotDir, STAGED_TREE);
      renameSync(this.partial, staged);
      return staged;
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
