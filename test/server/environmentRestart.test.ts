// Layers across a crash: a server killed while a run's overlay is mounted
// leaves mounts behind; the next server on the data folder takes them down
// before anything else, and keeps the snapshot layers and environments it
// finds finished, so the next run reuses them.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunEventName } from '@astraforge/contract/runEvents';
import { ApiClient } from '../helpers/apiClient';
import { readRunEvents, uploadTree, waitForRun } from '../helpers/runHelpers';
import { startServer } from '../helpers/serverProcess';

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p && p.startsWith(`${dir}/`));
}

describe('workspace layers across a server crash', function () {
  this.timeout(120_000);
  let dataDir: string;
  let project: string;

  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'af-envrestart-'));
    project = mkdtempSync(join(tmpdir(), 'af-envrestart-proj-'));
    mkdirSync(join(project, '.astraforge'));
    writeFileSync(
      join(project, '.astraforge', 'environment.json'),
      JSON.stringify({ setup: "mkdir -p node_modules/dep && echo 'module.exports = 42' > node_modules/dep/index.js" }),
    );
    writeFileSync(join(project, 'main.js'), "console.log('answer', require('dep'))\n");
  });
  after(() => {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(project, { recursive: true, force: true });
  });

  it('unmountsWhatADeadServerLeftAndReusesItsLayersAndEnvironments', async () => {
    const first = await startServer({ dataDir });
    let api = new ApiClient(first.url, first.apiKey);
    const snap = (await uploadTree(api, project)).body.snapshot_id;
    const r = await api.post('/api/runs', {
      agent: 'command',
      task: { kind: 'spec', prompt: 't', command: 'sleep 60' },
      snapshot_id: snap,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await waitForRun(api, r.body.id, ['running'], 60_000);
    const scratch = readdirSync(dataDir).includes('scratch') ? join(dataDir, 'scratch') : undefined;
    assert.ok(scratch);
    assert.equal(mountsUnder(scratch).length, 1, 'the run stands on an overlay');
    await first.kill();
    assert.equal(mountsUnder(scratch).length, 1, 'a killed server leaves its mount');

    const second = await startServer({ dataDir });
    try {
      assert.deepEqual(mountsUnder(dataDir), [], 'the next server takes it down at start-up');
      assert.deepEqual(readdirSync(join(dataDir, 'layers', 'sessions')), []);
      api = new ApiClient(second.url, second.apiKey);
      const again = await api.post('/api/runs', {
        agent: 'command',
        task: { kind: 'spec', prompt: 't', command: 'node main.js' },
        snapshot_id: snap,
      });
      const run = await waitForRun(api, again.body.id, ['succeeded', 'failed'], 60_000);
      const events = (await readRunEvents(api, run.id)).map((e) => e.data);
      assert.equal(run.status, 'succeeded', JSON.stringify(events.slice(-3)));
      assert.match(
        events
          .filter((e) => e.type === RunEventName.commandOutput)
          .map((e) => e.text)
          .join(''),
        /answer 42/,
      );
      assert.equal(events.find((e) => e.type === RunEventName.environmentReady)?.cached, true, 'the environment survived');
      assert.equal(events.filter((e) => e.type === RunEventName.environmentSetupStarted).length, 0);
    } finally {
      await second.dispose();
    }
    assert.deepEqual(mountsUnder(dataDir), [], 'a server that stops takes its mounts down');
  });
});
