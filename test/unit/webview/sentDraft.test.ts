// A draft the view's saved state brings back is dropped when it is a task
// already sent (the run list has a run started with it).
import assert from 'node:assert/strict';
import type { Run } from '@astraforge/contract/runApi';
import { wasSent } from '../../../webview-ui/src/sentDraft';

const run = (prompt: string, command?: string): Run => ({
  id: 'r',
  agent: command ? 'command' : 'codex',
  task: { kind: 'spec', prompt, ...(command ? { command } : {}) },
  status: 'running',
  created_at: '2026-11-28T10:00:00.000Z',
  updated_at: '2026-11-28T10:00:00.000Z',
  snapshot_id: 's',
  last_seq: 1,
});

describe('a restored draft already sent', () => {
  it('isTheTaskOrTheCommandOfAListedRun', () => {
    const runs = [run('Fix the tests'), run('npx prettier --write .', 'npx prettier --write .'), run('Format', 'npm run fmt')];
    assert.equal(wasSent('Fix the tests\n', runs), true, 'as sent, trimmed');
    assert.equal(wasSent('npm run fmt', runs), true, "the command agent's command");
    assert.equal(wasSent('Fix the tests, then the docs', runs), false, 'a new task is kept');
    assert.equal(wasSent('   ', runs), false);
    assert.equal(wasSent('Fix the tests', []), false);
  });
});
