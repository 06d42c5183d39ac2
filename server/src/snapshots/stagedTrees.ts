// The trees unpacked during full uploads (stagedTree.ts), from the upload
// until the snapshot's layer takes them: where they are made, what an
// earlier process left there, and how many bytes they hold until taken
// (the snapshot cap counts them).
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { SnapshotManifestEntry } from './canonicalArchive';
import { TreeStaging } from './stagedTree';

export class StagedTrees {
  /** Where full uploads are unpacked while they stream in, once asked to (stageIn). */
  private dir?: string;
  /** Trees unpacked during an upload, until their layer takes them: where, once tar is done, and their files' bytes. */
  private readonly staged = new Map<string, { tree: Promise<string>; bytes: number }>();

  /** @param uploading whether a snapshot's upload is under way (its partial tree is not a leftover). */
  constructor(private readonly uploading: (id: string) => boolean) {}

  /**
   * From now on a full upload is also unpacked while it streams in, into
   * `dir` (on the file system of the layers that adopt the trees: take).
   * What an earlier process left there goes: whole or not, nothing is
   * waiting for it.
   */
  stageIn(dir: string): void {
    this.dir = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(dir)) {
      if (!this.staged.has(name) && !this.uploading(name.replace(/\.partial$/, '')))
        rmSync(join(dir, name), { recursive: true, force: true });
    }
  }

  /** The unpacking of a new upload's tree, or undefined when uploads are not staged. */
  start(id: string): TreeStaging | undefined {
    return this.dir ? new TreeStaging(this.dir, id) : undefined;
  }

  /** The tree unpacked during an accepted upload, kept until its layer takes it (tar may still be finishing after the 201). */
  keep(id: string, staging: TreeStaging, manifest: readonly SnapshotManifestEntry[]): void {
    const tree = staging.finish();
    tree.catch(() => undefined); // the layer unpacks the archive instead
    this.staged.set(id, { tree, bytes: manifest.reduce((n, e) => n + e.size, 0) });
  }

  /**
   * Moves the tree unpacked during the snapshot's upload to `dest` (a path
   * on the same file system, not there yet), once tar is done; false when
   * there is none to move (the caller unpacks the archive).
   */
  async take(id: string, dest: string): Promise<boolean> {
    const staged = this.staged.get(id);
    if (!staged) return false;
    let tree: string;
    try {
      tree = await staged.tree;
    } catch {
      return false;
    } finally {
      this.staged.delete(id);
    }
    try {
      renameSync(tree, dest);
      return true;
    } catch {
      rmSync(tree, { recursive: true, force: true }); // another file system, or the snapshot went meanwhile
      return false;
    }
  }

  /** Removes the snapshot's staged tree, once tar is done (its layer was made another way, or its snapshot went). */
  drop(id: string): void {
    const staged = this.staged.get(id);
    if (!staged) return;
    this.staged.delete(id);
    staged.tree.then(
      (tree) => rmSync(tree, { recursive: true, force: true }),
      () => undefined,
    );
  }

  /** The bytes of the trees staged and not yet taken by a layer. */
  bytes(): number {
    let n = 0;
    for (const s of this.staged.values()) n += s.bytes;
    return n;
  }
}
