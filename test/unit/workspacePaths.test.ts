import assert from 'node:assert/strict';
import { PathRejected, resolveWorkspacePath } from '../../server/src/sessions/workspacePaths';

describe('workspace paths', () => {
  it('resolvesRelativePathsUnderWorkspace', () => {
    assert.equal(resolveWorkspacePath('a/b.txt'), '/workspace/a/b.txt');
    assert.equal(resolveWorkspacePath('./a//b.txt'), '/workspace/a/b.txt');
    assert.equal(resolveWorkspacePath('/workspace/a'), '/workspace/a');
    assert.equal(resolveWorkspacePath('/workspace'), '/workspace');
  });

  it('refusesDotDotAnywhere', () => {
    for (const p of ['../etc/passwd', 'a/../../x', '/workspace/../etc', 'a/..']) {
      assert.throws(() => resolveWorkspacePath(p), PathRejected, p);
    }
  });

  it('refusesAbsolutePathsOutsideWorkspace', () => {
    for (const p of ['/etc/passwd', '/workspacefoo/x', '/', '/tmp/x']) {
      assert.throws(() => resolveWorkspacePath(p), PathRejected, p);
    }
  });

  it('refusesNulBytes', () => {
    assert.throws(() => resolveWorkspacePath('a\0b'), PathRejected);
  });
});
