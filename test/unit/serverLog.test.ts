// A window follows the background server's log file from where it was when
// the window connected: each line once, whole, in order.
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { followLog, logSize, rotateLog } from '../../src/server/serverLog';
import { until } from '../helpers/until';

describe("following the server's log", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'af-log-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('handsOnTheLinesWrittenAfterItStartedEachOnceAndWhole', async () => {
    const file = join(dir, 'server.log');
    writeFileSync(file, 'before 1\nbefore 2\n');
    const lines: string[] = [];
    const follow = followLog(file, logSize(file), (l) => lines.push(l), 20);
    try {
      appendFileSync(file, 'after 1\nafter 2 begins');
      await until('the first line', () => lines.length === 1 || undefined);
      appendFileSync(file, ' and ends, é\n\n');
      await until('the second line', () => lines.length === 2 || undefined);
      assert.deepEqual(lines, ['after 1', 'after 2 begins and ends, é']);
    } finally {
      follow.dispose();
    }
  });

  it('waitsForAFileNotThereYetAndStartsOverWhenItShrinks', async () => {
    const file = join(dir, 'later.log');
    const lines: string[] = [];
    const follow = followLog(file, logSize(file), (l) => lines.push(l), 20);
    try {
      writeFileSync(file, 'first\n');
      await until('the line of the new file', () => lines.length === 1 || undefined);
      writeFileSync(file, 'new\n');
      await until('the line of the shorter file', () => lines.length === 2 || undefined);
      assert.deepEqual(lines, ['first', 'new']);
    } finally {
      follow.dispose();
    }
  });

  it('startsANewLogPastItsLimitKeepingTheLastOne', () => {
    const file = join(dir, 'server.log');
    assert.equal(rotateLog(file, 100), false, 'no log yet: nothing to do');
    writeFileSync(file, 'a'.repeat(100));
    assert.equal(rotateLog(file, 100), false, 'at the limit it stays');
    appendFileSync(file, 'b');
    writeFileSync(`${file}.1`, 'the one before');
    assert.equal(rotateLog(file, 100), true);
    assert.equal(existsSync(file), false, 'the server starts a new one');
    assert.equal(readFileSync(`${file}.1`, 'utf8'), `${'a'.repeat(100)}b`, 'the last one is kept, the one before it goes');
  });
});
