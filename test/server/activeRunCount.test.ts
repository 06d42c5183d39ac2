// RunService.activeRunCount(), which keeps an idle server from exiting: runs
// queued, provisioning or in a turn (a follow-up's too) count; finished ones
// do not.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { RunStatus } from '@astraforge/contract/runApi';
import { makeTree } from '../helpers/runHelpers';
import { until } from '../helpers/until';
import { startInProcessRuns, type InProcessRuns } from './inProcessRuns';

describe('active runs', function () {
  this.timeout(60_000);
  let services: InProcessRuns;
  let snapshotId: string;

  before(async () => {
    services = await startInProcessRuns({ maxConcurrentRuns: 1 });
    const tree = makeTree({ 'a.txt': 'a\n' });
    snapshotId = await services.snapshot(tree);
    rmSync(tree, { recursive: true, force: true });
  });
  after(async () => services?.stop());

  const waitFor = (runId: string, statuses: RunStatus[]) =>
    until(
      () => `run ${runId} to be ${statuses.join('|')} (it is ${services.runs.get(runId).status})`,
      () => statuses.includes(services.runs.get(runId).status),
      { intervalMs: 20 },
    );

  const commandRun = (command: string) =>
    services.runs.create({ agent: 'command', task: { kind: 'spec', prompt: 'test', command }, snapshot_id: snapshotId });

  it('countsQueuedProvisioningAndRunningRunsButNotFinishedOnes', async () => {
    assert.equal(services.runs.activeRunCount(), 0);
    const first = commandRun('sleep 1');
    const second = commandRun('true');
    // One slot: the first provisions, the second waits in the queue.
    assert.equal(services.runs.get(second.id).status, 'queued');
    assert.equal(services.runs.activeRunCount(), 2);
    await waitFor(first.id, ['running']);
    assert.equal(services.runs.activeRunCount(), 2);
    await waitFor(first.id, ['succeeded']);
    await waitFor(second.id, ['succeeded']);
    assert.equal(services.runs.activeRunCount(), 0);

    services.runs.followUp(first.id, { command: 'sleep 0.5' });
    assert.equal(services.runs.activeRunCount(), 1, 'a follow-up makes its run active again');
    await waitFor(first.id, ['succeeded']);
    assert.equal(services.runs.activeRunCount(), 0);
  });

  it('stopsCountingACancelledRun', async () => {
    const run = commandRun('sleep 30');
    await waitFor(run.id, ['running']);
    assert.equal(services.runs.activeRunCount(), 1);
    services.runs.cancel(run.id);
    await waitFor(run.id, ['cancelled']);
    assert.equal(services.runs.activeRunCount(), 0);
  });
});
