// The baseline and diff on the host (HostWorkspaceDiffer and the parser),
// against real git in temp folders.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGitDiff, type DiffFile } from '../../server/src/runs/gitDiff';
import { HostWorkspaceDiffer } from '../../server/src/runs/hostWorkspaceDiffer';
import { DIFF_LIMITS } from '../../server/src/runs/runDiffs';

describe('git diff of a run', () => {
  let top: string;
  let work: string;
  let differ: HostWorkspaceDiffer;
  const diffAsync = async (): Promise<DiffFile[]> => (await differ.diff('run1', DIFF_LIMITS)).files;
  const byPathAsync = async () => new Map((await diffAsync()).map((f) => [f.path, f]));

  beforeEach(() => {
    top = mkdtempSync(join(tmpdir(), 'af-gitdiff-'));
    work = join(top, 'scratch', 'sess');
    mkdirSync(work, { recursive: true });
    differ = new HostWorkspaceDiffer(undefined, () => join(top, 'baselines'));
  });
  afterEach(() => rmSync(top, { recursive: true, force: true }));

  async function baseline(files: Record<string, string | Buffer>): Promise<void> {
    for (const [p, c] of Object.entries(files)) {
      mkdirSync(join(work, p, '..'), { recursive: true });
      writeFileSync(join(work, p), c);
    }
    await differ.recordBaseline('run1', work);
    assert.ok(existsSync(join(top, 'baselines', 'run1.git', 'HEAD')));
  }

  it('reportsNoChangesAsAnEmptyList', async () => {
    await baseline({ 'a.txt': 'a\n' });
    assert.deepEqual(await diffAsync(), []);
  });

  it('reportsModifiedAddedAndDeletedFilesWithPatches', async () => {
    await baseline({ 'a.txt': 'one\ntwo\nthree\n', 'gone.txt': 'bye\n' });
    writeFileSync(join(work, 'a.txt'), 'one\nTWO\nthree\n');
    unlinkSync(join(work, 'gone.txt'));
    mkdirSync(join(work, 'new/deep'), { recursive: true });
    writeFileSync(join(work, 'new/deep/n.txt'), 'new\n');
    writeFileSync(join(work, 'empty.txt'), '');
    const files = await byPathAsync();
    assert.equal(files.get('a.txt')!.status, 'modified');
    assert.match(files.get('a.txt')!.patch, /^-two$/m);
    assert.match(files.get('a.txt')!.patch, /^\+TWO$/m);
    assert.equal(files.get('gone.txt')!.status, 'deleted');
    assert.equal(files.get('new/deep/n.txt')!.status, 'added');
    assert.equal(files.get('empty.txt')!.status, 'added');
    assert.equal(files.size, 4);
  });

  it('detectsRenamesWithSmallEdits', async () => {
    const body = Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join('');
    await baseline({ 'old/name.txt': body });
    mkdirSync(join(work, 'new'));
    renameSync(join(work, 'old/name.txt'), join(work, 'new/name.txt'));
    writeFileSync(join(work, 'new/name.txt'), body + 'one more\n');
    const [f] = await diffAsync();
    assert.equal(f.status, 'renamed');
    assert.equal(f.old_path, 'old/name.txt');
    assert.equal(f.path, 'new/name.txt');
    assert.match(f.patch, /^\+one more$/m);
  });

  it('marksBinaryFiles', async () => {
    await baseline({ 'img.bin': Buffer.from([0, 1, 2, 3]) });
    writeFileSync(join(work, 'img.bin'), Buffer.from([0, 9, 9, 9]));
    writeFileSync(join(work, 'new.bin'), Buffer.from([0, 255, 0]));
    const files = await byPathAsync();
    assert.equal(files.get('img.bin')!.binary, true);
    assert.equal(files.get('new.bin')!.binary, true);
    assert.equal(files.get('new.bin')!.status, 'added');
  });

  it('reportsAModeOnlyChange', async () => {
    await baseline({ 'run.sh': 'echo hi\n' });
    chmodSync(join(work, 'run.sh'), 0o755);
    const [f] = await diffAsync();
    assert.equal(f.status, 'modified');
    assert.equal(f.old_mode, '100644');
    assert.equal(f.new_mode, '100755');
  });

  it('keepsNamesWithSpacesUnicodeAndNewlinesExact', async () => {
    await baseline({ 'plain.txt': 'x\n' });
    const names = ['with space.txt', 'ünïcødé ✓.txt', 'new\nline.txt', 'quote"d.txt'];
    for (const n of names) writeFileSync(join(work, n), 'hi\n');
    assert.deepEqual((await diffAsync()).map((f) => f.path).sort(), [...names].sort());
  });

  it('neverIncludesTheUsersOwnGitFolderOrTheBaseline', async () => {
    mkdirSync(join(work, '.git'));
    writeFileSync(join(work, '.git/HEAD'), 'ref: refs/heads/main\n');
    await baseline({ 'a.txt': 'a\n' });
    writeFileSync(join(work, '.git/HEAD'), 'changed\n');
    writeFileSync(join(work, 'a.txt'), 'b\n');
    assert.deepEqual(
      (await diffAsync()).map((f) => f.path),
      ['a.txt'],
    );
  });

  it('handlesFiveHundredChangedFiles', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 500; i++) files[`src/f${i}.ts`] = `export const v${i} = ${i};\n`;
    await baseline(files);
    for (let i = 0; i < 500; i++) writeFileSync(join(work, `src/f${i}.ts`), `export const v${i} = ${i + 1};\n`);
    const t0 = performance.now();
    const out = await diffAsync();
    assert.equal(out.length, 500);
    assert.ok(out.every((f) => f.status === 'modified' && f.patch.includes(`= ${Number(f.path.slice(5, -3)) + 1};`)));
    assert.ok(performance.now() - t0 < 5000);
  });

  it('refusesOutputWhosePatchesDoNotMatchItsNames', () => {
    assert.throws(() => parseGitDiff('M\0a.txt\0', ''), /listed 1 changed files but printed 0 patches/);
  });
});

// The workspace is the agent's: everything in it is hostile. git runs as the
// folder's owner (an unprivileged uid when the tests run as root).
describe('git diff of a hostile workspace', () => {
  const NOBODY = 65534;
  const asRoot = process.getuid?.() === 0;
  let top: string;
  let work: string;
  let marker: string;
  let differ: HostWorkspaceDiffer;

  beforeEach(async () => {
    top = mkdtempSync(join(tmpdir(), 'af-gitdiff-hostile-'));
    chmodSync(top, 0o711);
    work = join(top, 'scratch', 'sess');
    mkdirSync(work, { recursive: true });
    chmodSync(join(top, 'scratch'), 0o711);
    marker = mkdtempSync(join(tmpdir(), 'af-marker-'));
    chmodSync(marker, 0o777);
    writeFileSync(join(work, 'a.txt'), 'a\n');
    differ = new HostWorkspaceDiffer(undefined, () => join(top, 'baselines'));
    if (asRoot) execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, work]);
    await differ.recordBaseline('run1', work);
  });
  afterEach(() => {
    rmSync(top, { recursive: true, force: true });
    rmSync(marker, { recursive: true, force: true });
  });

  /** Runs a shell command in the workspace as the sandbox would (its owner). */
  function agent(cmd: string): void {
    execFileSync('sh', ['-c', cmd], {
      cwd: work,
      ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
      env: { PATH: '/usr/bin:/bin', M: marker },
    });
  }

  it('keepsTheBaselineOutOfTheWorkspaceAndPrivateToItsUid', () => {
    assert.deepEqual(readdirSync(work), ['a.txt']);
    const st = statSync(join(top, 'baselines', 'run1.git'));
    assert.equal(st.mode & 0o777, 0o700);
    if (asRoot) assert.equal(st.uid, NOBODY);
    assert.equal(statSync(join(top, 'baselines')).mode & 0o777, 0o711);
  });

  it('neverRunsTheConfigOrHooksOfANestedRepository', async () => {
    // A nested repo whose config runs a command on any status-like call, and hooks for every event.
    agent(
      'mkdir -p sub/.git/objects sub/.git/refs/heads sub/.git/hooks && printf "ref: refs/heads/main\\n" > sub/.git/HEAD && ' +
        'printf "[core]\\n\\trepositoryformatversion = 0\\n\\tfsmonitor = \\"touch $M/fsmonitor; false\\"\\n\\thooksPath = hooks\\n[diff]\\n\\texternal = $PWD/sub/ext.sh\\n" > sub/.git/config && ' +
        'for h in pre-commit post-commit post-index-change post-checkout reference-transaction; do printf "#!/bin/sh\\ntouch $M/hook-$h\\n" > sub/.git/hooks/$h; chmod +x sub/.git/hooks/$h; done && ' +
        'printf "#!/bin/sh\\ntouch $M/extdiff\\n" > sub/ext.sh && chmod +x sub/ext.sh && echo x > sub/f.txt && echo b > a.txt',
    );
    // The attack is live: git run in that folder the ordinary way executes it.
    execFileSync('git', ['-C', join(work, 'sub'), '-c', 'safe.directory=*', 'status'], {
      stdio: 'ignore',
      env: { PATH: '/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1' },
    });
    assert.ok(existsSync(join(marker, 'fsmonitor')), 'the malicious config works when git runs inside the nested repo');
    rmSync(join(marker, 'fsmonitor'));
    const files = await differ.diff('run1', DIFF_LIMITS);
    assert.deepEqual(readdirSync(marker), []);
    assert.deepEqual(
      files.files.map((f) => f.path),
      ['a.txt'],
    );
    assert.deepEqual(files.nestedRepos, ['sub']);
  });

  it('ignoresFifosAndSocketsAndNeverBlocksOnThem', async () => {
    agent('mkfifo pipe && python3 -c "import socket; socket.socket(socket.AF_UNIX).bind(\'sock\')" && echo b > a.txt');
    const t0 = Date.now();
    const { files } = await differ.diff('run1', DIFF_LIMITS);
    assert.deepEqual(
      files.map((f) => f.path),
      ['a.txt'],
    );
    assert.ok(Date.now() - t0 < 5000);
  });

  it('failsClearlyWithoutBlockingWhenATrackedFileBecomesAFifo', async () => {
    agent('rm a.txt && mkfifo a.txt');
    const t0 = Date.now();
    await assert.rejects(
      differ.diff('run1', { ...DIFF_LIMITS, timeoutMs: 10_000 }),
      /git add failed: .*a\.txt: can only add regular files/,
    );
    assert.ok(Date.now() - t0 < 5000);
  });

  it('failsClearlyOnAnUnreadableFolder', async () => {
    agent('mkdir -p hidden && echo s > hidden/s.txt && chmod 000 hidden');
    await assert.rejects(differ.diff('run1', DIFF_LIMITS), /cannot read all of the workspace.*hidden/);
  });

  it('failsClearlyOnAnUnreadableFile', async () => {
    agent('echo s > secret.txt && chmod 000 secret.txt');
    await assert.rejects(differ.diff('run1', DIFF_LIMITS), /git add failed: .*secret\.txt/);
  });

  it('stopsAtItsTimeLimitOnAHugeFile', async () => {
    agent('truncate -s 4G huge.bin');
    const t0 = Date.now();
    // The limit left for git is what the diff's 300 ms have not used yet.
    await assert.rejects(differ.diff('run1', { ...DIFF_LIMITS, timeoutMs: 300 }), /took longer than (29\d|300) ms/);
    assert.ok(Date.now() - t0 < 3000);
  });

  it('refusesAPatchLargerThanTheCap', async () => {
    agent('seq 1 100000 > big.txt');
    await assert.rejects(differ.diff('run1', { ...DIFF_LIMITS, maxBytes: 100_000 }), /larger than 100000 bytes/);
  });

  it('refusesMoreFilesThanTheCap', async () => {
    agent('for i in 1 2 3 4; do echo $i > n$i.txt; done');
    await assert.rejects(differ.diff('run1', { ...DIFF_LIMITS, maxFiles: 3 }), /changes 4 files, more than the 3 allowed/);
  });

  it('storesTheBytesOnDiskWhateverTheGitattributesSay', async () => {
    agent(
      'printf "* text eol=crlf working-tree-encoding=UTF-16 filter=x diff=x\\n" > .gitattributes && printf "one\\r\\ntwo\\r\\n" > crlf.txt',
    );
    const { files } = await differ.diff('run1', DIFF_LIMITS);
    const crlf = files.find((f) => f.path === 'crlf.txt')!;
    assert.match(crlf.patch, /^\+one\r$/m);
  });

  it('ignoresGitVariablesInTheServersOwnEnvironment', async () => {
    agent('echo b > a.txt');
    const saved = { ...process.env };
    Object.assign(process.env, {
      GIT_DIR: join(marker, 'x'),
      GIT_WORK_TREE: '/',
      GIT_EXTERNAL_DIFF: join(marker, 'ext'),
      GIT_INDEX_FILE: join(marker, 'i'),
    });
    try {
      const { files } = await differ.diff('run1', DIFF_LIMITS);
      assert.deepEqual(
        files.map((f) => f.path),
        ['a.txt'],
      );
    } finally {
      process.env = saved;
    }
    assert.deepEqual(readdirSync(marker), []);
  });
});
