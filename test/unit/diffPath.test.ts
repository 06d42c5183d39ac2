// The paths a run's diff may name, checked where the diff enters the server
// and by the contract every client parses with.
import assert from 'node:assert/strict';
import { diffPathProblem } from '@astraforge/contract/diffPath';
import { RunDiff } from '@astraforge/contract/runApi';
import { assertSafeDiffPaths, UnsafeDiffError } from '../../server/src/runs/runDiffs';

const FORGED: Record<string, RegExp> = {
  '../../.bash_aliases': /"\.\." segment/,
  '..': /"\.\." segment/,
  'src/../../x': /"\.\." segment/,
  '/etc/passwd': /absolute/,
  '/': /absolute/,
  '': /empty/,
  'a//b': /empty segment/,
  'a/': /empty segment/,
  './a': /"\." segment/,
  'a/./b': /"\." segment/,
  'a\0b': /control character/,
  'a\nb': /control character/,
  'a\rb': /control character/,
  '\u001b[2Jx': /control character/,
  'a\u0085b': /control character/,
  '..\\..\\x': /backslash/,
  'a\\b': /backslash/,
  'C:x': /drive letter/,
  'c:/Windows/x': /drive letter/,
  '.git/config': /"\.git" folder/,
  'sub/.git/hooks/pre-commit': /"\.git" folder/,
  'sub/.GIT/config': /"\.git" folder/,
  'sub/.Git./config': /"\.git" folder/,
  'sub/.git /config': /"\.git" folder/,
  'GIT~1/config': /"\.git" folder/,
  '.g\u200cit/config': /"\.git" folder/,
  '\ufffd.txt': /not valid UTF-8/,
};

const FINE = [
  'a.txt',
  'src/deep/file.ts',
  '.gitignore',
  '.github/workflows/ci.yml',
  'sub/.gitmodules',
  'x.git',
  '.git-blame-ignore-revs',
  '...',
  '..a',
  'with space.txt',
  'ünïcødé ✓.txt',
  'quote"d.txt',
];

describe('diff paths', () => {
  for (const [path, reason] of Object.entries(FORGED)) {
    it(`refuses ${JSON.stringify(path)}`, () => {
      assert.match(diffPathProblem(path) ?? 'accepted', reason);
    });
  }

  it('refusesAPathLongerThan4096Characters', () => {
    assert.match(diffPathProblem('a/'.repeat(2048) + 'b') ?? 'accepted', /longer than 4096/);
  });

  it('acceptsOrdinaryRelativePaths', () => {
    for (const p of FINE) assert.equal(diffPathProblem(p), undefined, p);
  });

  it('refusesTheWholeDiffOnOneBadPathOrOldPathNamingIt', () => {
    assert.doesNotThrow(() => assertSafeDiffPaths([{ path: 'a.txt' }, { path: 'b.txt', old_path: 'c.txt' }]));
    assert.throws(
      () => assertSafeDiffPaths([{ path: 'a.txt' }, { path: '../../.bash_aliases' }]),
      (e: Error) => e instanceof UnsafeDiffError && e.message.includes('"../../.bash_aliases"') && /"\.\." segment/.test(e.message),
    );
    assert.throws(() => assertSafeDiffPaths([{ path: 'ok.txt', old_path: '/etc/shadow' }]), /"\/etc\/shadow".*absolute/);
  });

  it('isPartOfTheContractEveryClientParsesWith', () => {
    const file = { status: 'added', binary: false, patch: '' };
    assert.ok(RunDiff.safeParse({ run_id: 'r', files: [{ ...file, path: 'a.txt' }] }).success);
    const bad = RunDiff.safeParse({ run_id: 'r', files: [{ ...file, path: '../../.bash_aliases' }] });
    assert.equal(bad.success, false);
    assert.match(bad.error?.issues[0].message ?? '', /"\.\." segment/);
    assert.equal(RunDiff.safeParse({ run_id: 'r', files: [{ ...file, path: 'a', old_path: 'x/.git/HEAD' }] }).success, false);
  });
});
