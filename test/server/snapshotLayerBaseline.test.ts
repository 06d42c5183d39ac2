// A run on a snapshot unpacked just now starts before git has recorded the
// snapshot's baseline (it only needs the tree), and its diff, which waits for
// that baseline, is exactly the agent's changes. The tree is unpacked while
// the upload streams in and the layer made from the 201 on, so the run joins
// work already under way.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunEventName } from '@astraforge/contract/runEvents';
import { ApiClient } from '../helpers/apiClient';
import { readRunEvents, uploadTree, waitForRun } from '../helpers/runHelpers';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

describe('snapshot layers: the baseline follows the tree', function () {
  this.timeout(300_000);
  let server: ServerProcess;
  let api: ApiClient;
  let tree: string;

  before(async () => {
    server = await startServer({ config: { pool: { size: 0 } }, env: { ASTRAFORGE_LOG_LEVEL: 'info' } });
    api = new ApiClient(server.url, server.apiKey);
    // Enough files that git takes a while over them.
    tree = mkdtempSync(join(tmpdir(), 'af-layer-baseline-'));
    const chunk = Buffer.alloc(20_000, 'z');
    for (let i = 0; i < 4000; i++) {
      const dir = join(tree, `d${i % 40}`);
      if (i < 40) mkdirSync(dir);
      chunk.write(String(i).padStart(8, '0'), 0);
      writeFileSync(join(dir, `f${i}.txt`), chunk);
    }
    writeFileSync(join(tree, 'README.md'), '# big\n');
  });

  after(async () => {
    await server?.dispose();
    rmSync(tree, { recursive: true, force: true });
  });

  const logLines = () =>
    server
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));

  it('startsTheRunOnTheTreeAndDiffsAgainstTheBaselineRecordedMeanwhile', async () => {
    const up = await uploadTree(api, tree);
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const snapshotId = up.body.snapshot_id;
    const r = await api.post('/api/runs', {
      agent: 'command',
      task: {
        kind: 'spec',
        prompt: 'edit',
        command: 'echo more >> README.md && rm d1/f1.txt && echo new > new.txt && cat d2/f2.txt | head -c 8',
      },
      snapshot_id: snapshotId,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const run = await waitForRun(api, r.body.id, ['succeeded', 'failed'], 240_000);
    assert.equal(run.status, 'succeeded', run.error);
    const events = (await readRunEvents(api, run.id)).map((e) => e.data);
    assert.match(
      events
        .filter((e) => e.type === RunEventName.commandOutput)
        .map((e) => e.text)
        .join(''),
      /00000002/,
    );

    // The server's own account: the tree was mountable, then the run's sandbox came, then the baseline.
    const lines = logLines();
    const unpacked = lines.findIndex((l) => l.snapshot_id === snapshotId && /snapshot tree ready/.test(l.msg));
    const ready = lines.findIndex((l) => l.snapshot_id === snapshotId && l.msg === 'snapshot layer ready');
    assert.ok(unpacked >= 0 && ready > unpacked, 'the layer was unpacked whole, then its baseline made');
    // Unpacked while the upload streamed in: the layer adopted that tree.
    assert.equal(lines[unpacked].tree, 'unpacked during the upload');
    const sandbox = lines.findIndex((l) => l.session_id === run.session_id && l.msg === 'session created');
    assert.ok(
      sandbox > unpacked && sandbox < ready,
      `the run's sandbox started before the baseline was done (${unpacked}, ${sandbox}, ${ready})`,
    );

    const diff = (await api.get(`/api/runs/${run.id}/diff`)).body;
    assert.deepEqual(diff.files.map((f: any) => [f.path, f.status]).sort(), [
      ['README.md', 'modified'],
      ['d1/f1.txt', 'deleted'],
      ['new.txt', 'added'],
    ]);
    assert.match(diff.files.find((f: any) => f.path === 'README.md').patch, /^\+more$/m);

    // A second run on the same snapshot gets its baseline at once, and the same diff for the same edits.
    const again = await api.post('/api/runs', {
      agent: 'command',
      task: { kind: 'spec', prompt: 'edit', command: 'echo more >> README.md' },
      snapshot_id: snapshotId,
    });
    const done = await waitForRun(api, again.body.id, ['succeeded', 'failed'], 120_000);
    assert.equal(done.status, 'succeeded');
    const diff2 = (await api.get(`/api/runs/${done.id}/diff`)).body;
    assert.deepEqual(
      diff2.files.map((f: any) => f.path),
      ['README.md'],
    );
  });
});
