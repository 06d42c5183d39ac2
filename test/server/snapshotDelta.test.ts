// Incremental snapshots in the store: a plan of hashes, an upload of only the
// missing contents, and an archive that is byte for byte the one a full upload
// of the same files gives. Hostile plans and uploads are refused and leave
// nothing behind.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import type { SnapshotPlanFile } from '@astraforge/contract/snapshotDelta';
import { HostWorkspaceDiffer } from '../../server/src/runs/hostWorkspaceDiffer';
import { SnapshotLayers } from '../../server/src/snapshots/snapshotLayers';
import { PlanRegistry } from '../../server/src/snapshots/snapshotPlans';
import { SnapshotError, SnapshotStore } from '../../server/src/snapshots/snapshotStore';

const MiB = 1024 * 1024;
const LIMITS = { maxArchiveBytes: 64 * MiB, maxUnpackedBytes: 64 * MiB, maxFiles: 500, maxFileBytes: 8 * MiB };

interface TreeEntry {
  path: string;
  content?: Buffer;
  link?: string;
  mode?: number;
  mtime?: number;
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A workspace as the extension would list it: files of every size, a long non-ASCII path, an executable, a symlink. */
function workspace(): TreeEntry[] {
  const out: TreeEntry[] = [];
  for (let i = 0; i < 60; i++)
    out.push({ path: `src/d${i % 7}/f${i}.txt`, content: Buffer.from(`file ${i}\n`.repeat(i * 37 + 1)), mtime: 1_700_000_000 + i });
  out.push({ path: `deep/${'ü'.repeat(60)}/${'n'.repeat(120)}.bin`, content: Buffer.alloc(300_000, 7), mtime: 1_700_000_100 });
  out.push({ path: 'run.sh', content: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755, mtime: 1_700_000_200 });
  out.push({ path: 'empty.txt', content: Buffer.alloc(0), mtime: 1_700_000_300 });
  out.push({ path: 'copy-of-f1.txt', content: Buffer.from(`file 1\n`.repeat(38)), mtime: 1_700_000_400 });
  out.push({ path: 'link', link: 'src/d1/f1.txt', mtime: 1_700_000_500 });
  return out;
}

/** The full upload of a tree, as the extension packs it (no folder entries). */
function fullTar(tree: TreeEntry[]): Promise<Buffer> {
  const p = pack();
  for (const e of tree) {
    const mtime = new Date((e.mtime ?? 0) * 1000);
    if (e.link) p.entry({ name: e.path, type: 'symlink', linkname: e.link, mode: 0o777, mtime });
    else p.entry({ name: e.path, type: 'file', mode: e.mode ?? 0o644, mtime }, e.content!);
  }
  p.finalize();
  return collect(p as unknown as AsyncIterable<Buffer>);
}

async function collect(s: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

function planOf(tree: TreeEntry[]): SnapshotPlanFile[] {
  return tree.map((e) =>
    e.link
      ? { path: e.path, type: 'symlink', mode: 0o777, size: 0, sha256: sha(e.link), mtime: e.mtime ?? 0, link_target: e.link }
      : { path: e.path, type: 'file', mode: e.mode ?? 0o644, size: e.content!.length, sha256: sha(e.content!), mtime: e.mtime ?? 0 },
  );
}

/** The tar of the contents a plan is missing, each named by its hash. */
function contentsTar(tree: TreeEntry[], missing: string[]): Promise<Buffer> {
  const p = pack();
  const byHash = new Map(tree.filter((e) => e.content).map((e) => [sha(e.content!), e.content!]));
  for (const h of missing) p.entry({ name: h, type: 'file', mode: 0o644 }, byHash.get(h)!);
  p.finalize();
  return collect(p as unknown as AsyncIterable<Buffer>);
}

/** Every entry of an unpacked tree: kind, and for files and links their mode, mtime and content (folders: only that they are there). */
function listing(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(dir, path));
    if (st.isDirectory()) out.push(`dir ${path}`, ...listing(dir, path));
    else if (st.isSymbolicLink()) out.push(`link ${path} -> ${readlinkSync(join(dir, path))}`);
    else out.push(`file ${path} ${(st.mode & 0o777).toString(8)} ${Math.floor(st.mtimeMs / 1000)} ${sha(readFileSync(join(dir, path)))}`);
  }
  return out;
}

describe('incremental snapshots (store)', () => {
  let root: string;
  let store: SnapshotStore;
  let peer: SnapshotStore;
  const dirOf = (s: 'store' | 'peer') => join(root, s);
  const archive = (s: 'store' | 'peer', id: string) => readFileSync(join(dirOf(s), id, 'snapshot.tar'));
  const manifestJson = (s: 'store' | 'peer', id: string) => readFileSync(join(dirOf(s), id, 'manifest.json'), 'utf8');

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'af-snapdelta-'));
    store = new SnapshotStore(dirOf('store'), LIMITS);
    peer = new SnapshotStore(dirOf('peer'), LIMITS);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  /** The tree a snapshot unpacks to. */
  async function unpacked(s: SnapshotStore, id: string): Promise<string[]> {
    const dir = mkdtempSync(join(root, 'x-'));
    await s.extractTo(id, dir);
    return listing(dir);
  }
  const isDelta = (id: string) => readdirSync(join(dirOf('store'), id)).includes('delta.json');

  async function delta(tree: TreeEntry[], base?: string) {
    const plan = store.plan({ files: planOf(tree), ...(base ? { base_snapshot_id: base } : {}) });
    const info = await store.ingestPlanned(plan.plan_id, Readable.from([await contentsTar(tree, plan.missing)]), { gzip: false });
    return { plan, info };
  }

  async function refusedPlan(files: SnapshotPlanFile[], pattern: RegExp) {
    assert.throws(
      () => store.plan({ files }),
      (e: unknown) => e instanceof SnapshotError && pattern.test((e as Error).message),
    );
  }

  async function refusedUpload(planId: string, body: Buffer, pattern: RegExp) {
    const before = readdirSync(dirOf('store'));
    await assert.rejects(
      store.ingestPlanned(planId, Readable.from([body]), { gzip: false }),
      (e: unknown) => e instanceof SnapshotError && pattern.test((e as Error).message),
    );
    assert.deepEqual(readdirSync(dirOf('store')), before, 'nothing of a refused upload is kept');
  }

  it('assemblesFromUploadedContentsTheArchiveAFullUploadGives', async () => {
    const tree = workspace();
    const full = await peer.ingest(Readable.from([await fullTar(tree)]), { gzip: false });
    const { plan, info } = await delta(tree);
    // nothing held yet: every distinct content is asked for once (f1 and its copy share one)
    assert.equal(plan.missing.length, new Set(tree.filter((e) => e.content).map((e) => sha(e.content!))).size);
    assert.equal(plan.missing.length, tree.length - 2);
    assert.deepEqual({ ...info, snapshot_id: '' }, { ...full, snapshot_id: '' });
    assert.equal(manifestJson('store', info.snapshot_id), manifestJson('peer', full.snapshot_id));
    assert.ok(archive('store', info.snapshot_id).equals(archive('peer', full.snapshot_id)), 'the same archive, byte for byte');
  });

  it('aOneFileEditUploadsOneContentAndKeepsOnlyThatAsADeltaThatUnpacksAsTheFullUpload', async () => {
    const tree = workspace();
    const first = await store.ingest(Readable.from([await fullTar(tree)]), { gzip: false });
    const edited = tree.map((e) => (e.path === 'src/d3/f10.txt' ? { ...e, content: Buffer.from('edited\n'), mtime: 1_800_000_000 } : e));
    const { plan, info } = await delta(edited, first.snapshot_id);
    assert.deepEqual(plan.missing, [sha('edited\n')]);
    assert.equal(plan.missing_bytes, 7);
    const full = await peer.ingest(Readable.from([await fullTar(edited)]), { gzip: false });
    assert.deepEqual({ ...info, snapshot_id: '' }, { ...full, snapshot_id: '' });
    assert.equal(manifestJson('store', info.snapshot_id), manifestJson('peer', full.snapshot_id));
    assert.ok(isDelta(info.snapshot_id), 'kept as a delta over the first');
    assert.equal(archive('store', info.snapshot_id).length, 2048, 'its own archive holds the one changed entry');
    assert.deepEqual(await unpacked(store, info.snapshot_id), await unpacked(peer, full.snapshot_id));
    const files = await store.readFiles(info.snapshot_id, ['src/d3/f10.txt', 'run.sh', 'link', 'src/d0/f7.txt'], MiB);
    assert.equal(files.get('src/d3/f10.txt')?.toString(), 'edited\n');
    assert.equal(files.get('run.sh')?.toString(), '#!/bin/sh\necho hi\n');
    assert.equal(files.get('src/d0/f7.txt')?.toString(), 'file 7\n'.repeat(7 * 37 + 1));
    assert.equal(files.get('link'), undefined, 'a symlink is not a file');

    // the first snapshot goes (the janitor's rules): the delta keeps its base archive
    store.delete(first.snapshot_id);
    assert.deepEqual(await unpacked(store, info.snapshot_id), await unpacked(peer, full.snapshot_id));

    // and again over the delta: a move, a removal, a mode and an mtime change, a content seen before
    const again = edited
      .filter((e) => e.path !== 'src/d0/f7.txt')
      .map((e) => (e.path === 'src/d1/f8.txt' ? { ...e, path: 'moved/f8.txt' } : e))
      .map((e) => (e.path === 'src/d2/f9.txt' ? { ...e, mode: 0o755 } : e.path === 'src/d4/f11.txt' ? { ...e, mtime: 1 } : e))
      .map((e) => (e.path === 'src/d5/f12.txt' ? { ...e, content: Buffer.from(`file 3\n`.repeat(3 * 37 + 1)) } : e));
    const second = await delta(again, info.snapshot_id);
    assert.deepEqual(second.plan.missing, []);
    assert.ok(isDelta(second.info.snapshot_id));
    const fullAgain = await peer.ingest(Readable.from([await fullTar(again)]), { gzip: false });
    assert.equal(manifestJson('store', second.info.snapshot_id), manifestJson('peer', fullAgain.snapshot_id));
    assert.deepEqual(await unpacked(store, second.info.snapshot_id), await unpacked(peer, fullAgain.snapshot_id));
    const moved = await store.readFiles(second.info.snapshot_id, ['moved/f8.txt', 'src/d1/f8.txt', 'src/d0/f7.txt'], MiB);
    assert.equal(moved.get('moved/f8.txt')?.toString(), 'file 8\n'.repeat(8 * 37 + 1));
    assert.equal(moved.get('src/d1/f8.txt'), undefined, 'moved away');
    assert.equal(moved.get('src/d0/f7.txt'), undefined, 'removed');

    // a Send that changed most files: its full archive is assembled, the same bytes as a full upload's
    const most = again.map((e, i) => (e.content && i % 2 ? { ...e, content: Buffer.concat([e.content, Buffer.from('!')]) } : e));
    const third = await delta(most, second.info.snapshot_id);
    assert.ok(!isDelta(third.info.snapshot_id));
    const fullMost = await peer.ingest(Readable.from([await fullTar(most)]), { gzip: false });
    assert.ok(archive('store', third.info.snapshot_id).equals(archive('peer', fullMost.snapshot_id)), 'the same archive, byte for byte');
  });

  it('derivesTheLayerOfADeltaFromItsBasesLayerThroughItsOwnSmallArchive', async function () {
    this.timeout(60_000);
    const tree = workspace();
    const first = await store.ingest(Readable.from([await fullTar(tree)]), { gzip: false });
    const logs: Array<Record<string, unknown>> = [];
    const differ = new HostWorkspaceDiffer();
    const layers = new SnapshotLayers(
      join(root, 'layers'),
      store,
      { record: (g, t) => differ.recordSnapshotBaseline(g, t), derive: (g, t, b, c) => differ.deriveSnapshotBaseline(g, t, b, c) },
      (obj) => logs.push(obj),
    );
    await layers.prepare(first.snapshot_id);
    const edited = tree
      .filter((e) => e.path !== 'run.sh')
      .map((e) => (e.path === 'src/d3/f10.txt' ? { ...e, content: Buffer.from('edited\n'), mtime: 1_800_000_000 } : e));
    const { info } = await delta(edited, first.snapshot_id);
    assert.ok(isDelta(info.snapshot_id));
    const layer = await layers.prepare(info.snapshot_id);
    const built = logs.find((l) => l.snapshot_id === info.snapshot_id);
    assert.equal(built?.derived_from, first.snapshot_id, JSON.stringify(logs));
    assert.equal(built?.changed, 1);
    const full = await peer.ingest(Readable.from([await fullTar(edited)]), { gzip: false });
    const strip = (lines: string[]) => lines.map((l) => l.replace(/^(file \S+) \d+ \d+ /, '$1 '));
    assert.deepEqual(strip(listing(layer.lowers[0])), strip(await unpacked(peer, full.snapshot_id)));
  });

  /** A plan of only what differs from `base` (whose tree was `before`), as the extension sends it after the first Send. */
  async function changes(before: TreeEntry[], after: TreeEntry[], base: string, s = store) {
    const was = new Map(planOf(before).map((f) => [f.path, JSON.stringify(f)]));
    const now = planOf(after);
    const changed = now.filter((f) => was.get(f.path) !== JSON.stringify(f));
    const removed = [...was.keys()].filter((p) => !now.some((f) => f.path === p));
    const plan = s.plan({ base_snapshot_id: base, changed, removed });
    const info = await s.ingestPlanned(plan.plan_id, Readable.from([await contentsTar(after, plan.missing)]), { gzip: false });
    return { plan, info, changed, removed };
  }
  const byPath = (tree: TreeEntry[]) => [...tree].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  it('aPlanOfOnlyTheChangesGivesWhatAFullUploadOfTheWholeTreeInPathOrderGives', async () => {
    const tree = byPath(workspace());
    const first = await store.ingest(Readable.from([await fullTar(tree)]), { gzip: false });
    // an edit, an added file and link, a removal, a mode, an mtime and a link's target changed
    const edited = byPath([
      ...tree
        .filter((e) => e.path !== 'src/d0/f7.txt')
        .map((e) => (e.path === 'src/d3/f10.txt' ? { ...e, content: Buffer.from('edited\n'), mtime: 1_800_000_000 } : e))
        .map((e) => (e.path === 'src/d2/f9.txt' ? { ...e, mode: 0o755 } : e.path === 'src/d4/f11.txt' ? { ...e, mtime: 1 } : e))
        .map((e) => (e.path === 'link' ? { ...e, link: 'src/d2/f2.txt' } : e)),
      { path: 'added/new.txt', content: Buffer.from('new\n'), mtime: 1_800_000_001 },
      { path: 'added/link', link: '../run.sh', mtime: 1_800_000_002 },
    ]);
    const one = await changes(tree, edited, first.snapshot_id);
    assert.equal(one.changed.length, 6);
    assert.deepEqual(one.removed, ['src/d0/f7.txt']);
    assert.deepEqual(one.plan.missing.sort(), [sha('edited\n'), sha('new\n')].sort());
    const full = await peer.ingest(Readable.from([await fullTar(edited)]), { gzip: false });
    assert.deepEqual({ ...one.info, snapshot_id: '' }, { ...full, snapshot_id: '' });
    assert.equal(manifestJson('store', one.info.snapshot_id), manifestJson('peer', full.snapshot_id));
    assert.ok(isDelta(one.info.snapshot_id));
    assert.deepEqual(await unpacked(store, one.info.snapshot_id), await unpacked(peer, full.snapshot_id));

    // again over that delta (the entries the server remembers from its plan), then from a restarted store (read from the archives)
    const twice = byPath(edited.map((e) => (e.path === 'run.sh' ? { ...e, content: Buffer.from('#!/bin/sh\necho two\n') } : e)));
    const two = await changes(edited, twice, one.info.snapshot_id);
    const fullTwo = await peer.ingest(Readable.from([await fullTar(twice)]), { gzip: false });
    assert.equal(manifestJson('store', two.info.snapshot_id), manifestJson('peer', fullTwo.snapshot_id));
    assert.deepEqual(await unpacked(store, two.info.snapshot_id), await unpacked(peer, fullTwo.snapshot_id));
    const restarted = new SnapshotStore(dirOf('store'), LIMITS);
    const most = byPath(twice.map((e, i) => (e.content && i % 2 ? { ...e, content: Buffer.concat([e.content, Buffer.from('!')]) } : e)));
    const three = await changes(twice, most, two.info.snapshot_id, restarted);
    assert.ok(!isDelta(three.info.snapshot_id), 'most files changed: a full archive');
    const fullMost = await peer.ingest(Readable.from([await fullTar(most)]), { gzip: false });
    assert.ok(archive('store', three.info.snapshot_id).equals(archive('peer', fullMost.snapshot_id)), 'the same archive, byte for byte');
  });

  it('refusesChangesThatBreakTheRulesGivenTheBasesEntries', async () => {
    const tree = byPath([...workspace(), { path: 'sub/up', link: '..', mtime: 5 }]);
    const first = await store.ingest(Readable.from([await fullTar(tree)]), { gzip: false });
    const base = first.snapshot_id;
    const file = (path: string): SnapshotPlanFile => ({ ...planOf(tree)[0], path });
    const link = (path: string, target: string): SnapshotPlanFile => ({
      path,
      type: 'symlink',
      mode: 0o777,
      size: 0,
      sha256: sha(target),
      mtime: 0,
      link_target: target,
    });
    const refused = (changed: SnapshotPlanFile[], removed: string[], pattern: RegExp) =>
      assert.throws(
        () => store.plan({ base_snapshot_id: base, changed, removed }),
        (e: unknown) => e instanceof SnapshotError && pattern.test((e as Error).message),
      );
    refused([file('../escape.txt')], [], /leaves the snapshot root/);
    refused([file('./run.sh')], [], /not a plain relative path/);
    refused([file('run.sh/x')], [], /inside "run.sh", which is a file/);
    refused([file('sub/up/x.txt')], [], /through the symlink "sub\/up"/);
    refused([file('run.sh/x')], ['run.sh', 'run.sh'], /removed "run.sh" is not an entry/);
    refused([link('out', 'sub/up/..')], [], /leads out of the snapshot/);
    refused([link('link', '../..')], [], /leads out of the snapshot/);
    refused([link('sub/up', '../..')], [], /leads out of the snapshot/);
    refused([file('a.txt'), file('a.txt')], [], /listed twice/);
    refused([file('run.sh')], ['run.sh'], /both removed and changed/);
    refused([], ['nowhere.txt'], /removed "nowhere.txt" is not an entry/);
    refused([{ ...file('big.bin'), size: 9 * MiB }], [], /limit per file/);
    // a base that is gone: 410, so the client sends its whole manifest
    store.delete(base);
    assert.throws(
      () => store.plan({ base_snapshot_id: base, changed: [], removed: [] }),
      (e: unknown) => e instanceof SnapshotError && e.code === 'SESSION_EXPIRED' && /no longer kept/.test((e as Error).message),
    );
    assert.deepEqual(readdirSync(dirOf('store')), [], 'nothing kept of refused plans');
  });

  it('reusesOnlyWhatTheServerStillKeeps', async () => {
    const tree = workspace();
    const first = await store.ingest(Readable.from([await fullTar(tree)]), { gzip: false });
    const plan = store.plan({ files: planOf(tree), base_snapshot_id: first.snapshot_id });
    assert.deepEqual(plan.missing, []);
    store.delete(first.snapshot_id);
    await refusedUpload(plan.plan_id, await contentsTar(tree, []), /no longer kept/);
    const after = store.plan({ files: planOf(tree), base_snapshot_id: first.snapshot_id });
    assert.equal(after.missing.length, tree.length - 2, 'a removed snapshot lends nothing');
  });

  it('refusesPlansThatNameUnsafePaths', async () => {
    const ok = planOf(workspace());
    const file = (path: string): SnapshotPlanFile => ({ ...ok[0], path });
    await refusedPlan([file('../escape.txt')], /leaves the snapshot root/);
    await refusedPlan([file('src/../../escape.txt')], /leaves the snapshot root/);
    await refusedPlan([file('/etc/passwd')], /absolute path/);
    await refusedPlan([file('a//b.txt')], /not a plain relative path/);
    await refusedPlan([file('./a.txt')], /not a plain relative path/);
    await refusedPlan([file('a\0b')], /NUL byte/);
    await refusedPlan([file('a.txt'), file('a.txt')], /appears twice/);
    await refusedPlan([file('a.txt'), file('a.txt/b.txt')], /inside "a.txt", which is a file/);
    const link = (path: string, target: string): SnapshotPlanFile => ({
      path,
      type: 'symlink',
      mode: 0o777,
      size: 0,
      sha256: sha(target),
      mtime: 0,
      link_target: target,
    });
    await refusedPlan([link('l', '../..')], /leads out of the snapshot/);
    await refusedPlan([link('l', '/etc')], /absolute path/);
    await refusedPlan([link('l', 'src'), file('l/x.txt')], /through the symlink "l"/);
    await refusedPlan([{ ...link('l', 'src'), sha256: sha('elsewhere') }], /not the hash of its target/);
    await refusedPlan([{ ...ok[0], link_target: 'x' }], /file with a link target/);
  });

  it('refusesPlansOverTheLimits', async () => {
    const ok = planOf(workspace());
    await refusedPlan([{ ...ok[0], size: 9 * MiB }], /over the 8388608-byte limit per file/);
    const many = Array.from({ length: 501 }, (_, i) => ({ ...ok[0], path: `f${i}` }));
    await refusedPlan(many, /more than 500 entries/);
    const big = Array.from({ length: 9 }, (_, i) => ({ ...ok[0], path: `f${i}`, size: 8 * MiB, sha256: sha(String(i)) }));
    await refusedPlan(big, /unpacked snapshot is over the 67108864-byte limit/);
    await refusedPlan([ok[0], { ...ok[1], sha256: ok[0].sha256 }], /has the hash of another file/);
  });

  it('refusesUploadsThatDoNotMatchThePlan', async () => {
    const tree = workspace();
    const files = planOf(tree);
    const plan = () => store.plan({ files });
    // a content whose bytes do not hash to its name
    const p1 = plan();
    const wrong = pack();
    for (const h of p1.missing)
      wrong.entry(
        { name: h, type: 'file' },
        h === p1.missing[0]
          ? Buffer.alloc(files.find((f) => f.sha256 === h)!.size, 1)
          : tree.find((e) => e.content && sha(e.content) === h)!.content!,
      );
    wrong.finalize();
    await refusedUpload(p1.plan_id, await collect(wrong as unknown as AsyncIterable<Buffer>), /does not have that hash/);
    // a content the plan does not ask for, a path instead of a hash, one missing, one of another size
    const extra = async (entries: Array<[string, Buffer]>) => {
      const p = pack();
      for (const [name, data] of entries) p.entry({ name, type: 'file' }, data);
      p.finalize();
      return collect(p as unknown as AsyncIterable<Buffer>);
    };
    const p2 = plan();
    await refusedUpload(p2.plan_id, await extra([[sha('other'), Buffer.from('other')]]), /not a content the plan is missing/);
    const p3 = plan();
    await refusedUpload(p3.plan_id, await extra([['../../etc/passwd', Buffer.from('x')]]), /not a content the plan is missing/);
    const p4 = plan();
    await refusedUpload(p4.plan_id, await contentsTar(tree, p4.missing.slice(1)), /is missing from the upload/);
    const p5 = plan();
    await refusedUpload(p5.plan_id, await extra([[p5.missing[0], Buffer.from('short')]]), /the plan says/);
    const p6 = plan();
    const twice = await contentsTar(tree, [p6.missing[0], p6.missing[0]]);
    await refusedUpload(p6.plan_id, twice, /sent twice/);
  });

  it('cutsOffAGzipOfZeroBlocksBehindTheMissingContents', async () => {
    const tree = workspace();
    const plan = store.plan({ files: planOf(tree) });
    const tar = await contentsTar(tree, plan.missing);
    // the contents, then 64 MiB of zero blocks past the end of the archive: ~64 KiB gzipped
    const bomb = gzipSync(Buffer.concat([tar, Buffer.alloc(64 * MiB)]), { level: 9 });
    assert.ok(bomb.length < 1 * MiB, `${bomb.length} bytes`);
    const before = readdirSync(dirOf('store'));
    await assert.rejects(
      store.ingestPlanned(plan.plan_id, Readable.from([bomb]), { gzip: true }),
      (e: unknown) => e instanceof SnapshotError && /unpacks to more than its/.test((e as Error).message),
    );
    assert.deepEqual(readdirSync(dirOf('store')), before);
    // the same contents gzipped without the padding are taken
    const again = store.plan({ files: planOf(tree) });
    const info = await store.ingestPlanned(again.plan_id, Readable.from([gzipSync(tar)]), { gzip: true });
    assert.equal(info.files, tree.length - 1);
  });

  it('refusesAnUnknownOrReplayedPlan', async () => {
    const tree = workspace();
    await refusedUpload('0123456789abcdef01234567', await contentsTar(tree, []), /unknown, expired or already used/);
    const { plan } = await delta(tree);
    await refusedUpload(plan.plan_id, await contentsTar(tree, plan.missing), /unknown, expired or already used/);
  });

  it('forgetsAPlanAtItsExpiry', async () => {
    const plans = new PlanRegistry(20, 4);
    const p = plans.add({ manifest: [], mtimes: [], contents: new Map() }, new Set());
    await new Promise((r) => setTimeout(r, 40));
    assert.throws(() => plans.take(p.id), /unknown, expired or already used/);
    const kept = Array.from({ length: 5 }, () => plans.add({ manifest: [], mtimes: [], contents: new Map() }, new Set()));
    assert.throws(() => plans.take(kept[0].id), /unknown/, 'past the most pending, the oldest goes');
    assert.equal(plans.take(kept[4].id).id, kept[4].id);
  });
});
