// Which changes a review marks as sensitive: those that can run code or
// redirect secrets without the user running anything of the project.
import assert from 'node:assert/strict';
import { sensitiveChangeReason, sensitiveReason, SENSITIVE_LIST } from '../../../src/review/sensitivePaths';

describe('review: sensitive paths', () => {
  it('marksEditorGitCiContainerAndShellFiles', () => {
    const sensitive = [
      '.vscode/settings.json',
      '.vscode/tasks.json',
      'packages/app/.vscode/launch.json',
      '.git/hooks/pre-commit',
      'sub/.git/config',
      '.github/workflows/ci.yml',
      'sub/.github/workflows/release.yaml',
      '.github/actions/setup/action.yml',
      '.devcontainer/devcontainer.json',
      '.devcontainer.json',
      '.astraforge/config.json',
      '.husky/pre-commit',
      '.bashrc',
      '../../.bash_aliases',
      'home/.bash_profile',
      '.bash_login',
      '.bash_logout',
      '.profile',
      '.zshrc',
      '.zprofile',
      '.zshenv',
      '.zlogin',
      '.envrc',
      'sub/.envrc',
      '.npmrc',
      '.yarnrc.yml',
      '.pnpmfile.cjs',
      '.pypirc',
      '.gitconfig',
      '.gitattributes',
      '.gitmodules',
      '.pre-commit-config.yaml',
      '.gitlab-ci.yml',
      'Jenkinsfile',
      '.VSCode/Settings.json',
      '.BASHRC',
    ];
    for (const path of sensitive) assert.ok(sensitiveReason(path), `${path} is sensitive`);
    assert.match(sensitiveReason('.vscode/tasks.json')!, /tasks/);
    assert.match(sensitiveReason('.github/workflows/ci.yml')!, /secrets/);
    assert.match(sensitiveReason('.zshrc')!, /shell/);
  });

  it('leavesOrdinaryFilesAlone', () => {
    const ordinary = [
      'src/index.ts',
      'README.md',
      '.gitignore',
      '.github/CODEOWNERS',
      '.github/ISSUE_TEMPLATE/bug.md',
      'docs/workflows/ci.md',
      'workflows/.github',
      'vscode/settings.json',
      'bashrc',
      'my.bashrc.txt',
      '.vscode',
    ];
    for (const path of ordinary) assert.equal(sensitiveReason(path), undefined, path);
  });

  it('judgesARenameByBothItsNames', () => {
    assert.ok(sensitiveChangeReason('notes/tasks.json', '.vscode/tasks.json'), 'moving a file out of .vscode');
    assert.ok(sensitiveChangeReason('.vscode/tasks.json', 'notes/tasks.json'), 'moving a file into .vscode');
    assert.equal(sensitiveChangeReason('b.txt', 'a.txt'), undefined);
  });

  it('keepsTheListInOnePlace', () => {
    assert.ok(SENSITIVE_LIST.folders.includes('.vscode'));
    assert.ok(SENSITIVE_LIST.subfolders.includes('.github/workflows'));
    assert.ok(SENSITIVE_LIST.files.includes('.bash_aliases'));
  });
});
