// One file of a run's diff against the workspace as it is now.
import assert from 'node:assert/strict';
import { createTwoFilesPatch } from 'diff';
import type { DiffFile } from '@astraforge/contract/runApi';
import { needsBase, proposeFile, sha256, type FileProposal } from '../../../src/review/fileProposal';
import { mergeFile } from '../../../src/review/hunks';

function modified(path: string, base: string, proposed: string): DiffFile {
  return {
    path,
    status: 'modified',
    binary: false,
    base_sha256: sha256(Buffer.from(base)),
    patch: createTwoFilesPatch(`a/${path}`, `b/${path}`, base, proposed),
  };
}

/** What accepting a text file's proposal writes over the local text (as acceptEdit does). */
function written(p: FileProposal, local: string): string {
  const m = mergeFile(p.baseText!, local, p.proposedText!);
  return m.bom + m.after;
}

const BASE = 'one\ntwo\nthree\nfour\nfive\n';
const PROPOSED = 'one\nTWO\nthree\nfour\nfive\n';

describe('review: one file against the workspace', () => {
  it('writesTheAgentsVersionOverAnUntouchedFile', () => {
    const file = modified('a.txt', BASE, PROPOSED);
    assert.equal(needsBase(file, Buffer.from(BASE)), false, 'the local file is the base');
    const p = proposeFile(file, { local: Buffer.from(BASE) });
    assert.equal(p.kind, 'write');
    assert.equal(written(p, BASE), PROPOSED);
    assert.deepEqual([p.added, p.removed], [1, 1]);
  });

  it('mergesWithLocalEditsElsewhereInTheFile', () => {
    const file = modified('a.txt', BASE, PROPOSED);
    const local = Buffer.from('one\ntwo\nthree\nfour\nFIVE (mine)\n');
    assert.equal(needsBase(file, local), true);
    const p = proposeFile(file, { local, base: Buffer.from(BASE) });
    assert.equal(p.kind, 'write');
    assert.equal(p.localEdited, true);
    assert.equal(written(p, local.toString()), 'one\nTWO\nthree\nfour\nFIVE (mine)\n');
  });

  it('marksConflictsInsteadOfOverwritingTheUsersLine', () => {
    const local = 'one\ntwo (mine)\nthree\nfour\nfive\n';
    const p = proposeFile(modified('a.txt', BASE, PROPOSED), { local: Buffer.from(local), base: Buffer.from(BASE) });
    assert.equal(p.kind, 'conflict');
    assert.equal(p.conflicts, 1);
    const text = written(p, local);
    assert.match(text, /<<<<<<< local\ntwo \(mine\)\n/);
    assert.match(text, /=======\nTWO\n>>>>>>> proposed/);
  });

  it('knowsWhenTheChangeIsAlreadyThere', () => {
    const p = proposeFile(modified('a.txt', BASE, PROPOSED), {
      local: Buffer.from(PROPOSED.replace(/\n/g, '\r\n')),
      base: Buffer.from(BASE),
    });
    assert.equal(p.kind, 'already', 'the same lines with CRLF endings are the same change');
  });

  it('asksBeforeDeletingAFileTheUserEdited', () => {
    const file: DiffFile = {
      path: 'old.txt',
      status: 'deleted',
      binary: false,
      base_sha256: sha256(Buffer.from(BASE)),
      patch: createTwoFilesPatch('a/old.txt', '/dev/null', BASE, ''),
    };
    assert.equal(proposeFile(file, { local: Buffer.from(BASE) }).kind, 'delete');
    assert.equal(proposeFile(file, { local: undefined }).kind, 'already');
    const edited = proposeFile(file, { local: Buffer.from('mine\n') });
    assert.equal(edited.kind, 'choose');
    assert.match(edited.reason!, /you edited this file; the agent deleted it/);
  });

  it('createsAddedFilesAndAsksWhenTheAgentEditsAFileTheUserDeleted', () => {
    const added: DiffFile = {
      path: 'new.txt',
      status: 'added',
      binary: false,
      patch: createTwoFilesPatch('/dev/null', 'b/new.txt', '', 'hello\n'),
    };
    const p = proposeFile(added, { local: undefined });
    assert.equal(p.kind, 'write');
    assert.equal(p.proposedText, 'hello\n', 'what creating it writes');
    const gone = proposeFile(modified('a.txt', BASE, PROPOSED), { local: undefined, base: Buffer.from(BASE) });
    assert.equal(gone.kind, 'choose');
    assert.match(gone.reason!, /you deleted this file/);
    assert.equal(
      gone.agentSide?.action === 'write' && gone.agentSide.content.toString(),
      PROPOSED,
      "taking the agent's side restores its version",
    );
  });

  it('replacesAnUntouchedBinaryFileAndNeverOneTheUserChanged', () => {
    const base = Buffer.from([0, 1, 2]);
    const file: DiffFile = {
      path: 'logo.png',
      status: 'modified',
      binary: true,
      base_sha256: sha256(base),
      patch: 'Binary files differ\n',
    };
    const agent = Buffer.from([0, 9, 9]);
    const p = proposeFile(file, { local: base, proposed: agent });
    assert.equal(p.kind, 'write');
    assert.deepEqual([...p.content!], [0, 9, 9]);
    assert.equal(proposeFile(file, { local: agent, proposed: agent }).kind, 'already');
    const mine = proposeFile(file, { local: Buffer.from([0, 5]), proposed: agent });
    assert.equal(mine.kind, 'choose');
    assert.match(proposeFile(file, { local: base }).reason!, /sandbox has ended/);
  });
});
