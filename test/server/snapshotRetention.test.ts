// The snapshot janitor against the real server, with tiny limits: unreferenced
// snapshots go after `unreferencedMinutes`, referenced ones `retentionDays`
// after their run last changed, the least recently used go first over
// `maxTotalBytes`, and one an active run needs is never removed. The cap
// counts the layers made from snapshots (unpacked trees with their baselines,
// environments) and removes those first, least recently used first, never
// one a live sandbox stands on.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../helpers/apiClient';
import { makeTree, uploadTree, waitForRun } from '../helpers/runHelpers';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { until } from '../helpers/until';

const MiB = 1024 * 1024;

describe('snapshot retention', function () {
  this.timeout(120_000);
  let server: ServerProcess | undefined;
  let api: ApiClient;
  afterEach(async function () {
    if (this.currentTest?.state === 'failed')
      console.log(
        server
          ?.output()
          .split('\n')
          .filter((l) => /removed|layer|janitor/.test(l))
          .join('\n'),
      );
    await server?.dispose();
  });

  async function start(snapshots: Record<string, number>) {
    server = await startServer({
      config: { snapshots: { janitorIntervalSeconds: 0.3, ...snapshots } },
      env: { ASTRAFORGE_LOG_LEVEL: 'info' },
    });
    api = new ApiClient(server.url, server.apiKey);
  }
  const kept = (id: string) => existsSync(join(server!.dataDir, 'snapshots', id, 'snapshot.tar'));
  const removals = () =>
    server!
      .output()
      .split('\n')
      .filter((l) => l.includes('"snapshot.removed"'))
      .map((l) => JSON.parse(l));
  async function upload(files: Record<string, string | Buffer> = { 'a.txt': `${randomBytes(4).toString('hex')}\n` }) {
    const up = await uploadTree(api, makeTree(files));
    assert.equal(up.status, 201, JSON.stringify(up.body));
    return up.body.snapshot_id as string;
  }
  async function run(snapshotId: string, command: string) {
    const r = await api.post('/api/runs', { agent: 'command', task: { kind: 'spec', prompt: 'x', command }, snapshot_id: snapshotId });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id as string;
  }

  it('removesUnreferencedSnapshotsAndKeepsReferencedOnes', async () => {
    await start({ unreferencedMinutes: 0.03, retentionDays: 1 });
    const used = await upload();
    const runId = await run(used, 'true');
    assert.equal((await waitForRun(api, runId, ['succeeded', 'failed'])).status, 'succeeded');
    // Uploaded last: the pass that removes it finds the referenced one past the unreferenced age too.
    const unused = await upload();
    const logged = (id: string) => removals().some((r) => r.snapshot_id === id);
    await until('the unreferenced snapshot to be removed', () => !kept(unused) && logged(unused));
    assert.ok(kept(used), 'a snapshot a run references is kept for retentionDays');
    const line = removals().find((r) => r.snapshot_id === unused);
    assert.equal(line?.reason, 'unreferenced');
    assert.equal(removals().length, 1);
    const late = await api.post('/api/runs', {
      agent: 'command',
      task: { kind: 'spec', prompt: 'x', command: 'true' },
      snapshot_id: unused,
    });
    assert.equal(late.status, 400);
    assert.equal(late.body.error_code, 'INVALID_REQUEST');
    assert.match(late.body.message, /no snapshot/);
  });

  it('removesASnapshotRetentionDaysAfterItsRunLastChangedButNeverWhileARunNeedsIt', async () => {
    await start({ unreferencedMinutes: 60, retentionDays: 3 / 86_400 });
    const done = await upload({ 'base.txt': 'base\n' });
    const doneRun = await run(done, 'true');
    assert.equal((await waitForRun(api, doneRun, ['succeeded', 'failed'])).status, 'succeeded');
    assert.equal((await api.post(`/api/runs/${doneRun}/base-files`, { paths: ['base.txt'] })).status, 200);
    const busy = await upload();
    const busyRun = await run(busy, 'sleep 6');
    await waitForRun(api, busyRun, ['running']);
    await until('the finished run’s snapshot to be removed', () => !kept(done) && removals().some((r) => r.snapshot_id === done));
    assert.equal(removals().find((r) => r.snapshot_id === done)?.reason, 'retention');
    assert.deepEqual(removals().find((r) => r.snapshot_id === done)?.runs, [doneRun]);
    const gone = await api.post(`/api/runs/${doneRun}/base-files`, { paths: ['base.txt'] });
    assert.equal(gone.status, 410, JSON.stringify(gone.body));
    assert.equal(gone.body.error_code, 'SESSION_EXPIRED');
    assert.match(gone.body.message, /no longer kept/);
    assert.ok(kept(busy), 'the snapshot of a running run is kept past its retention');
    assert.equal((await waitForRun(api, busyRun, ['succeeded', 'failed'], 20_000)).status, 'succeeded');
    await until('the finished run’s snapshot to be removed in its turn', () => !kept(busy));
  });

  it('honoursTheTotalCapLeastRecentlyUsedFirstSparingActiveRuns', async () => {
    // Room for two 1 MiB snapshots beside the running one's layer (its tree and baseline, about 2 MiB more, counted too).
    await start({ unreferencedMinutes: 60, retentionDays: 7, maxTotalBytes: Math.round(4.5 * MiB) });
    const big = () => upload({ 'blob.bin': randomBytes(MiB) });
    const active = await big();
    // Long enough to outlast the test on a loaded machine (the server's end stops it).
    const activeRun = await run(active, 'sleep 60');
    await waitForRun(api, activeRun, ['running']);
    const second = await big();
    const third = await big();
    // The log line follows the removal, so wait for both before asserting on either.
    const logged = (id: string) => removals().some((r) => r.snapshot_id === id);
    await until('the total to be back under the cap', () => !kept(second) && logged(second));
    assert.ok(kept(active), 'the oldest snapshot is kept: a running run needs it');
    assert.ok(kept(third));
    const fourth = await big();
    await until('the next least recently used to go', () => !kept(third) && logged(third));
    assert.ok(kept(active) && kept(fourth));
    const total = readdirSync(join(server!.dataDir, 'snapshots')).reduce(
      (n, id) => n + statSync(join(server!.dataDir, 'snapshots', id, 'snapshot.tar')).size,
      0,
    );
    assert.ok(total <= 2.5 * MiB, `${total} bytes of snapshots kept`);
    assert.deepEqual(
      removals().map((r) => [r.snapshot_id, r.reason]),
      [
        [second, 'total'],
        [third, 'total'],
      ],
    );
  });

  it('countsTheLayersInTheCapAndRemovesThemFirstLeastRecentlyUsedSparingLiveSandboxes', async () => {
    await start({ unreferencedMinutes: 60, retentionDays: 7, maxTotalBytes: 13 * MiB });
    const layersDir = (kind: string) => join(server!.dataDir, 'layers', kind);
    const measured = (id: string) => existsSync(join(layersDir('snapshots'), id, 'bytes.json'));
    const layerKept = (id: string) => existsSync(join(layersDir('snapshots'), id, 'ready.json'));
    const layerRemovals = () =>
      server!
        .output()
        .split('\n')
        .filter((l) => l.includes('"layer.removed"'))
        .map((l) => JSON.parse(l));
    async function finish(snapshotId: string, command: string) {
      const id = await run(snapshotId, command);
      const done = await waitForRun(api, id, ['succeeded', 'failed'], 60_000);
      assert.equal(done.status, 'succeeded', done.error);
      return done;
    }

    // An environment of 4 MiB over a small snapshot; its sandbox ends, so nothing stands on it.
    const envTree = makeTree({ 'a.txt': 'env\n' });
    mkdirSync(join(envTree, '.astraforge'));
    writeFileSync(join(envTree, '.astraforge', 'environment.json'), JSON.stringify({ setup: 'head -c 4194304 /dev/urandom > env.bin' }));
    const up = await uploadTree(api, envTree);
    const envSnap = up.body.snapshot_id as string;
    const envRun = await finish(envSnap, 'test -s env.bin');
    await api.delete(`/v1/sessions/${envRun.session_id}`);
    const envKey = readdirSync(layersDir('environments')).find((n) => /^[a-f0-9]{32}$/.test(n))!;
    assert.ok(envKey);

    // A: 2 MiB, its layer (tree and baseline) about 4 more; its sandbox ends too. About 10 MiB in all: under the cap.
    const a = await upload({ 'blob.bin': randomBytes(2 * MiB) });
    const aRun = await finish(a, 'true');
    await api.delete(`/v1/sessions/${aRun.session_id}`);
    await until('A’s layer to be measured', () => measured(a));
    assert.deepEqual(layerRemovals(), []);

    // B, running while the cap is passed: the least recently used layers go (the environment's snapshot's, then the environment), not A's, and no snapshot.
    const b = await upload({ 'blob.bin': randomBytes(2 * MiB) });
    const bRun = await run(b, 'sleep 8');
    await waitForRun(api, bRun, ['running'], 60_000);
    await until('the environment to be removed', () => layerRemovals().some((l) => l.kind === 'environment'));
    assert.deepEqual(
      layerRemovals().map((l) => [l.kind, l.id, l.reason]),
      [
        ['snapshot-layer', envSnap, 'total'],
        ['environment', envKey, 'total'],
      ],
    );
    assert.ok(!existsSync(join(layersDir('environments'), envKey)));
    assert.ok(layerKept(a) && layerKept(b));
    assert.ok(kept(envSnap) && kept(a) && kept(b), 'the snapshots themselves stay');
    assert.deepEqual(removals(), []);

    // C's upload passes the cap again: A's layer goes, never B's (its sandbox runs on it).
    const c = await upload({ 'blob.bin': randomBytes(2 * MiB) });
    await until('A’s layer to be removed', () => !layerKept(a) && layerRemovals().some((l) => l.id === a));
    assert.ok(layerKept(b), 'a live sandbox stands on B’s layer');
    assert.ok(kept(a) && kept(c));
    assert.deepEqual(removals(), []);
    const gone = layerRemovals().find((l) => l.id === a);
    assert.equal(gone?.kind, 'snapshot-layer');
    assert.ok(gone.bytes > 3.5 * MiB, `A's layer counted ${gone.bytes} bytes`);

    // A run on A makes its layer again from the kept snapshot.
    await finish(a, 'test $(wc -c < blob.bin) -eq 2097152');
    assert.ok(layerKept(a));
    assert.equal((await waitForRun(api, bRun, ['succeeded', 'failed'], 30_000)).status, 'succeeded');
  });
});
