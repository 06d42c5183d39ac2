// A full upload unpacked while it streams in: the layer that adopts that
// tree must be exactly what unpacking the canonical archive gives (files,
// folders, symlinks, modes, owners, mtimes), a refused upload must leave
// nothing (and no tar behind), the snapshot cap counts a staged tree until a
// layer takes it, and what a crash left staged goes at the next start.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { HostWorkspaceDiffer } from '../../server/src/runs/hostWorkspaceDiffer';
import { SnapshotJanitor } from '../../server/src/snapshots/snapshotJanitor';
import { SnapshotLayers } from '../../server/src/snapshots/snapshotLayers';
import { SnapshotError, SnapshotStore } from '../../server/src/snapshots/snapshotStore';
import { STAGING_DIR } from '../../server/src/snapshots/stagedTree';
import { childrenNamed } from '../helpers/childProcesses';

const LIMITS = { maxArchiveBytes: 1 << 30, maxUnpackedBytes: 1 << 30, maxFiles: 100_000, maxFileBytes: 1 << 28 };

/** Every entry below `dir` with what a sandbox could tell apart: type, mode, owner, size, mtime, content or target. */
function describeTree(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(dir, path));
    const head = `${path} ${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} mtime=${st.mtimeMs}`;
    if (st.isDirectory()) out.push(head, ...describeTree(dir, path));
    else if (st.isSymbolicLink()) out.push(`${head} -> ${readlinkSync(join(dir, path))}`);
    else out.push(`${head} size=${st.size} ${readFileSync(join(dir, path)).toString('base64').slice(0, 64)}`);
  }
  return out;
}

function gitTree(b: { gitDir: string; commit: string }): string {
  return execFileSync('git', [`--git-dir=${b.gitDir}`, 'rev-parse', `${b.commit}^{tree}`], { encoding: 'utf8' }).trim();
}

describe('snapshot trees unpacked during the upload', function () {
  this.timeout(120_000);
  let root: string;
  let store: SnapshotStore;
  const logs: Array<Record<string, unknown>> = [];

  function layers(dir: string): SnapshotLayers {
    const differ = new HostWorkspaceDiffer();
    return new SnapshotLayers(
      join(root, dir),
      store,
      { record: (g, t) => differ.recordSnapshotBaseline(g, t), derive: (g, t, b, c) => differ.deriveSnapshotBaseline(g, t, b, c) },
      (obj) => logs.push(obj),
    );
  }

  async function ingestDir(dir: string, gzip = false): Promise<string> {
    const tar = spawn('tar', ['-C', dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const body = gzip ? tar.stdout!.pipe(createGzip()) : tar.stdout!;
    return (await store.ingest(body, { gzip })).snapshot_id;
  }

  /** A workspace with what a tar can carry differently: modes, folder and symlink times, long names, big and empty files, links. */
  function workspace(): string {
    const ws = mkdtempSync(join(tmpdir(), 'af-staged-ws-'));
    const t = (s: number) => new Date(Date.UTC(2024, 0, 1) + s * 1000);
    mkdirSync(join(ws, 'src/deep/er'), { recursive: true });
    mkdirSync(join(ws, 'empty'));
    writeFileSync(join(ws, 'src/a.txt'), 'hello');
    writeFileSync(join(ws, 'src/run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    writeFileSync(join(ws, 'src/private.txt'), 'mine', { mode: 0o600 });
    writeFileSync(join(ws, 'src/exec-only-owner'), 'x', { mode: 0o700 });
    writeFileSync(join(ws, 'src/deep/er/empty.txt'), '');
    writeFileSync(join(ws, 'big.bin'), Buffer.alloc(300 * 1024, 7)); // past the one-buffer size: streamed
    const long = `${'n'.repeat(120)}/${'m'.repeat(140)}.txt`; // a pax or GNU long name
    mkdirSync(join(ws, long, '..'), { recursive: true });
    writeFileSync(join(ws, long), 'long');
    for (let i = 0; i < 300; i++) writeFileSync(join(ws, 'src/deep', `f${i}.txt`), `file ${i}`);
    symlinkSync('src/a.txt', join(ws, 'link'));
    symlinkSync('../..', join(ws, 'src/deep/up'));
    symlinkSync('missing', join(ws, 'dangling'));
    symlinkSync('src', join(ws, 'srcdir'));
    let s = 0;
    const stamp = (rel: string) => utimesSync(join(ws, rel), t(++s), t(s));
    for (const rel of ['src/a.txt', 'src/run.sh', 'src/private.txt', 'big.bin', long]) stamp(rel);
    for (const rel of ['link', 'dangling', 'src/deep/up', 'srcdir']) lutimesSync(join(ws, rel), t(++s), t(s));
    // Folders last: writing in them moved their times.
    for (const rel of ['src/deep/er', 'src/deep', 'src', 'empty', long.split('/')[0]]) stamp(rel);
    return ws;
  }

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'af-staged-'));
    store = new SnapshotStore(join(root, 'snapshots'), LIMITS);
    logs.length = 0;
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  for (const gzip of [false, true])
    it(`adoptedTreeIsWhatUnpackingTheArchiveGives${gzip ? 'FromAGzipUpload' : ''}`, async () => {
      const ws = workspace();
      try {
        const staged = layers('staged'); // turns staging on
        const id = await ingestDir(ws, gzip);
        const adopted = await staged.prepare(id);
        assert.ok(
          logs.some((l) => l.snapshot_id === id && l.tree === 'unpacked during the upload'),
          'the layer adopted the tree unpacked during the upload',
        );
        // A second set of layers on the same store finds nothing staged: it unpacks the canonical archive, as before.
        const unpacked = await layers('unpacked').prepare(id);
        assert.ok(logs.some((l) => l.snapshot_id === id && l.tree === 'unpacked now'));
        const a = describeTree(adopted.lowers[0]);
        const b = describeTree(unpacked.lowers[0]);
        assert.ok(a.length > 300, 'the whole workspace is there');
        assert.deepEqual(a, b);
        const top = (p: string) => lstatSync(p).mode & 0o7777;
        assert.equal(top(adopted.lowers[0]), top(unpacked.lowers[0]));
        assert.equal(top(adopted.lowers[0]), 0o700, 'only root enters the tree');
        // What a sandbox sees through its overlay: files writable by everyone, as a shared layer's are.
        assert.match(
          a.find((l) => l.startsWith('src/private.txt '))!,
          / 100000 666 /,
        );
        assert.match(
          a.find((l) => l.startsWith('src/run.sh '))!,
          / 100000 777 /,
        );
        assert.equal(gitTree(adopted.baseline), gitTree(unpacked.baseline), 'the same baseline');
        assert.deepEqual(readdirSync(join(root, 'snapshots', id)).sort(), ['info.json', 'manifest.json', 'snapshot.tar']);
        assert.equal(store.stagedTreeBytes(), 0);
      } finally {
        rmSync(ws, { recursive: true, force: true });
      }
    });

  it('refusedUploadLeavesNothingStagedAndNoTar', async () => {
    layers('layers');
    // Hundreds of good entries reach tar before the refusal: a link that leads out, judged once all links are known.
    const p = pack();
    for (let i = 0; i < 400; i++) p.entry({ name: `d/f${i}.txt` }, Buffer.alloc(2000, i));
    p.entry({ name: 'd/out', type: 'symlink', linkname: '../..' });
    p.finalize();
    const chunks: Buffer[] = [];
    for await (const c of p) chunks.push(c as Buffer);
    await assert.rejects(store.ingest(Readable.from([Buffer.concat(chunks)]), { gzip: false }), SnapshotError);
    assert.deepEqual(readdirSync(join(root, 'snapshots')), [], 'no snapshot folder');
    assert.deepEqual(readdirSync(join(root, 'layers', STAGING_DIR)), [], 'no staged tree');
    assert.deepEqual(childrenNamed('tar'), [], 'no tar left running');
    assert.equal(store.stagedTreeBytes(), 0);
  });

  it('stagedTreeCountsInTheCapUntilItsLayerTakesIt', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'af-staged-ws-'));
    try {
      for (let i = 0; i < 50; i++) writeFileSync(join(ws, `f${i}`), Buffer.alloc(10_000, i));
      const made = layers('layers');
      const janitor = new SnapshotJanitor({
        store,
        runs: () => [],
        retention: { retentionDays: 30, unreferencedMinutes: 60, maxTotalBytes: 1 << 40 },
        log: () => undefined,
      });
      const kept = () => store.list().reduce((n, s) => n + s.diskBytes, 0);
      const id = await ingestDir(ws);
      assert.equal(store.stagedTreeBytes(), 500_000);
      assert.equal(janitor.totalBytes(), kept() + 500_000);
      await made.prepare(id);
      assert.equal(store.stagedTreeBytes(), 0, 'the layer took it (and measures it as its own)');
      assert.equal(janitor.totalBytes(), kept());
    } finally {
      rmSync(ws, { recursive: true, force: true });
    }
  });

  it('deletedSnapshotTakesItsStagedTreeAlong', async () => {
    const ws = workspace();
    try {
      layers('layers');
      const id = await ingestDir(ws);
      store.delete(id);
      assert.equal(store.stagedTreeBytes(), 0);
      assert.ok(!existsSync(join(root, 'snapshots', id)));
      // Once tar is done, its tree goes too.
      const staging = join(root, 'layers', STAGING_DIR);
      for (let i = 0; i < 300 && (childrenNamed('tar').length > 0 || readdirSync(staging).length > 0); i++)
        await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(childrenNamed('tar'), []);
      assert.deepEqual(readdirSync(staging), []);
    } finally {
      rmSync(ws, { recursive: true, force: true });
    }
  });

  it('whatACrashLeftStagedGoesAtTheNextStart', async () => {
    const ws = workspace();
    try {
      // An earlier process: the snapshot was stored, its tree half unpacked (or whole) when it stopped.
      const id = await ingestDir(ws);
      for (const name of [`${id}.partial`, id]) {
        mkdirSync(join(root, 'layers', STAGING_DIR, name, 'sub'), { recursive: true });
        writeFileSync(join(root, 'layers', STAGING_DIR, name, 'sub', 'x'), 'left over');
      }
      const restarted = layers('layers');
      assert.deepEqual(readdirSync(join(root, 'layers', STAGING_DIR)), []);
      const layer = await restarted.prepare(id);
      assert.ok(
        logs.some((l) => l.snapshot_id === id && l.tree === 'unpacked now'),
        'nothing staged: unpacked from the archive',
      );
      assert.ok(!existsSync(join(layer.lowers[0], 'sub')));
    } finally {
      rmSync(ws, { recursive: true, force: true });
    }
  });
});
