// The one check every apply route makes before writing a path that came
// from the server: forged paths an attacker's diff could hold, by their text
// and on a real folder with links.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printablePath, unsafePathReason, unsafeTargetReason } from '../../../src/review/safeTarget';

describe('review: safe target', () => {
  it('refusesForgedPathsByTheirText', () => {
    const forged: [string, RegExp][] = [
      ['../../.bash_aliases', /climbs out/],
      ['/etc/passwd', /absolute/],
      ['a/../../b', /climbs out/],
      ['a/..', /climbs out/],
      ['sub/.git/config', /\.git folder/],
      ['.git/hooks/pre-commit', /\.git folder/],
      ['sub/.GIT/config', /\.git folder/],
      ['.git./config', /\.git folder/],
      ['GIT~1/config', /\.git folder/],
      ['C:\\x', /backslash|drive/],
      ['C:/x', /drive letter/],
      ['c:x', /drive letter/],
      ['a\\..\\b', /backslash/],
      ['', /empty/],
      ['a//b', /empty or "."/],
      ['./a', /empty or "."/],
      ['a/', /empty or "."/],
      ['a\u0000b', /control/],
      ['a\nb', /control/],
      ['a\u007fb', /control/],
      ['x'.repeat(5000), /too long/],
    ];
    for (const [path, why] of forged) assert.match(unsafePathReason(path) ?? 'accepted', why, JSON.stringify(path));
  });

  it('acceptsPlainRelativePaths', () => {
    for (const path of [
      'a.txt',
      'src/deep/file.ts',
      '.github/workflows/ci.yml',
      '.gitignore',
      '.gitattributes',
      'a..b',
      '..foo',
      'dir/.git-hooks/x',
      'x.git/y',
    ])
      assert.equal(unsafePathReason(path), undefined, path);
  });

  describe('on a real folder', () => {
    let base: string;
    let root: string;
    beforeEach(() => {
      base = mkdtempSync(join(tmpdir(), 'af-safe-target-'));
      root = join(base, 'ws');
      mkdirSync(join(root, 'inside', 'real'), { recursive: true });
      mkdirSync(join(root, '.git'), { recursive: true });
      mkdirSync(join(base, 'outside'));
      writeFileSync(join(base, 'outside', 'secret'), 'x');
      symlinkSync(join(base, 'outside'), join(root, 'out')); // a folder link leading out
      symlinkSync(join(root, 'inside', 'real'), join(root, 'alias')); // a folder link that stays inside
      symlinkSync(join(root, '.git'), join(root, 'g')); // a link into .git
      symlinkSync(join(base, 'outside', 'secret'), join(root, 'file-link')); // a file link leading out
      symlinkSync(join(base, 'nowhere'), join(root, 'dangling')); // a link that leads nowhere
    });
    afterEach(() => rmSync(base, { recursive: true, force: true }));

    it('refusesAnyExistingParentThatIsALinkLeadingOut', async () => {
      assert.match((await unsafeTargetReason(root, 'out/secret')) ?? 'accepted', /folder on the path is a link that leads out/);
      // Folders that do not exist yet under a link out: made out there, so refused too.
      assert.match((await unsafeTargetReason(root, 'out/new/deeper/file.txt')) ?? 'accepted', /leads out/);
      assert.match((await unsafeTargetReason(root, 'file-link')) ?? 'accepted', /file is a link that leads out/);
      assert.match((await unsafeTargetReason(root, 'dangling')) ?? 'accepted', /leads nowhere/);
      assert.match((await unsafeTargetReason(root, 'dangling/x')) ?? 'accepted', /leads nowhere/);
      assert.match((await unsafeTargetReason(root, 'g/config')) ?? 'accepted', /into a \.git folder/);
      assert.match((await unsafeTargetReason(root, '../../.bash_aliases')) ?? 'accepted', /climbs out/);
    });

    it('acceptsPathsThatStayInside', async () => {
      assert.equal(await unsafeTargetReason(root, 'inside/real/file.txt'), undefined);
      assert.equal(await unsafeTargetReason(root, 'alias/file.txt'), undefined, 'a link that stays inside is followed');
      assert.equal(await unsafeTargetReason(root, 'new/folders/file.txt'), undefined, 'folders to create under the root');
      assert.equal(await unsafeTargetReason(root, 'inside'), undefined);
    });

    it('refusesWhenTheRootItselfIsGone', async () => {
      assert.match((await unsafeTargetReason(join(base, 'missing'), 'a.txt')) ?? 'accepted', /not on disk/);
    });
  });
});

describe('review: printable path', () => {
  it('showsControlAndBidiCharactersAsEscapes', () => {
    assert.equal(printablePath('../../.bash_aliases'), '../../.bash_aliases');
    assert.equal(printablePath('a\nb'), 'a\\u{a}b');
    assert.equal(printablePath('invoice\u202Etxt.exe'), 'invoice\\u{202e}txt.exe');
    assert.equal(printablePath('src/ok.ts'), 'src/ok.ts');
  });
});
