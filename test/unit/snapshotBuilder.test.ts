// The extension's workspace snapshot: what it includes (git's view, with or
// without a repository), its limits, and a binary-safe tar stream.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { extract } from 'tar-stream';
import { listWorkspaceFiles, packSnapshot, planSnapshot, SnapshotTooLarge } from '../../src/snapshot/snapshotBuilder';

function tree(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'af-snap-'));
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  return dir;
}

function git(dir: string, ...args: string[]): void {
  execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd: dir, stdio: 'ignore' });
}

async function unpack(stream: AsyncIterable<Uint8Array>): Promise<Map<string, { type: string; data: Buffer; linkname?: string }>> {
  const out = new Map<string, { type: string; data: Buffer; linkname?: string }>();
  const ex = extract({});
  const done = (async () => {
    for await (const entry of ex) {
      const parts: Buffer[] = [];
      for await (const c of entry) parts.push(c as Buffer);
      out.set(entry.header.name, {
        type: entry.header.type ?? 'file',
        data: Buffer.concat(parts),
        linkname: entry.header.linkname ?? undefined,
      });
    }
  })();
  for await (const chunk of stream) ex.write(chunk);
  ex.end(undefined);
  await done;
  return out;
}

describe('workspace snapshot', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('takesAFolderThatAnEnclosingRepositoryIgnoresAsAProjectOfItsOwn', async () => {
    // As `npm start` does: the sample workspace lives under the repository's ignored .data/.
    const dir = tree({
      '.gitignore': '.data/\n',
      'app.ts': 'outer',
      '.data/ws/.gitignore': '*.tmp\n',
      '.data/ws/src/total.js': 'inner',
      '.data/ws/x.tmp': 'no',
    });
    dirs.push(dir);
    git(dir, 'init', '-q');
    git(dir, 'add', '.');
    git(dir, 'commit', '-qm', 'init');
    assert.deepEqual((await listWorkspaceFiles(join(dir, '.data/ws'))).sort(), ['.gitignore', 'src/total.js']);
    // A folder the repository does not ignore is still listed through it.
    assert.deepEqual(await listWorkspaceFiles(dir), ['.gitignore', 'app.ts']);
  });

  it('takesTrackedAndUntrackedButNotIgnoredFiles', async () => {
    const dir = tree({
      '.gitignore': 'dist/\n*.log\n',
      'src/a.ts': 'a',
      'src/deleted.ts': 'gone soon',
      'dist/out.js': 'built',
      'debug.log': 'noise',
      'notes/.gitignore': 'secret.txt\n',
      'notes/secret.txt': 'no',
      'notes/todo.md': 'yes',
    });
    dirs.push(dir);
    git(dir, 'init', '-q');
    git(dir, 'add', '.gitignore', 'src');
    git(dir, 'commit', '-qm', 'base');
    writeFileSync(join(dir, 'untracked.txt'), 'new');
    unlinkSync(join(dir, 'src/deleted.ts'));
    const files = (await listWorkspaceFiles(dir)).sort();
    assert.deepEqual(files, ['.gitignore', 'notes/.gitignore', 'notes/todo.md', 'src/a.ts', 'src/deleted.ts', 'untracked.txt']);
    // A file git still tracks but the user deleted is not part of the workspace now.
    const plan = await planSnapshot(dir, files, { maxFiles: 100, maxBytes: 1e6 });
    assert.deepEqual(plan.entries.map((e) => e.path).sort(), [
      '.gitignore',
      'notes/.gitignore',
      'notes/todo.md',
      'src/a.ts',
      'untracked.txt',
    ]);
  });

  it('honoursGitignoreOutsideARepository', async () => {
    const dir = tree({ '.gitignore': 'node_modules/\n', 'index.js': 'x', 'node_modules/dep/index.js': 'y', 'lib/b.js': 'z' });
    dirs.push(dir);
    assert.deepEqual((await listWorkspaceFiles(dir)).sort(), ['.gitignore', 'index.js', 'lib/b.js']);
    assert.equal(execFileSync('ls', ['-a', dir]).toString().includes('.git\n'), false, 'the folder was not turned into a repository');
  });

  it('refusesWorkspacesOverTheLimitsWithWhatToDo', async () => {
    const dir = tree({ 'a.txt': 'x'.repeat(600), 'b.txt': 'y', 'c.txt': 'z' });
    dirs.push(dir);
    const files = await listWorkspaceFiles(dir);
    await assert.rejects(
      planSnapshot(dir, files, { maxFiles: 2, maxBytes: 1e6 }),
      (e: Error) => e instanceof SnapshotTooLarge && /more than 2 files.*\.gitignore.*maxFiles/.test(e.message),
    );
    await assert.rejects(
      planSnapshot(dir, files, { maxFiles: 10, maxBytes: 500 }),
      (e: Error) => e instanceof SnapshotTooLarge && /maxMegabytes/.test(e.message),
    );
  });

  it('packsBytesAndSymlinksExactly', async () => {
    const binary = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));
    const dir = tree({ 'bin/blob.dat': binary, 'text.txt': 'héllo\r\n' });
    dirs.push(dir);
    symlinkSync('text.txt', join(dir, 'link.txt'));
    const plan = await planSnapshot(dir, await listWorkspaceFiles(dir), { maxFiles: 10, maxBytes: 1e6 });
    const progress: number[] = [];
    const got = await unpack(packSnapshot(dir, plan, { onProgress: (b) => progress.push(b) }));
    assert.deepEqual(got.get('bin/blob.dat')?.data, binary);
    assert.equal(got.get('text.txt')?.data.toString('utf8'), 'héllo\r\n');
    assert.equal(got.get('link.txt')?.type, 'symlink');
    assert.equal(got.get('link.txt')?.linkname, 'text.txt');
    assert.equal(progress.at(-1), plan.bytes);
  });

  it('stopsPackingWhenCancelled', async () => {
    const dir = tree(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}.txt`, 'x'.repeat(10_000)])));
    dirs.push(dir);
    const plan = await planSnapshot(dir, await listWorkspaceFiles(dir), { maxFiles: 100, maxBytes: 1e7 });
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(unpack(packSnapshot(dir, plan, { signal: ac.signal })), /cancelled/);
  });
});
