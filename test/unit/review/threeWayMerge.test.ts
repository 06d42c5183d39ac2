// The three-way merge that applies an agent's file over local edits: its
// chunks (mergeThreeWay), what accepting the whole file writes from them
// (mergeFile, the one writer of a text file's merge), and the line/layout
// handling it rests on (lineText.ts).
import assert from 'node:assert/strict';
import { mergeFile } from '../../../src/review/hunks';
import { isProbablyBinary, detectEol, splitLines } from '../../../src/review/lineText';
import { mergeThreeWay, type MergeChunk } from '../../../src/review/threeWayMerge';

/** Lines ending in LF, the way most fixtures here are written. */
function text(...lines: string[]): string {
  return lines.map((l) => `${l}\n`).join('');
}

function crlf(...lines: string[]): string {
  return lines.map((l) => `${l}\r\n`).join('');
}

function kinds(chunks: MergeChunk[]): string[] {
  return chunks.map((c) => c.kind);
}

function onlyConflict(chunks: MergeChunk[]): Extract<MergeChunk, { kind: 'conflict' }> {
  const conflicts = chunks.filter((c) => c.kind === 'conflict');
  assert.equal(conflicts.length, 1);
  return conflicts[0] as Extract<MergeChunk, { kind: 'conflict' }>;
}

/** The merge's chunks, and the file accepting all of it writes (BOM in front, as on disk). */
function mergeThreeWayAndWrite(base: string, local: string, proposed: string) {
  const written = mergeFile(base, local, proposed);
  return {
    chunks: mergeThreeWay(base, local, proposed),
    text: written.bom + written.after,
    conflicts: written.conflicts,
    clean: written.conflicts === 0,
  };
}

const base = text('one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight');

describe('mergeThreeWay, and mergeFile that writes it', () => {
  it('takesProposedExactlyWhenLocalIsUnchanged', () => {
    const proposed = text('one', 'TWO', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine');
    const r = mergeThreeWayAndWrite(base, base, proposed);
    assert.equal(r.text, proposed);
    assert.equal(r.clean, true);
    assert.equal(r.conflicts, 0);
    assert.deepEqual(kinds(r.chunks), ['stable', 'proposed', 'stable', 'proposed']);
  });

  it('keepsLocalExactlyWhenProposedIsUnchanged', () => {
    const local = text('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'EIGHT');
    const r = mergeThreeWayAndWrite(base, local, base);
    assert.equal(r.text, local);
    assert.equal(r.clean, true);
    assert.deepEqual(kinds(r.chunks), ['local', 'stable', 'local']);
  });

  it('mergesEditsToDistantLinesCleanly', () => {
    const local = text('one', 'TWO', 'three', 'four', 'five', 'six', 'seven', 'eight');
    const proposed = text('one', 'two', 'three', 'four', 'five', 'six', 'SEVEN', 'eight');
    const r = mergeThreeWayAndWrite(base, local, proposed);
    assert.equal(r.text, text('one', 'TWO', 'three', 'four', 'five', 'six', 'SEVEN', 'eight'));
    assert.equal(r.clean, true);
    assert.deepEqual(r.chunks[1], { kind: 'local', lines: ['TWO'], baseLines: ['two'] });
    assert.deepEqual(r.chunks[3], { kind: 'proposed', lines: ['SEVEN'], baseLines: ['seven'] });
  });

  it('reportsAConflictWhenBothSidesEditTheSameLineDifferently', () => {
    const local = text('one', 'two', 'three', 'mine', 'five', 'six', 'seven', 'eight');
    const proposed = text('one', 'two', 'three', 'theirs', 'five', 'six', 'seven', 'eight');
    const r = mergeThreeWayAndWrite(base, local, proposed);
    assert.equal(r.clean, false);
    assert.equal(r.conflicts, 1);
    assert.deepEqual(onlyConflict(r.chunks), { kind: 'conflict', base: ['four'], local: ['mine'], proposed: ['theirs'] });
    assert.equal(
      r.text,
      text(
        'one',
        'two',
        'three',
        '<<<<<<< local',
        'mine',
        '||||||| base',
        'four',
        '=======',
        'theirs',
        '>>>>>>> proposed',
        'five',
        'six',
        'seven',
        'eight',
      ),
    );
  });

  it('takesAnIdenticalEditFromBothSidesOnce', () => {
    const both = text('one', 'two', 'THREE', 'three and a half', 'four', 'five', 'six', 'seven', 'eight');
    const r = mergeThreeWayAndWrite(base, both, both);
    assert.equal(r.text, both);
    assert.equal(r.clean, true);
    assert.deepEqual(r.chunks[1], { kind: 'both', lines: ['THREE', 'three and a half'], baseLines: ['three'] });
  });

  it('treatsEditsToAdjacentLinesAsAConflict', () => {
    // Like git: neighbouring edits with no unchanged line between them are
    // likely one change, so the user decides (see groupEdits).
    const local = text('one', 'two', 'THREE', 'four', 'five', 'six', 'seven', 'eight');
    const proposed = text('one', 'two', 'three', 'FOUR', 'five', 'six', 'seven', 'eight');
    const r = mergeThreeWayAndWrite(base, local, proposed);
    assert.equal(r.clean, false);
    assert.deepEqual(onlyConflict(r.chunks), {
      kind: 'conflict',
      base: ['three', 'four'],
      local: ['THREE', 'four'],
      proposed: ['three', 'FOUR'],
    });
  });

  it('mergesEditsSeparatedByOneUnchangedLineCleanly', () => {
    const local = text('one', 'two', 'THREE', 'four', 'five', 'six', 'seven', 'eight');
    const proposed = text('one', 'two', 'three', 'four', 'FIVE', 'six', 'seven', 'eight');
    const r = mergeThreeWayAndWrite(base, local, proposed);
    assert.equal(r.clean, true);
    assert.equal(r.text, text('one', 'two', 'THREE', 'four', 'FIVE', 'six', 'seven', 'eight'));
  });

  it('takesProposedDeletionOfAllContentWhenLocalIsUnchanged', () => {
    const r = mergeThreeWayAndWrite(base, base, '');
    assert.equal(r.text, '');
    assert.equal(r.clean, true);
    assert.deepEqual(r.chunks, [{ kind: 'proposed', lines: [], baseLines: base.trimEnd().split('\n') }]);
  });

  it('reportsAConflictWhenProposedEmptiesAFileTheUserEdited', () => {
    const local = text('one', 'two', 'three', 'FOUR', 'five', 'six', 'seven', 'eight');
    const r = mergeThreeWayAndWrite(base, local, '');
    assert.equal(r.clean, false);
    const conflict = onlyConflict(r.chunks);
    assert.deepEqual(conflict.proposed, []);
    assert.deepEqual(conflict.local, local.trimEnd().split('\n'));
  });

  it('returnsAnEmptyTextWhenAllThreeAreEmpty', () => {
    const r = mergeThreeWayAndWrite('', '', '');
    assert.deepEqual(r.chunks, []);
    assert.equal(r.text, '');
    assert.equal(r.clean, true);
  });

  it('takesProposedContentForAnEmptyBaseAndLocal', () => {
    const r = mergeThreeWayAndWrite('', '', text('new', 'file'));
    assert.equal(r.text, text('new', 'file'));
    assert.equal(r.clean, true);
  });

  it('keepsLocalContentWhenBaseAndProposedAreEmpty', () => {
    const r = mergeThreeWayAndWrite('', text('mine'), '');
    assert.equal(r.text, text('mine'));
    assert.equal(r.clean, true);
  });

  it('keepsLocalDeletionOfAllContentWhenProposedIsUnchanged', () => {
    const r = mergeThreeWayAndWrite(base, '', base);
    assert.equal(r.text, '');
    assert.equal(r.clean, true);
  });

  it('reportsAConflictWhenBothSidesFillAnEmptyBaseDifferently', () => {
    const r = mergeThreeWayAndWrite('', text('mine'), text('theirs'));
    assert.deepEqual(onlyConflict(r.chunks), { kind: 'conflict', base: [], local: ['mine'], proposed: ['theirs'] });
    assert.equal(r.text, text('<<<<<<< local', 'mine', '||||||| base', '=======', 'theirs', '>>>>>>> proposed'));
  });

  it('mergesAnInsertionAtTheStartWithAnInsertionAtTheEnd', () => {
    const local = text('header', ...base.trimEnd().split('\n'));
    const proposed = text(...base.trimEnd().split('\n'), 'footer');
    const r = mergeThreeWayAndWrite(base, local, proposed);
    assert.equal(r.clean, true);
    assert.equal(r.text, text('header', ...base.trimEnd().split('\n'), 'footer'));
  });

  it('reportsAConflictWhenBothSidesInsertDifferentLinesAtTheStart', () => {
    const r = mergeThreeWayAndWrite(base, `local header\n${base}`, `proposed header\n${base}`);
    assert.equal(r.conflicts, 1);
    assert.deepEqual(r.chunks[0], { kind: 'conflict', base: [], local: ['local header'], proposed: ['proposed header'] });
    assert.ok(r.text.startsWith(text('<<<<<<< local', 'local header', '||||||| base', '=======', 'proposed header', '>>>>>>> proposed')));
  });

  it('reportsAConflictWhenBothSidesAppendDifferentLinesAtTheEnd', () => {
    const r = mergeThreeWayAndWrite(base, `${base}local footer\n`, `${base}proposed footer\n`);
    assert.equal(r.conflicts, 1);
    assert.deepEqual(r.chunks.at(-1), { kind: 'conflict', base: [], local: ['local footer'], proposed: ['proposed footer'] });
    assert.ok(r.text.endsWith(text('<<<<<<< local', 'local footer', '||||||| base', '=======', 'proposed footer', '>>>>>>> proposed')));
  });

  it('takesIdenticalInsertionsAtBothEndsOnce', () => {
    const both = `top\n${base}bottom\n`;
    const r = mergeThreeWayAndWrite(base, both, both);
    assert.equal(r.text, both);
    assert.deepEqual(kinds(r.chunks), ['both', 'stable', 'both']);
  });

  it('keepsLocalCrlfWhenProposedUsesLf', () => {
    const crlfBase = crlf('one', 'two', 'three', 'four', 'five');
    const local = crlf('ONE', 'two', 'three', 'four', 'five');
    const proposed = text('one', 'two', 'three', 'four', 'FIVE');
    const r = mergeThreeWayAndWrite(crlfBase, local, proposed);
    assert.equal(r.clean, true);
    assert.equal(r.text, crlf('ONE', 'two', 'three', 'four', 'FIVE'));
  });

  it('ignoresALocalConversionFromLfToCrlf', () => {
    const local = base.replace(/\n/g, '\r\n');
    const proposed = text('one', 'two', 'three', 'FOUR', 'five', 'six', 'seven', 'eight');
    const r = mergeThreeWayAndWrite(base, local, proposed);
    assert.equal(r.clean, true);
    assert.deepEqual(kinds(r.chunks), ['stable', 'proposed', 'stable']);
    assert.equal(r.text, crlf('one', 'two', 'three', 'FOUR', 'five', 'six', 'seven', 'eight'));
  });

  it('writesConflictMarkersWithTheLocalLineEnding', () => {
    const r = mergeThreeWayAndWrite(crlf('a', 'b'), crlf('a', 'mine'), text('a', 'theirs'));
    assert.equal(r.text, crlf('a', '<<<<<<< local', 'mine', '||||||| base', 'b', '=======', 'theirs', '>>>>>>> proposed'));
  });

  it('takesTheLineEndingFromProposedWhenLocalHasNone', () => {
    const r = mergeThreeWayAndWrite('', '', crlf('new', 'file'));
    assert.equal(r.text, crlf('new', 'file'));
  });

  it('keepsTheLocalBomWhenProposedDropsIt', () => {
    const bomBase = `\uFEFF${base}`;
    const proposed = text('one', 'TWO', 'three', 'four', 'five', 'six', 'seven', 'eight');
    const r = mergeThreeWayAndWrite(bomBase, bomBase, proposed);
    assert.equal(r.clean, true);
    assert.equal(r.text, `\uFEFF${proposed}`);
  });

  it('keepsLocalWithoutBomWhenOnlyBaseAndProposedHaveIt', () => {
    const proposed = `\uFEFF${text('one', 'TWO', 'three', 'four', 'five', 'six', 'seven', 'eight')}`;
    const r = mergeThreeWayAndWrite(`\uFEFF${base}`, base, proposed);
    assert.equal(r.clean, true);
    assert.equal(r.text, proposed.slice(1));
  });

  it('addsAFinalNewlineFromProposedWhenLocalIsUntouched', () => {
    const r = mergeThreeWayAndWrite('a\nb', 'a\nb', 'a\nb\n');
    assert.equal(r.text, 'a\nb\n');
    assert.equal(r.clean, true);
  });

  it('keepsTheLocalFinalNewlineAlongsideALocalEditOfTheLastLine', () => {
    // Once the user edited the file, the final newline is theirs: only the lines merge (an untouched
    // file takes the agent's whole, final newline included, as in the test above).
    const r = mergeThreeWayAndWrite('a\nb\nc', 'a\nb\nC', 'a\nb\nc\n');
    assert.equal(r.text, 'a\nb\nC');
    assert.equal(r.clean, true);
  });

  it('keepsAFinalNewlineRemovedLocally', () => {
    const r = mergeThreeWayAndWrite('a\nb\nc\n', 'a\nb\nc', 'A\nb\nc\n');
    assert.equal(r.text, 'A\nb\nc');
  });

  it('agreesWhenBothSidesAddTheFinalNewline', () => {
    const r = mergeThreeWayAndWrite('a\nb\nc', 'a\nb\nc\n', 'A\nb\nc\n');
    assert.equal(r.text, 'A\nb\nc\n');
    assert.equal(r.clean, true);
  });

  it('reappliesTheProposedFileAsANoOp', () => {
    const proposed = text('zero', 'one', 'TWO', 'three', 'five', 'six', 'seven', 'eight', 'nine');
    const r = mergeThreeWayAndWrite(base, proposed, proposed);
    assert.equal(r.clean, true);
    assert.equal(r.text, proposed);
    assert.ok(r.chunks.every((c) => c.kind === 'stable' || c.kind === 'both'));
  });

  it('mergesA20000LineFileWithScatteredEditsOnBothSides', () => {
    const size = 20_000;
    const baseLines = Array.from({ length: size }, (_, i) => `line ${i}`);
    const localLines: string[] = [];
    const proposedLines: string[] = [];
    const expected: string[] = [];
    for (const [i, line] of baseLines.entries()) {
      const localEdit = i % 500 === 100;
      const localDelete = i % 997 === 3;
      const proposedEdit = i % 500 === 350;
      const proposedInsert = i % 1000 === 700;
      if (!localDelete) localLines.push(localEdit ? `${line} (local)` : line);
      proposedLines.push(proposedEdit ? `${line} (proposed)` : line);
      if (proposedInsert) proposedLines.push(`inserted after ${i}`);
      if (!localDelete) expected.push(localEdit ? `${line} (local)` : proposedEdit ? `${line} (proposed)` : line);
      if (proposedInsert) expected.push(`inserted after ${i}`);
    }
    const r = mergeThreeWayAndWrite(text(...baseLines), text(...localLines), text(...proposedLines));
    assert.equal(r.clean, true);
    assert.equal(r.text, text(...expected));
    assert.equal(r.chunks.filter((c) => c.kind === 'local').length, 40 + 21);
    assert.equal(r.chunks.filter((c) => c.kind === 'proposed').length, 40 + 20);
  });

  it('treatsSidesTooDifferentToDiffAsWholeFileEdits', () => {
    const bigBase = text(...Array.from({ length: 3000 }, (_, i) => `old ${i}`));
    const rewritten = text(...Array.from({ length: 3000 }, (_, i) => `new ${i}`));
    assert.equal(mergeThreeWayAndWrite(bigBase, bigBase, rewritten).text, rewritten);
    const localEdit = bigBase.replace('old 10\n', 'mine 10\n');
    const r = mergeThreeWayAndWrite(bigBase, localEdit, rewritten);
    assert.equal(r.conflicts, 1);
    assert.deepEqual(kinds(r.chunks), ['conflict']);
  });
});

describe('lineText', () => {
  it('recognisesANulByteAsBinary', () => {
    assert.equal(isProbablyBinary(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01])), true);
  });

  it('recognisesUtf8TextAsNotBinary', () => {
    assert.equal(isProbablyBinary(new TextEncoder().encode('\uFEFFhéllo\r\nworld\n')), false);
    assert.equal(isProbablyBinary(new Uint8Array()), false);
  });

  it('looksForNulOnlyInTheFirst8000Bytes', () => {
    const bytes = new Uint8Array(9000).fill(0x61);
    bytes[8500] = 0;
    assert.equal(isProbablyBinary(bytes), false);
    bytes[7999] = 0;
    assert.equal(isProbablyBinary(bytes), true);
  });

  it('detectsTheMajorityLineEnding', () => {
    assert.equal(detectEol('a\r\nb\r\nc\n'), '\r\n');
    assert.equal(detectEol('a\nb\nc\r\n'), '\n');
    assert.equal(detectEol('a\r\nb\n'), undefined);
    assert.equal(detectEol('no newline'), undefined);
  });

  it('splitsAndJoinsBackToTheSameText', () => {
    for (const original of ['', 'a', 'a\n', '\n', 'a\n\n', '\uFEFFa\r\nb', 'a\rb\n']) {
      const split = splitLines(original);
      const eol = detectEol(original) ?? '\n';
      const joined = (split.bom ? '\uFEFF' : '') + split.lines.join(eol) + (split.finalNewline ? eol : '');
      assert.equal(joined, original, 'the lines and the layout hold all of the text');
    }
  });
});
