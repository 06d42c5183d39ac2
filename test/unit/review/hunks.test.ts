// The agent's changes as hunks over the live text, and applying one of them.
import assert from 'node:assert/strict';
import { applyReplacement, hunkReplacement, mergeFile, pendingHunks } from '../../../src/review/hunks';

const BASE = 'a\nb\nc\nd\ne\nf\ng\n';
const PROPOSED = 'a\nB\nc\nd\ne\nF\ng\n';

function accept(local: string, index: number, base = BASE, proposed = PROPOSED): string {
  const h = pendingHunks(base, local, proposed)[index];
  return applyReplacement(local, hunkReplacement(local, h));
}

describe('review: hunks', () => {
  it('listsTheAgentsChangesAsHunksOverTheLiveText', () => {
    const hunks = pendingHunks(BASE, BASE, PROPOSED);
    assert.deepEqual(
      hunks.map((h) => [h.startLine, h.lineCount, h.newLines, h.conflict]),
      [
        [1, 1, ['B'], false],
        [5, 1, ['F'], false],
      ],
    );
  });

  it('acceptsOneHunkAndLeavesTheOther', () => {
    const once = accept(BASE, 0);
    assert.equal(once, 'a\nB\nc\nd\ne\nf\ng\n');
    assert.deepEqual(
      pendingHunks(BASE, once, PROPOSED).map((h) => h.newLines),
      [['F']],
      'the accepted hunk is gone, the other stays',
    );
    assert.equal(accept(once, 0), PROPOSED);
  });

  it('remembersARejectedHunkWhileTheUserEditsElsewhere', () => {
    const [first] = pendingHunks(BASE, BASE, PROPOSED);
    const edited = 'a\nb\nc\nd (mine)\ne\nf\ng\n';
    const left = pendingHunks(BASE, edited, PROPOSED, new Set([first.key]));
    assert.deepEqual(
      left.map((h) => h.newLines),
      [['F']],
    );
  });

  it('followsTheUsersInsertedLinesAbove', () => {
    const local = 'new 1\nnew 2\na\nb\nc\nd\ne\nf\ng\n';
    const hunks = pendingHunks(BASE, local, PROPOSED);
    assert.deepEqual(
      hunks.map((h) => h.startLine),
      [3, 7],
    );
    assert.deepEqual(
      hunks.map((h) => h.proposedStartLine),
      [1, 5],
      "where each change sits on the agent's side of the diff",
    );
    assert.equal(accept(local, 1), 'new 1\nnew 2\na\nb\nc\nd\ne\nF\ng\n');
  });

  it('turnsAHunkWhoseLinesTheUserChangedIntoAConflict', () => {
    const local = 'a\nb (mine)\nc\nd\ne\nf\ng\n';
    const [h] = pendingHunks(BASE, local, PROPOSED);
    assert.equal(h.conflict, true);
    assert.deepEqual(h.localLines, ['b (mine)']);
    assert.deepEqual(h.newLines, ['B']);
  });

  it('keepsLineEndingsAndAMissingFinalNewline', () => {
    const base = 'x\r\ny\r\nz';
    const proposed = 'x\r\ny\r\nZ\r\nadded';
    const out = accept(base, 0, base, proposed);
    assert.equal(out, 'x\r\ny\r\nZ\r\nadded');
    assert.equal(accept('p\nq\nr\n', 0, 'p\nq\nr\n', 'p\nq\n'), 'p\nq\n', 'deleting the last line');
    assert.equal(accept('p\nq', 0, 'p\nq', 'p'), 'p', 'deleting the last line without a newline');
    assert.equal(accept('', 0, '', 'one\n'), 'one\n', 'into an empty file');
  });

  it('acceptsTheWholeFileWithoutARejectedHunk', () => {
    const [first] = pendingHunks(BASE, BASE, PROPOSED);
    const m = mergeFile(BASE, BASE, PROPOSED, new Set([first.key]));
    assert.equal(m.after, 'a\nb\nc\nd\ne\nF\ng\n', 'the other change only');
    assert.deepEqual(
      m.replacements.map((r) => r.start.line),
      [5],
      'one edit, where the change is',
    );
  });
});
