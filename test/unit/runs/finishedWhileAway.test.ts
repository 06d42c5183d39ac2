// Which runs a window announces when it connects: those of its folders that
// finished after a window of the folder was last seen, once.
import assert from 'node:assert/strict';
import type { Run } from '@astraforge/contract/runApi';
import { awayMessage, finishedWhileAway, KNOWN_RUNS_KEPT, withKnown } from '../../../src/runs/finishedWhileAway';

const HERE = 'file:///home/me/app';

function run(id: string, status: Run['status'], finishedAt?: string, folder = HERE): Run {
  return {
    id,
    agent: 'command',
    task: { kind: 'spec', prompt: `task ${id}\nmore`, command: `echo ${id}` },
    status,
    created_at: '2026-11-28T08:00:00.000Z',
    updated_at: finishedAt ?? '2026-11-28T08:00:00.000Z',
    ...(finishedAt ? { finished_at: finishedAt } : {}),
    snapshot_id: 's',
    workspace: { uri: folder, name: 'app' },
    last_seq: 3,
  };
}

describe('runs that finished while no window was open', () => {
  const seen = '2026-11-28T09:00:00.000Z';
  const later = '2026-11-28T10:00:00.000Z';
  const earlier = '2026-11-28T08:30:00.000Z';

  it('areTheFinishedRunsOfThisFolderAfterTheLastWindowAndNotKnown', () => {
    const runs = [
      run('ok', 'succeeded', later),
      run('bad', 'failed', later),
      run('before', 'succeeded', earlier),
      run('cancelled', 'cancelled', later),
      run('interrupted', 'interrupted', later),
      run('running', 'running'),
      run('elsewhere', 'succeeded', later, 'file:///home/me/other'),
      run('known', 'succeeded', later),
      { ...run('no-folder', 'succeeded', later), workspace: undefined },
    ];
    const news = finishedWhileAway(runs, [HERE], seen, new Set(['known']));
    assert.deepEqual(
      news.map((r) => r.id),
      ['ok', 'bad'],
    );
  });

  it('announceNothingTheFirstTimeAFolderIsSeen', () => {
    assert.deepEqual(finishedWhileAway([run('ok', 'succeeded', later)], [HERE], undefined, new Set()), []);
  });

  it('rememberTheNewestKnownIdsOnly', () => {
    assert.deepEqual(withKnown(['a', 'b'], ['b', 'c']), ['a', 'b', 'c']);
    const many = Array.from({ length: KNOWN_RUNS_KEPT }, (_, i) => `r${i}`);
    const kept = withKnown(many, ['new']);
    assert.equal(kept.length, KNOWN_RUNS_KEPT);
    assert.equal(kept[kept.length - 1], 'new');
    assert.equal(kept[0], 'r1', 'the oldest one goes');
  });

  it('sayHowManyAndHowTheyEnded', () => {
    assert.equal(
      awayMessage([run('ok', 'succeeded', later), run('bad', 'failed', later), run('ok2', 'succeeded', later)], 'app'),
      'AstraForge: 3 runs of app finished while it was not open (2 succeeded, 1 failed); they are ready for review.',
    );
    assert.equal(
      awayMessage([run('ok', 'succeeded', later)], 'app'),
      'AstraForge: a run of app succeeded while it was not open ("task ok"); it is ready for review.',
    );
  });
});
