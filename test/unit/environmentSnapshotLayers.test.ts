// A snapshot's layer, made once: unpacked whole the first time, and derived
// from the layer of a snapshot much like it (the same workspace after a few
// edits) by hard links and the delta. The derived tree and baseline must be
// exactly what a whole unpack gives, and the earlier layer must not change.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostWorkspaceDiffer } from '../../server/src/runs/hostWorkspaceDiffer';
import { WorkspaceLayers } from '../../server/src/sessions/workspaceLayers';
import { SnapshotLayers } from '../../server/src/snapshots/snapshotLayers';
import { SnapshotStore } from '../../server/src/snapshots/snapshotStore';

const LIMITS = { maxArchiveBytes: 1 << 30, maxUnpackedBytes: 1 << 30, maxFiles: 100_000, maxFileBytes: 1 << 28 };

function listing(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(dir, path));
    if (st.isDirectory()) out.push(`${path}/ ${(st.mode & 0o777).toString(8)}`, ...listing(dir, path));
    else if (st.isSymbolicLink()) out.push(`${path} -> ${readlinkSync(join(dir, path))}`);
    else if (st.isCharacterDevice()) out.push(`${path} (whiteout)`);
    else out.push(`${path} ${(st.mode & 0o777).toString(8)} ${readFileSync(join(dir, path), 'utf8')}`);
  }
  return out;
}

function gitTree(gitDir: string): string {
  return execFileSync('git', [`--git-dir=${gitDir}`, 'rev-parse', 'HEAD^{tree}'], { encoding: 'utf8' }).trim();
}

for (const kind of ['delta layer', 'hard links'] as const)
  describe(`snapshot layers (derived as ${kind})`, function () {
    this.timeout(60_000);
    let root: string;
    let overlays: WorkspaceLayers;
    let store: SnapshotStore;
    const logs: Record<string, unknown>[] = [];

    async function ingest(dir: string): Promise<string> {
      const tar = spawn('tar', ['-C', dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
      return (await store.ingest(tar.stdout!, { gzip: false })).snapshot_id;
    }

    let kept: SnapshotLayers | undefined;
    /** The layers over the store: one set per root, as the server has (two on one root would make the same layers at once). */
    function layers(): SnapshotLayers {
      if (kept) return kept;
      const differ = new HostWorkspaceDiffer();
      kept = new SnapshotLayers(
        join(root, 'layers'),
        store,
        { record: (g, t) => differ.recordSnapshotBaseline(g, t), derive: (g, t, b, c) => differ.deriveSnapshotBaseline(g, t, b, c) },
        (obj, msg) => logs.push({ ...obj, msg }),
        kind === 'delta layer' ? { available: async () => true, open: (lowers, work) => overlays.view(lowers, work) } : undefined,
      );
      return kept;
    }

    /** What the server said when the snapshot's layer was ready. */
    const readyLog = (id: string) => logs.find((l) => l.snapshot_id === id && l.msg === 'snapshot layer ready');

    /** The snapshot as a sandbox would see it: its layers merged (a read-only overlay), or its one tree. */
    async function seen(lowers: string[]): Promise<string[]> {
      if (lowers.length === 1) return listing(lowers[0]);
      return overlays.view(lowers, async (dir) => listing(dir));
    }

    before(() => {
      root = mkdtempSync(join(tmpdir(), 'af-snaplayers-'));
      store = new SnapshotStore(join(root, 'snapshots'), LIMITS);
      overlays = new WorkspaceLayers(join(root, 'views'), 'overlay');
    });
    after(() => rmSync(root, { recursive: true, force: true }));

    it('keepsATreeThatADeltaLayerStandsOnUntilTheDeltaGoes', async function () {
      if (kind !== 'delta layer') this.skip();
      const work = join(root, 'keep');
      mkdirSync(work);
      for (let i = 0; i < 10; i++) writeFileSync(join(work, `k${i}`), `${i}\n`);
      const a = await ingest(work);
      const l = layers();
      const layerA = await l.prepare(a);
      writeFileSync(join(work, 'k0'), 'edited\n');
      const b = await ingest(work);
      const layerB = await l.prepare(b);
      assert.equal(layerB.lowers[0], layerA.lowers[0]);
      store.delete(a);
      assert.ok(existsSync(layerA.lowers[0]), 'the tree stays while b stands on it');
      store.delete(b);
      assert.ok(!existsSync(layerB.lowers[1]));
      assert.ok(!existsSync(layerA.lowers[0]), 'and goes with the last layer over it');
    });

    it('derivesALikeSnapshotsLayerExactlyAsAWholeUnpackWouldMakeIt', async () => {
      const work = join(root, 'work');
      mkdirSync(join(work, 'src', 'deep'), { recursive: true });
      for (let i = 0; i < 20; i++) writeFileSync(join(work, 'src', `f${i}.js`), `file ${i}\n`);
      writeFileSync(join(work, 'src', 'deep', 'gone.js'), 'gone\n');
      writeFileSync(join(work, 'edited.txt'), 'before\n');
      writeFileSync(join(work, 'becomes-dir'), 'a file first\n');
      writeFileSync(join(work, 'run.sh'), '#!/bin/sh\n');
      symlinkSync('src/f1.js', join(work, 'link'));
      writeFileSync(join(work, '.gitignore'), '*.log\n');
      const a = await ingest(work);
      const l = layers();
      const layerA = await l.prepare(a);
      assert.equal(layerA.lowers.length, 1);
      const beforeA = listing(layerA.lowers[0]);
      assert.ok(!('derived_from' in readyLog(a)!));

      writeFileSync(join(work, 'edited.txt'), 'after, longer\n');
      rmSync(join(work, 'src', 'deep'), { recursive: true });
      rmSync(join(work, 'becomes-dir'));
      mkdirSync(join(work, 'becomes-dir'));
      writeFileSync(join(work, 'becomes-dir', 'inner.txt'), 'now a folder\n');
      chmodSync(join(work, 'run.sh'), 0o755);
      rmSync(join(work, 'link'));
      symlinkSync('src/f2.js', join(work, 'link'));
      mkdirSync(join(work, 'new', 'nested'), { recursive: true });
      writeFileSync(join(work, 'new', 'nested', 'added.txt'), 'added\n');
      writeFileSync(join(work, 'new', 'debug.log'), 'in the snapshot, ignored by its baseline\n');
      const b = await ingest(work);
      const layerB = await l.prepare(b);
      const madeB = readyLog(b)!;
      assert.equal(madeB.derived_from, a, JSON.stringify(logs));
      assert.equal(madeB.as, kind);
      assert.equal(layerB.lowers.length, kind === 'delta layer' ? 2 : 1);
      assert.equal(layerB.lowers[0] === layerA.lowers[0], kind === 'delta layer');
      assert.equal(madeB.changed, 6);
      assert.equal(madeB.removed, 2);

      // The same as a whole unpack of b: layers that know no other layer, over a second store on the same
      // folder (on the first, they would also make every later upload's layer and take its staged tree).
      const fresh = new SnapshotLayers(join(root, 'fresh'), new SnapshotStore(join(root, 'snapshots'), LIMITS), {
        record: (g, t) => new HostWorkspaceDiffer().recordSnapshotBaseline(g, t),
        derive: () => Promise.reject(new Error('not here')),
      });
      const whole = await fresh.prepare(b);
      assert.deepEqual(await seen(layerB.lowers), listing(whole.lowers[0]));
      assert.equal(gitTree(layerB.baseline.gitDir), gitTree(whole.baseline.gitDir));
      if (kind === 'hard links') {
        // Unchanged files share their inode with the earlier layer; changed ones do not.
        const [treeA, treeB] = [layerA.lowers[0], layerB.lowers[0]];
        assert.equal(lstatSync(join(treeB, 'src', 'f3.js')).ino, lstatSync(join(treeA, 'src', 'f3.js')).ino);
        assert.notEqual(lstatSync(join(treeB, 'edited.txt')).ino, lstatSync(join(treeA, 'edited.txt')).ino);
      } else {
        // The delta holds what changed and whiteouts for what went, nothing else.
        assert.deepEqual(
          listing(layerB.lowers[1]).filter((e) => !e.endsWith('/ 777')),
          [
            'becomes-dir/inner.txt 666 now a folder\n',
            'edited.txt 666 after, longer\n',
            'link -> src/f2.js',
            'new/debug.log 666 in the snapshot, ignored by its baseline\n',
            'new/nested/added.txt 666 added\n',
            'run.sh 777 #!/bin/sh\n',
            'src/deep (whiteout)',
          ].map((e) => e),
        );
      }
      // And the earlier layer is untouched, its baseline too.
      assert.deepEqual(listing(layerA.lowers[0]), beforeA);
      execFileSync('git', [`--git-dir=${layerA.baseline.gitDir}`, 'fsck', '--no-progress'], { stdio: 'ignore' });
      assert.equal(
        execFileSync('git', [`--git-dir=${layerA.baseline.gitDir}`, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim(),
        layerA.baseline.commit,
      );
    });

    it('unpacksWholeASnapshotUnlikeAnyKeptOne', async () => {
      const other = join(root, 'other');
      mkdirSync(other);
      writeFileSync(join(other, 'only.txt'), 'nothing shared\n');
      const c = await ingest(other);
      await layers().prepare(c);
      const made = readyLog(c);
      assert.ok(made, JSON.stringify(logs));
      assert.ok(!('derived_from' in made));
    });
  });
