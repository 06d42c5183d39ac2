// The diff commands and parser, against real git in temp folders.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gitBaselineCommand, gitDiffCommand, parseGitDiff } from '../../server/src/runs/gitDiff';

function sh(cmd: string): string {
  return execFileSync('sh', ['-c', cmd], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
}

describe('git diff of a run', () => {
  let work: string;
  let gitDir: string;
  const diff = () => parseGitDiff(sh(gitDiffCommand({ gitDir, workTree: work, baseline: 'HEAD' })));
  const byPath = () => new Map(diff().map((f) => [f.path, f]));

  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'af-gitdiff-'));
    gitDir = join(work, '.astraforge-baseline.git');
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  function baseline(files: Record<string, string | Buffer>): void {
    for (const [p, c] of Object.entries(files)) {
      mkdirSync(join(work, p, '..'), { recursive: true });
      writeFileSync(join(work, p), c);
    }
    const out = sh(gitBaselineCommand({ gitDir, workTree: work })).trim();
    assert.match(out, /^[0-9a-f]{40}$/);
  }

  it('reportsNoChangesAsAnEmptyList', () => {
    baseline({ 'a.txt': 'a\n' });
    assert.deepEqual(diff(), []);
  });

  it('reportsModifiedAddedAndDeletedFilesWithPatches', () => {
    baseline({ 'a.txt': 'one\ntwo\nthree\n', 'gone.txt': 'bye\n' });
    writeFileSync(join(work, 'a.txt'), 'one\nTWO\nthree\n');
    unlinkSync(join(work, 'gone.txt'));
    mkdirSync(join(work, 'new/deep'), { recursive: true });
    writeFileSync(join(work, 'new/deep/n.txt'), 'new\n');
    writeFileSync(join(work, 'empty.txt'), '');
    const files = byPath();
    assert.equal(files.get('a.txt')!.status, 'modified');
    assert.match(files.get('a.txt')!.patch, /^-two$/m);
    assert.match(files.get('a.txt')!.patch, /^\+TWO$/m);
    assert.equal(files.get('gone.txt')!.status, 'deleted');
    assert.equal(files.get('new/deep/n.txt')!.status, 'added');
    assert.equal(files.get('empty.txt')!.status, 'added');
    assert.equal(files.size, 4);
  });

  it('detectsRenamesWithSmallEdits', () => {
    const body = Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join('');
    baseline({ 'old/name.txt': body });
    mkdirSync(join(work, 'new'));
    renameSync(join(work, 'old/name.txt'), join(work, 'new/name.txt'));
    writeFileSync(join(work, 'new/name.txt'), body + 'one more\n');
    const [f] = diff();
    assert.equal(f.status, 'renamed');
    assert.equal(f.old_path, 'old/name.txt');
    assert.equal(f.path, 'new/name.txt');
    assert.match(f.patch, /^\+one more$/m);
  });

  it('marksBinaryFiles', () => {
    baseline({ 'img.bin': Buffer.from([0, 1, 2, 3]) });
    writeFileSync(join(work, 'img.bin'), Buffer.from([0, 9, 9, 9]));
    writeFileSync(join(work, 'new.bin'), Buffer.from([0, 255, 0]));
    const files = byPath();
    assert.equal(files.get('img.bin')!.binary, true);
    assert.equal(files.get('new.bin')!.binary, true);
    assert.equal(files.get('new.bin')!.status, 'added');
  });

  it('reportsAModeOnlyChange', () => {
    baseline({ 'run.sh': 'echo hi\n' });
    chmodSync(join(work, 'run.sh'), 0o755);
    const [f] = diff();
    assert.equal(f.status, 'modified');
    assert.equal(f.old_mode, '100644');
    assert.equal(f.new_mode, '100755');
  });

  it('keepsNamesWithSpacesUnicodeAndNewlinesExact', () => {
    baseline({ 'plain.txt': 'x\n' });
    const names = ['with space.txt', 'ünïcødé ✓.txt', 'new\nline.txt', 'quote"d.txt'];
    for (const n of names) writeFileSync(join(work, n), 'hi\n');
    assert.deepEqual(
      diff()
        .map((f) => f.path)
        .sort(),
      [...names].sort(),
    );
  });

  it('neverIncludesTheUsersOwnGitFolderOrTheBaseline', () => {
    mkdirSync(join(work, '.git'));
    writeFileSync(join(work, '.git/HEAD'), 'ref: refs/heads/main\n');
    baseline({ 'a.txt': 'a\n' });
    writeFileSync(join(work, '.git/HEAD'), 'changed\n');
    writeFileSync(join(work, 'a.txt'), 'b\n');
    assert.deepEqual(
      diff().map((f) => f.path),
      ['a.txt'],
    );
  });

  it('handlesFiveHundredChangedFiles', () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 500; i++) files[`src/f${i}.ts`] = `export const v${i} = ${i};\n`;
    baseline(files);
    for (let i = 0; i < 500; i++) writeFileSync(join(work, `src/f${i}.ts`), `export const v${i} = ${i + 1};\n`);
    const t0 = performance.now();
    const out = diff();
    assert.equal(out.length, 500);
    assert.ok(out.every((f) => f.status === 'modified' && f.patch.includes(`= ${Number(f.path.slice(5, -3)) + 1};`)));
    assert.ok(performance.now() - t0 < 5000);
  });

  it('refusesOutputWithoutTheSeparator', () => {
    assert.throws(() => parseGitDiff('M\0a.txt\0'), /separator/);
  });
});
