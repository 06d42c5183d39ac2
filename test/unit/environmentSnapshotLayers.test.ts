// A snapshot's layer, made once: unpacked whole the first time, and derived
// from the layer of a snapshot much like it (the same workspace after a few
// edits) by hard links and the delta. The derived tree and baseline must be
// exactly what a whole unpack gives, and the earlier layer must not change.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
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
    else out.push(`${path} ${(st.mode & 0o777).toString(8)} ${readFileSync(join(dir, path), 'utf8')}`);
  }
  return out;
}

function gitTree(gitDir: string): string {
  return execFileSync('git', [`--git-dir=${gitDir}`, 'rev-parse', 'HEAD^{tree}'], { encoding: 'utf8' }).trim();
}

describe('snapshot layers', function () {
  this.timeout(60_000);
  let root: string;
  let store: SnapshotStore;
  const logs: Record<string, unknown>[] = [];

  async function ingest(dir: string): Promise<string> {
    const tar = spawn('tar', ['-C', dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    return (await store.ingest(tar.stdout!, { gzip: false })).snapshot_id;
  }

  function layers(): SnapshotLayers {
    const differ = new HostWorkspaceDiffer();
    return new SnapshotLayers(
      join(root, 'layers'),
      store,
      { record: (g, t) => differ.recordSnapshotBaseline(g, t), derive: (g, t, b) => differ.deriveSnapshotBaseline(g, t, b) },
      (obj) => logs.push(obj),
    );
  }

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'af-snaplayers-'));
    store = new SnapshotStore(join(root, 'snapshots'), LIMITS);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('derivesALikeSnapshotsLayerExactlyAsAWholeUnpackWouldMakeIt', async () => {
    const work = join(root, 'work');
    mkdirSync(join(work, 'src', 'deep'), { recursive: true });
    for (let i = 0; i < 20; i++) writeFileSync(join(work, 'src', `f${i}.js`), `file ${i}\n`);
    writeFileSync(join(work, 'src', 'deep', 'gone.js'), 'gone\n');
    writeFileSync(join(work, 'edited.txt'), 'before\n');
    writeFileSync(join(work, 'becomes-dir'), 'a file first\n');
    writeFileSync(join(work, 'run.sh'), '#!/bin/sh\n');
    symlinkSync('src/f1.js', join(work, 'link'));
    const a = await ingest(work);
    const l = layers();
    const layerA = await l.prepare(a);
    const beforeA = listing(layerA.tree);
    assert.ok(!('derived_from' in logs[0]));

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
    const b = await ingest(work);
    const layerB = await l.prepare(b);
    assert.equal(logs[1].derived_from, a, JSON.stringify(logs));
    assert.equal(logs[1].changed, 5);
    assert.equal(logs[1].removed, 2);

    // The same as a whole unpack of b (a second store that knows no other layer).
    const fresh = new SnapshotLayers(join(root, 'fresh'), store, {
      record: (g, t) => new HostWorkspaceDiffer().recordSnapshotBaseline(g, t),
      derive: () => Promise.reject(new Error('not here')),
    });
    const whole = await fresh.prepare(b);
    assert.deepEqual(listing(layerB.tree), listing(whole.tree));
    assert.equal(gitTree(layerB.baseline.gitDir), gitTree(whole.baseline.gitDir));
    // Unchanged files share their inode with the earlier layer; changed ones do not.
    assert.equal(lstatSync(join(layerB.tree, 'src', 'f3.js')).ino, lstatSync(join(layerA.tree, 'src', 'f3.js')).ino);
    assert.notEqual(lstatSync(join(layerB.tree, 'edited.txt')).ino, lstatSync(join(layerA.tree, 'edited.txt')).ino);
    // And the earlier layer is untouched, its baseline too.
    assert.deepEqual(listing(layerA.tree), beforeA);
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
    const last = logs[logs.length - 1];
    assert.equal(last.snapshot_id, c);
    assert.ok(!('derived_from' in last));
  });
});
