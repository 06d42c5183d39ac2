// Accepted files written straight to disk, and taken back, on a real folder.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyToDisk, undoDiskApply, type DiskChange } from '../../../src/review/diskApply';

describe('review: disk apply', () => {
  let root: string;
  const at = (p: string) => join(root, p);
  const text = (p: string) => readFileSync(at(p), 'utf8');
  const put = (p: string, content: string | Buffer) => {
    mkdirSync(join(at(p), '..'), { recursive: true });
    writeFileSync(at(p), content);
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'af-disk-apply-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('writesEditsAddsDeletesAndRenamesAndUndoesThemAll', async () => {
    put('edit.txt', 'old\n');
    put('gone.txt', 'bye\n');
    put('from.txt', 'moved\n');
    put('img.bin', Buffer.from([0, 1, 2]));
    const changes: DiskChange[] = [
      { path: 'edit.txt', before: Buffer.from('old\n'), after: Buffer.from('new\n') },
      { path: 'deep/new/added.txt', after: Buffer.from('fresh\n') },
      { path: 'gone.txt', before: Buffer.from('bye\n') },
      { path: 'to.txt', oldPath: 'from.txt', before: Buffer.from('moved\n'), after: Buffer.from('moved\nmore\n') },
      { path: 'img.bin', before: Buffer.from([0, 1, 2]), after: Buffer.from([9, 0, 9]) },
    ];
    await applyToDisk(root, changes);
    assert.equal(text('edit.txt'), 'new\n');
    assert.equal(text('deep/new/added.txt'), 'fresh\n');
    assert.equal(existsSync(at('gone.txt')), false);
    assert.equal(existsSync(at('from.txt')), false);
    assert.equal(text('to.txt'), 'moved\nmore\n');
    assert.deepEqual([...readFileSync(at('img.bin'))], [9, 0, 9]);

    const undo = await undoDiskApply(root, changes);
    assert.deepEqual(undo, { restored: changes.map((c) => c.path), kept: [] });
    assert.equal(text('edit.txt'), 'old\n');
    assert.equal(existsSync(at('deep/new/added.txt')), false);
    assert.equal(text('gone.txt'), 'bye\n');
    assert.equal(text('from.txt'), 'moved\n');
    assert.equal(existsSync(at('to.txt')), false);
    assert.deepEqual([...readFileSync(at('img.bin'))], [0, 1, 2]);
  });

  it('addsAFileWhereAnotherWasRenamedFromAndTakesBothBack', async () => {
    put('a.txt', 'first\n');
    // The agent moved a.txt to b.txt and wrote a new a.txt.
    const changes: DiskChange[] = [
      { path: 'a.txt', after: Buffer.from('second\n') },
      { path: 'b.txt', oldPath: 'a.txt', before: Buffer.from('first\n'), after: Buffer.from('first\n') },
    ];
    await applyToDisk(root, changes);
    assert.equal(text('a.txt'), 'second\n');
    assert.equal(text('b.txt'), 'first\n');
    assert.deepEqual(await undoDiskApply(root, changes), { restored: ['a.txt', 'b.txt'], kept: [] });
    assert.equal(text('a.txt'), 'first\n');
    assert.equal(existsSync(at('b.txt')), false);
  });

  it('writesInPlaceSoAFileKeepsItsModeAndInode', async () => {
    put('run.sh', 'echo 1\n');
    chmodSync(at('run.sh'), 0o755);
    put('old.sh', 'echo a\n');
    chmodSync(at('old.sh'), 0o750);
    const { ino } = statSync(at('run.sh'));
    await applyToDisk(root, [
      { path: 'run.sh', before: Buffer.from('echo 1\n'), after: Buffer.from('echo 2\n') },
      { path: 'new.sh', oldPath: 'old.sh', before: Buffer.from('echo a\n'), after: Buffer.from('echo b\n') },
    ]);
    assert.equal(statSync(at('run.sh')).ino, ino);
    assert.equal(statSync(at('run.sh')).mode & 0o777, 0o755);
    assert.equal(statSync(at('new.sh')).mode & 0o777, 0o750, 'a renamed file keeps its mode');
  });

  it('leavesAFileEditedSinceTheApplyAsItIs', async () => {
    put('a.txt', 'a\n');
    put('b.txt', 'b\n');
    const changes: DiskChange[] = [
      { path: 'a.txt', before: Buffer.from('a\n'), after: Buffer.from('A\n') },
      { path: 'b.txt', before: Buffer.from('b\n'), after: Buffer.from('B\n') },
      { path: 'c.txt', after: Buffer.from('c\n') },
    ];
    await applyToDisk(root, changes);
    writeFileSync(at('b.txt'), 'B and mine\n');
    writeFileSync(at('c.txt'), 'c and mine\n');
    const undo = await undoDiskApply(root, changes);
    assert.deepEqual(undo, { restored: ['a.txt'], kept: ['b.txt', 'c.txt'] });
    assert.equal(text('a.txt'), 'a\n');
    assert.equal(text('b.txt'), 'B and mine\n');
    assert.equal(text('c.txt'), 'c and mine\n', 'an added file the user edited is not deleted');
  });

  it('makesNoChangeWhenOneFails', async () => {
    const ok = Array.from({ length: 50 }, (_, i) => `ok${i}.txt`);
    for (const p of ok) put(p, 'ok\n');
    // Adding a file that is already there fails: none of the others may be left changed.
    put('taken.txt', 'mine\n');
    const changes: DiskChange[] = ok.map((path) => ({ path, before: Buffer.from('ok\n'), after: Buffer.from('changed\n') }));
    changes.splice(25, 0, { path: 'taken.txt', after: Buffer.from('theirs\n') });
    await assert.rejects(applyToDisk(root, changes), /EEXIST/);
    assert.deepEqual(
      ok.filter((p) => text(p) !== 'ok\n'),
      [],
    );
    assert.equal(text('taken.txt'), 'mine\n');
  });

  it('refusesPathsThatLeadOutOfTheWorkspace', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'af-outside-'));
    try {
      symlinkSync(outside, at('link'));
      writeFileSync(join(outside, 'f.txt'), 'outside\n');
      symlinkSync(join(outside, 'f.txt'), at('file-link'));
      for (const path of ['../escape.txt', 'link/f.txt', 'link/new.txt', 'file-link'])
        await assert.rejects(
          applyToDisk(root, [{ path, before: Buffer.from('outside\n'), after: Buffer.from('x') }]),
          /workspace|link|climbs out/,
          path,
        );
      assert.equal(readFileSync(join(outside, 'f.txt'), 'utf8'), 'outside\n');
      assert.equal(existsSync(join(outside, 'new.txt')), false);
      assert.equal(existsSync(join(root, '..', 'escape.txt')), false);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('refusesRenamesFromOrIntoLinksLeadingOutAndGitFolders', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'af-outside-'));
    try {
      symlinkSync(outside, at('link'));
      writeFileSync(join(outside, 'f.txt'), 'outside\n');
      put('here.txt', 'here\n');
      mkdirSync(at('.git'));
      symlinkSync(at('.git'), at('g'));
      const attempts: DiskChange[] = [
        // A rename whose old name is out there: it would read and unlink a file outside.
        { path: 'taken.txt', oldPath: 'link/f.txt', before: Buffer.from('outside\n'), after: Buffer.from('outside\n') },
        // A rename whose new name is under a link out, in folders still to create.
        { path: 'link/new/deeper/here.txt', oldPath: 'here.txt', before: Buffer.from('here\n'), after: Buffer.from('here\n') },
        { path: '.git/hooks/pre-commit', after: Buffer.from('evil') },
        { path: 'g/hooks/pre-commit', after: Buffer.from('evil') },
        { path: 'sub/.GIT/config', after: Buffer.from('evil') },
      ];
      for (const change of attempts)
        await assert.rejects(applyToDisk(root, [change]), /workspace|\.git/, `${change.oldPath ?? ''} -> ${change.path}`);
      assert.equal(readFileSync(join(outside, 'f.txt'), 'utf8'), 'outside\n', 'the file outside is still there, untouched');
      assert.equal(existsSync(join(outside, 'new')), false, 'no folder was made outside');
      assert.equal(text('here.txt'), 'here\n');
      assert.equal(existsSync(at('.git/hooks')), false);
      assert.equal(existsSync(at('sub')), false);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
