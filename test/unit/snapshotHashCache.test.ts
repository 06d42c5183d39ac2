// The extension's hash cache: a second Send reads only the files that
// changed, and never trusts a hash taken too soon after a file's last write.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileHashCache, hashEntries } from '../../src/snapshot/hashCache';
import { listWorkspaceFiles, planSnapshot, planWorkspace } from '../../src/snapshot/snapshotBuilder';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const LIMITS = { maxFiles: 1000, maxBytes: 1e7 };

describe('snapshot hash cache', () => {
  let dir: string;
  const write = (path: string, text: string, secondsAgo = 60) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
    const t = new Date(Date.now() - secondsAgo * 1000);
    utimesSync(join(dir, path), t, t);
  };
  const entries = async () => (await planSnapshot(dir, await listWorkspaceFiles(dir), LIMITS)).entries;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'af-hashcache-'));
    for (let i = 0; i < 50; i++) write(`src/f${i}.txt`, `file ${i}\n`);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('readsOnlyWhatChangedOnASecondSend', async () => {
    const cache = new FileHashCache();
    const first = await hashEntries(dir, await entries(), cache);
    assert.equal(first.read, 50);
    assert.equal(first.hashes.get('src/f7.txt'), sha('file 7\n'));

    const again = await hashEntries(dir, await entries(), cache);
    assert.equal(again.read, 0, 'nothing changed: nothing read');
    assert.deepEqual(again.hashes, first.hashes);

    write('src/f7.txt', 'edited\n', 30);
    write('src/new.txt', 'new\n', 30);
    const edited = await hashEntries(dir, await entries(), cache);
    assert.equal(edited.read, 2, 'the edited file and the new one');
    assert.equal(edited.hashes.get('src/f7.txt'), sha('edited\n'));
    assert.equal(edited.hashes.get('src/new.txt'), sha('new\n'));
    assert.equal(edited.hashes.get('src/f8.txt'), sha('file 8\n'));
  });

  it('seesAnEditThatKeepsTheSizeAndOnlyMovesTheMtime', async () => {
    const cache = new FileHashCache();
    await hashEntries(dir, await entries(), cache);
    write('src/f3.txt', 'FILE 3\n', 59); // same size, one second later
    const r = await hashEntries(dir, await entries(), cache);
    assert.equal(r.read, 1);
    assert.equal(r.hashes.get('src/f3.txt'), sha('FILE 3\n'));
  });

  it('distrustsAHashTakenRightAfterTheFilesLastWrite', async () => {
    const cache = new FileHashCache();
    write('src/hot.txt', 'one\n', 0);
    await hashEntries(dir, await entries(), cache);
    // rewritten within the same mtime tick: size and mtime alike, content not
    const [hot] = (await entries()).filter((e) => e.path === 'src/hot.txt');
    writeFileSync(join(dir, 'src/hot.txt'), 'two\n');
    utimesSync(join(dir, 'src/hot.txt'), new Date(hot.mtimeMs), new Date(hot.mtimeMs));
    const r = await hashEntries(dir, await entries(), cache);
    assert.equal(r.read, 1, 'the hot file is read again');
    assert.equal(r.hashes.get('src/hot.txt'), sha('two\n'));
  });

  it('forgetsFilesThatLeftTheWorkspace', async () => {
    const cache = new FileHashCache();
    await hashEntries(dir, await entries(), cache);
    unlinkSync(join(dir, 'src/f1.txt'));
    unlinkSync(join(dir, 'src/f2.txt'));
    const r = await hashEntries(dir, await entries(), cache);
    assert.equal(r.read, 0);
    assert.equal(cache.size, 48);
    assert.equal(r.hashes.has('src/f1.txt'), false);
  });

  it('keepsItsHashesAndTheLastSnapshotAcrossARestart', async () => {
    const file = join(`${dir}-storage`, 'hashes.json'); // outside the folder, as the extension's storage is
    const cache = new FileHashCache(file);
    write('src/hot.txt', 'hot\n', 0);
    await hashEntries(dir, await entries(), cache);
    const files = new Map([
      ['src/f1.txt', { path: 'src/f1.txt', type: 'file' as const, mode: 0o644, size: 7, sha256: sha('file 1\n'), mtime: 1 }],
    ]);
    cache.last = { snapshotId: 'abc', files };
    await cache.save(dir);

    const restarted = new FileHashCache(file);
    restarted.load(dir);
    assert.equal(restarted.size, 51);
    assert.deepEqual(restarted.last, { snapshotId: 'abc', files });
    const r = await hashEntries(dir, await entries(), restarted);
    assert.equal(r.read, 1, 'only the file hashed right after its write is read again: the racy rule survives the restart');
    assert.equal(r.hashes.get('src/f7.txt'), sha('file 7\n'));

    const elsewhere = new FileHashCache(file);
    elsewhere.load(join(dir, 'other'));
    assert.equal(elsewhere.size, 0, 'a cache kept for another folder is not used');
    assert.equal(elsewhere.last, undefined);
    rmSync(`${dir}-storage`, { recursive: true, force: true });
  });

  it('plansAFolderInPathOrder', async () => {
    write('b.txt', 'b\n');
    write('a/z.txt', 'z\n');
    write('a.txt', 'a\n');
    unlinkSync(join(dir, 'src/f3.txt'));
    const plan = await planWorkspace(dir, LIMITS);
    const paths = plan.entries.map((e) => e.path);
    assert.deepEqual(paths, [...paths].sort(), 'in path order');
    assert.deepEqual(plan, await planSnapshot(dir, await listWorkspaceFiles(dir), LIMITS));
    assert.ok(paths.includes('a/z.txt') && !paths.includes('src/f3.txt'));
  });
});
