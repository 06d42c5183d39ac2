// Workspaces in layers (sessions/workspaceLayers.ts), both ways the server
// assembles them: kernel overlayfs and the copy fallback. The sandbox's uid
// sees one ordinary folder, writes through to its own layer only, and a kept
// writable layer (an environment's setup) records the same changes either way.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountPointsUnder } from '../../server/src/sessions/overlayMounts';
import { makeSharedLayer, WorkspaceLayers, type LayeringMode } from '../../server/src/sessions/workspaceLayers';
import { until } from '../helpers/until';

const UID = 60123;
const asRoot = process.getuid?.() === 0;

function listTree(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of execFileSync('ls', ['-A', join(dir, rel)], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)) {
    const path = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(dir, path));
    if (st.isDirectory()) out.push(`${path}/`, ...listTree(dir, path));
    else if (st.isCharacterDevice()) out.push(`${path} (whiteout)`);
    else out.push(`${path} = ${readFileSync(join(dir, path), 'utf8').trim()}`);
  }
  return out.sort();
}

/** Runs a shell command as the sandbox's uid, in `dir`. */
function asSandbox(dir: string, script: string): string {
  return execFileSync('setpriv', ['--reuid', String(UID), '--regid', String(UID), '--clear-groups', 'sh', '-c', script], {
    cwd: dir,
    encoding: 'utf8',
  });
}

const HAS_FUSE_OVERLAYFS = existsSync('/usr/bin/fuse-overlayfs');

for (const mode of ['overlay', 'fuse-overlayfs', 'copy'] as LayeringMode[]) {
  describe(`workspace layers (${mode})`, function () {
    let root: string;
    before(function () {
      if (!asRoot || (mode === 'fuse-overlayfs' && !HAS_FUSE_OVERLAYFS)) this.skip();
      root = mkdtempSync(join(tmpdir(), 'af-layers-'));
      execFileSync('chmod', ['711', root]);
    });
    after(() => {
      if (root) rmSync(root, { recursive: true, force: true });
    });

    async function layered() {
      const snapshot = join(root, 'snapshot');
      const env = join(root, 'env');
      mkdirSync(join(snapshot, 'src'), { recursive: true });
      writeFileSync(join(snapshot, 'src', 'a.js'), 'a1');
      writeFileSync(join(snapshot, 'gone.txt'), 'deleted by the environment');
      writeFileSync(join(snapshot, 'README.md'), 'readme');
      mkdirSync(join(env, 'node_modules', 'dep'), { recursive: true });
      writeFileSync(join(env, 'node_modules', 'dep', 'index.js'), 'dep');
      execFileSync('mknod', [join(env, 'gone.txt'), 'c', '0', '0']);
      for (const l of [snapshot, env]) await makeSharedLayer(l);
      const ws = join(root, 'ws');
      mkdirSync(ws, { mode: 0o700 });
      execFileSync('chown', [`${UID}:${UID}`, ws]);
      return { snapshot, env, ws, layers: new WorkspaceLayers(join(root, 'scratch'), mode) };
    }

    it('showsTheLayersAsOneFolderAndKeepsTheSharedOnesIntact', async () => {
      const { snapshot, env, ws, layers } = await layered();
      const kept = join(root, 'kept');
      assert.equal(await layers.assemble('s1', ws, UID, { lowers: [snapshot, env], keepUpperAt: kept }), mode);
      if (mode === 'copy') execFileSync('chown', ['-R', `${UID}:${UID}`, ws]); // the session's hand-over
      assert.deepEqual(listTree(ws), [
        'README.md = readme',
        'node_modules/',
        'node_modules/dep/',
        'node_modules/dep/index.js = dep',
        'src/',
        'src/a.js = a1',
      ]);
      asSandbox(ws, 'echo a2 > src/a.js && rm README.md && mkdir out && echo o > out/o.txt && cat node_modules/dep/index.js');
      assert.deepEqual(listTree(ws), [
        'node_modules/',
        'node_modules/dep/',
        'node_modules/dep/index.js = dep',
        'out/',
        'out/o.txt = o',
        'src/',
        'src/a.js = a2',
      ]);
      await layers.disassemble(ws);
      // The shared layers are as they were.
      assert.equal(readFileSync(join(snapshot, 'src', 'a.js'), 'utf8'), 'a1');
      assert.ok(existsSync(join(snapshot, 'README.md')));
      // The kept layer is what the session did, whichever way it was assembled.
      assert.deepEqual(
        listTree(kept).filter((e) => e !== 'src/'),
        ['README.md (whiteout)', 'out/', 'out/o.txt = o', 'src/a.js = a2'],
      );
      // And it is now a shared layer: root's, writable through an overlay only.
      assert.equal(lstatSync(join(kept, 'out', 'o.txt')).uid, 0);
      if (mode !== 'copy') assert.ok(!execFileSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' }).includes(ws));
    });

    it('showsAFolderDeletedAndAFileTurnedFolderAsAnOverlayWould', async () => {
      const below = join(root, 'below');
      const above = join(root, 'above');
      mkdirSync(join(below, 'd', 'deep'), { recursive: true });
      writeFileSync(join(below, 'd', 'deep', 'x'), 'x');
      writeFileSync(join(below, 'f'), 'a file');
      writeFileSync(join(below, 'kept'), 'kept');
      mkdirSync(join(above, 'f'), { recursive: true });
      writeFileSync(join(above, 'f', 'g'), 'now inside a folder');
      execFileSync('mknod', [join(above, 'd'), 'c', '0', '0']);
      for (const l of [below, above]) await makeSharedLayer(l);
      const ws = join(root, 'ws-kinds');
      mkdirSync(ws);
      const layers = new WorkspaceLayers(join(root, 'scratch-kinds'), mode);
      await layers.assemble('s3', ws, UID, { lowers: [below, above] });
      assert.deepEqual(listTree(ws), ['f/', 'f/g = now inside a folder', 'kept = kept']);
      await layers.disassemble(ws);
    });

    it('costsNothingPerFileWithOverlayfs', async function () {
      if (mode !== 'overlay') this.skip();
      const many = join(root, 'many');
      mkdirSync(many);
      for (let i = 0; i < 2000; i++) writeFileSync(join(many, `f${i}`), String(i));
      await makeSharedLayer(many);
      const ws = join(root, 'ws-many');
      mkdirSync(ws);
      const layers = new WorkspaceLayers(join(root, 'scratch-many'), mode);
      const t0 = performance.now();
      await layers.assemble('s2', ws, UID, { lowers: [many] });
      const ms = performance.now() - t0;
      assert.equal(readFileSync(join(ws, 'f1999'), 'utf8'), '1999');
      // No file is written: the upper layer is empty until the sandbox writes.
      assert.deepEqual(listTree(join(root, 'scratch-many', 's2', 'upper')), []);
      await layers.disassemble(ws);
      assert.ok(ms < 500, `assembled in ${ms.toFixed(0)} ms`);
    });
  });
}

describe('workspace layers (auto)', () => {
  it('findsOverlayfsWhenTheServerIsRootAndSaysWhyWhenItCopies', async function () {
    if (!asRoot) this.skip();
    const root = mkdtempSync(join(tmpdir(), 'af-layers-auto-'));
    try {
      assert.deepEqual(await new WorkspaceLayers(join(root, 'a')).describe(), { mode: 'overlay' });
      const copy = await new WorkspaceLayers(join(root, 'b'), 'copy').describe();
      assert.equal(copy.mode, 'copy');
      assert.match(copy.note!, /grows with the repository/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('workspace layers: read-only views', () => {
  const mounted = (root: string) => mountPointsUnder(root);

  it('detachesAViewStillOpenWhenTheServerStopsAndUnmountsOneAKilledServerLeft', async function () {
    if (!asRoot) this.skip();
    const root = mkdtempSync(join(tmpdir(), 'af-views-'));
    try {
      // Two layers, as a delta layer's view has (a read-only overlay needs two).
      const lower = join(root, 'lower');
      const delta = join(root, 'delta');
      mkdirSync(lower);
      mkdirSync(delta);
      writeFileSync(join(lower, 'f'), 'kept');
      const layers = new WorkspaceLayers(join(root, 'sessions'));
      // A baseline still being recorded when the server stops: its view must not outlive the process.
      let seen = '';
      const open = layers.view([lower, delta], async (dir) => {
        seen = readFileSync(join(dir, 'f'), 'utf8');
        await new Promise(() => undefined);
      });
      open.catch(() => undefined);
      await until('the view mounted', () => seen === 'kept');
      assert.equal(mounted(join(root, 'sessions')).length, 1);
      await layers.closeViews();
      await assert.rejects(
        layers.view([lower, delta], async () => 'never'),
        /stopping/,
        'no view once stopping',
      );
      assert.deepEqual(mounted(join(root, 'sessions')), []);

      // A killed server's view, left mounted: the next start unmounts it before emptying the folder, and the layer stays whole.
      const left = join(root, 'sessions', '.view-left');
      mkdirSync(left);
      execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${delta}:${lower}`, left]);
      new WorkspaceLayers(join(root, 'sessions')).cleanupLeftovers(join(root, 'workspaces'));
      assert.deepEqual(mounted(join(root, 'sessions')), []);
      assert.equal(existsSync(left), false);
      assert.equal(readFileSync(join(lower, 'f'), 'utf8'), 'kept');
    } finally {
      for (const p of mountPointsUnder(root)) execFileSync('umount', ['-l', p]);
      rmSync(root, { recursive: true, force: true });
    }
  });
});
