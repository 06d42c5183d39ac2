// The shown run's id, kept in a file of the workspace storage as it is shown.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shownRunMemory } from '../../../src/runs/shownRunMemory';

describe('the shown run’s memory', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'af-shown-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('isOnDiskAsSoonAsARunIsShownAndForgottenWhenAsked', () => {
    const storage = join(dir, 'not-made-yet');
    const memory = shownRunMemory(storage)!;
    assert.equal(memory.get(), undefined);
    memory.set('run-1');
    // Another window (or the same one, reloaded) reads the file, not this object.
    assert.equal(shownRunMemory(storage)!.get(), 'run-1');
    assert.deepEqual(JSON.parse(readFileSync(join(storage, 'shown-run.json'), 'utf8')), { run_id: 'run-1' });
    memory.set(undefined);
    assert.equal(shownRunMemory(storage)!.get(), undefined);
  });

  it('readsNothingFromAFileItDidNotWriteAndNeedsAFolder', () => {
    writeFileSync(join(dir, 'shown-run.json'), '{"run_id": 42}');
    assert.equal(shownRunMemory(dir)!.get(), undefined);
    writeFileSync(join(dir, 'shown-run.json'), 'not json');
    assert.equal(shownRunMemory(dir)!.get(), undefined);
    assert.equal(shownRunMemory(undefined), undefined, 'no folder open: nothing remembered');
  });
});
